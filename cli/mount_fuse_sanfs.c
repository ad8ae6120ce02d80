/* mount.fuse.sanfs: the helper mount(8) runs for `mount -t fuse.sanfs`
 * (DESIGN §8; issue 2 point 6).
 *
 * mount(8) looks for /sbin/mount.TYPE (TYPE = fuse.sanfs) and runs
 *   mount.fuse.sanfs SOURCE MOUNTPOINT [-sfnv] [-o OPTIONS]
 * With -o local, SOURCE is a device and this is `sanctl mount --local`;
 * otherwise SOURCE is a label or device mounted through the node daemon
 * (-o state=DIR names its state directory). The build installs the helper
 * into /sbin (on merged-/usr systems that is /usr/sbin). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/log.h"
#include "common/stdfds.h"

int cmd_mount(const struct sanctl_globals *g, int argc, char **argv);

static int usage(FILE *f, int rc)
{
	fprintf(f, "usage: mount.fuse.sanfs DEVICE|LABEL MOUNTPOINT [-o local|state=DIR,OPTS]\n"
		   "  (normally run by: mount -t fuse.sanfs DEVICE MOUNTPOINT -o local)\n");
	return rc;
}

int main(int argc, char **argv)
{
	if (std_fds_open() != 0)
		return 1; /* nowhere to say it */
	struct sanctl_globals g = {.state_dir = "/var/lib/sanfs", .verbose = false};
	const char *pos[2];
	int npos = 0;
	bool local = false;
	/* Options passed on to sanfsd: those of mount(8) minus ours. */
	char opts[4096] = "";
	size_t olen = 0;
	static char state_buf[4096];
	log_setup("mount.fuse.sanfs", 0, LOG_WARN);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return usage(stdout, 0);
		if (!strcmp(a, "-o") && i + 1 < argc) {
			char *copy = strdup(argv[++i]);
			if (!copy)
				return 1;
			for (char *save = NULL, *o = strtok_r(copy, ",", &save); o;
			     o = strtok_r(NULL, ",", &save)) {
				if (!strcmp(o, "local")) {
					local = true;
				} else if (!strncmp(o, "state=", 6)) {
					snprintf(state_buf, sizeof(state_buf), "%s", o + 6);
					g.state_dir = state_buf;
				} else {
					int n = snprintf(opts + olen, sizeof(opts) - olen, "%s%s",
							 olen ? "," : "", o);
					if (n < 0 || (size_t)n >= sizeof(opts) - olen) {
						fprintf(stderr,
							"mount.fuse.sanfs: options too long\n");
						free(copy);
						return 2;
					}
					olen += (size_t)n;
				}
			}
			free(copy);
		} else if (!strcmp(a, "-n") || !strcmp(a, "-s") || !strcmp(a, "-f")) {
			/* no mtab, sloppy, fake: nothing to do for a FUSE mount */
			if (!strcmp(a, "-f"))
				return 0;
		} else if (!strcmp(a, "-v")) {
			g.verbose = true;
		} else if (a[0] == '-') {
			fprintf(stderr, "mount.fuse.sanfs: unknown option '%s'\n", a);
			return 2;
		} else if (npos < 2) {
			pos[npos++] = a;
		} else {
			fprintf(stderr, "mount.fuse.sanfs: unexpected argument '%s'\n", a);
			return 2;
		}
	}
	if (npos != 2)
		return usage(stderr, 2);
	char *av[8];
	int n = 0;
	av[n++] = "mount";
	if (local)
		av[n++] = "--local";
	av[n++] = (char *)pos[0];
	av[n++] = (char *)pos[1];
	if (olen) {
		av[n++] = "-o";
		av[n++] = opts;
	}
	av[n] = NULL;
	int rc = cmd_mount(&g, n, av);
	/* mount(8) helpers: 0 success, 1 bad usage, 32 mount failure. */
	return rc == 0 ? 0 : (rc == 2 ? 1 : 32);
}
