/* Temporary sanfsd entry point with local mode only, until node/main.c (the
 * cluster daemon) dispatches `--local` to sanfsd_local_main. */
#include <stdio.h>
#include <string.h>

#include "node/local.h"

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--local"))
			return sanfsd_local_main(argc, argv);
		if (!strcmp(argv[i], "--version")) {
			printf("sanfsd %s\n", SANFS_VERSION);
			return 0;
		}
	}
	fprintf(stderr, "sanfsd: this build runs local mounts only: sanfsd --local DEVICE "
			"MOUNTPOINT [-o OPTS] (see sanfsd --local --help)\n");
	return 2;
}
