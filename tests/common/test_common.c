/* Unit tests of common/: CRC32C against published check values, chaining,
 * both code paths agreeing; little-endian helpers. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/endian_le.h"
#include "common/log.h"

START_TEST(crc32c_check_value)
{
	/* The standard check value of CRC-32C (RFC 3720 B.4 and the CRC catalogue). */
	ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(crc32c(0, "", 0), 0);
	uint8_t zeros[32] = {0};
	ck_assert_uint_eq(crc32c(0, zeros, sizeof(zeros)), 0x8A9136AAu);
	uint8_t ones[32];
	memset(ones, 0xff, sizeof(ones));
	ck_assert_uint_eq(crc32c(0, ones, sizeof(ones)), 0x62A8AB43u);
}
END_TEST

START_TEST(crc32c_chaining_and_alignment)
{
	uint8_t buf[4096 + 16];
	unsigned seed = 12345;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rand_r(&seed);
	for (size_t off = 0; off < 9; off++) {
		uint32_t whole = crc32c(0, buf + off, 4096);
		for (size_t cut = 0; cut <= 4096; cut += 517) {
			uint32_t part =
			    crc32c(crc32c(0, buf + off, cut), buf + off + cut, 4096 - cut);
			ck_assert_uint_eq(part, whole);
		}
	}
	/* One flipped bit changes the CRC. */
	uint32_t before = crc32c(0, buf, 4096);
	buf[100] ^= 4;
	ck_assert_uint_ne(crc32c(0, buf, 4096), before);
}
END_TEST

START_TEST(le_helpers)
{
	uint8_t b[8];
	le16_put(b, 0x1234);
	ck_assert_uint_eq(b[0], 0x34);
	ck_assert_uint_eq(b[1], 0x12);
	ck_assert_uint_eq(le16_get(b), 0x1234);
	le32_put(b, 0xdeadbeef);
	ck_assert_uint_eq(b[0], 0xef);
	ck_assert_uint_eq(b[3], 0xde);
	ck_assert_uint_eq(le32_get(b), 0xdeadbeefu);
	le64_put(b, 0x0102030405060708ull);
	ck_assert_uint_eq(b[0], 0x08);
	ck_assert_uint_eq(b[7], 0x01);
	ck_assert_uint_eq(le64_get(b), 0x0102030405060708ull);
}
END_TEST

START_TEST(log_levels_filter)
{
	log_setup("test", 3, LOG_ERROR);
	ck_assert_int_eq(log_get_level(), LOG_ERROR);
	log_set_level(LOG_DEBUG);
	ck_assert_int_eq(log_get_level(), LOG_DEBUG);
	ck_assert_int_eq(log_open_file("/nonexistent-dir/x.log") < 0, 1);
	log_set_level(LOG_WARN);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("common");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, crc32c_check_value);
	tcase_add_test(tc, crc32c_chaining_and_alignment);
	tcase_add_test(tc, le_helpers);
	tcase_add_test(tc, log_levels_filter);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
