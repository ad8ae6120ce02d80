/* The engine calls the B+tree and directory code use (fs/INTERNALS.md
 * "Engine API"), in one place: the real engine headers, plus the two names
 * this part gives the constants it needs. The unit tests may link an
 * in-memory fake of these calls instead of the engine
 * (tests/fs/fake_engine.c). */
#ifndef SANFS_FS_BTREE_ENG_H
#define SANFS_FS_BTREE_ENG_H

#include "fs/alloc.h"
#include "fs/bcache.h"
#include "fs/format.h"
#include "fs/jnl.h"
#include "fs/sfs.h"

#define BTREE_BLK_TYPE SFS_BT_BTREE_NODE
/* Blocks one alloc_blocks/alloc_free call may add to a transaction. */
#define BTREE_ALLOC_CALL_BLOCKS ALLOC_MAX_BLOCKS

#endif
