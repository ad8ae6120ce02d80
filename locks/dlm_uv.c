/* See dlm_uv.h. */
#include "locks/dlm_uv.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define DLM_UV_MAX_PEERS 65536 /* node ids are 16-bit */

struct peer {
	struct dlm_uv *u;
	uint32_t node;
	uv_stream_t *stream;
	uint8_t rbuf[DLM_MSG_SIZE * 64];
	size_t rlen;
	bool closing;
};

struct outmsg {
	struct outmsg *next;
	uint32_t to;
	uint8_t buf[DLM_MSG_SIZE];
};

struct wreq {
	uv_write_t req;
	uv_buf_t buf;
	uint8_t data[];
};

struct dlm_uv {
	uv_loop_t *loop;
	struct dlm_ls *ls;
	uv_async_t async;
	pthread_mutex_t mu;
	struct outmsg *head, *tail; /* under mu */
	struct peer **peers;	    /* DLM_UV_MAX_PEERS, by node id; loop thread only */
	int open_handles;
	void (*done)(void *);
	void *done_arg;
	bool closing;
};

static struct peer **slot(struct dlm_uv *u, uint32_t node)
{
	return &u->peers[node % DLM_UV_MAX_PEERS];
}

static void on_handle_closed(uv_handle_t *h)
{
	struct dlm_uv *u = h->data;
	if (h != (uv_handle_t *)&u->async)
		free(h);
	if (--u->open_handles == 0 && u->closing) {
		pthread_mutex_destroy(&u->mu);
		void (*done)(void *) = u->done;
		void *arg = u->done_arg;
		struct outmsg *m = u->head;
		while (m) {
			struct outmsg *next = m->next;
			free(m);
			m = next;
		}
		free(u->peers);
		free(u);
		if (done)
			done(arg);
	}
}

static void peer_close(struct peer *p)
{
	if (p->closing)
		return;
	p->closing = true;
	struct dlm_uv *u = p->u;
	if (*slot(u, p->node) == p)
		*slot(u, p->node) = NULL;
	uv_read_stop(p->stream);
	p->stream->data = u;
	uv_close((uv_handle_t *)p->stream, on_handle_closed);
	free(p);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct peer *p = h->data;
	buf->base = (char *)p->rbuf + p->rlen;
	buf->len = sizeof(p->rbuf) - p->rlen;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	(void)buf;
	struct peer *p = s->data;
	if (n < 0) {
		if (n != UV_EOF)
			log_warn("dlm", "connection to n%u: %s", p->node, uv_strerror((int)n));
		peer_close(p);
		return;
	}
	p->rlen += (size_t)n;
	size_t off = 0;
	while (p->rlen - off >= DLM_MSG_SIZE) {
		/* The stream was authenticated as p->node: a message naming
		 * another sender is forged (it could release or grant another
		 * node's locks at the master), so the peer is cut off. */
		int rc = dlm_ls_receive_from(p->u->ls, p->node, p->rbuf + off, DLM_MSG_SIZE);
		if (rc < 0) {
			log_warn("dlm", "%s message from n%u: disconnecting",
				 rc == -EPERM ? "forged" : "malformed", p->node);
			peer_close(p);
			return;
		}
		off += DLM_MSG_SIZE;
	}
	memmove(p->rbuf, p->rbuf + off, p->rlen - off);
	p->rlen -= off;
}

static void on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	if (status < 0 && status != UV_ECANCELED)
		log_debug("dlm", "write: %s", uv_strerror(status));
	free(w);
}

/* Loop thread: send everything queued, one write per peer. */
static void on_async(uv_async_t *a)
{
	struct dlm_uv *u = a->data;
	pthread_mutex_lock(&u->mu);
	struct outmsg *list = u->head;
	u->head = u->tail = NULL;
	pthread_mutex_unlock(&u->mu);
	while (list) {
		uint32_t to = list->to;
		size_t count = 0;
		for (struct outmsg *m = list; m; m = m->next)
			if (m->to == to)
				count++;
		struct peer *p = *slot(u, to);
		struct wreq *w = NULL;
		if (p && p->node == to && !p->closing)
			w = malloc(sizeof(*w) + count * DLM_MSG_SIZE);
		size_t k = 0;
		struct outmsg **pp = &list;
		while (*pp) {
			struct outmsg *m = *pp;
			if (m->to != to) {
				pp = &m->next;
				continue;
			}
			if (w)
				memcpy(w->data + k++ * DLM_MSG_SIZE, m->buf, DLM_MSG_SIZE);
			*pp = m->next;
			free(m);
		}
		if (!w)
			continue; /* no connection: dropped */
		w->buf = uv_buf_init((char *)w->data, (unsigned)(count * DLM_MSG_SIZE));
		int rc = uv_write(&w->req, p->stream, &w->buf, 1, on_written);
		if (rc < 0) {
			log_debug("dlm", "write to n%u: %s", to, uv_strerror(rc));
			free(w);
		}
	}
}

int dlm_uv_create(uv_loop_t *loop, struct dlm_uv **out)
{
	struct dlm_uv *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->loop = loop;
	u->peers = calloc(DLM_UV_MAX_PEERS, sizeof(*u->peers));
	if (!u->peers) {
		free(u);
		return -ENOMEM;
	}
	pthread_mutex_init(&u->mu, NULL);
	int rc = uv_async_init(loop, &u->async, on_async);
	if (rc < 0) {
		pthread_mutex_destroy(&u->mu);
		free(u->peers);
		free(u);
		return rc;
	}
	u->async.data = u;
	u->open_handles = 1;
	*out = u;
	return 0;
}

void dlm_uv_set_lockspace(struct dlm_uv *u, struct dlm_ls *ls)
{
	u->ls = ls;
}

int dlm_uv_send(void *arg, uint32_t to, const uint8_t msg[DLM_MSG_SIZE])
{
	struct dlm_uv *u = arg;
	struct outmsg *m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->to = to;
	memcpy(m->buf, msg, DLM_MSG_SIZE);
	pthread_mutex_lock(&u->mu);
	if (u->tail)
		u->tail->next = m;
	else
		u->head = m;
	u->tail = m;
	pthread_mutex_unlock(&u->mu);
	uv_async_send(&u->async);
	return 0;
}

int dlm_uv_attach(struct dlm_uv *u, uint32_t node, uv_stream_t *stream)
{
	if (!u->ls || u->closing)
		return -EINVAL;
	struct peer *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->u = u;
	p->node = node;
	p->stream = stream;
	stream->data = p;
	struct peer **s = slot(u, node);
	if (*s)
		peer_close(*s);
	*s = p;
	u->open_handles++;
	int rc = uv_read_start(stream, on_alloc, on_read);
	if (rc < 0) {
		peer_close(p);
		return rc;
	}
	return 0;
}

bool dlm_uv_connected(struct dlm_uv *u, uint32_t node)
{
	struct peer *p = *slot(u, node);
	return p && p->node == node && !p->closing;
}

void dlm_uv_detach(struct dlm_uv *u, uint32_t node)
{
	struct peer *p = *slot(u, node);
	if (p && p->node == node)
		peer_close(p);
}

void dlm_uv_close(struct dlm_uv *u, void (*done)(void *arg), void *arg)
{
	u->closing = true;
	u->done = done;
	u->done_arg = arg;
	for (size_t i = 0; i < DLM_UV_MAX_PEERS; i++)
		if (u->peers[i])
			peer_close(u->peers[i]);
	uv_close((uv_handle_t *)&u->async, on_handle_closed);
}
