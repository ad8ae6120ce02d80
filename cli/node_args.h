/* What `sanctl bootstrap` and `sanctl join` share (DESIGN §8): their
 * options, the checks of those options into a node.conf, and the writing of
 * the new state directory. Private to cli/. */
#ifndef SANFS_CLI_NODE_ARGS_H
#define SANFS_CLI_NODE_ARGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/commands.h"
#include "node/nodeconf.h"

/* The options as given (pointers into argv; dir defaults to --state). */
struct node_args {
	const char *dir, *id, *addr, *name;
	const char *token; /* join only */
};

/* Parse --state, --id, --address, --name and, with with_token, --token;
 * --id and --address (and --token) are required and nothing may follow.
 * Returns -1 when the command goes on, else its exit status: 0 after
 * printing usage for --help, 2 after one line "sanctl CMD: why". */
int node_args_parse(const char *cmd, const struct sanctl_globals *g, int argc, char **argv,
		    bool with_token, void (*usage)(FILE *), struct node_args *a);

/* Check the options into *c (defaults, id, address, name: given or "nN"),
 * decoding a->token into *t when a->token is set; the address must leave
 * room for the control port. 0, or 2 after one line "sanctl CMD: why". */
int node_args_conf(const char *cmd, const struct node_args *a, struct node_conf *c,
		   struct join_token *t);

/* Create the state directory dir, then write the cluster key and node.conf
 * into it. 0, or nonzero with err filled. */
int node_state_write(const char *dir, const struct node_conf *c, const uint8_t key[NCONF_KEY_BYTES],
		     char *err, size_t errlen);

#endif
