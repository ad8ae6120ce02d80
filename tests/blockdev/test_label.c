/* Unit tests of the device label: codec byte layout, every decode error,
 * UUID helpers, read/write on an image, bdev_find over given paths. */
#include <errno.h>

#include "blockdev/bdev.h"
#include "common/crc32c.h"
#include "common/endian_le.h"
#include "tb_util.h"

START_TEST(label_valid_strings)
{
	ck_assert(bdev_label_valid(""));
	ck_assert(bdev_label_valid("data0"));
	ck_assert(bdev_label_valid("with space ~!"));
	char s[70];
	memset(s, 'a', sizeof(s));
	s[63] = 0;
	ck_assert(bdev_label_valid(s));
	s[63] = 'a';
	s[64] = 0;
	ck_assert(!bdev_label_valid(s));
	ck_assert(!bdev_label_valid("tab\there"));
	ck_assert(!bdev_label_valid("nl\n"));
	ck_assert(!bdev_label_valid("\x7f"));
	ck_assert(!bdev_label_valid("caf\xc3\xa9"));
	ck_assert(!bdev_label_valid(NULL));
}
END_TEST

START_TEST(label_roundtrip_and_layout)
{
	struct bdev_label l, d;
	ck_assert_int_eq(bdev_label_init(&l, "data0", 123456789), 0);
	ck_assert_uint_eq(l.version, BDEV_LABEL_VERSION);
	ck_assert_uint_gt(l.ctime_ns, 1600000000ull * 1000000000ull);
	uint8_t b[4096];
	memset(b, 0xee, sizeof(b));
	ck_assert_int_eq(bdev_label_encode(&l, b), 0);
	ck_assert_mem_eq(b, "SANFSLBL", 8);
	ck_assert_uint_eq(le32_get(b + 8), 1);
	ck_assert_mem_eq(b + 16, l.uuid, 16);
	ck_assert_str_eq((char *)b + 32, "data0");
	ck_assert_uint_eq(le64_get(b + 96), 123456789);
	ck_assert_uint_eq(le64_get(b + 104), l.ctime_ns);
	ck_assert_uint_eq(b[200], 0); /* reserved bytes zeroed */
	ck_assert_uint_eq(le32_get(b + 4092), crc32c(0, b, 4092));
	ck_assert_int_eq(bdev_label_decode(b, sizeof(b), &d), 0);
	ck_assert_uint_eq(d.version, l.version);
	ck_assert_mem_eq(d.uuid, l.uuid, 16);
	ck_assert_str_eq(d.label, "data0");
	ck_assert_uint_eq(d.size, l.size);
	ck_assert_uint_eq(d.ctime_ns, l.ctime_ns);
	/* A longest label round-trips. */
	char s[64];
	memset(s, 'Z', 63);
	s[63] = 0;
	ck_assert_int_eq(bdev_label_init(&l, s, 1), 0);
	ck_assert_int_eq(bdev_label_encode(&l, b), 0);
	ck_assert_int_eq(bdev_label_decode(b, sizeof(b), &d), 0);
	ck_assert_str_eq(d.label, s);
	/* Invalid labels are refused. */
	ck_assert_int_eq(bdev_label_init(&l, "bad\n", 1), -EINVAL);
	ck_assert_int_eq(bdev_label_init(&l, "ok", 1), 0);
	l.label[0] = 1;
	ck_assert_int_eq(bdev_label_encode(&l, b), -EINVAL);
	memset(l.label, 'a', sizeof(l.label)); /* not terminated */
	ck_assert_int_eq(bdev_label_encode(&l, b), -EINVAL);
}
END_TEST

static void reseal(uint8_t *b)
{
	le32_put(b + 4092, crc32c(0, b, 4092));
}

START_TEST(label_decode_errors)
{
	struct bdev_label l, d;
	uint8_t b[4096], z[4096] = {0};
	ck_assert_int_eq(bdev_label_decode(z, sizeof(z), &d), -ENODATA);
	ck_assert_int_eq(bdev_label_init(&l, "x", 1 << 20), 0);
	ck_assert_int_eq(bdev_label_encode(&l, b), 0);
	ck_assert_int_eq(bdev_label_decode(b, 4095, &d), -EINVAL);
	for (size_t bit = 0; bit < 4096 * 8; bit += 997) {
		b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		int rc = bdev_label_decode(b, sizeof(b), &d);
		ck_assert_msg(rc == -EBADMSG || (bit < 64 && rc == -ENODATA), "bit %zu: %d", bit,
			      rc);
		b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	ck_assert_int_eq(bdev_label_decode(b, sizeof(b), &d), 0);
	uint8_t c[4096];
	memcpy(c, b, 4096);
	le32_put(c + 8, 2);
	reseal(c);
	ck_assert_int_eq(bdev_label_decode(c, sizeof(c), &d), -ENOTSUP);
	le32_put(c + 8, 0);
	reseal(c);
	ck_assert_int_eq(bdev_label_decode(c, sizeof(c), &d), -EBADMSG);
	memcpy(c, b, 4096);
	memset(c + 32, 'a', 64); /* label without its NUL */
	reseal(c);
	ck_assert_int_eq(bdev_label_decode(c, sizeof(c), &d), -EBADMSG);
	memcpy(c, b, 4096);
	c[32 + 10] = 'q'; /* a byte after the terminating NUL */
	reseal(c);
	ck_assert_int_eq(bdev_label_decode(c, sizeof(c), &d), -EBADMSG);
	memcpy(c, b, 4096);
	c[33] = 0x07; /* not printable */
	reseal(c);
	ck_assert_int_eq(bdev_label_decode(c, sizeof(c), &d), -EBADMSG);
	/* Reserved bytes are ignored (forward compatible) if the CRC holds. */
	memcpy(c, b, 4096);
	c[3000] = 9;
	reseal(c);
	ck_assert_int_eq(bdev_label_decode(c, sizeof(c), &d), 0);
}
END_TEST

START_TEST(uuid_helpers)
{
	uint8_t u[16], v[16];
	char s[BDEV_UUID_STR];
	ck_assert_int_eq(bdev_uuid_generate(u), 0);
	ck_assert_uint_eq(u[6] >> 4, 4);
	ck_assert_uint_eq(u[8] >> 6, 2);
	bdev_uuid_format(u, s);
	ck_assert_uint_eq(strlen(s), 36);
	ck_assert_int_eq(s[8], '-');
	ck_assert_int_eq(bdev_uuid_parse(s, v), 0);
	ck_assert_mem_eq(u, v, 16);
	ck_assert_int_eq(bdev_uuid_parse("0123ABCD-4567-89ab-cdef-0123456789AB", v), 0);
	bdev_uuid_format(v, s);
	ck_assert_str_eq(s, "0123abcd-4567-89ab-cdef-0123456789ab");
	ck_assert_int_eq(bdev_uuid_parse("0123abcd-4567-89ab-cdef-0123456789a", v), -EINVAL);
	ck_assert_int_eq(bdev_uuid_parse("0123abcd-4567-89ab-cdef-0123456789abc", v), -EINVAL);
	ck_assert_int_eq(bdev_uuid_parse("0123abcd44567-89ab-cdef-0123456789ab", v), -EINVAL);
	ck_assert_int_eq(bdev_uuid_parse("0123abcg-4567-89ab-cdef-0123456789ab", v), -EINVAL);
	ck_assert_int_eq(bdev_uuid_parse(NULL, v), -EINVAL);
	uint8_t w[16];
	bdev_uuid_generate(w);
	ck_assert_mem_ne(u, w, 16);
}
END_TEST

static void make_labelled(char *img, const char *label, struct bdev_label *l)
{
	tb_image(img, 1 << 20);
	struct bdev *dev;
	ck_assert_int_eq(bdev_open(img, 0, &dev), 0);
	if (label) {
		ck_assert_int_eq(bdev_label_init(l, label, bdev_size(dev)), 0);
		ck_assert_int_eq(bdev_label_write(dev, l), 0);
	}
	bdev_close(dev);
}

START_TEST(label_read_write_image)
{
	char img[64];
	struct bdev_label l, d;
	make_labelled(img, "disk-A", &l);
	struct bdev *dev;
	ck_assert_int_eq(bdev_open(img, BDEV_RDONLY, &dev), 0);
	ck_assert_int_eq(bdev_label_read(dev, &d), 0);
	ck_assert_str_eq(d.label, "disk-A");
	ck_assert_mem_eq(d.uuid, l.uuid, 16);
	ck_assert_uint_eq(d.size, 1 << 20);
	/* Read errors come through. */
	bdev_gate_close(dev, 0);
	ck_assert_int_eq(bdev_label_read(dev, &d), -EIO);
	bdev_close(dev);
	/* Block 1 onwards is untouched by the label. */
	uint8_t peek[4096];
	tb_peek(img, 4096, peek, 4096);
	for (int i = 0; i < 4096; i++)
		ck_assert_uint_eq(peek[i], 0);
	unlink(img);
	/* An unlabelled and a too-small device. */
	make_labelled(img, NULL, NULL);
	ck_assert_int_eq(bdev_open(img, 0, &dev), 0);
	ck_assert_int_eq(bdev_label_read(dev, &d), -ENODATA);
	bdev_close(dev);
	unlink(img);
	tb_image(img, 2048);
	ck_assert_int_eq(bdev_open(img, 0, &dev), 0);
	ck_assert_int_eq(bdev_label_read(dev, &d), -ENODATA);
	ck_assert_int_eq(bdev_label_write(dev, &l), -ENOSPC);
	bdev_close(dev);
	unlink(img);
}
END_TEST

START_TEST(find_among_paths)
{
	char a[64], b[64], c[64], dup[64], lnk[80], out[128];
	struct bdev_label la, lb, lc;
	make_labelled(a, "alpha", &la);
	make_labelled(b, "beta", &lb);
	make_labelled(c, NULL, &lc);
	snprintf(lnk, sizeof(lnk), "%s.lnk", a);
	ck_assert_int_eq(symlink(a, lnk), 0);
	const char *paths[] = {"/var/tmp/sanfs-no-such", c, a, b, lnk, a, NULL};
	ck_assert_int_eq(bdev_find("alpha", paths, out, sizeof(out)), 0);
	ck_assert_str_eq(out, a);
	ck_assert_int_eq(bdev_find("beta", paths, out, sizeof(out)), 0);
	ck_assert_str_eq(out, b);
	char us[BDEV_UUID_STR];
	bdev_uuid_format(lb.uuid, us);
	for (char *p = us; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	out[0] = 0;
	ck_assert_int_eq(bdev_find(us, paths, out, sizeof(out)), 0);
	ck_assert_str_eq(out, b);
	ck_assert_int_eq(bdev_find("gamma", paths, out, sizeof(out)), -ENOENT);
	ck_assert_int_eq(bdev_find("", paths, out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(bdev_find("alpha", paths, out, 5), -ENAMETOOLONG);
	/* A copy of alpha on another device makes the name ambiguous. */
	tb_image(dup, 1 << 20);
	uint8_t blk[4096];
	tb_peek(a, 0, blk, sizeof(blk));
	tb_poke(dup, 0, blk, sizeof(blk));
	const char *paths2[] = {a, b, dup, NULL};
	ck_assert_int_eq(bdev_find("alpha", paths2, out, sizeof(out)), -EEXIST);
	bdev_uuid_format(la.uuid, us);
	ck_assert_int_eq(bdev_find(us, paths2, out, sizeof(out)), -EEXIST);
	ck_assert_int_eq(bdev_find("beta", paths2, out, sizeof(out)), 0);
	/* A corrupt label is skipped. */
	blk[40] ^= 1;
	tb_poke(dup, 0, blk, sizeof(blk));
	ck_assert_int_eq(bdev_find("alpha", paths2, out, sizeof(out)), 0);
	ck_assert_str_eq(out, a);
	const char *none[] = {NULL};
	ck_assert_int_eq(bdev_find("alpha", none, out, sizeof(out)), -ENOENT);
	unlink(lnk);
	unlink(a);
	unlink(b);
	unlink(c);
	unlink(dup);
}
END_TEST

START_TEST(find_scan_dev_absent)
{
	/* Scanning /dev for a label nobody carries: -ENOENT, nothing crashes on
	 * devices without media or with foreign contents. */
	char out[128], name[64];
	uint8_t u[16];
	bdev_uuid_generate(u);
	bdev_uuid_format(u, name);
	ck_assert_int_eq(bdev_find(name, NULL, out, sizeof(out)), -ENOENT);
}
END_TEST

Suite *label_suite(void)
{
	Suite *s = suite_create("label");
	TCase *tc = tcase_create("label");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, label_valid_strings);
	tcase_add_test(tc, label_roundtrip_and_layout);
	tcase_add_test(tc, label_decode_errors);
	tcase_add_test(tc, uuid_helpers);
	tcase_add_test(tc, label_read_write_image);
	tcase_add_test(tc, find_among_paths);
	tcase_add_test(tc, find_scan_dev_absent);
	suite_add_tcase(s, tc);
	return s;
}
