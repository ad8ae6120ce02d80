/* Lock manager benchmark (issue 4 point 7). Measures exactly:
 *   1. acquire+release of a cached lock (LCL, no message);
 *   2. acquire latency of an uncached lock mastered on this node;
 *   3. acquire latency of an uncached lock mastered by another node, over
 *      the in-process network and over loopback TCP (dlm_uv, as in sanfsd);
 *   4. ping-pong hand-offs per second of one lock between two nodes with
 *      empty callouts (in-process network and loopback TCP);
 *   5. recovery after a master dies while 100,000 granted locks (held by
 *      the two survivors) are on resources it mastered: until the survivors
 *      have re-declared them to the new masters, and until the dead node's
 *      resources grant again (dlm_ls_node_recovered).
 * The in-process network (tests/locks/fake_net.c) shows the lock manager
 * itself; the TCP figures add the libuv transport. Prints one markdown
 * table. A benchmark, never a test.
 *
 *   build/bench/dlm_bench [--quick] [--help]
 * --quick: fewer iterations for 1-4 (recovery always uses 100,000 locks).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/locks/fake_net.h"
#include "../tests/locks/uv_mesh.h"
#include "common/log.h"
#include "locks/dlm.h"
#include "locks/dlm_master.h"
#include "locks/lcl.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void must(int rc, const char *what)
{
	if (rc < 0) {
		fprintf(stderr, "dlm_bench: %s: %s\n", what, strerror(-rc));
		exit(1);
	}
}

static const struct dlm_range WHOLE = {0, DLM_RANGE_MAX};

/* Acquire+release pairs of dlm_lock on resources mastered by `master`, from
 * node 1; per-acquire latencies (ns) into lat. */
static void dlm_pairs(struct net *n, uint32_t master, int count, uint64_t *lat)
{
	for (int i = 0; i < count; i++) {
		struct dlm_resname r =
		    net_res(net_res_mastered_by(master, 3, 1000000 + (uint64_t)i * 7));
		uint64_t lk, t0 = now_ns();
		must(dlm_lock(n->ls[1], &r, DLM_EX, &WHOLE, 0, NULL, NULL, &lk, NULL), "dlm_lock");
		lat[i] = now_ns() - t0;
		must(dlm_unlock(n->ls[1], lk), "dlm_unlock");
	}
	qsort(lat, (size_t)count, sizeof(*lat), cmp_u64);
}

struct pingpong {
	struct lcl *lcl;
	atomic_int *stop;
	atomic_long *handoffs;
	atomic_int *last; /* node that held it last */
	int node;
};

static void *pingpong_main(void *arg)
{
	struct pingpong *p = arg;
	while (!atomic_load(p->stop)) {
		struct lcl_handle *h;
		must(lcl_lock(p->lcl, LCL_RES(LCL_T_INODE, 424242), LCL_EX, &h), "lcl_lock");
		if (atomic_exchange(p->last, p->node) != p->node)
			atomic_fetch_add(p->handoffs, 1);
		lcl_unlock(h);
	}
	return NULL;
}

/* Hand-offs per second of one EX lock between the LCLs of two lockspaces
 * (empty callouts: nothing to flush), for `secs` seconds. */
static double pingpong(struct dlm_ls *a, struct dlm_ls *b, double secs)
{
	struct lcl *la, *lb;
	struct lcl_config cfg = {.fsid = 1, .min_hold_us = 1};
	must(lcl_create_dlm(a, &cfg, &la), "lcl_create_dlm");
	must(lcl_create_dlm(b, &cfg, &lb), "lcl_create_dlm");
	atomic_int stop = 0, last = 0;
	atomic_long handoffs = 0;
	struct pingpong pa = {la, &stop, &handoffs, &last, 1},
			pb = {lb, &stop, &handoffs, &last, 2};
	pthread_t ta, tb;
	uint64_t t0 = now_ns();
	pthread_create(&ta, NULL, pingpong_main, &pa);
	pthread_create(&tb, NULL, pingpong_main, &pb);
	struct timespec d = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
	nanosleep(&d, NULL);
	atomic_store(&stop, 1);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	double rate = (double)atomic_load(&handoffs) / ((double)(now_ns() - t0) / 1e9);
	lcl_destroy(la);
	lcl_destroy(lb);
	return rate;
}

#define RECOVERY_LOCKS 100000

int main(int argc, char **argv)
{
	bool quick = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = true;
		} else {
			fprintf(argc > 1 && !strcmp(argv[i], "--help") ? stdout : stderr,
				"usage: dlm_bench [--quick]\n"
				"Lock manager figures of issue 4 point 7, as a markdown table:\n"
				"cached acquire, uncached acquire mastered here and elsewhere\n"
				"(in-process and loopback TCP), ping-pong hand-offs, and recovery\n"
				"after a master of %d granted locks dies. --quick: fewer\n"
				"iterations (recovery still uses %d locks).\n",
				RECOVERY_LOCKS, RECOVERY_LOCKS);
			return strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	log_setup("dlm_bench", 0, LOG_ERROR);
	struct net n;
	net_start(&n, 3);
	net_wait_recovered(&n, 3);

	/* 1. Cached acquire through the LCL: no message at all. */
	struct lcl *lcl1;
	struct lcl_config cfg = {.fsid = 1, .min_hold_us = 1};
	must(lcl_create_dlm(n.ls[1], &cfg, &lcl1), "lcl_create_dlm");
	struct lcl_handle *h;
	must(lcl_lock(lcl1, LCL_RES(LCL_T_INODE, 7), LCL_EX, &h), "lcl_lock");
	lcl_unlock(h);
	int cached_n = quick ? 200000 : 2000000;
	uint64_t t0 = now_ns();
	for (int i = 0; i < cached_n; i++) {
		must(lcl_lock(lcl1, LCL_RES(LCL_T_INODE, 7), LCL_EX, &h), "lcl_lock");
		lcl_unlock(h);
	}
	double cached_ns = (double)(now_ns() - t0) / cached_n;
	lcl_destroy(lcl1);

	/* 2. and 3. Uncached: mastered here, and mastered by another node. */
	int pairs = quick ? 5000 : 50000;
	uint64_t *lat = calloc((size_t)pairs, sizeof(*lat));
	dlm_pairs(&n, 1, pairs, lat);
	double local_p50 = lat[pairs / 2] / 1000.0, local_p99 = lat[pairs * 99 / 100] / 1000.0;
	dlm_pairs(&n, 2, pairs, lat);
	double remote_p50 = lat[pairs / 2] / 1000.0, remote_p99 = lat[pairs * 99 / 100] / 1000.0;

	/* 4. Ping-pong of one resource between two nodes, empty callouts. */
	double secs = quick ? 1.0 : 3.0;
	double pingpong_s = pingpong(n.ls[1], n.ls[2], secs);

	/* 3b. and 4b. The same over loopback TCP (dlm_uv, one loop thread per
	 * node, as in sanfsd). */
	mesh_start(3);
	for (int i = 0; i < pairs; i++) {
		struct dlm_resname r =
		    net_res(net_res_mastered_by(2, 3, 9000000 + (uint64_t)i * 7));
		uint64_t lk, t1 = now_ns();
		must(dlm_lock(mesh_nodes[1].ls, &r, DLM_EX, &WHOLE, 0, NULL, NULL, &lk, NULL),
		     "dlm_lock");
		lat[i] = now_ns() - t1;
		must(dlm_unlock(mesh_nodes[1].ls, lk), "dlm_unlock");
	}
	qsort(lat, (size_t)pairs, sizeof(*lat), cmp_u64);
	double tcp_p50 = lat[pairs / 2] / 1000.0, tcp_p99 = lat[pairs * 99 / 100] / 1000.0;
	free(lat);
	double tcp_pingpong_s = pingpong(mesh_nodes[1].ls, mesh_nodes[2].ls, secs);
	mesh_stop(3);

	/* 5. Recovery: node 3 masters the resources of 100,000 granted locks,
	 * held by nodes 1 and 2; node 3 dies. Every one of them moves to a
	 * new master and is re-declared there. */
	uint64_t id = 5000000;
	for (int i = 0; i < RECOVERY_LOCKS; i++) {
		id = net_res_mastered_by(3, 3, id + 1);
		struct dlm_resname r = net_res(id);
		uint64_t lk;
		must(dlm_lock(n.ls[1 + i % 2], &r, DLM_PR, &WHOLE, 0, NULL, NULL, &lk, NULL),
		     "dlm_lock");
	}
	struct dlm_ls_stats st3;
	dlm_ls_get_stats(n.ls[3], &st3);
	if (st3.mastered_locks != RECOVERY_LOCKS) {
		fprintf(stderr, "dlm_bench: node 3 masters %zu locks, not %d\n", st3.mastered_locks,
			RECOVERY_LOCKS);
		return 1;
	}
	t0 = now_ns();
	net_kill(&n, 3, 3, 2); /* returns once no survivor is recovering */
	double redeclare_ms = (double)(now_ns() - t0) / 1e6;
	must(dlm_ls_node_recovered(n.ls[1], 3), "dlm_ls_node_recovered");
	must(dlm_ls_node_recovered(n.ls[2], 3), "dlm_ls_node_recovered");
	/* A new lock on one of the dead master's resources is granted again. */
	struct dlm_resname r = net_res(id);
	uint64_t lk;
	must(dlm_lock(n.ls[1], &r, DLM_PR, &WHOLE, DLM_LKF_NOQUEUE, NULL, NULL, &lk, NULL),
	     "dlm_lock after recovery");
	double recovery_ms = (double)(now_ns() - t0) / 1e6;
	struct dlm_ls_stats st1, st2;
	dlm_ls_get_stats(n.ls[1], &st1);
	dlm_ls_get_stats(n.ls[2], &st2);
	if (st1.mastered_locks + st2.mastered_locks != RECOVERY_LOCKS + 1) {
		fprintf(stderr, "dlm_bench: survivors master %zu locks after recovery, not %d\n",
			st1.mastered_locks + st2.mastered_locks, RECOVERY_LOCKS + 1);
		return 1;
	}
	net_stop(&n, 3);

	printf("| measure | sanfs | target |\n|---|---|---|\n");
	printf("| cached acquire+release (LCL, no message) | %.3f us | < 1 us |\n",
	       cached_ns / 1000);
	printf("| uncached acquire, master on this node, p50 / p99 | %.1f / %.1f us | - |\n",
	       local_p50, local_p99);
	printf("| uncached acquire, master on another node, in-process network, p50 / p99 | "
	       "%.1f / %.1f us | - |\n",
	       remote_p50, remote_p99);
	printf("| uncached acquire, master on another node, loopback TCP, p50 / p99 | %.1f / "
	       "%.1f us | p50 < 200 us |\n",
	       tcp_p50, tcp_p99);
	printf("| ping-pong hand-offs between two nodes, empty callouts, in-process | %.0f /s | - "
	       "|\n",
	       pingpong_s);
	printf("| ping-pong hand-offs between two nodes, empty callouts, loopback TCP | %.0f /s | "
	       "- |\n",
	       tcp_pingpong_s);
	printf("| recovery after the master of %d granted locks dies: survivors re-declared "
	       "them | %.1f ms | - |\n",
	       RECOVERY_LOCKS, redeclare_ms);
	printf("| ... and its resources grant again (dlm_ls_node_recovered, a new lock) | %.1f "
	       "ms | < 1000 ms |\n",
	       recovery_ms);
	return 0;
}
