/* node/ctl: authenticated JSON-lines request/reply channel between nodes. */
#include "node/ctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "node/admin_proto.h"
#include "node/nodeconf.h"

struct ctl_conn;

struct ctl_out { /* outgoing request */
	struct ctl_out *next, **pprev;
	struct ctl_conn *conn;
	uint64_t rid;
	char *line; /* not yet sent (conn not ready), or NULL once written */
	size_t len;
	ctl_reply_fn cb;
	void *data;
	uv_timer_t timer;
};

struct ctl_in {
	struct ctl_conn *conn; /* NULL once the connection closed */
	struct ctl_in *next, **pprev;
	uint64_t rid;
	json_t *msg;
};

enum conn_state { CONN_CONNECTING, CONN_HANDSHAKE, CONN_READY, CONN_CLOSING };

struct ctl_conn {
	struct ctl *ctl;
	struct ctl_conn *next, **pprev;
	uv_tcp_t tcp;
	uv_connect_t connreq;
	enum conn_state state;
	int outgoing;
	char address[NCONF_ADDR_MAX]; /* outgoing: the peer's control address */
	uint64_t peer_id;
	struct auth_hs *hs;
	char *buf;
	size_t len, cap;
	struct ctl_out *outs; /* outgoing requests on this connection */
	struct ctl_in *ins;   /* incoming requests awaiting a reply */
	int fail_status;
};

struct ctl {
	uv_loop_t *loop;
	uv_tcp_t listener;
	struct auth_key key;
	uint64_t self_id;
	ctl_request_fn fn;
	void *data;
	struct ctl_conn *conns;
	unsigned nconns;
	uint64_t next_rid;
	int closing;
	unsigned live; /* handles and conns not yet freed */
};

struct ctl_write {
	uv_write_t w;
	char *data;
};

static void ctl_maybe_free(struct ctl *c)
{
	if (c->closing && c->live == 0) {
		memset(&c->key, 0, sizeof(c->key));
		free(c);
	}
}

static void out_timer_closed(uv_handle_t *h)
{
	struct ctl_out *o = h->data;
	free(o->line);
	free(o);
}

/* Complete an outgoing request and free it. */
static void out_finish(struct ctl_out *o, int status, json_t *reply)
{
	if (o->pprev) {
		*o->pprev = o->next;
		if (o->next)
			o->next->pprev = o->pprev;
		o->pprev = NULL;
	}
	uv_timer_stop(&o->timer);
	ctl_reply_fn cb = o->cb;
	void *data = o->data;
	o->cb = NULL;
	uv_close((uv_handle_t *)&o->timer, out_timer_closed);
	if (cb)
		cb(data, status, reply);
}

static void conn_closed(uv_handle_t *h)
{
	struct ctl_conn *k = h->data;
	struct ctl *c = k->ctl;
	free(k->buf);
	free(k);
	c->live--;
	ctl_maybe_free(c);
}

static void conn_close(struct ctl_conn *k, int status)
{
	if (k->state == CONN_CLOSING)
		return;
	k->state = CONN_CLOSING;
	if (k->hs) {
		struct auth_hs *hs = k->hs;
		k->hs = NULL;
		auth_hs_cancel(hs);
	}
	*k->pprev = k->next;
	if (k->next)
		k->next->pprev = k->pprev;
	k->ctl->nconns--;
	while (k->outs)
		out_finish(k->outs, status ? status : -ECONNRESET, NULL);
	for (struct ctl_in *in = k->ins; in; in = in->next)
		in->conn = NULL;
	k->ins = NULL;
	uv_close((uv_handle_t *)&k->tcp, conn_closed);
}

static void on_written(uv_write_t *w, int status)
{
	struct ctl_write *cw = (struct ctl_write *)w;
	struct ctl_conn *k = w->handle->data;
	free(cw->data);
	free(cw);
	if (status < 0 && k->state != CONN_CLOSING)
		conn_close(k, -ECONNRESET);
}

/* Queue bytes for writing; takes ownership of data. */
static int conn_write(struct ctl_conn *k, char *data, size_t len)
{
	struct ctl_write *cw = malloc(sizeof(*cw));
	if (!cw) {
		free(data);
		return -ENOMEM;
	}
	cw->data = data;
	uv_buf_t b = uv_buf_init(data, (unsigned)len);
	int rc = uv_write(&cw->w, (uv_stream_t *)&k->tcp, &b, 1, on_written);
	if (rc) {
		free(data);
		free(cw);
	}
	return rc;
}

static void conn_handle_line(struct ctl_conn *k, const char *line, size_t len)
{
	json_error_t je;
	json_t *msg = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	json_t *rid = msg ? json_object_get(msg, "rid") : NULL;
	if (!json_is_object(msg) || !json_is_integer(rid) || json_integer_value(rid) < 0) {
		log_warn("ctl", "peer %llu sent a malformed message: closing",
			 (unsigned long long)k->peer_id);
		json_decref(msg);
		conn_close(k, -EPROTO);
		return;
	}
	uint64_t r = (uint64_t)json_integer_value(rid);
	if (k->outgoing) {
		struct ctl_out *o = k->outs;
		while (o && o->rid != r)
			o = o->next;
		if (o)
			out_finish(o, 0, msg);
		json_decref(msg);
		return;
	}
	if (!json_is_string(json_object_get(msg, "t"))) {
		log_warn("ctl", "peer %llu sent a request without type: closing",
			 (unsigned long long)k->peer_id);
		json_decref(msg);
		conn_close(k, -EPROTO);
		return;
	}
	struct ctl_in *in = calloc(1, sizeof(*in));
	if (!in) {
		json_decref(msg);
		conn_close(k, -ENOMEM);
		return;
	}
	in->conn = k;
	in->rid = r;
	in->msg = msg;
	in->next = k->ins;
	if (in->next)
		in->next->pprev = &in->next;
	in->pprev = &k->ins;
	k->ins = in;
	k->ctl->fn(k->ctl->data, in, k->peer_id, msg);
}

void ctl_reply(struct ctl_in *in, json_t *reply)
{
	struct ctl_conn *k = in->conn;
	if (k) {
		*in->pprev = in->next;
		if (in->next)
			in->next->pprev = in->pprev;
	}
	if (!reply)
		reply = aproto_err(ADMIN_E_INTERNAL, "peer could not build a reply");
	if (k && reply && k->state == CONN_READY) {
		json_object_set_new(reply, "rid", json_integer((json_int_t)in->rid));
		size_t len;
		char *line = aproto_dump_line(reply, &len);
		if (line)
			conn_write(k, line, len);
	}
	json_decref(reply);
	json_decref(in->msg);
	free(in);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct ctl_conn *k = h->data;
	(void)suggested;
	if (k->cap - k->len < 4096 && k->cap < CTL_LINE_MAX + 8192) {
		size_t ncap = k->cap ? k->cap * 2 : 8192;
		char *nb = realloc(k->buf, ncap);
		if (nb) {
			k->buf = nb;
			k->cap = ncap;
		}
	}
	*buf = uv_buf_init(k->buf + k->len, (unsigned)(k->cap - k->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct ctl_conn *k = s->data;
	(void)buf;
	if (n < 0) {
		conn_close(k, -ECONNRESET);
		return;
	}
	k->len += (size_t)n;
	char *nl;
	while (k->state == CONN_READY && (nl = memchr(k->buf, '\n', k->len))) {
		size_t ll = (size_t)(nl - k->buf) + 1;
		conn_handle_line(k, k->buf, ll - 1);
		if (k->state != CONN_READY)
			return;
		memmove(k->buf, k->buf + ll, k->len - ll);
		k->len -= ll;
	}
	if (k->state == CONN_READY && k->len >= CTL_LINE_MAX) {
		log_warn("ctl", "peer %llu sent a line longer than %d bytes: closing",
			 (unsigned long long)k->peer_id, CTL_LINE_MAX);
		conn_close(k, -EPROTO);
	}
}

static void flush_queued(struct ctl_conn *k)
{
	for (struct ctl_out *o = k->outs; o && k->state == CONN_READY; o = o->next) {
		if (!o->line)
			continue;
		char *line = o->line;
		o->line = NULL;
		if (conn_write(k, line, o->len)) {
			conn_close(k, -ECONNRESET);
			return;
		}
	}
}

static void on_hs(void *data, uv_stream_t *stream, int status, uint64_t peer_id)
{
	struct ctl_conn *k = data;
	(void)stream;
	k->hs = NULL;
	if (k->state == CONN_CLOSING)
		return;
	if (status) {
		char peer[64] = "?";
		struct sockaddr_storage ss;
		int sl = sizeof(ss);
		if (!uv_tcp_getpeername(&k->tcp, (struct sockaddr *)&ss, &sl) &&
		    ss.ss_family == AF_INET)
			uv_ip4_name((struct sockaddr_in *)&ss, peer, sizeof(peer));
		log_warn("ctl", "%s %s%s: authentication failed: %s (dropped)",
			 k->outgoing ? "connection to" : "peer", k->outgoing ? k->address : peer,
			 "", strerror(-status));
		conn_close(k, status == -EACCES ? -EACCES : status);
		return;
	}
	k->peer_id = peer_id;
	k->state = CONN_READY;
	uv_read_start((uv_stream_t *)&k->tcp, on_alloc, on_read);
	flush_queued(k);
}

static struct ctl_conn *conn_new(struct ctl *c, int outgoing)
{
	struct ctl_conn *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->ctl = c;
	k->outgoing = outgoing;
	uv_tcp_init(c->loop, &k->tcp);
	k->tcp.data = k;
	k->next = c->conns;
	if (k->next)
		k->next->pprev = &k->next;
	k->pprev = &c->conns;
	c->conns = k;
	c->nconns++;
	c->live++;
	return k;
}

static void on_connection(uv_stream_t *l, int status)
{
	struct ctl *c = l->data;
	if (status < 0)
		return;
	struct ctl_conn *k = conn_new(c, 0);
	if (!k)
		return;
	k->state = CONN_HANDSHAKE;
	if (uv_accept(l, (uv_stream_t *)&k->tcp)) {
		conn_close(k, -ECONNRESET);
		return;
	}
	if (c->nconns > CTL_MAX_CONNS) {
		log_warn("ctl", "more than %d control connections: refusing one", CTL_MAX_CONNS);
		conn_close(k, -EMFILE);
		return;
	}
	uv_tcp_nodelay(&k->tcp, 1);
	if (auth_hs_start((uv_stream_t *)&k->tcp, &c->key, AUTH_SERVER, c->self_id, 0, on_hs, k,
			  &k->hs))
		conn_close(k, -EPROTO);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct ctl_conn *k = req->data;
	if (k->state == CONN_CLOSING)
		return;
	if (status < 0) {
		log_debug("ctl", "connect to %s: %s", k->address, uv_strerror(status));
		conn_close(k, status);
		return;
	}
	k->state = CONN_HANDSHAKE;
	uv_tcp_nodelay(&k->tcp, 1);
	if (auth_hs_start((uv_stream_t *)&k->tcp, &k->ctl->key, AUTH_CLIENT, k->ctl->self_id, 0,
			  on_hs, k, &k->hs))
		conn_close(k, -EPROTO);
}

static int parse_sockaddr(const char *addr, struct sockaddr_storage *ss)
{
	char host[64];
	unsigned port;
	int rc = nconf_parse_address(addr, host, sizeof(host), &port, NULL, 0);
	if (rc)
		return rc;
	if (strchr(host, ':'))
		return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss);
	return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss);
}

int ctl_open(uv_loop_t *loop, const char *listen_addr, const struct auth_key *key, uint64_t self_id,
	     ctl_request_fn fn, void *data, struct ctl **out)
{
	struct sockaddr_storage ss;
	int rc = parse_sockaddr(listen_addr, &ss);
	if (rc)
		return rc;
	struct ctl *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->loop = loop;
	c->key = *key;
	c->self_id = self_id;
	c->fn = fn;
	c->data = data;
	c->next_rid = 1;
	uv_tcp_init(loop, &c->listener);
	c->listener.data = c;
	c->live = 1;
	rc = uv_tcp_bind(&c->listener, (struct sockaddr *)&ss, 0);
	if (!rc)
		rc = uv_listen((uv_stream_t *)&c->listener, 128, on_connection);
	if (rc) {
		log_error("ctl", "control port %s: %s", listen_addr, uv_strerror(rc));
		ctl_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

static void listener_closed(uv_handle_t *h)
{
	struct ctl *c = h->data;
	c->live--;
	ctl_maybe_free(c);
}

void ctl_close(struct ctl *c)
{
	if (!c || c->closing)
		return;
	c->closing = 1;
	while (c->conns)
		conn_close(c->conns, -ECANCELED);
	uv_close((uv_handle_t *)&c->listener, listener_closed);
}

static void on_out_timeout(uv_timer_t *t)
{
	struct ctl_out *o = t->data;
	struct ctl_conn *k = o->conn;
	out_finish(o, -ETIMEDOUT, NULL);
	/* A connection that never got ready is useless: drop it so the next
	 * request reconnects (the peer may have restarted). */
	if (k && k->state != CONN_READY)
		conn_close(k, -ETIMEDOUT);
}

int ctl_request(struct ctl *c, const char *address, json_t *msg, unsigned timeout_ms,
		ctl_reply_fn cb, void *data)
{
	if (c->closing)
		return -ECANCELED;
	struct ctl_conn *k = c->conns;
	while (k && !(k->outgoing && k->state != CONN_CLOSING && !strcmp(k->address, address)))
		k = k->next;
	if (!k) {
		struct sockaddr_storage ss;
		int rc = parse_sockaddr(address, &ss);
		if (rc)
			return rc;
		k = conn_new(c, 1);
		if (!k)
			return -ENOMEM;
		snprintf(k->address, sizeof(k->address), "%s", address);
		k->state = CONN_CONNECTING;
		k->connreq.data = k;
		rc = uv_tcp_connect(&k->connreq, &k->tcp, (struct sockaddr *)&ss, on_connect);
		if (rc) {
			conn_close(k, rc);
			return rc;
		}
	}
	struct ctl_out *o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->rid = c->next_rid++;
	json_t *copy = json_copy(msg);
	if (!copy) {
		free(o);
		return -ENOMEM;
	}
	json_object_set_new(copy, "rid", json_integer((json_int_t)o->rid));
	o->line = aproto_dump_line(copy, &o->len);
	json_decref(copy);
	if (!o->line) {
		free(o);
		return -ENOMEM;
	}
	o->conn = k;
	o->cb = cb;
	o->data = data;
	uv_timer_init(c->loop, &o->timer);
	o->timer.data = o;
	uv_timer_start(&o->timer, on_out_timeout, timeout_ms ? timeout_ms : 5000, 0);
	o->next = k->outs;
	if (o->next)
		o->next->pprev = &o->next;
	o->pprev = &k->outs;
	k->outs = o;
	if (k->state == CONN_READY)
		flush_queued(k);
	return 0;
}
