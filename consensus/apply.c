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

#include "common/log.h"
#include "consensus/apply_int.h"

int atx_get(struct tx *t, enum store_db db, const void *key, size_t klen, MDB_val *v)
{
	MDB_val k = {klen, (void *)key};
	return store_errno(mdb_get(t->txn, t->s->dbi[db], &k, v));
}

int atx_put(struct tx *t, enum store_db db, const void *key, size_t klen, const void *val,
	    size_t vlen)
{
	MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
	return store_errno(mdb_put(t->txn, t->s->dbi[db], &k, &v, 0));
}

int atx_del(struct tx *t, enum store_db db, const void *key, size_t klen)
{
	MDB_val k = {klen, (void *)key};
	return store_errno(mdb_del(t->txn, t->s->dbi[db], &k, NULL));
}

static int cluster_get(struct tx *t, struct cons_cluster *c)
{
	MDB_val v;
	int rc = atx_get(t, DB_META, "cluster", 7, &v);
	if (rc == -ENOENT) {
		memset(c, 0, sizeof(*c));
		return 0;
	}
	return rc ? rc : rec_cluster_dec(v.mv_data, v.mv_size, c);
}

static int cluster_put(struct tx *t, const struct cons_cluster *c)
{
	uint8_t b[64];
	return atx_put(t, DB_META, "cluster", 7, b, rec_cluster_enc(c, b));
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
	store_id_key(id, key);
	int rc = atx_get(t, DB_MEMBERS, key, 8, &v);
	return rc ? rc : rec_member_dec(v.mv_data, v.mv_size, m);
}

static int member_put(struct tx *t, const struct cons_member *m)
{
	uint8_t key[8], b[REC_MAX];
	store_id_key(m->id, key);
	return atx_put(t, DB_MEMBERS, key, 8, b, rec_member_enc(m, b));
}

/* A filesystem record decoded into *out (malloc'ed: struct cons_fs holds
 * every slot; the caller frees it). */
static int fs_dec(const MDB_val *v, struct cons_fs **out)
{
	struct cons_fs *f = malloc(sizeof(*f));
	if (!f)
		return -ENOMEM;
	int rc = rec_fs_dec(v->mv_data, v->mv_size, f);
	if (rc) {
		free(f);
		return rc;
	}
	*out = f;
	return 0;
}

/* The filesystem uuid, as fs_dec; -ENOENT when there is none. */
static int fs_get(struct tx *t, const uint8_t *uuid, struct cons_fs **out)
{
	MDB_val v;
	int rc = atx_get(t, DB_FS, uuid, CONS_UUID_BYTES, &v);
	return rc ? rc : fs_dec(&v, out);
}

static int fs_put(struct tx *t, const struct cons_fs *f)
{
	uint8_t *b = malloc(REC_MAX);
	if (!b)
		return -ENOMEM;
	int rc = atx_put(t, DB_FS, f->uuid, CONS_UUID_BYTES, b, rec_fs_enc(f, b));
	free(b);
	return rc;
}

int atx_each(struct tx *t, enum store_db db, int (*fn)(void *arg, MDB_val *k, MDB_val *v),
	     void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(t->txn, t->s->dbi[db], &cur);
	if (rc)
		return store_errno(rc);
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
	return rc == MDB_NOTFOUND ? 0 : store_errno(rc);
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
	struct cons_fs *f;
	bool changed = false;
	(void)k;
	int rc = fs_dec(v, &f);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < f->nslots; i++) {
		if (f->slot_owner[i] == a->id) {
			f->slot_owner[i] = 0;
			changed = true;
		}
	}
	free(f);
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

	store_id_key(cmd->u.id, key);
	rc = atx_del(t, DB_MEMBERS, key, 8);
	if (rc)
		return rc;
	/* Free the removed node's slots: collect filesystems, then rewrite. */
	struct slot_free_arg a = {t, cmd->u.id, 0};
	rc = atx_each(t, DB_FS, free_slots_of, &a);
	if (rc)
		return rc;
	if (a.err) {
		MDB_cursor *cur;
		MDB_val k, v;
		rc = store_errno(mdb_cursor_open(t->txn, t->s->dbi[DB_FS], &cur));
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
	store_id_key(f.node_id, key);
	rc = atx_put(t, DB_FENCES, key, 8, b, rec_fence_enc(&f, b));
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
	store_id_key(cmd->u.id, key);
	int rc = atx_del(t, DB_FENCES, key, 8);
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
		struct cons_fs *f;
		int rc = fs_dec(v, &f);
		if (rc)
			return rc;
		bool hit = (a->label && strcmp(f->label, a->label) == 0 &&
			    memcmp(f->uuid, a->uuid, CONS_UUID_BYTES) != 0) ||
			   (a->dev && memcmp(f->device_uuid, a->dev, CONS_UUID_BYTES) == 0);
		free(f);
		return hit ? -EEXIST : 0;
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
	int rc = atx_each(t, DB_DEVICES, label_taken, &a);
	if (rc)
		return rc;
	rc = atx_put(t, DB_DEVICES, cmd->u.device.uuid, CONS_UUID_BYTES, b,
		     rec_device_enc(&cmd->u.device, b));
	return rc ? rc : gen_bump(t);
}

static int64_t do_device_del(struct tx *t, const struct cons_cmd *cmd)
{
	MDB_val v;
	int rc = atx_get(t, DB_DEVICES, cmd->u.uuid, CONS_UUID_BYTES, &v);
	if (rc)
		return rc;
	struct label_arg a = {.is_fs = true, .dev = cmd->u.uuid};
	rc = atx_each(t, DB_FS, label_taken, &a);
	if (rc == -EEXIST)
		return -EBUSY;
	if (rc)
		return rc;
	rc = atx_del(t, DB_DEVICES, cmd->u.uuid, CONS_UUID_BYTES);
	return rc ? rc : gen_bump(t);
}

static int64_t do_fs_put(struct tx *t, const struct cons_cmd *cmd)
{
	struct cons_fs *f, *old;
	MDB_val v;
	int rc = atx_get(t, DB_DEVICES, cmd->u.fs.device_uuid, CONS_UUID_BYTES, &v);
	if (rc)
		return rc;
	struct label_arg a = {.is_fs = true, .label = cmd->u.fs.label, .uuid = cmd->u.fs.uuid};
	rc = atx_each(t, DB_FS, label_taken, &a);
	if (rc)
		return rc;
	f = calloc(2, sizeof(*f));
	if (!f)
		return -ENOMEM;
	old = f + 1;
	*f = cmd->u.fs;
	memset(f->slot_owner, 0, sizeof(f->slot_owner));
	rc = atx_get(t, DB_FS, f->uuid, CONS_UUID_BYTES, &v);
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
	int rc = fs_get(t, cmd->u.uuid, &f);
	if (rc)
		return rc;
	for (uint32_t i = 0; rc == 0 && i < f->nslots; i++)
		if (f->slot_owner[i])
			rc = -EBUSY;
	free(f);
	if (rc == 0)
		rc = atx_del(t, DB_FS, cmd->u.uuid, CONS_UUID_BYTES);
	return rc ? rc : gen_bump(t);
}

static int64_t do_slot_set(struct tx *t, const struct cons_cmd *cmd)
{
	struct cons_fs *f;
	uint32_t slot = cmd->u.slot.slot;
	int rc = fs_get(t, cmd->u.slot.fs_uuid, &f);
	if (rc)
		return rc;
	if (slot >= f->nslots)
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

/* ---- entry points ------------------------------------------------------ */

int64_t store_apply_cmd(struct store *s, const struct cons_cmd *cmd)
{
	struct tx t = {.s = s};
	int64_t res;
	int rc = mdb_txn_begin(s->env, NULL, 0, &t.txn);

	if (rc)
		return store_errno(rc);
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
		res = apply_ccd(&t, cmd);
		break;
	case CONS_CMD_CCD_RESTORE:
		res = apply_ccd_restore(&t, cmd);
		break;
	case CONS_CMD_CCD_BATCH:
		res = apply_ccd_batch(&t, cmd);
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
	return rc ? store_errno(rc) : res;
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
