/* See fake_net.h. */
#include "fake_net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "locks/dlm_master.h"

/* Not Check's asserts: the benchmarks link this file too. A failure here is
 * a broken fixture; abort so that the test (or benchmark) fails loudly. */
#define NET_MUST(expr)                                                                             \
	do {                                                                                       \
		if (!(expr)) {                                                                     \
			fprintf(stderr, "fake_net: %s failed at %s:%d\n", #expr, __FILE__,        \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct pkt {
	struct pkt *next;
	uint32_t from, to;
	uint8_t buf[DLM_MSG_SIZE];
};

static int net_send(void *arg, uint32_t to, const uint8_t msg[DLM_MSG_SIZE])
{
	struct endpoint *ep = arg;
	struct net *n = ep->net;
	struct pkt *p = malloc(sizeof(*p));
	p->next = NULL;
	p->from = ep->id;
	p->to = to;
	memcpy(p->buf, msg, DLM_MSG_SIZE);
	pthread_mutex_lock(&n->mu);
	if (n->tail)
		n->tail->next = p;
	else
		n->head = p;
	n->tail = p;
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->mu);
	return 0;
}

static void *net_main(void *arg)
{
	struct net *n = arg;
	pthread_mutex_lock(&n->mu);
	for (;;) {
		while (!n->head && !n->stop)
			pthread_cond_wait(&n->cond, &n->mu);
		if (n->stop)
			break;
		struct pkt *p = n->head;
		n->head = p->next;
		if (!n->head)
			n->tail = NULL;
		bool deliver = n->alive[p->from] && n->alive[p->to];
		struct dlm_ls *dst = n->ls[p->to];
		pthread_mutex_unlock(&n->mu);
		if (deliver)
			dlm_ls_receive(dst, p->buf, DLM_MSG_SIZE);
		free(p);
		pthread_mutex_lock(&n->mu);
	}
	pthread_mutex_unlock(&n->mu);
	return NULL;
}

void net_start(struct net *n, int nodes)
{
	memset(n, 0, sizeof(*n));
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cond, NULL);
	uint32_t members[MAXN];
	for (int i = 1; i <= nodes; i++) {
		n->ep[i] = (struct endpoint){n, (uint32_t)i};
		struct dlm_ls_ops ops = {net_send, &n->ep[i]};
		NET_MUST(dlm_ls_create((uint32_t)i, &ops, &n->ls[i]) == 0);
		n->alive[i] = true;
		members[i - 1] = (uint32_t)i;
	}
	pthread_create(&n->thread, NULL, net_main, n);
	for (int i = 1; i <= nodes; i++)
		NET_MUST(dlm_ls_set_members(n->ls[i], 1, members, (size_t)nodes) == 0);
}

void net_wait_recovered(struct net *n, int nodes)
{
	for (int tries = 0; tries < 30000; tries++) {
		bool all = true;
		for (int i = 1; i <= nodes; i++) {
			if (!n->alive[i])
				continue;
			struct dlm_ls_stats st;
			dlm_ls_get_stats(n->ls[i], &st);
			if (st.recovering)
				all = false;
		}
		if (all)
			return;
		usleep(1000);
	}
	NET_MUST(!"recovery did not finish");
}

void net_stop(struct net *n, int nodes)
{
	pthread_mutex_lock(&n->mu);
	n->stop = true;
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->mu);
	pthread_join(n->thread, NULL);
	while (n->head) {
		struct pkt *p = n->head;
		n->head = p->next;
		free(p);
	}
	for (int i = 1; i <= nodes; i++)
		dlm_ls_destroy(n->ls[i]);
}

struct dlm_resname net_res(uint64_t id)
{
	return (struct dlm_resname){.fs = 42, .id = id, .type = 3};
}

/* Find a resource id whose master (over members 1..n) is `want`. */
uint64_t net_res_mastered_by(uint32_t want, int nodes, uint64_t from)
{
	uint32_t members[MAXN];
	for (int i = 0; i < nodes; i++)
		members[i] = (uint32_t)(i + 1);
	for (uint64_t id = from;; id++) {
		struct dlm_resname r = net_res(id);
		uint8_t b[17];
		memcpy(b, &r.fs, 8);
		memcpy(b + 8, &r.id, 8);
		b[16] = r.type;
		if (dlm_master_of(dlm_name_hash(b, 17), members, (size_t)nodes) == want)
			return id;
	}
}

void net_kill(struct net *n, int nodes, uint32_t dead, uint64_t epoch)
{
	pthread_mutex_lock(&n->mu);
	n->alive[dead] = false;
	pthread_mutex_unlock(&n->mu);
	uint32_t members[MAXN];
	size_t k = 0;
	for (int i = 1; i <= nodes; i++)
		if (n->alive[i])
			members[k++] = (uint32_t)i;
	for (int i = 1; i <= nodes; i++)
		if (n->alive[i])
			NET_MUST(dlm_ls_set_members(n->ls[i], epoch, members, k) == 0);
	net_wait_recovered(n, nodes);
}
