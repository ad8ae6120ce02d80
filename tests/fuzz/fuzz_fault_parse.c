/* Fuzz target: bdev_fault_parse (the SANFS_BDEV_FAULTS value, user input).
 * Any string gives a rule count or -EINVAL / -E2BIG, never a crash; every
 * rule it returns is one bdev_fault_add accepts. */
#include <stdlib.h>

#include "blockdev/bdev.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *spec = malloc(size + 1);
	if (!spec)
		return 0;
	memcpy(spec, data, size);
	spec[size] = 0;
	fuzz_quiet();
	struct bdev_fault r[8];
	int n = bdev_fault_parse(spec, "/dev/loop5", r, 8);
	FUZZ_CHECK(n == -EINVAL || n == -E2BIG || n == -ENOMEM || (n >= 0 && n <= 8));
	for (int i = 0; i < n; i++) {
		FUZZ_CHECK(r[i].kind >= BDEV_FAULT_EIO && r[i].kind <= BDEV_FAULT_VOLATILE);
		FUZZ_CHECK(!(r[i].ops & ~(unsigned)(BDEV_FAULT_READ | BDEV_FAULT_WRITE)));
		if (r[i].kind == BDEV_FAULT_EIO)
			FUZZ_CHECK(r[i].len > 0 && r[i].off + r[i].len > r[i].off);
	}
	free(spec);
	return 0;
}
