/* Unit tests of consensus/: the command codec (round trips, garbage
 * rejection), apply (every command's effect and errors, determinism: the same
 * command list twice gives byte-identical dumps, dump/load), and the CCD rules
 * (format/row validation, wildcard queries, consistency record, text format).
 * LMDB directories live under /var/tmp. Randomized tests print their seed. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "consensus/ccd.h"
#include "consensus/consensus.h"
#include "consensus/cons_int.h"
#include "consensus/store.h"

static char top_dir[64];
static char tmpl_dir[256];

static struct store *new_store(void)
{
	static int seq;
	char dir[512];
	struct store *s;
	snprintf(dir, sizeof(dir), "%s/s%d", tmpl_dir, seq++);
	ck_assert_int_eq(store_open(dir, &s), 0);
	return s;
}

static void setup(void)
{
	/* Under the run's top directory, which main removes even when a test
	 * failed before its teardown. */
	snprintf(tmpl_dir, sizeof(tmpl_dir), "%s/t-XXXXXX", top_dir);
	ck_assert_ptr_nonnull(mkdtemp(tmpl_dir));
}

static void teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl_dir);
	ck_assert_int_eq(system(cmd), 0);
}

static int64_t apply(struct store *s, const struct cons_cmd *c)
{
	uint8_t *buf;
	size_t len;
	ck_assert_int_eq(cons_cmd_encode(c, &buf, &len), 0);
	int64_t r = store_apply(s, buf, len);
	free(buf);
	return r;
}

static struct cons_cmd mk(uint32_t type)
{
	struct cons_cmd c;
	memset(&c, 0, sizeof(c));
	c.type = type;
	c.date_ms = 1700000000000ull;
	return c;
}

static struct cons_cmd ccd_cmd(uint32_t type, const char *key, const char *text)
{
	struct cons_cmd c = mk(type);
	snprintf(c.u.ccd.key, sizeof(c.u.ccd.key), "%s", key);
	snprintf(c.u.ccd.text, sizeof(c.u.ccd.text), "%s", text);
	return c;
}

/* A varied list of commands covering every type. */
static size_t sample_cmds(struct cons_cmd *out, const uint8_t *blob, size_t bloblen)
{
	size_t n = 0;
	struct cons_cmd c;

	c = mk(CONS_CMD_ADM_TAKEOVER);
	c.u.adm.id = 1;
	c.u.adm.term = 2;
	strcpy(c.u.adm.address, "127.0.0.1:7400");
	out[n++] = c;
	c = mk(CONS_CMD_MEMBER_PUT);
	c.u.member.id = 2;
	strcpy(c.u.member.address, "127.0.0.1:7401");
	c.u.member.state = CONS_MEMBER_ACTIVE;
	c.u.member.incarnation = 7;
	out[n++] = c;
	c = mk(CONS_CMD_DEVICE_PUT);
	memset(c.u.device.uuid, 0xaa, 16);
	strcpy(c.u.device.label, "data0");
	c.u.device.size = 1ull << 30;
	out[n++] = c;
	c = mk(CONS_CMD_FS_PUT);
	memset(c.u.fs.uuid, 0xbb, 16);
	memset(c.u.fs.device_uuid, 0xaa, 16);
	strcpy(c.u.fs.label, "fs0");
	c.u.fs.nslots = 16;
	out[n++] = c;
	c = mk(CONS_CMD_SLOT_SET);
	memset(c.u.slot.fs_uuid, 0xbb, 16);
	c.u.slot.slot = 3;
	c.u.slot.node_id = 2;
	out[n++] = c;
	c = mk(CONS_CMD_FENCE);
	c.u.fence.node_id = 2;
	c.u.fence.incarnation = 7;
	strcpy(c.u.fence.reason, "silent 1000 ms");
	out[n++] = c;
	c = mk(CONS_CMD_UNFENCE);
	c.u.id = 2;
	out[n++] = c;
	out[n++] = ccd_cmd(CONS_CMD_CCD_FORMAT, "nodes", "id:name:addr");
	out[n++] = ccd_cmd(CONS_CMD_CCD_ADD, "nodes", "1:alpha:10.0.0.1");
	out[n++] = ccd_cmd(CONS_CMD_CCD_ADD, "nodes", "2:beta:10.0.0.2");
	out[n++] = ccd_cmd(CONS_CMD_CCD_REMOVE, "nodes", "1:alpha:10.0.0.1");
	c = mk(CONS_CMD_GEN_BUMP);
	out[n++] = c;
	c = mk(CONS_CMD_CCD_RESTORE);
	c.u.blob.data = blob;
	c.u.blob.len = bloblen;
	out[n++] = c;
	c = mk(CONS_CMD_MEMBER_DEL);
	c.u.id = 2;
	out[n++] = c;
	c = mk(CONS_CMD_FS_DEL);
	memset(c.u.uuid, 0xbb, 16);
	out[n++] = c;
	c = mk(CONS_CMD_DEVICE_DEL);
	memset(c.u.uuid, 0xaa, 16);
	out[n++] = c;
	static uint8_t *batch;
	static size_t batchlen;
	if (!batch) {
		static struct cons_ccd_item it[3] = {
		    {CONS_CMD_CCD_ADD, "nodes", "3:gamma:10.0.0.3"},
		    {CONS_CMD_CCD_REMOVE, "nodes", "3:gamma:10.0.0.3"},
		    {CONS_CMD_CCD_ADD, "nodes", "4:delta:10.0.0.4"}};
		ck_assert_int_eq(cons_ccd_batch_encode(it, 3, &batch, &batchlen), 0);
	}
	c = mk(CONS_CMD_CCD_BATCH);
	c.u.blob.data = batch;
	c.u.blob.len = batchlen;
	out[n++] = c;
	return n;
}

static const char restore_img[] = "# image\nsvc_fmt name:port\nsvc www:80\nsvc ssh:22\n";

START_TEST(codec_round_trip)
{
	struct cons_cmd cmds[32], back;
	size_t n = sample_cmds(cmds, (const uint8_t *)restore_img, strlen(restore_img));
	bool seen[CONS_CMD_TYPE_MAX + 1] = {0};

	for (size_t i = 0; i < n; i++) {
		uint8_t *buf, *buf2;
		size_t len, len2;
		ck_assert_int_eq(cons_cmd_encode(&cmds[i], &buf, &len), 0);
		ck_assert_int_eq(cons_cmd_decode(buf, len, &back), 0);
		ck_assert_uint_eq(back.type, cmds[i].type);
		ck_assert_uint_eq(back.date_ms, cmds[i].date_ms);
		/* Re-encoding the decoded command gives the same bytes. */
		ck_assert_int_eq(cons_cmd_encode(&back, &buf2, &len2), 0);
		ck_assert_uint_eq(len, len2);
		ck_assert_mem_eq(buf, buf2, len);
		/* Every truncation and every extension is rejected. */
		for (size_t cut = 0; cut < len; cut++)
			ck_assert_int_eq(cons_cmd_decode(buf, cut, &back), -EINVAL);
		uint8_t *ext = malloc(len + 1);
		memcpy(ext, buf, len);
		ext[len] = 0;
		ck_assert_int_eq(cons_cmd_decode(ext, len + 1, &back), -EINVAL);
		free(ext);
		seen[cmds[i].type] = true;
		ck_assert_str_ne(cons_cmd_name(cmds[i].type), "?");
		free(buf);
		free(buf2);
	}
	for (unsigned t = 1; t <= CONS_CMD_TYPE_MAX; t++)
		ck_assert_msg(seen[t], "type %u not covered", t);
	/* Field details survive. */
	uint8_t *buf;
	size_t len;
	ck_assert_int_eq(cons_cmd_encode(&cmds[1], &buf, &len), 0);
	ck_assert_int_eq(cons_cmd_decode(buf, len, &back), 0);
	ck_assert_uint_eq(back.u.member.id, 2);
	ck_assert_str_eq(back.u.member.address, "127.0.0.1:7401");
	ck_assert_uint_eq(back.u.member.incarnation, 7);
	free(buf);
	ck_assert_int_eq(cons_cmd_encode(&cmds[n - 5], &buf, &len), 0);
	ck_assert_int_eq(cons_cmd_decode(buf, len, &back), 0);
	ck_assert_uint_eq(back.u.blob.len, strlen(restore_img));
	ck_assert_mem_eq(back.u.blob.data, restore_img, strlen(restore_img));
	free(buf);
}
END_TEST

START_TEST(codec_rejects_garbage)
{
	struct cons_cmd c = mk(CONS_CMD_MEMBER_PUT), back;
	uint8_t *buf;
	size_t len;

	/* Encoder refuses bad fields. */
	c.u.member.id = 1;
	ck_assert_int_eq(cons_cmd_encode(&c, &buf, &len), -EINVAL); /* empty address */
	strcpy(c.u.member.address, "a\nb");
	ck_assert_int_eq(cons_cmd_encode(&c, &buf, &len), -EINVAL);
	memset(c.u.member.address, 'x', sizeof(c.u.member.address)); /* unterminated */
	ck_assert_int_eq(cons_cmd_encode(&c, &buf, &len), -EINVAL);
	strcpy(c.u.member.address, "1.2.3.4:5");
	c.u.member.state = 99;
	ck_assert_int_eq(cons_cmd_encode(&c, &buf, &len), -EINVAL);
	c.u.member.state = 0;
	c.type = 0;
	ck_assert_int_eq(cons_cmd_encode(&c, &buf, &len), -EINVAL);
	c.type = CONS_CMD_TYPE_MAX + 1;
	ck_assert_int_eq(cons_cmd_encode(&c, &buf, &len), -EINVAL);
	c.type = CONS_CMD_MEMBER_PUT;
	ck_assert_int_eq(cons_cmd_encode(&c, &buf, &len), 0);

	/* Decoder: magic, version, type, a string length past the end, NUL
	 * inside a string. */
	uint8_t *b = malloc(len);
	memcpy(b, buf, len);
	b[0] = 'X';
	ck_assert_int_eq(cons_cmd_decode(b, len, &back), -EINVAL);
	memcpy(b, buf, len);
	b[2] = 2;
	ck_assert_int_eq(cons_cmd_decode(b, len, &back), -EINVAL);
	memcpy(b, buf, len);
	b[3] = 0;
	ck_assert_int_eq(cons_cmd_decode(b, len, &back), -EINVAL);
	b[3] = 200;
	ck_assert_int_eq(cons_cmd_decode(b, len, &back), -EINVAL);
	memcpy(b, buf, len);
	b[20] = 0xff; /* address length low byte */
	ck_assert_int_eq(cons_cmd_decode(b, len, &back), -EINVAL);
	memcpy(b, buf, len);
	b[23] = 0; /* NUL inside the address */
	ck_assert_int_eq(cons_cmd_decode(b, len, &back), -EINVAL);
	ck_assert_int_eq(cons_cmd_decode(NULL, 0, &back), -EINVAL);
	free(b);
	free(buf);

	/* Random bytes never decode into something the encoder would not make,
	 * and never crash (ASan watches). */
	unsigned seed = (unsigned)time(NULL);
	printf("codec_rejects_garbage seed %u\n", seed);
	uint8_t rnd[256];
	for (int i = 0; i < 20000; i++) {
		size_t n = (size_t)rand_r(&seed) % sizeof(rnd);
		for (size_t j = 0; j < n; j++)
			rnd[j] = (uint8_t)rand_r(&seed);
		if (n > 4 && (i & 1)) {
			rnd[0] = 'S';
			rnd[1] = 'C';
			rnd[2] = 1;
			rnd[3] = (uint8_t)(1 + rand_r(&seed) % CONS_CMD_TYPE_MAX);
		}
		if (cons_cmd_decode(rnd, n, &back) == 0) {
			uint8_t *re;
			size_t relen;
			ck_assert_int_eq(cons_cmd_encode(&back, &re, &relen), 0);
			ck_assert_uint_eq(relen, n);
			ck_assert_mem_eq(re, rnd, n);
			free(re);
		}
	}
}
END_TEST

START_TEST(apply_effects)
{
	struct store *s = new_store();
	struct cons_cmd cmds[32];
	size_t n = sample_cmds(cmds, (const uint8_t *)restore_img, strlen(restore_img));
	struct cons_cluster cl;
	struct cons_member *mem;
	struct cons_fs *fs;
	struct cons_fence *fe;
	size_t cnt;

	ck_assert_int_eq(apply(s, &cmds[0]), 1); /* takeover: generation 1 */
	ck_assert_int_eq(store_get_cluster(s, &cl), 0);
	ck_assert_uint_eq(cl.generation, 1);
	ck_assert_uint_eq(cl.adm_id, 1);
	ck_assert_uint_eq(cl.adm_term, 2);
	/* The ADM's member record was created. */
	ck_assert_int_eq(store_get_members(s, &mem, &cnt), 0);
	ck_assert_uint_eq(cnt, 1);
	ck_assert_str_eq(mem[0].address, "127.0.0.1:7400");
	free(mem);
	/* A takeover of an older term is refused and changes nothing. */
	struct cons_cmd old = cmds[0];
	old.u.adm.term = 1;
	old.u.adm.id = 9;
	ck_assert_int_eq(apply(s, &old), -ESTALE);
	ck_assert_int_eq(store_get_cluster(s, &cl), 0);
	ck_assert_uint_eq(cl.adm_id, 1);
	ck_assert_uint_eq(cl.generation, 1);

	ck_assert_int_eq(apply(s, &cmds[1]), 2); /* member put */
	ck_assert_int_eq(apply(s, &cmds[2]), 3); /* device put */
	/* Same label, other uuid: refused. */
	struct cons_cmd dup = cmds[2];
	dup.u.device.uuid[0] = 1;
	ck_assert_int_eq(apply(s, &dup), -EEXIST);
	/* fs on an unknown device: refused. */
	struct cons_cmd badfs = cmds[3];
	badfs.u.fs.device_uuid[0] = 1;
	ck_assert_int_eq(apply(s, &badfs), -ENOENT);
	ck_assert_int_eq(apply(s, &cmds[3]), 4); /* fs put */
	ck_assert_int_eq(apply(s, &cmds[4]), 3); /* slot 3 to node 2 */
	/* Slot taken: a second claim with expect 0 fails; same node another slot fails. */
	struct cons_cmd sl = cmds[4];
	sl.u.slot.node_id = 1;
	ck_assert_int_eq(apply(s, &sl), -EBUSY);
	sl = cmds[4];
	sl.u.slot.slot = 4;
	ck_assert_int_eq(apply(s, &sl), -EEXIST);
	sl.u.slot.slot = 16;
	ck_assert_int_eq(apply(s, &sl), -EINVAL);
	ck_assert_int_eq(store_get_filesystems(s, &fs, &cnt), 0);
	ck_assert_uint_eq(cnt, 1);
	ck_assert_uint_eq(fs[0].slot_owner[3], 2);
	ck_assert_uint_eq(fs[0].nslots, 16);
	free(fs);
	/* Device in use by a filesystem cannot go; fs with an owned slot neither. */
	ck_assert_int_eq(apply(s, &cmds[15]), -EBUSY);
	ck_assert_int_eq(apply(s, &cmds[14]), -EBUSY);

	ck_assert_int_eq(apply(s, &cmds[5]), 5); /* fence node 2 */
	ck_assert_int_eq(store_get_fences(s, &fe, &cnt), 0);
	ck_assert_uint_eq(cnt, 1);
	ck_assert_uint_eq(fe[0].node_id, 2);
	ck_assert_uint_eq(fe[0].incarnation, 7);
	ck_assert_uint_eq(fe[0].generation, 5);
	ck_assert_uint_eq(fe[0].date_ms, 1700000000000ull);
	ck_assert_str_eq(fe[0].reason, "silent 1000 ms");
	free(fe);
	struct cons_member m;
	ck_assert_int_eq(store_get_member(s, 2, &m), 0);
	ck_assert_uint_eq(m.state, CONS_MEMBER_FENCED);
	ck_assert_int_eq(apply(s, &cmds[6]), 6); /* unfence */
	ck_assert_int_eq(apply(s, &cmds[6]), -ENOENT);
	ck_assert_int_eq(store_get_fences(s, &fe, &cnt), 0);
	ck_assert_uint_eq(cnt, 0);
	ck_assert_ptr_null(fe);

	ck_assert_int_eq(apply(s, &cmds[13]), 7); /* member del frees slot 3 */
	ck_assert_int_eq(store_get_member(s, 2, &m), -ENOENT);
	ck_assert_int_eq(store_get_filesystems(s, &fs, &cnt), 0);
	ck_assert_uint_eq(fs[0].slot_owner[3], 0);
	free(fs);
	ck_assert_int_eq(apply(s, &cmds[14]), 8);  /* fs del */
	ck_assert_int_eq(apply(s, &cmds[15]), 9);  /* device del */
	ck_assert_int_eq(apply(s, &cmds[11]), 10); /* gen bump */
	/* Undecodable bytes change nothing. */
	ck_assert_int_eq(store_apply(s, "garbage", 7), -EINVAL);
	ck_assert_int_eq(store_get_cluster(s, &cl), 0);
	ck_assert_uint_eq(cl.generation, 10);
	(void)n;
	store_close(s);
}
END_TEST

START_TEST(apply_deterministic_and_snapshot)
{
	struct cons_cmd cmds[32];
	size_t n = sample_cmds(cmds, (const uint8_t *)restore_img, strlen(restore_img));
	struct store *a = new_store(), *b = new_store(), *c = new_store();
	uint8_t *da, *db, *dc;
	size_t la, lb, lc;

	for (size_t i = 0; i < n; i++) {
		int64_t ra = apply(a, &cmds[i]);
		int64_t rb = apply(b, &cmds[i]);
		ck_assert_int_eq(ra, rb);
	}
	ck_assert_int_eq(store_dump(a, &da, &la), 0);
	ck_assert_int_eq(store_dump(b, &db, &lb), 0);
	ck_assert_uint_eq(la, lb);
	ck_assert_mem_eq(da, db, la);
	/* Load into a third store (with other content first): same dump. */
	ck_assert_int_eq(apply(c, &cmds[0]), 1);
	ck_assert_int_eq(store_load(c, da, la), 0);
	ck_assert_int_eq(store_dump(c, &dc, &lc), 0);
	ck_assert_uint_eq(la, lc);
	ck_assert_mem_eq(da, dc, la);
	/* Same commands applied after the load keep the stores identical. */
	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(apply(a, &cmds[i]), apply(c, &cmds[i]));
	free(da);
	free(dc);
	ck_assert_int_eq(store_dump(a, &da, &la), 0);
	ck_assert_int_eq(store_dump(c, &dc, &lc), 0);
	ck_assert_uint_eq(la, lc);
	ck_assert_mem_eq(da, dc, la);
	/* A corrupt dump is refused and leaves the content alone. */
	da[la / 2] ^= 1;
	ck_assert_int_eq(store_load(c, da, la), -EINVAL);
	ck_assert_int_eq(store_load(c, da, 3), -EINVAL);
	free(dc);
	ck_assert_int_eq(store_dump(c, &dc, &lc), 0);
	ck_assert_uint_eq(la, lc);
	da[la / 2] ^= 1;
	ck_assert_mem_eq(da, dc, la);
	free(da);
	free(db);
	free(dc);
	store_close(a);
	store_close(b);
	store_close(c);
}
END_TEST

START_TEST(ccd_validation)
{
	ck_assert(ccd_key_valid("nodes"));
	ck_assert(ccd_key_valid("a.b-c_D9"));
	ck_assert(!ccd_key_valid(""));
	ck_assert(!ccd_key_valid("a b"));
	ck_assert(!ccd_key_valid("a:b"));
	ck_assert_int_eq(ccd_format_check("id:name:addr"), 3);
	ck_assert_int_eq(ccd_format_check("id"), 1);
	ck_assert_int_eq(ccd_format_check(""), -EINVAL);
	ck_assert_int_eq(ccd_format_check("id::addr"), -EINVAL);
	ck_assert_int_eq(ccd_format_check("id:"), -EINVAL);
	ck_assert_int_eq(ccd_format_check("id:na me"), -EINVAL);
	ck_assert_int_eq(ccd_row_check("1:alpha:10.0.0.1", 3), 0);
	ck_assert_int_eq(ccd_row_check("1::x", 3), 0); /* empty column */
	ck_assert_int_eq(ccd_row_check("1:alpha", 3), -EINVAL);
	ck_assert_int_eq(ccd_row_check("1:a:b:c", 3), -EINVAL);
	ck_assert_int_eq(ccd_row_check("1:a\n:b", 3), -EINVAL);
	ck_assert_int_eq(ccd_row_check("", 1), -EINVAL);
	ck_assert_int_eq(ccd_row_check("x", 1), 0);
}
END_TEST

START_TEST(ccd_wildcards)
{
	ck_assert(ccd_match("*", "anything"));
	ck_assert(ccd_match(NULL, "a:b"));
	ck_assert(ccd_match("1:*:*", "1:alpha:10.0.0.1"));
	ck_assert(!ccd_match("2:*:*", "1:alpha:10.0.0.1"));
	ck_assert(ccd_match("*:al*:10.*", "1:alpha:10.0.0.1"));
	ck_assert(!ccd_match("*:al*:11.*", "1:alpha:10.0.0.1"));
	ck_assert(ccd_match("*:*ph*", "1:alpha:x")); /* trailing column omitted */
	ck_assert(ccd_match("1", "1:alpha:x"));
	ck_assert(!ccd_match("1:a:b:c", "1:a:b"));
	ck_assert(ccd_match("*a*a*a*", "banana"));
	ck_assert(!ccd_match("*a*a*a*a*", "banana"));
	ck_assert(ccd_match("1::x", "1::x"));
	ck_assert(!ccd_match("1:?:x", "1:a:x")); /* only '*' is special */
}
END_TEST

START_TEST(ccd_store_and_record)
{
	struct store *s = new_store();
	struct ccd_record r, r2;
	char **rows, fmt[CCD_ROW_MAX];
	size_t n;
	struct cons_cmd c;

	/* Member list of the record comes from the members table. */
	c = mk(CONS_CMD_ADM_TAKEOVER);
	c.u.adm.id = 3;
	c.u.adm.term = 1;
	strcpy(c.u.adm.address, "127.0.0.1:1");
	ck_assert_int_eq(apply(s, &c), 1);
	c = mk(CONS_CMD_MEMBER_PUT);
	c.u.member.id = 1;
	strcpy(c.u.member.address, "127.0.0.1:2");
	c.u.member.state = CONS_MEMBER_ACTIVE;
	ck_assert_int_gt(apply(s, &c), 0);

	c = ccd_cmd(CONS_CMD_CCD_ADD, "nodes", "1:a:b");
	ck_assert_int_eq(apply(s, &c), -ENOENT); /* no format yet */
	c = ccd_cmd(CONS_CMD_CCD_FORMAT, "nodes", "id:name:addr");
	ck_assert_int_eq(apply(s, &c), 1);
	c = ccd_cmd(CONS_CMD_CCD_FORMAT, "bad key", "x");
	ck_assert_int_eq(apply(s, &c), -EINVAL);
	c = ccd_cmd(CONS_CMD_CCD_ADD, "nodes", "2:beta:10.0.0.2");
	ck_assert_int_eq(apply(s, &c), 2);
	c = ccd_cmd(CONS_CMD_CCD_ADD, "nodes", "1:alpha:10.0.0.1");
	ck_assert_int_eq(apply(s, &c), 3);
	ck_assert_int_eq(apply(s, &c), -EEXIST);
	c = ccd_cmd(CONS_CMD_CCD_ADD, "nodes", "1:alpha");
	ck_assert_int_eq(apply(s, &c), -EINVAL);
	c = ccd_cmd(CONS_CMD_CCD_FORMAT, "nodes", "id:name");
	ck_assert_int_eq(apply(s, &c), -EBUSY);			     /* rows with 3 columns exist */
	c = ccd_cmd(CONS_CMD_CCD_FORMAT, "nodes", "num:nm:address"); /* rename: fine */
	ck_assert_int_eq(apply(s, &c), 4);
	ck_assert_int_eq(store_ccd_format(s, "nodes", fmt, sizeof(fmt)), 0);
	ck_assert_str_eq(fmt, "num:nm:address");

	ck_assert_int_eq(store_ccd_query(s, "nodes", NULL, &rows, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(rows[0], "1:alpha:10.0.0.1"); /* sorted */
	ck_assert_str_eq(rows[1], "2:beta:10.0.0.2");
	ccd_rows_free(rows, n);
	ck_assert_int_eq(store_ccd_query(s, "nodes", "*:b*", &rows, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(rows[0], "2:beta:10.0.0.2");
	ccd_rows_free(rows, n);
	ck_assert_int_eq(store_ccd_query(s, "nodes", "3:*", &rows, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(store_ccd_query(s, "absent", NULL, &rows, &n), -ENOENT);

	/* Consistency record: generation, date, members, length and checksum of
	 * the canonical dump. */
	ck_assert_int_eq(store_ccd_record(s, &r), 0);
	ck_assert_uint_eq(r.generation, 4);
	ck_assert_uint_eq(r.date_ms, 1700000000000ull);
	ck_assert(!r.restored);
	ck_assert_uint_eq(r.nmembers, 2);
	ck_assert_uint_eq(r.members[0], 1);
	ck_assert_uint_eq(r.members[1], 3);
	const char *canon = "nodes_fmt num:nm:address\nnodes 1:alpha:10.0.0.1\n"
			    "nodes 2:beta:10.0.0.2\n";
	ck_assert_uint_eq(r.length, strlen(canon));
	ck_assert_uint_eq(r.checksum, crc32c(0, canon, strlen(canon)));

	/* Checkpoint text, then restore it into another store: same record
	 * content (length, checksum), restored flag set, generation +1. */
	char *text;
	size_t tlen;
	ck_assert_int_eq(store_ccd_text(s, &text, &tlen), 0);
	ck_assert_ptr_nonnull(strstr(text, "@generation 4\n"));
	ck_assert_ptr_nonnull(strstr(text, canon));
	struct store *s2 = new_store();
	c = mk(CONS_CMD_CCD_RESTORE);
	c.date_ms = 1700000000999ull;
	c.u.blob.data = (const uint8_t *)text;
	c.u.blob.len = tlen;
	ck_assert_int_eq(apply(s2, &c), 1);
	ck_assert_int_eq(store_ccd_record(s2, &r2), 0);
	ck_assert(r2.restored);
	ck_assert_uint_eq(r2.length, r.length);
	ck_assert_uint_eq(r2.checksum, r.checksum);
	ck_assert_uint_eq(r2.date_ms, 1700000000999ull);
	/* The next update clears the restored flag. */
	c = ccd_cmd(CONS_CMD_CCD_REMOVE, "nodes", "2:beta:10.0.0.2");
	ck_assert_int_eq(apply(s2, &c), 2);
	ck_assert_int_eq(apply(s2, &c), -ENOENT);
	ck_assert_int_eq(store_ccd_record(s2, &r2), 0);
	ck_assert(!r2.restored);
	ck_assert_uint_ne(r2.checksum, r.checksum);
	/* Remove a whole key. */
	c = ccd_cmd(CONS_CMD_CCD_REMOVE, "nodes", "");
	ck_assert_int_eq(apply(s2, &c), 3);
	ck_assert_int_eq(store_ccd_query(s2, "nodes", NULL, &rows, &n), -ENOENT);
	ck_assert_int_eq(store_ccd_record(s2, &r2), 0);
	ck_assert_uint_eq(r2.length, 0);
	/* A bad restore image is refused and changes nothing. */
	const char *bad = "k_fmt a:b\nk 1:2:3\n";
	c = mk(CONS_CMD_CCD_RESTORE);
	c.u.blob.data = (const uint8_t *)bad;
	c.u.blob.len = strlen(bad);
	ck_assert_int_eq(apply(s, &c), -EINVAL);
	ck_assert_int_eq(store_ccd_query(s, "nodes", NULL, &rows, &n), 0);
	ck_assert_uint_eq(n, 2);
	ccd_rows_free(rows, n);
	free(text);
	store_close(s);
	store_close(s2);
}
END_TEST

struct lines {
	int fmt, row, rec;
	char last[256];
};

static int count_line(void *data, enum ccd_line_type type, const char *key, const char *text)
{
	struct lines *l = data;
	if (type == CCD_LINE_FORMAT)
		l->fmt++;
	else if (type == CCD_LINE_ROW)
		l->row++;
	else
		l->rec++;
	snprintf(l->last, sizeof(l->last), "%s=%s", key, text);
	return 0;
}

static int64_t apply_batch(struct store *s, const struct cons_ccd_item *it, size_t n)
{
	struct cons_cmd c = mk(CONS_CMD_CCD_BATCH);
	uint8_t *b;
	size_t len;
	ck_assert_int_eq(cons_ccd_batch_encode(it, n, &b, &len), 0);
	c.u.blob.data = b;
	c.u.blob.len = len;
	int64_t r = apply(s, &c);
	free(b);
	return r;
}

/* A batch leaves exactly what its updates applied one by one leave (rows,
 * consistency record, generation +1 per update), in order; a failing update
 * anywhere in it leaves nothing of the batch. */
START_TEST(ccd_batch)
{
	struct store *a = new_store(), *b = new_store();
	struct cons_ccd_item it[6] = {
	    {CONS_CMD_CCD_ADD, "k", "r1"},    {CONS_CMD_CCD_ADD, "k", "r2"},
	    {CONS_CMD_CCD_REMOVE, "k", "r1"}, {CONS_CMD_CCD_FORMAT, "k2", "a:b"},
	    {CONS_CMD_CCD_ADD, "k2", "x:y"},  {CONS_CMD_CCD_ADD, "k", "r1"}};
	struct cons_cmd c = ccd_cmd(CONS_CMD_CCD_FORMAT, "k", "v");
	ck_assert_int_eq(apply(a, &c), 1);
	ck_assert_int_eq(apply(b, &c), 1);
	ck_assert_int_eq(apply_batch(a, it, 6), 7);
	for (int i = 0; i < 6; i++) {
		c = ccd_cmd(it[i].type, it[i].key, it[i].text);
		ck_assert_int_eq(apply(b, &c), 2 + i);
	}
	char *ta, *tb;
	size_t la, lb;
	ck_assert_int_eq(store_ccd_text(a, &ta, &la), 0);
	ck_assert_int_eq(store_ccd_text(b, &tb, &lb), 0);
	ck_assert_str_eq(ta, tb);
	ck_assert_ptr_nonnull(strstr(ta, "@generation 7\n"));
	ck_assert_ptr_nonnull(strstr(ta, "k r1\nk r2\n"));
	free(tb);

	/* r3 then a duplicate r2: -EEXIST, and r3 is not there either. */
	struct cons_ccd_item bad[3] = {{CONS_CMD_CCD_ADD, "k", "r3"},
				       {CONS_CMD_CCD_ADD, "k", "r2"},
				       {CONS_CMD_CCD_ADD, "k", "r4"}};
	ck_assert_int_eq(apply_batch(a, bad, 3), -EEXIST);
	ck_assert_int_eq(store_ccd_text(a, &tb, &lb), 0);
	ck_assert_str_eq(ta, tb);
	free(tb);
	/* Unknown key at the end: -ENOENT, nothing. */
	struct cons_ccd_item bad2[2] = {{CONS_CMD_CCD_ADD, "k", "r5"},
					{CONS_CMD_CCD_ADD, "nokey", "z"}};
	ck_assert_int_eq(apply_batch(a, bad2, 2), -ENOENT);
	ck_assert_int_eq(store_ccd_text(a, &tb, &lb), 0);
	ck_assert_str_eq(ta, tb);
	free(tb);
	free(ta);

	/* Encoder and decoder refuse bad batches. */
	uint8_t *buf;
	size_t len;
	struct cons_ccd_item *many = calloc(CONS_CCD_BATCH_MAX + 1, sizeof(*many));
	for (int i = 0; i <= CONS_CCD_BATCH_MAX; i++)
		many[i] = (struct cons_ccd_item){CONS_CMD_CCD_ADD, "k", "r"};
	ck_assert_int_eq(cons_ccd_batch_encode(many, 0, &buf, &len), -EINVAL);
	ck_assert_int_eq(cons_ccd_batch_encode(many, CONS_CCD_BATCH_MAX + 1, &buf, &len), -EINVAL);
	ck_assert_int_eq(cons_ccd_batch_encode(many, CONS_CCD_BATCH_MAX, &buf, &len), 0);
	free(buf);
	many[1].type = CONS_CMD_CCD_RESTORE;
	ck_assert_int_eq(cons_ccd_batch_encode(many, 2, &buf, &len), -EINVAL);
	many[1] = (struct cons_ccd_item){CONS_CMD_CCD_ADD, "a\nb", "r"};
	ck_assert_int_eq(cons_ccd_batch_encode(many, 2, &buf, &len), -EINVAL);
	free(many);
	/* A count that does not match the items. */
	ck_assert_int_eq(cons_ccd_batch_encode(it, 2, &buf, &len), 0);
	buf[0] = 3;
	c = mk(CONS_CMD_CCD_BATCH);
	c.u.blob.data = buf;
	c.u.blob.len = len;
	uint8_t *enc;
	size_t elen;
	ck_assert_int_eq(cons_cmd_encode(&c, &enc, &elen), -EINVAL);
	free(buf);
	store_close(a);
	store_close(b);
}
END_TEST

START_TEST(ccd_text_format)
{
	const char *ok = "# init db\n\nnet_fmt name:addr\nnet eth0:10.0.0.1\r\n@generation 3\n"
			 "net eth1:\n";
	struct lines l = {0};
	unsigned bad = 0;
	ck_assert_int_eq(ccd_text_parse(ok, strlen(ok), count_line, &l, &bad), 0);
	ck_assert_int_eq(l.fmt, 1);
	ck_assert_int_eq(l.row, 2);
	ck_assert_int_eq(l.rec, 1);
	ck_assert_str_eq(l.last, "net=eth1:");
	const char *bads[] = {"net a:b\n",	      /* row before format */
			      "net_fmt a:b\nnet a\n", /* wrong column count */
			      "net_fmt a::b\n",	      /* bad format */
			      "noformatline\n",	      /* no space */
			      "bad key_fmt a\n",      /* key with a space */
			      "@ 3\n"};
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++)
		ck_assert_int_eq(ccd_text_parse(bads[i], strlen(bads[i]), NULL, NULL, &bad),
				 -EINVAL);
	const char *two = "net_fmt a\nnet x\nnet y:z\n";
	ck_assert_int_eq(ccd_text_parse(two, strlen(two), NULL, NULL, &bad), -EINVAL);
	ck_assert_uint_eq(bad, 3);

	/* The static init database from a file (readable with no cluster). */
	char path[512];
	snprintf(path, sizeof(path), "%s/ccd.init", tmpl_dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(ok, f);
	fclose(f);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(ccd_file_parse(path, count_line, &l), 0);
	ck_assert_int_eq(l.row, 2);
	snprintf(path, sizeof(path), "%s/absent", tmpl_dir);
	ck_assert_int_eq(ccd_file_parse(path, count_line, &l), -ENOENT);
}
END_TEST

/* The Raft entry envelope: libraft moves payloads in 8-byte units, so
 * commands travel length-prefixed and zero-padded (cons.c). */
START_TEST(entry_envelope)
{
	uint8_t cmd[64];
	for (size_t i = 0; i < sizeof(cmd); i++)
		cmd[i] = (uint8_t)(i * 7 + 1);
	for (size_t len = 0; len <= sizeof(cmd); len++) {
		struct raft_buffer e, back;
		ck_assert_int_eq(cons_entry_wrap(cmd, len, &e), 0);
		ck_assert_uint_eq(e.len % 8, 0);
		ck_assert_uint_ge(e.len, len + 8);
		ck_assert_uint_lt(e.len, len + 16);
		ck_assert_int_eq(cons_entry_unwrap(&e, &back), 0);
		ck_assert_uint_eq(back.len, len);
		if (len)
			ck_assert_mem_eq(back.base, cmd, len);
		/* Damage: odd length, length field past the end, non-zero pad. */
		struct raft_buffer bad = e;
		bad.len = e.len - 1;
		ck_assert_int_eq(cons_entry_unwrap(&bad, &back), -EINVAL);
		uint8_t *b = e.base;
		b[0] ^= 0x40;
		ck_assert_int_eq(cons_entry_unwrap(&e, &back), -EINVAL);
		b[0] ^= 0x40;
		if (e.len > len + 8) {
			b[e.len - 1] = 1;
			ck_assert_int_eq(cons_entry_unwrap(&e, &back), -EINVAL);
		}
		raft_free(e.base);
	}
	struct raft_buffer tiny = {.base = cmd, .len = 4}, back;
	ck_assert_int_eq(cons_entry_unwrap(&tiny, &back), -EINVAL);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("consensus-unit");
	TCase *tc = tcase_create("all");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, codec_round_trip);
	tcase_add_test(tc, codec_rejects_garbage);
	tcase_add_test(tc, apply_effects);
	tcase_add_test(tc, apply_deterministic_and_snapshot);
	tcase_add_test(tc, ccd_validation);
	tcase_add_test(tc, ccd_wildcards);
	tcase_add_test(tc, ccd_store_and_record);
	tcase_add_test(tc, ccd_text_format);
	tcase_add_test(tc, ccd_batch);
	tcase_add_test(tc, entry_envelope);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	char rm[300];
	snprintf(top_dir, sizeof(top_dir), "/var/tmp/sanfs-cons-unit-XXXXXX");
	if (!mkdtemp(top_dir)) {
		perror("mkdtemp /var/tmp");
		return 1;
	}
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	snprintf(rm, sizeof(rm), "rm -rf '%s'", top_dir);
	if (system(rm) != 0)
		fprintf(stderr, "could not remove %s\n", top_dir);
	return failed ? 1 : 0;
}
