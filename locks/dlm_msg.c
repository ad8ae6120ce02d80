#include "locks/dlm_msg.h"

#include <errno.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/endian_le.h"

#define DLM_LKF_ALL                                                                                \
	(DLM_LKF_NOQUEUE | DLM_LKF_EXPAND | DLM_SBF_DEMOTED | (1u << 9) | DLM_SBF_CANCEL)

void dlm_msg_encode(const struct dlm_msg *m, uint8_t out[DLM_MSG_SIZE])
{
	memset(out, 0, DLM_MSG_SIZE);
	le32_put(out + 0, DLM_MSG_MAGIC);
	le16_put(out + 4, DLM_MSG_VERSION);
	le16_put(out + 6, (uint16_t)m->type);
	le32_put(out + 8, m->from);
	le32_put(out + 12, m->flags);
	le64_put(out + 16, m->epoch);
	le64_put(out + 24, m->lkid);
	le64_put(out + 32, m->name.fs);
	le64_put(out + 40, m->name.id);
	out[48] = m->name.type;
	out[49] = (uint8_t)m->mode;
	le32_put(out + 52, (uint32_t)m->error);
	le64_put(out + 56, m->range.start);
	le64_put(out + 64, m->range.end);
	le32_put(out + 72, m->pid);
	le32_put(out + 76, m->owner);
	le32_put(out + 80, crc32c(0, out, 80));
}

int dlm_msg_decode(const void *buf, size_t len, struct dlm_msg *m)
{
	const uint8_t *in = buf;
	if (len != DLM_MSG_SIZE || le32_get(in) != DLM_MSG_MAGIC ||
	    le16_get(in + 4) != DLM_MSG_VERSION || le32_get(in + 80) != crc32c(0, in, 80))
		return -EINVAL;
	if (le16_get(in + 50) || le32_get(in + 84))
		return -EINVAL;
	uint16_t type = le16_get(in + 6);
	if (type == 0 || type >= DLM_MSG_TYPE_MAX)
		return -EINVAL;
	uint32_t flags = le32_get(in + 12);
	if (flags & ~(uint32_t)DLM_LKF_ALL)
		return -EINVAL;
	if (!dlm_mode_valid(in[49]))
		return -EINVAL;
	struct dlm_range r = {le64_get(in + 56), le64_get(in + 64)};
	if (!dlm_range_valid(&r))
		return -EINVAL;
	*m = (struct dlm_msg){
	    .type = (enum dlm_msg_type)type,
	    .from = le32_get(in + 8),
	    .flags = flags,
	    .epoch = le64_get(in + 16),
	    .lkid = le64_get(in + 24),
	    .name = {.fs = le64_get(in + 32), .id = le64_get(in + 40), .type = in[48]},
	    .mode = (enum dlm_mode)in[49],
	    .error = (int32_t)le32_get(in + 52),
	    .range = r,
	    .pid = le32_get(in + 72),
	    .owner = le32_get(in + 76),
	};
	return 0;
}

const char *dlm_msg_type_name(enum dlm_msg_type t)
{
	static const char *const names[DLM_MSG_TYPE_MAX] = {
	    "?",	 "REQUEST",	 "CONVERT",	 "UNLOCK",	  "GRANT",
	    "REPLY",	 "BAST",	 "RECOVER_LOCK", "RECOVER_DONE",  "PLOCK",
	    "PLOCK_GET", "PLOCK_CANCEL", "PLOCK_REPLY",	 "PLOCK_RECOVER", "CANCEL"};
	return (t > 0 && t < DLM_MSG_TYPE_MAX) ? names[t] : "?";
}
