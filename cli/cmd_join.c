/* sanctl join: prepare this node's state directory to join an existing
 * cluster (DESIGN §8). Writes node.conf (join = the token's address) and the
 * cluster key from the token; on its first start sanfsd connects to that
 * address's control port, authenticates with the key and asks the
 * administrator to add it as a voter. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/node_args.h"
#include "node/nodeconf.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: sanctl join --state DIR --id N --address IP:PORT --token TOKEN "
		   "[--name NAME]\n"
		   "Prepares DIR so that `sanfsd --state DIR` joins the cluster of TOKEN (printed\n"
		   "by `sanctl bootstrap`). Prefer `--token -` to read it from standard input\n"
		   "(command lines are visible to other users in ps).\n");
}

int cmd_join(const struct sanctl_globals *g, int argc, char **argv)
{
	struct node_args a;
	int rc = node_args_parse("join", g, argc, argv, true, usage, &a);
	if (rc >= 0)
		return rc;
	char err[512], tokbuf[NCONF_TOKEN_MAX + 8];
	if (!strcmp(a.token, "-")) {
		if (!fgets(tokbuf, sizeof(tokbuf), stdin)) {
			fprintf(stderr, "sanctl join: no token on standard input\n");
			return 2;
		}
		tokbuf[strcspn(tokbuf, "\r\n \t")] = 0;
		a.token = tokbuf;
	}
	struct node_conf c;
	struct join_token t;
	rc = node_args_conf("join", &a, &c, &t);
	if (rc)
		return rc;
	if (!strcmp(a.addr, t.address)) {
		fprintf(stderr,
			"sanctl join: --address %s is the address of the node in the token\n",
			a.addr);
		return 2;
	}
	strcpy(c.cluster, t.cluster);
	strcpy(c.join_address, t.address);
	rc = node_state_write(a.dir, &c, t.key, err, sizeof(err));
	sodium_memzero(&t, sizeof(t));
	sodium_memzero(tokbuf, sizeof(tokbuf));
	if (rc) {
		fprintf(stderr, "sanctl join: %s\n", err);
		return 1;
	}
	printf("node %u configured in %s to join cluster %s via %s; start sanfsd --state %s\n",
	       c.id, a.dir, c.cluster, c.join_address, a.dir);
	return 0;
}
