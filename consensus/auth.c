/* Cluster key and the challenge-response handshake (auth.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/endian_le.h"
#include "common/log.h"
#include "consensus/auth.h"

#define MAC_BYTES   crypto_auth_BYTES /* 32 */
#define NONCE_BYTES 32

_Static_assert(crypto_auth_KEYBYTES == AUTH_KEY_BYTES, "HMAC-SHA512-256 key size");
_Static_assert(crypto_auth_BYTES == 32, "HMAC-SHA512-256 tag size");

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_rc;

static void sodium_setup(void)
{
	sodium_rc = sodium_init() < 0 ? -EIO : 0;
}

static int sodium_ready(void)
{
	pthread_once(&sodium_once, sodium_setup);
	if (sodium_rc)
		log_error("auth", "libsodium failed to initialise");
	return sodium_rc;
}

/* ---- key --------------------------------------------------------------- */

#define KEY_PREFIX "sanfs1-"

int auth_key_generate(struct auth_key *k)
{
	int rc = sodium_ready();
	if (rc)
		return rc;
	randombytes_buf(k->cluster_id, sizeof(k->cluster_id));
	crypto_auth_keygen(k->key);
	return 0;
}

int auth_key_encode(const struct auth_key *k, char *out, size_t outlen)
{
	if (outlen < AUTH_KEY_TEXT_MAX)
		return -ENOSPC;
	strcpy(out, KEY_PREFIX);
	sodium_bin2hex(out + 7, outlen - 7, k->cluster_id, sizeof(k->cluster_id));
	sodium_bin2hex(out + 7 + 2 * AUTH_CLUSTER_ID_BYTES, outlen - 7 - 2 * AUTH_CLUSTER_ID_BYTES,
		       k->key, sizeof(k->key));
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int auth_key_decode(const char *text, struct auth_key *k)
{
	struct auth_key tmp;
	uint8_t *raw = (uint8_t *)&tmp;
	size_t n = strlen(text);
	const size_t hexlen = 2 * (AUTH_CLUSTER_ID_BYTES + AUTH_KEY_BYTES);

	_Static_assert(sizeof(struct auth_key) == AUTH_CLUSTER_ID_BYTES + AUTH_KEY_BYTES,
		       "auth_key has no padding");
	while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		n--;
	if (n != 7 + hexlen || strncmp(text, KEY_PREFIX, 7) != 0)
		return -EINVAL;
	for (size_t i = 0; i < hexlen / 2; i++) {
		int hi = hexval(text[7 + 2 * i]), lo = hexval(text[8 + 2 * i]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		raw[i] = (uint8_t)(hi << 4 | lo);
	}
	*k = tmp;
	sodium_memzero(&tmp, sizeof(tmp));
	return 0;
}

int auth_key_save(const char *path, const struct auth_key *k)
{
	char text[AUTH_KEY_TEXT_MAX + 1], tmp[4096];
	int fd, rc = 0;

	auth_key_encode(k, text, sizeof(text));
	strcat(text, "\n");
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0600) < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
	    fsync(fd) < 0)
		rc = errno ? -errno : -EIO;
	close(fd);
	sodium_memzero(text, sizeof(text));
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

int auth_key_load(const char *path, struct auth_key *k)
{
	char text[AUTH_KEY_TEXT_MAX + 8];
	struct stat st;
	ssize_t n;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (st.st_mode & 077) {
		close(fd);
		log_error("auth", "%s: key file readable by others (mode %03o), refusing", path,
			  st.st_mode & 0777);
		return -EPERM;
	}
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	text[n] = '\0';
	rc = auth_key_decode(text, k);
	sodium_memzero(text, sizeof(text));
	if (rc)
		log_error("auth", "%s: not a sanfs cluster key", path);
	return rc;
}

/* ---- handshake --------------------------------------------------------- */

#define MAGIC_HELLO "SNA1"
#define MAGIC_CHAL  "SNA2"
#define MAGIC_RESP  "SNA3"
#define MAGIC_OK    "SNA4"

enum hs_step { ST_HELLO, ST_CHAL, ST_RESP, ST_OK, ST_DONE };

struct auth_hs {
	uv_stream_t *stream;
	void *saved_data; /* the caller's stream->data, restored at the end */
	struct auth_key key;
	enum auth_role role;
	uint64_t self_id, peer_id;
	auth_hs_cb cb;
	auth_hs_addr_cb cb_addr;
	void *data;
	char self_addr[AUTH_ADDR_MAX];
	char peer_addr[AUTH_ADDR_MAX];
	uv_timer_t timer;
	enum hs_step step; /* the message being read */
	uint8_t nc[NONCE_BYTES], ns[NONCE_BYTES];
	uint8_t rbuf[AUTH_HELLO_BYTES > AUTH_CHAL_BYTES ? AUTH_HELLO_BYTES : AUTH_CHAL_BYTES];
	size_t rneed, rgot;
	bool finished;
	char peer[96];
};

struct hs_write {
	uv_write_t req;
	uint8_t buf[AUTH_HELLO_BYTES > AUTH_CHAL_BYTES ? AUTH_HELLO_BYTES : AUTH_CHAL_BYTES];
};

static void hs_timer_closed(uv_handle_t *h)
{
	struct auth_hs *hs = h->data;
	sodium_memzero(&hs->key, sizeof(hs->key));
	free(hs);
}

static void hs_finish(struct auth_hs *hs, int status)
{
	if (hs->finished)
		return;
	hs->finished = true;
	uv_read_stop(hs->stream);
	uv_timer_stop(&hs->timer);
	hs->stream->data = hs->saved_data;
	if (status) {
		const char *why = status == -EACCES	 ? "wrong cluster key or cluster id"
				  : status == -ETIMEDOUT ? "handshake timed out"
				  : status == -EPROTO	 ? "garbage instead of a handshake"
				  : status == -ECANCELED ? "handshake cancelled"
							 : "connection closed during handshake";
		if (status == -ECANCELED)
			log_debug("auth", "peer %s: %s", hs->peer, why);
		else
			log_warn("auth", "peer %s: %s, dropped", hs->peer, why);
	}
	if (hs->cb_addr)
		hs->cb_addr(hs->data, hs->stream, status, status ? 0 : hs->peer_id,
			    status ? "" : hs->peer_addr);
	else
		hs->cb(hs->data, hs->stream, status, status ? 0 : hs->peer_id);
	uv_close((uv_handle_t *)&hs->timer, hs_timer_closed);
}

static void hs_write_done(uv_write_t *req, int status)
{
	(void)status; /* a failed write shows up as a failed read or the time-out */
	free(req->data);
}

static int hs_send(struct auth_hs *hs, const uint8_t *msg, size_t len)
{
	struct hs_write *w = malloc(sizeof(*w));
	if (!w)
		return -ENOMEM;
	memcpy(w->buf, msg, len);
	w->req.data = w;
	uv_buf_t b = uv_buf_init((char *)w->buf, (unsigned)len);
	int rc = uv_write(&w->req, hs->stream, &b, 1, hs_write_done);
	if (rc) {
		free(w);
		return -ECONNRESET;
	}
	return 0;
}

#define MAC_IN_BYTES (97 + AUTH_ADDR_MAX)

static void mac_input(const struct auth_hs *hs, char tag, uint8_t out[MAC_IN_BYTES])
{
	uint64_t client = hs->role == AUTH_CLIENT ? hs->self_id : hs->peer_id;
	uint64_t server = hs->role == AUTH_CLIENT ? hs->peer_id : hs->self_id;
	out[0] = (uint8_t)tag;
	memcpy(out + 1, hs->key.cluster_id, AUTH_CLUSTER_ID_BYTES);
	le64_put(out + 17, client);
	le64_put(out + 25, server);
	memcpy(out + 33, hs->nc, NONCE_BYTES);
	memcpy(out + 65, hs->ns, NONCE_BYTES);
	/* the client's announced address, NUL-padded */
	memset(out + 97, 0, AUTH_ADDR_MAX);
	const char *addr = hs->role == AUTH_CLIENT ? hs->self_addr : hs->peer_addr;
	memcpy(out + 97, addr, strnlen(addr, AUTH_ADDR_MAX - 1));
}

static void hs_expect(struct auth_hs *hs, enum hs_step step, size_t len)
{
	hs->step = step;
	hs->rneed = len;
	hs->rgot = 0;
}

/* A whole message is in rbuf: handle it. Returns 0 or the failure status. */
static int hs_message(struct auth_hs *hs)
{
	uint8_t in[MAC_IN_BYTES], msg[AUTH_CHAL_BYTES];
	const uint8_t *b = hs->rbuf;
	int rc;

	switch (hs->step) {
	case ST_HELLO: /* server */
		if (memcmp(b, MAGIC_HELLO, 4) != 0)
			return -EPROTO;
		if (sodium_memcmp(b + 4, hs->key.cluster_id, AUTH_CLUSTER_ID_BYTES) != 0)
			return -EACCES;
		hs->peer_id = le64_get(b + 20);
		memcpy(hs->nc, b + 28, NONCE_BYTES);
		/* Address: printable ASCII, NUL-padded; anything else is garbage. */
		for (size_t i = 0; i < AUTH_ADDR_MAX; i++) {
			uint8_t ch = b[60 + i];
			if (ch == 0) {
				for (size_t j = i; j < AUTH_ADDR_MAX; j++)
					if (b[60 + j] != 0)
						return -EPROTO;
				break;
			}
			if (ch < 0x21 || ch > 0x7e || i == AUTH_ADDR_MAX - 1)
				return -EPROTO;
			hs->peer_addr[i] = (char)ch;
		}
		randombytes_buf(hs->ns, NONCE_BYTES);
		memcpy(msg, MAGIC_CHAL, 4);
		le64_put(msg + 4, hs->self_id);
		memcpy(msg + 12, hs->ns, NONCE_BYTES);
		mac_input(hs, 'S', in);
		crypto_auth(msg + 44, in, sizeof(in), hs->key.key);
		rc = hs_send(hs, msg, AUTH_CHAL_BYTES);
		if (rc)
			return rc;
		hs_expect(hs, ST_RESP, AUTH_RESP_BYTES);
		return 0;
	case ST_CHAL: /* client */
		if (memcmp(b, MAGIC_CHAL, 4) != 0)
			return -EPROTO;
		hs->peer_id = le64_get(b + 4);
		memcpy(hs->ns, b + 12, NONCE_BYTES);
		mac_input(hs, 'S', in);
		if (crypto_auth_verify(b + 44, in, sizeof(in), hs->key.key) != 0)
			return -EACCES;
		memcpy(msg, MAGIC_RESP, 4);
		mac_input(hs, 'C', in);
		crypto_auth(msg + 4, in, sizeof(in), hs->key.key);
		rc = hs_send(hs, msg, AUTH_RESP_BYTES);
		if (rc)
			return rc;
		hs_expect(hs, ST_OK, AUTH_OK_BYTES);
		return 0;
	case ST_RESP: /* server */
		if (memcmp(b, MAGIC_RESP, 4) != 0)
			return -EPROTO;
		mac_input(hs, 'C', in);
		if (crypto_auth_verify(b + 4, in, sizeof(in), hs->key.key) != 0)
			return -EACCES;
		rc = hs_send(hs, (const uint8_t *)MAGIC_OK, AUTH_OK_BYTES);
		if (rc)
			return rc;
		hs->step = ST_DONE;
		return 0;
	case ST_OK: /* client */
		if (memcmp(b, MAGIC_OK, 4) != 0)
			return -EPROTO;
		hs->step = ST_DONE;
		return 0;
	case ST_DONE:
		break;
	}
	return -EPROTO;
}

static void hs_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct auth_hs *hs = h->data;
	(void)suggested;
	/* Exactly what the current message still needs: never read past the
	 * handshake into the caller's protocol. */
	buf->base = (char *)hs->rbuf + hs->rgot;
	buf->len = hs->rneed - hs->rgot;
}

static void hs_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct auth_hs *hs = s->data;
	int rc;
	(void)buf;

	if (nread == 0)
		return;
	if (nread < 0) {
		hs_finish(hs, nread == UV_ENOBUFS ? -EPROTO : -ECONNRESET);
		return;
	}
	hs->rgot += (size_t)nread;
	if (hs->rgot < hs->rneed)
		return;
	rc = hs_message(hs);
	if (rc || hs->step == ST_DONE)
		hs_finish(hs, rc);
}

static void hs_timeout(uv_timer_t *t)
{
	hs_finish(t->data, -ETIMEDOUT);
}

static void peer_name(uv_stream_t *s, char *out, size_t len)
{
	struct sockaddr_storage ss;
	int n = sizeof(ss);
	snprintf(out, len, "?");
	if (s->type != UV_TCP || uv_tcp_getpeername((uv_tcp_t *)s, (struct sockaddr *)&ss, &n))
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		char ip[32];
		uv_ip4_name(in, ip, sizeof(ip));
		snprintf(out, len, "%s:%u", ip, ntohs(in->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		char ip[48];
		uv_ip6_name(in6, ip, sizeof(ip));
		snprintf(out, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
	}
}

static int hs_start(uv_stream_t *stream, const struct auth_key *key, enum auth_role role,
		    uint64_t self_id, const char *self_address, unsigned timeout_ms, auth_hs_cb cb,
		    auth_hs_addr_cb cb_addr, void *data, struct auth_hs **out)
{
	struct auth_hs *hs;
	int rc = sodium_ready();

	if (out)
		*out = NULL;
	if (rc)
		return rc;
	if (!stream || !key || (!cb && !cb_addr) || (role != AUTH_CLIENT && role != AUTH_SERVER) ||
	    (self_address && strlen(self_address) >= AUTH_ADDR_MAX))
		return -EINVAL;
	hs = calloc(1, sizeof(*hs));
	if (!hs)
		return -ENOMEM;
	hs->stream = stream;
	hs->saved_data = stream->data;
	hs->key = *key;
	hs->role = role;
	hs->self_id = self_id;
	hs->cb = cb;
	hs->cb_addr = cb_addr;
	hs->data = data;
	if (self_address)
		strcpy(hs->self_addr, self_address);
	peer_name(stream, hs->peer, sizeof(hs->peer));
	uv_timer_init(stream->loop, &hs->timer);
	hs->timer.data = hs;
	stream->data = hs;
	if (role == AUTH_CLIENT) {
		uint8_t msg[AUTH_HELLO_BYTES];
		randombytes_buf(hs->nc, NONCE_BYTES);
		memcpy(msg, MAGIC_HELLO, 4);
		memcpy(msg + 4, key->cluster_id, AUTH_CLUSTER_ID_BYTES);
		le64_put(msg + 20, self_id);
		memcpy(msg + 28, hs->nc, NONCE_BYTES);
		memset(msg + 60, 0, AUTH_ADDR_MAX);
		memcpy(msg + 60, hs->self_addr, strlen(hs->self_addr));
		rc = hs_send(hs, msg, sizeof(msg));
		hs_expect(hs, ST_CHAL, AUTH_CHAL_BYTES);
	} else {
		hs_expect(hs, ST_HELLO, AUTH_HELLO_BYTES);
	}
	if (rc == 0)
		rc = uv_read_start(stream, hs_alloc, hs_read) ? -ECONNRESET : 0;
	if (rc == 0)
		rc = uv_timer_start(&hs->timer, hs_timeout, timeout_ms ? timeout_ms : 3000, 0)
			 ? -EIO
			 : 0;
	if (rc) {
		uv_read_stop(stream);
		stream->data = hs->saved_data;
		hs->finished = true;
		uv_close((uv_handle_t *)&hs->timer, hs_timer_closed);
		return rc;
	}
	if (out)
		*out = hs;
	return 0;
}

int auth_hs_start(uv_stream_t *stream, const struct auth_key *key, enum auth_role role,
		  uint64_t self_id, unsigned timeout_ms, auth_hs_cb cb, void *data,
		  struct auth_hs **out)
{
	return hs_start(stream, key, role, self_id, NULL, timeout_ms, cb, NULL, data, out);
}

int auth_hs_start_addr(uv_stream_t *stream, const struct auth_key *key, enum auth_role role,
		       uint64_t self_id, const char *self_address, unsigned timeout_ms,
		       auth_hs_addr_cb cb, void *data, struct auth_hs **out)
{
	return hs_start(stream, key, role, self_id, self_address, timeout_ms, NULL, cb, data, out);
}

void auth_hs_cancel(struct auth_hs *hs)
{
	hs_finish(hs, -ECANCELED);
}
