/* Unit tests of the heartbeat / mailbox block: layout, round trip, every
 * decode error, read/write at an offset on an image, ordering. */
#include <errno.h>

#include "blockdev/bdev.h"
#include "common/crc32c.h"
#include "common/endian_le.h"
#include "tb_util.h"

static struct bdev_hb sample(void)
{
	struct bdev_hb h = {
	    .state = BDEV_HB_LIVE,
	    .node_id = 7,
	    .slot = 3,
	    .incarnation = 0x1122334455667788ull,
	    .sequence = 42,
	    .time_ns = 1700000000123456789ull,
	    .san_generation = 99,
	    .pid = 4242,
	    .mode = BDEV_HB_CLUSTER,
	    .proto_version = 1,
	};
	for (int i = 0; i < 16; i++)
		h.uuid[i] = (uint8_t)(0xa0 + i);
	strcpy(h.hostname, "node-7.example");
	return h;
}

START_TEST(hb_roundtrip_layout)
{
	struct bdev_hb h = sample(), d;
	uint8_t b[4096];
	ck_assert_int_eq(bdev_hb_encode(&h, 8192, b), 0);
	ck_assert_mem_eq(b, "SANFS-HB", 8);
	ck_assert_uint_eq(le32_get(b + 8), BDEV_HB_VERSION);
	ck_assert_uint_eq(le32_get(b + 12), BDEV_HB_LIVE);
	ck_assert_uint_eq(le64_get(b + 16), 8192);
	ck_assert_uint_eq(b[24], 0xa0);
	ck_assert_uint_eq(le32_get(b + 40), 7);
	ck_assert_uint_eq(le32_get(b + 44), 3);
	ck_assert_uint_eq(le64_get(b + 48), 0x1122334455667788ull);
	ck_assert_uint_eq(le64_get(b + 56), 42);
	ck_assert_uint_eq(le64_get(b + 72), 99);
	ck_assert_uint_eq(le32_get(b + 80), 4242);
	ck_assert_uint_eq(le32_get(b + 84), BDEV_HB_CLUSTER);
	ck_assert_str_eq((char *)b + 96, "node-7.example");
	ck_assert_uint_eq(le32_get(b + 4092), crc32c(0, b, 4092));
	ck_assert_int_eq(bdev_hb_decode(b, sizeof(b), 8192, &d), 0);
	ck_assert_int_eq(d.state, h.state);
	ck_assert_mem_eq(d.uuid, h.uuid, 16);
	ck_assert_uint_eq(d.node_id, h.node_id);
	ck_assert_uint_eq(d.slot, h.slot);
	ck_assert_uint_eq(d.incarnation, h.incarnation);
	ck_assert_uint_eq(d.sequence, h.sequence);
	ck_assert_uint_eq(d.time_ns, h.time_ns);
	ck_assert_uint_eq(d.san_generation, h.san_generation);
	ck_assert_uint_eq(d.pid, h.pid);
	ck_assert_int_eq(d.mode, h.mode);
	ck_assert_uint_eq(d.proto_version, h.proto_version);
	ck_assert_str_eq(d.hostname, h.hostname);
	ck_assert_int_eq(bdev_hb_decode(b, sizeof(b), UINT64_MAX, &d), 0);
	for (int s = BDEV_HB_FREE; s <= BDEV_HB_FENCED; s++) {
		h.state = (enum bdev_hb_state)s;
		ck_assert_int_eq(bdev_hb_encode(&h, 0, b), 0);
		ck_assert_int_eq(bdev_hb_decode(b, sizeof(b), 0, &d), 0);
		ck_assert_int_eq(d.state, s);
	}
	ck_assert_str_eq(bdev_hb_state_name(BDEV_HB_FENCED), "FENCED");
	ck_assert_str_eq(bdev_hb_state_name((enum bdev_hb_state)17), "?");
}
END_TEST

START_TEST(hb_encode_refuses_bad_fields)
{
	struct bdev_hb h = sample();
	uint8_t b[4096];
	h.state = (enum bdev_hb_state)4;
	ck_assert_int_eq(bdev_hb_encode(&h, 0, b), -EINVAL);
	h = sample();
	h.mode = (enum bdev_hb_mode)0;
	ck_assert_int_eq(bdev_hb_encode(&h, 0, b), -EINVAL);
	h = sample();
	h.hostname[2] = '\n';
	ck_assert_int_eq(bdev_hb_encode(&h, 0, b), -EINVAL);
	h = sample();
	memset(h.hostname, 'h', sizeof(h.hostname)); /* not terminated */
	ck_assert_int_eq(bdev_hb_encode(&h, 0, b), -EINVAL);
}
END_TEST

static void reseal(uint8_t *b)
{
	le32_put(b + 4092, crc32c(0, b, 4092));
}

START_TEST(hb_decode_errors)
{
	struct bdev_hb h = sample(), d;
	uint8_t b[4096], c[4096], z[4096] = {0};
	ck_assert_int_eq(bdev_hb_decode(z, sizeof(z), 0, &d), -ENODATA);
	ck_assert_int_eq(bdev_hb_encode(&h, 4096, b), 0);
	ck_assert_int_eq(bdev_hb_decode(b, 4095, 4096, &d), -EINVAL);
	ck_assert_int_eq(bdev_hb_decode(b, sizeof(b), 8192, &d), -EBADMSG); /* misplaced */
	ck_assert_int_eq(bdev_hb_encode(&h, 4095, c), -EINVAL);
	memcpy(c, b, 4096);
	le64_put(c + 16, 0xffffffffffffefffull); /* not block-aligned */
	reseal(c);
	ck_assert_int_eq(bdev_hb_decode(c, sizeof(c), UINT64_MAX, &d), -EBADMSG);
	for (size_t bit = 64; bit < 4096 * 8; bit += 701) {
		memcpy(c, b, 4096);
		c[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ck_assert_int_eq(bdev_hb_decode(c, sizeof(c), 4096, &d), -EBADMSG);
	}
	struct {
		size_t off;
		uint32_t val;
		int expect;
	} fields[] = {
	    {8, 2, -ENOTSUP},  {8, 0, -EBADMSG},  {12, 4, -EBADMSG},
	    {84, 0, -EBADMSG}, {84, 3, -EBADMSG},
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		memcpy(c, b, 4096);
		le32_put(c + fields[i].off, fields[i].val);
		reseal(c);
		ck_assert_int_eq(bdev_hb_decode(c, sizeof(c), 4096, &d), fields[i].expect);
	}
	memcpy(c, b, 4096);
	memset(c + 96, 'x', 64); /* hostname without NUL */
	reseal(c);
	ck_assert_int_eq(bdev_hb_decode(c, sizeof(c), 4096, &d), -EBADMSG);
	memcpy(c, b, 4096);
	c[96 + 40] = 'x'; /* byte after the NUL */
	reseal(c);
	ck_assert_int_eq(bdev_hb_decode(c, sizeof(c), 4096, &d), -EBADMSG);
	memcpy(c, b, 4096);
	c[97] = 0x01;
	reseal(c);
	ck_assert_int_eq(bdev_hb_decode(c, sizeof(c), 4096, &d), -EBADMSG);
}
END_TEST

START_TEST(hb_newer_order)
{
	struct bdev_hb a = sample(), b = sample();
	ck_assert(!bdev_hb_newer(&a, &b));
	b.sequence++;
	ck_assert(bdev_hb_newer(&b, &a));
	ck_assert(!bdev_hb_newer(&a, &b));
	/* A new incarnation beats any sequence of the old one. */
	a.incarnation++;
	a.sequence = 0;
	b.sequence = UINT64_MAX;
	ck_assert(bdev_hb_newer(&a, &b));
	ck_assert(!bdev_hb_newer(&b, &a));
}
END_TEST

START_TEST(hb_read_write_image)
{
	char img[64];
	tb_image(img, 1 << 20);
	struct bdev *dev;
	ck_assert_int_eq(bdev_open(img, 0, &dev), 0);
	struct bdev_hb h = sample(), d;
	ck_assert_int_eq(bdev_hb_read(dev, 65536, &d, 0), -ENODATA); /* never written: FREE */
	for (uint32_t slot = 0; slot < 4; slot++) {
		h.slot = slot;
		h.sequence = 100 + slot;
		ck_assert_int_eq(
		    bdev_hb_write(dev, 65536 + slot * 4096ull, &h, slot == 3 ? BDEV_HB_FLUSH : 0),
		    0);
	}
	for (uint32_t slot = 0; slot < 4; slot++) {
		ck_assert_int_eq(bdev_hb_read(dev, 65536 + slot * 4096ull, &d, 0), 0);
		ck_assert_uint_eq(d.slot, slot);
		ck_assert_uint_eq(d.sequence, 100 + slot);
	}
	/* Another node's view: a second open of the same device sees the write
	 * at once (O_DIRECT, no page cache in between). */
	struct bdev *other;
	ck_assert_int_eq(bdev_open(img, BDEV_RDONLY, &other), 0);
	h.slot = 0;
	h.sequence = 1000;
	h.state = BDEV_HB_FENCED;
	ck_assert_int_eq(bdev_hb_write(dev, 65536, &h, BDEV_HB_FLUSH), 0);
	ck_assert_int_eq(bdev_hb_read(other, 65536, &d, 0), 0);
	ck_assert_int_eq(d.state, BDEV_HB_FENCED);
	ck_assert_uint_eq(d.sequence, 1000);
	bdev_close(other);
	/* A block copied to the wrong slot is refused. */
	uint8_t blk[4096];
	tb_peek(img, 65536, blk, 4096);
	tb_poke(img, 65536 + 8192, blk, 4096);
	ck_assert_int_eq(bdev_hb_read(dev, 65536 + 8192, &d, 0), -EBADMSG);
	/* Offsets are checked; I/O errors come through. */
	ck_assert_int_eq(bdev_hb_read(dev, 100, &d, 0), -EINVAL);
	ck_assert_int_eq(bdev_hb_write(dev, 1 << 20, &h, 0), -EINVAL);
	bdev_gate_close(dev, 0);
	ck_assert_int_eq(bdev_hb_write(dev, 65536, &h, 0), -EIO);
	ck_assert_int_eq(bdev_hb_read(dev, 65536, &d, 0), -EIO);
	/* A fenced node may still announce it, and only that. */
	h.state = BDEV_HB_LIVE;
	ck_assert_int_eq(bdev_hb_write(dev, 65536, &h, BDEV_HB_PAST_GATE), -EINVAL);
	h.state = BDEV_HB_FENCED;
	h.sequence = 2000;
	ck_assert_int_eq(bdev_hb_write(dev, 65536, &h, BDEV_HB_PAST_GATE), 0);
	ck_assert(!bdev_gate_is_open(dev));
	ck_assert_int_eq(bdev_open(img, BDEV_RDONLY, &other), 0);
	ck_assert_int_eq(bdev_hb_read(other, 65536, &d, 0), 0);
	ck_assert_int_eq(d.state, BDEV_HB_FENCED);
	ck_assert_uint_eq(d.sequence, 2000);
	bdev_close(other);
	bdev_close(dev);
	unlink(img);
}
END_TEST

Suite *hb_suite(void)
{
	Suite *s = suite_create("hb");
	TCase *tc = tcase_create("hb");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, hb_roundtrip_layout);
	tcase_add_test(tc, hb_encode_refuses_bad_fields);
	tcase_add_test(tc, hb_decode_errors);
	tcase_add_test(tc, hb_newer_order);
	tcase_add_test(tc, hb_read_write_image);
	suite_add_tcase(s, tc);
	return s;
}
