/* Fuzz target: the DLM message decoder and every message handler behind it.
 * Input byte 0 is a mode; the rest is one message (padded or cut to 88
 * bytes). With mode bit 0 set, the CRC is fixed up so that the fuzzer reaches
 * the field checks and the handlers: a lockspace of node 1 (members 1, 2, 3)
 * receives each decoded message and must neither crash nor leak; it is
 * rebuilt every few thousand inputs to bound the state garbage leaves. */
#include <stdlib.h>

#include "fuzz_common.h"
#include "locks/dlm.h"
#include "locks/dlm_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int drop(void *arg, uint32_t to, const uint8_t msg[DLM_MSG_SIZE])
{
	(void)arg;
	(void)to;
	struct dlm_msg m;
	FUZZ_CHECK(dlm_msg_decode(msg, DLM_MSG_SIZE, &m) == 0); /* we only send valid ones */
	return 0;
}

static struct dlm_ls *ls;
static unsigned fed;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_quiet();
	struct dlm_msg m, again;
	int rc = dlm_msg_decode(data, size, &m);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	if (size == 0)
		return 0;
	uint8_t buf[DLM_MSG_SIZE] = {0};
	size_t n = size - 1 < DLM_MSG_SIZE ? size - 1 : DLM_MSG_SIZE;
	memcpy(buf, data + 1, n);
	if (data[0] & 1)
		le32_put(buf + 80, crc32c(0, buf, 80));
	if (dlm_msg_decode(buf, sizeof(buf), &m) != 0)
		return 0;
	/* Round trip. */
	uint8_t enc[DLM_MSG_SIZE];
	dlm_msg_encode(&m, enc);
	FUZZ_CHECK(dlm_msg_decode(enc, sizeof(enc), &again) == 0);
	FUZZ_CHECK(memcmp(enc, buf, sizeof(enc)) == 0);
	(void)dlm_msg_type_name(m.type);
	if (!ls || ++fed % 4096 == 0) {
		dlm_ls_destroy(ls);
		struct dlm_ls_ops ops = {drop, NULL};
		uint32_t members[3] = {1, 2, 3};
		FUZZ_CHECK(dlm_ls_create(1, &ops, &ls) == 0);
		FUZZ_CHECK(dlm_ls_set_members(ls, 1, members, 3) == 0);
	}
	rc = dlm_ls_receive(ls, buf, sizeof(buf));
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	return 0;
}
