/* sanctl subcommands (DESIGN §8). Each lives in its own cli/cmd_*.c and is
 * listed in the table of cli/sanctl.c. A command gets argv with argv[0] = its
 * own name, the global options (--state, --verbose, --json) already parsed
 * into *g, and returns the process exit status: 0 on success, 1 on failure
 * (after printing one line "sanctl CMD: reason" to stderr), 2 on bad usage. */
#ifndef SANFS_CLI_COMMANDS_H
#define SANFS_CLI_COMMANDS_H

#include <stdbool.h>

struct sanctl_globals {
	const char *state_dir; /* --state DIR, default /var/lib/sanfs */
	bool verbose;
};

typedef int (*sanctl_cmd_fn)(const struct sanctl_globals *g, int argc, char **argv);

struct sanctl_cmd {
	const char *name;
	sanctl_cmd_fn fn;
	const char *summary; /* one line for `sanctl --help` */
};

#endif
