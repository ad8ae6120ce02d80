/* Unit tests of fs/perm: mode-bit checks, root override, sticky directories,
 * chmod/chown/utimes ownership rules, and POSIX ACL validation, evaluation,
 * chmod and inheritance on the Linux xattr format. */
#include <check.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "common/endian_le.h"
#include "fs/perm.h"

struct acl_e {
	unsigned tag, perm;
	uint32_t id;
};

/* Encode entries into buf; returns the length. */
static size_t acl_make(uint8_t *buf, const struct acl_e *e, unsigned n)
{
	le32_put(buf, PERM_ACL_VERSION);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *p = buf + PERM_ACL_HDR + i * PERM_ACL_ENTRY;
		le16_put(p, (uint16_t)e[i].tag);
		le16_put(p + 2, (uint16_t)e[i].perm);
		le32_put(p + 4, e[i].id);
	}
	return PERM_ACL_HDR + (size_t)n * PERM_ACL_ENTRY;
}

static const gid_t groups_10_20[] = {10, 20};

START_TEST(mode_bits)
{
	struct perm_obj o = {.mode = S_IFREG | 0640, .uid = 100, .gid = 10};
	struct perm_cred owner = {.uid = 100, .gid = 99};
	struct perm_cred member = {.uid = 101, .gid = 99, .ngroups = 2, .groups = groups_10_20};
	struct perm_cred other = {.uid = 102, .gid = 99};
	ck_assert_int_eq(perm_check(&o, &owner, PERM_R | PERM_W), 0);
	ck_assert_int_eq(perm_check(&o, &owner, PERM_X), -EACCES);
	ck_assert_int_eq(perm_check(&o, &member, PERM_R), 0);
	ck_assert_int_eq(perm_check(&o, &member, PERM_W), -EACCES);
	ck_assert_int_eq(perm_check(&o, &other, PERM_R), -EACCES);
	/* The owner class wins even when it grants less than the group. */
	o.mode = S_IFREG | 0070;
	struct perm_cred owner_in_group = {.uid = 100, .gid = 10};
	ck_assert_int_eq(perm_check(&o, &owner_in_group, PERM_R), -EACCES);
	ck_assert_int_eq(perm_check(&o, &member, PERM_R | PERM_W | PERM_X), 0);
}
END_TEST

START_TEST(root_override)
{
	struct perm_cred root = {.uid = 0, .gid = 0};
	struct perm_obj f = {.mode = S_IFREG | 0000, .uid = 5, .gid = 5};
	ck_assert_int_eq(perm_check(&f, &root, PERM_R | PERM_W), 0);
	ck_assert_int_eq(perm_check(&f, &root, PERM_X), -EACCES);
	f.mode = S_IFREG | 0001;
	ck_assert_int_eq(perm_check(&f, &root, PERM_X), 0);
	struct perm_obj d = {.mode = S_IFDIR | 0000, .uid = 5, .gid = 5};
	ck_assert_int_eq(perm_check(&d, &root, PERM_R | PERM_W | PERM_X), 0);
}
END_TEST

START_TEST(sticky_delete)
{
	struct perm_obj tmp = {.mode = S_IFDIR | 01777, .uid = 0, .gid = 0};
	struct perm_cred a = {.uid = 100, .gid = 100};
	struct perm_cred root = {.uid = 0};
	ck_assert_int_eq(perm_may_delete(&tmp, 100, &a), 0);
	ck_assert_int_eq(perm_may_delete(&tmp, 200, &a), -EPERM);
	ck_assert_int_eq(perm_may_delete(&tmp, 200, &root), 0);
	/* Owner of the directory may delete anything in it. */
	tmp.uid = 100;
	ck_assert_int_eq(perm_may_delete(&tmp, 200, &a), 0);
	/* Without write permission on the directory: EACCES, sticky or not. */
	struct perm_obj ro = {.mode = S_IFDIR | 0555, .uid = 0, .gid = 0};
	ck_assert_int_eq(perm_may_delete(&ro, 100, &a), -EACCES);
}
END_TEST

START_TEST(chmod_chown_rules)
{
	struct perm_obj f = {.mode = S_IFREG | 0644, .uid = 100, .gid = 10};
	struct perm_cred owner = {.uid = 100, .gid = 100, .ngroups = 2, .groups = groups_10_20};
	struct perm_cred owner_nogrp = {.uid = 100, .gid = 100};
	struct perm_cred other = {.uid = 101, .gid = 10};
	struct perm_cred root = {.uid = 0};
	uint32_t m = 02755;
	ck_assert_int_eq(perm_chmod(&f, &other, &m), -EPERM);
	ck_assert_int_eq(perm_chmod(&f, &owner, &m), 0);
	ck_assert_uint_eq(m, 02755);
	m = 02755;
	ck_assert_int_eq(perm_chmod(&f, &owner_nogrp, &m), 0);
	ck_assert_uint_eq(m, 0755); /* setgid dropped: not in the file's group */
	m = 02755;
	ck_assert_int_eq(perm_chmod(&f, &root, &m), 0);
	ck_assert_uint_eq(m, 02755);

	ck_assert_int_eq(perm_chown(&f, &owner, 101, UINT32_MAX), -EPERM);
	ck_assert_int_eq(perm_chown(&f, &owner, 100, 20), 0);
	ck_assert_int_eq(perm_chown(&f, &owner, UINT32_MAX, 30), -EPERM);
	ck_assert_int_eq(perm_chown(&f, &other, UINT32_MAX, 10), -EPERM);
	ck_assert_int_eq(perm_chown(&f, &root, 5, 5), 0);

	ck_assert_uint_eq(perm_mode_after_chown(S_IFREG | 06755), S_IFREG | 0755);
	/* setgid without group-exec is mandatory locking, not a privilege: kept. */
	ck_assert_uint_eq(perm_mode_after_chown(S_IFREG | 06745), S_IFREG | 02745);
	ck_assert_uint_eq(perm_mode_after_chown(S_IFDIR | 02755), S_IFDIR | 02755);
	/* Data changed by a caller without CAP_FSETID: setgid without
	 * group-exec stays only for a member of the file's group. */
	ck_assert_uint_eq(perm_mode_kill_suidgid(S_IFREG | 06755, 10, &owner), S_IFREG | 0755);
	ck_assert_uint_eq(perm_mode_kill_suidgid(S_IFREG | 06745, f.gid, &owner), S_IFREG | 02745);
	ck_assert_uint_eq(perm_mode_kill_suidgid(S_IFREG | 02666, 4242, &owner), S_IFREG | 0666);
	ck_assert_uint_eq(perm_mode_kill_suidgid(S_IFDIR | 06755, 10, &owner), S_IFDIR | 06755);
}
END_TEST

START_TEST(utimes_rules)
{
	struct perm_obj f = {.mode = S_IFREG | 0666, .uid = 100, .gid = 10};
	struct perm_cred other = {.uid = 101, .gid = 11};
	ck_assert_int_eq(perm_utimes(&f, &other, false), 0); /* writable: touch ok */
	ck_assert_int_eq(perm_utimes(&f, &other, true), -EPERM);
	f.mode = S_IFREG | 0644;
	ck_assert_int_eq(perm_utimes(&f, &other, false), -EACCES);
	struct perm_cred owner = {.uid = 100};
	ck_assert_int_eq(perm_utimes(&f, &owner, true), 0);
}
END_TEST

START_TEST(acl_validation)
{
	uint8_t b[256];
	struct acl_e ok[] = {{1, 7, UINT32_MAX}, {2, 5, 200},		{2, 4, 300},
			     {4, 5, UINT32_MAX}, {0x10, 7, UINT32_MAX}, {0x20, 0, UINT32_MAX}};
	ck_assert_int_eq(perm_acl_valid(b, acl_make(b, ok, 6)), 6);
	/* Named entry without a mask. */
	struct acl_e nomask[] = {{1, 7, 0}, {2, 5, 200}, {4, 5, 0}, {0x20, 0, 0}};
	ck_assert_int_eq(perm_acl_valid(b, acl_make(b, nomask, 4)), -EINVAL);
	/* Missing OTHER. */
	ck_assert_int_eq(perm_acl_valid(b, acl_make(b, ok, 5)), -EINVAL);
	/* Out of order / duplicate ids. */
	struct acl_e dup[] = {{1, 7, 0}, {2, 5, 300},  {2, 4, 200},
			      {4, 5, 0}, {0x10, 7, 0}, {0x20, 0, 0}};
	ck_assert_int_eq(perm_acl_valid(b, acl_make(b, dup, 6)), -EINVAL);
	/* Bad perm bits, bad tag, bad version, bad size. */
	struct acl_e badp[] = {{1, 8, 0}, {4, 5, 0}, {0x20, 0, 0}};
	ck_assert_int_eq(perm_acl_valid(b, acl_make(b, badp, 3)), -EINVAL);
	struct acl_e badt[] = {{1, 7, 0}, {3, 5, 0}, {4, 5, 0}, {0x20, 0, 0}};
	ck_assert_int_eq(perm_acl_valid(b, acl_make(b, badt, 4)), -EINVAL);
	size_t len = acl_make(b, ok, 6);
	le32_put(b, 1);
	ck_assert_int_eq(perm_acl_valid(b, len), -EINVAL);
	le32_put(b, 2);
	ck_assert_int_eq(perm_acl_valid(b, len - 1), -EINVAL);
	ck_assert_int_eq(perm_acl_valid(b, 3), -EINVAL);
	ck_assert_int_eq(perm_acl_valid(NULL, 0), -EINVAL);
	/* Header alone: the empty (default) ACL. */
	ck_assert_int_eq(perm_acl_valid(b, 4), 0);
}
END_TEST

START_TEST(acl_evaluation)
{
	uint8_t b[256];
	/* owner rwx, user 200 rw-, group 20 r--, owning group r-x, mask r--, other --- */
	struct acl_e e[] = {{1, 7, UINT32_MAX}, {2, 6, 200},	       {4, 5, UINT32_MAX},
			    {8, 4, 20},		{0x10, 4, UINT32_MAX}, {0x20, 0, UINT32_MAX}};
	size_t len = acl_make(b, e, 6);
	struct perm_obj o = {
	    .mode = S_IFREG | 0740, .uid = 100, .gid = 10, .acl = b, .acl_len = len};
	struct perm_cred owner = {.uid = 100, .gid = 1};
	struct perm_cred u200 = {.uid = 200, .gid = 1};
	struct perm_cred g20 = {.uid = 300, .gid = 20};
	struct perm_cred g10 = {.uid = 301, .gid = 10};
	struct perm_cred nobody = {.uid = 302, .gid = 2};
	ck_assert_int_eq(perm_check(&o, &owner, PERM_R | PERM_W | PERM_X), 0);
	ck_assert_int_eq(perm_check(&o, &u200, PERM_R), 0);
	ck_assert_int_eq(perm_check(&o, &u200, PERM_W), -EACCES); /* masked */
	ck_assert_int_eq(perm_check(&o, &g20, PERM_R), 0);
	ck_assert_int_eq(perm_check(&o, &g20, PERM_W), -EACCES);
	ck_assert_int_eq(perm_check(&o, &g10, PERM_R), 0);
	ck_assert_int_eq(perm_check(&o, &g10, PERM_X), -EACCES); /* masked */
	ck_assert_int_eq(perm_check(&o, &nobody, PERM_R), -EACCES);
	/* A matching group that does not grant denies even when other would. */
	e[5].perm = 7;
	len = acl_make(b, e, 6);
	ck_assert_int_eq(perm_check(&o, &g20, PERM_W), -EACCES);
	ck_assert_int_eq(perm_check(&o, &nobody, PERM_W), 0);
	/* A malformed ACL from disk is an error, not a grant. */
	le32_put(b, 7);
	ck_assert_int_eq(perm_check(&o, &nobody, PERM_R), -EINVAL);
}
END_TEST

START_TEST(acl_mode_sync)
{
	uint8_t b[256];
	struct acl_e base[] = {{1, 6, 0}, {4, 4, 0}, {0x20, 0, 0}};
	size_t len = acl_make(b, base, 3);
	uint32_t perm = 0;
	ck_assert_int_eq(perm_acl_equiv_mode(b, len, &perm), 1);
	ck_assert_uint_eq(perm, 0640);
	struct acl_e ext[] = {{1, 7, 0}, {2, 7, 200}, {4, 5, 0}, {0x10, 6, 0}, {0x20, 1, 0}};
	len = acl_make(b, ext, 5);
	ck_assert_int_eq(perm_acl_equiv_mode(b, len, &perm), 0);
	ck_assert_uint_eq(perm, 0761); /* group bits come from the mask */
	ck_assert_int_eq(perm_acl_chmod(b, len, 0705), 0);
	ck_assert_int_eq(perm_acl_equiv_mode(b, len, &perm), 0);
	ck_assert_uint_eq(perm, 0705);
	/* The named user's entry is untouched; the mask now limits it to nothing. */
	struct perm_obj o = {.mode = S_IFREG | 0705, .uid = 0, .gid = 0, .acl = b, .acl_len = len};
	struct perm_cred u200 = {.uid = 200, .gid = 9};
	ck_assert_int_eq(perm_check(&o, &u200, PERM_R), -EACCES);
}
END_TEST

START_TEST(acl_inherit)
{
	uint8_t b[256];
	/* Default ACL: owner rwx, user 200 rwx, group r-x, mask rwx, other r-x. */
	struct acl_e def[] = {{1, 7, 0}, {2, 7, 200}, {4, 5, 0}, {0x10, 7, 0}, {0x20, 5, 0}};
	size_t len = acl_make(b, def, 5);
	uint32_t mode = S_IFREG | 0640;
	ck_assert_int_eq(perm_acl_create_masq(b, len, &mode), 1);
	ck_assert_uint_eq(mode, S_IFREG | 0640);
	uint32_t perm;
	ck_assert_int_eq(perm_acl_equiv_mode(b, len, &perm), 0);
	ck_assert_uint_eq(perm, 0640);
	/* Base-only default ACL collapses into the mode. */
	struct acl_e basic[] = {{1, 7, 0}, {4, 5, 0}, {0x20, 0, 0}};
	len = acl_make(b, basic, 3);
	mode = S_IFDIR | 0777;
	ck_assert_int_eq(perm_acl_create_masq(b, len, &mode), 0);
	ck_assert_uint_eq(mode, S_IFDIR | 0750);
	ck_assert_int_eq(perm_acl_create_masq(b, 4, &mode), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("perm");
	TCase *tc = tcase_create("perm");
	tcase_add_test(tc, mode_bits);
	tcase_add_test(tc, root_override);
	tcase_add_test(tc, sticky_delete);
	tcase_add_test(tc, chmod_chown_rules);
	tcase_add_test(tc, utimes_rules);
	tcase_add_test(tc, acl_validation);
	tcase_add_test(tc, acl_evaluation);
	tcase_add_test(tc, acl_mode_sync);
	tcase_add_test(tc, acl_inherit);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
