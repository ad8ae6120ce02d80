/* Private to apply.c / apply_ccd.c: one LMDB write transaction of a
 * command and the helpers both files use (store.h). */
#ifndef SANFS_CONSENSUS_APPLY_INT_H
#define SANFS_CONSENSUS_APPLY_INT_H

#include "consensus/store.h"

struct tx {
	struct store *s;
	MDB_txn *txn;
};

int atx_get(struct tx *t, enum store_db db, const void *key, size_t klen, MDB_val *v);
int atx_put(struct tx *t, enum store_db db, const void *key, size_t klen, const void *val,
	    size_t vlen);
int atx_del(struct tx *t, enum store_db db, const void *key, size_t klen);
/* Iterate a database; fn returns non-zero to stop (returned). */
int atx_each(struct tx *t, enum store_db db, int (*fn)(void *arg, MDB_val *k, MDB_val *v),
	     void *arg);

/* CCD commands (apply_ccd.c): FORMAT, ADD, REMOVE; RESTORE. */
int64_t apply_ccd(struct tx *t, const struct cons_cmd *cmd);
int64_t apply_ccd_restore(struct tx *t, const struct cons_cmd *cmd);
/* CCD_BATCH: the items in order; the first error aborts (the caller aborts
 * the transaction, so nothing of the batch stays). */
int64_t apply_ccd_batch(struct tx *t, const struct cons_cmd *cmd);

#endif
