/* fsck: check (and repair) a sanfs filesystem that is not mounted
 * (`sanctl fsck DEVICE [--repair] [--json]`, DESIGN §8, issue 2 point 3).
 *
 * Checks, in order:
 *  1. superblock and backup: header, geometry, features, device size,
 *     primary and backup agree;
 *  2. every slot: heartbeat (a live mount stops fsck), journal header,
 *     journal contents (committed transactions waiting for replay: a
 *     crashed mount leaves them; without repair they are replayed into
 *     memory only, bdev_shadow_start, and every later check sees the
 *     filesystem as the next mount will), local allocation window, orphan
 *     blocks (counts, entries are inodes);
 *  3. every AG: header and bitmap checksums, header fields, header and
 *     bitmap blocks marked used, bits past the end set, inode bits only on
 *     used blocks, free and inode counts against the bitmaps;
 *  4. every inode block (inode bitmap): its header and checksum, then,
 *     through fsck_inode.c, its decoded fields, extents, trees, directory
 *     entries and link counts; every block referenced is marked in a map;
 *  5. the block bitmaps against that map (blocks used but unreferenced,
 *     referenced but free, referenced twice).
 *
 * With repair, fixable problems are fixed and reported as FIXED lines:
 * superblock copies, journal replay, journal header reset past every
 * sequence in the ring, corrupt slot blocks rewritten empty, orphan entries
 * that are not inodes dropped, AG counts and bitmaps rebuilt from what is
 * referenced, leaked blocks freed, link counts and st_blocks, and names
 * (fs/INTERNALS.md "fsck and lost+found"): entries naming no valid inode
 * removed, corrupt inodes cleared, corrupt directory trees emptied, a corrupt
 * root made anew, inodes named by nothing reconnected in /lost+found; blocks
 * referenced twice: a file sharing data with another gets a private copy, a
 * file whose data lies on a metadata block (an inode's, or the superblocks,
 * slots, AG headers and bitmaps) has that range unmapped. After a
 * run that exits FSCK_EXIT_REPAIRED a second run exits FSCK_EXIT_CLEAN.
 *
 * Never crashes on garbage: every block goes through the format decoders,
 * which bound every field. Messages go to the msg callback, one per line.
 * Result: FSCK_* exit codes like e2fsck. */
#ifndef SANFS_FS_FSCK_H
#define SANFS_FS_FSCK_H

#include <stdbool.h>
#include <stdint.h>

enum fsck_kind {
	FSCK_INFO = 0,
	FSCK_WARN = 1,	/* odd but not wrong */
	FSCK_ERROR = 2, /* an inconsistency left as it is */
	FSCK_FIXED = 3, /* an inconsistency repaired */
};

#define FSCK_EXIT_CLEAN	   0
#define FSCK_EXIT_REPAIRED 1
#define FSCK_EXIT_ERRORS   4
#define FSCK_EXIT_OPERROR  8

struct fsck_opts {
	bool repair;
	bool buffered; /* open without O_DIRECT (tmpfs tests) */
	void (*msg)(void *arg, enum fsck_kind kind, const char *text);
	void *msg_arg;
	/* Progress through the phases (1..5), with done/total inside a phase. */
	void (*progress)(void *arg, unsigned phase, uint64_t done, uint64_t total);
	void *progress_arg;
};

struct fsck_result {
	unsigned errors; /* left */
	unsigned fixed;
	unsigned warnings;
	uint64_t inodes, used_blocks, free_blocks;
	int exit_code; /* FSCK_EXIT_* */
};

int fsck_run(const char *path, const struct fsck_opts *o, struct fsck_result *res);

#endif
