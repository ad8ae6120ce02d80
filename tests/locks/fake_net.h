/* An in-process network joining the DLM lockspaces of several simulated
 * nodes (test-only fake of the node transport): one FIFO delivery thread,
 * so messages between two nodes arrive in order; a dead node's messages are
 * dropped both ways. */
#ifndef SANFS_TESTS_LOCKS_FAKE_NET_H
#define SANFS_TESTS_LOCKS_FAKE_NET_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "locks/dlm.h"

#define MAXN 6

struct pkt;

struct net {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct pkt *head, *tail;
	struct dlm_ls *ls[MAXN + 1];
	bool alive[MAXN + 1];
	bool stop;
	pthread_t thread;
	struct endpoint {
		struct net *net;
		uint32_t id;
	} ep[MAXN + 1];
};

/* Nodes 1..nodes, all members at epoch 1. */
void net_start(struct net *n, int nodes);
/* Wait until no live node is recovering (fails the test after 2 s). */
void net_wait_recovered(struct net *n, int nodes);
/* Node `dead` stops talking; the others get the new member list at epoch. */
void net_kill(struct net *n, int nodes, uint32_t dead, uint64_t epoch);
void net_stop(struct net *n, int nodes);
/* A resource name of the tests, and one whose master is `want`. */
struct dlm_resname net_res(uint64_t id);
uint64_t net_res_mastered_by(uint32_t want, int nodes, uint64_t from);

#endif
