/* Mastery by rendezvous hashing: same answer in any member order, a fair
 * spread, and only the departed member's resources move. */
#include <check.h>
#include <stdlib.h>

#include "locks/dlm_master.h"

START_TEST(order_independent_and_balanced)
{
	uint32_t a[5] = {1, 2, 3, 4, 5}, b[5] = {5, 3, 1, 4, 2};
	unsigned count[6] = {0};
	for (uint64_t r = 0; r < 50000; r++) {
		uint64_t h = dlm_name_hash(&r, sizeof(r));
		uint32_t m = dlm_master_of(h, a, 5);
		ck_assert_uint_eq(m, dlm_master_of(h, b, 5));
		ck_assert(m >= 1 && m <= 5);
		count[m]++;
	}
	/* Each of 5 members masters 20% +- 2%. */
	for (int i = 1; i <= 5; i++)
		ck_assert_msg(count[i] > 9000 && count[i] < 11000, "member %d masters %u", i,
			      count[i]);
	ck_assert_uint_eq(dlm_master_of(123, NULL, 0), 0);
}
END_TEST

START_TEST(minimal_movement)
{
	uint32_t all[4] = {10, 20, 30, 40}, without30[3] = {10, 20, 40};
	for (uint64_t r = 0; r < 20000; r++) {
		uint64_t h = dlm_name_hash(&r, sizeof(r));
		uint32_t before = dlm_master_of(h, all, 4), after = dlm_master_of(h, without30, 3);
		if (before != 30)
			ck_assert_uint_eq(before, after);
		else
			ck_assert_uint_ne(after, 30);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dlm_master");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, order_independent_and_balanced);
	tcase_add_test(tc, minimal_movement);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
