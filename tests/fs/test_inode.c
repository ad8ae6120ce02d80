/* Inode block encode/decode (fs/inode_format.c, FORMAT-inode.md): round trips
 * and every corruption the decoder must refuse with -EIO, never a crash. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/endian_le.h"
#include "common/log.h"
#include "fs/format.h"
#include "fs/inode.h"
#include "fs/inode_format.h"
#include "locks/lcl.h"

static const uint8_t uuid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
#define INO 1234ull

static uint8_t blk[SFS_BLOCK_SIZE];

static void seal(void)
{
	sfs_blk_seal(blk, uuid, SFS_BT_INODE, INO, LCL_RES(LCL_T_INODE, INO));
}

/* A regular file with 3 inline extents and two inline xattrs. */
static void make_file(struct sfs_inode *ip)
{
	memset(ip, 0, sizeof(*ip));
	ip->ino = INO;
	ip->mode = S_IFREG | 0640;
	ip->uid = 1000;
	ip->gid = 100;
	ip->nlink = 1;
	ip->size = 3 * 4096 * 10;
	ip->blocks = 8 * 25;
	ip->atime = (struct timespec){1700000000, 1};
	ip->mtime = (struct timespec){1700000001, 999999999};
	ip->ctime = (struct timespec){-5, 5};
	ip->btime = (struct timespec){1700000003, 3};
	ip->generation = 0x1122334455667788ull;
	ip->niext = 3;
	ip->iext = calloc(INODE_INLINE_EXT, sizeof(*ip->iext));
	ip->iext[0] = (struct sfs_extent){0, 5000, 10, 0};
	ip->iext[1] = (struct sfs_extent){10, 9000, 5, SFS_EXT_UNWRITTEN};
	ip->iext[2] = (struct sfs_extent){100, 1ull << 35, 10, 0};
	ip->ixattr = calloc(1, INODE_XATTR_SIZE);
	uint8_t *p = ip->ixattr;
	p[0] = 1, p[1] = 3, le32_put(p + 2, 2), memcpy(p + 6, "abcXY", 5);
	p += 11;
	p[0] = 4, p[1] = 0, le32_put(p + 2, 3), memcpy(p + 6, "acl", 3);
	ip->ixattr_len = 11 + 9;
}

static void encode(struct sfs_inode *ip)
{
	memset(blk, 0, sizeof(blk));
	inode_encode(ip, blk);
	seal();
}

static int decode(struct sfs_inode *out)
{
	int r = inode_block_decode(blk, uuid, INO, out);
	if (r == 0)
		inode_decoded_release(out);
	return r;
}

START_TEST(roundtrip_file)
{
	struct sfs_inode a, b;
	make_file(&a);
	encode(&a);
	ck_assert_int_eq(inode_block_decode(blk, uuid, INO, &b), 0);
	ck_assert_uint_eq(b.ino, INO);
	ck_assert_uint_eq(b.mode, a.mode);
	ck_assert_uint_eq(b.uid, 1000);
	ck_assert_uint_eq(b.gid, 100);
	ck_assert_uint_eq(b.nlink, 1);
	ck_assert_uint_eq(b.size, a.size);
	ck_assert_uint_eq(b.blocks, a.blocks);
	ck_assert(b.atime.tv_sec == a.atime.tv_sec && b.atime.tv_nsec == a.atime.tv_nsec);
	ck_assert(b.mtime.tv_sec == a.mtime.tv_sec && b.mtime.tv_nsec == a.mtime.tv_nsec);
	ck_assert(b.ctime.tv_sec == -5 && b.ctime.tv_nsec == 5);
	ck_assert(b.btime.tv_sec == a.btime.tv_sec && b.btime.tv_nsec == 3);
	ck_assert_uint_eq(b.generation, a.generation);
	ck_assert_uint_eq(b.niext, 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(b.iext[i].lblk, a.iext[i].lblk);
		ck_assert_uint_eq(b.iext[i].pblk, a.iext[i].pblk);
		ck_assert_uint_eq(b.iext[i].len, a.iext[i].len);
		ck_assert_uint_eq(b.iext[i].flags, a.iext[i].flags);
	}
	ck_assert_uint_eq(b.ixattr_len, a.ixattr_len);
	ck_assert_mem_eq(b.ixattr, a.ixattr, a.ixattr_len);
	/* Encoding the decoded inode gives the same bytes. */
	uint8_t copy[SFS_BLOCK_SIZE];
	memcpy(copy, blk, sizeof(copy));
	encode(&b);
	ck_assert_mem_eq(copy, blk, sizeof(blk));
	inode_decoded_release(&a);
	inode_decoded_release(&b);
}
END_TEST

START_TEST(roundtrip_symlink)
{
	struct sfs_inode a, b;
	memset(&a, 0, sizeof(a));
	a.mode = S_IFLNK | 0777;
	a.nlink = 1;
	a.symlen = 1500; /* longer than the inline area: tail in a block */
	a.size = 1500;
	a.symlink_blk = 777;
	a.blocks = 8;
	a.sym = malloc(INODE_DATA_SIZE + 1);
	memset(a.sym, 'x', INODE_DATA_SIZE);
	a.sym[INODE_DATA_SIZE] = 0;
	encode(&a);
	ck_assert_int_eq(inode_block_decode(blk, uuid, INO, &b), 0);
	ck_assert_uint_eq(b.symlen, 1500);
	ck_assert_uint_eq(b.symlink_blk, 777);
	ck_assert_uint_eq(strlen(b.sym), INODE_DATA_SIZE);
	inode_decoded_release(&b);
	/* Short target inline, no block. */
	a.symlen = 5;
	a.size = 5;
	a.symlink_blk = 0;
	a.blocks = 0;
	memcpy(a.sym, "a/b/c", 6);
	encode(&a);
	ck_assert_int_eq(inode_block_decode(blk, uuid, INO, &b), 0);
	ck_assert_str_eq(b.sym, "a/b/c");
	inode_decoded_release(&b);
	/* A symlink length that says "block" without one. */
	a.symlen = 2000;
	a.size = 2000;
	encode(&a);
	ck_assert_int_eq(decode(&b), -EIO);
	inode_decoded_release(&a);
}
END_TEST

/* Each corruption of a valid file inode is refused. */
struct corrupt {
	const char *what;
	unsigned off;
	unsigned width; /* 1, 2, 4, 8 */
	uint64_t val;
};

static const struct corrupt corrupts[] = {
    {"type bits", 48, 4, 0170000 | 0644},
    {"mode high bits", 48, 4, S_IFREG | 0x10000},
    {"atime nsec", 88, 4, 1000000000},
    {"btime nsec", 124, 4, 0xFFFFFFFF},
    {"flags", 132, 4, 1},
    {"lflags unknown", 176, 2, 0x80},
    {"tree flag with inline extents", 176, 2, INODE_LF_EXT_TREE},
    {"niext too large", 178, 2, 43},
    {"symlen on a file", 180, 2, 4},
    {"ixattr_len too large", 182, 2, INODE_XATTR_SIZE + 1},
    {"ixattr_len cuts an entry", 182, 2, 10},
    {"symlink block on a file", 192, 8, 55},
    {"xattr run length without a run", 200, 2, 1},
    {"xattr run without a length", 184, 8, 77},
    {"xattr run too long", 200, 2, XATTR_RUN_MAX + 1},
    {"reserved", 230, 1, 1},
    {"blocks not whole", 72, 8, 9},
    {"size too large", 64, 8, (1ull << 52) + 1},
    {"extent len 0", 256 + 16, 4, 0},
    {"extent pblk 0", 256 + 8, 8, 0},
    {"extent flags", 256 + 20, 4, 2},
    {"extent overlap", 256 + 24, 8, 5},
    {"extent past max", 256 + 48, 8, (1ull << 40) - 5},
    {"xattr namespace 0", 1280, 1, 0},
    {"xattr namespace 6", 1280, 1, 6},
    {"xattr acl with a name", 1291, 1, 4 | 0},
    {"xattr value past area", 1282, 4, 200},
    {"xattr value past XATTR_SIZE_MAX", 1282, 4, 65537},
    {"xattr user with empty name", 1281, 1, 0},
    {"xattr duplicate", 1291 + 1, 1, 3},
};

static void poke(unsigned off, unsigned width, uint64_t v)
{
	switch (width) {
	case 1:
		blk[off] = (uint8_t)v;
		break;
	case 2:
		le16_put(blk + off, (uint16_t)v);
		break;
	case 4:
		le32_put(blk + off, (uint32_t)v);
		break;
	default:
		le64_put(blk + off, v);
	}
}

START_TEST(corrupt_fields)
{
	struct sfs_inode a, b;
	make_file(&a);
	for (size_t i = 0; i < sizeof(corrupts) / sizeof(corrupts[0]); i++) {
		const struct corrupt *c = &corrupts[i];
		encode(&a);
		ck_assert_int_eq(decode(&b), 0);
		poke(c->off, c->width, c->val);
		if (!strcmp(c->what, "xattr duplicate")) {
			/* Turn the ACL entry into a second user."abc" entry. */
			blk[1291] = 1;
			blk[1292] = 3;
			le32_put(blk + 1293, 0);
			memcpy(blk + 1297, "abc", 3);
			le16_put(blk + 182, 11 + 9);
		}
		if (!strcmp(c->what, "xattr acl with a name"))
			blk[1292] = 1;
		seal();
		if (decode(&b) != -EIO)
			ck_abort_msg("corruption '%s' was accepted", c->what);
	}
	inode_decoded_release(&a);
}
END_TEST

START_TEST(corrupt_structure)
{
	struct sfs_inode a, b;
	make_file(&a);
	/* Extents on a directory. */
	a.mode = S_IFDIR | 0755;
	encode(&a);
	ck_assert_int_eq(decode(&b), -EIO);
	/* A tree on a fifo. */
	a.mode = S_IFIFO | 0600;
	a.niext = 0;
	a.fork.root = 99;
	a.fork.depth = 1;
	a.fork.nnodes = 1;
	a.fork.nrecs = 1;
	encode(&a);
	ck_assert_int_eq(decode(&b), -EIO);
	/* A tree on a file without the tree flag. */
	a.mode = S_IFREG | 0600;
	encode(&a);
	ck_assert_int_eq(decode(&b), -EIO);
	/* With the flag it is fine. */
	a.lflags = INODE_LF_EXT_TREE;
	encode(&a);
	ck_assert_int_eq(decode(&b), 0);
	/* A symlink with a NUL byte in its target. */
	memset(&a.fork, 0, sizeof(a.fork));
	a.lflags = 0;
	a.mode = S_IFLNK | 0777;
	a.size = a.symlen = 4;
	free(a.sym);
	a.sym = calloc(8, 1);
	memcpy(a.sym, "ab", 2);
	free(a.iext);
	a.iext = NULL;
	encode(&a);
	blk[INODE_DATA_OFF + 3] = 'x';
	seal();
	ck_assert_int_eq(decode(&b), -EIO);
	/* Symlink size differs from its length. */
	blk[INODE_DATA_OFF + 2] = 'x';
	le64_put(blk + 64, 5);
	seal();
	ck_assert_int_eq(decode(&b), -EIO);
	le64_put(blk + 64, 4);
	seal();
	ck_assert_int_eq(decode(&b), 0);
	inode_decoded_release(&a);
}
END_TEST

START_TEST(header_checks)
{
	struct sfs_inode a, b;
	make_file(&a);
	encode(&a);
	ck_assert_int_eq(decode(&b), 0);
	blk[100] ^= 1; /* crc no longer matches */
	ck_assert_int_eq(decode(&b), -EIO);
	encode(&a);
	ck_assert_int_eq(inode_block_decode(blk, uuid, INO + 1, &b), -EIO); /* wrong number */
	sfs_blk_seal(blk, uuid, SFS_BT_XATTR, INO, LCL_RES(LCL_T_INODE, INO));
	ck_assert_int_eq(decode(&b), -EIO); /* wrong type */
	sfs_blk_seal(blk, uuid, SFS_BT_INODE, INO, LCL_RES(LCL_T_INODE, INO + 1));
	ck_assert_int_eq(decode(&b), -EIO); /* wrong owner */
	uint8_t other[16] = {9};
	sfs_blk_seal(blk, other, SFS_BT_INODE, INO, LCL_RES(LCL_T_INODE, INO));
	ck_assert_int_eq(decode(&b), -EIO); /* other filesystem */
	inode_decoded_release(&a);
}
END_TEST

/* Random byte changes (resealed so they reach the payload decoder) never
 * crash and never leak; each result is 0 or -EIO. */
START_TEST(random_mutations)
{
	unsigned seed = (unsigned)time(NULL);
	printf("inode random_mutations seed %u\n", seed);
	srand(seed);
	struct sfs_inode a, b;
	make_file(&a);
	unsigned accepted = 0;
	for (int i = 0; i < 20000; i++) {
		encode(&a);
		int n = 1 + rand() % 4;
		for (int k = 0; k < n; k++) {
			unsigned off = 48 + (unsigned)rand() % (INODE_XATTR_OFF + 64 - 48);
			blk[off] = (uint8_t)rand();
		}
		seal();
		int r = decode(&b);
		ck_assert(r == 0 || r == -EIO);
		accepted += r == 0;
	}
	ck_assert_uint_lt(accepted, 20000); /* most corruptions are caught */
	inode_decoded_release(&a);
}
END_TEST

START_TEST(xattr_block_checks)
{
	uint8_t x[SFS_BLOCK_SIZE] = {0};
	size_t used;
	uint8_t *e = x + XATTR_BLK_ENTRIES_OFF;
	e[0] = 2, e[1] = 1, le32_put(e + 2, 4), memcpy(e + 6, "kVALU", 5);
	xattr_block_encode(x, 3, 11);
	ck_assert_int_eq(xattr_block_decode(x, 5, 3, &used), 0);
	ck_assert_uint_eq(used, 11);
	ck_assert_int_eq(xattr_area_check(e, used, 5), 0);
	ck_assert_int_eq(xattr_block_decode(x, 5, 2, &used), -EIO); /* another place in the run */
	le32_put(x + XATTR_BLK_USED_OFF, XATTR_BLK_SIZE + 1);
	ck_assert_int_eq(xattr_block_decode(x, 5, 3, &used), -EIO);
	le32_put(x + XATTR_BLK_USED_OFF, 0); /* an empty block is freed, never kept */
	ck_assert_int_eq(xattr_block_decode(x, 5, 3, &used), -EIO);
	le32_put(x + XATTR_BLK_USED_OFF, 11);
	x[50] = 1; /* reserved */
	ck_assert_int_eq(xattr_block_decode(x, 5, 3, &used), -EIO);
	x[50] = 0;
	x[58] = 1; /* reserved */
	ck_assert_int_eq(xattr_block_decode(x, 5, 3, &used), -EIO);
	x[58] = 0;
	ck_assert_int_eq(xattr_block_decode(x, 5, 3, &used), 0);
	/* Entries: a value longer than XATTR_SIZE_MAX, an entry cut short. */
	ck_assert_int_eq(xattr_area_check(e, 10, 5), -EIO);
	le32_put(e + 2, XATTR_VALUE_MAX + 1);
	ck_assert_int_eq(xattr_area_check(e, 11, 5), -EIO);
	le32_put(e + 2, 4);
	/* Duplicates, among few entries and among many (the sorted check). */
	static uint8_t many[40 * 12 + 1];
	size_t len = 0;
	for (unsigned i = 0; i < 40; i++) {
		uint8_t *m = many + len;
		m[0] = 1, m[1] = 4, le32_put(m + 2, 2);
		snprintf((char *)m + 6, 7, "n%03uvv", i);
		len += 12;
	}
	ck_assert_int_eq(xattr_area_check(many, len, 5), 0);
	ck_assert_int_eq(xattr_area_check(many, 36, 5), 0);
	memcpy(many + 12 * 37 + 6, "n005", 4);
	ck_assert_int_eq(xattr_area_check(many, len, 5), -EIO);
	memcpy(many + 12 * 2 + 6, "n000", 4);
	ck_assert_int_eq(xattr_area_check(many, 36, 5), -EIO);
	/* Symlink block. */
	uint8_t s[SFS_BLOCK_SIZE] = {0};
	symlink_block_encode(s, "tail", 4);
	ck_assert_int_eq(symlink_block_decode(s, 6, 4), 0);
	ck_assert_int_eq(symlink_block_decode(s, 6, 5), -EIO);
	s[SYMLINK_BLK_DATA_OFF + 1] = 0;
	ck_assert_int_eq(symlink_block_decode(s, 6, 4), -EIO);
}
END_TEST

START_TEST(extent_records)
{
	uint8_t raw[SFS_EXTENT_SIZE];
	struct sfs_extent e = {(1ull << 40) - 1, 1ull << 50, 1, SFS_EXT_UNWRITTEN}, d;
	sfs_extent_encode(&e, raw);
	ck_assert_int_eq(sfs_extent_decode(raw, 1, &d), 0);
	ck_assert(d.lblk == e.lblk && d.pblk == e.pblk && d.len == 1 && d.flags == e.flags);
	e.len = 2; /* runs past the largest file block */
	sfs_extent_encode(&e, raw);
	ck_assert_int_eq(sfs_extent_decode(raw, 1, &d), -EIO);
	e = (struct sfs_extent){0, UINT64_MAX - 1, 4, 0}; /* physical wrap */
	sfs_extent_encode(&e, raw);
	ck_assert_int_eq(sfs_extent_decode(raw, 1, &d), -EIO);
	e = (struct sfs_extent){0, 10, SFS_EXT_MAX_LEN + 1, 0};
	sfs_extent_encode(&e, raw);
	ck_assert_int_eq(sfs_extent_decode(raw, 1, &d), -EIO);
}
END_TEST

int main(void)
{
	log_setup("test_inode", 0, LOG_ERROR + (getenv("VERBOSE") ? 3 : 0));
	/* The decoder logs every refusal: keep the test output readable. */
	if (!getenv("VERBOSE"))
		log_open_file("/dev/null");
	Suite *s = suite_create("inode_format");
	TCase *tc = tcase_create("decode");
	tcase_add_test(tc, roundtrip_file);
	tcase_add_test(tc, roundtrip_symlink);
	tcase_add_test(tc, corrupt_fields);
	tcase_add_test(tc, corrupt_structure);
	tcase_add_test(tc, header_checks);
	tcase_add_test(tc, random_mutations);
	tcase_add_test(tc, xattr_block_checks);
	tcase_add_test(tc, extent_records);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
