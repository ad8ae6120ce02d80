/* node/dlm_node: see dlm_node.h. Connections and membership epochs of the
 * node's lockspace. */
#include "node/dlm_node.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "consensus/auth.h"
#include "locks/dlm.h"
#include "locks/dlm_uv.h"
#include "node/admin_proto.h"
#include "node/sanfsd.h"

#define DLM_TICK_MS	    200
#define DLM_CONNECT_MS	    3000   /* TCP connect, then the handshake's own 3 s */
#define DLM_ANNOUNCE_MS	    1000   /* re-send (epoch, set) while recovering */
#define DLM_STUCK_MS	    5000   /* recovering this long with every peer connected: restart */
#define DLM_NODE_ID_MAX	    0xffff /* lock ids carry 16 bits of node id */
#define DLM_EPOCH_GEN_SHIFT 16

struct dlm_conn { /* a connection before dlm_uv_attach */
	struct dlm_node *dn;
	struct dlm_conn *next, **pprev;
	uv_tcp_t *tcp; /* malloc'ed: dlm_uv_attach takes it */
	uv_connect_t creq;
	uint32_t peer; /* outgoing: the node we called */
	bool outgoing, connected;
	bool orphan; /* unlinked at stop: never touch dn again */
	struct auth_hs *hs;
	uint64_t started_ms;
};

struct dlm_node {
	struct sanfsd *d;
	struct dlm_ls *ls;
	struct dlm_uv *uv;
	/* Lockspaces this node ran before it was fenced, frozen: admin
	 * threads may still wait in them, so they are never freed, and their
	 * transports (without connections) live until stop. */
	struct dlm_uv *old_uv[8];
	unsigned nold;
	uv_tcp_t listener;
	uv_timer_t tick;
	int open_handles;
	bool stopping;
	char addr[NCONF_ADDR_MAX];
	struct dlm_conn *conns;
	/* The set given to the lockspace (ascending) and its epoch. */
	uint32_t set[MEMB_MAX_PEERS];
	size_t nset;
	bool have_set;
	bool left; /* this node left the live set (fenced) after joining it */
	uint64_t epoch;
	uint64_t applied_ms, announced_ms;
	/* Departed members whose locks wait for dlm_ls_node_recovered. */
	uint32_t awaiting[MEMB_MAX_PEERS];
	size_t nawaiting;
	uint8_t attached_once[DLM_NODE_ID_MAX + 1];
};

int dlm_node_addr_of(const char *raft_addr, char *out, size_t outlen)
{
	char host[NCONF_ADDR_MAX], err[128];
	unsigned port;
	if (nconf_parse_address(raft_addr, host, sizeof(host), &port, err, sizeof(err)) ||
	    port + DLM_NODE_PORT_OFFSET > 65535)
		return -EINVAL;
	int n = snprintf(out, outlen, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
			 port + DLM_NODE_PORT_OFFSET);
	return n < 0 || (size_t)n >= outlen ? -EINVAL : 0;
}

static int parse_sockaddr(const char *addr, struct sockaddr_storage *ss)
{
	char host[NCONF_ADDR_MAX], err[128];
	unsigned port;
	if (nconf_parse_address(addr, host, sizeof(host), &port, err, sizeof(err)))
		return -EINVAL;
	return strchr(host, ':') ? uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss)
				 : uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss);
}

static bool in_set(const uint32_t *set, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == id)
			return true;
	return false;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* ---- epochs ---- */

static void announce(struct dlm_node *dn);

/* Give the lockspace (epoch, set): a new recovery. */
static void apply(struct dlm_node *dn, uint64_t epoch, const uint32_t *set, size_t n,
		  const char *why)
{
	int rc = dlm_ls_set_members(dn->ls, epoch, set, n);
	if (rc) {
		log_warn("dlm", "set members at epoch %llu: %s", (unsigned long long)epoch,
			 strerror(-rc));
		return;
	}
	/* Who left: their locks wait for dlm_ls_node_recovered. */
	for (size_t i = 0; dn->have_set && i < dn->nset; i++)
		if (!in_set(set, n, dn->set[i]) &&
		    !in_set(dn->awaiting, dn->nawaiting, dn->set[i]) &&
		    dn->nawaiting < MEMB_MAX_PEERS)
			dn->awaiting[dn->nawaiting++] = dn->set[i];
	if (set != dn->set)
		memcpy(dn->set, set, n * sizeof(*set));
	dn->nset = n;
	dn->have_set = true;
	dn->epoch = epoch;
	dn->applied_ms = sanfsd_now_ms();
	char list[MEMB_MAX_PEERS * 7] = "";
	size_t off = 0;
	for (size_t i = 0; i < n && off < sizeof(list) - 8; i++)
		off +=
		    (size_t)snprintf(list + off, sizeof(list) - off, "%s%u", i ? "," : "", set[i]);
	log_info("dlm", "epoch %llu (%s): members %s", (unsigned long long)epoch, why, list);
	announce(dn);
}

static bool all_connected(struct dlm_node *dn, const uint32_t *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] != dn->d->conf.id && !dlm_uv_connected(dn->uv, set[i]))
			return false;
	return true;
}

/* A peer says it runs (epoch, members): adopt a higher epoch of the same set. */
static void consider(struct dlm_node *dn, json_t *msg)
{
	json_t *ep = json_object_get(msg, "epoch"), *mem = json_object_get(msg, "members");
	if (dn->stopping || !dn->have_set || !json_is_integer(ep) || !json_is_array(mem) ||
	    json_array_size(mem) != dn->nset)
		return;
	for (size_t i = 0; i < dn->nset; i++)
		if (json_integer_value(json_array_get(mem, i)) != (json_int_t)dn->set[i])
			return;
	uint64_t epoch = (uint64_t)json_integer_value(ep);
	if (epoch > dn->epoch && !dn->left)
		apply(dn, epoch, dn->set, dn->nset, "a peer's epoch");
}

static json_t *epoch_json(struct dlm_node *dn, json_t *o)
{
	json_t *mem = json_array();
	for (size_t i = 0; i < dn->nset; i++)
		json_array_append_new(mem, json_integer(dn->set[i]));
	json_object_set_new(o, "epoch", json_integer((json_int_t)dn->epoch));
	json_object_set_new(o, "members", mem);
	return o;
}

static void on_announce_reply(void *data, int status, json_t *reply)
{
	if (status == 0 && reply)
		consider(data, reply);
}

static void announce(struct dlm_node *dn)
{
	struct sanfsd *d = dn->d;
	dn->announced_ms = sanfsd_now_ms();
	if (!d->ctl)
		return;
	json_t *msg = epoch_json(dn, json_pack("{s:s}", "t", "dlmep"));
	for (size_t i = 0; i < dn->nset; i++) {
		struct cons_member m;
		char caddr[NCONF_ADDR_MAX];
		if (dn->set[i] == d->conf.id || cons_get_member(d->cons, dn->set[i], &m) ||
		    sanfsd_ctl_addr_of(m.address, caddr, sizeof(caddr)))
			continue;
		ctl_request(d->ctl, caddr, msg, 2000, on_announce_reply, dn);
	}
	json_decref(msg);
}

void dlm_node_on_ctl(struct sanfsd *d, struct ctl_in *in, uint64_t peer, json_t *msg)
{
	(void)peer;
	struct dlm_node *dn = d->dlm;
	if (!dn) {
		ctl_reply(in, aproto_err(ADMIN_E_INVALID, "no lockspace here"));
		return;
	}
	consider(dn, msg);
	ctl_reply(in, epoch_json(dn, aproto_ok()));
}

/* ---- connections ---- */

static void tcp_free(uv_handle_t *h)
{
	free(h);
}

static void conn_free(struct dlm_conn *c, bool close_tcp)
{
	if (!c->orphan) {
		*c->pprev = c->next;
		if (c->next)
			c->next->pprev = c->pprev;
	}
	if (close_tcp && c->tcp)
		uv_close((uv_handle_t *)c->tcp, tcp_free);
	free(c);
}

static struct dlm_conn *conn_new(struct dlm_node *dn, bool outgoing, uint32_t peer)
{
	struct dlm_conn *c = calloc(1, sizeof(*c));
	uv_tcp_t *tcp = malloc(sizeof(*tcp));
	if (!c || !tcp || uv_tcp_init(dn->d->loop, tcp)) {
		free(c);
		free(tcp);
		return NULL;
	}
	c->dn = dn;
	c->tcp = tcp;
	c->outgoing = outgoing;
	c->peer = peer;
	c->started_ms = sanfsd_now_ms();
	c->next = dn->conns;
	if (c->next)
		c->next->pprev = &c->next;
	c->pprev = &dn->conns;
	dn->conns = c;
	return c;
}

static void evaluate(struct dlm_node *dn);
static int renew(struct dlm_node *dn);

static void on_hs(void *data, uv_stream_t *stream, int status, uint64_t peer_id)
{
	(void)stream;
	struct dlm_conn *c = data;
	struct dlm_node *dn = c->dn;
	uint32_t self = dn->d->conf.id;
	c->hs = NULL;
	if (status) {
		log_warn("dlm", "%s DLM connection%s: handshake failed: %s",
			 c->outgoing ? "outgoing" : "incoming", c->outgoing ? " to a peer" : "",
			 strerror(-status));
		conn_free(c, true);
		return;
	}
	/* The higher id calls the lower: one connection per pair, never two
	 * racing to replace each other. */
	struct cons_member m;
	bool member = dn->d->cons && !cons_get_member(dn->d->cons, peer_id, &m);
	/* A node that is not live takes no connection: one attached to a
	 * frozen lockspace would stay there after renew. */
	bool ok = !dn->left && (c->outgoing ? peer_id == c->peer
					    : peer_id > self && peer_id <= DLM_NODE_ID_MAX &&
						  member && !dn->stopping);
	if (!ok) {
		log_warn("dlm", "DLM connection from n%llu refused: %s",
			 (unsigned long long)peer_id,
			 dn->left      ? "this node is not a live member"
			 : c->outgoing ? "not the node called"
			 : !member     ? "not a member"
				       : "only higher ids connect to us");
		conn_free(c, true);
		return;
	}
	uint32_t peer = (uint32_t)peer_id;
	uv_tcp_t *tcp = c->tcp;
	c->tcp = NULL;
	conn_free(c, false);
	uv_tcp_nodelay(tcp, 1);
	int rc = dlm_uv_attach(dn->uv, peer, (uv_stream_t *)tcp);
	if (rc) {
		log_warn("dlm", "attach n%u: %s", peer, strerror(-rc));
		return;
	}
	log_info("dlm", "connected to n%u", peer);
	bool again = dn->attached_once[peer];
	dn->attached_once[peer] = 1;
	/* Messages to it may have been dropped while it was unconnected:
	 * recover again with the same members (the peer does the same). */
	if (again && dn->have_set && in_set(dn->set, dn->nset, peer))
		apply(dn, dn->epoch + 1, dn->set, dn->nset, "reconnected");
	evaluate(dn);
}

static void on_connected(uv_connect_t *req, int status)
{
	struct dlm_conn *c = req->data;
	if (status == UV_ECANCELED) {
		conn_free(c, false); /* whoever closed the handle frees it */
		return;
	}
	if (status || c->dn->stopping) {
		log_debug("dlm", "connect to n%u: %s", c->peer,
			  status ? uv_strerror(status) : "stopping");
		conn_free(c, true);
		return;
	}
	c->connected = true;
	struct sanfsd *d = c->dn->d;
	if (auth_hs_start((uv_stream_t *)c->tcp, &d->key, AUTH_CLIENT, d->conf.id, 0, on_hs, c,
			  &c->hs))
		conn_free(c, true);
}

static void connect_to(struct dlm_node *dn, uint32_t peer, const char *raft_addr)
{
	for (struct dlm_conn *c = dn->conns; c; c = c->next)
		if (c->outgoing && c->peer == peer)
			return; /* in progress */
	char addr[NCONF_ADDR_MAX];
	struct sockaddr_storage ss;
	if (dlm_node_addr_of(raft_addr, addr, sizeof(addr)) || parse_sockaddr(addr, &ss))
		return;
	struct dlm_conn *c = conn_new(dn, true, peer);
	if (!c)
		return;
	c->creq.data = c;
	if (uv_tcp_connect(&c->creq, c->tcp, (struct sockaddr *)&ss, on_connected))
		conn_free(c, true);
}

static void on_connection(uv_stream_t *l, int status)
{
	struct dlm_node *dn = l->data;
	if (status < 0 || dn->stopping)
		return;
	struct dlm_conn *c = conn_new(dn, false, 0);
	if (!c)
		return;
	c->connected = true;
	if (uv_accept(l, (uv_stream_t *)c->tcp) ||
	    auth_hs_start((uv_stream_t *)c->tcp, &dn->d->key, AUTH_SERVER, dn->d->conf.id, 0, on_hs,
			  c, &c->hs))
		conn_free(c, true);
}

/* ---- membership ---- */

static void evaluate(struct dlm_node *dn)
{
	struct sanfsd *d = dn->d;
	struct cons_member *m = NULL;
	size_t n = 0;
	if (dn->stopping || !d->cons || cons_get_members(d->cons, &m, &n))
		return;
	struct cons_cluster cl = {0};
	cons_get_cluster(d->cons, &cl);
	uint32_t live[MEMB_MAX_PEERS];
	size_t nl = 0;
	bool self_live = false;
	for (size_t i = 0; i < n; i++) {
		if (m[i].state != CONS_MEMBER_ACTIVE || m[i].id > DLM_NODE_ID_MAX ||
		    nl == MEMB_MAX_PEERS)
			continue;
		live[nl++] = (uint32_t)m[i].id;
		self_live |= m[i].id == d->conf.id;
	}
	qsort(live, nl, sizeof(*live), cmp_u32);
	/* Fenced: the others release what this node held once they recover
	 * it, so this lockspace must never re-declare those locks: it is
	 * frozen, cut off, and replaced by an empty one if the node becomes
	 * live again (unfenced, new incarnation). */
	if (dn->have_set && !self_live && !dn->left) {
		dn->left = true;
		for (size_t i = 0; i < dn->nset; i++)
			if (dn->set[i] != d->conf.id)
				dlm_uv_detach(dn->uv, dn->set[i]);
		log_error("dlm", "this node is no longer a live member: its locks are lost "
				 "(the others release them once it is fenced)");
	}
	if (dn->left && self_live && renew(dn)) {
		free(m);
		return;
	}
	for (size_t i = 0; i < n && self_live; i++)
		if (m[i].state == CONS_MEMBER_ACTIVE && m[i].id < d->conf.id &&
		    !dlm_uv_connected(dn->uv, (uint32_t)m[i].id))
			connect_to(dn, (uint32_t)m[i].id, m[i].address);
	bool changed = !dn->have_set || nl != dn->nset || memcmp(live, dn->set, nl * sizeof(*live));
	/* A fenced or failed node's lockspace freezes: it is not in the set,
	 * and the survivors hold its locks until they recover it. */
	if (self_live && changed && all_connected(dn, live, nl)) {
		uint64_t epoch = cl.generation << DLM_EPOCH_GEN_SHIFT;
		if (epoch <= dn->epoch)
			epoch = dn->epoch + 1;
		for (size_t i = 0; dn->have_set && i < dn->nset; i++)
			if (!in_set(live, nl, dn->set[i]))
				dlm_uv_detach(dn->uv, dn->set[i]);
		apply(dn, epoch, live, nl, "membership");
	}
	/* Departed members: recovered once their fence entry committed (or they
	 * were removed). This is where the filesystem's journal replay of the
	 * fenced node will go, before dlm_ls_node_recovered. */
	for (size_t i = 0; i < dn->nawaiting;) {
		uint32_t id = dn->awaiting[i];
		const struct cons_member *mm = NULL;
		for (size_t j = 0; j < n; j++)
			if (m[j].id == id)
				mm = &m[j];
		if (mm && mm->state != CONS_MEMBER_FENCED) {
			i++;
			continue;
		}
		int rc = dlm_ls_node_recovered(dn->ls, id);
		if (rc && rc != -ENOENT)
			log_warn("dlm", "recover n%u: %s", id, strerror(-rc));
		else
			log_info("dlm", "n%u %s: its locks are released", id,
				 mm ? "fenced" : "removed");
		dn->awaiting[i] = dn->awaiting[--dn->nawaiting];
	}
	free(m);
}

/* A fenced node that is live again starts over with an empty lockspace;
 * the frozen one stays allocated (see old_uv). 0, or -errno (retried on the
 * next tick). */
static int renew(struct dlm_node *dn)
{
	struct sanfsd *d = dn->d;
	if (dn->nold == sizeof(dn->old_uv) / sizeof(dn->old_uv[0]))
		return -ENOSPC;
	struct dlm_uv *uv;
	struct dlm_ls *ls;
	int rc = dlm_uv_create(d->loop, &uv);
	if (rc)
		return rc;
	struct dlm_ls_ops ops = {dlm_uv_send, uv};
	rc = dlm_ls_create(d->conf.id, &ops, &ls);
	if (rc) {
		dlm_uv_close(uv, NULL, NULL);
		return rc;
	}
	dlm_uv_set_lockspace(uv, ls);
	dn->old_uv[dn->nold++] = dn->uv;
	dn->uv = uv;
	dn->ls = ls;
	dn->have_set = dn->left = false;
	dn->nset = dn->nawaiting = 0;
	memset(dn->attached_once, 0, sizeof(dn->attached_once));
	log_info("dlm", "live member again: a new, empty lockspace");
	return 0;
}

void dlm_node_on_state(struct sanfsd *d)
{
	if (d->dlm)
		evaluate(d->dlm);
}

static void on_tick(uv_timer_t *t)
{
	struct dlm_node *dn = t->data;
	uint64_t now = sanfsd_now_ms();
	/* A connect that hangs (a partitioned peer never answers the SYN). */
	for (struct dlm_conn *c = dn->conns, *next; c; c = next) {
		next = c->next;
		if (c->outgoing && !c->connected && now - c->started_ms > DLM_CONNECT_MS &&
		    !uv_is_closing((uv_handle_t *)c->tcp)) {
			uv_close((uv_handle_t *)c->tcp, tcp_free); /* on_connected: ECANCELED */
		}
	}
	evaluate(dn);
	if (!dn->have_set)
		return;
	struct dlm_ls_stats st;
	dlm_ls_get_stats(dn->ls, &st);
	if (!st.recovering)
		return;
	if (now - dn->applied_ms > DLM_STUCK_MS && all_connected(dn, dn->set, dn->nset))
		apply(dn, dn->epoch + 1, dn->set, dn->nset, "recovery stalled");
	else if (now - dn->announced_ms >= DLM_ANNOUNCE_MS)
		announce(dn);
}

/* ---- lifetime ---- */

static void node_closed(void *arg)
{
	struct dlm_node *dn = arg;
	if (--dn->open_handles)
		return;
	/* Worker threads of the admin operations may still be blocked in the
	 * lockspace: it lives until the process exits. */
	free(dn);
}

static void handle_closed(uv_handle_t *h)
{
	node_closed(h->data);
}

int dlm_node_start(struct sanfsd *d)
{
	struct dlm_node *dn = calloc(1, sizeof(*dn));
	if (!dn)
		return -ENOMEM;
	dn->d = d;
	struct sockaddr_storage ss;
	int rc = dlm_node_addr_of(d->conf.address, dn->addr, sizeof(dn->addr));
	if (!rc)
		rc = parse_sockaddr(dn->addr, &ss);
	if (!rc)
		rc = dlm_uv_create(d->loop, &dn->uv);
	if (rc) {
		free(dn);
		return rc;
	}
	struct dlm_ls_ops ops = {dlm_uv_send, dn->uv};
	rc = dlm_ls_create(d->conf.id, &ops, &dn->ls);
	if (rc) {
		dlm_uv_close(dn->uv, NULL, NULL);
		free(dn);
		return rc;
	}
	dlm_uv_set_lockspace(dn->uv, dn->ls);
	uv_tcp_init(d->loop, &dn->listener);
	uv_timer_init(d->loop, &dn->tick);
	dn->listener.data = dn->tick.data = dn;
	dn->open_handles = 3;
	d->dlm = dn;
	rc = uv_tcp_bind(&dn->listener, (struct sockaddr *)&ss, 0);
	if (!rc)
		rc = uv_listen((uv_stream_t *)&dn->listener, 64, on_connection);
	if (rc) {
		log_error("dlm", "cannot listen on %s: %s", dn->addr, uv_strerror(rc));
		return rc; /* the caller stops the daemon: dlm_node_stop frees */
	}
	uv_timer_start(&dn->tick, on_tick, DLM_TICK_MS, DLM_TICK_MS);
	log_info("dlm", "lockspace of n%u listening on %s", d->conf.id, dn->addr);
	return 0;
}

void dlm_node_stop(struct sanfsd *d)
{
	struct dlm_node *dn = d->dlm;
	if (!dn || dn->stopping)
		return;
	dlm_admin_stop(d);
	dn->stopping = true;
	d->dlm = NULL;
	struct dlm_conn *list = dn->conns;
	dn->conns = NULL;
	for (struct dlm_conn *c = list; c; c = c->next)
		c->orphan = true;
	for (struct dlm_conn *c = list, *next; c; c = next) {
		next = c->next;
		if (c->hs)
			auth_hs_cancel(c->hs); /* -> on_hs: frees c */
		else if (c->outgoing && !c->connected) {
			if (!uv_is_closing((uv_handle_t *)c->tcp))
				uv_close((uv_handle_t *)c->tcp, tcp_free); /* -> on_connected */
		} else
			conn_free(c, true);
	}
	uv_close((uv_handle_t *)&dn->listener, handle_closed);
	uv_close((uv_handle_t *)&dn->tick, handle_closed);
	dn->open_handles += (int)dn->nold;
	for (unsigned i = 0; i < dn->nold; i++)
		dlm_uv_close(dn->old_uv[i], node_closed, dn);
	dlm_uv_close(dn->uv, node_closed, dn);
}

struct dlm_ls *dlm_node_ls(struct sanfsd *d, bool *ready)
{
	struct dlm_node *dn = d->dlm;
	if (ready)
		*ready = dn && dn->have_set && !dn->left;
	return dn ? dn->ls : NULL;
}
