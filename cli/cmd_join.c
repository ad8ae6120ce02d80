/* sanctl join: prepare this node's state directory to join an existing
 * cluster (DESIGN §8). Writes node.conf (join = the token's address) and the
 * cluster key from the token; on its first start sanfsd connects to that
 * address's control port, authenticates with the key and asks the
 * administrator to add it as a voter. */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
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
	static const struct option opts[] = {{"state", required_argument, NULL, 's'},
					     {"id", required_argument, NULL, 'i'},
					     {"address", required_argument, NULL, 'a'},
					     {"token", required_argument, NULL, 't'},
					     {"name", required_argument, NULL, 'n'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	const char *dir = g->state_dir, *id = NULL, *addr = NULL, *tokarg = NULL, *name = NULL;
	char err[512], tokbuf[NCONF_TOKEN_MAX + 8];
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
		case 't':
			tokarg = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "sanctl join: bad option '%s' (see --help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sanctl join: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!id || !addr || !tokarg) {
		fprintf(stderr, "sanctl join: --id, --address and --token are required "
				"(see --help)\n");
		return 2;
	}
	if (!strcmp(tokarg, "-")) {
		if (!fgets(tokbuf, sizeof(tokbuf), stdin)) {
			fprintf(stderr, "sanctl join: no token on standard input\n");
			return 2;
		}
		tokbuf[strcspn(tokbuf, "\r\n \t")] = 0;
		tokarg = tokbuf;
	}
	struct node_conf c;
	struct join_token t;
	nconf_init_defaults(&c);
	if (nconf_parse_id(id, &c.id, err, sizeof(err)) ||
	    nconf_parse_address(addr, NULL, 0, NULL, err, sizeof(err)) ||
	    (name && nconf_check_name(name, err, sizeof(err))) ||
	    ntoken_decode(tokarg, &t, err, sizeof(err))) {
		fprintf(stderr, "sanctl join: %s\n", err);
		return 2;
	}
	char ctl[NCONF_ADDR_MAX];
	if (nconf_control_address(addr, ctl, sizeof(ctl))) {
		fprintf(stderr, "sanctl join: port must leave room for the control port "
				"(PORT+1)\n");
		return 2;
	}
	if (!strcmp(addr, t.address)) {
		fprintf(stderr,
			"sanctl join: --address %s is the address of the node in the token\n",
			addr);
		return 2;
	}
	strcpy(c.address, addr);
	strcpy(c.cluster, t.cluster);
	strcpy(c.join_address, t.address);
	if (name)
		strcpy(c.name, name);
	else
		snprintf(c.name, sizeof(c.name), "n%u", c.id);
	int rc = nconf_make_state_dir(dir, err, sizeof(err));
	if (!rc)
		rc = nconf_write_key(dir, c.cluster, t.key, err, sizeof(err));
	if (!rc)
		rc = nconf_save(dir, &c, err, sizeof(err));
	sodium_memzero(&t, sizeof(t));
	sodium_memzero(tokbuf, sizeof(tokbuf));
	if (rc) {
		fprintf(stderr, "sanctl join: %s\n", err);
		return 1;
	}
	printf("node %u configured in %s to join cluster %s via %s; start sanfsd --state %s\n",
	       c.id, dir, c.cluster, c.join_address, dir);
	return 0;
}
