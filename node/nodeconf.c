/* node/nodeconf: state directory files, argument validation, join tokens. */
#include "node/nodeconf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/endian_le.h"

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int nconf_parse_id(const char *s, unsigned *out, char *err, size_t errlen)
{
	if (!s || !*s)
		return fail(err, errlen, -EINVAL, "node id is empty (expected %d..%d)",
			    NCONF_ID_MIN, NCONF_ID_MAX);
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char)*p))
			return fail(err, errlen, -EINVAL,
				    "node id '%.32s' is not a number (expected %d..%d)", s,
				    NCONF_ID_MIN, NCONF_ID_MAX);
	if (strlen(s) > 5)
		return fail(err, errlen, -ERANGE, "node id '%.32s' out of range %d..%d", s,
			    NCONF_ID_MIN, NCONF_ID_MAX);
	unsigned long v = strtoul(s, NULL, 10);
	if (v < NCONF_ID_MIN || v > NCONF_ID_MAX)
		return fail(err, errlen, -ERANGE, "node id %lu out of range %d..%d", v,
			    NCONF_ID_MIN, NCONF_ID_MAX);
	*out = (unsigned)v;
	return 0;
}

int nconf_parse_address(const char *s, char *host, size_t hostlen, unsigned *port, char *err,
			size_t errlen)
{
	char h[INET6_ADDRSTRLEN + 1];
	const char *ps;
	size_t hl;
	if (!s || !*s)
		return fail(err, errlen, -EINVAL, "address is empty (expected IP:PORT)");
	if (strlen(s) >= NCONF_ADDR_MAX)
		return fail(err, errlen, -EINVAL, "address too long (expected IP:PORT)");
	if (s[0] == '[') {
		const char *e = strchr(s, ']');
		if (!e || e[1] != ':')
			return fail(err, errlen, -EINVAL, "address '%s': expected [IPv6]:PORT", s);
		hl = (size_t)(e - s - 1);
		ps = e + 2;
		if (hl == 0 || hl >= sizeof(h))
			return fail(err, errlen, -EINVAL, "address '%s': bad IPv6 address", s);
		memcpy(h, s + 1, hl);
		h[hl] = 0;
		struct in6_addr a6;
		if (inet_pton(AF_INET6, h, &a6) != 1)
			return fail(err, errlen, -EINVAL, "address '%s': bad IPv6 address", s);
	} else {
		const char *c = strrchr(s, ':');
		if (!c)
			return fail(err, errlen, -EINVAL, "address '%s': missing ':PORT'", s);
		hl = (size_t)(c - s);
		ps = c + 1;
		if (hl == 0 || hl >= sizeof(h))
			return fail(err, errlen, -EINVAL, "address '%s': missing IP", s);
		memcpy(h, s, hl);
		h[hl] = 0;
		struct in_addr a4;
		if (inet_pton(AF_INET, h, &a4) != 1)
			return fail(err, errlen, -EINVAL,
				    "address '%s': '%s' is not an IPv4 address (use [IPv6]:PORT "
				    "for IPv6)",
				    s, h);
	}
	if (!*ps || strlen(ps) > 5)
		return fail(err, errlen, -EINVAL, "address '%s': bad port (expected 1..65535)", s);
	for (const char *p = ps; *p; p++)
		if (!isdigit((unsigned char)*p))
			return fail(err, errlen, -EINVAL,
				    "address '%s': bad port (expected 1..65535)", s);
	unsigned long pv = strtoul(ps, NULL, 10);
	if (pv < 1 || pv > 65535)
		return fail(err, errlen, -ERANGE, "address '%s': port out of range 1..65535", s);
	if (host) {
		if (hostlen <= strlen(h))
			return fail(err, errlen, -ENAMETOOLONG, "address '%s': host too long", s);
		strcpy(host, h);
	}
	if (port)
		*port = (unsigned)pv;
	return 0;
}

int nconf_check_name(const char *s, char *err, size_t errlen)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n >= NCONF_NAME_MAX)
		return fail(err, errlen, -EINVAL, "name must be 1..%d characters",
			    NCONF_NAME_MAX - 1);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return fail(err, errlen, -EINVAL,
				    "name '%.63s': only letters, digits, '.', '_' and '-'", s);
	return 0;
}

int nconf_control_address(const char *raft_addr, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	unsigned port;
	int rc = nconf_parse_address(raft_addr, host, sizeof(host), &port, NULL, 0);
	if (rc)
		return rc;
	if (port > 65535 - 2)
		return -ERANGE;
	int n = strchr(host, ':') ? snprintf(out, outlen, "[%s]:%u", host, port + 1)
				  : snprintf(out, outlen, "%s:%u", host, port + 1);
	return (n < 0 || (size_t)n >= outlen) ? -ENAMETOOLONG : 0;
}

void nconf_init_defaults(struct node_conf *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->key_file, "cluster.key");
	c->hb_interval_ms = 100;
	c->hb_timeout_ms = 1000;
	/* libraft randomises the election timeout in [T, 2T]: 750 ms puts a
	 * new ADM well inside 3 s of a crash (issue 3). */
	c->election_ms = 750;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

static int parse_ms(const char *v, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	if (!*v || !isdigit((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	unsigned long x = strtoul(v, &end, 10);
	if (errno || *end || x < lo || x > hi)
		return -ERANGE;
	*out = (unsigned)x;
	return 0;
}

int nconf_load(const char *dir, struct node_conf *c, char *err, size_t errlen)
{
	char path[PATH_MAX], line[4200], e2[200];
	snprintf(path, sizeof(path), "%s/node.conf", dir);
	nconf_init_defaults(c);
	FILE *f = fopen(path, "re");
	if (!f)
		return fail(err, errlen, -errno,
			    "%s: %s (run `sanctl bootstrap` or `sanctl join` first)", path,
			    strerror(errno));
	int lineno = 0, rc = 0;
	bool have_id = false, have_addr = false, have_cluster = false;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		char *l = trim(line);
		if (!*l)
			continue;
		char *eq = strchr(l, '=');
		if (!eq) {
			rc = fail(err, errlen, -EINVAL, "%s:%d: expected 'key = value'", path,
				  lineno);
			break;
		}
		*eq = 0;
		char *k = trim(l), *v = trim(eq + 1);
		if (!strcmp(k, "id")) {
			rc = nconf_parse_id(v, &c->id, e2, sizeof(e2));
			have_id = true;
		} else if (!strcmp(k, "address")) {
			rc = nconf_parse_address(v, NULL, 0, NULL, e2, sizeof(e2));
			if (!rc)
				strcpy(c->address, v);
			have_addr = true;
		} else if (!strcmp(k, "cluster")) {
			uint8_t b[NCONF_CLUSTER_HEX / 2];
			rc = nconf_hex_decode(v, b, sizeof(b));
			if (rc)
				snprintf(e2, sizeof(e2), "cluster id must be %d hex digits",
					 NCONF_CLUSTER_HEX);
			else
				nconf_hex_encode(b, sizeof(b), c->cluster);
			have_cluster = true;
		} else if (!strcmp(k, "key_file")) {
			if (!*v || strlen(v) >= sizeof(c->key_file)) {
				rc = -EINVAL;
				snprintf(e2, sizeof(e2), "bad key_file");
			} else {
				strcpy(c->key_file, v);
			}
		} else if (!strcmp(k, "name")) {
			rc = nconf_check_name(v, e2, sizeof(e2));
			if (!rc)
				strcpy(c->name, v);
		} else if (!strcmp(k, "bootstrap")) {
			if (strcmp(v, "0") && strcmp(v, "1")) {
				rc = -EINVAL;
				snprintf(e2, sizeof(e2), "bootstrap must be 0 or 1");
			}
			c->bootstrap = !strcmp(v, "1");
		} else if (!strcmp(k, "join")) {
			rc = nconf_parse_address(v, NULL, 0, NULL, e2, sizeof(e2));
			if (!rc)
				strcpy(c->join_address, v);
		} else if (!strcmp(k, "heartbeat_ms")) {
			rc = parse_ms(v, 10, 10000, &c->hb_interval_ms);
			if (rc)
				snprintf(e2, sizeof(e2), "heartbeat_ms must be 10..10000");
		} else if (!strcmp(k, "timeout_ms")) {
			rc = parse_ms(v, 100, 600000, &c->hb_timeout_ms);
			if (rc)
				snprintf(e2, sizeof(e2), "timeout_ms must be 100..600000");
		} else if (!strcmp(k, "election_ms")) {
			rc = parse_ms(v, 100, 60000, &c->election_ms);
			if (rc)
				snprintf(e2, sizeof(e2), "election_ms must be 100..60000");
		} else {
			rc = -EINVAL;
			snprintf(e2, sizeof(e2), "unknown key '%.64s'", k);
		}
		if (rc) {
			fail(err, errlen, rc, "%s:%d: %s", path, lineno, e2);
			break;
		}
	}
	fclose(f);
	if (rc)
		return rc;
	if (!have_id || !have_addr || !have_cluster)
		return fail(err, errlen, -EINVAL, "%s: missing %s", path,
			    !have_id	 ? "id"
			    : !have_addr ? "address"
					 : "cluster");
	if (c->hb_timeout_ms < 2 * c->hb_interval_ms)
		return fail(err, errlen, -EINVAL,
			    "%s: timeout_ms must be at least twice heartbeat_ms", path);
	if (!c->name[0])
		snprintf(c->name, sizeof(c->name), "n%u", c->id);
	return 0;
}

int nconf_save(const char *dir, const struct node_conf *c, char *err, size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	snprintf(path, sizeof(path), "%s/node.conf", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(err, errlen, -errno, "%s: %s", tmp, strerror(errno));
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return fail(err, errlen, -ENOMEM, "out of memory");
	}
	fprintf(f, "# sanfs node configuration, written by sanctl (DESIGN §8)\n");
	fprintf(f, "id = %u\naddress = %s\ncluster = %s\nkey_file = %s\nname = %s\n", c->id,
		c->address, c->cluster, c->key_file, c->name[0] ? c->name : "node");
	fprintf(f, "bootstrap = %d\n", c->bootstrap ? 1 : 0);
	if (c->join_address[0])
		fprintf(f, "join = %s\n", c->join_address);
	fprintf(f, "heartbeat_ms = %u\ntimeout_ms = %u\nelection_ms = %u\n", c->hb_interval_ms,
		c->hb_timeout_ms, c->election_ms);
	int rc = 0;
	if (fflush(f) || fsync(fileno(f)))
		rc = -errno;
	if (fclose(f) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return fail(err, errlen, rc, "%s: %s", path, strerror(-rc));
	}
	return 0;
}

static void key_path(const char *dir, const struct node_conf *c, char *out, size_t len)
{
	int n = c->key_file[0] == '/' ? snprintf(out, len, "%s", c->key_file)
				      : snprintf(out, len, "%s/%s", dir, c->key_file);
	if (n < 0 || (size_t)n >= len)
		out[0] = 0; /* open("") fails with ENOENT: a clear error */
}

int nconf_load_key(const char *dir, const struct node_conf *c, uint8_t key[NCONF_KEY_BYTES],
		   char *err, size_t errlen)
{
	char path[PATH_MAX], buf[128];
	uint8_t bin[16 + NCONF_KEY_BYTES];
	struct stat st;
	key_path(dir, c, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, -errno, "cluster key %s: %s", path, strerror(errno));
	if (fstat(fd, &st) == 0 && (st.st_mode & 077)) {
		close(fd);
		return fail(err, errlen, -EPERM,
			    "cluster key %s is readable by others (chmod 600 it)", path);
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return fail(err, errlen, -EIO, "cluster key %s: %s", path, strerror(errno));
	buf[n] = 0;
	char *t = trim(buf);
	if (strncmp(t, "sanfs1-", 7) || nconf_hex_decode(t + 7, bin, sizeof(bin))) {
		sodium_memzero(buf, sizeof(buf));
		return fail(err, errlen, -EINVAL, "cluster key %s: not a sanfs key file", path);
	}
	sodium_memzero(buf, sizeof(buf));
	char hex[NCONF_CLUSTER_HEX + 1];
	nconf_hex_encode(bin, 16, hex);
	if (strcmp(hex, c->cluster)) {
		sodium_memzero(bin, sizeof(bin));
		return fail(err, errlen, -EINVAL,
			    "cluster key %s belongs to cluster %s, node.conf says %s", path, hex,
			    c->cluster);
	}
	memcpy(key, bin + 16, NCONF_KEY_BYTES);
	sodium_memzero(bin, sizeof(bin));
	return 0;
}

int nconf_write_key(const char *dir, const char *cluster, const uint8_t key[NCONF_KEY_BYTES],
		    char *err, size_t errlen)
{
	char path[PATH_MAX], text[8 + 2 * (16 + NCONF_KEY_BYTES) + 2];
	snprintf(path, sizeof(path), "%s/cluster.key", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
	strcpy(text, "sanfs1-");
	strcat(text, cluster);
	nconf_hex_encode(key, NCONF_KEY_BYTES, text + strlen(text));
	strcat(text, "\n");
	size_t len = strlen(text);
	int rc = (write(fd, text, len) == (ssize_t)len && fsync(fd) == 0) ? 0 : -EIO;
	close(fd);
	sodium_memzero(text, sizeof(text));
	if (rc)
		return fail(err, errlen, rc, "%s: write failed", path);
	return 0;
}

void nconf_hex_encode(const uint8_t *b, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int nconf_hex_decode(const char *s, uint8_t *b, size_t n)
{
	if (strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

#define TOK_BIN_MAX (16 + NCONF_KEY_BYTES + 1 + NCONF_ADDR_MAX + 4)

int ntoken_encode(const struct join_token *t, char *out, size_t outlen)
{
	uint8_t bin[TOK_BIN_MAX];
	size_t n = 0, al = strlen(t->address);
	if (al == 0 || al >= NCONF_ADDR_MAX)
		return -EINVAL;
	if (nconf_hex_decode(t->cluster, bin, 16))
		return -EINVAL;
	n = 16;
	memcpy(bin + n, t->key, NCONF_KEY_BYTES);
	n += NCONF_KEY_BYTES;
	bin[n++] = (uint8_t)al;
	memcpy(bin + n, t->address, al);
	n += al;
	le32_put(bin + n, crc32c(0, bin, n));
	n += 4;
	size_t need = strlen(NCONF_TOKEN_PREFIX) +
		      sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	if (outlen < need)
		return -ENAMETOOLONG;
	strcpy(out, NCONF_TOKEN_PREFIX);
	sodium_bin2base64(out + strlen(NCONF_TOKEN_PREFIX), outlen - strlen(NCONF_TOKEN_PREFIX),
			  bin, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(bin, sizeof(bin));
	return 0;
}

int ntoken_decode(const char *s, struct join_token *t, char *err, size_t errlen)
{
	uint8_t bin[TOK_BIN_MAX];
	size_t n = 0, pl = strlen(NCONF_TOKEN_PREFIX);
	memset(t, 0, sizeof(*t));
	if (!s || strncmp(s, NCONF_TOKEN_PREFIX, pl))
		return fail(err, errlen, -EINVAL, "token must start with '%s'", NCONF_TOKEN_PREFIX);
	if (strlen(s) > NCONF_TOKEN_MAX)
		return fail(err, errlen, -EINVAL, "token too long");
	if (sodium_base642bin(bin, sizeof(bin), s + pl, strlen(s + pl), NULL, &n, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING))
		return fail(err, errlen, -EINVAL, "token is not valid base64url");
	if (n < 16 + NCONF_KEY_BYTES + 1 + 4 + 1)
		return fail(err, errlen, -EINVAL, "token too short (truncated?)");
	if (crc32c(0, bin, n - 4) != le32_get(bin + n - 4)) {
		sodium_memzero(bin, sizeof(bin));
		return fail(err, errlen, -EBADMSG,
			    "token checksum mismatch (mistyped or truncated)");
	}
	size_t al = bin[16 + NCONF_KEY_BYTES];
	if (16 + NCONF_KEY_BYTES + 1 + al + 4 != n || al >= NCONF_ADDR_MAX) {
		sodium_memzero(bin, sizeof(bin));
		return fail(err, errlen, -EINVAL, "token has a bad length");
	}
	nconf_hex_encode(bin, 16, t->cluster);
	memcpy(t->key, bin + 16, NCONF_KEY_BYTES);
	memcpy(t->address, bin + 16 + NCONF_KEY_BYTES + 1, al);
	t->address[al] = 0;
	sodium_memzero(bin, sizeof(bin));
	char e2[160];
	if (nconf_parse_address(t->address, NULL, 0, NULL, e2, sizeof(e2))) {
		sodium_memzero(t, sizeof(*t));
		return fail(err, errlen, -EINVAL, "token carries a bad address: %s", e2);
	}
	return 0;
}

int nconf_make_state_dir(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	if (!dir || !*dir || strlen(dir) > PATH_MAX - 64)
		return fail(err, errlen, -EINVAL, "bad state directory");
	if (mkdir(dir, 0700) && errno != EEXIST)
		return fail(err, errlen, -errno, "%s: %s", dir, strerror(errno));
	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		return fail(err, errlen, -ENOTDIR, "%s is not a directory", dir);
	snprintf(path, sizeof(path), "%s/node.conf", dir);
	if (access(path, F_OK) == 0)
		return fail(err, errlen, -EEXIST,
			    "%s already holds a node (node.conf exists); use another --state "
			    "or remove it",
			    dir);
	if (chmod(dir, 0700))
		return fail(err, errlen, -errno, "%s: chmod: %s", dir, strerror(errno));
	return 0;
}
