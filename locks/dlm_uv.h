/* dlm_uv: carries a lockspace's messages over libuv streams (DESIGN §2: the
 * libuv loop thread runs node-to-node messages). The node opens and
 * authenticates the connections (consensus/auth.h) and hands each one over
 * with dlm_uv_attach; from then on this module owns the stream: it reads
 * whole 88-byte messages and feeds them to the lockspace, and writes what
 * the lockspace sends, batched per peer.
 *
 * Threads: dlm_uv_send (the lockspace's ops.send) may be called from any
 * thread and never blocks: it queues and wakes the loop with uv_async_send.
 * Everything else runs on the loop thread. A peer that sends a malformed
 * message, or one whose sender field is not the node the stream was attached
 * for (a forged sender), is disconnected and logged, and the message is
 * dropped. Messages to a peer with no connection are dropped (recovery
 * repairs that once membership declares it dead).
 *
 * Ownership: dlm_uv_create returns an object freed by dlm_uv_close (on the
 * loop thread; it closes every attached stream and calls done when the
 * handles are closed). */
#ifndef SANFS_LOCKS_DLM_UV_H
#define SANFS_LOCKS_DLM_UV_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "locks/dlm.h"

struct dlm_uv;

int dlm_uv_create(uv_loop_t *loop, struct dlm_uv **out);
/* The lockspace receiving messages; set once, before any attach. */
void dlm_uv_set_lockspace(struct dlm_uv *u, struct dlm_ls *ls);
/* Use as struct dlm_ls_ops.send with arg = the dlm_uv. */
int dlm_uv_send(void *arg, uint32_t to, const uint8_t msg[DLM_MSG_SIZE]);
/* Loop thread: take over an open, authenticated stream to `node` (replacing
 * any older one to it). The stream must have been allocated with malloc; it
 * is closed and freed here. */
int dlm_uv_attach(struct dlm_uv *u, uint32_t node, uv_stream_t *stream);
/* Loop thread: whether a stream to node is attached and open (the node
 * daemon reconnects when it is not). */
bool dlm_uv_connected(struct dlm_uv *u, uint32_t node);
/* Loop thread: close the stream to node (it left the cluster). */
void dlm_uv_detach(struct dlm_uv *u, uint32_t node);
/* Loop thread: close everything; done(arg) runs once all handles closed. */
void dlm_uv_close(struct dlm_uv *u, void (*done)(void *arg), void *arg);

#endif
