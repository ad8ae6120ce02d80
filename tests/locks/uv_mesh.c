/* See uv_mesh.h. */
#include "uv_mesh.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MESH_MUST(expr)                                                                            \
	do {                                                                                       \
		if (!(expr)) {                                                                     \
			fprintf(stderr, "uv_mesh: %s failed at %s:%d\n", #expr, __FILE__,          \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct mesh_node mesh_nodes[MESH_MAX + 1];
static atomic_int attached;

struct conn {
	struct mesh_node *self;
	uv_tcp_t *tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	uint8_t buf[4];
	size_t have;
	uint32_t peer;
	bool acceptor;
};

static void conn_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
	(void)s;
	struct conn *c = h->data;
	b->base = (char *)c->buf + c->have;
	b->len = (c->acceptor ? 4 : 1) - c->have;
}

static void conn_attach(struct conn *c)
{
	uv_read_stop((uv_stream_t *)c->tcp);
	/* As sanfsd does (node/dlm_node.c): without it Nagle's algorithm and
	 * delayed ACKs hold back a message that follows another by ~40 ms. */
	uv_tcp_nodelay(c->tcp, 1);
	MESH_MUST(dlm_uv_attach(c->self->uv, c->peer, (uv_stream_t *)c->tcp) == 0);
	atomic_fetch_add(&attached, 1);
	free(c);
}

static void ack_written(uv_write_t *w, int status)
{
	MESH_MUST((status) == (0));
	conn_attach(w->data);
}

/* Acceptor reads the 4-byte node id and answers one byte; the connector
 * waits for that byte, so no DLM message comes before both are attached. */
static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	(void)b;
	struct conn *c = s->data;
	MESH_MUST((n) >= (0));
	c->have += (size_t)n;
	if (c->acceptor && c->have == 4) {
		memcpy(&c->peer, c->buf, 4);
		uv_read_stop(s);
		static const char ack = 'k';
		uv_buf_t buf = uv_buf_init((char *)&ack, 1);
		c->wreq.data = c;
		MESH_MUST(uv_write(&c->wreq, s, &buf, 1, ack_written) == 0);
	} else if (!c->acceptor && c->have == 1) {
		conn_attach(c);
	}
}

static void on_connection(uv_stream_t *server, int status)
{
	MESH_MUST((status) == (0));
	struct mesh_node *nd = server->data;
	struct conn *c = calloc(1, sizeof(*c));
	c->self = nd;
	c->acceptor = true;
	c->tcp = malloc(sizeof(*c->tcp));
	uv_tcp_init(&nd->loop, c->tcp);
	c->tcp->data = c;
	MESH_MUST(uv_accept(server, (uv_stream_t *)c->tcp) == 0);
	uv_read_start((uv_stream_t *)c->tcp, conn_alloc, conn_read);
}

static void id_written(uv_write_t *w, int status)
{
	MESH_MUST((status) == (0));
	struct conn *c = w->data;
	uv_read_start((uv_stream_t *)c->tcp, conn_alloc, conn_read);
}

static void on_connect(uv_connect_t *req, int status)
{
	MESH_MUST((status) == (0));
	struct conn *c = req->data;
	memcpy(c->buf, &c->self->id, 4);
	uv_buf_t buf = uv_buf_init((char *)c->buf, 4);
	c->wreq.data = c;
	MESH_MUST(uv_write(&c->wreq, (uv_stream_t *)c->tcp, &buf, 1, id_written) == 0);
}

static void closed_listener(uv_handle_t *h)
{
	(void)h;
}

static void uv_closed(void *arg)
{
	struct mesh_node *nd = arg;
	uv_close((uv_handle_t *)&nd->listener, closed_listener);
	uv_close((uv_handle_t *)&nd->stop, NULL);
}

static void on_stop(uv_async_t *a)
{
	struct mesh_node *nd = a->data;
	dlm_uv_close(nd->uv, uv_closed, nd);
}

static void *loop_main(void *arg)
{
	struct mesh_node *nd = arg;
	uv_run(&nd->loop, UV_RUN_DEFAULT);
	return NULL;
}

void mesh_start(int n)
{
	atomic_store(&attached, 0);
	for (int i = 1; i <= n; i++) {
		struct mesh_node *nd = &mesh_nodes[i];
		memset(nd, 0, sizeof(*nd));
		nd->id = (uint32_t)i;
		uv_loop_init(&nd->loop);
		MESH_MUST(dlm_uv_create(&nd->loop, &nd->uv) == 0);
		struct dlm_ls_ops ops = {dlm_uv_send, nd->uv};
		MESH_MUST(dlm_ls_create(nd->id, &ops, &nd->ls) == 0);
		dlm_uv_set_lockspace(nd->uv, nd->ls);
		uv_tcp_init(&nd->loop, &nd->listener);
		nd->listener.data = nd;
		struct sockaddr_in a;
		uv_ip4_addr("127.0.0.1", 0, &a);
		MESH_MUST(uv_tcp_bind(&nd->listener, (struct sockaddr *)&a, 0) == 0);
		MESH_MUST(uv_listen((uv_stream_t *)&nd->listener, 16, on_connection) == 0);
		struct sockaddr_in got;
		int len = sizeof(got);
		uv_tcp_getsockname(&nd->listener, (struct sockaddr *)&got, &len);
		nd->port = ntohs(got.sin_port);
		uv_async_init(&nd->loop, &nd->stop, on_stop);
		nd->stop.data = nd;
	}
	for (int j = 2; j <= n; j++)
		for (int i = 1; i < j; i++) {
			struct conn *c = calloc(1, sizeof(*c));
			c->self = &mesh_nodes[j];
			c->peer = (uint32_t)i;
			c->tcp = malloc(sizeof(*c->tcp));
			uv_tcp_init(&mesh_nodes[j].loop, c->tcp);
			c->tcp->data = c;
			c->creq.data = c;
			struct sockaddr_in a;
			uv_ip4_addr("127.0.0.1", mesh_nodes[i].port, &a);
			MESH_MUST(uv_tcp_connect(&c->creq, c->tcp, (struct sockaddr *)&a,
						 on_connect) == 0);
		}
	for (int i = 1; i <= n; i++)
		pthread_create(&mesh_nodes[i].thread, NULL, loop_main, &mesh_nodes[i]);
	for (int t = 0; t < 5000 && atomic_load(&attached) < n * (n - 1); t++)
		usleep(1000);
	MESH_MUST((atomic_load(&attached)) == (n * (n - 1)));
	uint32_t members[MESH_MAX];
	for (int i = 0; i < n; i++)
		members[i] = (uint32_t)(i + 1);
	for (int i = 1; i <= n; i++)
		MESH_MUST(dlm_ls_set_members(mesh_nodes[i].ls, 1, members, (size_t)n) == 0);
	for (int t = 0; t < 5000; t++) {
		bool done = true;
		for (int i = 1; i <= n; i++) {
			struct dlm_ls_stats st;
			dlm_ls_get_stats(mesh_nodes[i].ls, &st);
			done = done && !st.recovering;
		}
		if (done)
			return;
		usleep(1000);
	}
	MESH_MUST(!"recovery over TCP did not finish");
}

void mesh_stop(int n)
{
	for (int i = 1; i <= n; i++)
		uv_async_send(&mesh_nodes[i].stop);
	for (int i = 1; i <= n; i++) {
		pthread_join(mesh_nodes[i].thread, NULL);
		dlm_ls_destroy(mesh_nodes[i].ls);
		MESH_MUST((uv_loop_close(&mesh_nodes[i].loop)) == (0));
	}
}
