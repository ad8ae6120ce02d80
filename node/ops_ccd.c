/* node/ops_ccd: the cluster configuration database's admin operations
 * (DESIGN §4, SEEDS Sun CCD): local queries, checkpoint, verify across the
 * members, and updates wrapped in the user sync commands of every node, one
 * at a time in FIFO order on the ADM. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "consensus/ccd.h"
#include "node/admin_proto.h"
#include "node/ops_int.h"
#include "node/sync.h"

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

static void on_local_sync(void *data, int status, const char *msg)
{
	struct sync_peer_ctx *sp = data;
	sync_one_done(sp->o, sp->id, status, msg);
	op_unref(sp->o);
	free(sp);
}

static void on_peer_sync(void *data, int status, json_t *reply)
{
	struct sync_peer_ctx *sp = data;
	const char *e = status ? (status == -ETIMEDOUT ? "timed out" : strerror(-status))
			       : aproto_reply_error(reply, NULL);
	sync_one_done(sp->o, sp->id, (status || e) ? -EIO : 0, e ? e : "");
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
			struct cons_member pm;
			char pctl[NCONF_ADDR_MAX];
			rc = cons_get_member(d->cons, ids[i], &pm);
			if (!rc)
				rc = sanfsd_ctl_addr_of(pm.address, pctl, sizeof(pctl));
			json_t *msg =
			    json_pack("{s:s,s:s,s:s,s:s,s:s}", "t", "sync", "phase", phase, "op",
				      o->ccd_op, "key", o->ccd_key, "text", o->ccd_text);
			if (!rc)
				rc = ctl_request(d->ctl, pctl, msg, d->sync_timeout_ms + 2000,
						 on_peer_sync, sp);
			json_decref(msg);
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
