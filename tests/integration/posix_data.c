/* POSIX file data operations on a mounted directory (issue 2 point 4): read,
 * write, append, truncate with zero fill, sparse files and SEEK_DATA/SEEK_HOLE,
 * fallocate (mode 0, KEEP_SIZE, PUNCH_HOLE), copy_file_range, fsync, fdatasync,
 * O_SYNC, mmap, buffered reads racing direct writes, and a large file
 * (offsets near 16 TiB).
 * Usage: posix_data DIR [CASE...] (see tcheck.h). */
#include "tcheck.h"

#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MiB (1024ll * 1024)
#define TiB (1024ll * 1024 * 1024 * 1024)

static char *xmalloc(size_t n)
{
	char *p = malloc(n);
	T_ASSERT(p != NULL, "malloc %zu", n);
	return p;
}

static void pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);
		if (n <= 0)
			t_fail(__FILE__, __LINE__, "pwrite at %lld: %s", (long long)(off + done),
			       n < 0 ? strerror(errno) : "short");
		done += (size_t)n;
	}
}

static size_t pread_all(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (n < 0)
			t_fail(__FILE__, __LINE__, "pread at %lld: %s", (long long)(off + done),
			       strerror(errno));
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return done;
}

static void expect_zero(int fd, off_t off, size_t len)
{
	char *b = xmalloc(len);
	T_EQ(pread_all(fd, b, len, off), len);
	for (size_t i = 0; i < len; i++)
		if (b[i])
			t_fail(__FILE__, __LINE__, "byte %lld is 0x%02x, expected 0",
			       (long long)(off + (off_t)i), (unsigned char)b[i]);
	free(b);
}

static off_t fsize(int fd)
{
	struct stat st;
	T_OK(fstat(fd, &st));
	return st.st_size;
}

static void t_rw(void)
{
	/* Writes of awkward sizes at awkward offsets, checked against a model. */
	const size_t cap = 3 * MiB;
	char *model = xmalloc(cap), *buf = xmalloc(cap), *got = xmalloc(cap);
	memset(model, 0, cap);
	int fd = T_OK(open("f", O_RDWR | O_CREAT, 0644));
	static const struct {
		off_t off;
		size_t len;
	} w[] = {{0, 1},	{1, 4095},	   {4096, 4096}, {8191, 2},	  {12288, 1},
		 {5000, 70000}, {100000, MiB + 3}, {65536, 7},	 {2 * MiB, 4096}, {0, 0}};
	size_t size = 0;
	for (unsigned i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		t_fill(buf, w[i].len, i + 1);
		pwrite_all(fd, buf, w[i].len, w[i].off);
		memcpy(model + w[i].off, buf, w[i].len);
		if ((size_t)w[i].off + w[i].len > size && w[i].len)
			size = (size_t)w[i].off + w[i].len;
		T_EQ(fsize(fd), size);
		T_EQ(pread_all(fd, got, size, 0), size);
		T_MEMEQ(got, model, size);
	}
	/* Through a second descriptor, with read(2) in odd chunks. */
	int fd2 = T_OK(open("f", O_RDONLY));
	size_t done = 0;
	for (size_t chunk = 1; done < size; chunk = chunk * 3 + 1) {
		ssize_t n = read(fd2, got + done, chunk);
		T_ASSERT(n > 0, "read at %zu", done);
		done += (size_t)n;
	}
	T_EQ(read(fd2, got, 10), 0);
	T_MEMEQ(got, model, size);
	/* Read past the end returns 0, across it is short. */
	T_EQ(pread(fd2, got, 10, (off_t)size + 100), 0);
	T_EQ(pread(fd2, got, 100, (off_t)size - 10), 10);
	T_ERR(write(fd2, "x", 1), EBADF);
	T_OK(close(fd2));
	/* O_APPEND always writes at the end. */
	int fa = T_OK(open("f", O_WRONLY | O_APPEND));
	T_OK(lseek(fa, 0, SEEK_SET));
	T_EQ(write(fa, "tail", 4), 4);
	T_EQ(fsize(fa), size + 4);
	T_EQ(lseek(fa, 0, SEEK_CUR), size + 4);
	T_OK(close(fa));
	T_EQ(pread_all(fd, got, 4, (off_t)size), 4);
	T_MEMEQ(got, "tail", 4);
	/* mtime and ctime move on write. */
	struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
	T_OK(futimens(fd, old));
	T_EQ(pwrite(fd, "z", 1, 0), 1);
	struct stat st;
	T_OK(fstat(fd, &st));
	T_ASSERT(st.st_mtim.tv_sec > 1000000000, "mtime updated by write");
	T_OK(close(fd));
	/* Reading a directory fails. */
	T_OK(mkdir("d", 0755));
	int dfd = T_OK(open("d", O_RDONLY));
	T_ERR(read(dfd, buf, 10), EISDIR);
	T_OK(close(dfd));
	free(model);
	free(buf);
	free(got);
}

static void t_truncate(void)
{
	char *buf = xmalloc(MiB), *got = xmalloc(MiB);
	t_fill(buf, MiB, 3);
	int fd = T_OK(open("f", O_RDWR | O_CREAT, 0644));
	pwrite_all(fd, buf, 100000, 0);
	/* Shrink into the middle of a block, then grow: the old bytes past the
	 * cut must read back as zeros, in the same block and beyond. */
	T_OK(ftruncate(fd, 5000));
	T_EQ(fsize(fd), 5000);
	T_OK(ftruncate(fd, 200000));
	T_EQ(fsize(fd), 200000);
	T_EQ(pread_all(fd, got, 5000, 0), 5000);
	T_MEMEQ(got, buf, 5000);
	expect_zero(fd, 5000, 195000);
	/* Grow by truncate(2) by path, far away (sparse). */
	T_OK(truncate("f", 64 * MiB + 123));
	T_EQ(fsize(fd), 64 * MiB + 123);
	expect_zero(fd, 64 * MiB - 4096, 4096 + 123);
	T_EQ(pread(fd, got, 10, 64 * MiB + 123), 0);
	/* Write after a shrink that cut a block in two. */
	T_OK(ftruncate(fd, 4097));
	T_EQ(pwrite(fd, "Q", 1, 9000), 1);
	expect_zero(fd, 4097, 9000 - 4097);
	T_EQ(pread_all(fd, got, 4097, 0), 4097);
	T_MEMEQ(got, buf, 4097);
	T_OK(ftruncate(fd, 0));
	T_EQ(fsize(fd), 0);
	T_EQ(pread(fd, got, 10, 0), 0);
	struct stat st;
	T_OK(fstat(fd, &st));
	T_EQ(st.st_blocks, 0);
	/* Timestamps on truncate. */
	struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
	T_OK(futimens(fd, old));
	T_OK(ftruncate(fd, 10));
	T_OK(fstat(fd, &st));
	T_ASSERT(st.st_mtim.tv_sec > 1000000000 && st.st_ctim.tv_sec > 1000000000,
		 "truncate updates mtime and ctime");
	T_ERR(ftruncate(fd, -1), EINVAL);
	T_OK(mkdir("d", 0755));
	T_ERR(truncate("d", 0), EISDIR);
	T_ERR(truncate("missing", 0), ENOENT);
	int ro = T_OK(open("f", O_RDONLY));
	T_ERR(ftruncate(ro, 0), EINVAL);
	T_OK(close(ro));
	T_OK(close(fd));
	free(buf);
	free(got);
}

static void t_sparse(void)
{
	char *buf = xmalloc(MiB);
	t_fill(buf, MiB, 5);
	int fd = T_OK(open("f", O_RDWR | O_CREAT, 0644));
	pwrite_all(fd, buf, 8192, 0);
	pwrite_all(fd, buf, 8192, 16 * MiB);
	T_OK(fsync(fd));
	T_EQ(fsize(fd), 16 * MiB + 8192);
	struct stat st;
	T_OK(fstat(fd, &st));
	T_ASSERT(st.st_blocks * 512 < 4 * MiB, "sparse file allocates little (%lld blocks)",
		 (long long)st.st_blocks);
	expect_zero(fd, 8192, MiB);
	expect_zero(fd, 15 * MiB, MiB);
	T_EQ(lseek(fd, 0, SEEK_DATA), 0);
	off_t hole = lseek(fd, 0, SEEK_HOLE);
	T_ASSERT(hole >= 8192 && hole <= 16 * MiB, "first hole at %lld", (long long)hole);
	off_t data = lseek(fd, 8192 + 4096, SEEK_DATA);
	T_ASSERT(data >= 8192 && data <= 16 * MiB, "second data at %lld", (long long)data);
	T_ASSERT(data > 8192 + 4096, "no data reported inside the 16 MiB hole (%lld)",
		 (long long)data);
	T_EQ(lseek(fd, 16 * MiB + 100, SEEK_HOLE), 16 * MiB + 8192);
	T_EQ(lseek(fd, 16 * MiB + 100, SEEK_DATA), 16 * MiB + 100);
	T_ERR(lseek(fd, 16 * MiB + 8192, SEEK_DATA), ENXIO);
	T_ERR(lseek(fd, 16 * MiB + 8192 + 1, SEEK_HOLE), ENXIO);
	/* A file that is all hole. */
	int fh = T_OK(open("h", O_RDWR | O_CREAT, 0644));
	T_OK(ftruncate(fh, 10 * MiB));
	T_ERR(lseek(fh, 0, SEEK_DATA), ENXIO);
	T_EQ(lseek(fh, 0, SEEK_HOLE), 0);
	T_EQ(lseek(fh, 5 * MiB, SEEK_HOLE), 5 * MiB);
	T_OK(fstat(fh, &st));
	T_EQ(st.st_blocks, 0);
	/* Data at the very end of a hole file. */
	T_EQ(pwrite(fh, "e", 1, 10 * MiB - 1), 1);
	off_t d = lseek(fh, 0, SEEK_DATA);
	T_ASSERT(d > 0 && d <= 10 * MiB - 1 && d >= 9 * MiB, "data near the end at %lld",
		 (long long)d);
	T_OK(close(fh));
	T_OK(close(fd));
	free(buf);
}

static void t_fallocate(void)
{
	struct stat st;
	char *buf = xmalloc(4 * MiB), *got = xmalloc(4 * MiB);
	int fd = T_OK(open("f", O_RDWR | O_CREAT, 0644));
	/* Mode 0: allocates and extends; mtime and ctime move (as on ext4). */
	struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
	T_OK(futimens(fd, old));
	T_OK(fallocate(fd, 0, 0, 4 * MiB));
	T_OK(fstat(fd, &st));
	T_EQ(st.st_size, 4 * MiB);
	T_ASSERT(st.st_mtim.tv_sec > 1000000000, "fallocate updates mtime");
	T_ASSERT(st.st_blocks * 512 >= 4 * MiB, "allocated %lld blocks", (long long)st.st_blocks);
	expect_zero(fd, 0, 4 * MiB);
	/* KEEP_SIZE: allocates beyond EOF, size unchanged, still reads 0 bytes
	 * there; a later extension shows zeros. */
	blkcnt_t b0 = st.st_blocks;
	T_OK(futimens(fd, old));
	T_OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 4 * MiB, 2 * MiB));
	T_OK(fstat(fd, &st));
	T_EQ(st.st_size, 4 * MiB);
	T_ASSERT(st.st_mtim.tv_sec > 1000000000, "fallocate KEEP_SIZE updates mtime");
	T_ASSERT(st.st_blocks >= b0 + 2 * MiB / 512, "KEEP_SIZE allocated (%lld -> %lld)",
		 (long long)b0, (long long)st.st_blocks);
	T_EQ(pread(fd, got, 10, 4 * MiB), 0);
	T_OK(ftruncate(fd, 5 * MiB));
	expect_zero(fd, 4 * MiB, MiB);
	/* Write data, then punch holes: aligned, unaligned, across blocks. */
	t_fill(buf, 4 * MiB, 9);
	pwrite_all(fd, buf, 4 * MiB, 0);
	T_OK(fsync(fd));
	T_OK(fstat(fd, &st));
	b0 = st.st_blocks;
	T_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, MiB, MiB));
	T_OK(fstat(fd, &st));
	T_EQ(st.st_size, 5 * MiB);
	T_ASSERT(st.st_blocks <= b0 - MiB / 512, "punch frees blocks (%lld -> %lld)", (long long)b0,
		 (long long)st.st_blocks);
	expect_zero(fd, MiB, MiB);
	T_EQ(pread_all(fd, got, MiB, 0), MiB);
	T_MEMEQ(got, buf, MiB);
	T_EQ(pread_all(fd, got, MiB, 2 * MiB), MiB);
	T_MEMEQ(got, buf + 2 * MiB, MiB);
	off_t h = lseek(fd, 0, SEEK_HOLE);
	T_EQ(h, MiB);
	/* Unaligned punch inside one block and across a block boundary. */
	T_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 3 * MiB + 100, 50));
	T_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 3 * MiB + 4000, 10000));
	expect_zero(fd, 3 * MiB + 100, 50);
	expect_zero(fd, 3 * MiB + 4000, 10000);
	T_EQ(pread_all(fd, got, 100, 3 * MiB), 100);
	T_MEMEQ(got, buf + 3 * MiB, 100);
	T_EQ(pread_all(fd, got, 4000 - 150, 3 * MiB + 150), 4000 - 150);
	T_MEMEQ(got, buf + 3 * MiB + 150, 4000 - 150);
	T_EQ(pread_all(fd, got, 1000, 3 * MiB + 14000), 1000);
	T_MEMEQ(got, buf + 3 * MiB + 14000, 1000);
	/* Punch past EOF does not extend. */
	T_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 5 * MiB - 4096, MiB));
	T_EQ(fsize(fd), 5 * MiB);
	/* Errors. */
	T_ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), EOPNOTSUPP);
	T_ERR(fallocate(fd, 0, 0, 0), EINVAL);
	T_ERR(fallocate(fd, 0, -1, 4096), EINVAL);
	int ro = T_OK(open("f", O_RDONLY));
	T_ERR(fallocate(ro, 0, 0, 4096), EBADF);
	T_OK(close(ro));
	/* Mode 0 in the middle of existing data leaves it alone. */
	T_OK(fallocate(fd, 0, 0, 2 * MiB));
	T_EQ(pread_all(fd, got, MiB, 0), MiB);
	T_MEMEQ(got, buf, MiB);
	T_OK(close(fd));
	free(buf);
	free(got);
}

static void t_copy_range(void)
{
	const size_t len = 3 * MiB + 1234;
	char *buf = xmalloc(len), *got = xmalloc(len);
	t_fill(buf, len, 11);
	t_write_file("src", buf, len, 0644);
	int in = T_OK(open("src", O_RDONLY));
	int out = T_OK(open("dst", O_RDWR | O_CREAT, 0644));
	loff_t ioff = 0, ooff = 0;
	size_t done = 0;
	while (done < len) {
		ssize_t n = copy_file_range(in, &ioff, out, &ooff, len - done, 0);
		T_ASSERT(n > 0, "copy_file_range: %zd %s", n, strerror(errno));
		done += (size_t)n;
	}
	T_EQ(ioff, len);
	T_EQ(ooff, len);
	T_EQ(fsize(out), len);
	T_EQ(pread_all(out, got, len, 0), len);
	T_MEMEQ(got, buf, len);
	/* Unaligned sub-range into the middle of another file, past its end. */
	ioff = 4097;
	ooff = 10;
	ssize_t n = copy_file_range(in, &ioff, out, &ooff, 5000, 0);
	T_EQ(n, 5000);
	T_EQ(pread_all(out, got, 5000, 10), 5000);
	T_MEMEQ(got, buf + 4097, 5000);
	T_EQ(pread_all(out, got, 10, 0), 10);
	T_MEMEQ(got, buf, 10);
	ooff = (loff_t)len + 8192;
	ioff = 0;
	T_EQ(copy_file_range(in, &ioff, out, &ooff, 100, 0), 100);
	T_EQ(fsize(out), len + 8192 + 100);
	expect_zero(out, (off_t)len, 8192);
	/* At or past the end of the source: 0. */
	ioff = (loff_t)len;
	T_EQ(copy_file_range(in, &ioff, out, NULL, 100, 0), 0);
	/* Overlapping range in one file: EINVAL; bad flags: EINVAL. */
	int io = T_OK(open("src", O_RDWR));
	ioff = 0;
	ooff = 100;
	T_ERR(copy_file_range(io, &ioff, io, &ooff, 4096, 0), EINVAL);
	T_ERR(copy_file_range(in, NULL, out, NULL, 10, 1), EINVAL);
	T_ERR(copy_file_range(out, NULL, in, NULL, 10, 0), EBADF);
	/* The source is unchanged. */
	T_EQ(pread_all(in, got, len, 0), len);
	T_MEMEQ(got, buf, len);
	T_OK(close(io));
	T_OK(close(in));
	T_OK(close(out));
	free(buf);
	free(got);
}

static void t_sync(void)
{
	char buf[8192], got[8192];
	t_fill(buf, sizeof(buf), 13);
	int fd = T_OK(open("f", O_RDWR | O_CREAT, 0644));
	T_EQ(write(fd, buf, sizeof(buf)), sizeof(buf));
	T_OK(fsync(fd));
	T_OK(fdatasync(fd));
	T_OK(close(fd));
	fd = T_OK(open("s", O_RDWR | O_CREAT | O_SYNC, 0644));
	T_EQ(write(fd, buf, sizeof(buf)), sizeof(buf));
	T_EQ(pread(fd, got, sizeof(got), 0), sizeof(got));
	T_MEMEQ(got, buf, sizeof(buf));
	T_OK(close(fd));
	fd = T_OK(open("ds", O_RDWR | O_CREAT | O_DSYNC, 0644));
	T_EQ(write(fd, buf, 100), 100);
	T_OK(close(fd));
	int dfd = T_OK(open(".", O_RDONLY | O_DIRECTORY));
	T_OK(fsync(dfd));
	T_OK(fdatasync(dfd));
	T_OK(syncfs(dfd));
	T_OK(close(dfd));
	/* fsync of a file opened read-only is allowed. */
	fd = T_OK(open("f", O_RDONLY));
	T_OK(fsync(fd));
	T_OK(close(fd));
	sync();
}

static void t_mmap(void)
{
	const size_t len = 3 * 4096 + 100;
	char *buf = xmalloc(len), *got = xmalloc(len);
	t_fill(buf, len, 17);
	int fd = T_OK(open("f", O_RDWR | O_CREAT, 0644));
	T_OK(ftruncate(fd, (off_t)len));
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	T_ASSERT(m != MAP_FAILED, "mmap: %s", strerror(errno));
	memcpy(m, buf, len);
	T_OK(msync(m, len, MS_SYNC));
	T_EQ(pread_all(fd, got, len, 0), len);
	T_MEMEQ(got, buf, len);
	/* A write(2) shows in the mapping. */
	T_EQ(pwrite(fd, "XYZ", 3, 5000), 3);
	T_MEMEQ(m + 5000, "XYZ", 3);
	T_OK(munmap(m, len));
	T_OK(close(fd));
	/* After close and reopen. */
	T_EQ(t_read_file("f", got, len), len);
	T_MEMEQ(got + 5003, buf + 5003, len - 5003);
	free(buf);
	free(got);
}

/* One write through io_submit, waited for: its result (bytes or -errno). */
static long long aio_pwrite(aio_context_t ctx, int fd, const void *buf, size_t len, off_t off)
{
	struct iocb cb = {.aio_fildes = (uint32_t)fd,
			  .aio_lio_opcode = IOCB_CMD_PWRITE,
			  .aio_buf = (uint64_t)(uintptr_t)buf,
			  .aio_nbytes = len,
			  .aio_offset = off};
	struct iocb *cbs[1] = {&cb};
	T_EQ(syscall(SYS_io_submit, ctx, 1, cbs), 1);
	struct io_event ev;
	T_EQ(syscall(SYS_io_getevents, ctx, 1, 1, &ev, NULL), 1);
	return ev.res;
}

/* Buffered reads racing direct writes of the same file (xfstests
 * generic/451): once a direct write has completed, synchronous or through
 * io_submit, a buffered read sees its bytes, never the old ones a racing
 * read left in the page cache. */
#define DIO_CHUNK  (64 * 1024)
#define DIO_CHUNKS 16

struct dio_reader {
	int fd;
	size_t chunk;	 /* bytes per read */
	unsigned chunks; /* of the file */
	bool seq;	 /* in order, dropping the cache every 4 chunks: read-ahead */
	atomic_bool stop;
};

static void *dio_read_loop(void *arg)
{
	struct dio_reader *rd = arg;
	char *buf = xmalloc(rd->chunk);
	uint64_t state = (uint64_t)(uintptr_t)&buf | 1;
	for (unsigned i = 0; !atomic_load(&rd->stop); i++) {
		unsigned k = rd->seq ? i % rd->chunks : (unsigned)(t_xorshift(&state) % rd->chunks);
		if (rd->seq && k % 4 == 0)
			T_EQ(posix_fadvise(rd->fd, 0, 0, POSIX_FADV_DONTNEED), 0);
		T_EQ(pread(rd->fd, buf, rd->chunk, (off_t)k * (off_t)rd->chunk), rd->chunk);
	}
	free(buf);
	return NULL;
}

/* Direct writes of 12 MiB (twelve 1 MiB requests in flight at once when
 * the kernel splits them asynchronously) beside twelve buffered readers of
 * the same 16 MiB: nothing may wait for ever. (A daemon that dropped the
 * written range from the page cache itself hung here: its threads waited
 * for pages the readers held, the readers' READs for a thread or a
 * background slot those writes held.) Then a buffered read sees the last
 * write whole. */
static void dio_big_writes(void)
{
	const size_t wlen = 12 * MiB;
	int dfd = T_OK(open("big", O_RDWR | O_CREAT | O_DIRECT, 0644));
	char *w;
	T_EQ(posix_memalign((void **)&w, 4096, wlen), 0);
	memset(w, 0, wlen);
	for (int i = 0; i < 4; i++)
		T_EQ(pwrite(dfd, w, 4 * MiB, (off_t)i * 4 * MiB), 4 * MiB);
	struct dio_reader rd = {
	    .fd = T_OK(open("big", O_RDONLY)), .chunk = MiB, .chunks = 16, .seq = true};
	pthread_t th[12];
	for (int i = 0; i < 12; i++)
		T_EQ(pthread_create(&th[i], NULL, dio_read_loop, &rd), 0);
	int rounds = 0;
	for (double end = t_now() + 10; t_now() < end && rounds < 60; rounds++) {
		t_fill(w, wlen, (uint64_t)rounds + 1000);
		T_EQ(pwrite(dfd, w, wlen, (off_t)(rounds % 2) * 4 * MiB), wlen);
	}
	atomic_store(&rd.stop, true);
	for (int i = 0; i < 12; i++)
		T_EQ(pthread_join(th[i], NULL), 0);
	char *got = xmalloc(wlen);
	off_t last = (off_t)((rounds - 1) % 2) * 4 * MiB;
	T_EQ(pread(rd.fd, got, wlen, last), wlen);
	T_MEMEQ(got, w, wlen);
	t_note("%d direct writes of 12 MiB beside 12 buffered readers", rounds);
	T_OK(close(rd.fd));
	T_OK(close(dfd));
	free(w);
	free(got);
}

static void t_dio_vs_buffered(void)
{
	int dfd = open("dio", O_RDWR | O_CREAT | O_DIRECT, 0644);
	if (dfd < 0 && errno == EINVAL)
		t_skip("%s has no O_DIRECT", t_fs_name());
	T_ASSERT(dfd >= 0, "open O_DIRECT: %s", strerror(errno));
	char *w;
	T_EQ(posix_memalign((void **)&w, 4096, DIO_CHUNK), 0);
	char *got = xmalloc(DIO_CHUNK);
	memset(w, 0, DIO_CHUNK);
	for (int i = 0; i < DIO_CHUNKS; i++)
		T_EQ(pwrite(dfd, w, DIO_CHUNK, (off_t)i * DIO_CHUNK), DIO_CHUNK);
	aio_context_t ctx = 0;
	T_OK(syscall(SYS_io_setup, 4, &ctx));
	struct dio_reader rd = {
	    .fd = T_OK(open("dio", O_RDONLY)), .chunk = DIO_CHUNK, .chunks = DIO_CHUNKS};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		T_EQ(pthread_create(&th[i], NULL, dio_read_loop, &rd), 0);
	const int rounds = 2000;
	for (int r = 1; r <= rounds; r++) {
		off_t off = (off_t)(r % DIO_CHUNKS) * DIO_CHUNK;
		t_fill(w, DIO_CHUNK, (uint64_t)r);
		if (r % 4 == 0) {
			T_EQ(pwrite(dfd, w, DIO_CHUNK, off), DIO_CHUNK);
		} else {
			T_EQ(aio_pwrite(ctx, dfd, w, DIO_CHUNK, off), DIO_CHUNK);
		}
		T_EQ(pread(rd.fd, got, DIO_CHUNK, off), DIO_CHUNK);
		size_t i = t_memdiff(got, w, DIO_CHUNK);
		T_ASSERT(i == DIO_CHUNK,
			 "round %d (%s write): byte %lld read 0x%02x, written 0x%02x", r,
			 r % 4 == 0 ? "synchronous" : "io_submit", (long long)(off + (off_t)i),
			 (unsigned char)got[i], (unsigned char)w[i]);
	}
	atomic_store(&rd.stop, true);
	for (int i = 0; i < 2; i++)
		T_EQ(pthread_join(th[i], NULL), 0);
	T_OK(syscall(SYS_io_destroy, ctx));
	T_OK(close(rd.fd));
	T_OK(close(dfd));
	free(w);
	free(got);
	dio_big_writes();
}

static void t_large_file(void)
{
	/* sanfs: files up to at least 16 TiB (DESIGN §3): the last 4 KiB block
	 * of a 16 TiB file. ext4 with 4 KiB blocks stops at 16 TiB - 4 KiB, so
	 * there the block below 15 TiB is used. */
	off_t off = 16 * TiB - 4096;
	if (t_fs_kind() == T_FS_EXT4)
		off = 15 * TiB - 4096;
	char buf[4096], got[4096];
	t_fill(buf, sizeof(buf), 19);
	int fd = T_OK(open("big", O_RDWR | O_CREAT, 0644));
	pwrite_all(fd, buf, sizeof(buf), off);
	pwrite_all(fd, buf, 100, 0);
	T_OK(fsync(fd));
	T_EQ(fsize(fd), off + 4096);
	T_EQ(pread_all(fd, got, sizeof(got), off), sizeof(got));
	T_MEMEQ(got, buf, sizeof(got));
	expect_zero(fd, off / 2, 4096);
	expect_zero(fd, off - 4096, 4096);
	struct stat st;
	T_OK(fstat(fd, &st));
	T_ASSERT(st.st_blocks * 512 <= 1 * MiB, "sparse: %lld blocks", (long long)st.st_blocks);
	off_t d = lseek(fd, 4096, SEEK_DATA);
	T_ASSERT(d > off - MiB && d <= off, "SEEK_DATA finds the far block (%lld)", (long long)d);
	/* Across the middle of the range too. */
	pwrite_all(fd, buf, 10, 8 * TiB + 3);
	T_EQ(pread_all(fd, got, 10, 8 * TiB + 3), 10);
	T_MEMEQ(got, buf, 10);
	/* Beyond the maximum: EFBIG. */
	if (t_fs_kind() == T_FS_EXT4)
		T_ERR(pwrite(fd, buf, 1, 16 * TiB), EFBIG);
	/* Shrinking frees it all again. */
	T_OK(ftruncate(fd, 0));
	T_OK(fstat(fd, &st));
	T_EQ(st.st_blocks, 0);
	T_OK(close(fd));
}

static void t_enospc(void)
{
	/* Fill the filesystem: writes fail with ENOSPC (never corrupt or hang),
	 * then removing the filler gives the space back and writes work again. */
	struct statvfs sv;
	T_OK(statvfs(".", &sv));
	unsigned long long avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	if (avail > 64ull << 30)
		t_skip("%llu GiB free: too big to fill", avail >> 30);
	/* Made now, while there is room for its inode (used below). */
	int d = open("dio", O_WRONLY | O_CREAT | O_DIRECT, 0644);
	T_ASSERT(d >= 0 || errno == EINVAL, "open O_DIRECT: %s", strerror(errno));
	int fd = T_OK(open("filler", O_RDWR | O_CREAT, 0644));
	T_ERR(fallocate(fd, 0, 0, (off_t)(avail + (1ull << 30))), ENOSPC);
	T_OK(ftruncate(fd, 0));
	/* Leave 8 MiB, then write 64 MiB into it. */
	T_OK(fallocate(fd, 0, 0, (off_t)(avail - (8ull << 20))));
	int w = T_OK(open("more", O_WRONLY | O_CREAT, 0644));
	char *buf = xmalloc(MiB);
	t_fill(buf, MiB, 31);
	ssize_t n = 0;
	long long written = 0;
	for (int i = 0; i < 64; i++) {
		n = write(w, buf, MiB);
		if (n < 0)
			break;
		written += n;
		if (n < MiB) {
			n = write(w, buf, MiB);
			break;
		}
	}
	T_ASSERT(n < 0 && errno == ENOSPC, "writing 64 MiB into 8 MiB: %lld written, last %zd %s",
		 written, n, strerror(errno));
	t_note("%lld MiB written before ENOSPC", written >> 20);
	/* A direct write that only partly fits writes what fits or says
	 * ENOSPC, synchronous or through io_submit; never EIO (FUSE's async
	 * direct I/O made EIO of a short write: xfstests generic/300). */
	if (d >= 0) {
		char *a;
		T_EQ(posix_memalign((void **)&a, 4096, 4 * MiB), 0);
		memset(a, 0x5a, 4 * MiB);
		aio_context_t ctx = 0;
		T_OK(syscall(SYS_io_setup, 1, &ctx));
		for (int i = 0; i < 2; i++) {
			/* 256 KiB free, 1 MiB asked (one request). */
			T_OK(ftruncate(w, written -= 256 * 1024));
			off_t at = lseek(d, 0, SEEK_END);
			long long got;
			if (i == 0) {
				got = pwrite(d, a, MiB, at);
				T_ASSERT(got >= 0 || errno == ENOSPC,
					 "direct write into 256 KiB: %s", strerror(errno));
			} else {
				got = aio_pwrite(ctx, d, a, MiB, at);
				T_ASSERT(got >= 0 || got == -ENOSPC,
					 "io_submit direct write into 256 KiB: %s",
					 strerror((int)-got));
			}
			T_ASSERT(got < MiB, "1 MiB written into 256 KiB");
			t_note("direct write %d into 256 KiB: %lld", i, got);
		}
		T_OK(syscall(SYS_io_destroy, ctx));
		T_OK(close(d));
		T_OK(unlink("dio"));
		free(a);
	}
	int f2 = open("newfile", O_WRONLY | O_CREAT, 0644);
	if (f2 >= 0)
		close(f2);
	else
		T_ASSERT(errno == ENOSPC, "create on a full fs: %s", strerror(errno));
	T_OK(close(w));
	T_OK(close(fd));
	T_OK(unlink("filler"));
	T_OK(unlink("more"));
	sync();
	for (int i = 0; i < 50; i++) {
		T_OK(statvfs(".", &sv));
		if ((unsigned long long)sv.f_bavail * sv.f_frsize > avail / 2)
			break;
		usleep(100000);
	}
	w = T_OK(open("after", O_WRONLY | O_CREAT, 0644));
	for (int i = 0; i < 16; i++)
		T_EQ(write(w, buf, MiB), MiB);
	T_OK(fsync(w));
	T_OK(close(w));
	char *got = xmalloc(16 * MiB);
	T_EQ(t_read_file("after", got, 16 * MiB), 16 * MiB);
	T_MEMEQ(got + 15 * MiB, buf, MiB);
	free(buf);
	free(got);
}

static const struct t_case cases[] = {
    {"rw", t_rw, 0},
    {"truncate", t_truncate, 0},
    {"sparse", t_sparse, 0},
    {"fallocate", t_fallocate, 0},
    {"copy_range", t_copy_range, 0},
    {"sync", t_sync, 0},
    {"mmap", t_mmap, 0},
    {"dio_vs_buffered", t_dio_vs_buffered, 0},
    {"large_file", t_large_file, 0},
    {"enospc", t_enospc, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
	return t_main(argc, argv, cases);
}
