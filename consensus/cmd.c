/* Encoding of replicated commands (consensus.h, struct cons_cmd): the one
 * place where a command becomes bytes in the Raft log and back.
 *
 * Layout, little-endian:
 *   [0..1]  magic "SC"
 *   [2]     version (1)
 *   [3]     type (enum cons_cmd_type)
 *   [4..11] date_ms u64
 *   [12..]  payload of the type, fields in declaration order:
 *           u32/u64 as such, uuid as 16 bytes, strings as u16 length + bytes
 *           (no NUL, length < the field's size), blob as u32 length + bytes.
 * A buffer with bytes left over after the payload is rejected. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/endian_le.h"
#include "consensus/consensus.h"

#define CMD_MAGIC0  'S'
#define CMD_MAGIC1  'C'
#define CMD_VERSION 1
#define CMD_HDR	    12

struct wr {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static void wr_need(struct wr *w, size_t n)
{
	if (w->err)
		return;
	if (w->len + n <= w->cap)
		return;
	size_t cap = w->cap ? w->cap : 256;
	while (cap < w->len + n)
		cap *= 2;
	uint8_t *p = realloc(w->p, cap);
	if (!p) {
		w->err = -ENOMEM;
		return;
	}
	w->p = p;
	w->cap = cap;
}

static void wr_bytes(struct wr *w, const void *b, size_t n)
{
	wr_need(w, n);
	if (w->err)
		return;
	if (n)
		memcpy(w->p + w->len, b, n);
	w->len += n;
}

static void wr_u8(struct wr *w, uint8_t v)
{
	wr_bytes(w, &v, 1);
}

static void wr_u16(struct wr *w, uint16_t v)
{
	uint8_t b[2];
	le16_put(b, v);
	wr_bytes(w, b, 2);
}

static void wr_u32(struct wr *w, uint32_t v)
{
	uint8_t b[4];
	le32_put(b, v);
	wr_bytes(w, b, 4);
}

static void wr_u64(struct wr *w, uint64_t v)
{
	uint8_t b[8];
	le64_put(b, v);
	wr_bytes(w, b, 8);
}

/* flags for strings */
#define STR_NONEMPTY 1
#define STR_NONL     2

static bool str_ok(const char *s, size_t n, unsigned flags)
{
	if ((flags & STR_NONEMPTY) && n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\0')
			return false;
		if ((flags & STR_NONL) && (s[i] == '\n' || s[i] == '\r'))
			return false;
	}
	return true;
}

static void wr_str(struct wr *w, const char *s, size_t max, unsigned flags)
{
	size_t n = strnlen(s, max);
	if (n >= max || !str_ok(s, n, flags)) {
		if (!w->err)
			w->err = -EINVAL;
		return;
	}
	wr_u16(w, (uint16_t)n);
	wr_bytes(w, s, n);
}

struct rd {
	const uint8_t *p;
	size_t len, off;
	int err;
};

static const uint8_t *rd_take(struct rd *r, size_t n)
{
	if (r->err || r->len - r->off < n) {
		r->err = -EINVAL;
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

static uint16_t rd_u16(struct rd *r)
{
	const uint8_t *p = rd_take(r, 2);
	return p ? le16_get(p) : 0;
}

static uint32_t rd_u32(struct rd *r)
{
	const uint8_t *p = rd_take(r, 4);
	return p ? le32_get(p) : 0;
}

static uint64_t rd_u64(struct rd *r)
{
	const uint8_t *p = rd_take(r, 8);
	return p ? le64_get(p) : 0;
}

static void rd_bytes(struct rd *r, void *out, size_t n)
{
	const uint8_t *p = rd_take(r, n);
	if (p)
		memcpy(out, p, n);
}

static void rd_str(struct rd *r, char *out, size_t max, unsigned flags)
{
	uint16_t n = rd_u16(r);
	const uint8_t *p = rd_take(r, n);
	if (!p || n >= max || !str_ok((const char *)p, n, flags)) {
		r->err = -EINVAL;
		out[0] = '\0';
		return;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

/* Batch payload: u32 count, then per item u8 type, key, text (strings as
 * in a CCD_FORMAT/ADD/REMOVE command). */
static bool batch_type_ok(uint32_t t)
{
	return t == CONS_CMD_CCD_FORMAT || t == CONS_CMD_CCD_ADD || t == CONS_CMD_CCD_REMOVE;
}

int cons_ccd_batch_encode(const struct cons_ccd_item *items, size_t n, uint8_t **out, size_t *len)
{
	struct wr w = {0};

	*out = NULL;
	*len = 0;
	if (n == 0 || n > CONS_CCD_BATCH_MAX)
		return -EINVAL;
	wr_u32(&w, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		if (!batch_type_ok(items[i].type) && !w.err)
			w.err = -EINVAL;
		wr_u8(&w, (uint8_t)items[i].type);
		wr_str(&w, items[i].key, CCD_KEY_MAX, STR_NONEMPTY | STR_NONL);
		wr_str(&w, items[i].text, CCD_ROW_MAX, STR_NONL);
	}
	if (w.err) {
		free(w.p);
		return w.err;
	}
	*out = w.p;
	*len = w.len;
	return 0;
}

int cons_ccd_batch_next(const uint8_t *buf, size_t len, size_t *off, struct cons_ccd_item *it)
{
	struct rd r = {.p = buf, .len = len, .off = *off};
	if (r.off == 0) {
		uint32_t n = rd_u32(&r);
		if (r.err || n == 0 || n > CONS_CCD_BATCH_MAX)
			return -EINVAL;
	}
	if (r.off == r.len)
		return 0;
	it->type = rd_take(&r, 1) ? buf[r.off - 1] : 0;
	rd_str(&r, it->key, CCD_KEY_MAX, STR_NONEMPTY | STR_NONL);
	rd_str(&r, it->text, CCD_ROW_MAX, STR_NONL);
	if (r.err || !batch_type_ok(it->type))
		return -EINVAL;
	*off = r.off;
	return 1;
}

/* Whole-payload check: the count matches the items and each is valid. */
static int batch_check(const uint8_t *buf, size_t len)
{
	struct cons_ccd_item *it = malloc(sizeof(*it));
	size_t off = 0, n = 0;
	int rc;
	if (!it)
		return -ENOMEM;
	while ((rc = cons_ccd_batch_next(buf, len, &off, it)) == 1)
		n++;
	free(it);
	if (rc || len < 4 || le32_get(buf) != n)
		return -EINVAL;
	return 0;
}

const char *cons_cmd_name(uint32_t type)
{
	static const char *const names[] = {
	    [CONS_CMD_ADM_TAKEOVER] = "adm-takeover",
	    [CONS_CMD_MEMBER_PUT] = "member-put",
	    [CONS_CMD_MEMBER_DEL] = "member-del",
	    [CONS_CMD_FENCE] = "fence",
	    [CONS_CMD_UNFENCE] = "unfence",
	    [CONS_CMD_DEVICE_PUT] = "device-put",
	    [CONS_CMD_DEVICE_DEL] = "device-del",
	    [CONS_CMD_FS_PUT] = "fs-put",
	    [CONS_CMD_FS_DEL] = "fs-del",
	    [CONS_CMD_SLOT_SET] = "slot-set",
	    [CONS_CMD_CCD_FORMAT] = "ccd-format",
	    [CONS_CMD_CCD_ADD] = "ccd-add",
	    [CONS_CMD_CCD_REMOVE] = "ccd-remove",
	    [CONS_CMD_CCD_RESTORE] = "ccd-restore",
	    [CONS_CMD_GEN_BUMP] = "gen-bump",
	    [CONS_CMD_CCD_BATCH] = "ccd-batch",
	};
	if (type == 0 || type > CONS_CMD_TYPE_MAX)
		return "?";
	return names[type];
}

int cons_cmd_encode(const struct cons_cmd *c, uint8_t **out, size_t *len)
{
	struct wr w = {0};

	*out = NULL;
	*len = 0;
	if (c->type == 0 || c->type > CONS_CMD_TYPE_MAX)
		return -EINVAL;
	wr_u8(&w, CMD_MAGIC0);
	wr_u8(&w, CMD_MAGIC1);
	wr_u8(&w, CMD_VERSION);
	wr_u8(&w, (uint8_t)c->type);
	wr_u64(&w, c->date_ms);
	switch (c->type) {
	case CONS_CMD_ADM_TAKEOVER:
		wr_u64(&w, c->u.adm.id);
		wr_u64(&w, c->u.adm.term);
		wr_str(&w, c->u.adm.address, CONS_ADDR_MAX, STR_NONL);
		break;
	case CONS_CMD_MEMBER_PUT:
		wr_u64(&w, c->u.member.id);
		wr_str(&w, c->u.member.address, CONS_ADDR_MAX, STR_NONEMPTY | STR_NONL);
		wr_u32(&w, c->u.member.state);
		wr_u64(&w, c->u.member.incarnation);
		if (c->u.member.state > CONS_MEMBER_FENCED)
			w.err = -EINVAL;
		break;
	case CONS_CMD_MEMBER_DEL:
	case CONS_CMD_UNFENCE:
		wr_u64(&w, c->u.id);
		break;
	case CONS_CMD_FENCE:
		wr_u64(&w, c->u.fence.node_id);
		wr_u64(&w, c->u.fence.incarnation);
		wr_str(&w, c->u.fence.reason, CONS_REASON_MAX, STR_NONL);
		break;
	case CONS_CMD_DEVICE_PUT:
		wr_bytes(&w, c->u.device.uuid, CONS_UUID_BYTES);
		wr_str(&w, c->u.device.label, CONS_LABEL_MAX, STR_NONEMPTY | STR_NONL);
		wr_u64(&w, c->u.device.size);
		wr_u32(&w, c->u.device.state);
		if (c->u.device.state > CONS_DEV_ERROR)
			w.err = -EINVAL;
		break;
	case CONS_CMD_DEVICE_DEL:
	case CONS_CMD_FS_DEL:
		wr_bytes(&w, c->u.uuid, CONS_UUID_BYTES);
		break;
	case CONS_CMD_FS_PUT:
		wr_bytes(&w, c->u.fs.uuid, CONS_UUID_BYTES);
		wr_str(&w, c->u.fs.label, CONS_LABEL_MAX, STR_NONEMPTY | STR_NONL);
		wr_bytes(&w, c->u.fs.device_uuid, CONS_UUID_BYTES);
		wr_u32(&w, c->u.fs.nslots);
		if (c->u.fs.nslots == 0 || c->u.fs.nslots > CONS_MAX_SLOTS)
			w.err = -EINVAL;
		break;
	case CONS_CMD_SLOT_SET:
		wr_bytes(&w, c->u.slot.fs_uuid, CONS_UUID_BYTES);
		wr_u32(&w, c->u.slot.slot);
		wr_u64(&w, c->u.slot.node_id);
		wr_u64(&w, c->u.slot.expect);
		if (c->u.slot.slot >= CONS_MAX_SLOTS)
			w.err = -EINVAL;
		break;
	case CONS_CMD_CCD_FORMAT:
	case CONS_CMD_CCD_ADD:
	case CONS_CMD_CCD_REMOVE:
		wr_str(&w, c->u.ccd.key, CCD_KEY_MAX, STR_NONEMPTY | STR_NONL);
		wr_str(&w, c->u.ccd.text, CCD_ROW_MAX, STR_NONL);
		break;
	case CONS_CMD_CCD_RESTORE:
		if (c->u.blob.len > CONS_CCD_BLOB_MAX || (c->u.blob.len && !c->u.blob.data)) {
			w.err = -EINVAL;
			break;
		}
		wr_u32(&w, (uint32_t)c->u.blob.len);
		wr_bytes(&w, c->u.blob.data, c->u.blob.len);
		break;
	case CONS_CMD_CCD_BATCH:
		if (c->u.blob.len > CONS_CCD_BLOB_MAX || !c->u.blob.data ||
		    batch_check(c->u.blob.data, c->u.blob.len)) {
			w.err = -EINVAL;
			break;
		}
		wr_u32(&w, (uint32_t)c->u.blob.len);
		wr_bytes(&w, c->u.blob.data, c->u.blob.len);
		break;
	case CONS_CMD_GEN_BUMP:
		break;
	}
	if (w.err) {
		free(w.p);
		return w.err;
	}
	*out = w.p;
	*len = w.len;
	return 0;
}

int cons_cmd_decode(const void *buf, size_t len, struct cons_cmd *c)
{
	struct rd r = {.p = buf, .len = len};
	const uint8_t *h;

	memset(c, 0, sizeof(*c));
	if (!buf || len < CMD_HDR)
		return -EINVAL;
	h = rd_take(&r, 4);
	if (h[0] != CMD_MAGIC0 || h[1] != CMD_MAGIC1 || h[2] != CMD_VERSION)
		return -EINVAL;
	c->type = h[3];
	if (c->type == 0 || c->type > CONS_CMD_TYPE_MAX)
		return -EINVAL;
	c->date_ms = rd_u64(&r);
	switch (c->type) {
	case CONS_CMD_ADM_TAKEOVER:
		c->u.adm.id = rd_u64(&r);
		c->u.adm.term = rd_u64(&r);
		rd_str(&r, c->u.adm.address, CONS_ADDR_MAX, STR_NONL);
		break;
	case CONS_CMD_MEMBER_PUT:
		c->u.member.id = rd_u64(&r);
		rd_str(&r, c->u.member.address, CONS_ADDR_MAX, STR_NONEMPTY | STR_NONL);
		c->u.member.state = rd_u32(&r);
		c->u.member.incarnation = rd_u64(&r);
		if (c->u.member.state > CONS_MEMBER_FENCED)
			r.err = -EINVAL;
		break;
	case CONS_CMD_MEMBER_DEL:
	case CONS_CMD_UNFENCE:
		c->u.id = rd_u64(&r);
		break;
	case CONS_CMD_FENCE:
		c->u.fence.node_id = rd_u64(&r);
		c->u.fence.incarnation = rd_u64(&r);
		rd_str(&r, c->u.fence.reason, CONS_REASON_MAX, STR_NONL);
		break;
	case CONS_CMD_DEVICE_PUT:
		rd_bytes(&r, c->u.device.uuid, CONS_UUID_BYTES);
		rd_str(&r, c->u.device.label, CONS_LABEL_MAX, STR_NONEMPTY | STR_NONL);
		c->u.device.size = rd_u64(&r);
		c->u.device.state = rd_u32(&r);
		if (c->u.device.state > CONS_DEV_ERROR)
			r.err = -EINVAL;
		break;
	case CONS_CMD_DEVICE_DEL:
	case CONS_CMD_FS_DEL:
		rd_bytes(&r, c->u.uuid, CONS_UUID_BYTES);
		break;
	case CONS_CMD_FS_PUT:
		rd_bytes(&r, c->u.fs.uuid, CONS_UUID_BYTES);
		rd_str(&r, c->u.fs.label, CONS_LABEL_MAX, STR_NONEMPTY | STR_NONL);
		rd_bytes(&r, c->u.fs.device_uuid, CONS_UUID_BYTES);
		c->u.fs.nslots = rd_u32(&r);
		if (c->u.fs.nslots == 0 || c->u.fs.nslots > CONS_MAX_SLOTS)
			r.err = -EINVAL;
		break;
	case CONS_CMD_SLOT_SET:
		rd_bytes(&r, c->u.slot.fs_uuid, CONS_UUID_BYTES);
		c->u.slot.slot = rd_u32(&r);
		c->u.slot.node_id = rd_u64(&r);
		c->u.slot.expect = rd_u64(&r);
		if (c->u.slot.slot >= CONS_MAX_SLOTS)
			r.err = -EINVAL;
		break;
	case CONS_CMD_CCD_FORMAT:
	case CONS_CMD_CCD_ADD:
	case CONS_CMD_CCD_REMOVE:
		rd_str(&r, c->u.ccd.key, CCD_KEY_MAX, STR_NONEMPTY | STR_NONL);
		rd_str(&r, c->u.ccd.text, CCD_ROW_MAX, STR_NONL);
		break;
	case CONS_CMD_CCD_RESTORE: {
		uint32_t n = rd_u32(&r);
		if (r.err || n > CONS_CCD_BLOB_MAX) {
			r.err = -EINVAL;
			break;
		}
		c->u.blob.data = rd_take(&r, n);
		c->u.blob.len = n;
		break;
	}
	case CONS_CMD_CCD_BATCH: {
		uint32_t n = rd_u32(&r);
		if (r.err || n > CONS_CCD_BLOB_MAX) {
			r.err = -EINVAL;
			break;
		}
		c->u.blob.data = rd_take(&r, n);
		c->u.blob.len = n;
		if (!r.err && batch_check(c->u.blob.data, n))
			r.err = -EINVAL;
		break;
	}
	case CONS_CMD_GEN_BUMP:
		break;
	}
	if (!r.err && r.off != r.len)
		r.err = -EINVAL;
	if (r.err) {
		memset(c, 0, sizeof(*c));
		return -EINVAL;
	}
	return 0;
}
