/* blockdev: the per-slot heartbeat / mailbox block (bdev.h "Heartbeat").
 * One encoder, one decoder; read and write go through them. */
#include "blockdev/bdev_int.h"

#include <errno.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/endian_le.h"
#include "common/log.h"

#define SUB "bdev"

enum {
	HB_MAGIC = 0,
	HB_VERSION = 8,
	HB_STATE = 12,
	HB_OFF = 16,
	HB_UUID = 24,
	HB_NODE = 40,
	HB_SLOT = 44,
	HB_INC = 48,
	HB_SEQ = 56,
	HB_TIME = 64,
	HB_GEN = 72,
	HB_PID = 80,
	HB_MODE = 84,
	HB_PROTO = 88,
	HB_HOST = 96,
	HB_CRC = BDEV_HB_BYTES - 4,
};

static bool host_valid(const char *h, size_t max)
{
	size_t n = strnlen(h, max + 1);
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)h[i] < 0x20 || (unsigned char)h[i] > 0x7e)
			return false;
	return true;
}

static bool state_valid(uint32_t s)
{
	return s <= BDEV_HB_FENCED;
}

static bool mode_valid(uint32_t m)
{
	return m == BDEV_HB_LOCAL || m == BDEV_HB_CLUSTER;
}

const char *bdev_hb_state_name(enum bdev_hb_state s)
{
	switch (s) {
	case BDEV_HB_FREE:
		return "FREE";
	case BDEV_HB_LIVE:
		return "LIVE";
	case BDEV_HB_CLEAN:
		return "CLEAN";
	case BDEV_HB_FENCED:
		return "FENCED";
	}
	return "?";
}

int bdev_hb_encode(const struct bdev_hb *hb, uint64_t off, void *block)
{
	if (off % BDEV_HB_BYTES || !state_valid((uint32_t)hb->state) ||
	    !mode_valid((uint32_t)hb->mode) || !host_valid(hb->hostname, BDEV_HB_HOST_MAX))
		return -EINVAL;
	uint8_t *b = block;
	memset(b, 0, BDEV_HB_BYTES);
	memcpy(b + HB_MAGIC, BDEV_HB_MAGIC, 8);
	le32_put(b + HB_VERSION, BDEV_HB_VERSION);
	le32_put(b + HB_STATE, (uint32_t)hb->state);
	le64_put(b + HB_OFF, off);
	memcpy(b + HB_UUID, hb->uuid, 16);
	le32_put(b + HB_NODE, hb->node_id);
	le32_put(b + HB_SLOT, hb->slot);
	le64_put(b + HB_INC, hb->incarnation);
	le64_put(b + HB_SEQ, hb->sequence);
	le64_put(b + HB_TIME, hb->time_ns);
	le64_put(b + HB_GEN, hb->san_generation);
	le32_put(b + HB_PID, hb->pid);
	le32_put(b + HB_MODE, (uint32_t)hb->mode);
	le32_put(b + HB_PROTO, hb->proto_version);
	memcpy(b + HB_HOST, hb->hostname, strlen(hb->hostname));
	le32_put(b + HB_CRC, crc32c(0, b, HB_CRC));
	return 0;
}

int bdev_hb_decode(const void *block, size_t len, uint64_t off, struct bdev_hb *hb)
{
	const uint8_t *b = block;
	if (len < BDEV_HB_BYTES)
		return -EINVAL;
	if (memcmp(b + HB_MAGIC, BDEV_HB_MAGIC, 8) != 0)
		return -ENODATA;
	uint32_t want = le32_get(b + HB_CRC), got = crc32c(0, b, HB_CRC);
	if (want != got) {
		log_warn(SUB, "heartbeat at %llu: bad checksum %08x, expected %08x",
			 (unsigned long long)off, want, got);
		return -EBADMSG;
	}
	uint32_t version = le32_get(b + HB_VERSION);
	if (version == 0)
		return -EBADMSG;
	if (version > BDEV_HB_VERSION) {
		log_warn(SUB, "heartbeat at %llu: format %u is newer than %u",
			 (unsigned long long)off, version, BDEV_HB_VERSION);
		return -ENOTSUP;
	}
	uint64_t stored = le64_get(b + HB_OFF);
	if (stored % BDEV_HB_BYTES) {
		log_warn(SUB, "heartbeat at %llu: stored offset %llu is not block-aligned",
			 (unsigned long long)off, (unsigned long long)stored);
		return -EBADMSG;
	}
	if (off != UINT64_MAX && stored != off) {
		log_warn(SUB, "heartbeat at %llu: block says it belongs at %llu",
			 (unsigned long long)off, (unsigned long long)stored);
		return -EBADMSG;
	}
	uint32_t state = le32_get(b + HB_STATE), mode = le32_get(b + HB_MODE);
	const char *host = (const char *)b + HB_HOST;
	if (!state_valid(state) || !mode_valid(mode) || !host_valid(host, BDEV_HB_HOST_MAX)) {
		log_warn(SUB, "heartbeat at %llu: bad state, mode or hostname",
			 (unsigned long long)off);
		return -EBADMSG;
	}
	size_t hl = strlen(host);
	for (size_t i = hl; i <= BDEV_HB_HOST_MAX; i++)
		if (host[i])
			return -EBADMSG;
	memset(hb, 0, sizeof(*hb));
	hb->state = (enum bdev_hb_state)state;
	memcpy(hb->uuid, b + HB_UUID, 16);
	hb->node_id = le32_get(b + HB_NODE);
	hb->slot = le32_get(b + HB_SLOT);
	hb->incarnation = le64_get(b + HB_INC);
	hb->sequence = le64_get(b + HB_SEQ);
	hb->time_ns = le64_get(b + HB_TIME);
	hb->san_generation = le64_get(b + HB_GEN);
	hb->pid = le32_get(b + HB_PID);
	hb->mode = (enum bdev_hb_mode)mode;
	hb->proto_version = le32_get(b + HB_PROTO);
	memcpy(hb->hostname, host, hl);
	return 0;
}

static int hb_check_off(struct bdev *dev, uint64_t off)
{
	if (off % BDEV_HB_BYTES || off > bdev_size(dev) || bdev_size(dev) - off < BDEV_HB_BYTES) {
		log_error(SUB, "%s: heartbeat offset %llu invalid", bdev_path(dev),
			  (unsigned long long)off);
		return -EINVAL;
	}
	return 0;
}

static unsigned io_flags(unsigned hb_flags)
{
	return hb_flags & BDEV_HB_PAST_LEASE ? BDEV_IO_PAST_LEASE : 0;
}

int bdev_hb_read(struct bdev *dev, uint64_t off, struct bdev_hb *hb, unsigned flags)
{
	int rc = hb_check_off(dev, off);
	if (rc < 0)
		return rc;
	uint8_t *b = bdev_alloc(BDEV_HB_BYTES);
	if (!b)
		return -ENOMEM;
	rc = bdev_read_io(dev, off, b, BDEV_HB_BYTES, io_flags(flags));
	if (rc == 0)
		rc = bdev_hb_decode(b, BDEV_HB_BYTES, off, hb);
	bdev_free(b);
	return rc;
}

int bdev_hb_write(struct bdev *dev, uint64_t off, const struct bdev_hb *hb, unsigned flags)
{
	int rc = hb_check_off(dev, off);
	if (rc < 0)
		return rc;
	if ((flags & BDEV_HB_PAST_GATE) && hb->state != BDEV_HB_FENCED)
		return -EINVAL;
	uint8_t *b = bdev_alloc(BDEV_HB_BYTES);
	if (!b)
		return -ENOMEM;
	rc = bdev_hb_encode(hb, off, b);
	if (rc == 0 && (flags & BDEV_HB_PAST_GATE)) {
		rc = bdev_write_past_gate(dev, off, b, BDEV_HB_BYTES);
		bdev_free(b);
		return rc;
	}
	if (rc == 0)
		rc = bdev_write_io(dev, off, b, BDEV_HB_BYTES, io_flags(flags));
	if (rc == 0 && (flags & BDEV_HB_FLUSH))
		rc = bdev_flush_io(dev, io_flags(flags));
	bdev_free(b);
	return rc;
}

bool bdev_hb_newer(const struct bdev_hb *a, const struct bdev_hb *b)
{
	if (a->incarnation != b->incarnation)
		return a->incarnation > b->incarnation;
	return a->sequence > b->sequence;
}
