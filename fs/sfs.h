/* sfs: one mounted sanfs filesystem (fs/INTERNALS.md "Engine API").
 *
 * sfs_open opens the device through blockdev (O_DIRECT), reads and checks the
 * superblock, claims this node's slot through its heartbeat block, replays
 * the slot's journal, starts the commit and heartbeat threads and processes
 * the slot's orphan list. sfs_close checkpoints everything, marks the slot
 * (and in local mode the superblock) clean and writes heartbeat state CLEAN.
 *
 * Slot claim (DESIGN §6, issue 2 point 6), local mode: the heartbeat block of
 * the slot is read; if it says LIVE and its sequence advances within
 * hb_wait_ms (default 2000), another process is mounted and sfs_open fails
 * with -EBUSY and "device is mounted on HOST pid N". LIVE but still means a
 * crashed mount: it is taken over (its journal is replayed). While mounted a
 * thread rewrites the heartbeat every 500 ms with an advancing sequence,
 * after reading it back: the heartbeat is the mount's 1 s lease on the
 * device (bdev_lease_renew), and a mount that finds its slot taken over
 * (it was stalled past the 2 s watch) closes its I/O gate for good
 * (fs/FORMAT.md "Heartbeat block").
 *
 * A read-only mount claims no slot and does not replay the journal: it shows
 * the state last checkpointed.
 *
 * Lock callouts: sfs_open registers, for every lcl type, flush = jnl_flush_res
 * and invalidate = bc_drop_res followed by ops.invalidate (the inode and FUSE
 * parts hook their own cache drops there).
 *
 * Errors at run time: a block that fails its check is -EIO with a log line
 * naming the block; the filesystem keeps serving everything else. An I/O
 * error while committing aborts the journal: from then on every new
 * transaction fails with -EIO (the device stays as the last commit left it).
 *
 * Threads: every function here may be called from any thread except
 * sfs_open/sfs_close/sfs_crash, which the owner calls once. */
#ifndef SANFS_FS_SFS_H
#define SANFS_FS_SFS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/statvfs.h>

#include "fs/format.h"

struct bdev;
struct lcl;
struct lcl_handle;
struct sfs;
struct txn;
struct bcache;
struct jnl;
struct sfs_alloc;
struct sfs_orphan;
struct sfs_hbeat;
struct icache;

/* Hooks of the other fs/ parts, called by the engine. Any may be NULL. */
struct sfs_ops {
	/* From sfs_open after replay, before the orphans: set up the inode cache. */
	int (*setup)(struct sfs *fs);
	/* From sfs_close/sfs_crash after everything else was flushed. */
	void (*teardown)(struct sfs *fs);
	/* From sfs_open for each inode on this slot's orphan list: finish it and
	 * take it off the list (orphan_del). An error is logged and the inode
	 * stays listed for the next mount. (inode_reclaim of fs/inode.h) */
	int (*reclaim)(struct sfs *fs, uint64_t ino);
	/* From the lock layer's invalidate callout after bc_drop_res: drop other
	 * caches of res (in-core inode, kernel caches through FUSE). Runs on a
	 * lock worker thread. */
	void (*invalidate)(struct sfs *fs, uint64_t res);
};

struct sfs_mount_opts {
	bool readonly;	       /* no journal, no slot claim, no writes at all */
	bool local;	       /* local mode: claim slot 0 (or .slot) by heartbeat */
	unsigned slot;	       /* slot to use (cluster: assigned by the node) */
	uint64_t node_id;      /* written into the heartbeat (0 in local mode) */
	unsigned cache_blocks; /* buffer cache bound in blocks (0: 32768 = 128 MiB) */
	unsigned commit_ms;    /* commit interval (0: 5000) */
	unsigned hb_wait_ms;   /* how long a LIVE heartbeat is watched (0: 2000) */
	bool buffered;	       /* open without O_DIRECT (tests on tmpfs only) */
	/* The node daemon claims the slot and writes its heartbeat itself
	 * (cluster mode, DESIGN §6): sfs_open then neither reads nor writes
	 * the heartbeat block. */
	bool external_heartbeat;
	/* Local mode owning the whole device: a live mount in another slot is
	 * refused, a crashed one fenced and its journal replayed. */
	bool own_device;
	const struct sfs_ops *ops; /* copied into fs->ops */
	void *user;		   /* copied into fs->user */
	/* readonly only: use this open device instead of opening the path
	 * (borrowed: sfs_close leaves it open); fsck passes its own, which may
	 * hold a journal replayed in memory (bdev_shadow_start). */
	struct bdev *dev;
};

struct sfs {
	struct bdev *dev; /* owned unless dev_borrowed */
	bool dev_borrowed;
	struct lcl *lcl; /* borrowed: outlives the sfs */
	struct sfs_super sb;
	unsigned slot;
	bool readonly;
	bool local;
	/* Remounted read-only (sfs_fuse_set_readonly): no transaction begins
	 * (EROFS), and an unlinked inode's last close leaves it on the orphan
	 * list for the next mount. */
	_Atomic bool frozen;
	struct sfs_ops ops;
	void *user;	       /* the mounting code's pointer (e.g. the FUSE session) */
	struct icache *icache; /* the inode part's cache (inode_setup) */
	void *dir_priv;	       /* free for the directory part */

	/* Engine private. */
	struct bcache *bc;
	struct jnl *jnl;
	struct sfs_alloc *alloc;
	struct sfs_orphan *orphan;
	struct sfs_hbeat *hb;
	bool slot_locked;
	pthread_mutex_t sb_mu; /* sb.state updates */
};

int sfs_open(const char *dev_path, const struct sfs_mount_opts *o, struct lcl *lcl,
	     struct sfs **out);
/* Checkpoint everything, mark clean, release the slot, free fs. Returns the
 * first error met (fs is freed anyway). */
int sfs_close(struct sfs *fs);
/* Tests and fencing: stop as if the node crashed. Threads stop, the device
 * gate closes so nothing more reaches the disk, fs is freed. No checkpoint,
 * no clean mark; the heartbeat stays LIVE. */
void sfs_crash(struct sfs *fs);

/* One-line reason of the last sfs_open failure in this thread. */
const char *sfs_last_error(void);

int sfs_statfs(struct sfs *fs, struct statvfs *st);
uint64_t sfs_root_ino(struct sfs *fs);
/* The per-filesystem key of the directory name hash (16 bytes, superblock). */
const uint8_t *sfs_dir_hash_seed(struct sfs *fs);
/* Record that an error was met (superblock ERROR state set at close). */
void sfs_mark_error(struct sfs *fs);

#endif
