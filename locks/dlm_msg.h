/* DLM node-to-node messages (DESIGN §5): one fixed-size, little-endian
 * record per message, encoded and decoded only here. The decoder checks
 * magic, version, type, mode, range and flags, so a malformed message from a
 * peer is rejected (-EINVAL) before anything acts on it.
 *
 * Layout (DLM_MSG_SIZE = 88 bytes):
 *   off  0 u32 magic 0x6D4D4C44 ("DLMm")   off  4 u16 version (1)
 *   off  6 u16 type                        off  8 u32 from node
 *   off 12 u32 flags (enum dlm_lkf)        off 16 u64 epoch (membership)
 *   off 24 u64 lkid (owner's lock id)      off 32 u64 resource fs
 *   off 40 u64 resource id                 off 48 u8  resource type
 *   off 49 u8  mode                        off 50 u16 reserved (0)
 *   off 52 i32 error (REPLY)               off 56 u64 range start
 *   off 64 u64 range end                   off 72 u32 pid (POSIX lock owner's pid)
 *   off 76 u32 owner (RECOVER_LOCK: node)  off 80 u32 crc32c of bytes 0..79
 *   off 84 u32 reserved (0)
 */
#ifndef SANFS_LOCKS_DLM_MSG_H
#define SANFS_LOCKS_DLM_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "locks/dlm_mode.h"
#include "locks/dlm_rsb.h"

#define DLM_MSG_SIZE	88
#define DLM_MSG_MAGIC	0x6D4D4C44u
#define DLM_MSG_VERSION 1

enum dlm_msg_type {
	DLM_MSG_REQUEST = 1, /* owner -> master: new lock */
	DLM_MSG_CONVERT = 2, /* owner -> master: change mode/range of a granted lock */
	DLM_MSG_UNLOCK = 3,  /* owner -> master: release, or cancel a waiting request */
	DLM_MSG_GRANT = 4,   /* master -> owner: granted (mode, range) */
	DLM_MSG_REPLY =
	    5,		  /* master -> owner: finished without a grant: error, or 0 for an unlock */
	DLM_MSG_BAST = 6, /* master -> owner: another node wants mode */
	DLM_MSG_RECOVER_LOCK = 7, /* owner -> new master: I hold this (recovery) */
	DLM_MSG_RECOVER_DONE = 8, /* any -> all: I re-declared everything for epoch */
	/* POSIX record locks (dlm_plock.c). lkid = the lock owner id, pid,
	 * mode = PR (read), EX (write) or NL (unlock), range, NOQUEUE = F_SETLK. */
	DLM_MSG_PLOCK = 9,	    /* owner -> master: set (or unlock) a record lock */
	DLM_MSG_PLOCK_GET = 10,	    /* owner -> master: F_GETLK */
	DLM_MSG_PLOCK_CANCEL = 11,  /* owner -> master: stop waiting (interrupted) */
	DLM_MSG_PLOCK_REPLY = 12,   /* master -> owner: error; for GET the conflict
				       (mode NL: none; owner = its node) */
	DLM_MSG_PLOCK_RECOVER = 13, /* -> new master: this record lock is held (owner = node) */
	DLM_MSG_CANCEL = 14,	    /* owner -> master: stop waiting (request or conversion);
				       answered by a REPLY flagged DLM_SBF_CANCEL */
	DLM_MSG_TYPE_MAX = 15,
};

struct dlm_resname {
	uint64_t fs;  /* filesystem id */
	uint64_t id;  /* inode number, group, slot... */
	uint8_t type; /* resource type (locks/lcl.h enum lcl_type, or POSIX) */
};

struct dlm_msg {
	enum dlm_msg_type type;
	uint32_t from;
	uint32_t flags;
	uint64_t epoch;
	uint64_t lkid;
	struct dlm_resname name;
	enum dlm_mode mode;
	int32_t error; /* REPLY: negative errno, or 0 */
	struct dlm_range range;
	uint32_t pid;
	uint32_t owner; /* RECOVER_LOCK: the node the lock belongs to */
};

void dlm_msg_encode(const struct dlm_msg *m, uint8_t out[DLM_MSG_SIZE]);
/* 0, or -EINVAL for anything malformed (wrong length, magic, version, crc,
 * type, mode, inverted range, unknown flags). */
int dlm_msg_decode(const void *buf, size_t len, struct dlm_msg *m);
const char *dlm_msg_type_name(enum dlm_msg_type t);

#endif
