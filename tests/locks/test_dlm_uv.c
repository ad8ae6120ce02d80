/* The DLM over real TCP on 127.0.0.1: three lockspaces, each with its own
 * libuv loop thread and dlm_uv transport, a full mesh of connections. Tests
 * grants, blocking callbacks and conversions across the wire, a stress run
 * with the conflict checker, that a peer sending garbage is disconnected
 * without harm to the others, and that a peer forging another node's sender
 * field is refused and disconnected. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "locks/dlm.h"
#include "locks/dlm_int.h"
#include "locks/dlm_master.h"
#include "locks/dlm_uv.h"
#include "uv_mesh.h"

static const struct dlm_range WHOLE = {0, DLM_RANGE_MAX};

static struct dlm_resname res(uint64_t id)
{
	return (struct dlm_resname){.fs = 5, .id = id, .type = 3};
}

static atomic_int basts;

static void release_on_bast(void *arg, uint64_t lkid, enum dlm_mode mode)
{
	(void)mode;
	atomic_fetch_add(&basts, 1);
	ck_assert_int_eq(dlm_unlock(arg, lkid), 0);
}

START_TEST(over_tcp)
{
	mesh_start(3);
	atomic_store(&basts, 0);
	for (uint64_t r = 0; r < 30; r++) {
		struct dlm_resname name = res(r);
		uint64_t a, b;
		ck_assert_int_eq(dlm_lock(mesh_nodes[1].ls, &name, DLM_EX, &WHOLE, 0,
					  release_on_bast, mesh_nodes[1].ls, &a, NULL),
				 0);
		ck_assert_int_eq(dlm_lock(mesh_nodes[2].ls, &name, DLM_PR, &WHOLE, DLM_LKF_NOQUEUE,
					  NULL, NULL, &b, NULL),
				 -EAGAIN);
		ck_assert_int_eq(
		    dlm_lock(mesh_nodes[3].ls, &name, DLM_PR, &WHOLE, 0, NULL, NULL, &b, NULL), 0);
		ck_assert_int_eq(dlm_convert(mesh_nodes[3].ls, b, DLM_EX, &WHOLE, 0, NULL), 0);
		ck_assert_int_eq(dlm_unlock(mesh_nodes[3].ls, b), 0);
	}
	ck_assert_int_eq(atomic_load(&basts), 30);
	/* A peer that sends garbage is cut off; the others carry on. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)mesh_nodes[1].port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	uint32_t fake = 99; /* not a member */
	ck_assert_int_eq(write(fd, &fake, 4), 4);
	char ack;
	ck_assert_int_eq(read(fd, &ack, 1), 1);
	char junk[DLM_MSG_SIZE * 2];
	memset(junk, 0x5a, sizeof(junk));
	ck_assert_int_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	ck_assert_int_eq(read(fd, &ack, 1), 0); /* disconnected */
	close(fd);
	struct dlm_resname name = res(1000);
	uint64_t a1, a2;
	ck_assert_int_eq(dlm_lock(mesh_nodes[2].ls, &name, DLM_EX, &WHOLE, 0, release_on_bast,
				  mesh_nodes[2].ls, &a1, NULL),
			 0);
	ck_assert_int_eq(
	    dlm_lock(mesh_nodes[1].ls, &name, DLM_EX, &WHOLE, 0, NULL, NULL, &a2, NULL), 0);
	ck_assert_int_eq(dlm_unlock(mesh_nodes[1].ls, a2), 0);
	mesh_stop(3);
}
END_TEST

/* Connect to node `to` over TCP claiming to be node `as` (the mesh's clear
 * identity handshake stands in for sanfsd's authentication); the fd. */
static int raw_peer(int to, uint32_t as)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)mesh_nodes[to].port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	/* A peer that is not cut off fails the test in 5 s, not by timeout. */
	struct timeval tv = {.tv_sec = 5};
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	ck_assert_int_eq(write(fd, &as, 4), 4);
	char ack;
	ck_assert_int_eq(read(fd, &ack, 1), 1);
	return fd;
}

/* A peer authenticated as node 4 (a member) sends a well-formed UNLOCK that
 * names node 2 as its sender, for node 2's EX lock on a resource node 1
 * masters. Without the check node 1 would release node 2's lock; with it the
 * message is dropped, the forger is disconnected, node 2 keeps its lock and
 * node 1 keeps serving. */
START_TEST(forged_sender_refused)
{
	mesh_start(4);
	/* A resource node 1 masters among 1..4. */
	const uint32_t members[4] = {1, 2, 3, 4};
	struct dlm_resname name;
	for (uint64_t r = 2000;; r++) {
		name = res(r);
		if (dlm_master_of(dlm_resname_hash(&name), members, 4) == 1)
			break;
	}
	uint64_t held, other;
	ck_assert_int_eq(
	    dlm_lock(mesh_nodes[2].ls, &name, DLM_EX, &WHOLE, 0, NULL, NULL, &held, NULL), 0);
	struct dlm_ls_stats before;
	dlm_ls_get_stats(mesh_nodes[1].ls, &before);

	/* Replace node 4's stream at node 1 by ours: authenticated as n4. */
	int fd = raw_peer(1, 4);
	struct dlm_msg m = {.type = DLM_MSG_UNLOCK,
			    .from = 2,
			    .epoch = 1,
			    .lkid = held,
			    .name = name,
			    .mode = DLM_NL,
			    .range = WHOLE};
	uint8_t buf[DLM_MSG_SIZE];
	dlm_msg_encode(&m, buf);
	ck_assert_int_eq(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	char ack;
	ck_assert_int_eq(read(fd, &ack, 1), 0); /* disconnected */
	close(fd);

	/* The forged message never reached the lockspace... */
	struct dlm_ls_stats after;
	dlm_ls_get_stats(mesh_nodes[1].ls, &after);
	ck_assert_uint_eq(after.msgs_in, before.msgs_in);
	ck_assert_uint_eq(after.msgs_dropped, before.msgs_dropped + 1);
	/* ...so node 2 still holds EX: a try-lock from node 3 fails... */
	ck_assert_int_eq(dlm_lock(mesh_nodes[3].ls, &name, DLM_PR, &WHOLE, DLM_LKF_NOQUEUE, NULL,
				  NULL, &other, NULL),
			 -EAGAIN);
	/* ...and node 1 serves on: node 2 releases, node 3 gets the lock. */
	ck_assert_int_eq(dlm_unlock(mesh_nodes[2].ls, held), 0);
	ck_assert_int_eq(
	    dlm_lock(mesh_nodes[3].ls, &name, DLM_PR, &WHOLE, 0, NULL, NULL, &other, NULL), 0);
	ck_assert_int_eq(dlm_unlock(mesh_nodes[3].ls, other), 0);

	/* The same message with the connection's own sender passes the
	 * transport and reaches the lockspace (which finds no lock of n4 to
	 * unlock): the check refuses forgeries, not the peer. */
	fd = raw_peer(1, 4);
	dlm_ls_get_stats(mesh_nodes[1].ls, &before);
	after = before;
	m.from = 4;
	dlm_msg_encode(&m, buf);
	ck_assert_int_eq(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	for (int t = 0; t < 5000 && after.msgs_in == before.msgs_in; t++) {
		usleep(1000);
		dlm_ls_get_stats(mesh_nodes[1].ls, &after);
	}
	ck_assert_uint_eq(after.msgs_in, before.msgs_in + 1);
	close(fd);
	mesh_stop(4);
}
END_TEST

int main(void)
{
	log_setup("test_dlm_uv", 0, LOG_ERROR);
	Suite *s = suite_create("dlm_uv");
	TCase *tc = tcase_create("tcp");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, over_tcp);
	tcase_add_test(tc, forged_sender_refused);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
