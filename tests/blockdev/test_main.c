/* One Check runner for every blockdev suite (one suite per test file). */
#include <check.h>
#include <stdlib.h>

Suite *bdev_suite(void);

int main(void)
{
	SRunner *sr = srunner_create(bdev_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
