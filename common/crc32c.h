/* CRC32C (Castagnoli), as used by ext4, btrfs and iSCSI. Every metadata block
 * and journal commit of sanfs carries one (DESIGN §3). Uses the SSE4.2
 * instruction when the CPU has it, a slicing table otherwise; both give the
 * same value. Thread-safe, no state. */
#ifndef SANFS_COMMON_CRC32C_H
#define SANFS_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: crc32c(0, buf, len) is the CRC of buf; chaining
 * crc32c(crc32c(0, a, la), b, lb) equals the CRC of a followed by b. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
