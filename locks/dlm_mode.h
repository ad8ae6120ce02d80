/* DLM lock modes and their compatibility (DESIGN §5), as in VMS and the Linux
 * DLM. The table is the truth; the code only looks it up.
 *
 *            requested ->  NL   CR   CW   PR   PW   EX
 *   granted  NL            yes  yes  yes  yes  yes  yes
 *            CR            yes  yes  yes  yes  yes  no
 *            CW            yes  yes  yes  no   no   no
 *            PR            yes  yes  no   yes  no   no
 *            PW            yes  yes  no   no   no   no
 *            EX            yes  no   no   no   no   no
 *
 * NL null (a placeholder that keeps the lock value), CR concurrent read,
 * CW concurrent write, PR protected read (shared), PW protected write (one
 * writer, readers in CR), EX exclusive. The modes are ordered by strength
 * NL < CR < CW < PR < PW < EX except that CW and PR are not comparable: the
 * supremum of CW and PR is PW. */
#ifndef SANFS_LOCKS_DLM_MODE_H
#define SANFS_LOCKS_DLM_MODE_H

#include <stdbool.h>
#include <stdint.h>

enum dlm_mode {
	DLM_NL = 0,
	DLM_CR = 1,
	DLM_CW = 2,
	DLM_PR = 3,
	DLM_PW = 4,
	DLM_EX = 5,
	DLM_MODES = 6,
};

bool dlm_mode_valid(int mode);
/* Whether a lock in mode a and one in mode b may be granted at once. */
bool dlm_mode_compat(enum dlm_mode a, enum dlm_mode b);
/* Whether holding `have` already gives everything `want` gives. */
bool dlm_mode_covers(enum dlm_mode have, enum dlm_mode want);
/* The weakest mode that covers both. */
enum dlm_mode dlm_mode_sup(enum dlm_mode a, enum dlm_mode b);
const char *dlm_mode_name(enum dlm_mode m);
/* Parse "NL".."EX" (case-insensitive); -EINVAL otherwise. */
int dlm_mode_parse(const char *s, enum dlm_mode *out);

#endif
