/* Encoding of the records stored in LMDB (store.h). Little-endian, fields in
 * declaration order, strings as u16 length + bytes. Decoders check every
 * length: a bad record is -EIO (our own data, so corruption). */
#include <errno.h>
#include <string.h>

#include "common/endian_le.h"
#include "consensus/store.h"

static size_t put_str(uint8_t *b, const char *s, size_t max)
{
	size_t n = strnlen(s, max - 1);
	le16_put(b, (uint16_t)n);
	memcpy(b + 2, s, n);
	return 2 + n;
}

/* Returns bytes consumed or 0 on error. */
static size_t get_str(const uint8_t *b, size_t avail, char *out, size_t max)
{
	if (avail < 2)
		return 0;
	size_t n = le16_get(b);
	if (n >= max || n > avail - 2)
		return 0;
	memcpy(out, b + 2, n);
	out[n] = '\0';
	return 2 + n;
}

/* The string that ends a record: it starts at off and must end exactly at
 * len. 0 or -EIO. */
static int get_last_str(const uint8_t *b, size_t len, size_t off, char *out, size_t max)
{
	size_t n = get_str(b + off, len - off, out, max);
	return n && off + n == len ? 0 : -EIO;
}

size_t rec_member_enc(const struct cons_member *m, uint8_t *b)
{
	le64_put(b, m->id);
	le32_put(b + 8, m->state);
	le64_put(b + 12, m->incarnation);
	return 20 + put_str(b + 20, m->address, CONS_ADDR_MAX);
}

int rec_member_dec(const void *buf, size_t len, struct cons_member *m)
{
	const uint8_t *b = buf;
	memset(m, 0, sizeof(*m));
	if (len < 20)
		return -EIO;
	m->id = le64_get(b);
	m->state = le32_get(b + 8);
	m->incarnation = le64_get(b + 12);
	return get_last_str(b, len, 20, m->address, CONS_ADDR_MAX);
}

size_t rec_device_enc(const struct cons_device *d, uint8_t *b)
{
	memcpy(b, d->uuid, CONS_UUID_BYTES);
	le64_put(b + 16, d->size);
	le32_put(b + 24, d->state);
	return 28 + put_str(b + 28, d->label, CONS_LABEL_MAX);
}

int rec_device_dec(const void *buf, size_t len, struct cons_device *d)
{
	const uint8_t *b = buf;
	memset(d, 0, sizeof(*d));
	if (len < 28)
		return -EIO;
	memcpy(d->uuid, b, CONS_UUID_BYTES);
	d->size = le64_get(b + 16);
	d->state = le32_get(b + 24);
	return get_last_str(b, len, 28, d->label, CONS_LABEL_MAX);
}

size_t rec_fs_enc(const struct cons_fs *f, uint8_t *b)
{
	size_t off;
	memcpy(b, f->uuid, CONS_UUID_BYTES);
	memcpy(b + 16, f->device_uuid, CONS_UUID_BYTES);
	le32_put(b + 32, f->nslots);
	off = 36;
	for (uint32_t i = 0; i < f->nslots && i < CONS_MAX_SLOTS; i++, off += 8)
		le64_put(b + off, f->slot_owner[i]);
	return off + put_str(b + off, f->label, CONS_LABEL_MAX);
}

int rec_fs_dec(const void *buf, size_t len, struct cons_fs *f)
{
	const uint8_t *b = buf;
	size_t off;
	memset(f, 0, sizeof(*f));
	if (len < 36)
		return -EIO;
	memcpy(f->uuid, b, CONS_UUID_BYTES);
	memcpy(f->device_uuid, b + 16, CONS_UUID_BYTES);
	f->nslots = le32_get(b + 32);
	if (f->nslots == 0 || f->nslots > CONS_MAX_SLOTS || len < 36 + 8 * (size_t)f->nslots)
		return -EIO;
	off = 36;
	for (uint32_t i = 0; i < f->nslots; i++, off += 8)
		f->slot_owner[i] = le64_get(b + off);
	return get_last_str(b, len, off, f->label, CONS_LABEL_MAX);
}

size_t rec_fence_enc(const struct cons_fence *f, uint8_t *b)
{
	le64_put(b, f->node_id);
	le64_put(b + 8, f->incarnation);
	le64_put(b + 16, f->generation);
	le64_put(b + 24, f->date_ms);
	return 32 + put_str(b + 32, f->reason, CONS_REASON_MAX);
}

int rec_fence_dec(const void *buf, size_t len, struct cons_fence *f)
{
	const uint8_t *b = buf;
	memset(f, 0, sizeof(*f));
	if (len < 32)
		return -EIO;
	f->node_id = le64_get(b);
	f->incarnation = le64_get(b + 8);
	f->generation = le64_get(b + 16);
	f->date_ms = le64_get(b + 24);
	return get_last_str(b, len, 32, f->reason, CONS_REASON_MAX);
}

size_t rec_cluster_enc(const struct cons_cluster *c, uint8_t *b)
{
	le64_put(b, c->generation);
	le64_put(b + 8, c->adm_id);
	le64_put(b + 16, c->adm_term);
	return 24;
}

int rec_cluster_dec(const void *buf, size_t len, struct cons_cluster *c)
{
	const uint8_t *b = buf;
	memset(c, 0, sizeof(*c));
	if (len != 24)
		return -EIO;
	c->generation = le64_get(b);
	c->adm_id = le64_get(b + 8);
	c->adm_term = le64_get(b + 16);
	return 0;
}

size_t rec_ccdrec_enc(const struct ccd_record *r, uint8_t *b)
{
	uint32_t n = r->nmembers > 64 ? 64 : r->nmembers;
	le64_put(b, r->generation);
	le64_put(b + 8, r->date_ms);
	le64_put(b + 16, r->length);
	le32_put(b + 24, r->checksum);
	b[28] = r->restored ? 1 : 0;
	le32_put(b + 29, n);
	for (uint32_t i = 0; i < n; i++)
		le64_put(b + 33 + 8 * i, r->members[i]);
	return 33 + 8 * (size_t)n;
}

int rec_ccdrec_dec(const void *buf, size_t len, struct ccd_record *r)
{
	const uint8_t *b = buf;
	memset(r, 0, sizeof(*r));
	if (len < 33)
		return -EIO;
	r->generation = le64_get(b);
	r->date_ms = le64_get(b + 8);
	r->length = le64_get(b + 16);
	r->checksum = le32_get(b + 24);
	r->restored = b[28] != 0;
	r->nmembers = le32_get(b + 29);
	if (r->nmembers > 64 || len != 33 + 8 * (size_t)r->nmembers)
		return -EIO;
	for (uint32_t i = 0; i < r->nmembers; i++)
		r->members[i] = le64_get(b + 33 + 8 * i);
	return 0;
}
