/* Lock manager benchmark (issue 4 point 7), in one process: the lockspaces of
 * several nodes joined by the in-process network of the unit tests, so the
 * figures measure the lock manager itself — its data structures, messages
 * and recovery — without a network; a loopback TCP figure comes with the
 * node transport. Prints one table. A benchmark, never a test.
 *
 *   build/bench/dlm_bench [--quick]
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

int main(int argc, char **argv)
{
	bool quick = argc > 1 && !strcmp(argv[1], "--quick");
	log_setup("dlm_bench", 0, LOG_ERROR);
	struct net n;
	net_start(&n, 3);
	net_wait_recovered(&n, 3);

	/* 1. Cached acquire through the LCL: no message at all. */
	struct lcl *lcl1, *lcl2;
	struct lcl_config cfg = {.fsid = 1, .min_hold_us = 1};
	must(lcl_create_dlm(n.ls[1], &cfg, &lcl1), "lcl_create_dlm");
	must(lcl_create_dlm(n.ls[2], &cfg, &lcl2), "lcl_create_dlm");
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

	/* 2. and 3. Uncached: mastered here, and mastered by another node. */
	int pairs = quick ? 5000 : 50000;
	uint64_t *lat = calloc((size_t)pairs, sizeof(*lat));
	dlm_pairs(&n, 1, pairs, lat);
	double local_p50 = lat[pairs / 2] / 1000.0, local_p99 = lat[pairs * 99 / 100] / 1000.0;
	dlm_pairs(&n, 2, pairs, lat);
	double remote_p50 = lat[pairs / 2] / 1000.0, remote_p99 = lat[pairs * 99 / 100] / 1000.0;

	/* 3b. The same over loopback TCP. */
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
	mesh_stop(3);
	qsort(lat, (size_t)pairs, sizeof(*lat), cmp_u64);
	double tcp_p50 = lat[pairs / 2] / 1000.0, tcp_p99 = lat[pairs * 99 / 100] / 1000.0;
	free(lat);

	/* 4. Ping-pong of one resource between two nodes, empty callouts. */
	atomic_int stop = 0, last = 0;
	atomic_long handoffs = 0;
	struct pingpong pa = {lcl1, &stop, &handoffs, &last, 1},
			pb = {lcl2, &stop, &handoffs, &last, 2};
	pthread_t ta, tb;
	t0 = now_ns();
	pthread_create(&ta, NULL, pingpong_main, &pa);
	pthread_create(&tb, NULL, pingpong_main, &pb);
	struct timespec d = {quick ? 0 : 2, quick ? 500000000 : 0};
	nanosleep(&d, NULL);
	atomic_store(&stop, 1);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	double pingpong_s = (double)atomic_load(&handoffs) / ((double)(now_ns() - t0) / 1e9);
	lcl_destroy(lcl1);
	lcl_destroy(lcl2);

	/* 5. Recovery after a master dies while 100,000 locks are granted. */
	int held = quick ? 20000 : 100000;
	for (int i = 0; i < held; i++) {
		struct dlm_resname r = net_res(5000000 + (uint64_t)i);
		uint64_t lk;
		must(dlm_lock(n.ls[1 + i % 2], &r, DLM_PR, &WHOLE, 0, NULL, NULL, &lk, NULL),
		     "dlm_lock");
	}
	t0 = now_ns();
	net_kill(&n, 3, 3, 2);
	double recovery_ms = (double)(now_ns() - t0) / 1e6;
	net_stop(&n, 3);

	printf("| measure | sanfs | target |\n|---|---|---|\n");
	printf("| cached acquire+release (LCL, no message) | %.3f us | < 1 us |\n",
	       cached_ns / 1000);
	printf("| uncached acquire, master on this node, p50 / p99 | %.1f / %.1f us | - |\n",
	       local_p50, local_p99);
	printf(
	    "| uncached acquire, master on another node (in-process network), p50 / p99 | %.1f / "
	    "%.1f us | - |\n",
	    remote_p50, remote_p99);
	printf("| uncached acquire, master on another node over loopback TCP, p50 / p99 | %.1f / "
	       "%.1f us | < 200 us |\n",
	       tcp_p50, tcp_p99);
	printf("| ping-pong hand-offs between two nodes, empty callouts | %.0f /s | - |\n",
	       pingpong_s);
	printf("| recovery after the master of a third of %d granted locks dies | %.1f ms | < 1000 "
	       "ms |\n",
	       held, recovery_ms);
	return 0;
}
