/* node/admin: admin socket server on libuv. */
#include "node/admin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "node/admin_proto.h"

struct admin_client;

struct admin_srv {
	uv_loop_t *loop;
	uv_pipe_t listener;
	admin_handler_fn fn;
	void *data;
	struct admin_client *clients; /* list */
	unsigned nclients;
	unsigned allocated; /* clients not yet freed */
	int closing;
	int open_handles;
	uint64_t next_conn;
	admin_close_fn on_close;
	void *close_data;
};

struct admin_client {
	struct admin_srv *srv;
	struct admin_client *next, **pprev;
	uv_pipe_t pipe;
	uv_timer_t idle;
	char *buf;
	size_t len, cap;
	struct admin_req *pending;
	int closing;
	int open_handles;
	int close_after_write;
	int in_loop; /* client_process is running: replies are batched */
	char *out;   /* replies not yet handed to uv_write */
	size_t outlen, outcap;
	uint64_t conn; /* admin_req_conn */
	bool pinned;   /* holds locks: not closed for idleness */
};

struct admin_req {
	struct admin_client *client; /* NULL once the client went away */
	json_t *msg;
	uint64_t conn;
};

struct write_req {
	uv_write_t w;
	struct admin_client *c;
	char *data;
};

static void client_close(struct admin_client *c);
static void client_process(struct admin_client *c);

static void srv_maybe_free(struct admin_srv *srv)
{
	if (srv->closing && srv->open_handles == 0 && srv->allocated == 0)
		free(srv);
}

static void client_handle_closed(uv_handle_t *h)
{
	struct admin_client *c = h->data;
	if (--c->open_handles)
		return;
	struct admin_srv *srv = c->srv;
	free(c->buf);
	free(c->out);
	free(c);
	srv->allocated--;
	srv_maybe_free(srv);
}

static void client_close(struct admin_client *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	if (c->pending) {
		c->pending->client = NULL;
		c->pending = NULL;
	}
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	c->srv->nclients--;
	if (c->srv->on_close)
		c->srv->on_close(c->srv->close_data, c->conn);
	c->open_handles = 2;
	uv_close((uv_handle_t *)&c->pipe, client_handle_closed);
	uv_close((uv_handle_t *)&c->idle, client_handle_closed);
}

static void on_idle(uv_timer_t *t)
{
	struct admin_client *c = t->data;
	if (!c->pending && !c->pinned) {
		log_debug("admin", "closing idle admin connection");
		client_close(c);
	}
}

static void on_written(uv_write_t *w, int status)
{
	struct write_req *wr = (struct write_req *)w;
	struct admin_client *c = wr->c;
	free(wr->data);
	free(wr);
	if (c->closing)
		return;
	if (status < 0 || c->close_after_write) {
		client_close(c);
		return;
	}
}

/* Hand the batched replies to libuv (one write for many pipelined replies). */
static void client_flush(struct admin_client *c)
{
	if (!c->outlen || c->closing)
		return;
	struct write_req *wr = malloc(sizeof(*wr));
	if (!wr) {
		client_close(c);
		return;
	}
	wr->c = c;
	wr->data = c->out;
	uv_buf_t b = uv_buf_init(c->out, (unsigned)c->outlen);
	c->out = NULL;
	c->outlen = c->outcap = 0;
	if (uv_write(&wr->w, (uv_stream_t *)&c->pipe, &b, 1, on_written) < 0) {
		free(wr->data);
		free(wr);
		client_close(c);
	}
}

static void client_send(struct admin_client *c, json_t *reply)
{
	size_t len;
	char *line = reply ? aproto_dump_line(reply, &len) : NULL;
	json_decref(reply);
	if (!line) {
		client_close(c);
		return;
	}
	if (c->outlen + len > c->outcap) {
		size_t ncap = c->outcap ? c->outcap : 4096;
		while (ncap < c->outlen + len)
			ncap *= 2;
		char *nb = realloc(c->out, ncap);
		if (!nb) {
			free(line);
			client_close(c);
			return;
		}
		c->out = nb;
		c->outcap = ncap;
	}
	memcpy(c->out + c->outlen, line, len);
	c->outlen += len;
	free(line);
	if (!c->in_loop)
		client_flush(c);
}
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct admin_client *c = h->data;
	(void)suggested;
	if (c->cap - c->len < 4096) {
		size_t ncap = c->cap ? c->cap * 2 : 8192;
		if (ncap > ADMIN_LINE_MAX + 8192)
			ncap = ADMIN_LINE_MAX + 8192;
		char *nb = ncap > c->cap ? realloc(c->buf, ncap) : NULL;
		if (nb) {
			c->buf = nb;
			c->cap = ncap;
		}
	}
	*buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct admin_client *c = s->data;
	(void)buf;
	if (n < 0) {
		client_close(c);
		return;
	}
	if (n == 0)
		return;
	c->len += (size_t)n;
	uv_timer_again(&c->idle);
	client_process(c);
}

/* Handle the first complete line of the buffer, if any and if no request is
 * in flight. */
static void client_process(struct admin_client *c)
{
	char err[256];
	if (c->in_loop)
		return; /* the running loop picks the next request up */
	c->in_loop = 1;
	while (!c->closing && !c->pending && !c->close_after_write) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (!nl) {
			if (c->len > ADMIN_LINE_MAX ||
			    (c->len == c->cap && c->cap >= ADMIN_LINE_MAX)) {
				log_warn("admin", "admin request longer than %d bytes: closing",
					 ADMIN_LINE_MAX);
				c->close_after_write = 1;
				client_send(c, aproto_err(ADMIN_E_INVALID,
							  "request longer than %d bytes",
							  ADMIN_LINE_MAX));
			}
			break;
		}
		size_t linelen = (size_t)(nl - c->buf) + 1;
		json_t *msg;
		int rc = aproto_parse_request(c->buf, linelen, &msg, err, sizeof(err));
		memmove(c->buf, c->buf + linelen, c->len - linelen);
		c->len -= linelen;
		if (rc) {
			log_warn("admin", "bad admin request: %s", err);
			c->close_after_write = 1;
			client_send(c, aproto_err(ADMIN_E_INVALID, "%s", err));
			break;
		}
		struct admin_req *r = calloc(1, sizeof(*r));
		if (!r) {
			json_decref(msg);
			client_close(c);
			break;
		}
		r->client = c;
		r->msg = msg;
		r->conn = c->conn;
		c->pending = r;
		c->srv->fn(c->srv->data, r, msg); /* may reply at once */
	}
	c->in_loop = 0;
	if (c->closing)
		return;
	client_flush(c);
	if (c->closing)
		return;
	/* Read more only when nothing is in flight: bounded memory, and replies
	 * stay in request order. */
	if (c->pending || c->close_after_write)
		uv_read_stop((uv_stream_t *)&c->pipe);
	else
		uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}
json_t *admin_req_msg(struct admin_req *req)
{
	return req->msg;
}

void admin_reply(struct admin_req *req, json_t *reply)
{
	struct admin_client *c = req->client;
	json_decref(req->msg);
	free(req);
	if (!c) {
		json_decref(reply);
		return;
	}
	c->pending = NULL;
	if (!reply)
		reply = aproto_err(ADMIN_E_INTERNAL, "out of memory");
	client_send(c, reply);
	if (c->closing)
		return;
	uv_timer_again(&c->idle);
	/* Outside the loop (a reply that came later): go on with any
	 * pipelined request, and read again. */
	client_process(c);
}
static void on_connection(uv_stream_t *l, int status)
{
	struct admin_srv *srv = l->data;
	if (status < 0) {
		log_warn("admin", "accept: %s", uv_strerror(status));
		return;
	}
	struct admin_client *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->srv = srv;
	c->conn = ++srv->next_conn;
	srv->allocated++;
	uv_pipe_init(srv->loop, &c->pipe, 0);
	c->pipe.data = c;
	uv_timer_init(srv->loop, &c->idle);
	c->idle.data = c;
	c->next = srv->clients;
	if (c->next)
		c->next->pprev = &c->next;
	c->pprev = &srv->clients;
	srv->clients = c;
	srv->nclients++;
	if (uv_accept(l, (uv_stream_t *)&c->pipe) < 0 || srv->nclients > ADMIN_MAX_CLIENTS) {
		if (srv->nclients > ADMIN_MAX_CLIENTS)
			log_warn("admin", "more than %d admin connections: refusing one",
				 ADMIN_MAX_CLIENTS);
		client_close(c);
		return;
	}
	uv_timer_start(&c->idle, on_idle, ADMIN_IDLE_MS, ADMIN_IDLE_MS);
	uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

int admin_srv_start(uv_loop_t *loop, const char *path, admin_handler_fn fn, void *data,
		    struct admin_srv **out)
{
	struct admin_srv *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->loop = loop;
	srv->fn = fn;
	srv->data = data;
	int rc = uv_pipe_init(loop, &srv->listener, 0);
	if (rc) {
		free(srv);
		return rc;
	}
	srv->listener.data = srv;
	srv->open_handles = 1;
	unlink(path);
	mode_t old = umask(0177);
	rc = uv_pipe_bind(&srv->listener, path);
	umask(old);
	if (!rc && chmod(path, 0600))
		rc = -errno;
	if (!rc)
		rc = uv_listen((uv_stream_t *)&srv->listener, 64, on_connection);
	if (rc) {
		log_error("admin", "admin socket %s: %s", path, uv_strerror(rc));
		srv->closing = 1;
		uv_close((uv_handle_t *)&srv->listener, NULL);
		/* The listener struct lives in srv: free after the close callback
		 * would be cleaner; the loop has not run, so run it once here. */
		uv_run(loop, UV_RUN_NOWAIT);
		free(srv);
		return rc;
	}
	*out = srv;
	return 0;
}

static void listener_closed(uv_handle_t *h)
{
	struct admin_srv *srv = h->data;
	srv->open_handles--;
	srv_maybe_free(srv);
}

void admin_srv_stop(struct admin_srv *srv)
{
	if (!srv || srv->closing)
		return;
	srv->closing = 1;
	while (srv->clients)
		client_close(srv->clients);
	uv_close((uv_handle_t *)&srv->listener, listener_closed);
}

void admin_srv_on_close(struct admin_srv *srv, admin_close_fn fn, void *data)
{
	srv->on_close = fn;
	srv->close_data = data;
}

uint64_t admin_req_conn(const struct admin_req *req)
{
	return req->conn;
}

void admin_req_pin(struct admin_req *req, bool pinned)
{
	if (req->client)
		req->client->pinned = pinned;
}

unsigned admin_srv_clients(const struct admin_srv *srv)
{
	return srv->nclients;
}
