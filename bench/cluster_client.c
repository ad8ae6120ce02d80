/* bench/cluster_client: the load generator of bench/cluster_bench.sh (issue 3
 * point 6). A benchmark, never a test.
 *
 *   cluster_client sanfs SOCKET    update|query CLIENTS SECONDS MAXOPS [DEPTH]
 *   cluster_client etcd  HOST:PORT update|query CLIENTS SECONDS MAXOPS [DEPTH]
 *
 * CLIENTS threads each open ONE persistent connection before the clock
 * starts (sanfs: the node's admin Unix socket, newline-delimited JSON; etcd:
 * a TCP HTTP/1.1 keep-alive connection to the JSON gateway on 127.0.0.1) and
 * then run closed loops, one request in flight per connection, until SECONDS
 * pass or MAXOPS requests (over all clients) are done. The same code path
 * (write request, read one full reply, check it) serves both systems; only
 * the framing differs (one JSON line vs. an HTTP/1.1 message).
 *
 *   update: sanfs `config.add` of a new row "c<client>.<pid>:<seq>" to key
 *           "bench<client>" (a committed Raft update through the ADM);
 *           etcd `POST /v3/kv/put` of key "bench/<client>.<pid>/<seq>" = "x".
 *   query:  sanfs `config.query` of key "benchq" with pattern "k1:*" (one
 *           row, served from the node's local copy, stale-tolerant);
 *           etcd `POST /v3/kv/range` of key "benchq/k1" with
 *           "serializable": true (served by the member's local store).
 *
 * Every reply is checked (sanfs "ok":true and a non-empty row list, etcd
 * HTTP 200 and a "kvs" entry for reads); the first failure is printed and
 * counted. Output, one line on stdout:
 *   OPS SECONDS OPS_PER_S P50_MS P99_MS ERRORS
 * DEPTH (queries only, default 1): each client writes DEPTH identical
 * requests at once and then reads the DEPTH replies (sanfs: pipelined JSON
 * lines; etcd: HTTP/1.1 pipelining); OPS counts every request and the
 * latencies are those of whole batches.
 * Exit status 1 on any error. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

enum kind { K_SANFS, K_ETCD };
enum mode { M_UPDATE, M_QUERY };

struct conn {
	int fd;
	size_t have, off;
	char buf[65536];
};

struct worker {
	pthread_t th;
	int id;
	struct conn c;
	uint64_t *lat; /* nanoseconds */
	size_t n, cap;
	unsigned errors;
	char err[256];
};

static enum kind g_kind;
static enum mode g_mode;
static const char *g_target;
static char g_host[64];
static int g_port;
static int g_depth = 1; /* queries in flight per connection (pipelined) */
static uint64_t g_deadline_ns;
static long g_maxops;
static long g_done; /* atomic */
static pthread_barrier_t g_start;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int conn_open(struct conn *c)
{
	c->have = c->off = 0;
	if (g_kind == K_SANFS) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		if (strlen(g_target) >= sizeof(a.sun_path))
			return -ENAMETOOLONG;
		strcpy(a.sun_path, g_target);
		c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0)
			return -errno;
		if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)))
			return -errno;
		return 0;
	}
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
	if (inet_pton(AF_INET, g_host, &a.sin_addr) != 1)
		return -EINVAL;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)))
		return -errno;
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EPIPE;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Make at least need bytes available from c->off; compacts the buffer. */
static int fill(struct conn *c, size_t need)
{
	if (need > sizeof(c->buf))
		return -EMSGSIZE;
	if (c->off + need > sizeof(c->buf)) {
		memmove(c->buf, c->buf + c->off, c->have - c->off);
		c->have -= c->off;
		c->off = 0;
	}
	while (c->have - c->off < need) {
		ssize_t r = read(c->fd, c->buf + c->have, sizeof(c->buf) - c->have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ECONNRESET;
		c->have += (size_t)r;
	}
	return 0;
}

/* Find delim in the unread bytes, reading more as needed. Returns the length
 * of the message including delim in *len; the message starts at c->off. */
static int read_until(struct conn *c, const char *delim, size_t *len)
{
	size_t dl = strlen(delim), scanned = 0;
	for (;;) {
		size_t avail = c->have - c->off;
		if (avail >= dl) {
			char *p = memmem(c->buf + c->off + scanned, avail - scanned, delim, dl);
			if (p) {
				*len = (size_t)(p - (c->buf + c->off)) + dl;
				return 0;
			}
			scanned = avail - dl + 1;
		}
		int rc = fill(c, avail + 1);
		if (rc)
			return rc;
	}
}

/* sanfs: one request line, one reply line. The reply is copied to out. */
static bool sanfs_ok(const char *r)
{
	return strstr(r, "\"ok\":true") || strstr(r, "\"ok\": true");
}

/* sanfs: depth copies of one request line written at once (depth 1: a plain
 * round trip), then depth reply lines, each checked for "ok":true and for
 * must (may be NULL). The last (or the failing) reply is copied to out.
 * Returns 0, -EBADMSG for a failed reply, or another negative errno. */
static int sanfs_call(struct conn *c, const char *req, size_t reqlen, int depth, const char *must,
		      char *out, size_t outlen)
{
	static __thread char batch[64 * 512];
	if ((size_t)depth * reqlen > sizeof(batch))
		return -EMSGSIZE;
	for (int i = 0; i < depth; i++)
		memcpy(batch + (size_t)i * reqlen, req, reqlen);
	int rc = write_all(c->fd, batch, (size_t)depth * reqlen);
	for (int i = 0; !rc && i < depth; i++) {
		size_t len;
		if ((rc = read_until(c, "\n", &len)))
			break;
		size_t n = len < outlen ? len : outlen - 1;
		memcpy(out, c->buf + c->off, n);
		out[n] = 0;
		c->off += len;
		if (!sanfs_ok(out) || (must && !strstr(out, must)))
			rc = -EBADMSG;
	}
	return rc;
}

/* etcd: one HTTP/1.1 POST, the full response (Content-Length or chunked).
 * Body copied to out; returns the HTTP status or a negative errno. */
static int http_send(struct conn *c, const char *path, const char *body, int depth)
{
	char req[1024];
	static __thread char batch[64 * 1024];
	int n = snprintf(req, sizeof(req),
			 "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n%s",
			 path, g_host, g_port, strlen(body), body);
	if (n < 0 || (size_t)n >= sizeof(req) || (size_t)depth * (size_t)n > sizeof(batch))
		return -EMSGSIZE;
	for (int i = 0; i < depth; i++)
		memcpy(batch + (size_t)i * (size_t)n, req, (size_t)n);
	return write_all(c->fd, batch, (size_t)depth * (size_t)n);
}

static int http_read(struct conn *c, char *out, size_t outlen)
{
	size_t hlen;
	int rc = read_until(c, "\r\n\r\n", &hlen);
	if (rc)
		return rc;
	char hdr[4096];
	if (hlen >= sizeof(hdr))
		return -EMSGSIZE;
	memcpy(hdr, c->buf + c->off, hlen);
	hdr[hlen] = 0;
	c->off += hlen;
	int status = 0;
	if (sscanf(hdr, "HTTP/1.%*d %d", &status) != 1)
		return -EPROTO;
	long clen = -1;
	bool chunked = false;
	for (char *l = strstr(hdr, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
		if (!strncasecmp(l + 2, "Content-Length:", 15))
			clen = strtol(l + 17, NULL, 10);
		else if (!strncasecmp(l + 2, "Transfer-Encoding:", 18) && strcasestr(l, "chunked"))
			chunked = true;
	}
	size_t got = 0;
	if (chunked) {
		for (;;) {
			size_t ll;
			if ((rc = read_until(c, "\r\n", &ll)))
				return rc;
			long sz = strtol(c->buf + c->off, NULL, 16);
			c->off += ll;
			if ((rc = fill(c, (size_t)sz + 2)))
				return rc;
			size_t k = got + (size_t)sz < outlen ? (size_t)sz : outlen - 1 - got;
			memcpy(out + got, c->buf + c->off, k);
			got += k;
			c->off += (size_t)sz + 2;
			if (sz == 0)
				break;
		}
	} else {
		if (clen < 0)
			return -EPROTO;
		if ((rc = fill(c, (size_t)clen)))
			return rc;
		got = (size_t)clen < outlen ? (size_t)clen : outlen - 1;
		memcpy(out, c->buf + c->off, got);
		c->off += (size_t)clen;
	}
	out[got] = 0;
	return status;
}

static const char *b64(const char *s, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(s), o = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned char)s[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)s[i + 2];
		out[o++] = t[(v >> 18) & 63];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = 0;
	return out;
}

static int http_post(struct conn *c, const char *path, const char *body, char *out, size_t outlen)
{
	int rc = http_send(c, path, body, 1);
	return rc ? rc : http_read(c, out, outlen);
}

/* One operation; 0 or an error text in w->err. */
static int one_op(struct worker *w, long seq)
{
	char req[512], rep[8192], k[128], kb[256], vb[16];
	int rc;
	if (g_kind == K_SANFS) {
		int n;
		if (g_mode == M_UPDATE)
			n = snprintf(
			    req, sizeof(req),
			    "{\"op\":\"config.add\",\"key\":\"bench%d\",\"row\":\"c%d.%d:%ld\"}\n",
			    w->id, w->id, (int)getpid(), seq);
		else
			n = snprintf(
			    req, sizeof(req),
			    "{\"op\":\"config.query\",\"key\":\"benchq\",\"pattern\":\"k1:*\"}\n");
		rc = sanfs_call(&w->c, req, (size_t)n, g_mode == M_QUERY ? g_depth : 1,
				g_mode == M_QUERY ? "\"k1:v1\"" : NULL, rep, sizeof(rep));
		if (rc == -EBADMSG) {
			snprintf(w->err, sizeof(w->err), "sanfs reply: %.200s", rep);
			return -1;
		}
		if (rc) {
			snprintf(w->err, sizeof(w->err), "admin socket: %s", strerror(-rc));
			return -1;
		}
		return 0;
	}
	if (g_mode == M_UPDATE) {
		snprintf(k, sizeof(k), "bench/%d.%d/%ld", w->id, (int)getpid(), seq);
		snprintf(req, sizeof(req), "{\"key\":\"%s\",\"value\":\"%s\"}", b64(k, kb),
			 b64("x", vb));
		rc = http_post(&w->c, "/v3/kv/put", req, rep, sizeof(rep));
	} else {
		snprintf(req, sizeof(req), "{\"key\":\"%s\",\"serializable\":true}",
			 b64("benchq/k1", kb));
		rc = http_send(&w->c, "/v3/kv/range", req, g_depth);
		for (int i = 0; !rc && i < g_depth; i++)
			if ((rc = http_read(&w->c, rep, sizeof(rep))) == 200)
				rc = strstr(rep, "\"kvs\"") ? 0 : -EBADMSG;
		if (rc == -EBADMSG)
			rc = 200;
		else if (!rc)
			return 0;
	}
	if (rc < 0) {
		snprintf(w->err, sizeof(w->err), "etcd connection: %s", strerror(-rc));
		return -1;
	}
	if (rc != 200 || (g_mode == M_QUERY && !strstr(rep, "\"kvs\""))) {
		snprintf(w->err, sizeof(w->err), "etcd HTTP %d: %.200s", rc, rep);
		return -1;
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	pthread_barrier_wait(&g_start);
	for (long seq = 1;; seq++) {
		if (__atomic_fetch_add(&g_done, 1, __ATOMIC_RELAXED) >= g_maxops)
			break;
		uint64_t t = now_ns();
		if (t >= g_deadline_ns)
			break;
		if (one_op(w, seq)) {
			w->errors++;
			break; /* a broken connection or a refused op ends this client */
		}
		if (w->n == w->cap) {
			w->cap = w->cap ? 2 * w->cap : 4096;
			uint64_t *p = realloc(w->lat, w->cap * sizeof(*p));
			if (!p) {
				snprintf(w->err, sizeof(w->err), "out of memory");
				w->errors++;
				break;
			}
			w->lat = p;
		}
		w->lat[w->n++] = now_ns() - t;
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Prepare what the measured ops need, on a connection of its own. */
static int setup(int clients)
{
	struct worker s = {.id = 0};
	int rc = conn_open(&s.c);
	if (rc) {
		fprintf(stderr, "cluster_client: connect %s: %s\n", g_target, strerror(-rc));
		return -1;
	}
	char req[512], rep[8192];
	if (g_kind == K_SANFS) {
		if (g_mode == M_UPDATE) {
			for (int i = 1; i <= clients; i++) {
				int n = snprintf(req, sizeof(req),
						 "{\"op\":\"config.format\",\"key\":\"bench%d\","
						 "\"format\":\"client:seq\"}\n",
						 i);
				if (sanfs_call(&s.c, req, (size_t)n, 1, NULL, rep, sizeof(rep))) {
					fprintf(stderr, "cluster_client: format: %s\n", rep);
					return -1;
				}
			}
		} else {
			const char *r[] = {
			    "{\"op\":\"config.format\",\"key\":\"benchq\",\"format\":\"name:"
			    "value\"}\n",
			    "{\"op\":\"config.add\",\"key\":\"benchq\",\"row\":\"k1:v1\"}\n"};
			for (int i = 0; i < 2; i++)
				if ((sanfs_call(&s.c, r[i], strlen(r[i]), 1, NULL, rep,
						sizeof(rep)) &&
				     !strstr(rep, "exists"))) {
					fprintf(stderr, "cluster_client: setup: %s\n", rep);
					return -1;
				}
		}
	} else if (g_mode == M_QUERY) {
		char kb[64], vb[16];
		snprintf(req, sizeof(req), "{\"key\":\"%s\",\"value\":\"%s\"}",
			 b64("benchq/k1", kb), b64("v1", vb));
		if (http_post(&s.c, "/v3/kv/put", req, rep, sizeof(rep)) != 200) {
			fprintf(stderr, "cluster_client: etcd setup put: %s\n", rep);
			return -1;
		}
	}
	/* The queried node may be a follower: wait (5 s at most) until the row
	 * has reached its local copy, with the very op that is measured. */
	if (g_mode == M_QUERY) {
		int i;
		for (i = 0; i < 500 && one_op(&s, 0); i++)
			usleep(10000);
		if (i == 500) {
			fprintf(stderr, "cluster_client: query setup: %s\n", s.err);
			return -1;
		}
	}
	close(s.c.fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 7 && argc != 8) {
		fprintf(stderr, "usage: cluster_client sanfs|etcd SOCKET|HOST:PORT update|query "
				"CLIENTS SECONDS MAXOPS [DEPTH]\n");
		return 2;
	}
	if (!strcmp(argv[1], "sanfs"))
		g_kind = K_SANFS;
	else if (!strcmp(argv[1], "etcd"))
		g_kind = K_ETCD;
	else {
		fprintf(stderr, "cluster_client: kind must be sanfs or etcd\n");
		return 2;
	}
	g_target = argv[2];
	if (g_kind == K_ETCD && (sscanf(g_target, "%63[0-9.]:%d", g_host, &g_port) != 2 ||
				 g_port < 1 || g_port > 65535)) {
		fprintf(stderr, "cluster_client: etcd target must be IPV4:PORT\n");
		return 2;
	}
	if (!strcmp(argv[3], "update"))
		g_mode = M_UPDATE;
	else if (!strcmp(argv[3], "query"))
		g_mode = M_QUERY;
	else {
		fprintf(stderr, "cluster_client: mode must be update or query\n");
		return 2;
	}
	int clients = atoi(argv[4]);
	double secs = atof(argv[5]);
	g_maxops = atol(argv[6]);
	if (argc == 8)
		g_depth = atoi(argv[7]);
	if (g_depth < 1 || g_depth > 64 || (g_depth > 1 && g_mode != M_QUERY)) {
		fprintf(stderr, "cluster_client: DEPTH 1..64, queries only\n");
		return 2;
	}
	if (clients < 1 || clients > 256 || secs <= 0 || secs > 600 || g_maxops < 1) {
		fprintf(stderr, "cluster_client: CLIENTS 1..256, SECONDS 0..600, MAXOPS >= 1\n");
		return 2;
	}
	if (setup(clients))
		return 1;
	struct worker *w = calloc((size_t)clients, sizeof(*w));
	if (!w)
		return 1;
	pthread_barrier_init(&g_start, NULL, (unsigned)clients + 1);
	for (int i = 0; i < clients; i++) {
		w[i].id = i + 1;
		int rc = conn_open(&w[i].c);
		if (rc) {
			fprintf(stderr, "cluster_client: connect %s: %s\n", g_target,
				strerror(-rc));
			return 1;
		}
		if (pthread_create(&w[i].th, NULL, worker_main, &w[i])) {
			fprintf(stderr, "cluster_client: pthread_create failed\n");
			return 1;
		}
	}
	uint64_t t0 = now_ns();
	g_deadline_ns = t0 + (uint64_t)(secs * 1e9);
	pthread_barrier_wait(&g_start);
	size_t total = 0;
	unsigned errors = 0;
	for (int i = 0; i < clients; i++) {
		pthread_join(w[i].th, NULL);
		total += w[i].n;
		errors += w[i].errors;
		if (w[i].errors)
			fprintf(stderr, "cluster_client: client %d: %s\n", w[i].id, w[i].err);
	}
	double dt = (double)(now_ns() - t0) / 1e9;
	uint64_t *all = malloc((total ? total : 1) * sizeof(*all));
	if (!all)
		return 1;
	size_t k = 0;
	for (int i = 0; i < clients; i++) {
		memcpy(all + k, w[i].lat, w[i].n * sizeof(*all));
		k += w[i].n;
		close(w[i].c.fd);
		free(w[i].lat);
	}
	qsort(all, total, sizeof(*all), cmp_u64);
	double p50 = total ? (double)all[total / 2] / 1e6 : 0;
	double p99 = total ? (double)all[(size_t)((double)total * 0.99)] / 1e6 : 0;
	size_t ops = total * (size_t)g_depth;
	printf("%zu %.3f %.0f %.3f %.3f %u\n", ops, dt, (double)ops / dt, p50, p99, errors);
	free(all);
	free(w);
	return errors ? 1 : 0;
}
