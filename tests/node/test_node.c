/* Unit tests of node/: argument validation, node.conf and key files, join
 * tokens, the admin JSON protocol, and the admin socket server on a real
 * libuv loop with a real Unix socket (garbage, over-long lines, pipelining,
 * permissions, a slow handler that must not block other clients). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/admin_client.h"
#include "node/admin.h"
#include "node/admin_proto.h"
#include "node/nodeconf.h"

static char err[512];

START_TEST(id_validation)
{
	unsigned id;
	ck_assert_int_eq(nconf_parse_id("1", &id, err, sizeof(err)), 0);
	ck_assert_uint_eq(id, 1);
	ck_assert_int_eq(nconf_parse_id("65535", &id, err, sizeof(err)), 0);
	ck_assert_uint_eq(id, 65535);
	ck_assert_int_eq(nconf_parse_id("0", &id, err, sizeof(err)), -ERANGE);
	ck_assert_ptr_nonnull(strstr(err, "1..65535"));
	ck_assert_int_eq(nconf_parse_id("65536", &id, err, sizeof(err)), -ERANGE);
	ck_assert_int_eq(nconf_parse_id("99999999999999999999", &id, err, sizeof(err)), -ERANGE);
	ck_assert_int_eq(nconf_parse_id("-1", &id, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(nconf_parse_id("1x", &id, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(nconf_parse_id("", &id, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(nconf_parse_id(" 1", &id, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

START_TEST(address_validation)
{
	char host[64];
	unsigned port;
	ck_assert_int_eq(
	    nconf_parse_address("10.0.0.1:7400", host, sizeof(host), &port, err, sizeof(err)), 0);
	ck_assert_str_eq(host, "10.0.0.1");
	ck_assert_uint_eq(port, 7400);
	ck_assert_int_eq(
	    nconf_parse_address("[::1]:9", host, sizeof(host), &port, err, sizeof(err)), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_uint_eq(port, 9);
	const char *bad[] = {
	    "",		"10.0.0.1", "10.0.0.1:",      "10.0.0.1:0",   "10.0.0.1:65536",
	    "10.0.0:1", "host:80",  "10.0.0.1:8x",    "[::1:80",      "[zz]:80",
	    "::1:80",	":80",	    "1.2.3.4:123456", "256.1.1.1:80", "1.2.3.4:-1",
	    NULL};
	for (int i = 0; bad[i]; i++) {
		err[0] = 0;
		ck_assert_msg(nconf_parse_address(bad[i], NULL, 0, NULL, err, sizeof(err)) < 0,
			      "accepted '%s'", bad[i]);
		ck_assert_msg(err[0] && !strchr(err, '\n'), "no one-line error for '%s'", bad[i]);
	}
	char ctl[64];
	ck_assert_int_eq(nconf_control_address("10.0.0.1:7400", ctl, sizeof(ctl)), 0);
	ck_assert_str_eq(ctl, "10.0.0.1:7401");
	ck_assert_int_eq(nconf_control_address("[::1]:7400", ctl, sizeof(ctl)), 0);
	ck_assert_str_eq(ctl, "[::1]:7401");
	ck_assert_int_eq(nconf_control_address("10.0.0.1:65535", ctl, sizeof(ctl)), -ERANGE);
	/* PORT+2 is the lock manager's. */
	ck_assert_int_eq(nconf_control_address("10.0.0.1:65534", ctl, sizeof(ctl)), -ERANGE);
	ck_assert_int_eq(nconf_control_address("10.0.0.1:65533", ctl, sizeof(ctl)), 0);
	ck_assert_str_eq(ctl, "10.0.0.1:65534");
	ck_assert_int_eq(nconf_check_name("node-1.a_b", err, sizeof(err)), 0);
	ck_assert_int_lt(nconf_check_name("a b", err, sizeof(err)), 0);
	ck_assert_int_lt(nconf_check_name("", err, sizeof(err)), 0);
}
END_TEST

static void make_token(struct join_token *t, const char *addr)
{
	memset(t, 0, sizeof(*t));
	uint8_t cid[16];
	randombytes_buf(cid, sizeof(cid));
	randombytes_buf(t->key, sizeof(t->key));
	nconf_hex_encode(cid, sizeof(cid), t->cluster);
	strcpy(t->address, addr);
}

START_TEST(token_roundtrip)
{
	struct join_token t, u;
	char tok[NCONF_TOKEN_MAX + 1];
	const char *addrs[] = {"10.0.0.1:7400", "[fe80::1]:1", "255.255.255.255:65534", NULL};
	for (int i = 0; addrs[i]; i++) {
		make_token(&t, addrs[i]);
		ck_assert_int_eq(ntoken_encode(&t, tok, sizeof(tok)), 0);
		ck_assert_int_eq(strncmp(tok, NCONF_TOKEN_PREFIX, strlen(NCONF_TOKEN_PREFIX)), 0);
		ck_assert_uint_le(strlen(tok), NCONF_TOKEN_MAX);
		ck_assert_int_eq(ntoken_decode(tok, &u, err, sizeof(err)), 0);
		ck_assert_str_eq(u.cluster, t.cluster);
		ck_assert_str_eq(u.address, t.address);
		ck_assert_mem_eq(u.key, t.key, sizeof(t.key));
	}
	/* Too small an output buffer is an error, not an overflow. */
	ck_assert_int_eq(ntoken_encode(&t, tok, 20), -ENAMETOOLONG);
}
END_TEST

START_TEST(token_rejects_damage)
{
	struct join_token t, u;
	char tok[NCONF_TOKEN_MAX + 1], bad[NCONF_TOKEN_MAX + 8];
	make_token(&t, "10.0.0.1:7400");
	ck_assert_int_eq(ntoken_encode(&t, tok, sizeof(tok)), 0);
	size_t n = strlen(tok), pl = strlen(NCONF_TOKEN_PREFIX);
	/* Every single-character change in the body is caught. */
	for (size_t i = pl; i < n; i++) {
		strcpy(bad, tok);
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		ck_assert_msg(ntoken_decode(bad, &u, err, sizeof(err)) < 0, "flip at %zu accepted",
			      i);
	}
	/* Every truncation is caught. */
	for (size_t k = 0; k < n; k++) {
		memcpy(bad, tok, k);
		bad[k] = 0;
		ck_assert_int_lt(ntoken_decode(bad, &u, err, sizeof(err)), 0);
	}
	ck_assert_int_lt(ntoken_decode("sanfs1-AAAA", &u, err, sizeof(err)), 0);
	ck_assert_int_lt(ntoken_decode("SANFS1-!!!!", &u, err, sizeof(err)), 0);
	ck_assert_ptr_null(strchr(err, '\n'));
	/* A well-formed token carrying a bad address is refused. */
	strcpy(t.address, "1.2.3:4");
	ck_assert_int_eq(ntoken_encode(&t, tok, sizeof(tok)), 0);
	ck_assert_int_lt(ntoken_decode(tok, &u, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "address"));
}
END_TEST

static char tmpdir[256];

static void mk_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sanfs-test-node-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void rm_tmpdir(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	fchmod(fd, mode);
	close(fd);
}

START_TEST(conf_roundtrip_and_errors)
{
	mk_tmpdir();
	char dir[300];
	snprintf(dir, sizeof(dir), "%s/state", tmpdir);
	ck_assert_int_eq(nconf_make_state_dir(dir, err, sizeof(err)), 0);
	struct node_conf c, d;
	nconf_init_defaults(&c);
	c.id = 7;
	strcpy(c.address, "10.1.2.3:7400");
	strcpy(c.cluster, "00112233445566778899aabbccddeeff");
	strcpy(c.name, "n7");
	strcpy(c.join_address, "10.1.2.1:7400");
	c.hb_timeout_ms = 2500;
	ck_assert_int_eq(nconf_save(dir, &c, err, sizeof(err)), 0);
	ck_assert_int_eq(nconf_load(dir, &d, err, sizeof(err)), 0);
	ck_assert_uint_eq(d.id, 7);
	ck_assert_str_eq(d.address, c.address);
	ck_assert_str_eq(d.cluster, c.cluster);
	ck_assert_str_eq(d.join_address, c.join_address);
	ck_assert_uint_eq(d.hb_timeout_ms, 2500);
	ck_assert_uint_eq(d.hb_interval_ms, 100);
	ck_assert(!d.bootstrap);
	/* A second bootstrap/join into the same directory is refused. */
	ck_assert_int_eq(nconf_make_state_dir(dir, err, sizeof(err)), -EEXIST);

	/* Key file: written 0600, read back, checked against the cluster. */
	uint8_t key[NCONF_KEY_BYTES], key2[NCONF_KEY_BYTES];
	randombytes_buf(key, sizeof(key));
	ck_assert_int_eq(nconf_write_key(dir, c.cluster, key, err, sizeof(err)), 0);
	ck_assert_int_eq(nconf_write_key(dir, c.cluster, key, err, sizeof(err)), -EEXIST);
	ck_assert_int_eq(nconf_load_key(dir, &d, key2, err, sizeof(err)), 0);
	ck_assert_mem_eq(key, key2, sizeof(key));
	char kp[400];
	snprintf(kp, sizeof(kp), "%s/cluster.key", dir);
	struct stat st;
	ck_assert_int_eq(stat(kp, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	chmod(kp, 0644);
	ck_assert_int_eq(nconf_load_key(dir, &d, key2, err, sizeof(err)), -EPERM);
	chmod(kp, 0600);
	strcpy(d.cluster, "ffffffffffffffffffffffffffffffff");
	ck_assert_int_eq(nconf_load_key(dir, &d, key2, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "belongs to cluster"));
	unlink(kp);
	ck_assert_int_eq(nconf_load_key(dir, &d, key2, err, sizeof(err)), -ENOENT);

	/* Bad node.conf files: each answered with file:line and a reason. */
	const char *bad[] = {
	    "id = 1\naddress = 1.2.3.4:5\n", /* no cluster */
	    "id = 0\naddress = 1.2.3.4:5\ncluster = 00112233445566778899aabbccddeeff\n",
	    "id = 1\naddress = 1.2.3.4\ncluster = 00112233445566778899aabbccddeeff\n",
	    "id = 1\naddress = 1.2.3.4:5\ncluster = 0011\n",
	    "id = 1\naddress = 1.2.3.4:5\ncluster = 00112233445566778899aabbccddeeff\nbogus = 1\n",
	    "id = 1\naddress = 1.2.3.4:5\ncluster = 00112233445566778899aabbccddeeff\nnoequals\n",
	    "id = 1\naddress = 1.2.3.4:5\ncluster = 00112233445566778899aabbccddeeff\n"
	    "heartbeat_ms = 600\ntimeout_ms = 1000\n",
	    NULL};
	for (int i = 0; bad[i]; i++) {
		write_file(dir, "node.conf", bad[i], 0600);
		err[0] = 0;
		ck_assert_msg(nconf_load(dir, &d, err, sizeof(err)) < 0, "accepted conf %d", i);
		ck_assert_msg(strstr(err, "node.conf") && !strchr(err, '\n'), "error: %s", err);
	}
	rm_tmpdir();
}
END_TEST

START_TEST(proto_parse)
{
	json_t *j;
	ck_assert_int_eq(aproto_parse_request("{\"op\":\"status\"}\n", 16, &j, err, sizeof(err)),
			 0);
	ck_assert_str_eq(json_string_value(json_object_get(j, "op")), "status");
	json_decref(j);
	const char *bad[] = {"",
			     "not json",
			     "[1,2]",
			     "{}",
			     "{\"op\":1}",
			     "{\"op\":\"\"}",
			     "{\"op\":\"a\",\"op\":\"b\"}",
			     "{\"op\":\"a\"}\n{\"op\":\"b\"}",
			     "{\"op\":\"a\"",
			     "\x01\x02\xff",
			     NULL};
	for (int i = 0; bad[i]; i++) {
		err[0] = 0;
		ck_assert_msg(aproto_parse_request(bad[i], strlen(bad[i]), &j, err, sizeof(err)) ==
				  -EINVAL,
			      "accepted '%s'", bad[i]);
		ck_assert_ptr_null(j);
		ck_assert(err[0] != 0);
	}
	char *huge = malloc(ADMIN_LINE_MAX + 10);
	memset(huge, ' ', ADMIN_LINE_MAX + 9);
	huge[ADMIN_LINE_MAX + 9] = 0;
	ck_assert_int_eq(aproto_parse_request(huge, ADMIN_LINE_MAX + 9, &j, err, sizeof(err)),
			 -EINVAL);
	free(huge);

	/* Replies: ok, error, malformed. */
	json_t *e = aproto_err(ADMIN_E_NOQUORUM, "line one\nline two");
	size_t len;
	char *line = aproto_dump_line(e, &len);
	json_decref(e);
	ck_assert_int_eq(line[len - 1], '\n');
	ck_assert_ptr_null(memchr(line, '\n', len - 1));
	ck_assert_int_eq(aproto_parse_reply(line, len, &j, err, sizeof(err)), 0);
	const char *code;
	ck_assert_str_eq(aproto_reply_error(j, &code), "line one line two");
	ck_assert_str_eq(code, ADMIN_E_NOQUORUM);
	json_decref(j);
	free(line);
	ck_assert_int_eq(aproto_parse_reply("{\"ok\":true}", 11, &j, err, sizeof(err)), 0);
	ck_assert_ptr_null(aproto_reply_error(j, NULL));
	json_decref(j);
	ck_assert_int_eq(aproto_parse_reply("{\"ok\":false}", 12, &j, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(aproto_parse_reply("{\"ok\":1}", 8, &j, err, sizeof(err)), -EINVAL);

	/* Argument getters. */
	json_t *req = json_pack("{s:s,s:I,s:I,s:s,s:s#}", "op", "x", "id", (json_int_t)5, "neg",
				(json_int_t)-1, "s", "abc", "nul", "a\0b", (size_t)3);
	uint64_t v;
	const char *s;
	ck_assert_int_eq(aproto_get_uint(req, "id", 1, 10, &v, err, sizeof(err)), 0);
	ck_assert_uint_eq(v, 5);
	ck_assert_int_eq(aproto_get_uint(req, "id", 6, 10, &v, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(aproto_get_uint(req, "neg", 0, 10, &v, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(aproto_get_uint(req, "s", 0, 10, &v, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(aproto_get_uint(req, "missing", 0, 10, &v, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(aproto_get_str(req, "s", 3, &s, err, sizeof(err)), 0);
	ck_assert_str_eq(s, "abc");
	ck_assert_int_eq(aproto_get_str(req, "s", 2, &s, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(aproto_get_str(req, "nul", 10, &s, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(aproto_get_str(req, "id", 10, &s, err, sizeof(err)), -EINVAL);
	json_decref(req);
}
END_TEST

/* ---- The admin server on a real loop ------------------------------------- */

struct srv_fixture {
	uv_loop_t loop;
	uv_async_t stop;
	struct admin_srv *srv;
	pthread_t thr;
	char path[300];
	int handled;
	_Atomic uint64_t closed[8]; /* connection ids given to the close hook */
	_Atomic int nclosed;
};

struct slow {
	uv_timer_t t;
	struct admin_req *req;
};

static void slow_closed(uv_handle_t *h)
{
	free(h->data);
}

static void slow_fire(uv_timer_t *t)
{
	struct slow *s = t->data;
	json_t *r = aproto_ok();
	json_object_set_new(r, "slow", json_true());
	admin_reply(s->req, r);
	uv_close((uv_handle_t *)t, slow_closed);
}

static void handler(void *data, struct admin_req *req, json_t *msg)
{
	struct srv_fixture *f = data;
	const char *op = json_string_value(json_object_get(msg, "op"));
	f->handled++;
	if (!strcmp(op, "conn")) {
		json_t *r = aproto_ok();
		json_object_set_new(r, "conn", json_integer((json_int_t)admin_req_conn(req)));
		admin_req_pin(req, true);
		admin_reply(req, r);
		return;
	}
	if (!strcmp(op, "slow")) {
		struct slow *s = calloc(1, sizeof(*s));
		s->req = req;
		uv_timer_init(&f->loop, &s->t);
		s->t.data = s;
		uv_timer_start(&s->t, slow_fire, 1500, 0);
		return;
	}
	json_t *r = aproto_ok();
	json_object_set(r, "echo", json_object_get(msg, "op"));
	admin_reply(req, r);
}

static void on_conn_closed(void *data, uint64_t conn)
{
	struct srv_fixture *f = data;
	int i = f->nclosed;
	if (i < 8)
		f->closed[i] = conn;
	f->nclosed = i + 1;
}

static void on_stop(uv_async_t *a)
{
	struct srv_fixture *f = a->data;
	admin_srv_stop(f->srv);
	uv_close((uv_handle_t *)a, NULL);
}

static void walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void *loop_main(void *arg)
{
	struct srv_fixture *f = arg;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_walk(&f->loop, walk_close, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	return NULL;
}

static struct srv_fixture fx;

static void srv_setup(void)
{
	mk_tmpdir();
	memset(&fx, 0, sizeof(fx));
	uv_loop_init(&fx.loop);
	snprintf(fx.path, sizeof(fx.path), "%s/%s", tmpdir, ADMIN_SOCK_NAME);
	ck_assert_int_eq(admin_srv_start(&fx.loop, fx.path, handler, &fx, &fx.srv), 0);
	admin_srv_on_close(fx.srv, on_conn_closed, &fx);
	uv_async_init(&fx.loop, &fx.stop, on_stop);
	fx.stop.data = &fx;
	pthread_create(&fx.thr, NULL, loop_main, &fx);
}

static void srv_teardown(void)
{
	uv_async_send(&fx.stop);
	pthread_join(fx.thr, NULL);
	ck_assert_int_eq(uv_loop_close(&fx.loop), 0);
	rm_tmpdir();
}

static int raw_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.100s", fx.path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Read until EOF or timeout; returns bytes read. */
static size_t read_all(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;
	while (got < cap - 1 && (n = read(fd, buf + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = 0;
	return got;
}

START_TEST(server_basic_and_permissions)
{
	struct stat st;
	ck_assert_int_eq(stat(fx.path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	json_t *req = aproto_request("hello"), *r;
	ck_assert_int_eq(admin_call(tmpdir, req, 5000, &r, err, sizeof(err)), 0);
	ck_assert_str_eq(json_string_value(json_object_get(r, "echo")), "hello");
	json_decref(r);
	json_decref(req);
}
END_TEST

START_TEST(server_garbage_and_pipelining)
{
	/* Pipelined requests are answered in order on one connection. */
	int fd = raw_connect();
	const char *two = "{\"op\":\"a\"}\n{\"op\":\"b\"}\n";
	ck_assert_int_eq(write(fd, two, strlen(two)), (ssize_t)strlen(two));
	shutdown(fd, SHUT_WR);
	char buf[4096];
	read_all(fd, buf, sizeof(buf));
	char *a = strstr(buf, "\"echo\":\"a\""), *b = strstr(buf, "\"echo\":\"b\"");
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert(a < b);
	close(fd);

	/* Garbage: an error reply, then the connection closes. */
	fd = raw_connect();
	ck_assert_int_eq(write(fd, "\x00\xff garbage\n", 11), 11);
	read_all(fd, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "\"code\":\"invalid\""));
	close(fd);

	/* An endless line without newline: closed after ADMIN_LINE_MAX. */
	fd = raw_connect();
	char *junk = malloc(65536);
	memset(junk, 'x', 65536);
	size_t sent = 0;
	while (sent < (size_t)ADMIN_LINE_MAX + 131072) {
		ssize_t n = send(fd, junk, 65536, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	free(junk);
	read_all(fd, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "longer than"));
	close(fd);

	/* The server still works. */
	json_t *req = aproto_request("after"), *r;
	ck_assert_int_eq(admin_call(tmpdir, req, 5000, &r, err, sizeof(err)), 0);
	json_decref(r);
	json_decref(req);
}
END_TEST

static void *slow_client(void *arg)
{
	(void)arg;
	json_t *req = aproto_request("slow"), *r = NULL;
	char e[256];
	int rc = admin_call(tmpdir, req, 5000, &r, e, sizeof(e));
	json_decref(req);
	bool ok = rc == 0 && json_is_true(json_object_get(r, "slow"));
	json_decref(r);
	return ok ? (void *)1 : NULL;
}

START_TEST(server_slow_and_half_open_clients_do_not_block)
{
	/* Half-open clients that never send a newline, and a slow request. */
	int idle[8];
	for (int i = 0; i < 8; i++) {
		idle[i] = raw_connect();
		ck_assert_int_eq(write(idle[i], "{\"op\":", 6), 6);
	}
	pthread_t t;
	pthread_create(&t, NULL, slow_client, NULL);
	usleep(100000);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	json_t *req = aproto_request("fast"), *r;
	ck_assert_int_eq(admin_call(tmpdir, req, 5000, &r, err, sizeof(err)), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	json_decref(r);
	json_decref(req);
	double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	ck_assert_msg(ms < 500, "fast request took %.0f ms behind a slow one", ms);
	void *ok;
	pthread_join(t, &ok);
	ck_assert_ptr_nonnull(ok);
	for (int i = 0; i < 8; i++)
		close(idle[i]);
	/* A client that disconnects before its slow reply does no harm. */
	int fd = raw_connect();
	ck_assert_int_eq(write(fd, "{\"op\":\"slow\"}\n", 14), 14);
	close(fd);
	usleep(1700000);
	req = aproto_request("still-alive");
	ck_assert_int_eq(admin_call(tmpdir, req, 5000, &r, err, sizeof(err)), 0);
	json_decref(r);
	json_decref(req);
}
END_TEST

/* Connection ids and the close hook (node/dlm_admin.c releases a
 * connection's locks there): distinct ids, the hook runs once with the id of
 * the connection that closed. */
static uint64_t conn_id_of(int fd)
{
	char buf[256] = "";
	ck_assert_int_eq(write(fd, "{\"op\":\"conn\"}\n", 14), 14);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	json_t *r = json_loads(buf, 0, NULL);
	ck_assert_ptr_nonnull(r);
	uint64_t id = (uint64_t)json_integer_value(json_object_get(r, "conn"));
	json_decref(r);
	return id;
}

START_TEST(server_close_hook)
{
	int a = raw_connect(), b = raw_connect();
	uint64_t ia = conn_id_of(a), ib = conn_id_of(b);
	ck_assert_uint_ge(ia, 1);
	ck_assert_uint_ge(ib, 1);
	ck_assert_uint_ne(ia, ib);
	ck_assert_int_eq(fx.nclosed, 0);
	close(a);
	for (int i = 0; i < 200 && fx.nclosed < 1; i++)
		usleep(10000);
	ck_assert_int_eq(fx.nclosed, 1);
	ck_assert_uint_eq(fx.closed[0], ia);
	/* b is still served, with its own id. */
	ck_assert_uint_eq(conn_id_of(b), ib);
	close(b);
	for (int i = 0; i < 200 && fx.nclosed < 2; i++)
		usleep(10000);
	ck_assert_int_eq(fx.nclosed, 2);
	ck_assert_uint_eq(fx.closed[1], ib);
}
END_TEST

START_TEST(client_errors)
{
	json_t *req = aproto_request("status"), *r;
	ck_assert_int_eq(admin_call("/nonexistent-sanfs-dir", req, 1000, &r, err, sizeof(err)),
			 -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "is sanfsd running?"));
	json_decref(req);
}
END_TEST

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN); /* as sanfsd does: a vanished client is EPIPE */
	Suite *s = suite_create("node");
	TCase *tc = tcase_create("conf");
	tcase_add_test(tc, id_validation);
	tcase_add_test(tc, address_validation);
	tcase_add_test(tc, token_roundtrip);
	tcase_add_test(tc, token_rejects_damage);
	tcase_add_test(tc, conf_roundtrip_and_errors);
	tcase_add_test(tc, proto_parse);
	tcase_add_test(tc, client_errors);
	suite_add_tcase(s, tc);
	TCase *ts = tcase_create("server");
	tcase_add_checked_fixture(ts, srv_setup, srv_teardown);
	tcase_set_timeout(ts, 30);
	tcase_add_test(ts, server_basic_and_permissions);
	tcase_add_test(ts, server_garbage_and_pipelining);
	tcase_add_test(ts, server_slow_and_half_open_clients_do_not_block);
	tcase_add_test(ts, server_close_hook);
	suite_add_tcase(s, ts);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
