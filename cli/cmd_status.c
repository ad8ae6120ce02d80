/* sanctl status [--json]: the cluster as this node sees it (DESIGN §8):
 * members with state and incarnation, ADM, term, SAN generation, devices,
 * filesystems, fence table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin_client.h"
#include "cli/commands.h"
#include "node/admin_proto.h"

void status_print_members(json_t *members)
{
	size_t i;
	json_t *m;
	printf("%-6s %-22s %-8s %-11s %-5s %s\n", "ID", "ADDRESS", "STATE", "INCARNATION", "VOTER",
	       "ROLE");
	json_array_foreach(members, i, m)
	{
		printf("%-6lld %-22s %-8s %-11lld %-5s %s\n",
		       (long long)json_integer_value(json_object_get(m, "id")),
		       json_string_value(json_object_get(m, "address")),
		       json_string_value(json_object_get(m, "state")),
		       (long long)json_integer_value(json_object_get(m, "incarnation")),
		       json_is_true(json_object_get(m, "voter")) ? "yes" : "no",
		       json_is_true(json_object_get(m, "adm")) ? "ADM" : "");
	}
}

int cmd_status(const struct sanctl_globals *g, int argc, char **argv)
{
	json_t *r;
	int rc = admin_show("status", g->state_dir, argc, argv,
			    "usage: sanctl [--state DIR] status [--json]\n"
			    "Members, administrator (ADM), Raft term, SAN generation, devices,\n"
			    "filesystems and fence table, as the local sanfsd sees them.\n",
			    "status", &r);
	if (rc >= 0)
		return rc;
	printf("node %lld (%s) of cluster %s\n",
	       (long long)json_integer_value(json_object_get(r, "id")),
	       json_string_value(json_object_get(r, "name")),
	       json_string_value(json_object_get(r, "cluster")));
	printf("administrator: %lld   leader: %lld   term: %lld   SAN generation: %lld   "
	       "quorum: %s\n",
	       (long long)json_integer_value(json_object_get(r, "adm")),
	       (long long)json_integer_value(json_object_get(r, "leader")),
	       (long long)json_integer_value(json_object_get(r, "term")),
	       (long long)json_integer_value(json_object_get(r, "generation")),
	       json_is_true(json_object_get(r, "quorum")) ? "yes" : "NO (minority or electing)");
	printf("\nmembers:\n");
	status_print_members(json_object_get(r, "members"));
	size_t i;
	json_t *e;
	printf("\ndevices:\n");
	json_array_foreach(json_object_get(r, "devices"), i, e)
	    printf("  %-20s %s %lld bytes %s\n", json_string_value(json_object_get(e, "label")),
		   json_string_value(json_object_get(e, "uuid")),
		   (long long)json_integer_value(json_object_get(e, "size")),
		   json_string_value(json_object_get(e, "state")));
	printf("\nfilesystems:\n");
	json_array_foreach(json_object_get(r, "filesystems"), i, e)
	    printf("  %-20s %s on %s, %lld slots\n", json_string_value(json_object_get(e, "label")),
		   json_string_value(json_object_get(e, "uuid")),
		   json_string_value(json_object_get(e, "device")),
		   (long long)json_integer_value(json_object_get(e, "slots")));
	printf("\nfence table:\n");
	json_array_foreach(json_object_get(r, "fence"), i, e)
	    printf("  node %lld incarnation %lld at generation %lld: %s\n",
		   (long long)json_integer_value(json_object_get(e, "id")),
		   (long long)json_integer_value(json_object_get(e, "incarnation")),
		   (long long)json_integer_value(json_object_get(e, "generation")),
		   json_string_value(json_object_get(e, "reason")));
	json_decref(r);
	return 0;
}
