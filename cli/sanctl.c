/* sanctl: the sanfs command line (DESIGN §8). This file parses the global
 * options and dispatches to the subcommand; each subcommand is in cli/cmd_*.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/log.h"
#include "common/stdfds.h"

int cmd_mkfs(const struct sanctl_globals *g, int argc, char **argv); /* engine */
int cmd_fsck(const struct sanctl_globals *g, int argc, char **argv); /* engine */
int cmd_mount(const struct sanctl_globals *g, int argc, char **argv);
int cmd_umount(const struct sanctl_globals *g, int argc, char **argv);
int cmd_bootstrap(const struct sanctl_globals *g, int argc, char **argv); /* node */
int cmd_join(const struct sanctl_globals *g, int argc, char **argv);	  /* node */
int cmd_status(const struct sanctl_globals *g, int argc, char **argv);	  /* node */
int cmd_node(const struct sanctl_globals *g, int argc, char **argv);	  /* node */
int cmd_config(const struct sanctl_globals *g, int argc, char **argv);	  /* node */
int cmd_device(const struct sanctl_globals *g, int argc, char **argv);	  /* node */
int cmd_locks(const struct sanctl_globals *g, int argc, char **argv);	  /* node */

/* Subcommands, in the order `sanctl --help` lists them. */
static const struct sanctl_cmd commands[] = {
    {"mkfs", cmd_mkfs, "write a new sanfs filesystem on a device"},
    {"fsck", cmd_fsck, "check (and with --repair, fix) a sanfs filesystem"},
    {"mount", cmd_mount, "mount a filesystem (--local: this host alone)"},
    {"umount", cmd_umount, "unmount a sanfs filesystem cleanly"},
    {"bootstrap", cmd_bootstrap, "create a cluster on this node, print a join token"},
    {"join", cmd_join, "prepare this node to join a cluster (with a join token)"},
    {"status", cmd_status, "members, administrator, SAN generation, devices, fences"},
    {"node", cmd_node, "list | remove ID | fence ID | unfence ID"},
    {"device", cmd_device, "add DEVICE | list | remove LABEL (the device registry)"},
    {"config", cmd_config, "cluster configuration database (format/add/query/...)"},
    {"locks", cmd_locks, "DLM resources, masters, holders and waiters seen by this node"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: sanctl [--state DIR] [--verbose] COMMAND [ARGS...]\n\ncommands:\n");
	for (const struct sanctl_cmd *c = commands; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f, "\n`sanctl COMMAND --help` describes each command.\n");
}

int main(int argc, char **argv)
{
	if (std_fds_open() != 0)
		return 1; /* nowhere to say it */
	struct sanctl_globals g = {.state_dir = "/var/lib/sanfs", .verbose = false};
	int i = 1;
	log_setup("sanctl", 0, LOG_WARN);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--state") && i + 1 < argc) {
			g.state_dir = argv[++i];
		} else if (!strncmp(argv[i], "--state=", 8)) {
			g.state_dir = argv[i] + 8;
		} else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
			g.verbose = true;
			log_set_level(LOG_DEBUG);
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("sanctl %s\n", SANFS_VERSION);
			return 0;
		} else {
			fprintf(stderr, "sanctl: unknown option '%s' (see sanctl --help)\n",
				argv[i]);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	for (const struct sanctl_cmd *c = commands; c->name; c++)
		if (!strcmp(c->name, argv[i]))
			return c->fn(&g, argc - i, argv + i);
	/* A plural or a prefix of one command ("devices", "nodes", "stat"). */
	const char *near = NULL;
	unsigned nnear = 0;
	size_t len = strlen(argv[i]);
	for (const struct sanctl_cmd *c = commands; c->name && len >= 3; c++) {
		size_t n = strlen(c->name);
		bool plural = len == n + 1 && argv[i][n] == 's' && !strncmp(c->name, argv[i], n);
		if (plural || (len < n && !strncmp(c->name, argv[i], len))) {
			near = c->name;
			nnear++;
		}
	}
	if (nnear == 1)
		fprintf(stderr, "sanctl: unknown command '%s' (did you mean '%s'?)\n", argv[i],
			near);
	else
		fprintf(stderr, "sanctl: unknown command '%s' (see sanctl --help)\n", argv[i]);
	return 2;
}
