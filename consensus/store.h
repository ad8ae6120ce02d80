/* consensus/store: the replicated state machine in LMDB (private to
 * consensus/; tests use it directly).
 *
 * LMDB is a cache of the Raft state: store_open wipes it, and Raft rebuilds
 * it by restoring the last snapshot (store_load) and applying the log after it
 * (store_apply). So LMDB needs no durability: it runs with MDB_NOSYNC.
 *
 * Databases (keys in byte order, values little-endian records, store.c):
 *   meta     "cluster" -> generation, adm_id, adm_term; "ccdrec" -> CCD record
 *   members  u64 BE id -> member      devices  uuid -> device
 *   fs       uuid -> filesystem       fences   u64 BE id -> fence
 *   ccd      key -> "FORMAT\nROW\nROW..." (rows sorted, unique)
 *
 * Threads: store_apply, store_load run on one thread at a time (the loop
 * thread); the store_get_* readers run on any thread concurrently (read
 * transactions, MDB_NOTLS). */
#ifndef SANFS_CONSENSUS_STORE_H
#define SANFS_CONSENSUS_STORE_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "consensus/consensus.h"

enum store_db { DB_META, DB_MEMBERS, DB_DEVICES, DB_FS, DB_FENCES, DB_CCD, DB_COUNT };

struct store {
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	char *dir;
};

/* An LMDB return code as 0 or -errno (MDB_NOTFOUND: -ENOENT, MDB_MAP_FULL:
 * -ENOSPC, LMDB's own codes: -EIO). */
int store_errno(int rc);
/* The key of the members and fences tables: id as 8 bytes big-endian, so
 * LMDB's byte order is id order. */
void store_id_key(uint64_t id, uint8_t key[8]);

/* Create dir if needed, delete any old LMDB files in it, open empty. */
int store_open(const char *dir, struct store **out);
void store_close(struct store *s);

/* Decode and apply one committed command. Deterministic: the result and the
 * new state depend only on the state and the bytes (never on a clock or the
 * Raft configuration). Returns the command's result (>= 0) or a negative errno
 * (the state is then unchanged). A buffer that does not decode gives -EINVAL
 * and changes nothing (logged). */
int64_t store_apply(struct store *s, const void *buf, size_t len);
int64_t store_apply_cmd(struct store *s, const struct cons_cmd *cmd);

/* Serialize the whole content ("SNS1", per database in enum order: u32 count,
 * then u32 klen, key, u32 vlen, value; CRC32C trailer). *buf malloc'ed. Two
 * stores with the same content give byte-identical dumps. */
int store_dump(struct store *s, uint8_t **buf, size_t *len);
/* Replace the whole content by a dump; -EINVAL (content unchanged) if it does
 * not verify. */
int store_load(struct store *s, const void *buf, size_t len);

/* Readers (consensus.h semantics). */
int store_get_cluster(struct store *s, struct cons_cluster *out);
int store_get_members(struct store *s, struct cons_member **out, size_t *n);
int store_get_member(struct store *s, uint64_t id, struct cons_member *out);
int store_get_devices(struct store *s, struct cons_device **out, size_t *n);
int store_get_filesystems(struct store *s, struct cons_fs **out, size_t *n);
int store_get_fences(struct store *s, struct cons_fence **out, size_t *n);
int store_ccd_format(struct store *s, const char *key, char *fmt, size_t fmtlen);
int store_ccd_query(struct store *s, const char *key, const char *pattern, char ***rows, size_t *n);
int store_ccd_record(struct store *s, struct ccd_record *out);
/* The CCD as a checkpoint text (ccd.h): record lines then the canonical dump. */
int store_ccd_text(struct store *s, char **text, size_t *len);

/* Record codecs (store_rec.c), shared by apply and readers. */
size_t rec_member_enc(const struct cons_member *m, uint8_t *buf);
int rec_member_dec(const void *buf, size_t len, struct cons_member *m);
size_t rec_device_enc(const struct cons_device *d, uint8_t *buf);
int rec_device_dec(const void *buf, size_t len, struct cons_device *d);
size_t rec_fs_enc(const struct cons_fs *f, uint8_t *buf);
int rec_fs_dec(const void *buf, size_t len, struct cons_fs *f);
size_t rec_fence_enc(const struct cons_fence *f, uint8_t *buf);
int rec_fence_dec(const void *buf, size_t len, struct cons_fence *f);
size_t rec_cluster_enc(const struct cons_cluster *c, uint8_t *buf);
int rec_cluster_dec(const void *buf, size_t len, struct cons_cluster *c);
size_t rec_ccdrec_enc(const struct ccd_record *r, uint8_t *buf);
int rec_ccdrec_dec(const void *buf, size_t len, struct ccd_record *r);
#define REC_MAX (8 * CONS_MAX_SLOTS + 512)

#endif
