/* perm: POSIX permission checks and ACL evaluation (see perm.h). */
#include "fs/perm.h"

#include <errno.h>
#include <sys/stat.h>

#include "common/endian_le.h"

bool perm_is_root(const struct perm_cred *c)
{
	return c->uid == 0;
}

bool perm_in_group(const struct perm_cred *c, uint32_t gid)
{
	if (c->gid == gid)
		return true;
	for (unsigned i = 0; i < c->ngroups; i++)
		if ((uint32_t)c->groups[i] == gid)
			return true;
	return false;
}

static unsigned acl_count(size_t len)
{
	return (unsigned)((len - PERM_ACL_HDR) / PERM_ACL_ENTRY);
}

static const uint8_t *acl_entry(const void *acl, unsigned i)
{
	return (const uint8_t *)acl + PERM_ACL_HDR + (size_t)i * PERM_ACL_ENTRY;
}

int perm_acl_valid(const void *acl, size_t len)
{
	if (!acl || len < PERM_ACL_HDR || (len - PERM_ACL_HDR) % PERM_ACL_ENTRY)
		return -EINVAL;
	if (le32_get(acl) != PERM_ACL_VERSION)
		return -EINVAL;
	unsigned n = acl_count(len);
	if (n == 0)
		return 0;
	if (n > PERM_ACL_MAX_ENTRIES)
		return -EINVAL;
	unsigned seen = 0, named = 0, prev_tag = 0;
	uint32_t prev_id = 0;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *e = acl_entry(acl, i);
		unsigned tag = le16_get(e), perm = le16_get(e + 2);
		uint32_t id = le32_get(e + 4);
		if (perm & ~7u)
			return -EINVAL;
		if (tag < prev_tag)
			return -EINVAL;
		switch (tag) {
		case PERM_ACL_USER_OBJ:
		case PERM_ACL_GROUP_OBJ:
		case PERM_ACL_MASK:
		case PERM_ACL_OTHER:
			if (seen & tag)
				return -EINVAL;
			break;
		case PERM_ACL_USER:
		case PERM_ACL_GROUP:
			if (id == UINT32_MAX)
				return -EINVAL;
			if (tag == prev_tag && id <= prev_id)
				return -EINVAL;
			named++;
			break;
		default:
			return -EINVAL;
		}
		seen |= tag;
		prev_tag = tag;
		prev_id = id;
	}
	unsigned need = PERM_ACL_USER_OBJ | PERM_ACL_GROUP_OBJ | PERM_ACL_OTHER;
	if ((seen & need) != need)
		return -EINVAL;
	if (named && !(seen & PERM_ACL_MASK))
		return -EINVAL;
	return (int)n;
}

/* Find the first entry with tag; NULL when none. */
static uint8_t *acl_find(void *acl, size_t len, unsigned tag)
{
	unsigned n = acl_count(len);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *e = (uint8_t *)acl_entry(acl, i);
		if (le16_get(e) == tag)
			return e;
	}
	return NULL;
}

static int acl_permission(const struct perm_obj *o, const struct perm_cred *c, int want)
{
	int n = perm_acl_valid(o->acl, o->acl_len);
	if (n < 0)
		return n;
	int mask = 7;
	const uint8_t *me = acl_find((void *)o->acl, o->acl_len, PERM_ACL_MASK);
	if (me)
		mask = le16_get(me + 2);
	bool group_matched = false;
	for (int i = 0; i < n; i++) {
		const uint8_t *e = acl_entry(o->acl, (unsigned)i);
		unsigned tag = le16_get(e);
		int perm = le16_get(e + 2);
		uint32_t id = le32_get(e + 4);
		switch (tag) {
		case PERM_ACL_USER_OBJ:
			if (c->uid == o->uid)
				return (perm & want) == want ? 0 : -EACCES;
			break;
		case PERM_ACL_USER:
			if (c->uid == id)
				return (perm & mask & want) == want ? 0 : -EACCES;
			break;
		case PERM_ACL_GROUP_OBJ:
		case PERM_ACL_GROUP:
			if (perm_in_group(c, tag == PERM_ACL_GROUP_OBJ ? o->gid : id)) {
				group_matched = true;
				if ((perm & mask & want) == want)
					return 0;
			}
			break;
		case PERM_ACL_MASK:
			break;
		case PERM_ACL_OTHER:
			if (group_matched)
				return -EACCES;
			return (perm & want) == want ? 0 : -EACCES;
		}
	}
	return -EACCES;
}

int perm_check(const struct perm_obj *o, const struct perm_cred *c, int mask)
{
	mask &= 7;
	if (perm_is_root(c)) {
		if (!(mask & PERM_X) || S_ISDIR(o->mode) || (o->mode & 0111))
			return 0;
		return -EACCES;
	}
	if (o->acl && o->acl_len > PERM_ACL_HDR)
		return acl_permission(o, c, mask);
	int bits;
	if (c->uid == o->uid)
		bits = (o->mode >> 6) & 7;
	else if (perm_in_group(c, o->gid))
		bits = (o->mode >> 3) & 7;
	else
		bits = o->mode & 7;
	return (bits & mask) == mask ? 0 : -EACCES;
}

int perm_may_delete(const struct perm_obj *dir, uint32_t victim_uid, const struct perm_cred *c)
{
	int r = perm_check(dir, c, PERM_W | PERM_X);
	if (r)
		return r;
	if ((dir->mode & S_ISVTX) && !perm_is_root(c) && c->uid != victim_uid && c->uid != dir->uid)
		return -EPERM;
	return 0;
}

int perm_chmod(const struct perm_obj *o, const struct perm_cred *c, uint32_t *mode)
{
	if (perm_is_root(c))
		return 0;
	if (c->uid != o->uid)
		return -EPERM;
	if (!S_ISDIR(o->mode) && (*mode & S_ISGID) && !perm_in_group(c, o->gid))
		*mode &= ~(uint32_t)S_ISGID;
	return 0;
}

int perm_chown(const struct perm_obj *o, const struct perm_cred *c, uint32_t uid, uint32_t gid)
{
	if (perm_is_root(c))
		return 0;
	if (uid != UINT32_MAX && uid != o->uid)
		return -EPERM;
	if (gid != UINT32_MAX && gid != o->gid) {
		if (c->uid != o->uid || !perm_in_group(c, gid))
			return -EPERM;
	}
	/* chown to the same ids still needs ownership (kernel chown_ok). */
	if (c->uid != o->uid && (uid != UINT32_MAX || gid != UINT32_MAX))
		return -EPERM;
	return 0;
}

uint32_t perm_mode_after_chown(uint32_t mode)
{
	if (S_ISDIR(mode))
		return mode;
	mode &= ~(uint32_t)S_ISUID;
	if (mode & S_IXGRP)
		mode &= ~(uint32_t)S_ISGID;
	return mode;
}

uint32_t perm_mode_kill_suidgid(uint32_t mode, uint32_t gid, const struct perm_cred *c)
{
	if (!S_ISREG(mode))
		return mode;
	mode &= ~(uint32_t)S_ISUID;
	if ((mode & S_ISGID) && ((mode & S_IXGRP) || !perm_in_group(c, gid)))
		mode &= ~(uint32_t)S_ISGID;
	return mode;
}

int perm_utimes(const struct perm_obj *o, const struct perm_cred *c, bool explicit_times)
{
	if (perm_is_root(c) || c->uid == o->uid)
		return 0;
	if (explicit_times)
		return -EPERM;
	return perm_check(o, c, PERM_W) ? -EACCES : 0;
}

int perm_acl_equiv_mode(const void *acl, size_t len, uint32_t *perm)
{
	int n = perm_acl_valid(acl, len);
	if (n < 0)
		return n;
	uint32_t m = 0;
	int equiv = 1, have_mask = 0;
	unsigned group_perm = 0;
	for (int i = 0; i < n; i++) {
		const uint8_t *e = acl_entry(acl, (unsigned)i);
		unsigned p = le16_get(e + 2);
		switch (le16_get(e)) {
		case PERM_ACL_USER_OBJ:
			m |= p << 6;
			break;
		case PERM_ACL_GROUP_OBJ:
			if (!have_mask)
				group_perm = p;
			break;
		case PERM_ACL_MASK:
			have_mask = 1;
			group_perm = p;
			equiv = 0;
			break;
		case PERM_ACL_OTHER:
			m |= p;
			break;
		default:
			equiv = 0;
		}
	}
	m |= group_perm << 3;
	if (perm)
		*perm = m;
	return equiv;
}

int perm_acl_chmod(void *acl, size_t len, uint32_t mode)
{
	if (perm_acl_valid(acl, len) < 0)
		return -EINVAL;
	uint8_t *u = acl_find(acl, len, PERM_ACL_USER_OBJ);
	uint8_t *g = acl_find(acl, len, PERM_ACL_MASK);
	if (!g)
		g = acl_find(acl, len, PERM_ACL_GROUP_OBJ);
	uint8_t *o = acl_find(acl, len, PERM_ACL_OTHER);
	if (!u || !g || !o)
		return -EINVAL;
	le16_put(u + 2, (uint16_t)((mode >> 6) & 7));
	le16_put(g + 2, (uint16_t)((mode >> 3) & 7));
	le16_put(o + 2, (uint16_t)(mode & 7));
	return 0;
}

int perm_acl_create_masq(void *acl, size_t len, uint32_t *mode)
{
	if (perm_acl_valid(acl, len) <= 0)
		return -EINVAL;
	uint8_t *u = acl_find(acl, len, PERM_ACL_USER_OBJ);
	uint8_t *g = acl_find(acl, len, PERM_ACL_MASK);
	if (!g)
		g = acl_find(acl, len, PERM_ACL_GROUP_OBJ);
	uint8_t *o = acl_find(acl, len, PERM_ACL_OTHER);
	uint32_t m = *mode;
	le16_put(u + 2, (uint16_t)(le16_get(u + 2) & ((m >> 6) & 7)));
	le16_put(g + 2, (uint16_t)(le16_get(g + 2) & ((m >> 3) & 7)));
	le16_put(o + 2, (uint16_t)(le16_get(o + 2) & (m & 7)));
	uint32_t perm = 0;
	int equiv = perm_acl_equiv_mode(acl, len, &perm);
	if (equiv < 0)
		return equiv;
	*mode = (m & ~0777u) | perm;
	return equiv ? 0 : 1;
}
