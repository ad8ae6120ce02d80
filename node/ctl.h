/* node/ctl: the node-to-node control channel (DESIGN §6): network heartbeats
 * to the ADM, admission of joining nodes, admin requests forwarded to the
 * leader, CCD sync commands.
 *
 * Transport: TCP on the control port (the Raft port + 1, nodeconf.h). Every
 * connection first runs the cluster-key handshake of consensus/auth.h; a peer
 * without the key is dropped and logged. Then both directions carry JSON
 * lines (at most CTL_LINE_MAX bytes): a request {"rid": N, "t": TYPE, ...}
 * from the side that connected, and a reply {"rid": N, ...} from the other.
 * Garbage, an over-long line, or a handshake time-out close the connection;
 * nothing blocks the loop.
 *
 * Threads: everything on the loop thread. */
#ifndef SANFS_NODE_CTL_H
#define SANFS_NODE_CTL_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "consensus/auth.h"

#define CTL_LINE_MAX   (1024 * 1024)
#define CTL_MAX_CONNS  256
#define CTL_CONNECT_MS 2000

struct ctl;
struct ctl_in; /* one incoming request awaiting its reply */

/* An incoming request (msg borrowed until ctl_reply) from authenticated peer
 * peer_id. The handler must call ctl_reply exactly once, now or later. */
typedef void (*ctl_request_fn)(void *data, struct ctl_in *in, uint64_t peer_id, json_t *msg);
/* Reply to one outgoing request: status 0 and reply (borrowed for the call),
 * or a negative errno (-ETIMEDOUT, -ECONNREFUSED, -EACCES handshake refused,
 * -ECONNRESET, -ECANCELED on ctl_close) and reply NULL. */
typedef void (*ctl_reply_fn)(void *data, int status, json_t *reply);

/* Listen on listen_addr ("IP:PORT"). key copied. */
int ctl_open(uv_loop_t *loop, const char *listen_addr, const struct auth_key *key, uint64_t self_id,
	     ctl_request_fn fn, void *data, struct ctl **out);
/* Close everything; pending outgoing requests complete with -ECANCELED before
 * this returns. Frees c once its handles closed. */
void ctl_close(struct ctl *c);

/* Send msg (borrowed; "rid" is added) to the node at address ("IP:PORT" of
 * its control port), over a cached authenticated connection. cb runs exactly
 * once, never from within ctl_request, if 0 is returned; on -errno it does
 * not run. */
int ctl_request(struct ctl *c, const char *address, json_t *msg, unsigned timeout_ms,
		ctl_reply_fn cb, void *data);
/* Reply to an incoming request (steals reply; NULL = generic error). */
void ctl_reply(struct ctl_in *in, json_t *reply);

#endif
