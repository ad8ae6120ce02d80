/* node_args: the options, checks and state-directory writing that
 * `sanctl bootstrap` and `sanctl join` share (see node_args.h). */
#include "cli/node_args.h"

#include <getopt.h>
#include <string.h>

int node_args_parse(const char *cmd, const struct sanctl_globals *g, int argc, char **argv,
		    bool with_token, void (*usage)(FILE *), struct node_args *a)
{
	/* Without with_token the "token" entry has no name, which ends the
	 * table there: bootstrap refuses --token as any unknown option. */
	const struct option opts[] = {{"state", required_argument, NULL, 's'},
				      {"id", required_argument, NULL, 'i'},
				      {"address", required_argument, NULL, 'a'},
				      {"name", required_argument, NULL, 'n'},
				      {"help", no_argument, NULL, 'h'},
				      {with_token ? "token" : NULL, required_argument, NULL, 't'},
				      {NULL, 0, NULL, 0}};
	*a = (struct node_args){.dir = g->state_dir};
	int o;
	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			a->dir = optarg;
			break;
		case 'i':
			a->id = optarg;
			break;
		case 'a':
			a->addr = optarg;
			break;
		case 't':
			a->token = optarg;
			break;
		case 'n':
			a->name = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "sanctl %s: bad option '%s' (see --help)\n", cmd,
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sanctl %s: unexpected argument '%s'\n", cmd, argv[optind]);
		return 2;
	}
	if (!a->id || !a->addr || (with_token && !a->token)) {
		fprintf(stderr, "sanctl %s: %s are required (see --help)\n", cmd,
			with_token ? "--id, --address and --token" : "--id and --address");
		return 2;
	}
	return -1;
}

int node_args_conf(const char *cmd, const struct node_args *a, struct node_conf *c,
		   struct join_token *t)
{
	char err[512];
	nconf_init_defaults(c);
	if (nconf_parse_id(a->id, &c->id, err, sizeof(err)) ||
	    nconf_parse_address(a->addr, NULL, 0, NULL, err, sizeof(err)) ||
	    (a->name && nconf_check_name(a->name, err, sizeof(err))) ||
	    (a->token && ntoken_decode(a->token, t, err, sizeof(err)))) {
		fprintf(stderr, "sanctl %s: %s\n", cmd, err);
		return 2;
	}
	char ctl[NCONF_ADDR_MAX];
	if (nconf_control_address(a->addr, ctl, sizeof(ctl))) {
		fprintf(stderr,
			"sanctl %s: port must leave room for the control and lock ports "
			"(PORT+1, PORT+2): at most 65533\n",
			cmd);
		return 2;
	}
	strcpy(c->address, a->addr);
	if (a->name)
		strcpy(c->name, a->name);
	else
		snprintf(c->name, sizeof(c->name), "n%u", c->id);
	return 0;
}

int node_state_write(const char *dir, const struct node_conf *c, const uint8_t key[NCONF_KEY_BYTES],
		     char *err, size_t errlen)
{
	int rc = nconf_make_state_dir(dir, err, errlen);
	if (!rc)
		rc = nconf_write_key(dir, c->cluster, key, err, errlen);
	if (!rc)
		rc = nconf_save(dir, c, err, errlen);
	return rc;
}
