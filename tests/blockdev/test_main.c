/* One Check runner for every blockdev suite (one suite per test file). */
#include <check.h>
#include <stdlib.h>

Suite *bdev_suite(void);
Suite *pool_suite(void);
Suite *fault_suite(void);
Suite *label_suite(void);
Suite *probe_suite(void);
Suite *hb_suite(void);

int main(void)
{
	SRunner *sr = srunner_create(bdev_suite());
	srunner_add_suite(sr, pool_suite());
	srunner_add_suite(sr, fault_suite());
	srunner_add_suite(sr, label_suite());
	srunner_add_suite(sr, probe_suite());
	srunner_add_suite(sr, hb_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
