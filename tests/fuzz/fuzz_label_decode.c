/* Fuzz target: bdev_label_decode. Any bytes give 0 or an error, never a
 * crash; a decoded label re-encodes to a block that decodes to the same. */
#include "blockdev/bdev.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t block[4096], again[4096];
	struct bdev_label l, m;
	fuzz_quiet();
	/* The raw input as given (usually too short: -EINVAL, checked bounds). */
	int rc = bdev_label_decode(data, size, &l);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENODATA || rc == -EBADMSG || rc == -ENOTSUP);
	fuzz_block(data, size, block);
	rc = bdev_label_decode(block, sizeof(block), &l);
	FUZZ_CHECK(rc == 0 || rc == -ENODATA || rc == -EBADMSG || rc == -ENOTSUP);
	if (rc == 0) {
		FUZZ_CHECK(bdev_label_valid(l.label));
		FUZZ_CHECK(bdev_label_encode(&l, again) == 0);
		FUZZ_CHECK(bdev_label_decode(again, sizeof(again), &m) == 0);
		FUZZ_CHECK(memcmp(&l, &m, sizeof(l)) == 0);
	}
	return 0;
}
