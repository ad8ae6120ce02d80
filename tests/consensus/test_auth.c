/* Unit tests of consensus/auth: the cluster key's text form and file, and the
 * challenge-response handshake over a socketpair on a libuv loop: success
 * (ids and address exchanged, the caller's bytes after the handshake arrive
 * intact), wrong key, wrong cluster id, garbage, silence (time-out), peer
 * closing mid-way, cancel. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "consensus/auth.h"

START_TEST(key_text_round_trip)
{
	struct auth_key k, back;
	char text[AUTH_KEY_TEXT_MAX];
	ck_assert_int_eq(auth_key_generate(&k), 0);
	ck_assert_int_eq(auth_key_encode(&k, text, sizeof(text)), 0);
	ck_assert_uint_eq(strlen(text), AUTH_KEY_TEXT_MAX - 1);
	ck_assert_int_eq(strncmp(text, "sanfs1-", 7), 0);
	ck_assert_int_eq(auth_key_decode(text, &back), 0);
	ck_assert_mem_eq(&k, &back, sizeof(k));
	/* trailing newline accepted */
	char nl[AUTH_KEY_TEXT_MAX + 1];
	snprintf(nl, sizeof(nl), "%s\n", text);
	ck_assert_int_eq(auth_key_decode(nl, &back), 0);
	ck_assert_int_eq(auth_key_encode(&k, text, 10), -ENOSPC);
	/* Two keys differ. */
	struct auth_key k2;
	ck_assert_int_eq(auth_key_generate(&k2), 0);
	ck_assert_mem_ne(&k, &k2, sizeof(k));
}
END_TEST

START_TEST(key_text_rejects)
{
	struct auth_key k, orig;
	char text[AUTH_KEY_TEXT_MAX];
	auth_key_generate(&k);
	orig = k;
	auth_key_encode(&k, text, sizeof(text));
	const char *bad[] = {"", "sanfs1-", "sanfs2-00", "garbage"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_eq(auth_key_decode(bad[i], &k), -EINVAL);
	char t2[AUTH_KEY_TEXT_MAX + 2];
	strcpy(t2, text);
	t2[20] = 'G'; /* not hex */
	ck_assert_int_eq(auth_key_decode(t2, &k), -EINVAL);
	strcpy(t2, text);
	t2[20] = 'A'; /* upper case is not the canonical form */
	ck_assert_int_eq(auth_key_decode(t2, &k), -EINVAL);
	strcpy(t2, text);
	t2[strlen(t2) - 1] = '\0'; /* short */
	ck_assert_int_eq(auth_key_decode(t2, &k), -EINVAL);
	snprintf(t2, sizeof(t2), "%s0", text); /* long */
	ck_assert_int_eq(auth_key_decode(t2, &k), -EINVAL);
	ck_assert_mem_eq(&k, &orig, sizeof(k)); /* untouched on error */
}
END_TEST

START_TEST(key_file)
{
	char dir[] = "/var/tmp/sanfs-auth-XXXXXX", path[128], cmd[160];
	struct auth_key k, back;
	struct stat st;
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/cluster.key", dir);
	auth_key_generate(&k);
	ck_assert_int_eq(auth_key_save(path, &k), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(auth_key_load(path, &back), 0);
	ck_assert_mem_eq(&k, &back, sizeof(k));
	/* A key readable by others is refused. */
	chmod(path, 0644);
	ck_assert_int_eq(auth_key_load(path, &back), -EPERM);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(auth_key_load(path, &back), -ENOENT);
}
END_TEST

/* ---- handshake over a socketpair --------------------------------------- */

struct side {
	uv_pipe_t pipe;
	bool done;
	int status;
	uint64_t peer_id;
	char peer_addr[AUTH_ADDR_MAX];
	char got[64];
	size_t ngot;
};

static uv_loop_t loop;
static struct side cli, srv;
static int fds[2];

static void hs_cb(void *data, uv_stream_t *s, int status, uint64_t peer_id, const char *addr)
{
	struct side *sd = data;
	(void)s;
	sd->done = true;
	sd->status = status;
	/* As every caller does: on failure, close the stream. */
	if (status && status != -ECANCELED && !uv_is_closing((uv_handle_t *)s))
		uv_close((uv_handle_t *)s, NULL);
	sd->peer_id = peer_id;
	snprintf(sd->peer_addr, sizeof(sd->peer_addr), "%s", addr);
}

static void hs_cb_plain(void *data, uv_stream_t *s, int status, uint64_t peer_id)
{
	hs_cb(data, s, status, peer_id, "");
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void tick(uv_timer_t *t)
{
	(void)t;
}

static void run_until(bool *a, bool *b, unsigned ms)
{
	uv_timer_t t;
	uint64_t end = now_ms() + ms;
	uv_timer_init(&loop, &t);
	uv_timer_start(&t, tick, 5, 5);
	while (!((!a || *a) && (!b || *b)) && now_ms() < end)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
}

static void setup(void)
{
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	memset(&cli, 0, sizeof(cli));
	memset(&srv, 0, sizeof(srv));
	uv_pipe_init(&loop, &cli.pipe, 0);
	uv_pipe_init(&loop, &srv.pipe, 0);
	ck_assert_int_eq(uv_pipe_open(&cli.pipe, fds[0]), 0);
	ck_assert_int_eq(uv_pipe_open(&srv.pipe, fds[1]), 0);
}

static void teardown(void)
{
	if (!uv_is_closing((uv_handle_t *)&cli.pipe))
		uv_close((uv_handle_t *)&cli.pipe, NULL);
	if (!uv_is_closing((uv_handle_t *)&srv.pipe))
		uv_close((uv_handle_t *)&srv.pipe, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}

static void got_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
	struct side *sd = h->data;
	(void)s;
	b->base = sd->got + sd->ngot;
	b->len = sizeof(sd->got) - sd->ngot;
}

static void got_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct side *sd = st->data;
	(void)b;
	if (n > 0)
		sd->ngot += (size_t)n;
}

static void written(uv_write_t *w, int status)
{
	(void)w;
	(void)status;
}

START_TEST(handshake_ok_and_stream_handed_over)
{
	struct auth_key k;
	auth_key_generate(&k);
	void *marker = (void *)0x1234;
	cli.pipe.data = marker;
	ck_assert_int_eq(auth_hs_start_addr((uv_stream_t *)&cli.pipe, &k, AUTH_CLIENT, 7,
					    "10.0.0.7:7400", 2000, hs_cb, &cli, NULL),
			 0);
	ck_assert_int_eq(auth_hs_start_addr((uv_stream_t *)&srv.pipe, &k, AUTH_SERVER, 9, NULL,
					    2000, hs_cb, &srv, NULL),
			 0);
	/* The client's first bytes of its own protocol go right after the
	 * handshake; the server must find them intact. */
	run_until(&cli.done, &srv.done, 3000);
	ck_assert_int_eq(cli.status, 0);
	ck_assert_int_eq(srv.status, 0);
	ck_assert_uint_eq(cli.peer_id, 9);
	ck_assert_uint_eq(srv.peer_id, 7);
	ck_assert_str_eq(srv.peer_addr, "10.0.0.7:7400");
	ck_assert_str_eq(cli.peer_addr, "");
	ck_assert_ptr_eq(cli.pipe.data, marker); /* stream->data restored */
	uv_write_t w;
	char msg[] = "after-handshake";
	uv_buf_t b = uv_buf_init(msg, sizeof(msg));
	ck_assert_int_eq(uv_write(&w, (uv_stream_t *)&cli.pipe, &b, 1, written), 0);
	srv.pipe.data = &srv;
	uv_read_start((uv_stream_t *)&srv.pipe, got_alloc, got_read);
	uint64_t end = now_ms() + 2000;
	while (srv.ngot < sizeof(msg) && now_ms() < end)
		uv_run(&loop, UV_RUN_NOWAIT);
	ck_assert_uint_eq(srv.ngot, sizeof(msg));
	ck_assert_str_eq(srv.got, "after-handshake");
}
END_TEST

START_TEST(handshake_plain_api)
{
	struct auth_key k;
	auth_key_generate(&k);
	ck_assert_int_eq(
	    auth_hs_start((uv_stream_t *)&cli.pipe, &k, AUTH_CLIENT, 1, 0, hs_cb_plain, &cli, NULL),
	    0);
	ck_assert_int_eq(
	    auth_hs_start((uv_stream_t *)&srv.pipe, &k, AUTH_SERVER, 2, 0, hs_cb_plain, &srv, NULL),
	    0);
	run_until(&cli.done, &srv.done, 3000);
	ck_assert_int_eq(cli.status, 0);
	ck_assert_int_eq(srv.status, 0);
	ck_assert_uint_eq(srv.peer_id, 1);
}
END_TEST

static void wrong(bool same_cluster)
{
	struct auth_key k1, k2;
	auth_key_generate(&k1);
	auth_key_generate(&k2);
	if (same_cluster)
		memcpy(k2.cluster_id, k1.cluster_id, sizeof(k1.cluster_id));
	auth_hs_start_addr((uv_stream_t *)&cli.pipe, &k1, AUTH_CLIENT, 1, NULL, 2000, hs_cb, &cli,
			   NULL);
	auth_hs_start_addr((uv_stream_t *)&srv.pipe, &k2, AUTH_SERVER, 2, NULL, 2000, hs_cb, &srv,
			   NULL);
	run_until(&srv.done, &cli.done, 3000);
	ck_assert(srv.done && cli.done);
	ck_assert_uint_eq(srv.peer_id, 0);
	ck_assert_uint_eq(cli.peer_id, 0);
	if (same_cluster) {
		/* The client checks the server's MAC first and drops it; the
		 * server then sees the connection close. */
		ck_assert_int_eq(cli.status, -EACCES);
		ck_assert_int_eq(srv.status, -ECONNRESET);
	} else {
		/* The server refuses the HELLO of another cluster. */
		ck_assert_int_eq(srv.status, -EACCES);
		ck_assert_int_eq(cli.status, -ECONNRESET);
	}
}

START_TEST(handshake_wrong_key)
{
	wrong(true);
}
END_TEST

START_TEST(handshake_wrong_cluster)
{
	wrong(false);
}
END_TEST

START_TEST(handshake_garbage_and_silence)
{
	struct auth_key k;
	auth_key_generate(&k);
	unsigned seed = (unsigned)time(NULL);
	printf("garbage seed %u\n", seed);
	/* Server receives garbage of exactly a HELLO's size. */
	ck_assert_int_eq(auth_hs_start_addr((uv_stream_t *)&srv.pipe, &k, AUTH_SERVER, 2, NULL,
					    2000, hs_cb, &srv, NULL),
			 0);
	char junk[AUTH_HELLO_BYTES];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)rand_r(&seed);
	junk[0] = 'X';
	ck_assert_int_eq(write(fds[0], junk, sizeof(junk)), (ssize_t)sizeof(junk));
	run_until(&srv.done, NULL, 3000);
	ck_assert_int_eq(srv.status, -EPROTO);

	/* A client facing a silent server times out (and never blocks). */
	int sv[2];
	uv_pipe_t p;
	struct side s;
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	uv_pipe_init(&loop, &p, 0);
	uv_pipe_open(&p, sv[0]);
	uint64_t t0 = now_ms();
	ck_assert_int_eq(
	    auth_hs_start_addr((uv_stream_t *)&p, &k, AUTH_CLIENT, 1, NULL, 200, hs_cb, &s, NULL),
	    0);
	run_until(&s.done, NULL, 3000);
	ck_assert_int_eq(s.status, -ETIMEDOUT);
	ck_assert_uint_lt(now_ms() - t0, 1500);
	uv_run(&loop, UV_RUN_NOWAIT); /* p (closed by hs_cb) lives on this frame */
	close(sv[1]);
}
END_TEST

START_TEST(handshake_peer_closes_and_cancel)
{
	struct auth_key k;
	struct auth_hs *hs;
	auth_key_generate(&k);
	ck_assert_int_eq(auth_hs_start_addr((uv_stream_t *)&srv.pipe, &k, AUTH_SERVER, 2, NULL,
					    5000, hs_cb, &srv, NULL),
			 0);
	/* Half a HELLO, then close. */
	ck_assert_int_eq(write(fds[0], "SNA1abc", 7), 7);
	uv_close((uv_handle_t *)&cli.pipe, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	run_until(&srv.done, NULL, 3000);
	ck_assert_int_eq(srv.status, -ECONNRESET);

	/* Cancel: cb runs before auth_hs_cancel returns. */
	int sv[2];
	uv_pipe_t p;
	struct side s;
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	uv_pipe_init(&loop, &p, 0);
	uv_pipe_open(&p, sv[0]);
	ck_assert_int_eq(
	    auth_hs_start_addr((uv_stream_t *)&p, &k, AUTH_CLIENT, 1, NULL, 5000, hs_cb, &s, &hs),
	    0);
	ck_assert_ptr_nonnull(hs);
	auth_hs_cancel(hs);
	ck_assert(s.done);
	ck_assert_int_eq(s.status, -ECANCELED);
	uv_close((uv_handle_t *)&p, NULL);
	uv_run(&loop, UV_RUN_NOWAIT); /* p lives on this stack frame */
	close(sv[1]);
	/* Bad arguments. */
	ck_assert_int_eq(auth_hs_start_addr(NULL, &k, AUTH_CLIENT, 1, NULL, 0, hs_cb, &s, NULL),
			 -EINVAL);
	char longaddr[100];
	memset(longaddr, 'a', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	ck_assert_int_eq(auth_hs_start_addr((uv_stream_t *)&srv.pipe, &k, AUTH_CLIENT, 1, longaddr,
					    0, hs_cb, &s, NULL),
			 -EINVAL);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("auth");
	TCase *keys = tcase_create("keys");
	tcase_add_test(keys, key_text_round_trip);
	tcase_add_test(keys, key_text_rejects);
	tcase_add_test(keys, key_file);
	suite_add_tcase(s, keys);
	TCase *hs = tcase_create("handshake");
	tcase_add_checked_fixture(hs, setup, teardown);
	tcase_set_timeout(hs, 30);
	tcase_add_test(hs, handshake_ok_and_stream_handed_over);
	tcase_add_test(hs, handshake_plain_api);
	tcase_add_test(hs, handshake_wrong_key);
	tcase_add_test(hs, handshake_wrong_cluster);
	tcase_add_test(hs, handshake_garbage_and_silence);
	tcase_add_test(hs, handshake_peer_closes_and_cancel);
	suite_add_tcase(s, hs);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
