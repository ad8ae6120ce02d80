/* sanctl bootstrap: create a new cluster on this node (DESIGN §8). Writes the
 * state directory (node.conf with bootstrap = 1, cluster.key) and prints the
 * join token. The Raft configuration (this node as the only voter) is created
 * by sanfsd on its first start from node.conf, in the same state directory. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/node_args.h"
#include "node/nodeconf.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: sanctl bootstrap --state DIR --id N --address IP:PORT [--name NAME]\n"
		   "Creates a new cluster with this node as its first member and prints the\n"
		   "join token for `sanctl join`. The token contains the cluster key: treat it\n"
		   "as a secret (see node/README.md). Then start `sanfsd --state DIR`.\n");
}

int cmd_bootstrap(const struct sanctl_globals *g, int argc, char **argv)
{
	struct node_args a;
	int rc = node_args_parse("bootstrap", g, argc, argv, false, usage, &a);
	if (rc >= 0)
		return rc;
	struct node_conf c;
	rc = node_args_conf("bootstrap", &a, &c, NULL);
	if (rc)
		return rc;
	if (sodium_init() < 0) {
		fprintf(stderr, "sanctl bootstrap: libsodium failed to initialise\n");
		return 1;
	}
	c.bootstrap = true;
	struct join_token t;
	uint8_t cid[16];
	randombytes_buf(cid, sizeof(cid));
	randombytes_buf(t.key, sizeof(t.key));
	nconf_hex_encode(cid, sizeof(cid), c.cluster);
	strcpy(t.cluster, c.cluster);
	strcpy(t.address, c.address);
	char tok[NCONF_TOKEN_MAX + 1], err[512];
	rc = node_state_write(a.dir, &c, t.key, err, sizeof(err));
	if (!rc && ntoken_encode(&t, tok, sizeof(tok))) {
		snprintf(err, sizeof(err), "cannot encode the join token");
		rc = -1;
	}
	sodium_memzero(&t, sizeof(t));
	if (rc) {
		fprintf(stderr, "sanctl bootstrap: %s\n", err);
		return 1;
	}
	fprintf(stderr,
		"cluster %s created in %s (node %u, %s); start it with: sanfsd --state %s\n"
		"join token (a secret: it carries the cluster key):\n",
		c.cluster, a.dir, c.id, c.address, a.dir);
	printf("%s\n", tok);
	sodium_memzero(tok, sizeof(tok));
	return 0;
}
