/* consensus/transport: raft_uv_transport over TCP with the auth.h handshake
 * (private to consensus/). Addresses are "IPv4:PORT".
 *
 * atr_transport_init fills *t (memory owned by the caller) and copies the key;
 * pass t to raft_uv_init. Raft calls t->init/listen/connect/close on the loop
 * thread; after raft_close's callback (which means t->close completed), free
 * the private state with atr_transport_free. */
#ifndef SANFS_CONSENSUS_TRANSPORT_H
#define SANFS_CONSENSUS_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "consensus/auth.h"

int atr_transport_init(struct raft_uv_transport *t, uv_loop_t *loop, const struct auth_key *key);
void atr_transport_free(struct raft_uv_transport *t);

#endif
