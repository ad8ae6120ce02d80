/* Directory records: name rules and the value codec (dir.h, fs/FORMAT-dir.md).
 * No engine calls: also built alone into the fuzz target. */
#include "fs/dir.h"

#include "common/endian_le.h"
#include "common/log.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

bool dir_dtype_valid(unsigned t)
{
	switch (t) {
	case DT_FIFO:
	case DT_CHR:
	case DT_DIR:
	case DT_BLK:
	case DT_REG:
	case DT_LNK:
	case DT_SOCK:
		return true;
	default:
		return false;
	}
}

int dir_name_check(const char *name, size_t len)
{
	if (len > DIR_NAME_MAX)
		return -ENAMETOOLONG;
	if (len == 0 || !name || memchr(name, '/', len) || memchr(name, '\0', len))
		return -EINVAL;
	return 0;
}

/* 1 for ".", 2 for "..", 0 for any other name. */
static int dot_kind(const char *name, size_t len)
{
	if (len == 1 && name[0] == '.')
		return 1;
	if (len == 2 && name[0] == '.' && name[1] == '.')
		return 2;
	return 0;
}

size_t dir_rec_encode(uint64_t ino, uint8_t dtype, const char *name, size_t len, uint8_t *out)
{
	le64_put(out, ino);
	out[8] = dtype;
	out[9] = (uint8_t)len;
	memcpy(out + DIR_REC_HDR, name, len);
	return DIR_REC_HDR + len;
}

int dir_rec_decode(const uint8_t seed[16], uint64_t dir_ino, const struct btree_key *k,
		   const void *val, size_t len, struct dir_rec *out)
{
	const uint8_t *v = val;
	const char *why = NULL;
	if (len < DIR_REC_HDR + 1 || len > DIR_REC_HDR + DIR_NAME_MAX) {
		why = "record length out of range";
	} else {
		out->ino = le64_get(v);
		out->dtype = v[8];
		out->namelen = v[9];
		const char *name = (const char *)v + DIR_REC_HDR;
		if (out->namelen != len - DIR_REC_HDR)
			why = "name length disagrees with record length";
		else if (dir_name_check(name, out->namelen) < 0 || dot_kind(name, out->namelen))
			why = "invalid name";
		else if (out->ino == 0)
			why = "inode number 0";
		else if (!dir_dtype_valid(out->dtype))
			why = "unknown file type";
		else if (k->lo >> DIR_CTR_BITS)
			why = "collision counter out of range";
		else if (seed && dir_hash(seed, name, out->namelen) != k->hi)
			why = "key is not the hash of the name";
		if (!why) {
			memcpy(out->name, name, out->namelen);
			out->name[out->namelen] = '\0';
			return 0;
		}
	}
	log_error("dir", "directory %" PRIu64 ": entry (%#" PRIx64 ", %" PRIu64 "): %s", dir_ino,
		  k->hi, k->lo, why);
	return -EIO;
}
