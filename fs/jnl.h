/* jnl: the per-slot physical journal (DESIGN §3 "Journal"; layout in
 * fs/FORMAT.md "Journal").
 *
 * Handles and transactions (as JBD2): code that changes metadata opens a
 * handle with txn_begin(max_blocks), calls txn_add(b) for every buffer BEFORE
 * changing its payload, and closes it with txn_end. All handles between two
 * commits form one transaction (group commit). A commit thread commits the
 * running transaction when asked (jnl_wait, jnl_sync, jnl_flush_res), when it
 * grows past a quarter of the ring, or every commit_ms.
 *
 * Journal states of a transaction (the table the code follows):
 *
 *   state      handles may join   buffers            on disk
 *   RUNNING    yes                live, changing     nothing
 *   LOCKED     no (they wait)     live, frozen       nothing   (waits for open handles)
 *   COMMITTING no                 copied (snapshot)  desc+images+revokes+commit written, flushed
 *   COMMITTED  -                  snapshot = b->ck   in the ring between tail and head
 *   HOME       -                  snapshot freed     written home, flushed, tail moved past it
 *
 * LOCKED lasts only until the open handles end; the copy is made then, so
 * handles of the next transaction can change the buffers at once.
 * A snapshot contains only committed changes and is the only image ever
 * written home (never the live buffer).
 *
 * Ordered data (caller's duty): file data blocks bypass the journal. The file
 * code writes new data blocks with bdev_write before txn_end of the handle
 * that makes them reachable and then calls jnl_note_data; the commit flushes
 * the device before writing its records when data was noted, and again
 * after them, so the data is durable before any commit that points to it.
 *
 * Freed blocks: bc_forget adds a revoke record to the running transaction;
 * replay never writes an image of a block from a transaction at or before the
 * newest revoke of that block (JBD2's revoke), so a freed metadata block may
 * become a data block. The allocator does not hand out blocks freed by a
 * transaction that has not committed yet (alloc.c records the busy extent
 * before it lets go of the AG, so no allocation sees the cleared bits
 * without it). Until the free commits a crash keeps the block allocated, so
 * bc_forget first writes the block's newest committed image home when it is
 * still waiting for a checkpoint (the tail may move past its transaction
 * before the free commits), under the checkpoint lock, after any commit
 * under way on the block has completed. The power-loss and crash tests
 * (tests/fs/test_powerloss.c, crash_test) found both rules by breaking them.
 *
 * Handles do not nest: a thread never opens a second handle while one is
 * open (the second could wait for a commit that waits for the first).
 *
 * Failure: an I/O error while committing or checkpointing aborts the journal:
 * txn_begin/txn_end/jnl_wait return -EIO from then on. A handle that failed
 * half-way through its changes calls txn_abort: the whole journal aborts
 * (other handles' changes in the same transaction cannot be separated), the
 * device keeps its last committed state and replay at the next mount brings
 * it back. A handle that added no buffer aborts alone.
 *
 * Errors: 0 or negative errno. Thread-safe. */
#ifndef SANFS_FS_JNL_H
#define SANFS_FS_JNL_H

#include <stdbool.h>
#include <stdint.h>

struct sfs;
struct buf;
struct txn;

/* Open a handle that will txn_add at most max_blocks distinct buffers. May
 * wait while the running transaction is being locked for commit. -ENOSPC when
 * max_blocks cannot fit in the journal, -EROFS on a read-only mount, -EIO
 * when the journal is aborted. */
int txn_begin(struct sfs *fs, unsigned max_blocks, struct txn **out);
/* Before modifying b->data. Idempotent per buffer. -EIO when aborted. */
int txn_add(struct txn *t, struct buf *b);
/* The handle is done; *tid_out (may be NULL) is the transaction holding its
 * changes: jnl_wait(tid) makes them durable. Frees t. */
int txn_end(struct txn *t, uint64_t *tid_out);
/* The handle failed half-way: see above. Frees t. */
void txn_abort(struct txn *t);
/* The transaction a handle belongs to. */
uint64_t txn_tid(const struct txn *t);
/* Whether the handle has added a buffer: a failure from now on is half-way. */
bool txn_touched(const struct txn *t);

/* Ordered data: the file code calls this after each in-place data write has
 * completed. The next commit then flushes the device before it writes its
 * records, so no commit record reaches the disk before the data it makes
 * reachable (a device may persist writes in any order between flushes). */
void jnl_note_data(struct sfs *fs);
/* Commit up to tid and wait until durable (fsync). Waits only for that tid. */
int jnl_wait(struct sfs *fs, uint64_t tid);
/* Commit everything and wait (syncfs). */
int jnl_sync(struct sfs *fs);
/* DESIGN §3: commit and checkpoint every transaction up to the newest one
 * touching res. Returns at once when nothing of res is pending. */
int jnl_flush_res(struct sfs *fs, uint64_t res);
/* Commit everything, write every committed image home, move the tail. */
int jnl_checkpoint_all(struct sfs *fs);
bool jnl_aborted(struct sfs *fs);

struct jnl_stats {
	uint64_t commits, commit_blocks, checkpoints, handles;
	uint64_t running_tid, committed_tid;
	uint64_t used_blocks, ring_blocks;
};
void jnl_stats(struct sfs *fs, struct jnl_stats *st);

/* ---- engine internal (sfs.c, bcache.c, tests) ---- */
/* Replay the slot's journal and reset it (tail = end of the last valid
 * transaction). Used at mount and by fsck/recovery of another slot. *replayed
 * gets the number of transactions applied. */
struct bdev;
struct sfs_super;
int jnl_replay(struct bdev *dev, const struct sfs_super *sb, unsigned slot, bool write,
	       unsigned *replayed);
/* Start the journal of fs->slot (after replay): reads the header, starts the
 * commit thread. */
int jnl_start(struct sfs *fs, unsigned commit_ms);
/* Stop: with clean, commit + checkpoint everything and mark the header
 * clean; without (crash), stop the thread and drop all state. */
int jnl_stop(struct sfs *fs, bool clean);
/* Called by bc_forget (under the cache lock). */
void jnl_revoke_locked(struct sfs *fs, uint64_t blkno);
/* Serialises checkpoints; bc_forget takes it so no stale image of a freed
 * block is in flight. */
void jnl_ckpt_lock(struct sfs *fs);
void jnl_ckpt_unlock(struct sfs *fs);
/* Allocator hook: called after every commit with the committed tid. */
void jnl_set_commit_hook(struct sfs *fs, void (*fn)(struct sfs *fs, uint64_t tid));

#endif
