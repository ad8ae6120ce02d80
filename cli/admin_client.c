/* cli/admin_client: blocking admin protocol client. */
#include "cli/admin_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "node/admin_proto.h"

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int admin_call(const char *state_dir, json_t *req, int timeout_ms, json_t **reply, char *err,
	       size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	*reply = NULL;
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", state_dir,
			     ADMIN_SOCK_NAME) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "state directory path too long for a socket");
		return -ENAMETOOLONG;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -errno;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;
		close(fd);
		snprintf(err, errlen, "cannot reach sanfsd at %s: %s (is sanfsd running?)",
			 sa.sun_path, strerror(e));
		return -e;
	}
	size_t len;
	char *line = aproto_dump_line(req, &len);
	if (!line) {
		close(fd);
		snprintf(err, errlen, "cannot encode request");
		return -ENOMEM;
	}
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = errno;
			free(line);
			close(fd);
			snprintf(err, errlen, "send to sanfsd: %s", strerror(e));
			return -e;
		}
		off += (size_t)n;
	}
	free(line);
	size_t cap = 65536, got = 0;
	char *buf = malloc(cap);
	long long deadline = now_ms() + timeout_ms;
	int rc = 0;
	for (;;) {
		char *nl = buf ? memchr(buf, '\n', got) : NULL;
		if (!buf) {
			rc = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			break;
		}
		if (nl) {
			rc = aproto_parse_reply(buf, (size_t)(nl - buf), reply, err, errlen);
			if (rc)
				rc = -EPROTO;
			break;
		}
		long long left = deadline - now_ms();
		if (left <= 0) {
			rc = -ETIMEDOUT;
			snprintf(err, errlen, "no reply from sanfsd within %d ms", timeout_ms);
			break;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int pr = poll(&p, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue;
		if (got == cap) {
			if (cap >= 2 * ADMIN_LINE_MAX) {
				rc = -EPROTO;
				snprintf(err, errlen, "reply from sanfsd too long");
				break;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				rc = -ENOMEM;
				snprintf(err, errlen, "out of memory");
				break;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = recv(fd, buf + got, cap - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = -ECONNRESET;
			snprintf(err, errlen, "sanfsd closed the connection without a reply");
			break;
		}
		got += (size_t)n;
	}
	free(buf);
	close(fd);
	return rc;
}

int admin_call_or_print(const char *cmd, const char *state_dir, json_t *req, int timeout_ms,
			json_t **reply)
{
	char err[512];
	int rc = admin_call(state_dir, req, timeout_ms, reply, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "sanctl %s: %s\n", cmd, err);
		return 1;
	}
	const char *code, *e = aproto_reply_error(*reply, &code);
	if (e) {
		if (code && !strcmp(code, ADMIN_E_NOQUORUM))
			fprintf(stderr, "sanctl %s: no quorum: %s\n", cmd, e);
		else
			fprintf(stderr, "sanctl %s: %s\n", cmd, e);
		json_decref(*reply);
		*reply = NULL;
		return 1;
	}
	return 0;
}

int admin_show(const char *cmd, const char *state_dir, int argc, char **argv, const char *usage,
	       const char *op, json_t **reply)
{
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "sanctl %s: unexpected argument '%s'\n", cmd, argv[i]);
			return 2;
		}
	}
	json_t *req = aproto_request(op), *r;
	int rc = admin_call_or_print(cmd, state_dir, req, 5000, &r);
	json_decref(req);
	if (rc)
		return rc;
	if (!json) {
		*reply = r;
		return -1;
	}
	json_object_del(r, "ok");
	char *s = json_dumps(r, JSON_INDENT(2) | JSON_SORT_KEYS);
	printf("%s\n", s ? s : "{}");
	free(s);
	json_decref(r);
	return 0;
}
