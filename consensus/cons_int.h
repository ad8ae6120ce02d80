/* Private definition of struct cons, shared by cons.c (lifetime, FSM,
 * events, queries) and cons_req.c (proposals, barriers, membership changes,
 * blocking wrappers for worker threads). */
#ifndef SANFS_CONSENSUS_CONS_INT_H
#define SANFS_CONSENSUS_CONS_INT_H

#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdatomic.h>

#include "consensus/consensus.h"
#include "consensus/store.h"

/* A request from a worker thread, run on the loop thread (cons_req.c). */
struct wreq;

struct cons {
	uv_loop_t *loop;
	pthread_t loop_thread;
	uint64_t id;
	char address[CONS_ADDR_MAX];
	char *state_dir, *raft_dir, *lmdb_dir;
	struct cons_config cfg; /* strings point to the copies above */

	struct store *store;
	struct raft raft;
	struct raft_io io;
	struct raft_uv_transport transport;
	struct raft_fsm fsm;
	bool io_inited, raft_inited, started, closing, failed_reported;
	bool raft_closed;	 /* raft_close's callback ran: see cons.c graveyard */
	struct cons *grave_next; /* in the graveyard */

	uv_check_t check; /* detects leader/term/config/applied changes */
	uv_async_t async; /* wakes the loop for worker requests */
	unsigned handles_open;
	void (*close_cb)(void *data);
	void *close_data;

	/* Election barrier (DESIGN §4): term whose barrier was sent / committed. */
	uint64_t barrier_term;
	bool barrier_inflight;
	struct raft_barrier elect_barrier;

	/* Last values seen by the check handle. */
	uint64_t seen_leader, seen_term;
	uint64_t seen_conf_hash;
	bool applied_dirty, members_dirty;

	/* Values for [any] queries. */
	_Atomic bool is_leader, authoritative;
	_Atomic uint64_t leader_id, term, applied;
	_Atomic uint64_t
	    contact_mono_ms;  /* CLOCK_MONOTONIC ms of the last majority contact, 0 none */
	pthread_mutex_t lock; /* guards leader_addr, voters, wq */
	char leader_addr[CONS_ADDR_MAX];
	uint64_t voters[256];
	unsigned nvoters;
	struct wreq *wq_head, *wq_tail;
};

int cons_raft_errno(int raft_rv);
/* Raft entry envelope (cons.c): wrap allocates out->base with raft_malloc;
 * unwrap points cmd into in. Both return 0 or -errno. */
int cons_entry_wrap(const uint8_t *cmd, size_t len, struct raft_buffer *out);
int cons_entry_unwrap(const struct raft_buffer *in, struct raft_buffer *cmd);
bool cons_on_loop(const struct cons *c);
/* Run queued worker requests (on the loop thread; async callback). */
void cons_run_wreqs(struct cons *c);
/* Fail every queued worker request with -ECANCELED (closing). */
void cons_cancel_wreqs(struct cons *c);
/* Called from the check handle when this member's election barrier commits. */
void cons_on_authoritative(struct cons *c);

#endif
