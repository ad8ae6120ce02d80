/* Integration tests of consensus/ under faults and special paths: garbage
 * bytes and half-open connections on the Raft port, worker-thread wrappers,
 * leadership hand-over, a corrupt raft log (auto-recovery off), a state
 * directory on tmpfs. Real libraft, real TCP on 127.0.0.1, /var/tmp. */
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/consensus/cluster_util.h"

/* ---- garbage and half-open connections on the Raft port ---------------- */

struct raw {
	uv_tcp_t tcp;
	uv_connect_t conn;
	uv_write_t w;
	char buf[4096];
	bool connected, closed;
	int nread_total;
	bool eof;
};

static void raw_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
	struct raw *r = h->data;
	(void)s;
	b->base = r->buf;
	b->len = sizeof(r->buf);
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct raw *r = s->data;
	(void)b;
	if (n < 0)
		r->eof = true;
	else
		r->nread_total += (int)n;
}

static void raw_connected(uv_connect_t *c, int status)
{
	struct raw *r = c->data;
	r->connected = status == 0;
	if (r->connected)
		uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read);
}

static void raw_written(uv_write_t *w, int status)
{
	(void)w;
	(void)status;
}

static void raw_closed(uv_handle_t *h)
{
	((struct raw *)h->data)->closed = true;
}

static bool raw_is_connected(void *arg)
{
	return ((struct raw *)arg)->connected;
}

static bool raw_eof(void *arg)
{
	return ((struct raw *)arg)->eof;
}

static void raw_connect(struct raw *r, const char *addr)
{
	struct sockaddr_in sa;
	char host[32];
	int port;
	sscanf(addr, "%31[^:]:%d", host, &port);
	uv_ip4_addr(host, port, &sa);
	memset(r, 0, sizeof(*r));
	uv_tcp_init(&loop, &r->tcp);
	r->tcp.data = r;
	r->conn.data = r;
	ck_assert_int_eq(uv_tcp_connect(&r->conn, &r->tcp, (struct sockaddr *)&sa, raw_connected),
			 0);
	ck_assert(wait_for(raw_is_connected, r, 2000));
}

static bool raw_is_closed(void *arg)
{
	return ((struct raw *)arg)->closed;
}

START_TEST(garbage_and_half_open)
{
	struct raw g, h, big;
	unsigned seed = (unsigned)time(NULL);
	printf("garbage seed %u\n", seed);
	make_cluster(3);
	int li = leader();

	/* Garbage: dropped by the handshake (EOF seen by us). */
	raw_connect(&g, nodes[li].addr);
	for (size_t i = 0; i < sizeof(g.buf); i++)
		g.buf[i] = (char)rand_r(&seed);
	uv_buf_t b = uv_buf_init(g.buf, sizeof(g.buf));
	uv_write(&g.w, (uv_stream_t *)&g.tcp, &b, 1, raw_written);
	ck_assert_msg(wait_for(raw_eof, &g, 3000), "garbage connection not dropped");
	/* A well-formed HELLO with the wrong cluster id: dropped. */
	raw_connect(&big, nodes[li].addr);
	memcpy(big.buf, "SNA1", 4);
	memset(big.buf + 4, 0x42, AUTH_HELLO_BYTES - 4);
	uv_buf_t b2 = uv_buf_init(big.buf, AUTH_HELLO_BYTES);
	uv_write(&big.w, (uv_stream_t *)&big.tcp, &b2, 1, raw_written);
	ck_assert_msg(wait_for(raw_eof, &big, 3000), "wrong cluster id not dropped");
	/* Half-open: connect and say nothing; the loop keeps running, commands
	 * still commit meanwhile, and the server drops it after its time-out. */
	raw_connect(&h, nodes[li].addr);
	struct cons_cmd c = device_cmd(9, "x");
	ck_assert_int_gt(propose(li, &c), 0);
	ck_assert_msg(wait_for(raw_eof, &h, 4000), "half-open connection not dropped");
	ck_assert_int_eq(h.nread_total, 0); /* the server sent nothing: it waits for HELLO */
	ck_assert(cons_is_authoritative(nodes[li].c));
	c = device_cmd(10, "y");
	ck_assert_int_gt(propose(li, &c), 0);
	uv_close((uv_handle_t *)&g.tcp, raw_closed);
	uv_close((uv_handle_t *)&h.tcp, raw_closed);
	uv_close((uv_handle_t *)&big.tcp, raw_closed);
	ck_assert(wait_for(raw_is_closed, &g, 1000));
	ck_assert(wait_for(raw_is_closed, &h, 1000));
	ck_assert(wait_for(raw_is_closed, &big, 1000));
}
END_TEST

static void handover_cb(void *data, int status)
{
	struct done *d = data;
	d->fired = true;
	d->status = status;
}

/* A planned stop: the leader hands over, another member leads at once (well
 * within an election time-out), and the new one becomes ADM. The election
 * time-out is long (3 s, randomised up to 6 s) so that "at once" is told
 * apart from an election after the leader's silence on a loaded machine. */
START_TEST(graceful_handover)
{
	static struct done d;
	election_timeout_ms = 3000;
	make_cluster(3);
	int li = leader();
	int fo = (li + 1) % 3;
	ck_assert_int_eq(cons_handover(nodes[fo].c, handover_cb, &d), -EREMOTE);
	uint64_t t0 = now_ms();
	ck_assert_int_eq(cons_handover(nodes[li].c, handover_cb, &d), 0);
	ck_assert(wait_for(fired, &d, 3000));
	ck_assert_int_eq(d.status, 0);
	node_stop(li);
	ck_assert(wait_for(has_adm, NULL, 3000));
	uint64_t took = now_ms() - t0;
	printf("handover: new ADM after %llu ms\n", (unsigned long long)took);
	ck_assert_uint_lt(took, election_timeout_ms);
	ck_assert_uint_ne(nodes[leader()].id, nodes[li].id);
}
END_TEST

START_TEST(handover_alone)
{
	make_cluster(1);
	static struct done d;
	ck_assert_int_eq(cons_handover(nodes[0].c, handover_cb, &d), -ENOENT);
}
END_TEST

/* Blocking wrappers from a worker thread while the loop runs. */
struct worker_arg {
	struct cons *c;
	int rc_prop, rc_bar, rc_loop;
	int64_t result;
	bool done;
};

static void *worker(void *p)
{
	struct worker_arg *a = p;
	struct cons_cmd c = device_cmd(7, "w");
	a->rc_prop = cons_propose_wait(a->c, &c, 5000, &a->result);
	a->rc_bar = cons_barrier_wait(a->c, 5000);
	__atomic_store_n(&a->done, true, __ATOMIC_SEQ_CST);
	return NULL;
}

static bool worker_done(void *p)
{
	return __atomic_load_n(&((struct worker_arg *)p)->done, __ATOMIC_SEQ_CST);
}

START_TEST(worker_thread_wrappers)
{
	pthread_t t;
	struct worker_arg a = {0};
	make_cluster(1);
	a.c = nodes[0].c;
	/* On the loop thread the blocking calls refuse instead of deadlocking. */
	ck_assert_int_eq(cons_barrier_wait(a.c, 100), -EDEADLK);
	ck_assert_int_eq(pthread_create(&t, NULL, worker, &a), 0);
	ck_assert(wait_for(worker_done, &a, 10000));
	pthread_join(t, NULL);
	ck_assert_int_eq(a.rc_prop, 0);
	ck_assert_int_gt(a.result, 0);
	ck_assert_int_eq(a.rc_bar, 0);
	struct cons_device *d;
	size_t n;
	ck_assert_int_eq(cons_get_devices(a.c, &d, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(d[0].label, "w");
	free(d);
}
END_TEST

void __lsan_disable(void) __attribute__((weak));
void __lsan_enable(void) __attribute__((weak));

/* DESIGN §4: auto-recovery of corrupt segments is off: a corrupt closed
 * segment makes start fail (with an ALERT line) every time, and the segment
 * stays on disk for the operator instead of being deleted. */
START_TEST(corrupt_log_fails_start)
{
	struct cons_config cfg;
	char d[300], seg[600] = "";
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = 1;
	cfg.address = nodes[0].addr;
	cfg.state_dir = nodes[0].dir;
	cfg.key = key;
	ck_assert_int_eq(cons_open(&loop, &cfg, &nodes[0].c), 0);
	ck_assert_int_eq(cons_bootstrap(nodes[0].c), 0);
	ck_assert_int_eq(cons_start(nodes[0].c), 0);
	ck_assert(wait_for(has_adm, NULL, 5000));
	for (int k = 0; k < 20; k++) {
		struct cons_cmd c = device_cmd((uint8_t)(k + 1), "d");
		snprintf(c.u.device.label, sizeof(c.u.device.label), "d%d", k);
		ck_assert_int_gt(propose(0, &c), 0);
	}
	/* A second start turns the open segment into a closed one. */
	node_stop(0);
	ck_assert_int_eq(cons_open(&loop, &cfg, &nodes[0].c), 0);
	ck_assert_int_eq(cons_start(nodes[0].c), 0);
	ck_assert(wait_for(has_adm, NULL, 5000));
	node_stop(0);
	snprintf(d, sizeof(d), "%s/raft", nodes[0].dir);
	DIR *dir = opendir(d);
	struct dirent *e;
	ck_assert_ptr_nonnull(dir);
	while ((e = readdir(dir))) {
		unsigned long long a, b;
		char tail;
		if (sscanf(e->d_name, "%llu-%llu%c", &a, &b, &tail) == 2 && b - a >= 10)
			snprintf(seg, sizeof(seg), "%s/%s", d, e->d_name);
	}
	closedir(dir);
	ck_assert_msg(seg[0], "no closed segment with 10+ entries");
	FILE *f = fopen(seg, "r+b");
	ck_assert_ptr_nonnull(f);
	fseek(f, 200, SEEK_SET);
	int ch = fgetc(f);
	fseek(f, 200, SEEK_SET);
	fputc(ch ^ 0x5a, f);
	fclose(f);
	for (int round = 0; round < 2; round++) {
		ck_assert_int_eq(cons_open(&loop, &cfg, &nodes[0].c), 0);
		/* libraft 0.15 leaks the entries loaded before the corrupt
		 * segment on this error path (its own "TODO: release memory"
		 * in uv_segment.c); not ours, so not reported under LSan. */
		if (__lsan_disable)
			__lsan_disable();
		int rc = cons_start(nodes[0].c);
		if (__lsan_enable)
			__lsan_enable();
		ck_assert_int_eq(rc, -EUCLEAN);
		node_stop(0);
		ck_assert_int_eq(access(seg, F_OK), 0); /* not deleted */
	}
}
END_TEST

START_TEST(refuses_tmpfs)
{
	struct cons_config cfg;
	struct cons *c = NULL;
	if (access("/dev/shm", W_OK) != 0) {
		printf("no writable /dev/shm: skipping the tmpfs check\n");
		return;
	}
	char dir[] = "/dev/shm/sanfs-cons-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = 1;
	cfg.address = "127.0.0.1:1";
	cfg.state_dir = dir;
	cfg.key = key;
	ck_assert_int_eq(cons_open(&loop, &cfg, &c), -EINVAL);
	ck_assert_ptr_null(c);
	rmdir(dir);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("consensus-faults");
	TCase *tc = tcase_create("cluster");
	tcase_add_checked_fixture(tc, cluster_setup, cluster_teardown);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, garbage_and_half_open);
	tcase_add_test(tc, worker_thread_wrappers);
	tcase_add_test(tc, graceful_handover);
	tcase_add_test(tc, handover_alone);
	tcase_add_test(tc, corrupt_log_fails_start);
	tcase_add_test(tc, refuses_tmpfs);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cluster_main(suite(), "sanfs-cons-ft");
}
