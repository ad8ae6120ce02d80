/* node/ops: admin requests (node/admin_proto.h) on sanfsd.
 *
 * Reads are served from this node's copy of the replicated state (the seed's
 * CCD serves queries locally too; "status" says which node answered and
 * whether it has quorum). Changes run on the ADM: a follower forwards the
 * request over the control channel ({"t":"fwd"}) to the leader and relays
 * the reply. A node that cannot reach a majority answers "noquorum". Changes
 * that bump the SAN generation wait until every live member has applied it
 * (the acks ride on the heartbeats) or ACK_TIMEOUT_MS, and list the members
 * that did not ack. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "consensus/ccd.h"
#include "node/admin_proto.h"
#include "node/ops_int.h"
#include "node/sync.h"

void op_unref(struct op *o);

static void timer_closed(uv_handle_t *h)
{
	op_unref(h->data);
}

void op_unref(struct op *o)
{
	if (--o->refs)
		return;
	json_decref(o->req);
	free(o->blob);
	free(o);
}

void op_finish(struct op *o, json_t *reply)
{
	if (o->finished) {
		json_decref(reply);
		return;
	}
	o->finished = true;
	if (o->timer_on) {
		o->timer_on = false;
		uv_timer_stop(&o->timer);
		uv_close((uv_handle_t *)&o->timer, timer_closed);
	} else {
		o->refs--; /* the timer's reference */
	}
	o->done(o->data, reply);
	op_unref(o);
}

void op_timer_start(struct op *o, uv_timer_cb cb, uint64_t timeout, uint64_t repeat)
{
	if (!o->timer_on) {
		uv_timer_init(o->d->loop, &o->timer);
		o->timer.data = o;
		o->timer_on = true;
	}
	uv_timer_start(&o->timer, cb, timeout, repeat);
}

static json_t *member_json(struct sanfsd *d, const struct cons_member *m, uint64_t adm)
{
	static const char *names[] = {"joining", "active", "failed", "fenced"};
	struct memb_peer *p = memb_peer(d, m->id, false);
	uint64_t now = sanfsd_now_ms();
	json_int_t heard = -1;
	if (m->id == d->conf.id)
		heard = 0;
	else if (p && p->last_heard_ms && cons_leader(d->cons, NULL, 0) == d->conf.id)
		heard = (json_int_t)(now - p->last_heard_ms);
	return json_pack("{s:I,s:s,s:s,s:I,s:b,s:I}", "id", (json_int_t)m->id, "address",
			 m->address, "state", m->state < 4 ? names[m->state] : "unknown",
			 "incarnation", (json_int_t)m->incarnation, "adm", m->id == adm,
			 "last_heard_ms", heard);
}

static json_t *members_json(struct sanfsd *d, uint64_t adm)
{
	struct cons_member *m;
	size_t n;
	json_t *a = json_array();
	uint64_t voters[MEMB_MAX_PEERS];
	unsigned nv = cons_voters(d->cons, voters, MEMB_MAX_PEERS);
	if (cons_get_members(d->cons, &m, &n))
		return a;
	for (size_t i = 0; i < n; i++) {
		json_t *j = member_json(d, &m[i], adm);
		bool voter = false;
		for (unsigned k = 0; k < nv && k < MEMB_MAX_PEERS; k++)
			voter |= voters[k] == m[i].id;
		json_object_set_new(j, "voter", json_boolean(voter));
		json_array_append_new(a, j);
	}
	free(m);
	return a;
}

static void uuid_str(const uint8_t u[CONS_UUID_BYTES], char *out)
{
	nconf_hex_encode(u, CONS_UUID_BYTES, out);
}

static json_t *devices_json(struct sanfsd *d)
{
	struct cons_device *v;
	size_t n;
	json_t *a = json_array();
	if (cons_get_devices(d->cons, &v, &n))
		return a;
	for (size_t i = 0; i < n; i++) {
		char u[2 * CONS_UUID_BYTES + 1];
		uuid_str(v[i].uuid, u);
		json_array_append_new(a, json_pack("{s:s,s:s,s:I,s:s}", "uuid", u, "label",
						   v[i].label, "size", (json_int_t)v[i].size,
						   "state", v[i].state ? "error" : "ok"));
	}
	free(v);
	return a;
}

static json_t *fs_json(struct sanfsd *d)
{
	struct cons_fs *v;
	size_t n;
	json_t *a = json_array();
	if (cons_get_filesystems(d->cons, &v, &n))
		return a;
	for (size_t i = 0; i < n; i++) {
		char u[2 * CONS_UUID_BYTES + 1], du[2 * CONS_UUID_BYTES + 1];
		uuid_str(v[i].uuid, u);
		uuid_str(v[i].device_uuid, du);
		json_t *slots = json_array();
		for (uint32_t s = 0; s < v[i].nslots && s < CONS_MAX_SLOTS; s++)
			if (v[i].slot_owner[s])
				json_array_append_new(slots,
						      json_pack("{s:i,s:I}", "slot", (int)s, "node",
								(json_int_t)v[i].slot_owner[s]));
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:i,s:o}", "uuid", u, "label",
						   v[i].label, "device", du, "slots",
						   (int)v[i].nslots, "mounted", slots));
	}
	free(v);
	return a;
}

static json_t *fences_json(struct sanfsd *d)
{
	struct cons_fence *f;
	size_t n;
	json_t *a = json_array();
	if (cons_get_fences(d->cons, &f, &n))
		return a;
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
		    a, json_pack("{s:I,s:I,s:I,s:I,s:s}", "id", (json_int_t)f[i].node_id,
				 "incarnation", (json_int_t)f[i].incarnation, "generation",
				 (json_int_t)f[i].generation, "date_ms", (json_int_t)f[i].date_ms,
				 "reason", f[i].reason));
	free(f);
	return a;
}

static json_t *op_status(struct sanfsd *d)
{
	struct cons_cluster cl = {0};
	cons_get_cluster(d->cons, &cl);
	uint64_t leader = cons_leader(d->cons, NULL, 0);
	json_t *r = aproto_ok();
	json_object_set_new(r, "id", json_integer(d->conf.id));
	json_object_set_new(r, "name", json_string(d->conf.name));
	json_object_set_new(r, "cluster", json_string(d->conf.cluster));
	json_object_set_new(r, "incarnation", json_integer((json_int_t)d->incarnation));
	json_object_set_new(r, "leader", json_integer((json_int_t)leader));
	json_object_set_new(r, "adm", json_integer((json_int_t)cl.adm_id));
	json_object_set_new(r, "term", json_integer((json_int_t)cons_term(d->cons)));
	json_object_set_new(r, "generation", json_integer((json_int_t)cl.generation));
	json_object_set_new(r, "applied", json_integer((json_int_t)cl.applied));
	json_object_set_new(r, "quorum", json_boolean(memb_have_quorum(d)));
	json_object_set_new(r, "joined", json_boolean(d->joined));
	json_object_set_new(r, "members", members_json(d, cl.adm_id));
	json_object_set_new(r, "devices", devices_json(d));
	json_object_set_new(r, "filesystems", fs_json(d));
	json_object_set_new(r, "fence", fences_json(d));
	return r;
}

/* ---- Forwarding to the leader -------------------------------------------- */

static void forward(struct op *o);

static void on_forward_retry(uv_timer_t *t)
{
	forward(t->data);
}

/* o->deadline set: forwarding after the ADM handed its role over, which
 * is tried again until then. */
static bool forward_again(struct op *o)
{
	if (!o->deadline || o->finished || sanfsd_now_ms() >= o->deadline)
		return false;
	op_timer_start(o, on_forward_retry, 100, 0);
	return true;
}

static void on_forwarded(void *data, int status, json_t *reply)
{
	struct op *o = data;
	/* The request of an ADM that just handed its role over (node remove
	 * or fence of itself) may reach the new ADM before its election
	 * barrier: try again until o->deadline. */
	json_t *r = status ? NULL : json_object_get(reply, "reply");
	const char *code = r ? json_string_value(json_object_get(r, "code")) : NULL;
	if ((status == -ECONNREFUSED || (code && !strcmp(code, ADMIN_E_NOQUORUM))) &&
	    forward_again(o)) {
		op_unref(o);
		return;
	}
	if (status) {
		op_finish(o, aproto_err(ADMIN_E_NOQUORUM, "cannot reach the administrator: %s",
					status == -ETIMEDOUT ? "timed out" : strerror(-status)));
	} else {
		json_t *r = json_object_get(reply, "reply");
		op_finish(o, json_is_object(r) ? json_deep_copy(r)
					       : aproto_err(ADMIN_E_INTERNAL, "bad forward reply"));
	}
	op_unref(o);
}

static void forward(struct op *o)
{
	char laddr[NCONF_ADDR_MAX], lctl[NCONF_ADDR_MAX];
	uint64_t leader = cons_leader(o->d->cons, laddr, sizeof(laddr));
	if ((!leader || leader == o->d->conf.id) && forward_again(o))
		return;
	if (leader == o->d->conf.id) {
		op_finish(o, aproto_err(ADMIN_E_NOQUORUM,
					"node %llu is still the administrator: no other node took "
					"over, nothing changed",
					(unsigned long long)leader));
		return;
	}
	if (!leader || sanfsd_ctl_addr_of(laddr, lctl, sizeof(lctl))) {
		op_finish(o, aproto_err(ADMIN_E_NOQUORUM,
					"this node knows no administrator (in a minority or "
					"electing)"));
		return;
	}
	json_t *m = json_pack("{s:s,s:O}", "t", "fwd", "req", o->req);
	o->refs++;
	if (!m || ctl_request(o->d->ctl, lctl, m, FWD_TIMEOUT_MS, on_forwarded, o)) {
		o->refs--;
		op_finish(o, aproto_err(ADMIN_E_NOQUORUM, "cannot reach the administrator"));
	}
	json_decref(m);
}

/* ---- Changes on the ADM ------------------------------------------------- */

static json_t *unacked_reply(struct op *o)
{
	uint64_t ids[MEMB_MAX_PEERS];
	unsigned n = memb_unacked(o->d, o->gen, ids, MEMB_MAX_PEERS);
	json_t *r = aproto_ok(), *a = json_array();
	for (unsigned i = 0; i < n; i++)
		json_array_append_new(a, json_integer((json_int_t)ids[i]));
	json_object_set_new(r, "generation", json_integer((json_int_t)o->gen));
	json_object_set_new(r, "unacked", a);
	return r;
}

static void on_ack_poll(uv_timer_t *t)
{
	struct op *o = t->data;
	uint64_t ids[1];
	if (memb_unacked(o->d, o->gen, ids, 1) == 0 || sanfsd_now_ms() >= o->deadline)
		op_finish(o, unacked_reply(o));
}

static void on_commit_timeout(uv_timer_t *t)
{
	struct op *o = t->data;
	if (o->ccd_op && !o->finished) {
		/* The entry may still commit; its post phase will not run. */
		op_finish(o, aproto_err(ADMIN_E_NOQUORUM,
					"%s: not committed within %d ms (outcome unknown: the "
					"administrator lost its majority?)",
					o->name, COMMIT_TIMEOUT_MS));
		ccd_release();
		return;
	}
	op_finish(o, aproto_err(ADMIN_E_NOQUORUM,
				"%s: not committed within %d ms (the administrator lost its "
				"majority?)",
				o->name, COMMIT_TIMEOUT_MS));
}

json_t *op_errno_reply(const char *what, int e)
{
	const char *code = e == -ENOENT	  ? ADMIN_E_NOTFOUND
			   : e == -EEXIST ? ADMIN_E_EXISTS
			   : e == -EBUSY  ? ADMIN_E_BUSY
			   : e == -EINVAL ? ADMIN_E_INVALID
			   : (e == -EREMOTE || e == -ENOTCONN || e == -ECANCELED)
			       ? ADMIN_E_NOQUORUM
			       : ADMIN_E_INTERNAL;
	return aproto_err(code, "%s: %s", what,
			  e == -EREMOTE || e == -ENOTCONN ? "leadership lost" : strerror(-e));
}

static void on_committed(void *data, int status, int64_t result)
{
	struct op *o = data;
	if (o->ccd_op) {
		ccd_after_commit(o, status, result);
		op_unref(o);
		return;
	}
	if (status || result < 0) {
		op_finish(o, op_errno_reply(o->name, status ? status : (int)result));
	} else if (!o->finished) {
		/* DESIGN §4 / Fig. 12 steps 1604-1610: tell the requester only when
		 * every live node has applied the new generation. */
		struct cons_cluster cl;
		o->gen = cons_get_cluster(o->d->cons, &cl) ? (uint64_t)result : cl.generation;
		o->deadline = sanfsd_now_ms() + ACK_TIMEOUT_MS;
		op_timer_start(o, on_ack_poll, 0, 50);
	}
	op_unref(o);
}

static void on_changed(void *data, int status)
{
	on_committed(data, status, status ? 0 : 1);
}

void op_propose(struct op *o)
{
	o->refs++;
	int rc = cons_propose(o->d->cons, &o->cmd, on_committed, o);
	if (rc) {
		o->refs--;
		if (o->ccd_op)
			ccd_after_commit(o, rc, 0);
		else
			op_finish(o, op_errno_reply(o->name, rc));
		return;
	}
	op_timer_start(o, on_commit_timeout, COMMIT_TIMEOUT_MS, 0);
}

static int get_id(struct op *o, uint64_t *id, struct cons_member *m)
{
	char err[200];
	if (aproto_get_uint(o->req, "id", NCONF_ID_MIN, NCONF_ID_MAX, id, err, sizeof(err))) {
		op_finish(o, aproto_err(ADMIN_E_INVALID, "%s", err));
		return -EINVAL;
	}
	if (cons_get_member(o->d->cons, *id, m)) {
		op_finish(o, aproto_err(ADMIN_E_NOTFOUND, "node %llu is not a member",
					(unsigned long long)*id));
		return -ENOENT;
	}
	return 0;
}

/* Removing or fencing the ADM itself: it hands the role over to the most
 * up-to-date voter (no election time-out to wait for), then forwards the
 * request to the new ADM like any node that is not the ADM. */
static void on_self_handover(void *data, int status)
{
	struct op *o = data;
	/* -ETIMEDOUT: the transfer's election had not ended when libraft gave
	 * up waiting; it may still end with another ADM, which forward()
	 * waits for until the deadline. */
	if (status && status != -ETIMEDOUT) {
		op_finish(o, op_errno_reply(o->name, status));
		op_unref(o);
		return;
	}
	log_info("node", "%s of this node: handing the administrator role over", o->name);
	o->deadline = sanfsd_now_ms() + COMMIT_TIMEOUT_MS;
	forward(o);
	op_unref(o);
}

static void self_change(struct op *o)
{
	o->refs++;
	int rc = cons_handover(o->d->cons, on_self_handover, o);
	if (rc) {
		o->refs--;
		op_finish(o, rc == -ENOENT ? aproto_err(ADMIN_E_INVALID,
							"node %llu is the only voter: it cannot be "
							"removed or fenced",
							(unsigned long long)o->d->conf.id)
					   : op_errno_reply(o->name, rc));
	}
}

static void op_node_change(struct op *o, const char *op)
{
	struct sanfsd *d = o->d;
	uint64_t id;
	struct cons_member m;
	if (get_id(o, &id, &m))
		return;
	if (id == d->conf.id && strcmp(op, "node.unfence")) {
		self_change(o);
		return;
	}
	if (!strcmp(op, "node.remove")) {
		o->refs++;
		int rc = cons_member_remove(d->cons, id, on_changed, o);
		if (rc) {
			o->refs--;
			op_finish(o, op_errno_reply(o->name, rc));
			return;
		}
		op_timer_start(o, on_commit_timeout, COMMIT_TIMEOUT_MS, 0);
		return;
	}
	memset(&o->cmd, 0, sizeof(o->cmd));
	if (!strcmp(op, "node.fence")) {
		if (m.state == CONS_MEMBER_FENCED) {
			op_finish(o, aproto_err(ADMIN_E_EXISTS, "node %llu is already fenced",
						(unsigned long long)id));
			return;
		}
		o->cmd.type = CONS_CMD_FENCE;
		o->cmd.u.fence.node_id = id;
		o->cmd.u.fence.incarnation = m.incarnation;
		snprintf(o->cmd.u.fence.reason, sizeof(o->cmd.u.fence.reason),
			 "fenced by the operator");
	} else {
		o->cmd.type = CONS_CMD_UNFENCE;
		o->cmd.u.id = id;
	}
	op_propose(o);
}

static void op_device_change(struct op *o, const char *op)
{
	char err[200];
	struct sanfsd *d = o->d;
	memset(&o->cmd, 0, sizeof(o->cmd));
	if (!strcmp(op, "device.add")) {
		const char *uuid, *label;
		uint64_t size;
		if (aproto_get_str(o->req, "uuid", 2 * CONS_UUID_BYTES, &uuid, err, sizeof(err)) ||
		    aproto_get_str(o->req, "label", CONS_LABEL_MAX - 1, &label, err, sizeof(err)) ||
		    aproto_get_uint(o->req, "size", 1, UINT64_MAX >> 1, &size, err, sizeof(err))) {
			op_finish(o, aproto_err(ADMIN_E_INVALID, "%s", err));
			return;
		}
		if (nconf_hex_decode(uuid, o->cmd.u.device.uuid, CONS_UUID_BYTES) || !label[0]) {
			op_finish(o, aproto_err(ADMIN_E_INVALID, "bad device uuid or label"));
			return;
		}
		o->cmd.type = CONS_CMD_DEVICE_PUT;
		snprintf(o->cmd.u.device.label, sizeof(o->cmd.u.device.label), "%s", label);
		o->cmd.u.device.size = size;
	} else {
		const char *label;
		struct cons_device *v;
		size_t n;
		bool found = false;
		if (aproto_get_str(o->req, "label", CONS_LABEL_MAX - 1, &label, err, sizeof(err))) {
			op_finish(o, aproto_err(ADMIN_E_INVALID, "%s", err));
			return;
		}
		if (!cons_get_devices(d->cons, &v, &n)) {
			for (size_t i = 0; i < n; i++)
				if (!strcmp(v[i].label, label)) {
					memcpy(o->cmd.u.uuid, v[i].uuid, CONS_UUID_BYTES);
					found = true;
				}
			free(v);
		}
		if (!found) {
			op_finish(o,
				  aproto_err(ADMIN_E_NOTFOUND, "no device labelled '%s'", label));
			return;
		}
		o->cmd.type = CONS_CMD_DEVICE_DEL;
	}
	op_propose(o);
}

/* ---- Dispatch ------------------------------------------------------------ */

static bool is_change(const char *op)
{
	static const char *const changes[] = {
	    "node.remove",   "node.fence", "node.unfence",  "device.add",     "device.remove",
	    "config.format", "config.add", "config.remove", "config.restore", NULL};
	for (int i = 0; changes[i]; i++)
		if (!strcmp(op, changes[i]))
			return true;
	return false;
}

void ops_handle(struct sanfsd *d, json_t *req, bool forwarded, ops_done_fn done, void *data)
{
	const char *op = json_string_value(json_object_get(req, "op"));
	json_t *r = NULL;
	if (!op) {
		done(data, aproto_err(ADMIN_E_INVALID, "request has no op"));
		return;
	}
	if (!strcmp(op, "ping"))
		r = json_pack("{s:b,s:i,s:s}", "ok", 1, "id", (int)d->conf.id, "name",
			      d->conf.name);
	else if (!strcmp(op, "status"))
		r = op_status(d);
	else if (!strcmp(op, "node.list")) {
		struct cons_cluster cl = {0};
		cons_get_cluster(d->cons, &cl);
		r = aproto_ok();
		json_object_set_new(r, "members", members_json(d, cl.adm_id));
	} else if (!strcmp(op, "device.list")) {
		r = aproto_ok();
		json_object_set_new(r, "devices", devices_json(d));
	} else if (!strcmp(op, "config.query"))
		r = op_config_query(d, req);
	else if (!strcmp(op, "config.checkpoint"))
		r = op_config_checkpoint(d, req);
	else if (strcmp(op, "config.verify") && !is_change(op))
		r = aproto_err(ADMIN_E_INVALID, "unknown op '%.64s'", op);
	if (r) {
		done(data, r);
		return;
	}
	struct op *o = calloc(1, sizeof(*o));
	if (!o) {
		done(data, NULL);
		return;
	}
	o->d = d;
	o->done = done;
	o->data = data;
	o->req = json_incref(req);
	o->name = op;
	o->refs = 2; /* the caller's until op_finish, and the timer's */
	uint64_t leader = cons_leader(d->cons, NULL, 0);
	if (leader != d->conf.id) {
		/* A node that has not heard the ADM within the failure time-out
		 * is in a minority (or an election): say so at once rather than
		 * after a forward time-out. */
		if (!forwarded && !memb_have_quorum(d)) {
			op_finish(o, aproto_err(ADMIN_E_NOQUORUM,
						"this node has not heard the administrator for "
						"%u ms (in a minority or electing)",
						d->conf.hb_timeout_ms));
			return;
		}
		if (forwarded)
			op_finish(o,
				  aproto_err(ADMIN_E_NOQUORUM, "not the administrator any more"));
		else
			forward(o);
		return;
	}
	if (!cons_is_authoritative(d->cons) || !memb_have_quorum(d)) {
		op_finish(o, aproto_err(ADMIN_E_NOQUORUM,
					"the administrator does not hear a majority of the nodes"));
		return;
	}
	if (!strcmp(op, "config.verify"))
		op_config_verify(o);
	else if (!strncmp(op, "node.", 5))
		op_node_change(o, op);
	else if (!strncmp(op, "device.", 7))
		op_device_change(o, op);
	else
		op_ccd_change(o, op);
}

/* ---- Control requests -------------------------------------------------- */

static void fwd_done(void *data, json_t *reply)
{
	struct ctl_in *in = data;
	json_t *r = aproto_ok();
	json_object_set_new(r, "reply", reply ? reply : aproto_err(ADMIN_E_INTERNAL, "no reply"));
	ctl_reply(in, r);
}

static void on_sync_for_peer(void *data, int status, const char *msg)
{
	ctl_reply(data, status ? aproto_err(ADMIN_E_SYNC, "%s", msg) : aproto_ok());
}

void ops_on_ctl(struct sanfsd *d, struct ctl_in *in, uint64_t peer, json_t *msg)
{
	const char *t = json_string_value(json_object_get(msg, "t"));
	char err[200];
	(void)peer;
	if (!strcmp(t, "fwd")) {
		json_t *req = json_object_get(msg, "req");
		if (!json_is_object(req) || !json_is_string(json_object_get(req, "op"))) {
			ctl_reply(in, aproto_err(ADMIN_E_INVALID, "bad forwarded request"));
			return;
		}
		ops_handle(d, req, true, fwd_done, in);
	} else if (!strcmp(t, "ccdrec")) {
		struct ccd_record rec;
		json_t *r = aproto_ok();
		if (!cons_ccd_record(d->cons, &rec))
			json_object_set_new(r, "record", ccd_record_json(&rec));
		ctl_reply(in, r);
	} else if (!strcmp(t, "syncb")) {
		ccd_on_syncb(d, in, msg);
	} else if (!strcmp(t, "sync")) {
		const char *phase, *op, *key, *text;
		if (aproto_get_str(msg, "phase", 8, &phase, err, sizeof(err)) ||
		    aproto_get_str(msg, "op", 16, &op, err, sizeof(err)) ||
		    aproto_get_str(msg, "key", CCD_KEY_MAX, &key, err, sizeof(err)) ||
		    aproto_get_str(msg, "text", CCD_ROW_MAX, &text, err, sizeof(err)) ||
		    (strcmp(phase, "pre") && strcmp(phase, "post") && strcmp(phase, "abort"))) {
			ctl_reply(in, aproto_err(ADMIN_E_INVALID, "bad sync request"));
			return;
		}
		if (sync_run(d->loop, d->state_dir, phase, op, key, text, d->sync_timeout_ms,
			     on_sync_for_peer, in))
			ctl_reply(in, aproto_err(ADMIN_E_SYNC, "cannot start sync commands"));
	} else {
		ctl_reply(in, aproto_err(ADMIN_E_INVALID, "unknown request type '%.32s'", t));
	}
}
