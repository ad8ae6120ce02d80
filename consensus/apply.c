/* Applying committed commands to the LMDB store (store.h, consensus.h enum
 * cons_cmd_type for what each command does).
 *
 * Determinism (DESIGN §4: "apply is deterministic"): apply reads only the
 * store and the command bytes. Dates come from the command (stamped by the
 * leader when it proposed), the CCD record's member list from the members
 * table, never from the Raft configuration (which members see at different
 * times). Each command runs in one LMDB write transaction: a command that
 * fails changes nothing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/log.h"
#include "consensus/ccd.h"
#include "consensus/store.h"

struct tx {
	struct store *s;
	MDB_txn *txn;
};

static int mdb_errno(int rc)
{
	if (rc == 0)
		return 0;
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc == MDB_MAP_FULL)
		return -ENOSPC;
	return rc > 0 ? -rc : -EIO;
}

static void id_key(uint64_t id, uint8_t key[8])
{
	for (int i = 0; i < 8; i++)
		key[i] = (uint8_t)(id >> (56 - 8 * i));
}

static int tx_get(struct tx *t, enum store_db db, const void *key, size_t klen, MDB_val *v)
{
	MDB_val k = {klen, (void *)key};
	return mdb_errno(mdb_get(t->txn, t->s->dbi[db], &k, v));
}

static int tx_put(struct tx *t, enum store_db db, const void *key, size_t klen, const void *val,
		  size_t vlen)
{
	MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
	return mdb_errno(mdb_put(t->txn, t->s->dbi[db], &k, &v, 0));
}

static int tx_del(struct tx *t, enum store_db db, const void *key, size_t klen)
{
	MDB_val k = {klen, (void *)key};
	return mdb_errno(mdb_del(t->txn, t->s->dbi[db], &k, NULL));
}

static int cluster_get(struct tx *t, struct cons_cluster *c)
{
	MDB_val v;
	int rc = tx_get(t, DB_META, "cluster", 7, &v);
	if (rc == -ENOENT) {
		memset(c, 0, sizeof(*c));
		return 0;
	}
	return rc ? rc : rec_cluster_dec(v.mv_data, v.mv_size, c);
}

static int cluster_put(struct tx *t, const struct cons_cluster *c)
{
	uint8_t b[64];
	return tx_put(t, DB_META, "cluster", 7, b, rec_cluster_enc(c, b));
}

/* +gen: returns the new generation (> 0) or -errno. */
static int64_t gen_bump(struct tx *t)
{
	struct cons_cluster c;
	int rc = cluster_get(t, &c);
	if (rc)
		return rc;
	c.generation++;
	rc = cluster_put(t, &c);
	return rc ? rc : (int64_t)c.generation;
}

static int member_get(struct tx *t, uint64_t id, struct cons_member *m)
{
	uint8_t key[8];
	MDB_val v;
	id_key(id, key);
	int rc = tx_get(t, DB_MEMBERS, key, 8, &v);
	return rc ? rc : rec_member_dec(v.mv_data, v.mv_size, m);
}

static int member_put(struct tx *t, const struct cons_member *m)
{
	uint8_t key[8], b[REC_MAX];
	id_key(m->id, key);
	return tx_put(t, DB_MEMBERS, key, 8, b, rec_member_enc(m, b));
}

static int fs_put(struct tx *t, const struct cons_fs *f)
{
	uint8_t *b = malloc(REC_MAX);
	if (!b)
		return -ENOMEM;
	int rc = tx_put(t, DB_FS, f->uuid, CONS_UUID_BYTES, b, rec_fs_enc(f, b));
	free(b);
	return rc;
}

/* Iterate a database; fn returns non-zero to stop (returned). */
static int tx_each(struct tx *t, enum store_db db, int (*fn)(void *arg, MDB_val *k, MDB_val *v),
		   void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(t->txn, t->s->dbi[db], &cur);
	if (rc)
		return mdb_errno(rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		int r = fn(arg, &k, &v);
		if (r) {
			mdb_cursor_close(cur);
			return r;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : mdb_errno(rc);
}

/* ---- members, ADM, fencing --------------------------------------------- */

static int64_t do_takeover(struct tx *t, const struct cons_cmd *cmd)
{
	struct cons_cluster c;
	struct cons_member m;
	int rc = cluster_get(t, &c);

	if (rc)
		return rc;
	if (cmd->u.adm.id == 0)
		return -EINVAL;
	if (cmd->u.adm.term < c.adm_term)
		return -ESTALE; /* a takeover of an older term committed late */
	c.adm_id = cmd->u.adm.id;
	c.adm_term = cmd->u.adm.term;
	c.generation++;
	rc = cluster_put(t, &c);
	if (rc)
		return rc;
	rc = member_get(t, cmd->u.adm.id, &m);
	if (rc == -ENOENT && cmd->u.adm.address[0]) {
		memset(&m, 0, sizeof(m));
		m.id = cmd->u.adm.id;
		strcpy(m.address, cmd->u.adm.address);
		m.state = CONS_MEMBER_ACTIVE;
		rc = member_put(t, &m);
	} else if (rc == -ENOENT) {
		rc = 0;
	}
	return rc ? rc : (int64_t)c.generation;
}

static int64_t do_member_put(struct tx *t, const struct cons_cmd *cmd)
{
	if (cmd->u.member.id == 0)
		return -EINVAL;
	int rc = member_put(t, &cmd->u.member);
	return rc ? rc : gen_bump(t);
}

struct slot_free_arg {
	struct tx *t;
	uint64_t id;
	int err;
};

static int free_slots_of(void *arg, MDB_val *k, MDB_val *v)
{
	struct slot_free_arg *a = arg;
	struct cons_fs *f = malloc(sizeof(*f));
	bool changed = false;
	(void)k;
	if (!f)
		return -ENOMEM;
	int rc = rec_fs_dec(v->mv_data, v->mv_size, f);
	if (rc == 0) {
		for (uint32_t i = 0; i < f->nslots; i++) {
			if (f->slot_owner[i] == a->id) {
				f->slot_owner[i] = 0;
				changed = true;
			}
		}
	}
	free(f);
	if (rc)
		return rc;
	if (changed)
		a->err = 1; /* mark: rewrite after the cursor */
	return 0;
}

static int64_t do_member_del(struct tx *t, const struct cons_cmd *cmd)
{
	struct cons_fs *fs = NULL;
	size_t n = 0;
	uint8_t key[8];
	int rc;

	id_key(cmd->u.id, key);
	rc = tx_del(t, DB_MEMBERS, key, 8);
	if (rc)
		return rc;
	/* Free the removed node's slots: collect filesystems, then rewrite. */
	struct slot_free_arg a = {t, cmd->u.id, 0};
	rc = tx_each(t, DB_FS, free_slots_of, &a);
	if (rc)
		return rc;
	if (a.err) {
		MDB_cursor *cur;
		MDB_val k, v;
		rc = mdb_errno(mdb_cursor_open(t->txn, t->s->dbi[DB_FS], &cur));
		if (rc)
			return rc;
		int r = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		while (r == 0) {
			struct cons_fs *nf = realloc(fs, (n + 1) * sizeof(*fs));
			if (!nf) {
				rc = -ENOMEM;
				break;
			}
			fs = nf;
			rc = rec_fs_dec(v.mv_data, v.mv_size, &fs[n]);
			if (rc)
				break;
			n++;
			r = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
		mdb_cursor_close(cur);
		for (size_t i = 0; i < n && !rc; i++) {
			for (uint32_t j = 0; j < fs[i].nslots; j++)
				if (fs[i].slot_owner[j] == cmd->u.id)
					fs[i].slot_owner[j] = 0;
			rc = fs_put(t, &fs[i]);
		}
		free(fs);
		if (rc)
			return rc;
	}
	return gen_bump(t);
}

static int64_t do_fence(struct tx *t, const struct cons_cmd *cmd)
{
	struct cons_fence f = cmd->u.fence;
	struct cons_member m;
	uint8_t key[8], b[REC_MAX];
	int64_t gen;
	int rc;

	if (f.node_id == 0)
		return -EINVAL;
	gen = gen_bump(t);
	if (gen < 0)
		return gen;
	f.generation = (uint64_t)gen;
	f.date_ms = cmd->date_ms;
	id_key(f.node_id, key);
	rc = tx_put(t, DB_FENCES, key, 8, b, rec_fence_enc(&f, b));
	if (rc)
		return rc;
	rc = member_get(t, f.node_id, &m);
	if (rc == 0) {
		m.state = CONS_MEMBER_FENCED;
		rc = member_put(t, &m);
	} else if (rc == -ENOENT) {
		rc = 0;
	}
	return rc ? rc : gen;
}

static int64_t do_unfence(struct tx *t, const struct cons_cmd *cmd)
{
	uint8_t key[8];
	id_key(cmd->u.id, key);
	int rc = tx_del(t, DB_FENCES, key, 8);
	return rc ? rc : gen_bump(t);
}

/* ---- devices and filesystems ------------------------------------------- */

struct label_arg {
	const char *label;
	const uint8_t *uuid;
	bool is_fs;
	const uint8_t *dev; /* for "is device used" */
};

static int label_taken(void *arg, MDB_val *k, MDB_val *v)
{
	struct label_arg *a = arg;
	(void)k;
	if (a->is_fs) {
		struct cons_fs *f = malloc(sizeof(*f));
		if (!f)
			return -ENOMEM;
		int rc = rec_fs_dec(v->mv_data, v->mv_size, f);
		bool hit =
		    rc == 0 && ((a->label && strcmp(f->label, a->label) == 0 &&
				 memcmp(f->uuid, a->uuid, CONS_UUID_BYTES) != 0) ||
				(a->dev && memcmp(f->device_uuid, a->dev, CONS_UUID_BYTES) == 0));
		free(f);
		return rc ? rc : hit ? -EEXIST : 0;
	}
	struct cons_device d;
	int rc = rec_device_dec(v->mv_data, v->mv_size, &d);
	if (rc)
		return rc;
	return strcmp(d.label, a->label) == 0 && memcmp(d.uuid, a->uuid, CONS_UUID_BYTES) != 0
		   ? -EEXIST
		   : 0;
}

static int64_t do_device_put(struct tx *t, const struct cons_cmd *cmd)
{
	struct label_arg a = {.label = cmd->u.device.label, .uuid = cmd->u.device.uuid};
	uint8_t b[REC_MAX];
	int rc = tx_each(t, DB_DEVICES, label_taken, &a);
	if (rc)
		return rc;
	rc = tx_put(t, DB_DEVICES, cmd->u.device.uuid, CONS_UUID_BYTES, b,
		    rec_device_enc(&cmd->u.device, b));
	return rc ? rc : gen_bump(t);
}

static int64_t do_device_del(struct tx *t, const struct cons_cmd *cmd)
{
	MDB_val v;
	int rc = tx_get(t, DB_DEVICES, cmd->u.uuid, CONS_UUID_BYTES, &v);
	if (rc)
		return rc;
	struct label_arg a = {.is_fs = true, .dev = cmd->u.uuid};
	rc = tx_each(t, DB_FS, label_taken, &a);
	if (rc == -EEXIST)
		return -EBUSY;
	if (rc)
		return rc;
	rc = tx_del(t, DB_DEVICES, cmd->u.uuid, CONS_UUID_BYTES);
	return rc ? rc : gen_bump(t);
}

static int64_t do_fs_put(struct tx *t, const struct cons_cmd *cmd)
{
	struct cons_fs *f, *old;
	MDB_val v;
	int rc = tx_get(t, DB_DEVICES, cmd->u.fs.device_uuid, CONS_UUID_BYTES, &v);
	if (rc)
		return rc;
	struct label_arg a = {.is_fs = true, .label = cmd->u.fs.label, .uuid = cmd->u.fs.uuid};
	rc = tx_each(t, DB_FS, label_taken, &a);
	if (rc)
		return rc;
	f = calloc(2, sizeof(*f));
	if (!f)
		return -ENOMEM;
	old = f + 1;
	*f = cmd->u.fs;
	memset(f->slot_owner, 0, sizeof(f->slot_owner));
	rc = tx_get(t, DB_FS, f->uuid, CONS_UUID_BYTES, &v);
	if (rc == 0) {
		rc = rec_fs_dec(v.mv_data, v.mv_size, old);
		if (rc == 0 && old->nslots == f->nslots) {
			memcpy(f->slot_owner, old->slot_owner, sizeof(f->slot_owner));
		} else if (rc == 0) {
			for (uint32_t i = 0; i < old->nslots; i++)
				if (old->slot_owner[i])
					rc = -EBUSY;
		}
	} else if (rc == -ENOENT) {
		rc = 0;
	}
	if (rc == 0)
		rc = fs_put(t, f);
	free(f);
	return rc ? rc : gen_bump(t);
}

static int64_t do_fs_del(struct tx *t, const struct cons_cmd *cmd)
{
	struct cons_fs *f;
	MDB_val v;
	int rc = tx_get(t, DB_FS, cmd->u.uuid, CONS_UUID_BYTES, &v);
	if (rc)
		return rc;
	f = malloc(sizeof(*f));
	if (!f)
		return -ENOMEM;
	rc = rec_fs_dec(v.mv_data, v.mv_size, f);
	for (uint32_t i = 0; rc == 0 && i < f->nslots; i++)
		if (f->slot_owner[i])
			rc = -EBUSY;
	free(f);
	if (rc == 0)
		rc = tx_del(t, DB_FS, cmd->u.uuid, CONS_UUID_BYTES);
	return rc ? rc : gen_bump(t);
}

static int64_t do_slot_set(struct tx *t, const struct cons_cmd *cmd)
{
	struct cons_fs *f;
	MDB_val v;
	uint32_t slot = cmd->u.slot.slot;
	int rc = tx_get(t, DB_FS, cmd->u.slot.fs_uuid, CONS_UUID_BYTES, &v);
	if (rc)
		return rc;
	f = malloc(sizeof(*f));
	if (!f)
		return -ENOMEM;
	rc = rec_fs_dec(v.mv_data, v.mv_size, f);
	if (rc == 0 && slot >= f->nslots)
		rc = -EINVAL;
	if (rc == 0 && f->slot_owner[slot] != cmd->u.slot.expect)
		rc = -EBUSY;
	/* DESIGN §3: a mounted node owns exactly one slot per filesystem. */
	for (uint32_t i = 0; rc == 0 && cmd->u.slot.node_id && i < f->nslots; i++)
		if (i != slot && f->slot_owner[i] == cmd->u.slot.node_id)
			rc = -EEXIST;
	if (rc == 0) {
		f->slot_owner[slot] = cmd->u.slot.node_id;
		rc = fs_put(t, f);
	}
	free(f);
	return rc ? rc : (int64_t)slot;
}

/* ---- CCD ---------------------------------------------------------------- */

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
	int rc = tx_get(t, DB_CCD, key, strlen(key), &v);
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
	int rc = tx_put(t, DB_CCD, key, strlen(key), b, off);
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

/* After a CCD change: new consistency record. Returns the CCD generation. */
static int64_t ccd_touch(struct tx *t, const struct cons_cmd *cmd, bool restored)
{
	struct ccd_record r;
	struct crc_arg ca = {0};
	struct ids_arg ia = {&r};
	uint8_t b[REC_MAX];
	MDB_val v;
	int rc = tx_get(t, DB_META, "ccdrec", 6, &v);

	if (rc == 0)
		rc = rec_ccdrec_dec(v.mv_data, v.mv_size, &r);
	else if (rc == -ENOENT) {
		memset(&r, 0, sizeof(r));
		rc = 0;
	}
	if (rc)
		return rc;
	rc = tx_each(t, DB_CCD, canon_key, &ca);
	if (rc)
		return rc;
	r.generation++;
	r.date_ms = cmd->date_ms;
	r.length = ca.len;
	r.checksum = ca.crc;
	r.restored = restored;
	r.nmembers = 0;
	rc = tx_each(t, DB_MEMBERS, collect_member, &ia);
	if (rc)
		return rc;
	rc = tx_put(t, DB_META, "ccdrec", 6, b, rec_ccdrec_enc(&r, b));
	return rc ? rc : (int64_t)r.generation;
}

static int64_t do_ccd(struct tx *t, const struct cons_cmd *cmd)
{
	const char *key = cmd->u.ccd.key, *text = cmd->u.ccd.text;
	struct table tb;
	int ncols, rc;

	if (!ccd_key_valid(key))
		return -EINVAL;
	rc = table_load(t, key, &tb);
	if (rc && rc != -ENOENT)
		return rc;
	switch (cmd->type) {
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
			rc = tx_del(t, DB_CCD, key, strlen(key));
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
	return rc ? rc : ccd_touch(t, cmd, false);
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

static int64_t do_ccd_restore(struct tx *t, const struct cons_cmd *cmd)
{
	struct restore_arg a = {t, 0};
	unsigned bad = 0;
	int rc = mdb_errno(mdb_drop(t->txn, t->s->dbi[DB_CCD], 0));
	if (rc)
		return rc;
	rc =
	    ccd_text_parse((const char *)cmd->u.blob.data, cmd->u.blob.len, restore_line, &a, &bad);
	if (rc) {
		log_warn("consensus", "ccd restore: image line %u rejected", bad);
		return rc;
	}
	return ccd_touch(t, cmd, true);
}

/* ---- entry points ------------------------------------------------------ */

int64_t store_apply_cmd(struct store *s, const struct cons_cmd *cmd)
{
	struct tx t = {.s = s};
	int64_t res;
	int rc = mdb_txn_begin(s->env, NULL, 0, &t.txn);

	if (rc)
		return mdb_errno(rc);
	switch (cmd->type) {
	case CONS_CMD_ADM_TAKEOVER:
		res = do_takeover(&t, cmd);
		break;
	case CONS_CMD_MEMBER_PUT:
		res = do_member_put(&t, cmd);
		break;
	case CONS_CMD_MEMBER_DEL:
		res = do_member_del(&t, cmd);
		break;
	case CONS_CMD_FENCE:
		res = do_fence(&t, cmd);
		break;
	case CONS_CMD_UNFENCE:
		res = do_unfence(&t, cmd);
		break;
	case CONS_CMD_DEVICE_PUT:
		res = do_device_put(&t, cmd);
		break;
	case CONS_CMD_DEVICE_DEL:
		res = do_device_del(&t, cmd);
		break;
	case CONS_CMD_FS_PUT:
		res = do_fs_put(&t, cmd);
		break;
	case CONS_CMD_FS_DEL:
		res = do_fs_del(&t, cmd);
		break;
	case CONS_CMD_SLOT_SET:
		res = do_slot_set(&t, cmd);
		break;
	case CONS_CMD_CCD_FORMAT:
	case CONS_CMD_CCD_ADD:
	case CONS_CMD_CCD_REMOVE:
		res = do_ccd(&t, cmd);
		break;
	case CONS_CMD_CCD_RESTORE:
		res = do_ccd_restore(&t, cmd);
		break;
	case CONS_CMD_GEN_BUMP:
		res = gen_bump(&t);
		break;
	default:
		res = -EINVAL;
	}
	if (res < 0) {
		mdb_txn_abort(t.txn);
		return res;
	}
	rc = mdb_txn_commit(t.txn);
	return rc ? mdb_errno(rc) : res;
}

int64_t store_apply(struct store *s, const void *buf, size_t len)
{
	struct cons_cmd cmd;
	if (cons_cmd_decode(buf, len, &cmd)) {
		const uint8_t *b = buf;
		log_error("consensus",
			  "apply: undecodable command of %zu bytes skipped (%02x %02x %02x %02x)",
			  len, len > 0 ? b[0] : 0, len > 1 ? b[1] : 0, len > 2 ? b[2] : 0,
			  len > 3 ? b[3] : 0);
		return -EINVAL;
	}
	return store_apply_cmd(s, &cmd);
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
	rc = mdb_errno(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t.txn));
	if (rc)
		return rc;
	rc = tx_each(&t, DB_CCD, canon_key, &ca);
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
