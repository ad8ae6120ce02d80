/* sanctl locks [--json]: the DLM as this node sees it (DESIGN §5, issue 4):
 * every lock this node owns and every lock on a resource it masters, with
 * holders (granted), converters and waiters, plus the lockspace counters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin_client.h"
#include "cli/commands.h"
#include "node/admin_proto.h"

static void print_range(json_t *l)
{
	long long s = (long long)json_integer_value(json_object_get(l, "start"));
	long long e = (long long)json_integer_value(json_object_get(l, "end"));
	if (s == 0 && e == -1)
		printf("%-23s", "all");
	else if (e == -1)
		printf("%llu-%-*s", (unsigned long long)s, 22 - snprintf(NULL, 0, "%llu", s),
		       "end");
	else
		printf("%llu-%-*llu", (unsigned long long)s, 22 - snprintf(NULL, 0, "%llu", s),
		       (unsigned long long)e);
}

int cmd_locks(const struct sanctl_globals *g, int argc, char **argv)
{
	json_t *r;
	int rc = admin_show("locks", g->state_dir, argc, argv,
			    "usage: sanctl [--state DIR] locks [--json]\n"
			    "The DLM locks as the local sanfsd sees them: the locks it owns\n"
			    "(role owner) and the locks on the resources it masters (role\n"
			    "master), granted, converting or waiting, plus the lockspace\n"
			    "counters (epoch, recovery, messages).\n",
			    "lock.dump", &r);
	if (rc >= 0)
		return rc;
	json_t *st = json_object_get(r, "stats");
#define ST(k) ((long long)json_integer_value(json_object_get(st, k)))
	printf("node %lld lockspace: %s, epoch %lld%s\n",
	       (long long)json_integer_value(json_object_get(r, "id")),
	       json_is_true(json_object_get(r, "ready")) ? "running" : "not running yet",
	       ST("epoch"), json_is_true(json_object_get(st, "recovering")) ? ", RECOVERING" : "");
	printf("owned %lld, mastered %lld resources / %lld locks, departed-node locks %lld, "
	       "messages in %lld out %lld dropped %lld\n\n",
	       ST("owned"), ST("mastered_resources"), ST("mastered_locks"), ST("dead_pending"),
	       ST("msgs_in"), ST("msgs_out"), ST("msgs_dropped"));
#undef ST
	json_t *locks = json_object_get(r, "locks"), *l;
	size_t i;
	if (!json_array_size(locks)) {
		printf("no locks\n");
		json_decref(r);
		return 0;
	}
	printf("%-6s %-24s %-6s %-5s %-18s %-4s %-4s %-23s %s\n", "ROLE", "RESOURCE(fs/type/id)",
	       "MASTER", "NODE", "LKID", "GR", "RQ", "RANGE", "STATE");
	json_array_foreach(locks, i, l)
	{
		char res[64];
		snprintf(res, sizeof(res), "%lld/%lld/%lld",
			 (long long)json_integer_value(json_object_get(l, "fs")),
			 (long long)json_integer_value(json_object_get(l, "type")),
			 (long long)json_integer_value(json_object_get(l, "id")));
		/* A waiting request holds nothing yet (the DLM reports NL). */
		bool waiting = !strcmp(json_string_value(json_object_get(l, "state")), "waiting");
		printf("%-6s %-24s %-6lld %-5lld %#-18llx %-4s %-4s ",
		       json_string_value(json_object_get(l, "role")), res,
		       (long long)json_integer_value(json_object_get(l, "master")),
		       (long long)json_integer_value(json_object_get(l, "node")),
		       (unsigned long long)json_integer_value(json_object_get(l, "lkid")),
		       waiting ? "-" : json_string_value(json_object_get(l, "grmode")),
		       json_string_value(json_object_get(l, "rqmode")));
		print_range(l);
		printf(" %s\n", json_string_value(json_object_get(l, "state")));
	}
	json_decref(r);
	return 0;
}
