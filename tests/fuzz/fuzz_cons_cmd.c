/* libFuzzer target for the decoders of consensus/ (DESIGN §7: "encoders and
 * on-disk parsers also get a fuzz target"):
 *  - cons_cmd_decode: anything it accepts re-encodes to the same bytes, and
 *    applies to an LMDB store without crashing (apply must survive every
 *    well-formed command, whatever the state);
 *  - ccd_text_parse (checkpoint / init database text) and ccd_match;
 *  - auth_key_decode;
 *  - store_load (snapshot images).
 * The store lives under /var/tmp and is removed at exit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "consensus/auth.h"
#include "consensus/ccd.h"
#include "consensus/consensus.h"
#include "consensus/store.h"

static struct store *store;
static char dir[64];

static void cleanup(void)
{
	char cmd[128];
	store_close(store);
	store = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static int line_cb(void *data, enum ccd_line_type type, const char *key, const char *text)
{
	(void)data;
	(void)type;
	/* Lines handed out are valid by construction. */
	if (type == CCD_LINE_FORMAT && ccd_format_check(text) < 1)
		abort();
	if (type != CCD_LINE_RECORD && !ccd_key_valid(key))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cons_cmd cmd;
	uint8_t *re;
	size_t relen;

	if (!store) {
		/* Refused inputs log one line each: keep them out of the run. */
		log_setup("fuzz", 0, LOG_ERROR);
		if (log_open_file("/dev/null") != 0)
			abort();
		snprintf(dir, sizeof(dir), "/var/tmp/sanfs-fuzz-cons-%d", (int)getpid());
		if (store_open(dir, &store) != 0)
			abort();
		atexit(cleanup);
	}
	if (cons_cmd_decode(data, size, &cmd) == 0) {
		if (cons_cmd_encode(&cmd, &re, &relen) != 0)
			abort();
		if (relen != size || memcmp(re, data, size) != 0)
			abort();
		free(re);
		(void)store_apply(store, data, size);
	}
	(void)ccd_text_parse((const char *)data, size, line_cb, NULL, NULL);
	if (size > 1 && size < 4096) {
		char *s = malloc(size + 1);
		memcpy(s, data, size);
		s[size] = '\0';
		char *mid = s + strlen(s) / 2;
		char save = *mid;
		*mid = '\0';
		(void)ccd_match(s, mid + 1);
		*mid = save;
		struct auth_key k;
		(void)auth_key_decode(s, &k);
		free(s);
	}
	if (size >= 4 && memcmp(data, "SNS1", 4) == 0)
		(void)store_load(store, data, size);
	return 0;
}
