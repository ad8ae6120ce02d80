/* An authenticated TCP transport for raft's uv backend (struct
 * raft_uv_transport; DESIGN §4: "Node-to-node connections authenticate with
 * the cluster key"). Every connection runs the auth.h handshake before raft
 * sees a byte of it; the ids exchanged there are the Raft ids (bound into the
 * MACs), so raft needs no unauthenticated preamble of its own. A peer without
 * the key, garbage, or silence past AUTH_TIMEOUT_MS closes the connection with
 * a log line. At most MAX_PENDING unauthenticated inbound connections are
 * kept; more are closed at once, so a flood cannot grow memory.
 *
 * Runs on the loop thread only. Streams handed to raft are allocated with
 * raft_malloc: raft frees them with raft_free after uv_close. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "consensus/auth.h"
#include "consensus/transport.h"

#define AUTH_TIMEOUT_MS 2000
#define MAX_PENDING	64

struct pend {
	struct atr *a;
	uv_tcp_t *tcp; /* raft_malloc'ed */
	uv_connect_t conn;
	struct auth_hs *hs;
	struct raft_uv_connect *req; /* outgoing only */
	raft_id want_id;	     /* outgoing: the id we dialled */
	bool outgoing, connecting;
	struct pend *prev, *next;
};

struct atr {
	struct raft_uv_transport *t;
	uv_loop_t *loop;
	struct auth_key key;
	raft_id id;
	char address[64];
	uv_tcp_t listener;
	bool listener_init, closing;
	raft_uv_accept_cb accept_cb;
	raft_uv_transport_close_cb close_cb;
	struct pend *pending;
	unsigned n_pending, n_open; /* n_open: handles we still have to see closed */
};

static void maybe_closed(struct atr *a)
{
	if (a->closing && a->n_open == 0 && a->close_cb) {
		raft_uv_transport_close_cb cb = a->close_cb;
		a->close_cb = NULL;
		cb(a->t);
	}
}

static void pend_unlink(struct pend *p)
{
	struct atr *a = p->a;
	if (p->prev)
		p->prev->next = p->next;
	else
		a->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
	a->n_pending--;
}

static struct pend *pend_new(struct atr *a, bool outgoing)
{
	struct pend *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->tcp = raft_malloc(sizeof(*p->tcp));
	if (!p->tcp) {
		free(p);
		return NULL;
	}
	uv_tcp_init(a->loop, p->tcp);
	a->n_open++;
	p->a = a;
	p->outgoing = outgoing;
	p->next = a->pending;
	if (p->next)
		p->next->prev = p;
	a->pending = p;
	a->n_pending++;
	return p;
}

static void tcp_closed(uv_handle_t *h)
{
	struct atr *a = h->data;
	raft_free(h);
	a->n_open--;
	maybe_closed(a);
}

/* Give up on p: close its socket, tell raft for outgoing ones. */
static void pend_fail(struct pend *p, int raft_status)
{
	struct atr *a = p->a;
	struct raft_uv_connect *req = p->req;
	pend_unlink(p);
	p->tcp->data = a;
	uv_close((uv_handle_t *)p->tcp, tcp_closed);
	free(p);
	if (req)
		req->cb(req, NULL, raft_status);
}

static int parse_addr(const char *address, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(address, ':');
	char *end;
	unsigned long port;

	if (!colon || (size_t)(colon - address) >= sizeof(host))
		return -EINVAL;
	memcpy(host, address, (size_t)(colon - address));
	host[colon - address] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end || colon[1] == '\0' || port == 0 || port > 65535)
		return -EINVAL;
	return uv_ip4_addr(host, (int)port, sa) ? -EINVAL : 0;
}

/* ---- inbound ----------------------------------------------------------- */

static void in_hs_done(void *data, uv_stream_t *stream, int status, uint64_t peer_id,
		       const char *peer_address)
{
	struct pend *p = data;
	struct atr *a = p->a;
	struct sockaddr_in sa;
	char name[AUTH_ADDR_MAX];

	p->hs = NULL;
	/* Raft answers a peer at the address it announced (its listening
	 * address), so it must be a valid one. */
	if (status == 0 && (peer_id == 0 || parse_addr(peer_address, &sa) != 0)) {
		log_warn("auth", "node %llu announced no valid address, dropped",
			 (unsigned long long)peer_id);
		status = -EPROTO;
	}
	if (status || a->closing) {
		pend_fail(p, RAFT_CANCELED);
		return;
	}
	snprintf(name, sizeof(name), "%s", peer_address);
	pend_unlink(p);
	a->n_open--; /* raft owns the handle now */
	stream->data = NULL;
	free(p);
	a->accept_cb(a->t, peer_id, name, stream);
}

static void on_incoming(uv_stream_t *server, int status)
{
	struct atr *a = server->data;
	struct pend *p;

	if (status < 0 || a->closing)
		return;
	p = pend_new(a, false);
	if (!p)
		return; /* the connection stays in the backlog; next one retries */
	if (uv_accept(server, (uv_stream_t *)p->tcp) != 0) {
		pend_fail(p, 0);
		return;
	}
	if (a->n_pending > MAX_PENDING) {
		log_warn("auth", "too many unauthenticated connections, dropping one");
		pend_fail(p, 0);
		return;
	}
	uv_tcp_nodelay(p->tcp, 1);
	if (auth_hs_start_addr((uv_stream_t *)p->tcp, &a->key, AUTH_SERVER, a->id, NULL,
			       AUTH_TIMEOUT_MS, in_hs_done, p, &p->hs) != 0)
		pend_fail(p, 0);
}

/* ---- outbound ---------------------------------------------------------- */

static void out_hs_done(void *data, uv_stream_t *stream, int status, uint64_t peer_id,
			const char *peer_address)
{
	struct pend *p = data;
	struct atr *a = p->a;
	struct raft_uv_connect *req = p->req;

	(void)peer_address;
	p->hs = NULL;
	if (status == 0 && peer_id != p->want_id) {
		log_warn("auth", "dialled node %llu but node %llu answered, dropped",
			 (unsigned long long)p->want_id, (unsigned long long)peer_id);
		status = -EACCES;
	}
	if (status || a->closing) {
		pend_fail(p, a->closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
		return;
	}
	pend_unlink(p);
	a->n_open--; /* raft owns it now */
	stream->data = NULL;
	free(p);
	req->cb(req, stream, 0);
}

static void on_connected(uv_connect_t *c, int status)
{
	struct pend *p = c->data;
	struct atr *a = p->a;

	p->connecting = false;
	if (status < 0 || a->closing) {
		/* On close the socket is already closing (uv_close in close). */
		struct raft_uv_connect *req = p->req;
		if (status == UV_ECANCELED || uv_is_closing((uv_handle_t *)p->tcp)) {
			pend_unlink(p);
			free(p);
			if (req)
				req->cb(req, NULL, RAFT_CANCELED);
			return;
		}
		pend_fail(p, a->closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
		return;
	}
	uv_tcp_nodelay(p->tcp, 1);
	if (auth_hs_start_addr((uv_stream_t *)p->tcp, &a->key, AUTH_CLIENT, a->id, a->address,
			       AUTH_TIMEOUT_MS, out_hs_done, p, &p->hs) != 0)
		pend_fail(p, RAFT_NOCONNECTION);
}

/* ---- raft_uv_transport methods ----------------------------------------- */

static int atr_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
	struct atr *a = t->impl;
	a->id = id;
	snprintf(a->address, sizeof(a->address), "%s", address);
	return 0;
}

static int atr_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
	struct atr *a = t->impl;
	struct sockaddr_in sa;
	int rc;

	if (parse_addr(a->address, &sa)) {
		snprintf(t->errmsg, sizeof(t->errmsg), "bad address %s (want IPv4:PORT)",
			 a->address);
		return RAFT_INVALID;
	}
	uv_tcp_init(a->loop, &a->listener);
	a->listener.data = a;
	a->listener_init = true;
	a->n_open++;
	rc = uv_tcp_bind(&a->listener, (struct sockaddr *)&sa, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&a->listener, 128, on_incoming);
	if (rc) {
		snprintf(t->errmsg, sizeof(t->errmsg), "listen on %s: %s", a->address,
			 uv_strerror(rc));
		return RAFT_IOERR;
	}
	a->accept_cb = cb;
	return 0;
}

static int atr_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
		       const char *address, raft_uv_connect_cb cb)
{
	struct atr *a = t->impl;
	struct sockaddr_in sa;
	struct pend *p;

	if (a->closing)
		return RAFT_CANCELED;
	if (parse_addr(address, &sa)) {
		snprintf(t->errmsg, sizeof(t->errmsg), "bad address %s", address);
		return RAFT_NOCONNECTION;
	}
	p = pend_new(a, true);
	if (!p)
		return RAFT_NOMEM;
	req->cb = cb;
	p->req = req;
	p->want_id = id;
	p->conn.data = p;
	p->connecting = true;
	if (uv_tcp_connect(&p->conn, p->tcp, (struct sockaddr *)&sa, on_connected)) {
		p->req = NULL;
		p->connecting = false;
		pend_fail(p, 0);
		return RAFT_NOCONNECTION;
	}
	return 0;
}

static void listener_closed(uv_handle_t *h)
{
	struct atr *a = h->data;
	a->n_open--;
	maybe_closed(a);
}

static void atr_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
	struct atr *a = t->impl;
	a->closing = true;
	a->close_cb = cb;
	if (a->listener_init && !uv_is_closing((uv_handle_t *)&a->listener))
		uv_close((uv_handle_t *)&a->listener, listener_closed);
	/* Cancel every pending connection. A handshake's cancel removes its
	 * entry at once; a connect in flight is removed by on_connected, which
	 * libuv runs with UV_ECANCELED once its socket closes. */
	for (struct pend *p = a->pending, *next; p; p = next) {
		next = p->next;
		if (p->hs) {
			auth_hs_cancel(p->hs); /* -> in/out_hs_done -> pend_fail */
		} else if (p->connecting) {
			if (!uv_is_closing((uv_handle_t *)p->tcp)) {
				p->tcp->data = a;
				uv_close((uv_handle_t *)p->tcp, tcp_closed);
			}
		} else {
			pend_fail(p, RAFT_CANCELED);
		}
	}
	maybe_closed(a);
}

int atr_transport_init(struct raft_uv_transport *t, uv_loop_t *loop, const struct auth_key *key)
{
	struct atr *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	memset(t, 0, sizeof(*t));
#ifdef HAVE_RAFT_TRANSPORT_VERSION
	t->version = 1;
#endif
	a->t = t;
	a->loop = loop;
	a->key = *key;
	t->impl = a;
	t->init = atr_init;
	t->listen = atr_listen;
	t->connect = atr_connect;
	t->close = atr_close;
	return 0;
}

void atr_transport_free(struct raft_uv_transport *t)
{
	struct atr *a = t->impl;
	if (!a)
		return;
	memset(&a->key, 0, sizeof(a->key));
	free(a);
	t->impl = NULL;
}
