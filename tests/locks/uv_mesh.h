/* A full mesh of DLM lockspaces over real TCP on 127.0.0.1, each node with
 * its own libuv loop thread and dlm_uv transport (for tests and benchmarks).
 * A node's identity is sent in clear after connecting: test-only; sanfsd
 * binds identities with the cluster key. */
#ifndef SANFS_TESTS_LOCKS_UV_MESH_H
#define SANFS_TESTS_LOCKS_UV_MESH_H

#include <pthread.h>
#include <stdint.h>
#include <uv.h>

#include "locks/dlm.h"
#include "locks/dlm_uv.h"

#define MESH_MAX 8

struct mesh_node {
	uint32_t id;
	uv_loop_t loop;
	uv_tcp_t listener;
	uv_async_t stop;
	struct dlm_uv *uv;
	struct dlm_ls *ls;
	int port;
	pthread_t thread;
};

extern struct mesh_node mesh_nodes[MESH_MAX + 1];

/* Nodes 1..n connected pairwise, members at epoch 1, recovery done. */
void mesh_start(int n);
void mesh_stop(int n);

#endif
