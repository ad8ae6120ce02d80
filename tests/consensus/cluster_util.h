/* Helpers of the consensus integration tests: N members (up to MAXN) of one
 * cluster in this process, on one libuv loop, on 127.0.0.1 ports below the
 * ephemeral range, with state directories under /var/tmp. Each Check test
 * runs in a forked child: cluster_setup/cluster_teardown are its fixture;
 * cluster_main removes the run's top directory even after failures. */
#ifndef SANFS_TESTS_CONSENSUS_CLUSTER_UTIL_H
#define SANFS_TESTS_CONSENSUS_CLUSTER_UTIL_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>

#include "consensus/consensus.h"

#define MAXN 5

struct node {
	struct cons *c;
	uint64_t id;
	char dir[256];
	char addr[32];
	struct auth_key key;
};

struct done {
	bool fired;
	int status;
	int64_t result;
};

struct same_arg {
	int n;
	size_t ndev;
	uint64_t gen;	  /* 0: any, equal on all */
	uint64_t ccd_gen; /* CCD generation required on all */
	uint64_t min_gen; /* generation at least this on all */
};

extern uv_loop_t loop;
extern struct node nodes[MAXN];
extern char top_dir[64];
extern char base[128];
extern int base_port;
extern struct auth_key key;
/* The election time-out node_start gives (0: the consensus default);
 * cluster_setup resets it. */
extern unsigned election_timeout_ms;

uint64_t now_ms(void);
/* Run the loop until pred is true or ms pass; returns pred's last value. */
bool wait_for(bool (*pred)(void *), void *arg, unsigned ms);
void run_ms(unsigned ms);
void cluster_setup(void);
void cluster_teardown(void);
void node_start(int i, bool bootstrap);
void node_stop(int i);
int leader(void); /* index of the authoritative leader, -1 none */
bool has_adm(void *arg);
void prop_cb(void *data, int status, int64_t result);
void change_cb(void *data, int status);
bool fired(void *arg);
int64_t propose(int i, const struct cons_cmd *cmd); /* asserts it committed */
void add_member(int li, int i);
void make_cluster(int n);
struct cons_cmd device_cmd(uint8_t tag, const char *label);
bool all_same(void *arg);
bool has_snapshot(int i);
int cluster_main(Suite *s, const char *prefix);

#endif
