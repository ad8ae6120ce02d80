/* node/dlm_node: the lockspace of sanfsd (DESIGN §5, issue 4). Private to node/.
 *
 * Each node runs one dlm_ls (node id = its member id) and one dlm_uv on the
 * daemon's loop. Transport: TCP on the DLM port (the Raft port + 2). The node
 * with the higher id connects to the lower one; every connection first runs
 * the cluster-key handshake of consensus/auth.h (the same auth_hs_start the
 * control channel and Raft use), then is handed to dlm_uv_attach. A peer
 * without the key, garbage, or silence past the handshake time-out close the
 * connection with a log line; a missing connection is retried every tick.
 *
 * Membership (DESIGN §5 recovery, §6 states). The live set is the ACTIVE
 * members of the replicated member table. When it changes, the node calls
 * dlm_ls_set_members once it has a connection to every member of the new set
 * (a message to an unconnected peer is dropped, and a lost RECOVER_DONE
 * would stall recovery). Epochs:
 *   - a new set gets max(generation << 16, epoch + 1): nodes apply the log
 *     in batches, so two nodes can see the same set at different
 *     generations;
 *   - hence after every dlm_ls_set_members, and each second while recovery
 *     lasts, the node sends its (epoch, set) to the set's members over the
 *     control channel ("dlmep"); a node with the same set and a lower epoch
 *     adopts the higher one (a new recovery with the same members), and the
 *     reply carries the receiver's epoch the other way. All converge on the
 *     highest epoch;
 *   - a DLM connection to a member that is re-established while the set
 *     stays the same (messages may have been lost with the old one) starts a
 *     recovery at epoch + 1, agreed the same way.
 * This node leaving the set (fenced) freezes its lockspace and cuts its
 * connections; live again, it starts over with an empty one.
 * A member that leaves the set (FENCED, FAILED or removed) keeps its locks
 * until dlm_ls_node_recovered. That call is made here as soon as the member
 * table shows it FENCED (the fence entry committed) or removed: the
 * multi-node filesystem's journal replay does not exist yet, and is where it
 * will hook in (replay the fenced node's journal, then call
 * dlm_ls_node_recovered).
 *
 * Threads: everything here runs on the loop thread, except the blocking DLM
 * calls of the admin operations (node/dlm_admin.c), each on a thread of its
 * own. */
#ifndef SANFS_NODE_DLM_NODE_H
#define SANFS_NODE_DLM_NODE_H

#include <jansson.h>
#include <stdint.h>

#include "node/admin.h"
#include "node/ctl.h"

struct sanfsd;
struct dlm_ls;
struct dlm_node;

/* Port of the DLM listener relative to the Raft port. */
#define DLM_NODE_PORT_OFFSET 2

/* "IP:PORT+2" of a Raft address. 0 or -EINVAL. */
int dlm_node_addr_of(const char *raft_addr, char *out, size_t outlen);

/* Create the lockspace and listen on the DLM port. d->dlm is set. */
int dlm_node_start(struct sanfsd *d);
/* Close connections and the listener (a stopping daemon). */
void dlm_node_stop(struct sanfsd *d);
/* The replicated state changed (applied entries, membership event). */
void dlm_node_on_state(struct sanfsd *d);
/* A control request of type "dlmep" (epoch agreement). */
void dlm_node_on_ctl(struct sanfsd *d, struct ctl_in *in, uint64_t peer, json_t *msg);
/* The lockspace, or NULL before dlm_node_start / once stopping. Ready means
 * the first dlm_ls_set_members was made (this node is an active member). */
struct dlm_ls *dlm_node_ls(struct sanfsd *d, bool *ready);

/* dlm_admin.c: admin requests whose op starts with "lock." (see
 * admin_proto.h); and the admin connection close hook that releases what
 * that connection held. */
void dlm_admin_handle(struct sanfsd *d, struct admin_req *req, json_t *msg);
void dlm_admin_conn_closed(void *data, uint64_t conn);
/* Stop: no more completions are delivered (worker threads still blocked in
 * the DLM finish on their own). */
void dlm_admin_stop(struct sanfsd *d);

#endif
