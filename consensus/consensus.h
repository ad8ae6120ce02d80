/* consensus: one Raft member and the replicated cluster state (DESIGN §2, §4).
 *
 * A struct cons is one member of the sanfs Raft group: canonical/raft with its
 * uv backend (log under STATE/raft/), an authenticated TCP transport (auth.h),
 * and the replicated state machine in LMDB (STATE/lmdb/, a cache rebuilt from
 * snapshot plus log at every start): members, administrator (ADM = leader),
 * SAN generation, devices, filesystems with their slot maps, the fence table
 * and the cluster configuration database (CCD, ccd.h).
 *
 * Threads. Everything is driven by the caller's uv_loop_t. Functions marked
 * [loop] must be called on the loop thread; every callback runs on the loop
 * thread. Functions marked [any] are thread-safe; [worker] ones block and must
 * NOT be called on the loop thread (they return -EDEADLK if they are).
 *
 * The process must ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)): libuv writes to
 * peer sockets that may close at any time and reports EPIPE only then.
 *
 * Errors: 0 or a negative errno. Raft errors map to errno: not the leader
 * -EREMOTE (ask cons_leader and send the request there), leadership lost
 * while the entry was in flight -ENOTCONN (outcome unknown, the entry may
 * still commit), shutting down -ECANCELED, I/O -EIO, corrupt log -EUCLEAN.
 *
 * libraft 0.15 mitigations (DESIGN §4): pre-vote on; auto-recovery of corrupt
 * segments off (a corrupt log makes cons_start fail with an ALERT log line);
 * on becoming leader a barrier is appended and the state counts as
 * authoritative only once it commits (cons_is_authoritative); then (unless
 * cfg.no_auto_takeover) the new leader commits an ADM-takeover entry, which
 * makes it the ADM and increments the SAN generation. */
#ifndef SANFS_CONSENSUS_CONSENSUS_H
#define SANFS_CONSENSUS_CONSENSUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "consensus/auth.h"

#define CONS_ADDR_MAX	  64  /* "IP:PORT" incl. NUL */
#define CONS_LABEL_MAX	  64  /* device / filesystem label incl. NUL */
#define CONS_REASON_MAX	  128 /* fence reason incl. NUL */
#define CONS_MAX_SLOTS	  256 /* node slots per filesystem */
#define CONS_UUID_BYTES	  16
#define CCD_KEY_MAX	  64	      /* CCD key incl. NUL */
#define CCD_ROW_MAX	  1024	      /* CCD row or format incl. NUL */
#define CONS_CCD_BLOB_MAX (16u << 20) /* largest CCD restore image */

/* ---- State records (values, copied out of LMDB) ------------------------ */

/* Member states (DESIGN §6). Transitions are done by the node daemon through
 * CONS_CMD_MEMBER_PUT / FENCE / UNFENCE:
 *   JOINING -> ACTIVE    raft promotion done, node heartbeating
 *   ACTIVE  -> FAILED    silent past the timeout (ADM decision)
 *   *       -> FENCED    CONS_CMD_FENCE (fence table entry added)
 *   FENCED  -> ACTIVE    CONS_CMD_UNFENCE then MEMBER_PUT with a new incarnation
 *   *       -> (gone)    CONS_CMD_MEMBER_DEL (node removed) */
enum cons_member_state {
	CONS_MEMBER_JOINING = 0,
	CONS_MEMBER_ACTIVE = 1,
	CONS_MEMBER_FAILED = 2,
	CONS_MEMBER_FENCED = 3,
};

struct cons_member {
	uint64_t id; /* Raft id, >= 1 */
	char address[CONS_ADDR_MAX];
	uint32_t state;	      /* enum cons_member_state */
	uint64_t incarnation; /* boot incarnation (DESIGN §6) */
};

enum cons_device_state {
	CONS_DEV_OK = 0,
	CONS_DEV_ERROR = 1, /* recovery failed: isolated, no new mounts (Fig. 7 754-760) */
};

struct cons_device {
	uint8_t uuid[CONS_UUID_BYTES]; /* sanfs superblock UUID */
	char label[CONS_LABEL_MAX];
	uint64_t size;	/* bytes */
	uint32_t state; /* enum cons_device_state */
};

struct cons_fs {
	uint8_t uuid[CONS_UUID_BYTES];
	char label[CONS_LABEL_MAX];
	uint8_t device_uuid[CONS_UUID_BYTES];
	uint32_t nslots;		     /* 1..CONS_MAX_SLOTS */
	uint64_t slot_owner[CONS_MAX_SLOTS]; /* node id holding slot i, 0 = free */
};

struct cons_fence {
	uint64_t node_id;
	uint64_t incarnation; /* the incarnation that was fenced */
	uint64_t generation;  /* SAN generation after fencing */
	uint64_t date_ms;     /* leader clock, ms since the epoch */
	char reason[CONS_REASON_MAX];
};

/* Cluster-wide scalars. */
struct cons_cluster {
	uint64_t generation; /* SAN generation (DESIGN §4) */
	uint64_t adm_id;     /* administrator = leader that committed the last takeover, 0 none */
	uint64_t adm_term;   /* Raft term of that takeover */
	uint64_t applied;    /* last Raft index applied to this copy */
};

/* CCD consistency record (SEEDS Sun: date, generation, length, restore flag,
 * members, checksum). */
struct ccd_record {
	uint64_t generation; /* incremented by every CCD update */
	uint64_t date_ms;    /* leader clock of the last update */
	uint64_t length;     /* bytes of the canonical CCD dump (ccd.h) */
	uint32_t checksum;   /* CRC32C of that dump */
	bool restored;	     /* set by CONS_CMD_CCD_RESTORE, cleared by next update */
	uint32_t nmembers;
	uint64_t members[64]; /* voting member ids at the update, ascending */
};

/* ---- Commands (the only way to change the state) ----------------------- */

/* Encoded in one place (cons_cmd_encode/decode, consensus/cmd.c): version 1,
 * little-endian, every field length-checked. Generation: a "+gen" command
 * increments the SAN generation when it applies. Result: cons_propose's
 * result on success (>= 0), or a negative errno from apply (the entry
 * committed but changed nothing). */
enum cons_cmd_type {
	CONS_CMD_ADM_TAKEOVER = 1, /* u.adm: ADM := id, +gen; inserts the ADM's member
				      record if missing. result: new generation */
	CONS_CMD_MEMBER_PUT = 2,   /* u.member: insert/replace, +gen. result: generation */
	CONS_CMD_MEMBER_DEL = 3,   /* u.id: remove member (and its slots), +gen; -ENOENT */
	CONS_CMD_FENCE = 4,	   /* u.fence: fence table add, member -> FENCED, its slots
				      stay owned (recovery frees them), +gen. result: generation */
	CONS_CMD_UNFENCE = 5,	   /* u.id: fence table remove, +gen; -ENOENT */
	CONS_CMD_DEVICE_PUT = 6,   /* u.device: insert/replace by uuid, +gen. -EEXIST: label
				      used by another uuid */
	CONS_CMD_DEVICE_DEL = 7,   /* u.uuid: +gen; -ENOENT, -EBUSY (a filesystem uses it) */
	CONS_CMD_FS_PUT = 8,	   /* u.fs (slot_owner ignored, kept if the fs exists and nslots
				      is unchanged): +gen; -ENOENT device unknown, -EEXIST label */
	CONS_CMD_FS_DEL = 9,	   /* u.uuid: +gen; -ENOENT; -EBUSY while a slot is owned */
	CONS_CMD_SLOT_SET = 10,	   /* u.slot: slot_owner[slot] := node_id if it is expect;
				      -EBUSY otherwise; no gen change. result: slot */
	CONS_CMD_CCD_FORMAT = 11,  /* u.ccd: set key's format; -EBUSY if rows exist with
				      another column count. result: CCD generation */
	CONS_CMD_CCD_ADD = 12,	   /* u.ccd: add row; -ENOENT no format, -EINVAL mismatch,
				      -EEXIST duplicate. result: CCD generation */
	CONS_CMD_CCD_REMOVE = 13,  /* u.ccd: remove row (empty text: the whole key with its
				      format); -ENOENT. result: CCD generation */
	CONS_CMD_CCD_RESTORE = 14, /* u.blob: replace the whole CCD by a checkpoint image
				      (ccd.h text format), restored flag set; -EINVAL */
	CONS_CMD_GEN_BUMP = 15,	   /* no payload: +gen (e.g. a storage change the ADM makes
				      outside these tables). result: generation */
	CONS_CMD_CCD_BATCH = 16,   /* u.blob: 1..CONS_CCD_BATCH_MAX CCD FORMAT/ADD/REMOVE
				      updates (cons_ccd_batch_encode), applied in order in one
				      transaction, all or none: the first failing update's
				      error is the result and nothing is applied. The CCD
				      generation grows by one per update, the record is that
				      of the same updates applied one by one (one date).
				      result: CCD generation after the last update */
};
#define CONS_CMD_TYPE_MAX 16

struct cons_cmd {
	uint32_t type;	  /* enum cons_cmd_type */
	uint64_t date_ms; /* leader clock; cons_propose stamps it when 0. apply never
			     reads a clock. */
	union {
		struct {
			uint64_t id;
			uint64_t term;
			char address[CONS_ADDR_MAX];
		} adm;
		struct cons_member member;
		struct cons_fence fence; /* generation is filled by apply */
		struct cons_device device;
		struct cons_fs fs;
		uint64_t id;
		uint8_t uuid[CONS_UUID_BYTES];
		struct {
			uint8_t fs_uuid[CONS_UUID_BYTES];
			uint32_t slot;
			uint64_t node_id; /* new owner, 0 = free */
			uint64_t expect;  /* required current owner */
		} slot;
		struct {
			char key[CCD_KEY_MAX];
			char text[CCD_ROW_MAX]; /* format or row */
		} ccd;
		struct {
			const uint8_t *data; /* borrowed: the caller's (encode) or the
						decoded buffer's (decode) memory */
			size_t len;	     /* <= CONS_CCD_BLOB_MAX */
		} blob;
	} u;
};

/* One update of a CONS_CMD_CCD_BATCH (type FORMAT, ADD or REMOVE). */
#define CONS_CCD_BATCH_MAX 64
struct cons_ccd_item {
	uint32_t type;
	char key[CCD_KEY_MAX];
	char text[CCD_ROW_MAX];
};
/* Encode n (1..CONS_CCD_BATCH_MAX) items as a batch payload (malloc'ed *out,
 * for u.blob). -EINVAL on a bad item or count, -ENOMEM. [any] */
int cons_ccd_batch_encode(const struct cons_ccd_item *items, size_t n, uint8_t **out, size_t *len);
/* Decode the next item of a batch payload at *off (start with 0): 1 and the
 * item, 0 at the end, -EINVAL if malformed. cons_cmd_decode has checked the
 * whole payload of a decoded CONS_CMD_CCD_BATCH already. [any] */
int cons_ccd_batch_next(const uint8_t *buf, size_t len, size_t *off, struct cons_ccd_item *it);

/* Encode cmd into a malloc'ed buffer (*out, caller frees with free()).
 * Returns 0, -EINVAL (a field out of range: unterminated string, bad type) or
 * -ENOMEM. [any] */
int cons_cmd_encode(const struct cons_cmd *cmd, uint8_t **out, size_t *len);
/* Decode; rejects (-EINVAL) wrong magic/version/type, short or long buffers,
 * strings without room for NUL or with NUL/newline where not allowed.
 * u.blob.data points into buf. [any] */
int cons_cmd_decode(const void *buf, size_t len, struct cons_cmd *cmd);
const char *cons_cmd_name(uint32_t type); /* "adm-takeover", ...; "?" if unknown */

/* ---- Lifetime ---------------------------------------------------------- */

struct cons;

enum cons_event_type {
	CONS_EV_LEADER = 1,	   /* leader id or term changed (incl. to "none") */
	CONS_EV_AUTHORITATIVE = 2, /* this member is leader and its election barrier
				      committed: its state is current */
	CONS_EV_MEMBERSHIP = 3,	   /* Raft configuration or members table changed */
	CONS_EV_APPLIED = 4,	   /* new entries applied (coalesced: one event per loop
				      iteration at most) */
	CONS_EV_FAILED = 5,	   /* fatal: Raft stopped (I/O error, corrupt log);
				      the caller should cons_close */
};

struct cons_event {
	enum cons_event_type type;
	uint64_t leader_id; /* 0 = unknown */
	uint64_t term;
	uint64_t applied; /* last applied index */
	uint64_t generation;
};

/* Runs on the loop thread; may call any [loop] function (including
 * cons_propose), but not cons_close. */
typedef void (*cons_event_cb)(struct cons *c, const struct cons_event *ev, void *data);

struct cons_config {
	uint64_t id;	       /* Raft id of this member, 1..2^63 */
	const char *address;   /* "IPv4:PORT" peers reach us at, also the bind address */
	const char *state_dir; /* STATE: raft log in STATE/raft, LMDB in STATE/lmdb */
	struct auth_key key;   /* cluster key; copied */
	/* 0 = 500. libraft 0.15 followers refuse votes while they still know
	 * a leader, so after a leader dies an election completes only once a
	 * majority of the survivors timed out themselves, and split votes cost
	 * a whole extra round: measured on 5 members (12 runs each), 500 ms
	 * gives a new leader in 0.7-1.5 s, 1000 ms in 1.4-3.2 s. */
	unsigned election_timeout_ms;
	unsigned heartbeat_timeout_ms; /* 0 = 100 */
	unsigned snapshot_threshold;   /* entries between snapshots; 0 = 1024 */
	unsigned snapshot_trailing;    /* entries kept after a snapshot; 0 = 128 */
	bool no_auto_takeover;	       /* do not commit ADM-takeover on election */
	cons_event_cb on_event;	       /* may be NULL */
	void *cb_data;
};

/* Check STATE (exists or is created 0700; refuses tmpfs/overlayfs and a
 * filesystem where O_DIRECT fails, with a one-line reason, -EINVAL), wipe
 * and open LMDB, set up raft (not started). Strings in cfg are copied.
 * *out is owned by the caller until cons_close. [loop] */
int cons_open(uv_loop_t *loop, const struct cons_config *cfg, struct cons **out);

/* Make this member the first and only voter of a new cluster. Only before
 * cons_start, on a state dir with an empty log; -EEXIST if it already holds a
 * cluster. A joining member does NOT bootstrap: it starts with an empty log
 * and waits for the leader's cons_member_add. [loop] */
int cons_bootstrap(struct cons *c);

/* Start: load snapshot and log (a corrupt segment: -EUCLEAN and an ALERT
 * line), listen on the address, take part in elections. [loop] */
int cons_start(struct cons *c);

/* Stop Raft (no leadership hand-over: to the others this looks like a
 * crash), fail pending proposals (their callbacks run with -ENOTCONN or
 * -ECANCELED; blocked workers are woken with -ECANCELED), close LMDB, free c.
 * No event callback runs after this call. cb (may be NULL) runs on the loop
 * thread once every handle is closed. c is invalid as soon as cons_close is
 * called: other threads must have stopped using it. Also valid after
 * cons_open without start, or after cons_start failed. [loop] */
void cons_close(struct cons *c, void (*cb)(void *data), void *data);

/* Graceful hand-over before a planned stop: if this member leads, ask the
 * most up-to-date voter to take over now (raft_transfer; no election time-out
 * to wait for). cb(0) once another member leads, cb(-ETIMEDOUT) if none took
 * over within an election time-out; -EREMOTE at once if this member does not
 * lead, -ENOENT if there is no other voter. Then call cons_close. [loop] */
int cons_handover(struct cons *c, void (*cb)(void *data, int status), void *data);

/* Last error text of the Raft instance (for log lines). [loop] */
const char *cons_errmsg(struct cons *c);

/* ---- Proposals --------------------------------------------------------- */

/* status: 0 if the entry committed and applied (result = apply result: >= 0
 * value or negative errno from apply), else negative errno (-EREMOTE not
 * leader, -ENOTCONN leadership lost, -ECANCELED closing; result 0). */
typedef void (*cons_propose_cb)(void *data, int status, int64_t result);

/* Propose cmd (copied; u.blob.data copied too). Only the leader accepts;
 * elsewhere returns -EREMOTE at once. Stamps date_ms from this leader's
 * CLOCK_REALTIME when 0. cb (may be NULL) runs exactly once if 0 is
 * returned. [loop] */
int cons_propose(struct cons *c, const struct cons_cmd *cmd, cons_propose_cb cb, void *data);

/* Blocking propose from a worker thread (waits at most timeout_ms, 0 = 10 s;
 * on -ETIMEDOUT the entry may still commit). Returns the status as above and
 * stores the apply result in *result (may be NULL). [worker] */
int cons_propose_wait(struct cons *c, const struct cons_cmd *cmd, unsigned timeout_ms,
		      int64_t *result);

/* Barrier: cb runs once every entry before it is applied here (leader only,
 * -EREMOTE elsewhere). This is the "current read" (DESIGN §4): read the local
 * state inside cb and it is as current as the leader's commit. [loop] */
typedef void (*cons_barrier_cb)(void *data, int status);
int cons_barrier(struct cons *c, cons_barrier_cb cb, void *data);
/* Same from a worker thread; then the local reads are current. [worker] */
int cons_barrier_wait(struct cons *c, unsigned timeout_ms);

/* ---- Raft membership (leader only) ------------------------------------- */

typedef void (*cons_change_cb)(void *data, int status);

/* Add id@address as a Raft voter (raft_add, then raft_assign VOTER once it
 * caught up) and commit MEMBER_PUT {id, address, JOINING, incarnation 0}.
 * cb(0) when all three are done. Retrying after a failure resumes: an id
 * already in the configuration at the same address is promoted if needed and
 * recorded; at another address it is -EEXIST. The joining member must be
 * running (cons_start without bootstrap). A member that never catches up (not
 * reachable, wrong key) fails the promotion (cb -ENOTCONN) and stays a
 * non-voter until cons_member_remove. [loop] */
int cons_member_add(struct cons *c, uint64_t id, const char *address, cons_change_cb cb,
		    void *data);
/* Promote an existing non-voter (standby/spare) to voter. [loop] */
int cons_member_promote(struct cons *c, uint64_t id, cons_change_cb cb, void *data);
/* Remove id from the Raft configuration and commit MEMBER_DEL. [loop] */
int cons_member_remove(struct cons *c, uint64_t id, cons_change_cb cb, void *data);
/* Blocking forms of add/remove. [worker] */
int cons_member_add_wait(struct cons *c, uint64_t id, const char *address, unsigned timeout_ms);
int cons_member_remove_wait(struct cons *c, uint64_t id, unsigned timeout_ms);

/* ---- Queries ----------------------------------------------------------- */

bool cons_is_leader(struct cons *c);	    /* [any] Raft state is leader */
bool cons_is_authoritative(struct cons *c); /* [any] leader and election barrier committed */
uint64_t cons_leader(struct cons *c, char *address, size_t addrlen); /* [any] 0 = unknown;
							address may be NULL */
uint64_t cons_term(struct cons *c);				     /* [any] */
uint64_t cons_applied(struct cons *c);				     /* [any] last applied index */
/* Milliseconds since this member last knew a Raft majority was with it, for
 * the node's lease (DESIGN §6): as follower, since the leader's last message;
 * as leader, since libraft last confirmed a majority of recent contacts
 * (checked once per election timeout, so up to one election timeout even when
 * healthy). UINT64_MAX while a candidate, before any contact, or closing. [any] */
uint64_t cons_contact_age_ms(struct cons *c);
uint64_t cons_id(const struct cons *c); /* [any] */
/* Voter ids of the current Raft configuration, ascending. Returns the count
 * (may exceed max; only max are stored). [any] */
unsigned cons_voters(struct cons *c, uint64_t *ids, unsigned max);

/* Local reads of the replicated state (LMDB read transaction; stale-tolerant:
 * as of the last entry applied here). Arrays are malloc'ed, caller frees
 * with free(); *n = 0 and *out = NULL when empty. [any] */
int cons_get_cluster(struct cons *c, struct cons_cluster *out);
int cons_get_members(struct cons *c, struct cons_member **out, size_t *n);
int cons_get_member(struct cons *c, uint64_t id, struct cons_member *out); /* -ENOENT */
int cons_get_devices(struct cons *c, struct cons_device **out, size_t *n);
int cons_get_filesystems(struct cons *c, struct cons_fs **out, size_t *n);
int cons_get_fences(struct cons *c, struct cons_fence **out, size_t *n);
/* CCD (stale-tolerant local copy, as the Sun CCD serves queries). */
int cons_ccd_format(struct cons *c, const char *key, char *fmt, size_t fmtlen); /* -ENOENT */
/* Rows of key matching pattern (ccd.h; NULL = all), each a malloc'ed string in
 * a malloc'ed array; free with ccd_rows_free. */
int cons_ccd_query(struct cons *c, const char *key, const char *pattern, char ***rows, size_t *n);
int cons_ccd_record(struct cons *c, struct ccd_record *out);
/* Write the CCD checkpoint (ccd.h text format incl. the record) to path. */
int cons_ccd_checkpoint(struct cons *c, const char *path);
/* Read a checkpoint file and build the CCD_RESTORE command for it: cmd
 * u.blob points into *buf (caller frees with free() after proposing). */
int cons_ccd_restore_cmd(const char *path, struct cons_cmd *cmd, uint8_t **buf);
void ccd_rows_free(char **rows, size_t n);

#endif
