/* node/memb: membership and failure detection (DESIGN §6, issue 3 point 2).
 *
 * Every member sends a heartbeat {"t":"hb", id, inc, seq, gen} to the ADM's
 * control port every heartbeat_ms (100 ms by default); the ADM (Raft leader
 * whose election barrier committed) answers and records when it last heard
 * each member. A member silent past timeout_ms (1 s) is fenced with one
 * committed FENCE entry (SAN generation +1, fence table entry); see the state
 * table in sanfsd.h. Duplicates are told apart by (incarnation, sequence).
 * A new ADM gives every member a full timeout of grace from its election
 * before declaring it silent: the heartbeats went to the old ADM until then.
 * Disk heartbeats come with the multi-node filesystem. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "node/admin_proto.h"
#include "node/sanfsd.h"

struct memb_peer *memb_peer(struct sanfsd *d, uint64_t id, bool create)
{
	for (unsigned i = 0; i < d->npeers; i++)
		if (d->peers[i].id == id)
			return &d->peers[i];
	if (!create || d->npeers == MEMB_MAX_PEERS)
		return NULL;
	struct memb_peer *p = &d->peers[d->npeers++];
	memset(p, 0, sizeof(*p));
	p->id = id;
	return p;
}

static uint64_t cur_generation(struct sanfsd *d)
{
	struct cons_cluster cl;
	return cons_get_cluster(d->cons, &cl) ? 0 : cl.generation;
}

bool memb_have_quorum(struct sanfsd *d)
{
	uint64_t now = sanfsd_now_ms();
	if (!d->cons || d->stopping)
		return false;
	if (cons_leader(d->cons, NULL, 0) == d->conf.id) {
		if (!cons_is_authoritative(d->cons))
			return false;
		uint64_t ids[MEMB_MAX_PEERS];
		unsigned n = cons_voters(d->cons, ids, MEMB_MAX_PEERS), heard = 0;
		if (n > MEMB_MAX_PEERS)
			n = MEMB_MAX_PEERS;
		for (unsigned i = 0; i < n; i++) {
			struct memb_peer *p = memb_peer(d, ids[i], false);
			if (ids[i] == d->conf.id ||
			    (p && p->last_heard_ms &&
			     now - p->last_heard_ms < d->conf.hb_timeout_ms))
				heard++;
		}
		return heard > n / 2;
	}
	return d->leader_ack_ms && now - d->leader_ack_ms < d->conf.hb_timeout_ms;
}

unsigned memb_unacked(struct sanfsd *d, uint64_t gen, uint64_t *ids, unsigned max)
{
	struct cons_member *m;
	size_t n;
	unsigned k = 0;
	if (cons_get_members(d->cons, &m, &n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (m[i].state != CONS_MEMBER_ACTIVE)
			continue;
		if (m[i].id == d->conf.id) {
			if (cur_generation(d) >= gen)
				continue;
		} else {
			struct memb_peer *p = memb_peer(d, m[i].id, false);
			if (p && p->gen_applied >= gen)
				continue;
		}
		if (k < max)
			ids[k] = m[i].id;
		k++;
	}
	free(m);
	return k < max ? k : max;
}

/* ---- ADM side ---------------------------------------------------------- */

struct put_ctx {
	struct sanfsd *d;
	uint64_t id;
	int kind; /* 0 put, 1 fence */
};

static void on_put_done(void *data, int status, int64_t result)
{
	struct put_ctx *pc = data;
	struct memb_peer *p = memb_peer(pc->d, pc->id, false);
	if (p) {
		if (pc->kind)
			p->fence_pending = false;
		else
			p->put_pending = false;
	}
	if (status || result < 0)
		log_warn("memb", "%s of node %llu failed: %s", pc->kind ? "fence" : "member update",
			 (unsigned long long)pc->id, strerror(status ? -status : (int)-result));
	else
		log_info("memb", "%s node %llu: generation %lld", pc->kind ? "fenced" : "activated",
			 (unsigned long long)pc->id, (long long)result);
	free(pc);
}

static void propose_active(struct sanfsd *d, const struct cons_member *m, uint64_t inc)
{
	struct memb_peer *p = memb_peer(d, m->id, true);
	if (!p || p->put_pending)
		return;
	struct put_ctx *pc = malloc(sizeof(*pc));
	if (!pc)
		return;
	*pc = (struct put_ctx){d, m->id, 0};
	struct cons_cmd cmd = {.type = CONS_CMD_MEMBER_PUT};
	cmd.u.member = *m;
	cmd.u.member.state = CONS_MEMBER_ACTIVE;
	cmd.u.member.incarnation = inc;
	if (cons_propose(d->cons, &cmd, on_put_done, pc) == 0)
		p->put_pending = true;
	else
		free(pc);
}

static void propose_fence(struct sanfsd *d, const struct cons_member *m, const char *reason)
{
	struct memb_peer *p = memb_peer(d, m->id, true);
	if (!p || p->fence_pending)
		return;
	struct put_ctx *pc = malloc(sizeof(*pc));
	if (!pc)
		return;
	*pc = (struct put_ctx){d, m->id, 1};
	struct cons_cmd cmd = {.type = CONS_CMD_FENCE};
	cmd.u.fence.node_id = m->id;
	cmd.u.fence.incarnation = m->incarnation;
	snprintf(cmd.u.fence.reason, sizeof(cmd.u.fence.reason), "%s", reason);
	log_warn("memb", "fencing node %llu (incarnation %llu): %s", (unsigned long long)m->id,
		 (unsigned long long)m->incarnation, reason);
	if (cons_propose(d->cons, &cmd, on_put_done, pc) == 0)
		p->fence_pending = true;
	else
		free(pc);
}

static bool fence_entry_exists(struct sanfsd *d, uint64_t id)
{
	struct cons_fence *f;
	size_t n;
	bool found = false;
	if (cons_get_fences(d->cons, &f, &n))
		return true; /* cannot tell: stay fenced */
	for (size_t i = 0; i < n; i++)
		if (f[i].node_id == id)
			found = true;
	free(f);
	return found;
}

static void adm_tick(struct sanfsd *d, uint64_t now)
{
	struct cons_member *m;
	size_t n;
	if (!cons_is_authoritative(d->cons) || cons_get_members(d->cons, &m, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		if (m[i].id == d->conf.id) {
			if (m[i].state != CONS_MEMBER_FENCED &&
			    (m[i].state != CONS_MEMBER_ACTIVE ||
			     m[i].incarnation != d->incarnation))
				propose_active(d, &m[i], d->incarnation);
			continue;
		}
		struct memb_peer *p = memb_peer(d, m[i].id, true);
		if (!p)
			continue;
		if (!p->last_heard_ms)
			p->last_heard_ms = now; /* grace from the election */
		if (m[i].state == CONS_MEMBER_ACTIVE &&
		    now - p->last_heard_ms > d->conf.hb_timeout_ms) {
			char reason[96];
			snprintf(reason, sizeof(reason), "no heartbeat for %llu ms",
				 (unsigned long long)(now - p->last_heard_ms));
			propose_fence(d, &m[i], reason);
		}
	}
	free(m);
}

void memb_on_hb(struct sanfsd *d, struct ctl_in *in, uint64_t peer, json_t *msg)
{
	json_int_t id = json_integer_value(json_object_get(msg, "id"));
	json_int_t inc = json_integer_value(json_object_get(msg, "inc"));
	json_int_t seq = json_integer_value(json_object_get(msg, "seq"));
	json_int_t gen = json_integer_value(json_object_get(msg, "gen"));
	if (id <= 0 || (uint64_t)id != peer || inc <= 0 || seq < 0 || gen < 0) {
		ctl_reply(in, aproto_err(ADMIN_E_INVALID, "bad heartbeat"));
		return;
	}
	if (!cons_is_authoritative(d->cons)) {
		json_t *r = aproto_err("notleader", "not the administrator");
		json_object_set_new(r, "leader",
				    json_integer((json_int_t)cons_leader(d->cons, NULL, 0)));
		ctl_reply(in, r);
		return;
	}
	struct memb_peer *p = memb_peer(d, (uint64_t)id, true);
	if (p && ((uint64_t)inc > p->incarnation ||
		  ((uint64_t)inc == p->incarnation && (uint64_t)seq > p->seq))) {
		p->incarnation = (uint64_t)inc;
		p->seq = (uint64_t)seq;
		p->last_heard_ms = sanfsd_now_ms();
		p->gen_applied = (uint64_t)gen;
	}
	struct cons_member m;
	json_t *r = aproto_ok();
	if (cons_get_member(d->cons, (uint64_t)id, &m)) {
		json_object_set_new(r, "member", json_false());
	} else if (m.state == CONS_MEMBER_FENCED) {
		if (fence_entry_exists(d, m.id))
			json_object_set_new(r, "fenced", json_true());
		else if ((uint64_t)inc > m.incarnation)
			propose_active(d, &m, (uint64_t)inc);
	} else if (m.state != CONS_MEMBER_ACTIVE || m.incarnation != (uint64_t)inc) {
		propose_active(d, &m, (uint64_t)inc);
	}
	json_object_set_new(r, "gen", json_integer((json_int_t)cur_generation(d)));
	ctl_reply(in, r);
}

/* ---- Admission ---------------------------------------------------------- */

struct join_ctx {
	struct sanfsd *d;
	struct ctl_in *in;
	uint64_t id;
};

static void on_join_added(void *data, int status)
{
	struct join_ctx *jc = data;
	if (status) {
		log_warn("memb", "admitting node %llu failed: %s", (unsigned long long)jc->id,
			 strerror(-status));
		ctl_reply(jc->in, aproto_err(status == -EEXIST ? ADMIN_E_EXISTS : ADMIN_E_NOQUORUM,
					     "cannot add node %llu: %s", (unsigned long long)jc->id,
					     strerror(-status)));
	} else {
		log_info("memb", "node %llu admitted as a voter", (unsigned long long)jc->id);
		ctl_reply(jc->in, aproto_ok());
	}
	free(jc);
}

static void on_join_forwarded(void *data, int status, json_t *reply)
{
	struct ctl_in *in = data;
	if (status)
		ctl_reply(in, aproto_err(ADMIN_E_NOQUORUM, "cannot reach the administrator: %s",
					 strerror(-status)));
	else
		ctl_reply(in, json_deep_copy(reply));
}

void memb_on_join(struct sanfsd *d, struct ctl_in *in, uint64_t peer, json_t *msg)
{
	char err[200], laddr[NCONF_ADDR_MAX], lctl[NCONF_ADDR_MAX];
	uint64_t id;
	const char *addr;
	if (aproto_get_uint(msg, "id", NCONF_ID_MIN, NCONF_ID_MAX, &id, err, sizeof(err)) ||
	    aproto_get_str(msg, "address", NCONF_ADDR_MAX - 1, &addr, err, sizeof(err)) ||
	    nconf_parse_address(addr, NULL, 0, NULL, err, sizeof(err))) {
		ctl_reply(in, aproto_err(ADMIN_E_INVALID, "%s", err));
		return;
	}
	bool fwd = json_is_true(json_object_get(msg, "fwd"));
	if (!fwd && peer != id) {
		ctl_reply(in, aproto_err(ADMIN_E_INVALID, "node %llu may only ask to add itself",
					 (unsigned long long)peer));
		return;
	}
	uint64_t leader = cons_leader(d->cons, laddr, sizeof(laddr));
	if (leader != d->conf.id) {
		if (fwd || !leader || sanfsd_ctl_addr_of(laddr, lctl, sizeof(lctl))) {
			ctl_reply(in, aproto_err(ADMIN_E_NOQUORUM, "no administrator known here"));
			return;
		}
		json_t *f = json_pack("{s:s,s:I,s:s,s:b}", "t", "join", "id", (json_int_t)id,
				      "address", addr, "fwd", 1);
		if (ctl_request(d->ctl, lctl, f, 15000, on_join_forwarded, in))
			ctl_reply(in,
				  aproto_err(ADMIN_E_NOQUORUM, "cannot reach the administrator"));
		json_decref(f);
		return;
	}
	if (!cons_is_authoritative(d->cons)) {
		ctl_reply(in, aproto_err(ADMIN_E_NOQUORUM, "administrator not ready yet"));
		return;
	}
	struct cons_member m;
	if (!cons_get_member(d->cons, id, &m)) {
		if (!strcmp(m.address, addr))
			ctl_reply(in, aproto_ok());
		else
			ctl_reply(in,
				  aproto_err(ADMIN_E_EXISTS, "node %llu is already a member at %s",
					     (unsigned long long)id, m.address));
		return;
	}
	struct join_ctx *jc = malloc(sizeof(*jc));
	if (!jc) {
		ctl_reply(in, NULL);
		return;
	}
	*jc = (struct join_ctx){d, in, id};
	log_info("memb", "admitting node %llu at %s", (unsigned long long)id, addr);
	int rc = cons_member_add(d->cons, id, addr, on_join_added, jc);
	if (rc) {
		free(jc);
		ctl_reply(in, aproto_err(rc == -EEXIST ? ADMIN_E_EXISTS : ADMIN_E_NOQUORUM,
					 "cannot add node %llu: %s", (unsigned long long)id,
					 strerror(-rc)));
	}
}

/* ---- Member side -------------------------------------------------------- */

static void on_join_reply(void *data, int status, json_t *reply)
{
	struct sanfsd *d = data;
	d->join_inflight = false;
	if (status) {
		if (status == -EACCES)
			log_error("memb", "%s refused our cluster key: cannot join",
				  d->conf.join_address);
		else
			log_warn("memb", "join via %s: %s", d->conf.join_address,
				 strerror(-status));
		return;
	}
	const char *e = aproto_reply_error(reply, NULL);
	if (e)
		log_warn("memb", "join via %s refused: %s", d->conf.join_address, e);
	else
		log_info("memb", "admitted to the cluster");
}

static void send_join(struct sanfsd *d, uint64_t now)
{
	char jctl[NCONF_ADDR_MAX];
	if (d->join_inflight || now - d->last_join_ms < 1000 ||
	    sanfsd_ctl_addr_of(d->conf.join_address, jctl, sizeof(jctl)))
		return;
	d->last_join_ms = now;
	json_t *m = json_pack("{s:s,s:I,s:s}", "t", "join", "id", (json_int_t)d->conf.id, "address",
			      d->conf.address);
	if (m && ctl_request(d->ctl, jctl, m, 20000, on_join_reply, d) == 0)
		d->join_inflight = true;
	json_decref(m);
}

static void on_hb_reply(void *data, int status, json_t *reply)
{
	struct sanfsd *d = data;
	d->hb_inflight = false;
	if (status || d->stopping)
		return;
	if (aproto_reply_error(reply, NULL))
		return;
	d->leader_ack_ms = sanfsd_now_ms();
}

static void check_self_fenced(struct sanfsd *d)
{
	struct cons_member m;
	if (cons_get_member(d->cons, d->conf.id, &m))
		return;
	d->joined = true;
	if (m.state == CONS_MEMBER_FENCED) {
		if (!d->fenced_self_inc || d->fenced_self_inc < m.incarnation) {
			d->fenced_self_inc = m.incarnation ? m.incarnation : 1;
			sanfsd_next_incarnation(d);
			log_error("memb",
				  "this node was fenced (incarnation %llu); it rejoins as "
				  "incarnation %llu after `sanctl node unfence %u`",
				  (unsigned long long)m.incarnation,
				  (unsigned long long)d->incarnation, d->conf.id);
		}
	} else if (m.state == CONS_MEMBER_ACTIVE) {
		d->fenced_self_inc = 0;
	}
}

static void on_tick(uv_timer_t *t)
{
	struct sanfsd *d = t->data;
	uint64_t now = sanfsd_now_ms();
	char laddr[NCONF_ADDR_MAX], lctl[NCONF_ADDR_MAX];
	if (d->stopping)
		return;
	check_self_fenced(d);
	if (!d->joined && d->conf.join_address[0] && !d->conf.bootstrap)
		send_join(d, now);
	uint64_t leader = cons_leader(d->cons, laddr, sizeof(laddr));
	if (leader == d->conf.id) {
		d->leader_ack_ms = now;
		adm_tick(d, now);
		return;
	}
	if (!leader || d->hb_inflight || !d->joined ||
	    sanfsd_ctl_addr_of(laddr, lctl, sizeof(lctl)))
		return;
	json_t *m = json_pack("{s:s,s:I,s:I,s:I,s:I}", "t", "hb", "id", (json_int_t)d->conf.id,
			      "inc", (json_int_t)d->incarnation, "seq", (json_int_t)++d->hb_seq,
			      "gen", (json_int_t)cur_generation(d));
	if (m && ctl_request(d->ctl, lctl, m, d->conf.hb_timeout_ms, on_hb_reply, d) == 0)
		d->hb_inflight = true;
	json_decref(m);
}

void memb_on_event(struct sanfsd *d, const struct cons_event *ev)
{
	if (ev->type == CONS_EV_LEADER) {
		log_info("memb", "leader is now %llu (term %llu)",
			 (unsigned long long)ev->leader_id, (unsigned long long)ev->term);
		d->leader_ack_ms = 0;
		d->hb_inflight = false;
	} else if (ev->type == CONS_EV_AUTHORITATIVE) {
		/* DESIGN §6: the new ADM waits a full timeout before it declares
		 * anyone silent. */
		uint64_t now = sanfsd_now_ms();
		for (unsigned i = 0; i < d->npeers; i++) {
			d->peers[i].last_heard_ms = now;
			d->peers[i].put_pending = d->peers[i].fence_pending = false;
		}
		log_info("memb", "this node is the administrator (term %llu, generation %llu)",
			 (unsigned long long)ev->term, (unsigned long long)ev->generation);
	}
}

int memb_start(struct sanfsd *d)
{
	uv_timer_init(d->loop, &d->tick);
	d->tick.data = d;
	return uv_timer_start(&d->tick, on_tick, d->conf.hb_interval_ms, d->conf.hb_interval_ms);
}

void memb_stop(struct sanfsd *d)
{
	if (uv_is_active((uv_handle_t *)&d->tick) || !uv_is_closing((uv_handle_t *)&d->tick)) {
		uv_timer_stop(&d->tick);
		if (d->tick.loop && !uv_is_closing((uv_handle_t *)&d->tick))
			uv_close((uv_handle_t *)&d->tick, NULL);
	}
}
