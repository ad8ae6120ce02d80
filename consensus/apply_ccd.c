/* Applying CCD commands (consensus.h CONS_CMD_CCD_*; ccd.h for the rules
 * and the canonical dump) and the checkpoint text. Each key is one LMDB value
 * "FORMAT\nROW\nROW..." with its rows sorted and unique; every update
 * rewrites the consistency record (generation, leader date from the command,
 * length and CRC32C of the canonical dump, members from the members table). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/log.h"
#include "consensus/apply_int.h"
#include "consensus/ccd.h"

/* A key's table: format and sorted unique rows (parsed from / built into the
 * "FORMAT\nROW\nROW" value). */
struct table {
	char *mem;
	char *fmt;
	char **rows;
	size_t n, cap;
};

static void table_free(struct table *tb)
{
	free(tb->mem);
	free(tb->rows);
	memset(tb, 0, sizeof(*tb));
}

static int table_load(struct tx *t, const char *key, struct table *tb)
{
	MDB_val v;
	memset(tb, 0, sizeof(*tb));
	int rc = atx_get(t, DB_CCD, key, strlen(key), &v);
	if (rc)
		return rc;
	tb->mem = malloc(v.mv_size + 1);
	if (!tb->mem)
		return -ENOMEM;
	memcpy(tb->mem, v.mv_data, v.mv_size);
	tb->mem[v.mv_size] = '\0';
	tb->fmt = tb->mem;
	char *p = strchr(tb->mem, '\n');
	while (p) {
		*p = '\0';
		if (tb->n == tb->cap) {
			tb->cap = tb->cap ? tb->cap * 2 : 16;
			char **nr = realloc(tb->rows, tb->cap * sizeof(char *));
			if (!nr) {
				table_free(tb);
				return -ENOMEM;
			}
			tb->rows = nr;
		}
		tb->rows[tb->n++] = p + 1;
		p = strchr(p + 1, '\n');
	}
	return 0;
}

static int table_store(struct tx *t, const char *key, const char *fmt, char **rows, size_t n)
{
	size_t len = strlen(fmt), off;
	for (size_t i = 0; i < n; i++)
		len += 1 + strlen(rows[i]);
	char *b = malloc(len + 1);
	if (!b)
		return -ENOMEM;
	off = (size_t)sprintf(b, "%s", fmt);
	for (size_t i = 0; i < n; i++)
		off += (size_t)sprintf(b + off, "\n%s", rows[i]);
	int rc = atx_put(t, DB_CCD, key, strlen(key), b, off);
	free(b);
	return rc;
}

/* Index of row in tb (>= 0) or -(insert position + 1). */
static long table_find(const struct table *tb, const char *row)
{
	size_t lo = 0, hi = tb->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(tb->rows[mid], row);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

static int table_insert(struct table *tb, char *row)
{
	long pos = table_find(tb, row);
	if (pos >= 0)
		return -EEXIST;
	size_t at = (size_t)(-pos - 1);
	if (tb->n == tb->cap) {
		tb->cap = tb->cap ? tb->cap * 2 : 16;
		char **nr = realloc(tb->rows, tb->cap * sizeof(char *));
		if (!nr)
			return -ENOMEM;
		tb->rows = nr;
	}
	memmove(tb->rows + at + 1, tb->rows + at, (tb->n - at) * sizeof(char *));
	tb->rows[at] = row;
	tb->n++;
	return 0;
}

struct crc_arg {
	uint32_t crc;
	uint64_t len;
	char **text; /* optional: build the text too */
	size_t *tlen, tcap;
};

static int crc_add(struct crc_arg *a, const char *s, size_t n)
{
	a->crc = crc32c(a->crc, s, n);
	a->len += n;
	if (a->text) {
		if (*a->tlen + n + 1 > a->tcap) {
			size_t cap = a->tcap ? a->tcap : 4096;
			while (cap < *a->tlen + n + 1)
				cap *= 2;
			char *nt = realloc(*a->text, cap);
			if (!nt)
				return -ENOMEM;
			*a->text = nt;
			a->tcap = cap;
		}
		memcpy(*a->text + *a->tlen, s, n);
		*a->tlen += n;
		(*a->text)[*a->tlen] = '\0';
	}
	return 0;
}

/* Canonical dump (ccd.h) of one key's table value. */
static int canon_key(void *arg, MDB_val *k, MDB_val *v)
{
	struct crc_arg *a = arg;
	const char *p = v->mv_data, *e = p + v->mv_size;
	const char *nl = memchr(p, '\n', v->mv_size);
	int rc;

	rc = crc_add(a, k->mv_data, k->mv_size);
	rc = rc ? rc : crc_add(a, "_fmt ", 5);
	rc = rc ? rc : crc_add(a, p, (size_t)((nl ? nl : e) - p));
	rc = rc ? rc : crc_add(a, "\n", 1);
	while (nl && !rc) {
		const char *row = nl + 1;
		nl = memchr(row, '\n', (size_t)(e - row));
		rc = crc_add(a, k->mv_data, k->mv_size);
		rc = rc ? rc : crc_add(a, " ", 1);
		rc = rc ? rc : crc_add(a, row, (size_t)((nl ? nl : e) - row));
		rc = rc ? rc : crc_add(a, "\n", 1);
	}
	return rc;
}

struct ids_arg {
	struct ccd_record *r;
};

static int collect_member(void *arg, MDB_val *k, MDB_val *v)
{
	struct ids_arg *a = arg;
	struct cons_member m;
	(void)k;
	if (rec_member_dec(v->mv_data, v->mv_size, &m))
		return -EIO;
	if ((m.state == CONS_MEMBER_ACTIVE || m.state == CONS_MEMBER_JOINING) &&
	    a->r->nmembers < 64)
		a->r->members[a->r->nmembers++] = m.id; /* ascending: keys are BE ids */
	return 0;
}

/* After count CCD changes: new consistency record (generation + count: the
 * record that count single updates of the same date would leave; one
 * checksum pass over the database, not count). Returns the CCD generation. */
static int64_t ccd_touch(struct tx *t, const struct cons_cmd *cmd, bool restored, unsigned count)
{
	struct ccd_record r;
	struct crc_arg ca = {0};
	struct ids_arg ia = {&r};
	uint8_t b[REC_MAX];
	MDB_val v;
	int rc = atx_get(t, DB_META, "ccdrec", 6, &v);

	if (rc == 0)
		rc = rec_ccdrec_dec(v.mv_data, v.mv_size, &r);
	else if (rc == -ENOENT) {
		memset(&r, 0, sizeof(r));
		rc = 0;
	}
	if (rc)
		return rc;
	rc = atx_each(t, DB_CCD, canon_key, &ca);
	if (rc)
		return rc;
	r.generation += count;
	r.date_ms = cmd->date_ms;
	r.length = ca.len;
	r.checksum = ca.crc;
	r.restored = restored;
	r.nmembers = 0;
	rc = atx_each(t, DB_MEMBERS, collect_member, &ia);
	if (rc)
		return rc;
	rc = atx_put(t, DB_META, "ccdrec", 6, b, rec_ccdrec_enc(&r, b));
	return rc ? rc : (int64_t)r.generation;
}

/* One FORMAT/ADD/REMOVE without the record: 0 or a negative errno. */
static int ccd_update(struct tx *t, uint32_t type, const char *key, const char *text)
{
	struct table tb;
	int ncols, rc;

	if (!ccd_key_valid(key))
		return -EINVAL;
	rc = table_load(t, key, &tb);
	if (rc && rc != -ENOENT)
		return rc;
	switch (type) {
	case CONS_CMD_CCD_FORMAT:
		ncols = ccd_format_check(text);
		if (ncols < 0) {
			rc = -EINVAL;
			break;
		}
		if (rc == 0 && tb.n && ccd_format_check(tb.fmt) != ncols) {
			rc = -EBUSY;
			break;
		}
		rc = table_store(t, key, text, tb.rows, tb.n);
		break;
	case CONS_CMD_CCD_ADD:
		if (rc)
			break;
		if (ccd_row_check(text, ccd_format_check(tb.fmt))) {
			rc = -EINVAL;
			break;
		}
		rc = table_insert(&tb, (char *)text);
		if (rc == 0)
			rc = table_store(t, key, tb.fmt, tb.rows, tb.n);
		break;
	case CONS_CMD_CCD_REMOVE:
		if (rc)
			break;
		if (text[0] == '\0') {
			rc = atx_del(t, DB_CCD, key, strlen(key));
			break;
		}
		long pos = table_find(&tb, text);
		if (pos < 0) {
			rc = -ENOENT;
			break;
		}
		memmove(tb.rows + pos, tb.rows + pos + 1,
			(tb.n - (size_t)pos - 1) * sizeof(char *));
		tb.n--;
		rc = table_store(t, key, tb.fmt, tb.rows, tb.n);
		break;
	default:
		rc = -EINVAL;
	}
	table_free(&tb);
	return rc;
}

int64_t apply_ccd(struct tx *t, const struct cons_cmd *cmd)
{
	int rc = ccd_update(t, cmd->type, cmd->u.ccd.key, cmd->u.ccd.text);
	return rc ? rc : ccd_touch(t, cmd, false, 1);
}

int64_t apply_ccd_batch(struct tx *t, const struct cons_cmd *cmd)
{
	struct cons_ccd_item *it = malloc(sizeof(*it));
	size_t off = 0;
	unsigned n = 0;
	int rc;
	if (!it)
		return -ENOMEM;
	while ((rc = cons_ccd_batch_next(cmd->u.blob.data, cmd->u.blob.len, &off, it)) == 1) {
		rc = ccd_update(t, it->type, it->key, it->text);
		if (rc)
			break;
		n++;
	}
	free(it);
	if (rc)
		return rc;
	return n ? ccd_touch(t, cmd, false, n) : -EINVAL;
}

/* CCD_RESTORE: rebuild the ccd database from a text image. Rows are added to
 * tables kept in memory, then written. */
struct restore_arg {
	struct tx *t;
	int err;
};

static int restore_line(void *arg, enum ccd_line_type type, const char *key, const char *text)
{
	struct restore_arg *a = arg;
	struct table tb;
	int rc;

	if (type == CCD_LINE_RECORD)
		return 0;
	rc = table_load(a->t, key, &tb);
	if (type == CCD_LINE_FORMAT) {
		if (rc == 0 && tb.n && ccd_format_check(tb.fmt) != ccd_format_check(text))
			rc = -EINVAL;
		else
			rc = table_store(a->t, key, text, rc == 0 ? tb.rows : NULL,
					 rc == 0 ? tb.n : 0);
	} else if (rc == 0) {
		char *row = strdup(text);
		if (!row)
			rc = -ENOMEM;
		else {
			rc = table_insert(&tb, row);
			if (rc == -EEXIST)
				rc = 0; /* duplicate line: keep one */
			else if (rc == 0)
				rc = table_store(a->t, key, tb.fmt, tb.rows, tb.n);
			free(row);
		}
	}
	table_free(&tb);
	return rc;
}

int64_t apply_ccd_restore(struct tx *t, const struct cons_cmd *cmd)
{
	struct restore_arg a = {t, 0};
	unsigned bad = 0;
	int rc = store_errno(mdb_drop(t->txn, t->s->dbi[DB_CCD], 0));
	if (rc)
		return rc;
	rc =
	    ccd_text_parse((const char *)cmd->u.blob.data, cmd->u.blob.len, restore_line, &a, &bad);
	if (rc) {
		log_warn("consensus", "ccd restore: image line %u rejected", bad);
		return rc;
	}
	return ccd_touch(t, cmd, true, 1);
}

int store_ccd_text(struct store *s, char **text, size_t *len)
{
	struct ccd_record r;
	struct tx t = {.s = s};
	char *body = NULL, *out;
	size_t blen = 0;
	struct crc_arg ca = {.text = &body, .tlen = &blen};
	int rc = store_ccd_record(s, &r);

	*text = NULL;
	*len = 0;
	if (rc)
		return rc;
	rc = store_errno(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t.txn));
	if (rc)
		return rc;
	rc = atx_each(&t, DB_CCD, canon_key, &ca);
	mdb_txn_abort(t.txn);
	if (rc) {
		free(body);
		return rc;
	}
	out = malloc(blen + 512 + 21 * 64);
	if (!out) {
		free(body);
		return -ENOMEM;
	}
	size_t off =
	    (size_t)sprintf(out,
			    "# sanfs CCD checkpoint\n@generation %llu\n@date %llu\n"
			    "@length %llu\n@checksum %u\n@restored %d\n@members ",
			    (unsigned long long)r.generation, (unsigned long long)r.date_ms,
			    (unsigned long long)r.length, r.checksum, r.restored ? 1 : 0);
	for (uint32_t i = 0; i < r.nmembers; i++)
		off += (size_t)sprintf(out + off, "%s%llu", i ? "," : "",
				       (unsigned long long)r.members[i]);
	out[off++] = '\n';
	if (blen)
		memcpy(out + off, body, blen);
	off += blen;
	out[off] = '\0';
	free(body);
	*text = out;
	*len = off;
	return 0;
}
