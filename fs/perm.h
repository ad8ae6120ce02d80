/* perm: POSIX permission checks and POSIX ACLs for the FUSE operations
 * (DESIGN §1: other users use the filesystem like any other; issue 2 point 4).
 *
 * Pure functions on the caller's credentials, an inode's mode/owner and, when
 * it has one, its access ACL in the Linux xattr format the kernel hands to
 * FUSE for system.posix_acl_access / system.posix_acl_default:
 *
 *   u32 a_version (= 2), then entries { u16 e_tag, u16 e_perm, u32 e_id },
 *   all little-endian, sorted by tag and, within ACL_USER / ACL_GROUP, by id.
 *
 * Access check (POSIX.1e, as the kernel's posix_acl_permission):
 *   owner           -> ACL_USER_OBJ (or mode owner bits)
 *   named user      -> ACL_USER entry & ACL_MASK
 *   owning/named group (any match grants) -> entry & ACL_MASK
 *   matched a group but none grants -> EACCES
 *   else            -> ACL_OTHER
 * uid 0 acts with CAP_DAC_OVERRIDE: read and write always, execute when some
 * execute bit is set or the inode is a directory.
 *
 * Errors: 0, -EACCES (permission), -EPERM (ownership rules), -EINVAL (a
 * malformed ACL from a user or from disk). No function allocates. */
#ifndef SANFS_FS_PERM_H
#define SANFS_FS_PERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PERM_R 4
#define PERM_W 2
#define PERM_X 1

/* Tags and the version of the Linux ACL xattr format. */
#define PERM_ACL_VERSION     2
#define PERM_ACL_USER_OBJ    0x01
#define PERM_ACL_USER	     0x02
#define PERM_ACL_GROUP_OBJ   0x04
#define PERM_ACL_GROUP	     0x08
#define PERM_ACL_MASK	     0x10
#define PERM_ACL_OTHER	     0x20
#define PERM_ACL_HDR	     4
#define PERM_ACL_ENTRY	     8
#define PERM_ACL_MAX_ENTRIES 1024

#define PERM_XATTR_ACL_ACCESS  "system.posix_acl_access"
#define PERM_XATTR_ACL_DEFAULT "system.posix_acl_default"

/* Who asks. groups: supplementary groups (borrowed; may be NULL when ngroups
 * is 0). umask: applied at create when the parent has no default ACL. */
struct perm_cred {
	uint32_t uid;
	uint32_t gid;
	uint32_t umask;
	unsigned ngroups;
	const gid_t *groups;
};

/* What a check looks at: the inode's mode (file type bits included), owner,
 * group and its access ACL (NULL/0 when it has none; borrowed). */
struct perm_obj {
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	const void *acl;
	size_t acl_len;
};

bool perm_is_root(const struct perm_cred *c);
bool perm_in_group(const struct perm_cred *c, uint32_t gid);

/* mask: PERM_R|PERM_W|PERM_X. 0 or -EACCES (-EINVAL for a malformed ACL). */
int perm_check(const struct perm_obj *o, const struct perm_cred *c, int mask);

/* Deleting or renaming away an entry of dir that names victim: write and
 * search on dir, and with the sticky bit only the owner of the entry or of
 * the directory (or root). 0, -EACCES or -EPERM. */
int perm_may_delete(const struct perm_obj *dir, uint32_t victim_uid, const struct perm_cred *c);

/* chmod: only the owner or root (-EPERM). *mode is the requested mode; a
 * non-root caller outside the file's group loses S_ISGID on a non-directory
 * (as the kernel does). */
int perm_chmod(const struct perm_obj *o, const struct perm_cred *c, uint32_t *mode);

/* chown: uid may change only for root; gid for root, or for the owner to a
 * group he belongs to. (uint32_t)-1 means unchanged. 0 or -EPERM. */
int perm_chown(const struct perm_obj *o, const struct perm_cred *c, uint32_t uid, uint32_t gid);

/* Mode after a chown of a non-directory by anyone: S_ISUID cleared, S_ISGID
 * cleared when group-execute is set (kernel should_remove_suid rules). */
uint32_t perm_mode_after_chown(uint32_t mode);

/* Mode of a regular file (owner group gid) whose data or size a caller
 * without CAP_FSETID changed (the kernel's should_remove_suid and
 * setattr_should_drop_sgid): S_ISUID cleared; S_ISGID cleared when
 * group-execute is set or the caller is not in the file's group. */
uint32_t perm_mode_kill_suidgid(uint32_t mode, uint32_t gid, const struct perm_cred *c);

/* Setting timestamps: to "now" (both UTIME_NOW) needs ownership or write
 * permission; explicit times need ownership (or root). 0, -EACCES, -EPERM. */
int perm_utimes(const struct perm_obj *o, const struct perm_cred *c, bool explicit_times);

/* Validate an ACL given by a user or read from disk: version, size, tags,
 * one USER_OBJ/GROUP_OBJ/OTHER, MASK present when named entries are, sorted
 * unique ids, perms within rwx. A default ACL may be empty (len 4 = remove).
 * Returns the number of entries or -EINVAL. */
int perm_acl_valid(const void *acl, size_t len);

/* Mode permission bits equivalent to an access ACL: owner = USER_OBJ,
 * group = MASK (or GROUP_OBJ), other = OTHER. Returns 1 when the ACL says
 * no more than those bits (it need not be stored), 0 when it must be kept,
 * -EINVAL. *perm gets the 9 permission bits. */
int perm_acl_equiv_mode(const void *acl, size_t len, uint32_t *perm);

/* chmod with an access ACL: rewrite USER_OBJ, MASK (or GROUP_OBJ) and
 * OTHER from mode in place. 0 or -EINVAL. */
int perm_acl_chmod(void *acl, size_t len, uint32_t mode);

/* A new inode inherits a default ACL (copied by the caller into acl): mask
 * its USER_OBJ, MASK (or GROUP_OBJ) and OTHER with the requested mode and
 * set *mode's permission bits from the result (the kernel's
 * posix_acl_create_masq). Returns 1 when the access ACL must be stored, 0
 * when the mode says everything, -EINVAL. */
int perm_acl_create_masq(void *acl, size_t len, uint32_t *mode);

#endif
