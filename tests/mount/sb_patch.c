/* sb_patch: damage the superblock of a sanfs device the way the bad-input
 * test needs (tests/mount/bad_input.sh):
 *   sb_patch DEVICE crc       flip a payload byte, keep the old CRC
 *   sb_patch DEVICE feature   set an unknown incompatible feature, reseal
 *   sb_patch DEVICE version   set a newer format version, reseal
 *   sb_patch DEVICE oldversion  set the older format version, reseal
 * Layout (fs/FORMAT.md): the superblock is block 1; the CRC32C at header
 * offset 40 covers the whole block with that field zero; version is the u32
 * at 48, incompat the u64 at 64. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/endian_le.h"

#define BLK	     4096
#define SB_OFF	     (1 * BLK)
#define HDR_CRC	     40
#define OFF_VERSION  48
#define OFF_INCOMPAT 64

static void reseal(uint8_t *b)
{
	le32_put(b + HDR_CRC, 0);
	le32_put(b + HDR_CRC, crc32c(0, b, BLK));
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: sb_patch DEVICE crc|feature|version|oldversion\n");
		return 2;
	}
	int fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	uint8_t b[BLK];
	if (pread(fd, b, BLK, SB_OFF) != BLK) {
		perror("read");
		return 1;
	}
	if (!strcmp(argv[2], "crc")) {
		b[300] ^= 0x5a;
	} else if (!strcmp(argv[2], "feature")) {
		le64_put(b + OFF_INCOMPAT, le64_get(b + OFF_INCOMPAT) | (1ull << 62));
		reseal(b);
	} else if (!strcmp(argv[2], "version")) {
		le32_put(b + OFF_VERSION, le32_get(b + OFF_VERSION) + 1);
		reseal(b);
	} else if (!strcmp(argv[2], "oldversion")) {
		le32_put(b + OFF_VERSION, le32_get(b + OFF_VERSION) - 1);
		reseal(b);
	} else {
		fprintf(stderr, "sb_patch: unknown damage '%s'\n", argv[2]);
		return 2;
	}
	if (pwrite(fd, b, BLK, SB_OFF) != BLK || fsync(fd) != 0) {
		perror("write");
		return 1;
	}
	close(fd);
	return 0;
}
