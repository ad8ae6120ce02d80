/* node/ops_ccd: the cluster configuration database's admin operations
 * (DESIGN §4, SEEDS Sun CCD): local queries, checkpoint, verify across the
 * members, and updates wrapped in the user sync commands of every node, in
 * FIFO order on the ADM.
 *
 * Updates run one at a time ("pre" on every live node, one Raft entry,
 * "post" on every live node), except that while no node has sync commands
 * the updates that queued up behind a running one go together as one batch:
 * one "pre" round ({"t":"syncb"}), one CONS_CMD_CCD_BATCH entry (applied in
 * order, all or none, one CCD generation per update), one "post" round, and
 * each update gets its own reply and generation. A node that has sync
 * commands refuses a batch's "pre" without running anything ("serialize"):
 * the ADM then puts the batch back at the head of the queue and runs its
 * updates one at a time, so every update with sync commands gets the serial
 * freeze/unfreeze around it, alone, and a failing command fails only its
 * update (the next updates that queue up try a batch again: a refusal costs
 * one round trip, nothing runs). The ADM does not even try while it has
 * sync commands itself. A batch whose entry fails to apply (one update is
 * refused: a duplicate row, say) changes nothing and its updates are run
 * again one at a time, each for its own result. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "consensus/ccd.h"
#include "node/admin_proto.h"
#include "node/ops_int.h"
#include "node/sync.h"

static void ccd_batch_try(struct sanfsd *d);
static bool ccd_batchable(const struct op *o);

/* One CCD update at a time (SEEDS Sun: "never two at once"); the others
 * wait in FIFO order on the ADM. */
static bool ccd_busy;
static struct op *ccd_q_head, *ccd_q_tail;
static bool ccd_quorum_on; /* row quorum:on of key sanfs_ccd, refreshed on apply */

/* ---- CCD reads ---------------------------------------------------------- */

json_t *ccd_record_json(const struct ccd_record *rec)
{
	json_t *mem = json_array();
	for (uint32_t i = 0; i < rec->nmembers && i < 64; i++)
		json_array_append_new(mem, json_integer((json_int_t)rec->members[i]));
	return json_pack("{s:I,s:I,s:I,s:I,s:b,s:o}", "generation", (json_int_t)rec->generation,
			 "date_ms", (json_int_t)rec->date_ms, "length", (json_int_t)rec->length,
			 "checksum", (json_int_t)rec->checksum, "restored", rec->restored,
			 "members", mem);
}

json_t *op_config_query(struct sanfsd *d, json_t *req)
{
	char err[200], fmt[CCD_ROW_MAX];
	const char *key, *pattern = NULL;
	if (aproto_get_str(req, "key", CCD_KEY_MAX - 1, &key, err, sizeof(err)))
		return aproto_err(ADMIN_E_INVALID, "%s", err);
	if (json_object_get(req, "pattern") &&
	    aproto_get_str(req, "pattern", CCD_ROW_MAX - 1, &pattern, err, sizeof(err)))
		return aproto_err(ADMIN_E_INVALID, "%s", err);
	if (!ccd_key_valid(key))
		return aproto_err(ADMIN_E_INVALID, "bad key '%s'", key);
	if (cons_ccd_format(d->cons, key, fmt, sizeof(fmt)))
		return aproto_err(ADMIN_E_NOTFOUND, "key '%s' has no format", key);
	/* config quorum on (key sanfs_ccd, row quorum:on): no stale reads. */
	if (ccd_quorum_on && !memb_have_quorum(d))
		return aproto_err(ADMIN_E_NOQUORUM,
				  "config quorum is on and this node has no quorum");
	char **rows;
	size_t n;
	int rc = cons_ccd_query(d->cons, key, pattern, &rows, &n);
	if (rc)
		return aproto_err(ADMIN_E_INTERNAL, "query: %s", strerror(-rc));
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(rows[i]));
	ccd_rows_free(rows, n);
	json_t *r = aproto_ok();
	json_object_set_new(r, "format", json_string(fmt));
	json_object_set_new(r, "rows", a);
	json_object_set_new(r, "stale_ok", json_boolean(!ccd_quorum_on));
	return r;
}

json_t *op_config_checkpoint(struct sanfsd *d, json_t *req)
{
	char err[200];
	const char *file;
	if (aproto_get_str(req, "file", 4095, &file, err, sizeof(err)))
		return aproto_err(ADMIN_E_INVALID, "%s", err);
	if (file[0] != '/')
		return aproto_err(ADMIN_E_INVALID, "checkpoint file must be an absolute path");
	int rc = cons_ccd_checkpoint(d->cons, file);
	if (rc)
		return aproto_err(ADMIN_E_INTERNAL, "checkpoint to %s: %s", file, strerror(-rc));
	struct ccd_record rec;
	json_t *r = aproto_ok();
	if (!cons_ccd_record(d->cons, &rec))
		json_object_set_new(r, "record", ccd_record_json(&rec));
	return r;
}

/* ---- CCD updates with sync commands ------------------------------------- */

static void sync_phase(struct op *o, const char *phase);

void ccd_release(void)
{
	ccd_busy = false;
	while (!ccd_busy && ccd_q_head) {
		struct op *o = ccd_q_head;
		if (ccd_batchable(o) && o->qnext && ccd_batchable(o->qnext) &&
		    !sync_count(o->d->state_dir)) {
			ccd_busy = true;
			ccd_batch_try(o->d);
			continue;
		}
		ccd_q_head = o->qnext;
		if (!ccd_q_head)
			ccd_q_tail = NULL;
		ccd_busy = true;
		sync_phase(o, "pre");
		op_unref(o); /* the queue's reference */
	}
}

static void ccd_fail(struct op *o, json_t *reply)
{
	/* Nothing was applied: tell the nodes whose "pre" ran to undo. */
	if (o->nsync_ok) {
		o->phase = "abort";
		sync_phase(o, "abort");
	}
	op_finish(o, reply);
	ccd_release();
}

static void sync_dec(struct op *o);

static void sync_one_done(struct op *o, uint64_t id, int status, const char *msg)
{
	if (status == 0 && !strcmp(o->phase, "pre") && o->nsync_ok < MEMB_MAX_PEERS)
		o->sync_ok[o->nsync_ok++] = id;
	if (status && !o->sync_status) {
		o->sync_status = status;
		snprintf(o->sync_msg, sizeof(o->sync_msg), "node %llu: %s", (unsigned long long)id,
			 msg);
	}
	sync_dec(o);
}

static void sync_dec(struct op *o)
{
	if (--o->sync_pending)
		return;
	const char *phase = o->phase;
	if (!strcmp(phase, "pre")) {
		if (o->sync_status)
			ccd_fail(o,
				 aproto_err(ADMIN_E_SYNC, "update not applied: %s", o->sync_msg));
		else
			op_propose(o);
	} else if (!strcmp(phase, "post")) {
		json_t *r = aproto_ok();
		json_object_set_new(r, "generation", json_integer((json_int_t)o->gen));
		if (o->sync_status)
			json_object_set_new(r, "warning", json_string(o->sync_msg));
		op_finish(o, r);
		ccd_release();
	}
}

struct sync_peer_ctx {
	struct op *o;
	uint64_t id;
};

/* ---- a sync request to one member --------------------------------------- */

/* A member that died a moment ago is still active until the ADM notices its
 * silence (hb_timeout_ms) and commits its failure; an update must not fail
 * for it. So a request that cannot reach a member is sent again every
 * PEER_RETRY_MS until the member answers or is no longer active (failed or
 * fenced: it is not waited for, and it reads the database anew when it
 * rejoins), for at most hb_timeout_ms + PEER_WAIT_SLACK_MS. A member that
 * answers with an error, or does not answer within the time-out (it was
 * reachable), fails the request as before. */
#define PEER_RETRY_MS	   200
#define PEER_WAIT_SLACK_MS 3000

struct peer_call {
	struct sanfsd *d;
	uint64_t id;
	json_t *msg;
	unsigned timeout_ms;
	uint64_t deadline;
	ctl_reply_fn cb;
	void *data;
	uv_timer_t timer;
};

static int peer_send(struct peer_call *pc);

static void peer_call_free(uv_handle_t *h)
{
	struct peer_call *pc = h->data;
	json_decref(pc->msg);
	free(pc);
}

static void peer_call_end(struct peer_call *pc, int status, json_t *reply)
{
	pc->cb(pc->data, status, reply);
	uv_close((uv_handle_t *)&pc->timer, peer_call_free);
}

/* Whether id is still an active member (not failed, fenced or removed). */
static bool peer_active(struct sanfsd *d, uint64_t id)
{
	struct cons_member m;
	return d->cons && cons_get_member(d->cons, id, &m) == 0 && m.state == CONS_MEMBER_ACTIVE;
}

/* The member left the active set before it answered: not waited for. */
static void peer_gone(struct peer_call *pc)
{
	log_info("ccd", "node %llu left the active members during the update: not waited for",
		 (unsigned long long)pc->id);
	peer_call_end(pc, -ESRCH, NULL);
}

static void on_peer_retry(uv_timer_t *t)
{
	struct peer_call *pc = t->data;
	if (pc->d->stopping) {
		peer_call_end(pc, -ECANCELED, NULL);
		return;
	}
	if (!peer_active(pc->d, pc->id)) {
		peer_gone(pc);
		return;
	}
	int rc = peer_send(pc);
	if (rc)
		peer_call_end(pc, rc, NULL);
}

static void on_peer_reply(void *data, int status, json_t *reply)
{
	struct peer_call *pc = data;
	if (status && status != -ECANCELED && !pc->d->stopping) {
		if (!peer_active(pc->d, pc->id)) {
			peer_gone(pc);
			return;
		}
		if (status != -ETIMEDOUT && sanfsd_now_ms() < pc->deadline) {
			uv_timer_start(&pc->timer, on_peer_retry, PEER_RETRY_MS, 0);
			return;
		}
	}
	peer_call_end(pc, status, reply);
}

static int peer_send(struct peer_call *pc)
{
	struct cons_member m;
	char ctl[NCONF_ADDR_MAX];
	int rc = pc->d->ctl ? cons_get_member(pc->d->cons, pc->id, &m) : -ECANCELED;
	if (!rc)
		rc = sanfsd_ctl_addr_of(m.address, ctl, sizeof(ctl));
	if (!rc)
		rc = ctl_request(pc->d->ctl, ctl, pc->msg, pc->timeout_ms, on_peer_reply, pc);
	return rc;
}

/* Send msg (stolen) to member id; cb runs once, never from within this call
 * when it returns 0, with -ESRCH when the member left the active set before
 * it answered. */
static int peer_call(struct sanfsd *d, uint64_t id, json_t *msg, unsigned timeout_ms,
		     ctl_reply_fn cb, void *data)
{
	struct peer_call *pc = msg ? calloc(1, sizeof(*pc)) : NULL;
	if (!pc) {
		json_decref(msg);
		return -ENOMEM;
	}
	pc->d = d;
	pc->id = id;
	pc->msg = msg;
	pc->timeout_ms = timeout_ms;
	pc->deadline = sanfsd_now_ms() + d->conf.hb_timeout_ms + PEER_WAIT_SLACK_MS;
	pc->cb = cb;
	pc->data = data;
	uv_timer_init(d->loop, &pc->timer);
	pc->timer.data = pc;
	int rc = peer_send(pc);
	if (rc) {
		/* cb must not run: close without it. */
		uv_close((uv_handle_t *)&pc->timer, peer_call_free);
	}
	return rc;
}

static void on_local_sync(void *data, int status, const char *msg)
{
	struct sync_peer_ctx *sp = data;
	sync_one_done(sp->o, sp->id, status, msg);
	op_unref(sp->o);
	free(sp);
}

/* The error of a peer's sync reply, NULL for success (also when the peer
 * left the active members before it answered). */
static const char *peer_sync_error(int status, json_t *reply, const char **code)
{
	if (status == -ESRCH)
		return NULL;
	if (status)
		return status == -ETIMEDOUT ? "timed out" : strerror(-status);
	return aproto_reply_error(reply, code);
}

static void on_peer_sync(void *data, int status, json_t *reply)
{
	struct sync_peer_ctx *sp = data;
	const char *e = peer_sync_error(status, reply, NULL);
	if (status == -ESRCH)
		sync_dec(sp->o); /* gone: nothing ran there, nothing to undo */
	else
		sync_one_done(sp->o, sp->id, e ? -EIO : 0, e ? e : "");
	op_unref(sp->o);
	free(sp);
}

/* Run a sync phase on every live member (for "abort": those whose "pre"
 * succeeded), including this node. */
static void sync_phase(struct op *o, const char *phase)
{
	struct sanfsd *d = o->d;
	struct cons_member *m = NULL;
	size_t n = 0;
	uint64_t ids[MEMB_MAX_PEERS];
	unsigned k = 0;
	if (!strcmp(phase, "abort")) {
		k = o->nsync_ok;
		memcpy(ids, o->sync_ok, sizeof(uint64_t) * k);
	} else if (!cons_get_members(d->cons, &m, &n)) {
		for (size_t i = 0; i < n && k < MEMB_MAX_PEERS; i++)
			if (m[i].state == CONS_MEMBER_ACTIVE || m[i].id == d->conf.id)
				ids[k++] = m[i].id;
		free(m);
	}
	o->phase = phase;
	o->sync_status = 0;
	o->sync_pending = (int)k + 1; /* +1 until the loop below is done */
	for (unsigned i = 0; i < k; i++) {
		struct sync_peer_ctx *sp = malloc(sizeof(*sp));
		if (!sp) {
			sync_one_done(o, ids[i], -ENOMEM, "out of memory");
			continue;
		}
		*sp = (struct sync_peer_ctx){o, ids[i]};
		o->refs++;
		int rc;
		if (ids[i] == d->conf.id) {
			rc = sync_run(d->loop, d->state_dir, phase, o->ccd_op, o->ccd_key,
				      o->ccd_text, d->sync_timeout_ms, on_local_sync, sp);
		} else {
			json_t *msg =
			    json_pack("{s:s,s:s,s:s,s:s,s:s}", "t", "sync", "phase", phase, "op",
				      o->ccd_op, "key", o->ccd_key, "text", o->ccd_text);
			rc = peer_call(d, ids[i], msg, d->sync_timeout_ms + 2000, on_peer_sync, sp);
		}
		if (rc) {
			o->refs--;
			free(sp);
			sync_one_done(o, ids[i], rc, "cannot run the sync command there");
		}
	}
	if (!strcmp(phase, "abort")) {
		o->nsync_ok = 0;
		o->sync_pending = 0; /* fire and forget: nobody waits for the abort */
		return;
	}
	sync_dec(o); /* drop the +1 */
}

void ccd_after_commit(struct op *o, int status, int64_t result)
{
	if (o->finished)
		return;
	if (o->timer_on)
		uv_timer_stop(&o->timer);
	if (status || result < 0) {
		ccd_fail(o, op_errno_reply(o->name, status ? status : (int)result));
		return;
	}
	o->gen = (uint64_t)result;
	o->nsync_ok = 0;
	sync_phase(o, "post");
}

void op_ccd_change(struct op *o, const char *op)
{
	char err[200];
	const char *key = "", *text = "";
	memset(&o->cmd, 0, sizeof(o->cmd));
	if (!strcmp(op, "config.restore")) {
		if (aproto_get_str(o->req, "text", CONS_CCD_BLOB_MAX, &text, err, sizeof(err))) {
			op_finish(o, aproto_err(ADMIN_E_INVALID, "%s", err));
			return;
		}
		unsigned bad = 0;
		if (ccd_text_parse(text, strlen(text), NULL, NULL, &bad)) {
			op_finish(
			    o, aproto_err(ADMIN_E_INVALID, "checkpoint line %u is invalid", bad));
			return;
		}
		o->cmd.type = CONS_CMD_CCD_RESTORE;
		o->cmd.u.blob.data = (const uint8_t *)text;
		o->cmd.u.blob.len = strlen(text);
		o->ccd_op = "restore";
		text = "";
	} else {
		const char *tname = !strcmp(op, "config.format") ? "format" : "row";
		if (aproto_get_str(o->req, "key", CCD_KEY_MAX - 1, &key, err, sizeof(err)) ||
		    aproto_get_str(o->req, tname, CCD_ROW_MAX - 1, &text, err, sizeof(err))) {
			op_finish(o, aproto_err(ADMIN_E_INVALID, "%s", err));
			return;
		}
		if (!ccd_key_valid(key)) {
			op_finish(o, aproto_err(ADMIN_E_INVALID, "bad key '%s'", key));
			return;
		}
		char fmt[CCD_ROW_MAX];
		if (!strcmp(op, "config.format")) {
			if (ccd_format_check(text) < 0) {
				op_finish(o, aproto_err(ADMIN_E_INVALID,
							"bad format '%s' (columns of "
							"[A-Za-z0-9_.-] separated by ':')",
							text));
				return;
			}
			o->cmd.type = CONS_CMD_CCD_FORMAT;
			o->ccd_op = "format";
		} else if (cons_ccd_format(o->d->cons, key, fmt, sizeof(fmt))) {
			op_finish(o, aproto_err(ADMIN_E_NOTFOUND, "key '%s' has no format", key));
			return;
		} else if (ccd_row_check(text, ccd_format_check(fmt))) {
			op_finish(o, aproto_err(ADMIN_E_INVALID,
						"row '%s' does not match the format '%s' of %s",
						text, fmt, key));
			return;
		} else {
			o->cmd.type =
			    !strcmp(op, "config.add") ? CONS_CMD_CCD_ADD : CONS_CMD_CCD_REMOVE;
			o->ccd_op = !strcmp(op, "config.add") ? "add" : "remove";
		}
		snprintf(o->cmd.u.ccd.key, sizeof(o->cmd.u.ccd.key), "%s", key);
		snprintf(o->cmd.u.ccd.text, sizeof(o->cmd.u.ccd.text), "%s", text);
	}
	o->ccd_key = key;
	o->ccd_text = text;
	if (ccd_busy) {
		o->refs++; /* the queue's */
		if (ccd_q_tail)
			ccd_q_tail->qnext = o;
		else
			ccd_q_head = o;
		ccd_q_tail = o;
		return;
	}
	ccd_busy = true;
	sync_phase(o, "pre");
}

/* ---- Batches of CCD updates (while no node has sync commands) ----------- */

/* The sync phase of a batch on this node (the ADM's own, or a peer's
 * "syncb"). No sync commands here: nothing to run. Commands and "pre": run
 * nothing and say "serialize" (the ADM runs the updates one at a time, with
 * the serial freeze/unfreeze around each). Commands and "post"/"abort"
 * (installed since the batch's "pre"): each update's commands in order, as
 * the serial path would run them. */
typedef void (*syncb_fn)(void *data, int status, const char *msg, bool serialize);

struct syncb_job {
	struct sanfsd *d;
	char phase[8];
	json_t *items;
	size_t next;
	int status;
	char msg[300];
	syncb_fn cb;
	void *data;
};

static void syncb_next(struct syncb_job *j);

static void syncb_item_done(void *data, int status, const char *msg)
{
	struct syncb_job *j = data;
	if (status && !j->status) {
		j->status = status;
		snprintf(j->msg, sizeof(j->msg), "%s", msg);
	}
	syncb_next(j);
}

static void syncb_next(struct syncb_job *j)
{
	if (j->next >= json_array_size(j->items)) {
		j->cb(j->data, j->status, j->msg, false);
		json_decref(j->items);
		free(j);
		return;
	}
	json_t *it = json_array_get(j->items, j->next++);
	const char *op = json_string_value(json_object_get(it, "op"));
	const char *key = json_string_value(json_object_get(it, "key"));
	const char *text = json_string_value(json_object_get(it, "text"));
	if (sync_run(j->d->loop, j->d->state_dir, j->phase, op, key, text, j->d->sync_timeout_ms,
		     syncb_item_done, j))
		syncb_item_done(j, -EIO, "cannot start sync commands");
}

static void syncb_run(struct sanfsd *d, const char *phase, json_t *items, syncb_fn cb, void *data)
{
	if (sync_count(d->state_dir) == 0) {
		cb(data, 0, "", false);
		return;
	}
	if (!strcmp(phase, "pre")) {
		cb(data, 0, "", true);
		return;
	}
	struct syncb_job *j = calloc(1, sizeof(*j));
	if (!j) {
		cb(data, -ENOMEM, "out of memory", false);
		return;
	}
	j->d = d;
	snprintf(j->phase, sizeof(j->phase), "%s", phase);
	j->items = json_incref(items);
	j->cb = cb;
	j->data = data;
	syncb_next(j);
}

static void on_syncb_for_peer(void *data, int status, const char *msg, bool serialize)
{
	json_t *r = status ? aproto_err(ADMIN_E_SYNC, "%s", msg) : aproto_ok();
	json_object_set_new(r, "serialize", json_boolean(serialize));
	ctl_reply(data, r);
}

void ccd_on_syncb(struct sanfsd *d, struct ctl_in *in, json_t *msg)
{
	char err[200];
	const char *phase, *s;
	json_t *items = json_object_get(msg, "items"), *it;
	size_t i;
	bool ok = !aproto_get_str(msg, "phase", 8, &phase, err, sizeof(err)) &&
		  (!strcmp(phase, "pre") || !strcmp(phase, "post") || !strcmp(phase, "abort")) &&
		  json_is_array(items) && json_array_size(items) >= 1 &&
		  json_array_size(items) <= CONS_CCD_BATCH_MAX;
	json_array_foreach(ok ? items : NULL, i, it)
	{
		if (aproto_get_str(it, "op", 16, &s, err, sizeof(err)) ||
		    aproto_get_str(it, "key", CCD_KEY_MAX, &s, err, sizeof(err)) ||
		    aproto_get_str(it, "text", CCD_ROW_MAX, &s, err, sizeof(err)))
			ok = false;
	}
	if (!ok) {
		ctl_reply(in, aproto_err(ADMIN_E_INVALID, "bad sync batch request"));
		return;
	}
	syncb_run(d, phase, items, on_syncb_for_peer, in);
}

struct ccd_batch {
	struct sanfsd *d;
	struct op *ops[CONS_CCD_BATCH_MAX]; /* each with the queue's reference */
	unsigned n;
	json_t *items; /* [{"op","key","text"}] for the sync messages */
	const char *phase;
	int pending, status;
	bool serialize, timed_out, ended;
	char msg[300];
	uint64_t gen; /* CCD generation after the last update */
	uv_timer_t timer;
	int refs;
};

static void batch_unref(struct ccd_batch *b)
{
	if (--b->refs)
		return;
	for (unsigned i = 0; i < b->n; i++)
		op_unref(b->ops[i]);
	json_decref(b->items);
	free(b);
}

static void batch_timer_closed(uv_handle_t *h)
{
	batch_unref(h->data);
}

/* The batch is over (every op answered or queued again): the next update. */
static void batch_end(struct ccd_batch *b)
{
	if (b->ended)
		return;
	b->ended = true;
	uv_timer_stop(&b->timer);
	uv_close((uv_handle_t *)&b->timer, batch_timer_closed);
	ccd_release();
	batch_unref(b); /* the flow's reference */
}

static void batch_fail(struct ccd_batch *b, int e, const char *msg)
{
	for (unsigned i = 0; i < b->n; i++) {
		struct op *o = b->ops[i];
		op_finish(o, msg ? aproto_err(ADMIN_E_SYNC, "update not applied: %s", msg)
				 : op_errno_reply(o->name, e));
	}
	batch_end(b);
}

/* Put the ops back at the head of the queue, in order. */
static void batch_requeue(struct ccd_batch *b, bool alone)
{
	for (unsigned i = b->n; i-- > 0;) {
		struct op *o = b->ops[i];
		o->no_batch = alone;
		o->qnext = ccd_q_head;
		ccd_q_head = o;
		if (!ccd_q_tail)
			ccd_q_tail = o;
	}
	b->n = 0; /* the queue has their references now */
}

static void batch_propose(struct ccd_batch *b);

static void batch_phase_done(struct ccd_batch *b)
{
	if (!strcmp(b->phase, "pre")) {
		if (b->serialize) {
			/* Nothing ran anywhere: a node with commands refused, the
			 * others have none. */
			log_debug("ccd", "CCD batch of %u refused (sync commands): one at a time",
				  b->n);
			batch_requeue(b, true);
			batch_end(b);
		} else if (b->status) {
			batch_fail(b, 0, b->msg);
		} else {
			batch_propose(b);
		}
		return;
	}
	for (unsigned i = 0; i < b->n; i++) {
		json_t *r = aproto_ok();
		json_object_set_new(r, "generation",
				    json_integer((json_int_t)(b->gen - (b->n - 1 - i))));
		if (b->status)
			json_object_set_new(r, "warning", json_string(b->msg));
		op_finish(b->ops[i], r);
	}
	batch_end(b);
}

struct batch_peer {
	struct ccd_batch *b;
	uint64_t id;
};

static void batch_one_done(struct batch_peer *bp, int status, const char *msg, bool serialize)
{
	struct ccd_batch *b = bp->b;
	b->serialize |= serialize;
	if (status && !b->status) {
		b->status = status;
		snprintf(b->msg, sizeof(b->msg), "node %llu: %s", (unsigned long long)bp->id, msg);
	}
	free(bp);
	if (--b->pending == 0)
		batch_phase_done(b);
	batch_unref(b);
}

static void on_batch_local(void *data, int status, const char *msg, bool serialize)
{
	batch_one_done(data, status, msg, serialize);
}

static void on_batch_peer(void *data, int status, json_t *reply)
{
	const char *code = NULL;
	const char *e = peer_sync_error(status, reply, &code);
	bool ser = !status && json_is_true(json_object_get(reply, "serialize"));
	/* A sanfsd that does not know "syncb" (older) answers "invalid" and ran
	 * nothing: one at a time then, and no CCD_BATCH entry it could not
	 * decode is ever proposed while it is a live member. */
	if (e && code && !strcmp(code, ADMIN_E_INVALID)) {
		ser = true;
		e = NULL;
	}
	batch_one_done(data, e ? -EIO : 0, e ? e : "", ser);
}

static void batch_phase(struct ccd_batch *b, const char *phase)
{
	struct sanfsd *d = b->d;
	struct cons_member *m = NULL;
	size_t n = 0;
	uint64_t ids[MEMB_MAX_PEERS];
	unsigned k = 0;
	if (!cons_get_members(d->cons, &m, &n)) {
		for (size_t i = 0; i < n && k < MEMB_MAX_PEERS; i++)
			if (m[i].state == CONS_MEMBER_ACTIVE || m[i].id == d->conf.id)
				ids[k++] = m[i].id;
		free(m);
	}
	b->phase = phase;
	b->status = 0;
	b->pending = (int)k + 1;
	b->refs++; /* for the +1 */
	for (unsigned i = 0; i < k; i++) {
		struct batch_peer *bp = malloc(sizeof(*bp));
		if (!bp) {
			if (!b->status) {
				b->status = -ENOMEM;
				snprintf(b->msg, sizeof(b->msg), "out of memory");
			}
			b->pending--; /* cannot reach 0: the +1 is still held */
			continue;
		}
		b->refs++; /* batch_one_done drops it */
		*bp = (struct batch_peer){b, ids[i]};
		if (ids[i] == d->conf.id) {
			syncb_run(d, phase, b->items, on_batch_local, bp);
			continue;
		}
		json_t *msg =
		    json_pack("{s:s,s:s,s:O}", "t", "syncb", "phase", phase, "items", b->items);
		/* "post" may run every update's commands on a node that got some
		 * since "pre": one time-out each. */
		unsigned tmo = d->sync_timeout_ms * (strcmp(phase, "pre") ? b->n : 1) + 2000;
		int rc = peer_call(d, ids[i], msg, tmo, on_batch_peer, bp);
		if (rc)
			batch_one_done(bp, rc, "cannot run the sync commands there", false);
	}
	/* drop the +1 */
	if (--b->pending == 0)
		batch_phase_done(b);
	batch_unref(b);
}

static void on_batch_timeout(uv_timer_t *t)
{
	struct ccd_batch *b = t->data;
	/* The entry may still commit; its post phase will not run. */
	b->timed_out = true;
	for (unsigned i = 0; i < b->n; i++)
		op_finish(b->ops[i],
			  aproto_err(ADMIN_E_NOQUORUM,
				     "%s: not committed within %d ms (outcome unknown: the "
				     "administrator lost its majority?)",
				     b->ops[i]->name, COMMIT_TIMEOUT_MS));
	batch_end(b);
}

static void on_batch_committed(void *data, int status, int64_t result)
{
	struct ccd_batch *b = data;
	if (b->timed_out) {
		batch_unref(b);
		return;
	}
	uv_timer_stop(&b->timer);
	if (status) {
		batch_fail(b, status, NULL);
	} else if (result < 0) {
		/* Nothing applied: each update alone, for its own answer. */
		log_debug("ccd", "batch of %u refused (%s): running them one at a time", b->n,
			  strerror((int)-result));
		batch_requeue(b, true);
		batch_end(b);
	} else {
		b->gen = (uint64_t)result;
		batch_phase(b, "post");
	}
	batch_unref(b);
}

static void batch_propose(struct ccd_batch *b)
{
	struct cons_ccd_item *it = malloc(sizeof(*it) * b->n);
	struct cons_cmd cmd;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = it ? 0 : -ENOMEM;
	for (unsigned i = 0; !rc && i < b->n; i++) {
		it[i].type = b->ops[i]->cmd.type;
		memcpy(it[i].key, b->ops[i]->cmd.u.ccd.key, sizeof(it[i].key));
		memcpy(it[i].text, b->ops[i]->cmd.u.ccd.text, sizeof(it[i].text));
	}
	if (!rc)
		rc = cons_ccd_batch_encode(it, b->n, &buf, &len);
	log_debug("ccd", "CCD batch of %u updates", b->n);
	free(it);
	if (!rc) {
		memset(&cmd, 0, sizeof(cmd));
		cmd.type = CONS_CMD_CCD_BATCH;
		cmd.u.blob.data = buf;
		cmd.u.blob.len = len;
		b->refs++;
		rc = cons_propose(b->d->cons, &cmd, on_batch_committed, b);
		if (rc)
			b->refs--;
	}
	free(buf);
	if (rc) {
		batch_fail(b, rc, NULL);
		return;
	}
	uv_timer_start(&b->timer, on_batch_timeout, COMMIT_TIMEOUT_MS, 0);
}

static bool ccd_batchable(const struct op *o)
{
	return !o->no_batch &&
	       (o->cmd.type == CONS_CMD_CCD_FORMAT || o->cmd.type == CONS_CMD_CCD_ADD ||
		o->cmd.type == CONS_CMD_CCD_REMOVE);
}

/* Take the batchable updates at the head of the queue (at least two) as one
 * batch; ccd_busy is set. */
static void ccd_batch_try(struct sanfsd *d)
{
	struct ccd_batch *b = calloc(1, sizeof(*b));
	json_t *items = json_array();
	if (!b || !items) {
		free(b);
		json_decref(items);
		/* Serial instead. */
		struct op *o = ccd_q_head;
		ccd_q_head = o->qnext;
		if (!ccd_q_head)
			ccd_q_tail = NULL;
		sync_phase(o, "pre");
		op_unref(o);
		return;
	}
	b->d = d;
	b->items = items;
	b->refs = 2; /* the flow's and the timer's */
	uv_timer_init(d->loop, &b->timer);
	b->timer.data = b;
	while (ccd_q_head && ccd_batchable(ccd_q_head) && b->n < CONS_CCD_BATCH_MAX) {
		struct op *o = ccd_q_head;
		ccd_q_head = o->qnext;
		if (!ccd_q_head)
			ccd_q_tail = NULL;
		o->qnext = NULL;
		b->ops[b->n++] = o;
		json_array_append_new(items, json_pack("{s:s,s:s,s:s}", "op", o->ccd_op, "key",
						       o->ccd_key, "text", o->ccd_text));
	}
	batch_phase(b, "pre");
}

/* ---- config.verify: compare the consistency records of every member ----- */

struct verify {
	struct op *o;
	json_t *records;
	int pending;
	struct ccd_record mine;
};

static void verify_done(struct verify *v)
{
	if (--v->pending)
		return;
	bool consistent = true;
	size_t i;
	json_t *rec;
	json_array_foreach(v->records, i, rec)
	{
		json_t *r = json_object_get(rec, "record");
		if (!r || json_integer_value(json_object_get(r, "checksum")) != v->mine.checksum ||
		    json_integer_value(json_object_get(r, "length")) !=
			(json_int_t)v->mine.length ||
		    json_integer_value(json_object_get(r, "generation")) !=
			(json_int_t)v->mine.generation)
			consistent = false;
	}
	json_t *r = aproto_ok();
	json_object_set_new(r, "consistent", json_boolean(consistent));
	json_object_set_new(r, "records", v->records);
	op_finish(v->o, r);
	op_unref(v->o);
	free(v);
}

struct verify_peer {
	struct verify *v;
	uint64_t id;
};

static void on_verify_peer(void *data, int status, json_t *reply)
{
	struct verify_peer *vp = data;
	json_t *e = json_pack("{s:I}", "id", (json_int_t)vp->id);
	json_t *r = status ? NULL : json_object_get(reply, "record");
	if (r)
		json_object_set(e, "record", r);
	else
		json_object_set_new(e, "error",
				    json_string(status ? strerror(-status) : "no record"));
	json_array_append_new(vp->v->records, e);
	verify_done(vp->v);
	free(vp);
}

void op_config_verify(struct op *o)
{
	struct sanfsd *d = o->d;
	struct verify *v = calloc(1, sizeof(*v));
	struct cons_member *m;
	size_t n;
	if (!v || cons_ccd_record(d->cons, &v->mine) || cons_get_members(d->cons, &m, &n)) {
		free(v);
		op_finish(o, aproto_err(ADMIN_E_INTERNAL, "cannot read the CCD record"));
		return;
	}
	v->o = o;
	o->refs++;
	v->records = json_array();
	v->pending = 1;
	json_array_append_new(v->records, json_pack("{s:I,s:o}", "id", (json_int_t)d->conf.id,
						    "record", ccd_record_json(&v->mine)));
	for (size_t i = 0; i < n; i++) {
		char pctl[NCONF_ADDR_MAX];
		if (m[i].id == d->conf.id || sanfsd_ctl_addr_of(m[i].address, pctl, sizeof(pctl)))
			continue;
		struct verify_peer *vp = malloc(sizeof(*vp));
		if (!vp)
			continue;
		*vp = (struct verify_peer){v, m[i].id};
		json_t *msg = json_pack("{s:s}", "t", "ccdrec");
		v->pending++;
		if (ctl_request(d->ctl, pctl, msg, 3000, on_verify_peer, vp)) {
			v->pending--;
			free(vp);
		}
		json_decref(msg);
	}
	free(m);
	verify_done(v);
}

void ops_on_applied(struct sanfsd *d)
{
	/* Cache the "config quorum" setting: queries must stay cheap. */
	char **qr;
	size_t qn;
	if (!cons_ccd_query(d->cons, "sanfs_ccd", "quorum:on", &qr, &qn)) {
		ccd_quorum_on = qn > 0;
		ccd_rows_free(qr, qn);
	}
}
