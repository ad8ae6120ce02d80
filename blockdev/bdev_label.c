/* blockdev: the device label in block 0 and UUID helpers (bdev.h
 * "Device label"). One encoder and one decoder; everything else goes
 * through them. */
#include "blockdev/bdev_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/crc32c.h"
#include "common/endian_le.h"
#include "common/log.h"

#define SUB "bdev"

enum {
	LBL_MAGIC = 0,
	LBL_VERSION = 8,
	LBL_RESERVED = 12,
	LBL_UUID = 16,
	LBL_LABEL = 32,
	LBL_SIZE = 96,
	LBL_CTIME = 104,
	LBL_CRC = BDEV_LABEL_BYTES - 4,
};

bool bdev_label_valid(const char *label)
{
	if (!label)
		return false;
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)label; *p; p++, n++)
		if (*p < 0x20 || *p > 0x7e || n >= BDEV_LABEL_MAX)
			return false;
	return true;
}

int bdev_uuid_generate(uint8_t uuid[16])
{
	size_t got = 0;
	while (got < 16) {
		ssize_t n = getrandom(uuid + got, 16 - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40); /* version 4 */
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	return 0;
}

void bdev_uuid_format(const uint8_t u[16], char out[BDEV_UUID_STR])
{
	snprintf(out, BDEV_UUID_STR,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
		 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
		 u[15]);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int bdev_uuid_parse(const char *s, uint8_t uuid[16])
{
	if (!s || strlen(s) != BDEV_UUID_STR - 1)
		return -EINVAL;
	uint8_t u[16];
	int k = 0;
	for (int i = 0; i < BDEV_UUID_STR - 1;) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -EINVAL;
			i++;
			continue;
		}
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		u[k++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	memcpy(uuid, u, 16);
	return 0;
}

int bdev_label_init(struct bdev_label *l, const char *label, uint64_t size)
{
	memset(l, 0, sizeof(*l));
	if (!bdev_label_valid(label ? label : ""))
		return -EINVAL;
	l->version = BDEV_LABEL_VERSION;
	int rc = bdev_uuid_generate(l->uuid);
	if (rc < 0)
		return rc;
	snprintf(l->label, sizeof(l->label), "%s", label ? label : "");
	l->size = size;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	l->ctime_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	return 0;
}

int bdev_label_encode(const struct bdev_label *l, void *block)
{
	if (!memchr(l->label, 0, sizeof(l->label)) || !bdev_label_valid(l->label))
		return -EINVAL;
	uint8_t *b = block;
	memset(b, 0, BDEV_LABEL_BYTES);
	memcpy(b + LBL_MAGIC, BDEV_LABEL_MAGIC, 8);
	le32_put(b + LBL_VERSION, l->version);
	memcpy(b + LBL_UUID, l->uuid, 16);
	memcpy(b + LBL_LABEL, l->label, strlen(l->label));
	le64_put(b + LBL_SIZE, l->size);
	le64_put(b + LBL_CTIME, l->ctime_ns);
	le32_put(b + LBL_CRC, crc32c(0, b, LBL_CRC));
	return 0;
}

int bdev_label_decode(const void *block, size_t len, struct bdev_label *l)
{
	const uint8_t *b = block;
	if (len < BDEV_LABEL_BYTES)
		return -EINVAL;
	if (memcmp(b + LBL_MAGIC, BDEV_LABEL_MAGIC, 8) != 0)
		return -ENODATA;
	uint32_t want = le32_get(b + LBL_CRC), got = crc32c(0, b, LBL_CRC);
	if (want != got) {
		log_warn(SUB, "label: bad checksum %08x, expected %08x", want, got);
		return -EBADMSG;
	}
	uint32_t version = le32_get(b + LBL_VERSION);
	if (version == 0) {
		log_warn(SUB, "label: version 0");
		return -EBADMSG;
	}
	if (version > BDEV_LABEL_VERSION) {
		log_warn(SUB, "label: version %u is newer than %u", version, BDEV_LABEL_VERSION);
		return -ENOTSUP;
	}
	const char *lab = (const char *)b + LBL_LABEL;
	size_t n = strnlen(lab, BDEV_LABEL_MAX + 1);
	if (n > BDEV_LABEL_MAX) {
		log_warn(SUB, "label: label not terminated");
		return -EBADMSG;
	}
	for (size_t i = n; i < BDEV_LABEL_MAX + 1; i++)
		if (lab[i]) {
			log_warn(SUB, "label: bytes after the label");
			return -EBADMSG;
		}
	memset(l, 0, sizeof(*l));
	memcpy(l->label, lab, n);
	if (!bdev_label_valid(l->label)) {
		log_warn(SUB, "label: label not printable");
		return -EBADMSG;
	}
	l->version = version;
	memcpy(l->uuid, b + LBL_UUID, 16);
	l->size = le64_get(b + LBL_SIZE);
	l->ctime_ns = le64_get(b + LBL_CTIME);
	return 0;
}

int bdev_label_read(struct bdev *dev, struct bdev_label *l)
{
	if (bdev_size(dev) < BDEV_LABEL_BYTES)
		return -ENODATA;
	uint8_t *b = bdev_alloc(BDEV_LABEL_BYTES);
	if (!b)
		return -ENOMEM;
	int rc = bdev_read(dev, 0, b, BDEV_LABEL_BYTES);
	if (rc == 0)
		rc = bdev_label_decode(b, BDEV_LABEL_BYTES, l);
	bdev_free(b);
	if (rc == 0 && l->size > bdev_size(dev))
		log_warn(SUB, "%s: label says %llu bytes, device has %llu", bdev_path(dev),
			 (unsigned long long)l->size, (unsigned long long)bdev_size(dev));
	return rc;
}

int bdev_label_write(struct bdev *dev, const struct bdev_label *l)
{
	if (bdev_size(dev) < BDEV_LABEL_BYTES)
		return -ENOSPC;
	uint8_t *b = bdev_alloc(BDEV_LABEL_BYTES);
	if (!b)
		return -ENOMEM;
	int rc = bdev_label_encode(l, b);
	if (rc == 0)
		rc = bdev_write(dev, 0, b, BDEV_LABEL_BYTES);
	if (rc == 0)
		rc = bdev_flush(dev);
	bdev_free(b);
	return rc;
}
