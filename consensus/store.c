/* The LMDB store (store.h): open/wipe, snapshot dump and load, readers. The
 * command application is in apply.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/endian_le.h"
#include "common/log.h"
#include "consensus/ccd.h"
#include "consensus/store.h"

static const char *const db_names[DB_COUNT] = {"meta", "members", "devices", "fs", "fences", "ccd"};

int store_errno(int rc)
{
	/* LMDB returns errno values or its own MDB_* codes (negative range). */
	if (rc == 0)
		return 0;
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc == MDB_MAP_FULL)
		return -ENOSPC;
	if (rc > 0)
		return -rc;
	return -EIO;
}

void store_id_key(uint64_t id, uint8_t key[8])
{
	for (int i = 0; i < 8; i++)
		key[i] = (uint8_t)(id >> (56 - 8 * i));
}

int store_open(const char *dir, struct store **out)
{
	struct store *s;
	char path[4096];
	MDB_txn *txn;
	int rc;

	*out = NULL;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	/* A cache of the Raft state: start empty, Raft replays into it. */
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dir = strdup(dir);
	if (!s->dir) {
		free(s);
		return -ENOMEM;
	}
	rc = mdb_env_create(&s->env);
	if (rc)
		goto fail;
	mdb_env_set_maxdbs(s->env, DB_COUNT);
	mdb_env_set_mapsize(s->env, (size_t)1 << 30);
	mdb_env_set_maxreaders(s->env, 512);
	rc = mdb_env_open(s->env, dir, MDB_NOTLS | MDB_NOSYNC | MDB_NOMETASYNC, 0600);
	if (rc)
		goto fail;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		goto fail;
	for (int i = 0; i < DB_COUNT; i++) {
		rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &s->dbi[i]);
		if (rc) {
			mdb_txn_abort(txn);
			goto fail;
		}
	}
	rc = mdb_txn_commit(txn);
	if (rc)
		goto fail;
	*out = s;
	return 0;
fail:
	log_error("consensus", "lmdb %s: %s", dir, mdb_strerror(rc));
	if (s->env)
		mdb_env_close(s->env);
	free(s->dir);
	free(s);
	return store_errno(rc);
}

void store_close(struct store *s)
{
	if (!s)
		return;
	mdb_env_close(s->env);
	free(s->dir);
	free(s);
}

/* ---- dump / load ------------------------------------------------------- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static int buf_put(struct buf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
	return 0;
}

static int buf_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4];
	le32_put(x, v);
	return buf_put(b, x, 4);
}

int store_dump(struct store *s, uint8_t **out, size_t *outlen)
{
	struct buf b = {0};
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, err = 0;

	*out = NULL;
	*outlen = 0;
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return store_errno(rc);
	err = buf_put(&b, "SNS1", 4);
	for (int i = 0; i < DB_COUNT && !err; i++) {
		MDB_stat st;
		rc = mdb_stat(txn, s->dbi[i], &st);
		if (rc) {
			err = store_errno(rc);
			break;
		}
		err = buf_u32(&b, (uint32_t)st.ms_entries);
		rc = mdb_cursor_open(txn, s->dbi[i], &cur);
		if (rc) {
			err = store_errno(rc);
			break;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		while (rc == 0 && !err) {
			err = buf_u32(&b, (uint32_t)k.mv_size);
			err = err ? err : buf_put(&b, k.mv_data, k.mv_size);
			err = err ? err : buf_u32(&b, (uint32_t)v.mv_size);
			err = err ? err : buf_put(&b, v.mv_data, v.mv_size);
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
		mdb_cursor_close(cur);
		if (!err && rc != MDB_NOTFOUND)
			err = store_errno(rc);
	}
	mdb_txn_abort(txn);
	if (!err)
		err = buf_u32(&b, crc32c(0, b.p, b.len));
	if (err) {
		free(b.p);
		return err;
	}
	*out = b.p;
	*outlen = b.len;
	return 0;
}

int store_load(struct store *s, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t off = 4;
	MDB_txn *txn;
	int rc;

	if (len < 8 || memcmp(p, "SNS1", 4) != 0 ||
	    crc32c(0, p, len - 4) != le32_get(p + len - 4)) {
		log_error("consensus", "snapshot: bad magic or checksum, not restored");
		return -EINVAL;
	}
	len -= 4;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		return store_errno(rc);
	for (int i = 0; i < DB_COUNT; i++) {
		uint32_t count;
		rc = mdb_drop(txn, s->dbi[i], 0);
		if (rc)
			goto fail;
		if (len - off < 4)
			goto bad;
		count = le32_get(p + off);
		off += 4;
		for (uint32_t j = 0; j < count; j++) {
			MDB_val k, v;
			if (len - off < 4)
				goto bad;
			k.mv_size = le32_get(p + off);
			off += 4;
			if (len - off < k.mv_size || k.mv_size == 0 || k.mv_size > 511)
				goto bad;
			k.mv_data = (void *)(p + off);
			off += k.mv_size;
			if (len - off < 4)
				goto bad;
			v.mv_size = le32_get(p + off);
			off += 4;
			if (len - off < v.mv_size)
				goto bad;
			v.mv_data = (void *)(p + off);
			off += v.mv_size;
			rc = mdb_put(txn, s->dbi[i], &k, &v, 0);
			if (rc)
				goto fail;
		}
	}
	if (off != len)
		goto bad;
	rc = mdb_txn_commit(txn);
	return store_errno(rc);
bad:
	mdb_txn_abort(txn);
	log_error("consensus", "snapshot: malformed content, not restored");
	return -EINVAL;
fail:
	mdb_txn_abort(txn);
	return store_errno(rc);
}

/* ---- readers ----------------------------------------------------------- */

typedef int (*dec_fn)(const void *buf, size_t len, void *out);

/* Decode the value of key in db into out, in a read transaction of its own:
 * 0, -ENOENT when there is none, or -errno. */
static int get_one(struct store *s, enum store_db db, const void *key, size_t klen, dec_fn dec,
		   void *out)
{
	MDB_txn *txn;
	MDB_val k = {klen, (void *)key}, v;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);

	if (rc)
		return store_errno(rc);
	rc = mdb_get(txn, s->dbi[db], &k, &v);
	rc = rc ? store_errno(rc) : dec(v.mv_data, v.mv_size, out);
	mdb_txn_abort(txn);
	return rc;
}

/* The meta records read as all zero until the first command writes them. */
int store_get_cluster(struct store *s, struct cons_cluster *out)
{
	memset(out, 0, sizeof(*out));
	int rc = get_one(s, DB_META, "cluster", 7, (dec_fn)rec_cluster_dec, out);
	return rc == -ENOENT ? 0 : rc;
}

int store_ccd_record(struct store *s, struct ccd_record *out)
{
	memset(out, 0, sizeof(*out));
	int rc = get_one(s, DB_META, "ccdrec", 6, (dec_fn)rec_ccdrec_dec, out);
	return rc == -ENOENT ? 0 : rc;
}

static int list_db(struct store *s, enum store_db db, size_t elsize, dec_fn dec, void **out,
		   size_t *n)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	MDB_stat st;
	uint8_t *arr = NULL;
	size_t cnt = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return store_errno(rc);
	rc = mdb_stat(txn, s->dbi[db], &st);
	if (rc || st.ms_entries == 0)
		goto out;
	arr = calloc(st.ms_entries, elsize);
	if (!arr) {
		mdb_txn_abort(txn);
		return -ENOMEM;
	}
	rc = mdb_cursor_open(txn, s->dbi[db], &cur);
	if (rc)
		goto out;
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0 && cnt < st.ms_entries) {
		rc = dec(v.mv_data, v.mv_size, arr + cnt * elsize);
		if (rc) {
			mdb_cursor_close(cur);
			free(arr);
			mdb_txn_abort(txn);
			return rc;
		}
		cnt++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		rc = 0;
out:
	mdb_txn_abort(txn);
	if (rc || cnt == 0) {
		free(arr);
		return store_errno(rc);
	}
	*out = arr;
	*n = cnt;
	return 0;
}

int store_get_members(struct store *s, struct cons_member **out, size_t *n)
{
	return list_db(s, DB_MEMBERS, sizeof(**out), (dec_fn)rec_member_dec, (void **)out, n);
}

int store_get_devices(struct store *s, struct cons_device **out, size_t *n)
{
	return list_db(s, DB_DEVICES, sizeof(**out), (dec_fn)rec_device_dec, (void **)out, n);
}

int store_get_filesystems(struct store *s, struct cons_fs **out, size_t *n)
{
	return list_db(s, DB_FS, sizeof(**out), (dec_fn)rec_fs_dec, (void **)out, n);
}

int store_get_fences(struct store *s, struct cons_fence **out, size_t *n)
{
	return list_db(s, DB_FENCES, sizeof(**out), (dec_fn)rec_fence_dec, (void **)out, n);
}

int store_get_member(struct store *s, uint64_t id, struct cons_member *out)
{
	uint8_t key[8];
	store_id_key(id, key);
	return get_one(s, DB_MEMBERS, key, 8, (dec_fn)rec_member_dec, out);
}

/* Copy the table value of key (format + rows) into a malloc'ed string. */
static int ccd_table(struct store *s, const char *key, char **out)
{
	MDB_val k = {strlen(key), (void *)key}, v;
	MDB_txn *txn;
	int rc;

	*out = NULL;
	if (!ccd_key_valid(key))
		return -EINVAL;
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return store_errno(rc);
	rc = mdb_get(txn, s->dbi[DB_CCD], &k, &v);
	if (rc == 0) {
		*out = malloc(v.mv_size + 1);
		if (*out) {
			memcpy(*out, v.mv_data, v.mv_size);
			(*out)[v.mv_size] = '\0';
		} else {
			rc = ENOMEM;
		}
	}
	mdb_txn_abort(txn);
	return store_errno(rc);
}

int store_ccd_format(struct store *s, const char *key, char *fmt, size_t fmtlen)
{
	char *t;
	int rc = ccd_table(s, key, &t);
	if (rc)
		return rc;
	char *nl = strchr(t, '\n');
	if (nl)
		*nl = '\0';
	if (strlen(t) >= fmtlen) {
		free(t);
		return -ENOSPC;
	}
	strcpy(fmt, t);
	free(t);
	return 0;
}

void ccd_rows_free(char **rows, size_t n)
{
	if (!rows)
		return;
	for (size_t i = 0; i < n; i++)
		free(rows[i]);
	free(rows);
}

int store_ccd_query(struct store *s, const char *key, const char *pattern, char ***rows, size_t *n)
{
	char *t, *p, **arr = NULL;
	size_t cnt = 0, cap = 0;
	int rc;

	*rows = NULL;
	*n = 0;
	rc = ccd_table(s, key, &t);
	if (rc)
		return rc;
	p = strchr(t, '\n');
	while (p) {
		char *row = p + 1, *e = strchr(row, '\n');
		if (e)
			*e = '\0';
		if (ccd_match(pattern, row)) {
			if (cnt == cap) {
				cap = cap ? cap * 2 : 16;
				char **na = realloc(arr, cap * sizeof(*arr));
				if (!na)
					goto nomem;
				arr = na;
			}
			arr[cnt] = strdup(row);
			if (!arr[cnt])
				goto nomem;
			cnt++;
		}
		p = e;
	}
	free(t);
	*rows = arr;
	*n = cnt;
	return 0;
nomem:
	free(t);
	ccd_rows_free(arr, cnt);
	return -ENOMEM;
}
