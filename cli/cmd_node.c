/* sanctl node list | remove ID | fence ID | unfence ID (DESIGN §8). Changes
 * run on the administrator; a node in a minority answers "no quorum". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin_client.h"
#include "cli/commands.h"
#include "node/admin_proto.h"
#include "node/nodeconf.h"

void status_print_members(json_t *members); /* cmd_status.c */

static int usage(FILE *f, int rc)
{
	fprintf(f, "usage: sanctl [--state DIR] node list [--json] | remove ID | fence ID | "
		   "unfence ID\n"
		   "  fence ID    mark the node failed and fence it (SAN generation +1)\n"
		   "  unfence ID  allow a fenced node back; it rejoins as a new incarnation\n"
		   "  remove ID   remove the node from the cluster (and from Raft)\n");
	return rc;
}

int cmd_node(const struct sanctl_globals *g, int argc, char **argv)
{
	char err[200];
	if (argc < 2)
		return usage(stderr, 2);
	const char *sub = argv[1];
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h"))
		return usage(stdout, 0);
	json_t *req, *r;
	if (!strcmp(sub, "list")) {
		bool json = argc == 3 && !strcmp(argv[2], "--json");
		if (argc > 3 || (argc == 3 && !json))
			return usage(stderr, 2);
		req = aproto_request("node.list");
		int rc = admin_call_or_print("node list", g->state_dir, req, 5000, &r);
		json_decref(req);
		if (rc)
			return rc;
		if (json) {
			char *s = json_dumps(json_object_get(r, "members"), JSON_INDENT(2));
			printf("%s\n", s ? s : "[]");
			free(s);
		} else {
			status_print_members(json_object_get(r, "members"));
		}
		json_decref(r);
		return 0;
	}
	if (strcmp(sub, "remove") && strcmp(sub, "fence") && strcmp(sub, "unfence")) {
		fprintf(stderr, "sanctl node: unknown subcommand '%s' (see --help)\n", sub);
		return 2;
	}
	if (argc != 3) {
		fprintf(stderr, "sanctl node %s: expected one node ID\n", sub);
		return 2;
	}
	unsigned id;
	if (nconf_parse_id(argv[2], &id, err, sizeof(err))) {
		fprintf(stderr, "sanctl node %s: %s\n", sub, err);
		return 2;
	}
	char op[32], cmd[32];
	snprintf(op, sizeof(op), "node.%s", sub);
	snprintf(cmd, sizeof(cmd), "node %s", sub);
	req = aproto_request(op);
	json_object_set_new(req, "id", json_integer(id));
	int rc = admin_call_or_print(cmd, g->state_dir, req, 30000, &r);
	json_decref(req);
	if (rc)
		return rc;
	json_t *un = json_object_get(r, "unacked");
	printf("node %u: %s done, SAN generation %lld\n", id, sub,
	       (long long)json_integer_value(json_object_get(r, "generation")));
	if (json_array_size(un)) {
		size_t i;
		json_t *e;
		fprintf(stderr, "warning: nodes that did not acknowledge in time:");
		json_array_foreach(un, i, e)
		    fprintf(stderr, " %lld", (long long)json_integer_value(e));
		fprintf(stderr, "\n");
	}
	json_decref(r);
	return 0;
}
