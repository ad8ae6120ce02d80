/* CCD rules: keys, format rows, rows, wildcard patterns and the text format
 * (ccd.h). Pure functions; the replicated storage is in store_ccd.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "consensus/ccd.h"
#include "consensus/consensus.h"

static bool name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '.' || ch == '-';
}

static bool name_valid(const char *s, size_t n)
{
	if (n == 0 || n >= CCD_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char(s[i]))
			return false;
	return true;
}

bool ccd_key_valid(const char *key)
{
	return key && name_valid(key, strnlen(key, CCD_KEY_MAX));
}

int ccd_format_check(const char *fmt)
{
	size_t len;
	int ncols = 0;
	const char *p, *col;

	if (!fmt)
		return -EINVAL;
	len = strnlen(fmt, CCD_ROW_MAX);
	if (len == 0 || len >= CCD_ROW_MAX)
		return -EINVAL;
	col = fmt;
	for (p = fmt;; p++) {
		if (*p == ':' || *p == '\0') {
			if (!name_valid(col, (size_t)(p - col)))
				return -EINVAL;
			if (++ncols > CCD_MAX_COLUMNS)
				return -EINVAL;
			if (*p == '\0')
				break;
			col = p + 1;
		}
	}
	return ncols;
}

int ccd_row_check(const char *row, int ncols)
{
	size_t len;
	int n = 1;

	if (!row || ncols < 1)
		return -EINVAL;
	len = strnlen(row, CCD_ROW_MAX);
	if (len == 0 || len >= CCD_ROW_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (row[i] == '\n' || row[i] == '\r')
			return -EINVAL;
		if (row[i] == ':')
			n++;
	}
	return n == ncols ? 0 : -EINVAL;
}

/* '*' glob over [p, pe) against [s, se); iterative with one backtrack point,
 * so it is linear-ish and cannot recurse deeply on hostile patterns. */
static bool glob(const char *p, const char *pe, const char *s, const char *se)
{
	const char *star = NULL, *ss = NULL;

	while (s < se) {
		if (p < pe && *p == '*') {
			star = p++;
			ss = s;
		} else if (p < pe && *p == *s) {
			p++;
			s++;
		} else if (star) {
			p = star + 1;
			s = ++ss;
		} else {
			return false;
		}
	}
	while (p < pe && *p == '*')
		p++;
	return p == pe;
}

bool ccd_match(const char *pattern, const char *row)
{
	const char *p = pattern, *r = row;

	if (!pattern || !*pattern)
		return true;
	for (;;) {
		const char *pe = strchr(p, ':'), *re = strchr(r, ':');
		if (!pe)
			pe = p + strlen(p);
		if (!re)
			re = r + strlen(r);
		if (!glob(p, pe, r, re))
			return false;
		if (*pe == '\0')
			return true; /* missing trailing pattern columns match anything */
		if (*re == '\0')
			return false; /* pattern has more columns than the row */
		p = pe + 1;
		r = re + 1;
	}
}

/* Formats seen so far in one parse: key -> column count. */
struct fmt_seen {
	char (*keys)[CCD_KEY_MAX];
	int *ncols;
	size_t n, cap;
};

static int seen_find(const struct fmt_seen *f, const char *key)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->keys[i], key) == 0)
			return f->ncols[i];
	return -ENOENT;
}

static int seen_set(struct fmt_seen *f, const char *key, int ncols)
{
	for (size_t i = 0; i < f->n; i++) {
		if (strcmp(f->keys[i], key) == 0) {
			f->ncols[i] = ncols;
			return 0;
		}
	}
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		void *k = realloc(f->keys, cap * sizeof(*f->keys));
		if (!k)
			return -ENOMEM;
		f->keys = k;
		void *c = realloc(f->ncols, cap * sizeof(*f->ncols));
		if (!c)
			return -ENOMEM;
		f->ncols = c;
		f->cap = cap;
	}
	memcpy(f->keys[f->n], key, strlen(key) + 1);
	f->ncols[f->n++] = ncols;
	return 0;
}

static int parse_line(struct fmt_seen *seen, char *line, ccd_line_cb cb, void *data)
{
	char *sp, *key, *text;
	size_t klen;
	int ncols;

	if (line[0] == '@') {
		sp = strchr(line, ' ');
		if (!sp)
			return -EINVAL;
		*sp = '\0';
		key = line + 1;
		text = sp + 1;
		if (!name_valid(key, strlen(key)))
			return -EINVAL;
		return cb ? cb(data, CCD_LINE_RECORD, key, text) : 0;
	}
	sp = strchr(line, ' ');
	if (!sp)
		return -EINVAL;
	*sp = '\0';
	key = line;
	text = sp + 1;
	klen = strlen(key);
	if (klen > 4 && strcmp(key + klen - 4, "_fmt") == 0) {
		key[klen - 4] = '\0';
		if (!ccd_key_valid(key))
			return -EINVAL;
		ncols = ccd_format_check(text);
		if (ncols < 0)
			return -EINVAL;
		if (seen_set(seen, key, ncols))
			return -ENOMEM;
		return cb ? cb(data, CCD_LINE_FORMAT, key, text) : 0;
	}
	if (!ccd_key_valid(key))
		return -EINVAL;
	ncols = seen_find(seen, key);
	if (ncols < 0 || ccd_row_check(text, ncols))
		return -EINVAL;
	return cb ? cb(data, CCD_LINE_ROW, key, text) : 0;
}

int ccd_text_parse(const char *text, size_t len, ccd_line_cb cb, void *data, unsigned *bad_line)
{
	struct fmt_seen seen = {0};
	char *line = malloc(CCD_KEY_MAX + CCD_ROW_MAX + 8);
	size_t pos = 0;
	unsigned lineno = 0;
	int rv = 0;

	if (!line)
		return -ENOMEM;
	while (pos < len && rv == 0) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		lineno++;
		if (n >= CCD_KEY_MAX + CCD_ROW_MAX + 8 || memchr(text + pos, '\0', n)) {
			rv = -EINVAL;
		} else {
			memcpy(line, text + pos, n);
			line[n] = '\0';
			if (n && line[n - 1] == '\r')
				line[n - 1] = '\0';
			if (line[0] != '\0' && line[0] != '#')
				rv = parse_line(&seen, line, cb, data);
		}
		pos += n + 1;
	}
	if (rv && bad_line)
		*bad_line = lineno;
	free(line);
	free(seen.keys);
	free(seen.ncols);
	return rv;
}

int ccd_file_read(const char *path, char **text, size_t *len)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd, rv;

	*text = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rv = -errno;
		close(fd);
		return rv;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > CONS_CCD_BLOB_MAX) {
		close(fd);
		log_error("ccd", "%s: not a regular file of at most %u bytes", path,
			  CONS_CCD_BLOB_MAX);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*text = buf;
	*len = got;
	return 0;
}

int ccd_file_parse(const char *path, ccd_line_cb cb, void *data)
{
	char *buf;
	size_t got;
	unsigned bad = 0;
	int rv = ccd_file_read(path, &buf, &got);

	if (rv)
		return rv;
	rv = ccd_text_parse(buf, got, cb, data, &bad);
	if (rv == -EINVAL)
		log_error("ccd", "%s:%u: bad line (see ccd.h for the format)", path, bad);
	free(buf);
	return rv;
}
