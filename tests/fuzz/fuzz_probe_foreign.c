/* Fuzz target: bdev_probe_foreign_buf over inputs of any length: never
 * reads out of bounds, always names what it recognises. */
#include "blockdev/bdev.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char what[64];
	int rc = bdev_probe_foreign_buf(data, size, what, sizeof(what));
	FUZZ_CHECK(rc == 0 || rc == 1);
	FUZZ_CHECK((rc == 1) == (what[0] != 0));
	rc = bdev_probe_foreign_buf(data, size, NULL, 0);
	FUZZ_CHECK(rc == 0 || rc == 1);
	return 0;
}
