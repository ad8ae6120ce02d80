#include "locks/dlm_mode.h"

#include <errno.h>
#include <strings.h>

static const bool compat[DLM_MODES][DLM_MODES] = {
    /*          NL     CR     CW     PR     PW     EX */
    /* NL */ {true, true, true, true, true, true},
    /* CR */ {true, true, true, true, true, false},
    /* CW */ {true, true, true, false, false, false},
    /* PR */ {true, true, false, true, false, false},
    /* PW */ {true, true, false, false, false, false},
    /* EX */ {true, false, false, false, false, false},
};

/* covers[have][want]: every right of want is a right of have. */
static const bool covers[DLM_MODES][DLM_MODES] = {
    /*          NL     CR     CW     PR     PW     EX */
    /* NL */ {true, false, false, false, false, false},
    /* CR */ {true, true, false, false, false, false},
    /* CW */ {true, true, true, false, false, false},
    /* PR */ {true, true, false, true, false, false},
    /* PW */ {true, true, true, true, true, false},
    /* EX */ {true, true, true, true, true, true},
};

static const char *const names[DLM_MODES] = {"NL", "CR", "CW", "PR", "PW", "EX"};

bool dlm_mode_valid(int mode)
{
	return mode >= DLM_NL && mode < DLM_MODES;
}

bool dlm_mode_compat(enum dlm_mode a, enum dlm_mode b)
{
	return compat[a][b];
}

bool dlm_mode_covers(enum dlm_mode have, enum dlm_mode want)
{
	return covers[have][want];
}

enum dlm_mode dlm_mode_sup(enum dlm_mode a, enum dlm_mode b)
{
	for (int m = DLM_NL; m < DLM_MODES; m++)
		if (covers[m][a] && covers[m][b])
			return (enum dlm_mode)m;
	return DLM_EX;
}

const char *dlm_mode_name(enum dlm_mode m)
{
	return dlm_mode_valid((int)m) ? names[m] : "??";
}

int dlm_mode_parse(const char *s, enum dlm_mode *out)
{
	for (int m = DLM_NL; m < DLM_MODES; m++)
		if (!strcasecmp(s, names[m])) {
			*out = (enum dlm_mode)m;
			return 0;
		}
	return -EINVAL;
}
