/* node/admin: the admin socket server of sanfsd (DESIGN §8; protocol in
 * node/admin_proto.h).
 *
 * Runs on the daemon's libuv loop and never blocks it: reads are
 * non-blocking, a request is handed to the handler as a parsed JSON object,
 * and the handler answers later (after a Raft commit, say) with admin_reply.
 * One request per connection is in flight at a time (reading pauses until the
 * reply is queued), which keeps replies in order and memory bounded. A line
 * longer than ADMIN_LINE_MAX or that is not a JSON request gets an error reply
 * and the connection is closed; a client idle for ADMIN_IDLE_MS with nothing
 * in flight is closed; at most ADMIN_MAX_CLIENTS connections are served (more
 * are closed at once). Threads: everything runs on the loop thread. */
#ifndef SANFS_NODE_ADMIN_H
#define SANFS_NODE_ADMIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define ADMIN_IDLE_MS	  30000
#define ADMIN_MAX_CLIENTS 128

struct admin_srv;
struct admin_req; /* a request awaiting its reply */

/* Called on the loop thread with a parsed request (borrowed: valid until
 * admin_reply). The handler must call admin_reply(req, ...) exactly once,
 * now or later. */
typedef void (*admin_handler_fn)(void *data, struct admin_req *req, json_t *msg);

/* Listen on path (an existing file there is removed: the caller holds the
 * state directory lock, so it is stale). The socket gets mode 0600. */
int admin_srv_start(uv_loop_t *loop, const char *path, admin_handler_fn fn, void *data,
		    struct admin_srv **out);
/* Close the listener and every connection; requests in flight are orphaned
 * (their admin_reply then only frees). Frees srv once the handles closed. */
void admin_srv_stop(struct admin_srv *srv);

/* Answer a request: steals the reference to reply (NULL: "internal" error).
 * If the client went away the reply is dropped. req is freed. */
void admin_reply(struct admin_req *req, json_t *reply);
/* The request's JSON (borrowed, valid until admin_reply). */
json_t *admin_req_msg(struct admin_req *req);

/* Connections have ids (1, 2, ...; never reused by one server). fn runs on
 * the loop thread when a connection closes, for whatever the requests of that
 * connection left behind (the DLM locks of node/dlm_admin.c). */
typedef void (*admin_close_fn)(void *data, uint64_t conn);
void admin_srv_on_close(struct admin_srv *srv, admin_close_fn fn, void *data);
uint64_t admin_req_conn(const struct admin_req *req);
/* A pinned connection is not closed for idleness (it holds locks). */
void admin_req_pin(struct admin_req *req, bool pinned);

/* The number of connections open now (tests). */
unsigned admin_srv_clients(const struct admin_srv *srv);

#endif
