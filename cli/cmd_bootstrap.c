/* sanctl bootstrap: create a new cluster on this node (DESIGN §8). Writes the
 * state directory (node.conf with bootstrap = 1, cluster.key) and prints the
 * join token. The Raft configuration (this node as the only voter) is created
 * by sanfsd on its first start from node.conf, in the same state directory. */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
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
	static const struct option opts[] = {
	    {"state", required_argument, NULL, 's'},   {"id", required_argument, NULL, 'i'},
	    {"address", required_argument, NULL, 'a'}, {"name", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},	       {NULL, 0, NULL, 0}};
	const char *dir = g->state_dir, *id = NULL, *addr = NULL, *name = NULL;
	char err[512];
	int o;
	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			dir = optarg;
			break;
		case 'i':
			id = optarg;
			break;
		case 'a':
			addr = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "sanctl bootstrap: bad option '%s' (see --help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sanctl bootstrap: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!id || !addr) {
		fprintf(stderr, "sanctl bootstrap: --id and --address are required (see --help)\n");
		return 2;
	}
	struct node_conf c;
	nconf_init_defaults(&c);
	if (nconf_parse_id(id, &c.id, err, sizeof(err)) ||
	    nconf_parse_address(addr, NULL, 0, NULL, err, sizeof(err)) ||
	    (name && nconf_check_name(name, err, sizeof(err)))) {
		fprintf(stderr, "sanctl bootstrap: %s\n", err);
		return 2;
	}
	char ctl[NCONF_ADDR_MAX];
	if (nconf_control_address(addr, ctl, sizeof(ctl))) {
		fprintf(stderr, "sanctl bootstrap: port must leave room for the control port "
				"(PORT+1)\n");
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "sanctl bootstrap: libsodium failed to initialise\n");
		return 1;
	}
	strcpy(c.address, addr);
	if (name)
		strcpy(c.name, name);
	else
		snprintf(c.name, sizeof(c.name), "n%u", c.id);
	c.bootstrap = true;
	struct join_token t;
	uint8_t cid[16];
	randombytes_buf(cid, sizeof(cid));
	randombytes_buf(t.key, sizeof(t.key));
	nconf_hex_encode(cid, sizeof(cid), c.cluster);
	strcpy(t.cluster, c.cluster);
	strcpy(t.address, addr);
	char tok[NCONF_TOKEN_MAX + 1];
	int rc = nconf_make_state_dir(dir, err, sizeof(err));
	if (!rc)
		rc = nconf_write_key(dir, c.cluster, t.key, err, sizeof(err));
	if (!rc)
		rc = nconf_save(dir, &c, err, sizeof(err));
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
		c.cluster, dir, c.id, c.address, dir);
	printf("%s\n", tok);
	sodium_memzero(tok, sizeof(tok));
	return 0;
}
