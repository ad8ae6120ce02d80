/* common/mountinfo.h: one line of /proc/self/mountinfo, decoded.
 *
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *   id parent maj:min root mountpoint opts [optional...] - fstype source superopts
 *
 * The kernel writes a space, tab, newline or backslash in a path as \ooo
 * (octal): a mount point "/mnt/a b" reads "/mnt/a\040b", and comparing the
 * raw field with a path would miss it. mountinfo_parse decodes the mount
 * point and the source. */
#ifndef SANFS_COMMON_MOUNTINFO_H
#define SANFS_COMMON_MOUNTINFO_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct mountinfo_line {
	char devno[64]; /* "maj:min" */
	char mp[4096];
	char fstype[256];
	char src[4096];
	char opts[512]; /* the mount's own options ("rw,nosuid,relatime") */
	bool super_ro;	/* the superblock's options start with "ro" */
};

/* Decodes the \ooo escapes of s in place. */
static inline void mountinfo_unescape(char *s)
{
	char *o = s;
	for (const char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			*o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else {
			*o++ = *p;
		}
	}
	*o = 0;
}

/* Fills m from one line; false when the line is not one of mountinfo's. */
static inline bool mountinfo_parse(const char *line, struct mountinfo_line *m)
{
	const char *sep = strstr(line, " - ");
	char sopts[4];
	if (!sep || sscanf(line, "%*s %*s %63s %*s %4095s %511s", m->devno, m->mp, m->opts) != 3)
		return false;
	int n = sscanf(sep + 3, "%255s %4095s %3[^,\n ]", m->fstype, m->src, sopts);
	if (n < 2)
		return false;
	m->super_ro = n == 3 && !strcmp(sopts, "ro");
	mountinfo_unescape(m->mp);
	mountinfo_unescape(m->src);
	return true;
}

#endif
