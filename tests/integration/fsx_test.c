/* A file data exerciser in the manner of fsx: random operations on one file
 * (and copies from a second one) through every data path the filesystem
 * offers, each checked against an in-memory model of the bytes:
 *
 *   pwrite, pread, O_DIRECT pread and pwrite (4 KiB aligned), mmap reads,
 *   mmap writes with msync, truncate up and down, fallocate (mode 0,
 *   KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE when supported), copy_file_range
 *   within the file and from another file, fsync and fdatasync, close and
 *   reopen, SEEK_DATA/SEEK_HOLE (only that they name offsets whose bytes
 *   agree: a hole reads as zeros).
 *
 * Every read is compared with the model, the size after every operation,
 * the whole file every 100 operations and at the end. When TARGET_REMOUNT is
 * set (tests/lib/target.sh) the filesystem is unmounted and mounted again
 * twice during the run and the file compared in full after each. On a
 * mismatch it prints the seed, the first differing offset and the last
 * operations.
 *
 *   fsx_test DIR [fsx]     env SEED=N (printed; reproduces a run), OPS=N (20000)
 */
#include "tcheck.h"

#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum { FILE_MAX = 1 << 20, OP_MAX = 64 << 10, BLK = 4096, LOG_N = 24 };

static unsigned char *model, *other; /* the file under test, the copy source */
static size_t msize;
static const size_t other_size = 256 << 10;
static int fd = -1, ofd = -1;
static uint64_t rng;
static unsigned long op_no;
static bool zero_range_ok = true, direct_ok = true;
static char oplog[LOG_N][160];

static uint64_t rnd(void)
{
	return t_xorshift(&rng);
}

static size_t rnd_below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

static void logop(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logop(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = oplog[op_no % LOG_N];
	int n = snprintf(s, sizeof(oplog[0]), "%lu ", op_no);
	vsnprintf(s + n, sizeof(oplog[0]) - (size_t)n, fmt, ap);
	va_end(ap);
}

static void dump_log(void)
{
	fprintf(stderr, "fsx: last operations:\n");
	for (unsigned long i = op_no >= LOG_N ? op_no - LOG_N + 1 : 0; i <= op_no; i++)
		fprintf(stderr, "  %s\n", oplog[i % LOG_N]);
}

static uint64_t seed;

#define FSX_FAIL(...)                                                                              \
	do {                                                                                       \
		fprintf(stderr, "fsx: seed %" PRIu64 ", operation %lu\n", seed, op_no);            \
		dump_log();                                                                        \
		t_fail(__FILE__, __LINE__, __VA_ARGS__);                                           \
	} while (0)

static void check_bytes(const unsigned char *got, size_t off, size_t len, const char *how)
{
	if (!memcmp(got, model + off, len))
		return;
	size_t i = 0;
	while (got[i] == model[off + i])
		i++;
	FSX_FAIL("%s [%zu, +%zu): byte %zu is %#x, model has %#x", how, off, len, off + i, got[i],
		 model[off + i]);
}

static void check_size(void)
{
	struct stat st;
	T_OK(fstat(fd, &st));
	if ((size_t)st.st_size != msize)
		FSX_FAIL("size %lld, model %zu", (long long)st.st_size, msize);
}

/* The model's size changes to n: new bytes are zeros. */
static void model_resize(size_t n)
{
	if (n > msize)
		memset(model + msize, 0, n - msize);
	msize = n;
}

/* len bytes written at off: the model grows as a file does. */
static void model_write(size_t off, const unsigned char *buf, size_t len)
{
	if (off > msize)
		model_resize(off);
	memcpy(model + off, buf, len);
	if (off + len > msize)
		msize = off + len;
}

static void fill(unsigned char *p, size_t len)
{
	unsigned char b = (unsigned char)(op_no * 31 + 7);
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(b + i * 13 + (i >> 9)) | 1; /* never zero */
}

static void do_write(void)
{
	size_t off = rnd_below(FILE_MAX - 1), len = 1 + rnd_below(OP_MAX);
	if (off + len > FILE_MAX)
		len = FILE_MAX - off;
	unsigned char *buf = malloc(len);
	fill(buf, len);
	logop("write %zu +%zu", off, len);
	if (T_OK(pwrite(fd, buf, len, (off_t)off)) != (long long)len)
		FSX_FAIL("short write");
	model_write(off, buf, len);
	free(buf);
}

static void do_read(void)
{
	if (!msize)
		return;
	size_t off = rnd_below(msize), len = 1 + rnd_below(OP_MAX);
	unsigned char *buf = malloc(len);
	logop("read %zu +%zu", off, len);
	ssize_t n = T_OK(pread(fd, buf, len, (off_t)off));
	size_t want = off + len > msize ? msize - off : len;
	if ((size_t)n != want)
		FSX_FAIL("read %zu +%zu returned %zd, model %zu", off, len, n, want);
	check_bytes(buf, off, want, "read");
	free(buf);
}

/* O_DIRECT on a second descriptor, whole aligned blocks. */
static void do_direct(bool write)
{
	if (!direct_ok)
		return;
	int dfd = open("a", O_RDWR | O_DIRECT);
	if (dfd < 0 && errno == EINVAL) {
		direct_ok = false;
		t_note("O_DIRECT not supported here: skipped from now on");
		return;
	}
	T_OK(dfd);
	size_t off = rnd_below(FILE_MAX / BLK - 1) * BLK, len = (1 + rnd_below(8)) * BLK;
	if (off + len > FILE_MAX)
		len = FILE_MAX - off;
	void *buf;
	T_ASSERT(posix_memalign(&buf, BLK, len) == 0, "posix_memalign");
	if (write) {
		fill(buf, len);
		logop("direct write %zu +%zu", off, len);
		if (T_OK(pwrite(dfd, buf, len, (off_t)off)) != (long long)len)
			FSX_FAIL("short direct write");
		model_write(off, buf, len);
	} else if (msize) {
		off = rnd_below((msize + BLK - 1) / BLK) * BLK;
		logop("direct read %zu +%zu", off, len);
		ssize_t n = T_OK(pread(dfd, buf, len, (off_t)off));
		size_t want = off >= msize ? 0 : off + len > msize ? msize - off : len;
		if ((size_t)n != want)
			FSX_FAIL("direct read %zu +%zu returned %zd, model %zu", off, len, n, want);
		check_bytes(buf, off, want, "direct read");
	}
	free(buf);
	T_OK(close(dfd));
}

static void do_mapread(void)
{
	if (!msize)
		return;
	size_t off = rnd_below(msize), len = 1 + rnd_below(OP_MAX);
	if (off + len > msize)
		len = msize - off;
	size_t pg = off & ~(size_t)(BLK - 1), mlen = off + len - pg;
	logop("mapread %zu +%zu", off, len);
	unsigned char *p = mmap(NULL, mlen, PROT_READ, MAP_SHARED, fd, (off_t)pg);
	T_ASSERT(p != MAP_FAILED, "mmap read: %s", strerror(errno));
	check_bytes(p + (off - pg), off, len, "mapread");
	T_OK(munmap(p, mlen));
}

static void do_mapwrite(void)
{
	size_t off = rnd_below(FILE_MAX - 1), len = 1 + rnd_below(OP_MAX);
	if (off + len > FILE_MAX)
		len = FILE_MAX - off;
	logop("mapwrite %zu +%zu", off, len);
	if (off + len > msize) {
		T_OK(ftruncate(fd, (off_t)(off + len)));
		model_resize(off + len);
	}
	size_t pg = off & ~(size_t)(BLK - 1), mlen = off + len - pg;
	unsigned char *p = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)pg);
	T_ASSERT(p != MAP_FAILED, "mmap write: %s", strerror(errno));
	fill(p + (off - pg), len);
	memcpy(model + off, p + (off - pg), len);
	T_OK(msync(p, mlen, MS_SYNC));
	T_OK(munmap(p, mlen));
}

static void do_truncate(void)
{
	size_t n = rnd() % 4 == 0 ? 0 : rnd_below(FILE_MAX);
	logop("truncate %zu (from %zu)", n, msize);
	T_OK(ftruncate(fd, (off_t)n));
	model_resize(n);
}

static void do_fallocate(void)
{
	size_t off = rnd_below(FILE_MAX - 1), len = 1 + rnd_below(OP_MAX * 2);
	if (off + len > FILE_MAX)
		len = FILE_MAX - off;
	int which = (int)rnd_below(4);
	static const char *const names[] = {"alloc", "alloc keep-size", "punch", "zero range"};
	static const int modes[] = {0, FALLOC_FL_KEEP_SIZE,
				    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				    FALLOC_FL_ZERO_RANGE};
	if (which == 3 && !zero_range_ok)
		which = 2;
	logop("fallocate %s %zu +%zu", names[which], off, len);
	if (fallocate(fd, modes[which], (off_t)off, (off_t)len)) {
		if (which == 3 && errno == EOPNOTSUPP) {
			zero_range_ok = false;
			t_note("FALLOC_FL_ZERO_RANGE not supported here: skipped from now on");
			return;
		}
		FSX_FAIL("fallocate %s %zu +%zu: %s", names[which], off, len, strerror(errno));
	}
	switch (which) {
	case 0:
		if (off + len > msize)
			model_resize(off + len);
		break;
	case 1:
		break;
	case 2:
		if (off < msize)
			memset(model + off, 0, (off + len > msize ? msize : off + len) - off);
		break;
	case 3:
		if (off + len > msize)
			model_resize(off + len);
		memset(model + off, 0, len);
		break;
	}
}

/* copy_file_range, which may copy less than asked: the model follows what
 * it reports. */
static void do_copy(bool from_other)
{
	int in = from_other ? ofd : fd;
	const unsigned char *src = from_other ? other : model;
	size_t src_size = from_other ? other_size : msize;
	if (!src_size)
		return;
	size_t soff = rnd_below(src_size), len = 1 + rnd_below(OP_MAX);
	size_t doff = rnd_below(FILE_MAX - 1);
	if (doff + len > FILE_MAX)
		len = FILE_MAX - doff;
	/* Within one file the ranges may not overlap (EINVAL). */
	if (!from_other && soff < doff + len && doff < soff + len)
		return;
	logop("copy %s %zu -> %zu +%zu", from_other ? "other" : "self", soff, doff, len);
	unsigned char *tmp = malloc(len);
	size_t avail = soff + len > src_size ? src_size - soff : len;
	memcpy(tmp, src + soff, avail);
	loff_t si = (loff_t)soff, di = (loff_t)doff;
	size_t done = 0;
	while (done < avail) {
		ssize_t n = copy_file_range(in, &si, fd, &di, avail - done, 0);
		if (n < 0)
			FSX_FAIL("copy_file_range: %s", strerror(errno));
		if (n == 0)
			break;
		done += (size_t)n;
	}
	if (done != avail)
		FSX_FAIL("copy_file_range copied %zu of %zu before the source's end", done, avail);
	if (done)
		model_write(doff, tmp, done);
	free(tmp);
}

static void do_seek(void)
{
	if (!msize)
		return;
	size_t off = rnd_below(msize);
	bool hole = rnd() & 1;
	logop("seek %s %zu", hole ? "hole" : "data", off);
	off_t r = lseek(fd, (off_t)off, hole ? SEEK_HOLE : SEEK_DATA);
	if (r < 0) {
		/* SEEK_DATA past the last data: ENXIO, so no byte from off on is
		 * non-zero. */
		if (!hole && errno == ENXIO) {
			for (size_t i = off; i < msize; i++)
				if (model[i])
					FSX_FAIL("SEEK_DATA %zu: ENXIO, model has data at %zu", off,
						 i);
			return;
		}
		FSX_FAIL("lseek %s %zu: %s", hole ? "SEEK_HOLE" : "SEEK_DATA", off,
			 strerror(errno));
	}
	if ((size_t)r < off || (size_t)r > msize)
		FSX_FAIL("lseek %s %zu gave %lld (size %zu)", hole ? "SEEK_HOLE" : "SEEK_DATA", off,
			 (long long)r, msize);
	if (hole) {
		/* From r a hole (reads as zeros) up to the next data or EOF: at
		 * least to the end of r's block (holes are whole blocks). */
		size_t end = ((size_t)r / BLK + 1) * BLK;
		for (size_t i = (size_t)r; i < msize && i < end; i++)
			if (model[i])
				FSX_FAIL("SEEK_HOLE %zu gave %lld, model has data at %zu", off,
					 (long long)r, i);
	} else {
		for (size_t i = off; i < (size_t)r; i++)
			if (model[i])
				FSX_FAIL("SEEK_DATA %zu gave %lld, model has data at %zu", off,
					 (long long)r, i);
	}
}

static void check_all(void)
{
	check_size();
	unsigned char *buf = malloc(msize ? msize : 1);
	size_t got = 0;
	while (got < msize) {
		ssize_t n = T_OK(pread(fd, buf + got, msize - got, (off_t)got));
		if (n == 0)
			FSX_FAIL("EOF at %zu, model size %zu", got, msize);
		got += (size_t)n;
	}
	check_bytes(buf, 0, msize, "whole file");
	free(buf);
}

static void reopen(void)
{
	logop("close and reopen");
	T_OK(close(fd));
	fd = T_OK(open("a", O_RDWR));
}

/* Unmount and mount the target again (its command), then compare. */
static void remount(void)
{
	const char *kind = getenv("TARGET_KIND"), *cmd = getenv("TARGET_REMOUNT");
	if (!cmd || (kind && !strcmp(kind, "tmpfs")))
		return;
	char cwd[4096];
	T_ASSERT(getcwd(cwd, sizeof(cwd)), "getcwd");
	logop("remount");
	T_OK(close(fd));
	T_OK(close(ofd));
	T_OK(chdir("/"));
	t_note("operation %lu: remounting", op_no);
	int r = system(cmd);
	T_ASSERT(r == 0, "remount command failed (%d)", r);
	T_OK(chdir(cwd));
	fd = T_OK(open("a", O_RDWR));
	ofd = T_OK(open("b", O_RDWR));
	check_all();
}

static void t_fsx(void)
{
	const char *s = getenv("SEED"), *o = getenv("OPS");
	seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	unsigned long ops = o ? strtoul(o, NULL, 0) : 20000;
	rng = seed * 2654435761u + 1;
	t_note("seed %" PRIu64 " (SEED=%" PRIu64 " reproduces), %lu operations on %s", seed, seed,
	       ops, t_fs_name());
	model = calloc(FILE_MAX, 1);
	other = malloc(other_size);
	op_no = 99999;
	fill(other, other_size);
	ofd = T_OK(open("b", O_RDWR | O_CREAT | O_TRUNC, 0644));
	T_ASSERT(T_OK(write(ofd, other, other_size)) == (long long)other_size, "write b");
	fd = T_OK(open("a", O_RDWR | O_CREAT | O_TRUNC, 0644));
	for (op_no = 0; op_no < ops; op_no++) {
		unsigned x = (unsigned)rnd_below(100);
		if (x < 20)
			do_write();
		else if (x < 38)
			do_read();
		else if (x < 43)
			do_direct(false);
		else if (x < 48)
			do_direct(true);
		else if (x < 55)
			do_mapread();
		else if (x < 60)
			do_mapwrite();
		else if (x < 66)
			do_truncate();
		else if (x < 76)
			do_fallocate();
		else if (x < 82)
			do_copy(rnd() & 1);
		else if (x < 88)
			do_seek();
		else if (x < 91) {
			logop("fsync");
			T_OK(rnd() & 1 ? fsync(fd) : fdatasync(fd));
		} else if (x < 93)
			reopen();
		else
			do_read();
		check_size();
		if (op_no % 100 == 99)
			check_all();
		if (op_no == ops / 3 || op_no == 2 * ops / 3)
			remount();
	}
	check_all();
	T_OK(close(fd));
	T_OK(close(ofd));
	free(model);
	free(other);
}

static const struct t_case cases[] = {{"fsx", t_fsx, 600}, {NULL, NULL, 0}};

int main(int argc, char **argv)
{
	return t_main(argc, argv, cases);
}
