/* Integration tests of consensus/: 3 and 5 Raft members in one process over
 * the real libraft, its uv backend and the authenticated TCP transport on
 * 127.0.0.1. A leader is elected and becomes ADM; commands commit on every
 * member; stopping the leader gives a new one within 3 s and a higher SAN
 * generation; restarting every member from its directory keeps the state; a
 * member with the wrong key never joins; a minority commits nothing; garbage
 * bytes and half-open connections on the Raft port change nothing.
 * State directories under /var/tmp (ext4; the raft log needs O_DIRECT). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "consensus/consensus.h"

#define MAXN 5

struct node {
	struct cons *c;
	uint64_t id;
	char dir[256];
	char addr[32];
	struct auth_key key;
};

static uv_loop_t loop;
static struct node nodes[MAXN];
static char top_dir[64];
static char base[128];
static int base_port;
static struct auth_key key;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

/* Run the loop until pred is true or ms pass. Returns pred's last value. */
static bool wait_for(bool (*pred)(void *), void *arg, unsigned ms)
{
	uv_timer_t tick;
	uint64_t end = now_ms() + ms;
	bool ok;

	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, tick_cb, 10, 10);
	while (!(ok = pred(arg)) && now_ms() < end)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	return ok;
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

static void run_ms(unsigned ms)
{
	wait_for(never, NULL, ms);
}

static void setup(void)
{
	log_setup("test", 0, getenv("CONS_VERBOSE") ? LOG_DEBUG : LOG_WARN);
	/* Under the run's top directory, which main removes even when a test
	 * failed before its teardown. */
	snprintf(base, sizeof(base), "%s/t-XXXXXX", top_dir);
	ck_assert_ptr_nonnull(mkdtemp(base));
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	base_port = 20000 + (int)(getpid() % 2000) * 10;
	ck_assert_int_eq(auth_key_generate(&key), 0);
	memset(nodes, 0, sizeof(nodes));
	for (int i = 0; i < MAXN; i++) {
		nodes[i].id = (uint64_t)i + 1;
		snprintf(nodes[i].dir, sizeof(nodes[i].dir), "%s/n%d", base, i + 1);
		snprintf(nodes[i].addr, sizeof(nodes[i].addr), "127.0.0.1:%d", base_port + i);
		nodes[i].key = key;
	}
}

static bool closed_flag_true(void *arg)
{
	return *(bool *)arg;
}

static void on_closed(void *data)
{
	*(bool *)data = true;
}

static void node_stop(int i)
{
	bool done = false;
	if (!nodes[i].c)
		return;
	cons_close(nodes[i].c, on_closed, &done);
	nodes[i].c = NULL;
	ck_assert(wait_for(closed_flag_true, &done, 5000));
}

static void teardown(void)
{
	char cmd[300];
	for (int i = 0; i < MAXN; i++)
		node_stop(i);
	uv_run(&loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	ck_assert_int_eq(system(cmd), 0);
}

static void node_start(int i, bool bootstrap)
{
	struct cons_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = nodes[i].id;
	cfg.address = nodes[i].addr;
	cfg.state_dir = nodes[i].dir;
	cfg.key = nodes[i].key;
	/* Small snapshot threshold: the scenarios also take snapshots, install
	 * them on late members and restart from snapshot plus log. */
	cfg.snapshot_threshold = 8;
	cfg.snapshot_trailing = 2;
	ck_assert_int_eq(cons_open(&loop, &cfg, &nodes[i].c), 0);
	if (bootstrap)
		ck_assert_int_eq(cons_bootstrap(nodes[i].c), 0);
	ck_assert_int_eq(cons_start(nodes[i].c), 0);
}

/* The index of the authoritative leader among running nodes, or -1. */
static int leader(void)
{
	for (int i = 0; i < MAXN; i++)
		if (nodes[i].c && cons_is_authoritative(nodes[i].c))
			return i;
	return -1;
}

static bool has_adm(void *arg)
{
	int i = leader();
	(void)arg;
	if (i < 0)
		return false;
	struct cons_cluster cl;
	cons_get_cluster(nodes[i].c, &cl);
	return cl.adm_id == nodes[i].id;
}

struct done {
	bool fired;
	int status;
	int64_t result;
};

static void prop_cb(void *data, int status, int64_t result)
{
	struct done *d = data;
	d->fired = true;
	d->status = status;
	d->result = result;
}

static void change_cb(void *data, int status)
{
	struct done *d = data;
	d->fired = true;
	d->status = status;
}

static bool fired(void *arg)
{
	return ((struct done *)arg)->fired;
}

static int64_t propose(int i, const struct cons_cmd *cmd)
{
	struct done d = {0};
	ck_assert_int_eq(cons_propose(nodes[i].c, cmd, prop_cb, &d), 0);
	ck_assert(wait_for(fired, &d, 5000));
	ck_assert_int_eq(d.status, 0);
	return d.result;
}

static void add_member(int li, int i)
{
	struct done d = {0};
	ck_assert_int_eq(cons_member_add(nodes[li].c, nodes[i].id, nodes[i].addr, change_cb, &d),
			 0);
	ck_assert_msg(wait_for(fired, &d, 10000), "adding node %d timed out", i + 1);
	ck_assert_int_eq(d.status, 0);
}

/* Bootstrap node 0, start the others empty, add them one by one. */
static void make_cluster(int n)
{
	node_start(0, true);
	ck_assert_msg(wait_for(has_adm, NULL, 5000), "no ADM after bootstrap");
	for (int i = 1; i < n; i++) {
		node_start(i, false);
		add_member(leader(), i);
	}
	uint64_t ids[8];
	ck_assert_uint_eq(cons_voters(nodes[leader()].c, ids, 8), (unsigned)n);
}

static struct cons_cmd device_cmd(uint8_t tag, const char *label)
{
	struct cons_cmd c;
	memset(&c, 0, sizeof(c));
	c.type = CONS_CMD_DEVICE_PUT;
	memset(c.u.device.uuid, tag, CONS_UUID_BYTES);
	snprintf(c.u.device.label, sizeof(c.u.device.label), "%s", label);
	c.u.device.size = 1ull << 30;
	return c;
}

struct same_arg {
	int n;
	size_t ndev;
	uint64_t gen;	  /* 0: any, equal on all */
	uint64_t ccd_gen; /* CCD generation required on all */
	uint64_t min_gen; /* generation at least this on all */
};

/* Every running node among the first n has ndev devices and the same
 * generation. */
static bool all_same(void *arg)
{
	struct same_arg *a = arg;
	uint64_t gen = 0;
	for (int i = 0; i < a->n; i++) {
		struct cons_device *d;
		struct cons_cluster cl;
		size_t nd;
		if (!nodes[i].c)
			continue;
		if (cons_get_devices(nodes[i].c, &d, &nd))
			return false;
		free(d);
		cons_get_cluster(nodes[i].c, &cl);
		struct ccd_record r;
		if (cons_ccd_record(nodes[i].c, &r) || r.generation != a->ccd_gen)
			return false;
		if (nd != a->ndev || (gen && cl.generation != gen) || cl.generation < a->min_gen ||
		    (a->gen && cl.generation != a->gen))
			return false;
		gen = cl.generation;
	}
	return true;
}

/* Does node i's raft directory hold a snapshot file? */
static bool has_snapshot(int i)
{
	char d[300];
	snprintf(d, sizeof(d), "%s/raft", nodes[i].dir);
	DIR *dir = opendir(d);
	struct dirent *e;
	bool found = false;
	if (!dir)
		return false;
	while ((e = readdir(dir)))
		if (strncmp(e->d_name, "snapshot-", 9) == 0)
			found = true;
	closedir(dir);
	return found;
}

static void cluster_scenario(int n)
{
	struct same_arg sa = {.n = n};
	struct cons_cluster cl;
	struct cons_member *mem;
	size_t nm;
	char **rows;
	size_t nr;

	make_cluster(n);
	int li = leader();
	ck_assert_int_ge(li, 0);

	/* Commands commit and apply on every member. */
	struct cons_cmd c = device_cmd(1, "data0");
	int64_t gen = propose(li, &c);
	ck_assert_int_gt(gen, 0);
	c = device_cmd(2, "data1");
	ck_assert_int_eq(propose(li, &c), gen + 1);
	struct cons_cmd f;
	memset(&f, 0, sizeof(f));
	f.type = CONS_CMD_CCD_FORMAT;
	strcpy(f.u.ccd.key, "svc");
	strcpy(f.u.ccd.text, "name:port");
	ck_assert_int_eq(propose(li, &f), 1);
	f.type = CONS_CMD_CCD_ADD;
	strcpy(f.u.ccd.text, "www:80");
	ck_assert_int_eq(propose(li, &f), 2);
	/* A command refused by apply reports its errno as the result. */
	c = device_cmd(3, "data0");
	ck_assert_int_eq(propose(li, &c), -EEXIST);
	sa.ndev = 2;
	sa.gen = (uint64_t)gen + 1;
	sa.ccd_gen = 2;
	ck_assert_msg(wait_for(all_same, &sa, 5000), "commands not applied on all members");
	/* Every member knows every member (table) and the same leader. */
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(cons_get_members(nodes[i].c, &mem, &nm), 0);
		ck_assert_uint_eq(nm, (size_t)n);
		free(mem);
		ck_assert_uint_eq(cons_leader(nodes[i].c, NULL, 0), nodes[li].id);
		ck_assert_int_eq(cons_ccd_query(nodes[i].c, "svc", "w*", &rows, &nr), 0);
		ck_assert_uint_eq(nr, 1);
		ccd_rows_free(rows, nr);
	}
	/* A follower refuses proposals with -EREMOTE. */
	int fo = (li + 1) % n;
	ck_assert_int_eq(cons_propose(nodes[fo].c, &c, prop_cb, NULL), -EREMOTE);

	/* Stop the leader: a new authoritative leader within 3 s, which took
	 * over as ADM and incremented the generation. */
	uint64_t old_gen = sa.gen, old_leader = nodes[li].id;
	node_stop(li);
	uint64_t t0 = now_ms();
	ck_assert_msg(wait_for(has_adm, NULL, 3000), "no new ADM within 3 s");
	uint64_t took = now_ms() - t0;
	printf("n=%d: new ADM after %llu ms\n", n, (unsigned long long)took);
	int nl = leader();
	ck_assert_uint_ne(nodes[nl].id, old_leader);
	cons_get_cluster(nodes[nl].c, &cl);
	ck_assert_uint_gt(cl.generation, old_gen);
	ck_assert_uint_eq(cl.adm_id, nodes[nl].id);
	/* The survivors still commit. */
	c = device_cmd(4, "data4");
	ck_assert_int_gt(propose(nl, &c), 0);
	sa.ndev = 3;
	sa.gen = 0;
	ck_assert(wait_for(all_same, &sa, 5000));

	/* More commands than the snapshot threshold: snapshots are taken. */
	for (int k = 0; k < 12; k++) {
		struct cons_cmd g;
		memset(&g, 0, sizeof(g));
		g.type = CONS_CMD_GEN_BUMP;
		ck_assert_int_gt(propose(nl, &g), 0);
	}
	run_ms(300);
	ck_assert_msg(has_snapshot(nl), "no snapshot taken");

	/* Restart every member from its directory: state intact. */
	cons_get_cluster(nodes[nl].c, &cl);
	uint64_t gen_before = cl.generation;
	for (int i = 0; i < n; i++)
		node_stop(i);
	for (int i = 0; i < n; i++)
		node_start(i, false);
	ck_assert_msg(wait_for(has_adm, NULL, 10000), "no ADM after restart");
	sa.ndev = 3;
	sa.min_gen = gen_before + 1; /* the restart elected an ADM again */
	ck_assert_msg(wait_for(all_same, &sa, 5000), "state lost or diverged after restart");
	for (int i = 0; i < n; i++) {
		cons_get_cluster(nodes[i].c, &cl);
		ck_assert_uint_gt(cl.generation, gen_before); /* restart elected an ADM: +1 */
		ck_assert_int_eq(cons_ccd_query(nodes[i].c, "svc", NULL, &rows, &nr), 0);
		ck_assert_uint_eq(nr, 1);
		ck_assert_str_eq(rows[0], "www:80");
		ccd_rows_free(rows, nr);
	}
	/* A bootstrap over an existing cluster directory is refused. */
	node_stop(0);
	struct cons_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = nodes[0].id;
	cfg.address = nodes[0].addr;
	cfg.state_dir = nodes[0].dir;
	cfg.key = key;
	ck_assert_int_eq(cons_open(&loop, &cfg, &nodes[0].c), 0);
	ck_assert_int_eq(cons_bootstrap(nodes[0].c), -EEXIST);
}

START_TEST(three_members)
{
	cluster_scenario(3);
}
END_TEST

START_TEST(five_members)
{
	cluster_scenario(5);
}
END_TEST

START_TEST(wrong_key_cannot_join)
{
	static struct done d; /* its callback may run during teardown */
	make_cluster(1);
	/* Node 2 has another key (same cluster id, so only the MACs differ). */
	nodes[1].key.key[0] ^= 0x55;
	node_start(1, false);
	ck_assert_int_eq(cons_member_add(nodes[0].c, nodes[1].id, nodes[1].addr, change_cb, &d), 0);
	run_ms(3000);
	/* Node 2 never received an entry: nothing applied, no members. */
	struct cons_member *mem;
	size_t nm;
	ck_assert_uint_eq(cons_applied(nodes[1].c), 0);
	ck_assert_int_eq(cons_get_members(nodes[1].c, &mem, &nm), 0);
	ck_assert_uint_eq(nm, 0);
	ck_assert(!d.fired || d.status != 0);
	/* The leader keeps working (it still has its own majority only if the
	 * promotion did not happen: node 2 was never made a voter). */
	ck_assert(cons_is_leader(nodes[0].c));
	uint64_t ids[4];
	ck_assert_uint_eq(cons_voters(nodes[0].c, ids, 4), 1);
	/* The promotion fails (the member never catches up). */
	ck_assert(wait_for(fired, &d, 15000));
	ck_assert_int_ne(d.status, 0);
	ck_assert_uint_eq(cons_voters(nodes[0].c, ids, 4), 1);
	/* With the right key, the retried add resumes and succeeds. */
	node_stop(1);
	nodes[1].key = key;
	node_start(1, false);
	add_member(0, 1);
	ck_assert_uint_eq(cons_voters(nodes[0].c, ids, 4), 2);
	struct same_arg sa = {.n = 2, .min_gen = 1};
	ck_assert(wait_for(all_same, &sa, 5000));
}
END_TEST

START_TEST(minority_cannot_commit)
{
	make_cluster(3);
	int li = leader();
	/* Keep only one member (the leader): a minority of 3. */
	for (int i = 0; i < 3; i++)
		if (i != li)
			node_stop(i);
	struct cons_cluster before, after;
	cons_get_cluster(nodes[li].c, &before);
	int committed = 0, tries = 0;
	uint64_t end = now_ms() + 3000;
	static struct done pool[1024]; /* callbacks may run after this loop */
	while (now_ms() < end && tries < 1024) {
		struct done *d = &pool[tries];
		struct cons_cmd c;
		memset(&c, 0, sizeof(c));
		c.type = CONS_CMD_GEN_BUMP;
		if (cons_propose(nodes[li].c, &c, prop_cb, d) == 0) {
			tries++;
			wait_for(fired, d, 300);
			if (d->fired && d->status == 0)
				committed++;
		} else {
			run_ms(100);
		}
	}
	cons_get_cluster(nodes[li].c, &after);
	ck_assert_int_eq(committed, 0);
	ck_assert_uint_eq(after.generation, before.generation);
	/* Raft notices the lost majority: the lone member is not authoritative. */
	ck_assert(!cons_is_authoritative(nodes[li].c));
	printf("minority: %d proposals accepted for replication, 0 committed\n", tries);
	/* Bring one back: majority again, commits resume. */
	int other = (li + 1) % 3;
	node_start(other, false);
	ck_assert_msg(wait_for(has_adm, NULL, 10000), "no ADM after healing");
	struct cons_cmd c;
	memset(&c, 0, sizeof(c));
	c.type = CONS_CMD_GEN_BUMP;
	ck_assert_int_gt(propose(leader(), &c), (int64_t)before.generation);
}
END_TEST

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
		ck_assert_int_eq(cons_start(nodes[0].c), -EUCLEAN);
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
	Suite *s = suite_create("consensus-cluster");
	TCase *tc = tcase_create("cluster");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, three_members);
	tcase_add_test(tc, five_members);
	tcase_add_test(tc, wrong_key_cannot_join);
	tcase_add_test(tc, minority_cannot_commit);
	tcase_add_test(tc, garbage_and_half_open);
	tcase_add_test(tc, worker_thread_wrappers);
	tcase_add_test(tc, corrupt_log_fails_start);
	tcase_add_test(tc, refuses_tmpfs);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	char rm[300];
	snprintf(top_dir, sizeof(top_dir), "/var/tmp/sanfs-cons-it-XXXXXX");
	if (!mkdtemp(top_dir)) {
		perror("mkdtemp /var/tmp");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN); /* libuv reports EPIPE; sanfsd ignores SIGPIPE too */
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	snprintf(rm, sizeof(rm), "rm -rf '%s'", top_dir);
	if (system(rm) != 0)
		fprintf(stderr, "could not remove %s\n", top_dir);
	return failed ? 1 : 0;
}
