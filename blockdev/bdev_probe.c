/* blockdev: recognise what a device already holds (bdev.h
 * bdev_probe_foreign), so mkfs refuses to overwrite a filesystem, swap
 * area, encrypted volume or partition table without --force.
 *
 * The signatures are those libblkid checks (offsets from its probers and
 * the formats' own documents). The most specific come first: a GPT disk
 * also has a (protective) MBR, an ISO hybrid image too, a FAT boot sector
 * ends in the MBR signature. */
#include "blockdev/bdev_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/endian_le.h"

/* Bytes read from the start of the device: enough for the btrfs superblock
 * (64 KiB + 64 + 8) and the ISO 9660 volume descriptor (32 KiB + 1 + 5). */
#define PROBE_BYTES (68u * 1024u)

static bool at(const uint8_t *b, size_t len, size_t off, const void *sig, size_t n)
{
	return off <= len && n <= len - off && memcmp(b + off, sig, n) == 0;
}

static void name(char *what, size_t wlen, const char *s)
{
	if (what && wlen)
		snprintf(what, wlen, "%s", s);
}

static const char *ext_kind(const uint8_t *sb)
{
	uint32_t compat = le32_get(sb + 0x5c), incompat = le32_get(sb + 0x60);
	uint32_t ro_compat = le32_get(sb + 0x64);
	/* ext4-only features: extents, 64bit, flex_bg, huge_file, dir_nlink,
	 * extra_isize, metadata_csum. */
	if ((incompat & (0x40 | 0x80 | 0x200)) || (ro_compat & (0x8 | 0x20 | 0x40 | 0x400)))
		return "ext4 filesystem";
	if (compat & 0x4) /* has_journal */
		return "ext3 filesystem";
	return "ext2 filesystem";
}

static bool mbr_has_partitions(const uint8_t *b)
{
	for (int i = 0; i < 4; i++) {
		const uint8_t *e = b + 446 + 16 * i;
		if ((e[0] != 0 && e[0] != 0x80))
			return false; /* boot flag must be 0 or 0x80 */
	}
	for (int i = 0; i < 4; i++)
		if (b[446 + 16 * i + 4] != 0) /* partition type */
			return true;
	return false;
}

int bdev_probe_foreign_buf(const void *buf, size_t len, char *what, size_t wlen)
{
	const uint8_t *b = buf;
	static const uint8_t luks[6] = {'L', 'U', 'K', 'S', 0xba, 0xbe};
	static const uint8_t gfs2[4] = {0x01, 0x16, 0x19, 0x70};
	static const uint8_t f2fs[4] = {0x10, 0x20, 0xf5, 0xf2};
	static const uint8_t ext_magic[2] = {0x53, 0xef};
	static const uint8_t mbr_sig[2] = {0x55, 0xaa};

	if (at(b, len, 0, BDEV_LABEL_MAGIC, 8))
		return name(what, wlen, "sanfs device label"), 1;
	if (at(b, len, 0, luks, sizeof(luks)))
		return name(what, wlen, "LUKS encrypted volume"), 1;
	if (at(b, len, 0, "XFSB", 4))
		return name(what, wlen, "xfs filesystem"), 1;
	for (size_t s = 0; s < 4; s++)
		if (at(b, len, s * 512, "LABELONE", 8) && at(b, len, s * 512 + 24, "LVM2 001", 8))
			return name(what, wlen, "LVM2 physical volume"), 1;
	if (at(b, len, 65536 + 64, "_BHRfS_M", 8))
		return name(what, wlen, "btrfs filesystem"), 1;
	if (at(b, len, 1024 + 56, ext_magic, 2) && len >= 1024 + 0x68)
		return name(what, wlen, ext_kind(b + 1024)), 1;
	if (at(b, len, 1024, f2fs, 4))
		return name(what, wlen, "f2fs filesystem"), 1;
	if (at(b, len, 65536 + 24, gfs2, 4))
		return name(what, wlen, "gfs2 filesystem"), 1;
	if (at(b, len, 0, "hsqs", 4))
		return name(what, wlen, "squashfs filesystem"), 1;
	static const size_t page_sizes[] = {4096, 8192, 16384, 65536};
	for (size_t i = 0; i < sizeof(page_sizes) / sizeof(page_sizes[0]); i++)
		if (at(b, len, page_sizes[i] - 10, "SWAPSPACE2", 10) ||
		    at(b, len, page_sizes[i] - 10, "SWAP-SPACE", 10))
			return name(what, wlen, "swap area"), 1;
	if (at(b, len, 32768 + 1, "CD001", 5))
		return name(what, wlen, "iso9660 filesystem"), 1;
	if (at(b, len, 512, "EFI PART", 8) || at(b, len, 4096, "EFI PART", 8))
		return name(what, wlen, "GPT partition table"), 1;
	if (at(b, len, 3, "NTFS    ", 8))
		return name(what, wlen, "ntfs filesystem"), 1;
	if (at(b, len, 3, "EXFAT   ", 8))
		return name(what, wlen, "exfat filesystem"), 1;
	if (at(b, len, 510, mbr_sig, 2)) {
		if (at(b, len, 54, "FAT1", 4) || at(b, len, 82, "FAT32   ", 8) ||
		    at(b, len, 3, "mkfs.fat", 8) || at(b, len, 3, "MSDOS", 5) ||
		    at(b, len, 3, "MSWIN", 5))
			return name(what, wlen, "vfat filesystem"), 1;
		if (mbr_has_partitions(b))
			return name(what, wlen, "MBR partition table"), 1;
	}
	name(what, wlen, "");
	return 0;
}

int bdev_probe_foreign(struct bdev *dev, char *what, size_t wlen)
{
	size_t len = PROBE_BYTES;
	if (bdev_size(dev) < len)
		len = (size_t)bdev_size(dev);
	len &= ~(size_t)(bdev_align(dev) - 1);
	name(what, wlen, "");
	if (len == 0)
		return 0;
	uint8_t *b = bdev_alloc(len);
	if (!b)
		return -ENOMEM;
	int rc = bdev_read(dev, 0, b, len);
	if (rc == 0)
		rc = bdev_probe_foreign_buf(b, len, what, wlen);
	bdev_free(b);
	return rc;
}
