/* file: data of regular files (fs/INTERNALS.md "Inodes and files"; DESIGN §3
 * ordered data, §9 large aligned device requests).
 *
 * Data blocks bypass the journal: they go straight to the device with
 * bdev_write in requests of up to FILE_IO_CHUNK bytes, read-modify-write only
 * for partial blocks at the edges of a write. New data blocks are written
 * before the transaction that maps them ends (ordered data), and size, mtime
 * and the extent map change in that same transaction. Holes and unwritten
 * extents read as zeros; the bytes of the last block past the size are always
 * zero on disk (writes and truncate keep it so).
 *
 * Locking: the caller holds the inode's LCL lock, PR for file_read and
 * file_seek_data_hole, EX for everything else. Every changing call notes its
 * transactions in the inode (inode_note_tid): fsync is inode_fsync, which
 * waits for the newest of them and flushes the device.
 *
 * Errors: 0 or negative errno. A write or fallocate that runs out of space
 * after some progress keeps what it did: file_write returns 0 with *done
 * short, -ENOSPC only when nothing was written. -EFBIG past
 * SFS_MAX_FILE_SIZE. */
#ifndef SANFS_FS_FILE_H
#define SANFS_FS_FILE_H

#include <stddef.h>
#include <stdint.h>

struct sfs;
struct sfs_inode;

#define FILE_IO_CHUNK (1u << 20) /* largest device request */

/* Read up to len bytes at off; *done < len only at the end of the file.
 * Whole blocks land in buf straight from the device where buf is
 * BDEV_BUF_ALIGN-aligned at them (no bounce copy). */
int file_read(struct sfs *fs, struct sfs_inode *ip, void *buf, size_t len, uint64_t off,
	      size_t *done);
/* Write len bytes at off, allocating near the file's previous extent; grows
 * the size; updates mtime and ctime. */
int file_write(struct sfs *fs, struct sfs_inode *ip, const void *buf, size_t len, uint64_t off,
	       size_t *done);
/* Grow (a hole) or shrink (blocks past the end freed, the partial last block
 * zeroed past the new size). Shrinking a file with blocks past the new end
 * puts it on the orphan list until every block is freed, so a crash finishes
 * the job at the next mount. Updates mtime and ctime. */
int file_truncate(struct sfs *fs, struct sfs_inode *ip, uint64_t size);
/* mode: 0 or FALLOC_FL_KEEP_SIZE (unwritten extents over the holes),
 * FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE (free whole blocks, zero the
 * partial edges), FALLOC_FL_ZERO_RANGE [|KEEP_SIZE] (the range reads as zeros
 * and stays allocated, as unwritten extents). Other modes: -EOPNOTSUPP; PUNCH
 * without KEEP_SIZE: -EOPNOTSUPP (as the kernel); len 0: -EINVAL. */
int file_fallocate(struct sfs *fs, struct sfs_inode *ip, int mode, uint64_t off, uint64_t len);
/* whence SEEK_DATA or SEEK_HOLE (lseek(2)): unwritten extents count as holes;
 * the end of the file is a hole; -ENXIO when off >= size (or no data after
 * off); -EINVAL for another whence. */
int file_seek_data_hole(struct sfs *fs, struct sfs_inode *ip, uint64_t off, int whence,
			uint64_t *out);
/* copy_file_range: copy len bytes from src at soff to dst at doff, keeping
 * holes of src as holes. Caller holds PR on src and EX on dst (EX once when
 * they are the same inode; overlapping ranges in one file: -EINVAL). *done as
 * file_write. */
int file_copy_range(struct sfs *fs, struct sfs_inode *src, uint64_t soff, struct sfs_inode *dst,
		    uint64_t doff, size_t len, size_t *done);

#endif
