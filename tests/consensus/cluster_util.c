/* Helpers of the consensus integration tests (cluster_util.h). */
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
#include "tests/consensus/cluster_util.h"

uv_loop_t loop;
struct node nodes[MAXN];
char top_dir[64];
char base[128];
int base_port;
struct auth_key key;

uint64_t now_ms(void)
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
bool wait_for(bool (*pred)(void *), void *arg, unsigned ms)
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

void run_ms(unsigned ms)
{
	wait_for(never, NULL, ms);
}

unsigned election_timeout_ms;

void cluster_setup(void)
{
	election_timeout_ms = 0;
	log_setup("test", 0, getenv("CONS_VERBOSE") ? LOG_DEBUG : LOG_WARN);
	/* Under the run's top directory, which main removes even when a test
	 * failed before its teardown. */
	snprintf(base, sizeof(base), "%s/t-XXXXXX", top_dir);
	ck_assert_ptr_nonnull(mkdtemp(base));
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	/* Below the ephemeral range (32768+): an outgoing connection of another
	 * member must never hold a port a member later listens on. */
	base_port = 12000 + (int)(getpid() % 1900) * 10;
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

void node_stop(int i)
{
	bool done = false;
	if (!nodes[i].c)
		return;
	cons_close(nodes[i].c, on_closed, &done);
	nodes[i].c = NULL;
	ck_assert(wait_for(closed_flag_true, &done, 5000));
}

void cluster_teardown(void)
{
	char cmd[300];
	for (int i = 0; i < MAXN; i++)
		node_stop(i);
	uv_run(&loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	ck_assert_int_eq(system(cmd), 0);
}

void node_start(int i, bool bootstrap)
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
	cfg.election_timeout_ms = election_timeout_ms;
	ck_assert_int_eq(cons_open(&loop, &cfg, &nodes[i].c), 0);
	if (bootstrap)
		ck_assert_int_eq(cons_bootstrap(nodes[i].c), 0);
	ck_assert_int_eq(cons_start(nodes[i].c), 0);
}

/* The index of the authoritative leader among running nodes, or -1. */
int leader(void)
{
	for (int i = 0; i < MAXN; i++)
		if (nodes[i].c && cons_is_authoritative(nodes[i].c))
			return i;
	return -1;
}

bool has_adm(void *arg)
{
	int i = leader();
	(void)arg;
	if (i < 0)
		return false;
	struct cons_cluster cl;
	cons_get_cluster(nodes[i].c, &cl);
	return cl.adm_id == nodes[i].id;
}

void prop_cb(void *data, int status, int64_t result)
{
	struct done *d = data;
	d->fired = true;
	d->status = status;
	d->result = result;
}

void change_cb(void *data, int status)
{
	struct done *d = data;
	d->fired = true;
	d->status = status;
}

bool fired(void *arg)
{
	return ((struct done *)arg)->fired;
}

int64_t propose(int i, const struct cons_cmd *cmd)
{
	struct done d = {0};
	ck_assert_int_eq(cons_propose(nodes[i].c, cmd, prop_cb, &d), 0);
	ck_assert(wait_for(fired, &d, 5000));
	ck_assert_int_eq(d.status, 0);
	return d.result;
}

void add_member(int li, int i)
{
	struct done d = {0};
	ck_assert_int_eq(cons_member_add(nodes[li].c, nodes[i].id, nodes[i].addr, change_cb, &d),
			 0);
	ck_assert_msg(wait_for(fired, &d, 10000), "adding node %d timed out", i + 1);
	ck_assert_int_eq(d.status, 0);
}

/* Bootstrap node 0, start the others empty, add them one by one. */
void make_cluster(int n)
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

struct cons_cmd device_cmd(uint8_t tag, const char *label)
{
	struct cons_cmd c;
	memset(&c, 0, sizeof(c));
	c.type = CONS_CMD_DEVICE_PUT;
	memset(c.u.device.uuid, tag, CONS_UUID_BYTES);
	snprintf(c.u.device.label, sizeof(c.u.device.label), "%s", label);
	c.u.device.size = 1ull << 30;
	return c;
}

/* Every running node among the first n has ndev devices and the same
 * generation. */
bool all_same(void *arg)
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
bool has_snapshot(int i)
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

int cluster_main(Suite *s, const char *prefix)
{
	char rm[300];
	signal(SIGPIPE, SIG_IGN); /* libuv reports EPIPE; sanfsd ignores SIGPIPE too */
	snprintf(top_dir, sizeof(top_dir), "/var/tmp/%s-XXXXXX", prefix);
	if (!mkdtemp(top_dir)) {
		perror("mkdtemp /var/tmp");
		return 1;
	}
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	snprintf(rm, sizeof(rm), "rm -rf '%s'", top_dir);
	if (system(rm) != 0)
		fprintf(stderr, "could not remove %s\n", top_dir);
	return failed ? 1 : 0;
}
