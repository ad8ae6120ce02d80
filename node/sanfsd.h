/* node/sanfsd: the node daemon's context (private to node/). DESIGN §2: one
 * process per node; one libuv loop thread runs Raft (consensus/), the control
 * channel (ctl.h), the admin socket (admin.h) and the membership timers
 * (memb.c). Nothing on the loop blocks.
 *
 * Node states as seen by the ADM (the table consensus.h keeps; who moves it):
 *   JOINING --first heartbeat--> ACTIVE          (ADM, MEMBER_PUT)
 *   ACTIVE  --silent > timeout--> FENCED         (ADM, FENCE: +gen, fence entry)
 *   ACTIVE  --sanctl node fence--> FENCED        (ADM, FENCE)
 *   FENCED  --sanctl node unfence--> FENCED, no fence entry   (UNFENCE, +gen)
 *   FENCED, no entry --heartbeat, new incarnation--> ACTIVE   (ADM, MEMBER_PUT)
 * Fence policy: manual. A fenced node never re-enters by itself: it bumps its
 * incarnation as soon as it learns it was fenced and waits for an operator's
 * `sanctl node unfence ID`. */
#ifndef SANFS_NODE_SANFSD_H
#define SANFS_NODE_SANFSD_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "consensus/consensus.h"
#include "node/admin.h"
#include "node/ctl.h"
#include "node/nodeconf.h"

#define MEMB_MAX_PEERS 256

struct memb_peer {
	uint64_t id;
	uint64_t last_heard_ms; /* monotonic */
	uint64_t incarnation;	/* from its last heartbeat */
	uint64_t seq;		/* last heartbeat sequence seen */
	uint64_t gen_applied;	/* SAN generation it has applied (acks) */
	bool put_pending;	/* a MEMBER_PUT for it is in flight */
	bool fence_pending;	/* a FENCE for it is in flight */
};

struct ack_wait;  /* admin request waiting for every live node to apply a gen */
struct sync_run;  /* one CCD sync command run in progress */
struct dlm_node;  /* the lockspace and its connections (dlm_node.h) */
struct dlm_admin; /* the lock.* admin operations (dlm_admin.c) */

struct sanfsd {
	uv_loop_t *loop;
	char state_dir[PATH_MAX];
	struct node_conf conf;
	struct auth_key key;
	char ctl_addr[NCONF_ADDR_MAX];
	struct cons *cons;
	struct admin_srv *admin;
	struct ctl *ctl;
	uint64_t incarnation;
	uint64_t hb_seq;
	bool hb_inflight;
	uint64_t leader_ack_ms;	  /* last heartbeat reply from the leader */
	uint64_t fenced_self_inc; /* incarnation we saw fenced (0 none) */
	bool joined;		  /* this node is in the Raft configuration */
	bool join_inflight;
	uint64_t last_join_ms;
	uv_timer_t tick;
	uv_signal_t sigterm, sigint;
	bool stopping;
	struct memb_peer peers[MEMB_MAX_PEERS];
	unsigned npeers;
	bool authoritative;
	struct ack_wait *acks;
	unsigned sync_timeout_ms;
	struct dlm_node *dlm;
	struct dlm_admin *dlma;
};

uint64_t sanfsd_now_ms(void); /* CLOCK_MONOTONIC in ms */
/* Bump and persist DIR/incarnation (at start, and when fenced). */
int sanfsd_next_incarnation(struct sanfsd *d);

/* memb.c: heartbeats, failure detection, admission (DESIGN §6). */
int memb_start(struct sanfsd *d);
void memb_stop(struct sanfsd *d);
void memb_on_event(struct sanfsd *d, const struct cons_event *ev);
/* Handle a control request of type "hb" or "join" (on the ADM). */
void memb_on_hb(struct sanfsd *d, struct ctl_in *in, uint64_t peer, json_t *msg);
void memb_on_join(struct sanfsd *d, struct ctl_in *in, uint64_t peer, json_t *msg);
/* Does this node hear a majority now (DESIGN §4: changes need one)? */
bool memb_have_quorum(struct sanfsd *d);
struct memb_peer *memb_peer(struct sanfsd *d, uint64_t id, bool create);
/* Ids of live (ACTIVE) members that have not applied generation gen; returns
 * the count stored in ids (at most max). */
unsigned memb_unacked(struct sanfsd *d, uint64_t gen, uint64_t *ids, unsigned max);

/* ops.c: admin requests (from the socket or forwarded over ctl). reply is
 * called exactly once with a new reference. */
typedef void (*ops_done_fn)(void *data, json_t *reply);
void ops_handle(struct sanfsd *d, json_t *req, bool forwarded, ops_done_fn done, void *data);
void ops_on_applied(struct sanfsd *d);
/* Control requests of type "fwd", "ccdrec", "sync". */
void ops_on_ctl(struct sanfsd *d, struct ctl_in *in, uint64_t peer, json_t *msg);

/* The control address (port + 1) of a Raft address. */
int sanfsd_ctl_addr_of(const char *raft_addr, char *out, size_t outlen);

#endif
