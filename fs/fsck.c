/* fsck: phases 1-3 and 5 (superblock, slots and journals, AGs, bitmaps
 * against references); phase 4 is fsck_inode.c. See fsck.h. */
#include "fs/fsck.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockdev/bdev.h"
#include "common/endian_le.h"
#include "common/log.h"
#include "fs/fsck_int.h"
#include "fs/jnl.h"
#include "fs/mkfs.h"

void fsck_say(struct fsck *ck, enum fsck_kind kind, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	if (ck->mute)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (kind == FSCK_ERROR)
		ck->r->errors++;
	else if (kind == FSCK_FIXED)
		ck->r->fixed++;
	else if (kind == FSCK_WARN)
		ck->r->warnings++;
	if (ck->o->msg)
		ck->o->msg(ck->o->msg_arg, kind, line);
}

/* An inconsistency: fixed when repairing and fix() succeeds. */
#define PROBLEM(ck, fixok, ...)                                                                    \
	fsck_say((ck), (ck)->rw && (fixok) ? FSCK_FIXED : FSCK_ERROR, __VA_ARGS__)

static void progress(struct fsck *ck, unsigned phase, uint64_t done, uint64_t total)
{
	if (ck->o->progress)
		ck->o->progress(ck->o->progress_arg, phase, done, total);
}

static int rd(struct fsck *ck, uint64_t blkno, uint8_t *buf)
{
	int rc = bdev_read(ck->dev, blkno * SFS_BLOCK_SIZE, buf, SFS_BLOCK_SIZE);
	if (rc)
		fsck_say(ck, FSCK_ERROR, "block %" PRIu64 ": read error: %s", blkno, strerror(-rc));
	return rc;
}

static int wr(struct fsck *ck, uint64_t blkno, const uint8_t *buf)
{
	int rc = bdev_write(ck->dev, blkno * SFS_BLOCK_SIZE, buf, SFS_BLOCK_SIZE);
	if (rc)
		fsck_say(ck, FSCK_ERROR, "block %" PRIu64 ": write error: %s", blkno,
			 strerror(-rc));
	return rc;
}

static bool bit(const uint8_t *m, uint64_t i)
{
	return (m[i >> 3] >> (i & 7)) & 1;
}

static void setbit(uint8_t *m, uint64_t i)
{
	m[i >> 3] |= (uint8_t)(1u << (i & 7));
}

int fsck_ref(struct fsck *ck, uint64_t blkno, uint64_t n, const char *what, uint64_t owner)
{
	if (n == 0 || blkno < ck->sb.ag_start || blkno >= ck->sb.blocks ||
	    n > ck->sb.blocks - blkno) {
		fsck_say(ck, FSCK_ERROR,
			 "%s of inode %" PRIu64 ": blocks %" PRIu64 "+%" PRIu64
			 " outside the data area",
			 what, owner, blkno, n);
		return -1;
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t b = blkno + i;
		uint32_t ag = sfs_ag_of(&ck->sb, b);
		if (b - sfs_ag_base(&ck->sb, ag) < sfs_ag_meta_blocks(&ck->sb)) {
			fsck_say(ck, FSCK_ERROR,
				 "%s of inode %" PRIu64 ": block %" PRIu64 " is AG metadata", what,
				 owner, b);
			return -1;
		}
		if (bit(ck->refs, b)) {
			if (!bit(ck->dup, b))
				fsck_say(ck, FSCK_ERROR,
					 "block %" PRIu64 " referenced twice (again by %s of inode "
					 "%" PRIu64 ")",
					 b, what, owner);
			setbit(ck->dup, b);
		}
		setbit(ck->refs, b);
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

bool fsck_is_inode(struct fsck *ck, uint64_t ino)
{
	return ck->ninodes &&
	       bsearch(&ino, ck->inodes, ck->ninodes, sizeof(uint64_t), cmp_u64) != NULL;
}

static int push(uint64_t **v, uint64_t *n, uint64_t *cap, uint64_t x)
{
	if (*n == *cap) {
		uint64_t c = *cap ? *cap * 2 : 1024;
		uint64_t *nv = realloc(*v, c * sizeof(**v));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = c;
	}
	(*v)[(*n)++] = x;
	return 0;
}

/* ---- phase 1: superblock ---- */

static bool super_same(const struct sfs_super *a, const struct sfs_super *b)
{
	struct sfs_super x = *a, y = *b;
	x.mtime = y.mtime = 0;
	x.state = y.state = 0;
	return memcmp(&x, &y, sizeof(x)) == 0;
}

static int phase_super(struct fsck *ck)
{
	uint8_t *b1 = ck->blk;
	uint8_t *b2 = bdev_alloc(SFS_BLOCK_SIZE);
	if (!b2)
		return -ENOMEM;
	struct sfs_super s1, s2;
	const char *w1 = "read error", *w2 = "read error";
	int d1 = -EIO, d2 = -EIO;
	if (bdev_read(ck->dev, SFS_SUPER_BLKNO * SFS_BLOCK_SIZE, b1, SFS_BLOCK_SIZE) == 0)
		d1 = sfs_super_decode(b1, SFS_SUPER_BLKNO, &s1, &w1);
	if (bdev_read(ck->dev, SFS_SUPER_BACKUP * SFS_BLOCK_SIZE, b2, SFS_BLOCK_SIZE) == 0)
		d2 = sfs_super_decode(b2, SFS_SUPER_BACKUP, &s2, &w2);
	int rc = 0;
	if (d1 && d2) {
		fsck_say(ck, FSCK_ERROR, "no valid superblock (primary: %s; backup: %s)", w1, w2);
		rc = -EINVAL;
	} else if (d1) {
		ck->sb = s2;
		bool ok = false;
		if (ck->rw) {
			sfs_super_encode(&s2, SFS_SUPER_BLKNO, b1);
			ok = wr(ck, SFS_SUPER_BLKNO, b1) == 0;
		}
		PROBLEM(ck, ok, "primary superblock bad (%s)%s", w1,
			ck->rw ? "; rewritten from the backup" : "; the backup is good");
	} else {
		ck->sb = s1;
		if (d2 || !super_same(&s1, &s2)) {
			bool ok = false;
			if (ck->rw) {
				sfs_super_encode(&s1, SFS_SUPER_BACKUP, b2);
				ok = wr(ck, SFS_SUPER_BACKUP, b2) == 0;
			}
			PROBLEM(ck, ok, "backup superblock %s%s",
				d2 ? w2 : "differs from the primary",
				ck->rw ? "; rewritten from the primary" : "");
		}
	}
	bdev_free(b2);
	if (rc)
		return rc;
	bool ro;
	const char *why;
	if (sfs_super_compatible(&ck->sb, &ro, &why)) {
		fsck_say(ck, FSCK_ERROR, "%s: this fsck cannot check it", why);
		return -EINVAL;
	}
	if (bdev_size(ck->dev) / SFS_BLOCK_SIZE < ck->sb.blocks) {
		fsck_say(ck, FSCK_ERROR,
			 "device is smaller than the filesystem (%" PRIu64 " blocks, needs %" PRIu64
			 ")",
			 bdev_size(ck->dev) / SFS_BLOCK_SIZE, ck->sb.blocks);
		return -EINVAL;
	}
	char uuid[BDEV_UUID_STR];
	bdev_uuid_format(ck->sb.uuid, uuid);
	fsck_say(ck, FSCK_INFO,
		 "sanfs version %u, label '%s', uuid %s, %" PRIu64 " blocks, %u slots, %u AGs",
		 ck->sb.version, ck->sb.label, uuid, ck->sb.blocks, ck->sb.slot_count,
		 ck->sb.ag_count);
	if (ck->sb.state & SFS_SB_ERROR)
		fsck_say(ck, FSCK_WARN, "superblock says an error was met at run time");
	return 0;
}

/* ---- phase 2: slots ---- */

/* Largest sequence number any record block in slot s's ring carries. */
static uint64_t ring_max_seq(struct fsck *ck, unsigned s)
{
	uint64_t ring = sfs_slot_journal(&ck->sb, s), max = 0;
	for (uint64_t i = 0; i < ck->sb.journal_blocks; i++) {
		if (bdev_read(ck->dev, (ring + i) * SFS_BLOCK_SIZE, ck->blk, SFS_BLOCK_SIZE))
			continue;
		uint16_t t = sfs_blk_type(ck->blk);
		if ((t == SFS_BT_JDESC || t == SFS_BT_JREVOKE || t == SFS_BT_JCOMMIT) &&
		    sfs_blk_verify(ck->blk, ck->sb.uuid, t, ring + i, sfs_owner_slot(s), NULL) ==
			0) {
			uint64_t q = le64_get(ck->blk + SFS_JREC_OFF_SEQ);
			if (q > max)
				max = q;
		}
	}
	return max;
}

static void check_slot(struct fsck *ck, unsigned s)
{
	const struct sfs_super *sb = &ck->sb;
	uint64_t base = sfs_slot_base(sb, s), owner = sfs_owner_slot(s);
	const char *why;
	/* Heartbeat. */
	struct bdev_hb hb;
	int rc = bdev_hb_read(ck->dev, (base + SFS_SLOT_HB) * SFS_BLOCK_SIZE, &hb, 0);
	if (rc == -EBADMSG || rc == -ENOTSUP || (!rc && memcmp(hb.uuid, sb->uuid, 16) != 0)) {
		bool ok = false;
		if (ck->rw) {
			struct bdev_hb f = {
			    .state = BDEV_HB_FREE, .slot = s, .mode = BDEV_HB_LOCAL};
			memcpy(f.uuid, sb->uuid, 16);
			ok = bdev_hb_write(ck->dev, (base + SFS_SLOT_HB) * SFS_BLOCK_SIZE, &f, 0) ==
			     0;
		}
		PROBLEM(ck, ok, "slot %u: heartbeat block %s%s", s,
			rc ? "corrupt" : "belongs to another filesystem",
			ck->rw ? "; rewritten FREE" : "");
	} else if (!rc && hb.state == BDEV_HB_LIVE) {
		fsck_say(ck, FSCK_INFO, "slot %u: left LIVE by %s pid %u (a crashed mount)", s,
			 hb.hostname, hb.pid);
	}
	/* Journal header and contents. */
	bool jh_ok = rd(ck, base + SFS_SLOT_JHDR, ck->blk) == 0;
	struct sfs_jhdr jh;
	if (jh_ok &&
	    (sfs_blk_verify(ck->blk, sb->uuid, SFS_BT_JHDR, base + SFS_SLOT_JHDR, owner, &why) ||
	     sfs_jhdr_decode(ck->blk, sb, &jh))) {
		jh_ok = false;
		bool ok = false;
		if (ck->rw) {
			struct sfs_jhdr n = {
			    .ring_blocks = sb->journal_blocks, .flags = SFS_JH_CLEAN, .tail = 0};
			n.tail_seq = ring_max_seq(ck, s) + 1;
			memset(ck->blk, 0, SFS_BLOCK_SIZE);
			sfs_jhdr_encode(&n, ck->blk);
			sfs_blk_seal(ck->blk, sb->uuid, SFS_BT_JHDR, base + SFS_SLOT_JHDR, owner);
			ok = wr(ck, base + SFS_SLOT_JHDR, ck->blk) == 0;
		}
		PROBLEM(ck, ok, "slot %u: journal header corrupt%s", s,
			ck->rw ? "; reset past every transaction in the ring (they are lost)"
			       : "; its journal cannot be replayed");
	}
	if (jh_ok) {
		unsigned n = 0;
		rc = jnl_replay(ck->dev, sb, s, false, &n);
		if (!rc && n) {
			/* Without repair the committed transactions (a crashed
			 * mount leaves them) are replayed into memory only: the
			 * checks see the state the next mount will see. */
			bool mem = !ck->rw;
			bool ok = (!mem || bdev_shadow_start(ck->dev) == 0) &&
				  jnl_replay(ck->dev, sb, s, true, &n) == 0;
			if (!ok)
				ck->journal_dirty = true;
			if (mem && ok) /* a warning: a read-only mount refuses it */
				fsck_say(
				    ck, FSCK_WARN,
				    "slot %u: journal holds %u committed transaction(s) not yet "
				    "replayed; checked as replayed (in memory): the next "
				    "read-write mount of slot %u or --repair replays them",
				    s, n, s);
			else
				PROBLEM(
				    ck, ok, "slot %u: journal holds %u committed transaction(s)%s",
				    s, n,
				    ok	  ? "; replayed"
				    : mem ? " that could not be replayed in memory; later checks "
					    "may see a partly replayed state"
					  : ": replay failed");
		}
	}
	/* Allocation window. */
	if (rd(ck, base + SFS_SLOT_LALLOC, ck->blk) == 0 &&
	    sfs_blk_verify(ck->blk, sb->uuid, SFS_BT_LALLOC, base + SFS_SLOT_LALLOC, owner, &why)) {
		bool ok = false;
		if (ck->rw) {
			memset(ck->blk, 0, SFS_BLOCK_SIZE);
			le32_put(ck->blk + SFS_LA_OFF_AG, s % sb->ag_count);
			le64_put(ck->blk + SFS_LA_OFF_GOAL, sfs_ag_base(sb, s % sb->ag_count));
			sfs_blk_seal(ck->blk, sb->uuid, SFS_BT_LALLOC, base + SFS_SLOT_LALLOC,
				     owner);
			ok = wr(ck, base + SFS_SLOT_LALLOC, ck->blk) == 0;
		}
		PROBLEM(ck, ok, "slot %u: allocation window block: %s%s", s, why,
			ck->rw ? "; rewritten" : "");
	}
	/* Orphan blocks. */
	for (unsigned i = 0; i < sb->orphan_blocks; i++) {
		uint64_t blk = base + SFS_SLOT_ORPHAN + i;
		if (rd(ck, blk, ck->blk))
			continue;
		uint32_t cnt = le32_get(ck->blk + SFS_ORPHAN_OFF_COUNT);
		if (sfs_blk_verify(ck->blk, sb->uuid, SFS_BT_ORPHAN, blk, owner, &why) ||
		    cnt > SFS_ORPHAN_PER_BLOCK) {
			bool ok = false;
			if (ck->rw) {
				memset(ck->blk, 0, SFS_BLOCK_SIZE);
				sfs_blk_seal(ck->blk, sb->uuid, SFS_BT_ORPHAN, blk, owner);
				ok = wr(ck, blk, ck->blk) == 0;
			}
			PROBLEM(ck, ok, "slot %u: orphan block %" PRIu64 " %s%s", s, blk,
				why ? why : "count out of range",
				ck->rw ? "; emptied (its inodes are checked as unreferenced)" : "");
			continue;
		}
		for (uint32_t k = 0; k < cnt; k++) {
			uint64_t ino = le64_get(ck->blk + SFS_ORPHAN_OFF_INOS + 8 * k);
			/* slot in the high bits: which list it came from */
			if (push(&ck->orphans, &ck->norphans, &ck->caporphans, ino) ||
			    push(&ck->orphans, &ck->norphans, &ck->caporphans,
				 ((uint64_t)s << 32) | i))
				return;
		}
	}
}

/* Drop orphan entries that are not inodes (after phase 3 knows them). */
static void check_orphans(struct fsck *ck)
{
	for (uint64_t k = 0; k + 1 < ck->norphans; k += 2) {
		uint64_t ino = ck->orphans[k];
		unsigned s = (unsigned)(ck->orphans[k + 1] >> 32);
		unsigned i = (unsigned)(ck->orphans[k + 1] & 0xffffffffu);
		if (ck->orphans[k + 1] == UINT64_MAX || fsck_is_inode(ck, ino))
			continue; /* UINT64_MAX: an entry removed earlier in this run */
		bool ok = false;
		uint64_t blk = sfs_slot_base(&ck->sb, s) + SFS_SLOT_ORPHAN + i;
		if (ck->rw && rd(ck, blk, ck->blk) == 0) {
			uint32_t cnt = le32_get(ck->blk + SFS_ORPHAN_OFF_COUNT);
			for (uint32_t m = 0; m < cnt && m < SFS_ORPHAN_PER_BLOCK; m++) {
				if (le64_get(ck->blk + SFS_ORPHAN_OFF_INOS + 8 * m) != ino)
					continue;
				le64_put(ck->blk + SFS_ORPHAN_OFF_INOS + 8 * m,
					 le64_get(ck->blk + SFS_ORPHAN_OFF_INOS + 8 * (cnt - 1)));
				le64_put(ck->blk + SFS_ORPHAN_OFF_INOS + 8 * (cnt - 1), 0);
				le32_put(ck->blk + SFS_ORPHAN_OFF_COUNT, cnt - 1);
				sfs_blk_reseal(ck->blk);
				ok = wr(ck, blk, ck->blk) == 0;
				if (ok)
					ck->orphans[k + 1] = UINT64_MAX;
				break;
			}
		}
		PROBLEM(ck, ok, "slot %u: orphan list names %" PRIu64 ", which is not an inode%s",
			s, ino, ck->rw ? "; entry removed" : "");
	}
}

/* ---- phase 3 and 5: allocation groups ---- */

struct agmaps {
	uint8_t *hdr;
	uint8_t *bm[2]; /* bitmap_blocks blocks each, contiguous */
	bool bm_bad[2];
	uint64_t bm_bad_blk[2]; /* the first bad block of each bitmap */
	const char *bm_why[2];
	bool hdr_bad;
};

static int ag_load(struct fsck *ck, uint32_t ag, struct agmaps *m)
{
	const struct sfs_super *sb = &ck->sb;
	uint64_t base = sfs_ag_base(sb, ag), owner = sfs_owner_ag(ag);
	size_t bmb = sb->bitmap_blocks, nmeta = sfs_ag_meta_blocks(sb);
	memset(m, 0, sizeof(*m));
	/* Header and both bitmaps are contiguous: one read, block reads on error. */
	m->hdr = bdev_alloc(nmeta * SFS_BLOCK_SIZE);
	if (!m->hdr)
		return -ENOMEM;
	m->bm[0] = m->hdr + SFS_BLOCK_SIZE;
	m->bm[1] = m->bm[0] + bmb * SFS_BLOCK_SIZE;
	bool bulk = bdev_read(ck->dev, base * SFS_BLOCK_SIZE, m->hdr, nmeta * SFS_BLOCK_SIZE) == 0;
	const char *why = NULL;
	if ((!bulk && rd(ck, base, m->hdr)) ||
	    sfs_blk_verify(m->hdr, sb->uuid, SFS_BT_AG, base, owner, &why)) {
		m->hdr_bad = true;
	} else {
		struct sfs_ag a;
		if (sfs_ag_decode(m->hdr, sb, ag, &a))
			m->hdr_bad = true;
	}
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < bmb; i++) {
			uint64_t blk = base + 1 + k * bmb + i;
			uint8_t *p = m->bm[k] + i * SFS_BLOCK_SIZE;
			why = NULL;
			if ((!bulk && rd(ck, blk, p)) ||
			    sfs_blk_verify(p, sb->uuid, SFS_BT_BITMAP, blk, owner, &why)) {
				if (!m->bm_bad[k]) {
					m->bm_bad_blk[k] = blk;
					m->bm_why[k] = why ? why : "read error";
				}
				m->bm_bad[k] = true;
				/* Rebuilt below from what is known; check_ag
				 * reports it. */
				memset(p, 0, SFS_BLOCK_SIZE);
				sfs_blk_init(p, sb->uuid, SFS_BT_BITMAP, blk, owner);
			}
		}
	return 0;
}

static void ag_free(struct agmaps *m)
{
	bdev_free(m->hdr);
}

static bool mbit(const struct agmaps *m, int k, uint32_t off)
{
	return sfs_bit_test(m->bm[k] + (off / SFS_BM_BITS) * SFS_BLOCK_SIZE + SFS_BM_OFF,
			    off % SFS_BM_BITS);
}

static void mset(struct agmaps *m, int k, uint32_t off, bool v)
{
	uint8_t *p = m->bm[k] + (off / SFS_BM_BITS) * SFS_BLOCK_SIZE + SFS_BM_OFF;
	if (v)
		sfs_bit_set(p, off % SFS_BM_BITS);
	else
		sfs_bit_clear(p, off % SFS_BM_BITS);
}

static int ag_store(struct fsck *ck, uint32_t ag, struct agmaps *m, const struct sfs_ag *a)
{
	const struct sfs_super *sb = &ck->sb;
	uint64_t base = sfs_ag_base(sb, ag);
	memset(m->hdr + SFS_BLK_HDR_SIZE, 0, SFS_BLOCK_SIZE - SFS_BLK_HDR_SIZE);
	sfs_ag_encode(a, m->hdr);
	sfs_blk_seal(m->hdr, sb->uuid, SFS_BT_AG, base, sfs_owner_ag(ag));
	int rc = wr(ck, base, m->hdr);
	for (int k = 0; k < 2 && !rc; k++)
		for (size_t i = 0; i < sb->bitmap_blocks && !rc; i++) {
			uint8_t *p = m->bm[k] + i * SFS_BLOCK_SIZE;
			sfs_blk_reseal(p);
			rc = wr(ck, base + 1 + k * sb->bitmap_blocks + i, p);
		}
	return rc;
}

/* What check_ag does: phase 3 (structure and counts, collect the inodes),
 * phase 5 (also the block bitmap against the references), or, before a
 * repair through the engine, only mark referenced blocks in use. */
enum ag_pass { AG_PHASE3 = 0, AG_PHASE5 = 1, AG_MARK = 2 };

/* Phase 3 for one AG: structure and counts; collect the inodes. With
 * refs (phase 5), also compare the block bitmap with the references. */
static void check_ag(struct fsck *ck, uint32_t ag, enum ag_pass pass)
{
	bool phase5 = pass != AG_PHASE3;
	const struct sfs_super *sb = &ck->sb;
	struct agmaps m;
	bool was_mute = ck->mute;
	if (pass == AG_MARK)
		ck->mute = true; /* phase 3 reported what ag_load finds */
	int lrc = ag_load(ck, ag, &m);
	ck->mute = was_mute;
	if (lrc) {
		fsck_say(ck, FSCK_ERROR, "AG %u: out of memory", ag);
		ag_free(&m);
		return;
	}
	if (pass == AG_MARK && (m.hdr_bad || m.bm_bad[0] || m.bm_bad[1])) {
		/* Rebuilt by phase 5 once every reference is known, not from
		 * a partial walk. */
		ag_free(&m);
		return;
	}
	uint64_t base = sfs_ag_base(sb, ag);
	uint32_t n = sfs_ag_size(sb, ag), meta = sfs_ag_meta_blocks(sb);
	uint32_t total_bits = sb->bitmap_blocks * SFS_BM_BITS;
	bool dirty = m.hdr_bad;
	unsigned bad_meta = 0, bad_tail = 0, bad_ino = 0, leaked = 0, missing = 0;
	uint32_t free_cnt = 0, ino_cnt = 0, free_disk = 0; /* free_disk: as the bitmap said */
	for (uint32_t off = 0; off < total_bits; off++) {
		bool used = mbit(&m, 0, off), isino = mbit(&m, 1, off), orig = used;
		if (off < meta || off >= n) {
			if (!used) {
				/* A block bitmap read as zeros: not news. */
				if (m.bm_bad[0])
					;
				else if (off < meta)
					bad_meta++;
				else
					bad_tail++;
				mset(&m, 0, off, true);
			}
			if (isino) {
				bad_ino++;
				mset(&m, 1, off, false);
			}
			continue;
		}
		if (isino && !used) {
			bad_ino++;
			mset(&m, 0, off, true);
			used = true;
		}
		if (phase5) {
			bool ref = bit(ck->refs, base + off);
			if (used && !ref && !isino && pass == AG_PHASE5) {
				leaked++;
				mset(&m, 0, off, false);
				used = false;
			} else if (!used && ref) {
				missing++;
				mset(&m, 0, off, true);
				used = true;
			}
		}
		if (!used)
			free_cnt++;
		if (!orig)
			free_disk++;
		if (isino) {
			ino_cnt++;
			if (!phase5 &&
			    push(&ck->inodes, &ck->ninodes, &ck->capinodes, base + off)) {
				fsck_say(ck, FSCK_ERROR, "out of memory listing inodes");
				ag_free(&m);
				return;
			}
		}
	}
	if (bad_meta || bad_tail || bad_ino || leaked || missing || m.bm_bad[0] || m.bm_bad[1])
		dirty = true;
	struct sfs_ag a = {0};
	if (!m.hdr_bad)
		sfs_ag_decode(m.hdr, sb, ag, &a);
	if (!m.hdr_bad && !phase5 && (a.free_blocks != free_cnt || a.inodes != ino_cnt))
		dirty = true;
	/* A bad block bitmap is rebuilt from the references when they are
	 * known (phase 5 of a repair); phase 3 reports it. */
	bool rebuild = ck->rw && m.bm_bad[0] && !m.bm_bad[1];
	if (!phase5) {
		for (int k = 0; k < 2; k++)
			if (m.bm_bad[k])
				fsck_say(ck, rebuild ? FSCK_INFO : FSCK_ERROR,
					 "AG %u: %s bitmap block %" PRIu64 " unreadable (%s)%s", ag,
					 k ? "inode" : "block", m.bm_bad_blk[k], m.bm_why[k],
					 rebuild
					     ? "; rebuilt from the references after the inode walk"
					     : "");
		if (rebuild) {
			/* Nothing else here can be judged before that. */
			ck->bm_pending++;
			ck->r->free_blocks += free_cnt;
			ag_free(&m);
			return;
		}
	}
	if (phase5 && !(leaked || missing) && !m.bm_bad[0]) {
		/* Structure was judged in phase 3; here only references count. */
		ck->r->free_blocks += free_cnt;
		ag_free(&m);
		return;
	}
	if (!dirty) {
		ck->r->free_blocks += free_cnt;
		ag_free(&m);
		return;
	}
	bool fix_ok = ck->rw && !(m.bm_bad[0] && !phase5) && !m.bm_bad[1];
	if (fix_ok) {
		struct sfs_ag na = {.index = ag,
				    .nblocks = n,
				    .free_blocks = free_cnt,
				    .inodes = ino_cnt,
				    .bitmap_blocks = sb->bitmap_blocks};
		fix_ok = ag_store(ck, ag, &m, &na) == 0;
	}
	if (phase5)
		; /* header and bitmap problems were reported by phase 3 */
	else if (m.hdr_bad)
		PROBLEM(ck, fix_ok, "AG %u: header block %" PRIu64 " corrupt%s", ag, base,
			fix_ok ? "; rebuilt from the bitmaps" : "");
	else if (a.free_blocks != free_cnt || a.inodes != ino_cnt)
		PROBLEM(ck, fix_ok,
			"AG %u: header counts %u free / %u inodes, bitmaps say %u / %u%s", ag,
			a.free_blocks, a.inodes, free_cnt, ino_cnt, fix_ok ? "; corrected" : "");
	if (bad_meta && !phase5)
		PROBLEM(ck, fix_ok, "AG %u: %u header/bitmap block(s) marked free", ag, bad_meta);
	if (bad_tail && !phase5)
		PROBLEM(ck, fix_ok, "AG %u: %u bit(s) past the end of the AG clear", ag, bad_tail);
	if (bad_ino && !phase5)
		PROBLEM(ck, fix_ok, "AG %u: %u inode bit(s) on free or metadata blocks", ag,
			bad_ino);
	if (m.bm_bad[0] && phase5) {
		/* Reported by phase 3; leaked and missing are against zeros. */
		if (fix_ok) {
			fsck_say(ck, FSCK_FIXED, "AG %u: block bitmap rebuilt from the references",
				 ag);
			if (ck->bm_pending)
				ck->bm_pending--;
		}
	} else {
		if (leaked)
			PROBLEM(ck, fix_ok, "AG %u: %u block(s) in use but referenced by nothing%s",
				ag, leaked, fix_ok ? "; freed" : "");
		if (missing)
			PROBLEM(ck, fix_ok, "AG %u: %u referenced block(s) marked free%s", ag,
				missing, fix_ok ? "; marked in use" : "");
	}
	ck->r->free_blocks += fix_ok ? free_cnt : free_disk;
	ag_free(&m);
}

void fsck_mark_referenced(struct fsck *ck)
{
	uint64_t keep = ck->r->free_blocks; /* counted by phases 3 and 5 only */
	for (uint32_t ag = 0; ag < ck->sb.ag_count; ag++)
		check_ag(ck, ag, AG_MARK);
	ck->r->free_blocks = keep;
}

int fsck_drop_inode(struct fsck *ck, uint64_t ino)
{
	const struct sfs_super *sb = &ck->sb;
	if (ino < ck->sb.ag_start || ino >= ck->sb.blocks)
		return -EINVAL;
	uint32_t ag = sfs_ag_of(sb, ino);
	uint32_t off = (uint32_t)(ino - sfs_ag_base(sb, ag));
	struct agmaps m;
	bool was_mute = ck->mute;
	ck->mute = true; /* a bad bitmap was reported by phase 3 */
	int rc = ag_load(ck, ag, &m);
	ck->mute = was_mute;
	if (rc) {
		ag_free(&m);
		return rc;
	}
	struct sfs_ag a;
	/* Phase 3 rewrote a bad header or bitmap; one still bad is left alone. */
	if (m.hdr_bad || m.bm_bad[0] || m.bm_bad[1] || sfs_ag_decode(m.hdr, sb, ag, &a) ||
	    !mbit(&m, 1, off)) {
		ag_free(&m);
		return -EIO;
	}
	mset(&m, 1, off, false);
	if (mbit(&m, 0, off)) {
		mset(&m, 0, off, false);
		a.free_blocks++;
	}
	if (a.inodes)
		a.inodes--;
	rc = ag_store(ck, ag, &m, &a);
	ag_free(&m);
	return rc;
}

void fsck_recheck_orphans(struct fsck *ck)
{
	check_orphans(ck);
}

/* ---- driver ---- */

int fsck_run(const char *path, const struct fsck_opts *o, struct fsck_result *res)
{
	struct fsck ck = {.o = o, .r = res, .path = path, .rw = o->repair};
	memset(res, 0, sizeof(*res));
	unsigned flags = (o->repair ? 0 : BDEV_RDONLY) | (o->buffered ? BDEV_BUFFERED : 0);
	int rc = bdev_open(path, flags, &ck.dev);
	if (rc) {
		fsck_say(&ck, FSCK_ERROR, "%s: %s", path, strerror(-rc));
		res->exit_code = FSCK_EXIT_OPERROR;
		return rc;
	}
	ck.blk = bdev_alloc(SFS_BLOCK_SIZE);
	if (!ck.blk) {
		rc = -ENOMEM;
		goto oper;
	}
	progress(&ck, 1, 0, 1);
	rc = phase_super(&ck);
	if (rc == -ENOMEM)
		goto oper;
	if (rc)
		goto done;
	char live[256];
	if (mkfs_live_check(ck.dev, live, sizeof(live)) > 0) {
		fsck_say(&ck, FSCK_ERROR, "the filesystem is mounted (%s): unmount it first", live);
		rc = -EBUSY;
		goto oper;
	}
	uint64_t mapbytes = (ck.sb.blocks + 7) / 8;
	ck.refs = calloc(1, mapbytes);
	ck.dup = calloc(1, mapbytes);
	if (!ck.refs || !ck.dup) {
		fsck_say(&ck, FSCK_ERROR, "out of memory for the block map");
		rc = -ENOMEM;
		goto oper;
	}
	for (unsigned s = 0; s < ck.sb.slot_count; s++) {
		progress(&ck, 2, s, ck.sb.slot_count);
		check_slot(&ck, s);
	}
	if (ck.rw)
		bdev_flush(ck.dev);
	for (uint32_t ag = 0; ag < ck.sb.ag_count; ag++) {
		progress(&ck, 3, ag, ck.sb.ag_count);
		check_ag(&ck, ag, AG_PHASE3);
	}
	res->inodes = ck.ninodes;
	check_orphans(&ck);
	if (ck.ninodes)
		qsort(ck.inodes, ck.ninodes, sizeof(uint64_t), cmp_u64);
	if (!fsck_is_inode(&ck, ck.sb.root_ino))
		fsck_say(&ck, FSCK_ERROR, "root inode %" PRIu64 " is not marked as an inode",
			 ck.sb.root_ino);
	if (ck.rw)
		bdev_flush(ck.dev);
	progress(&ck, 4, 0, ck.ninodes);
	rc = fsck_inodes(&ck);
	if (rc == -ENOMEM)
		goto oper;
	if (ck.refs_complete && !ck.journal_dirty) {
		res->free_blocks = 0;
		for (uint32_t ag = 0; ag < ck.sb.ag_count; ag++) {
			progress(&ck, 5, ag, ck.sb.ag_count);
			check_ag(&ck, ag, AG_PHASE5);
		}
	} else {
		fsck_say(&ck, FSCK_INFO, "block references not compared with the bitmaps (%s)",
			 ck.journal_dirty ? "journal not replayed" : "inode walk incomplete");
	}
	if (ck.bm_pending)
		fsck_say(&ck, FSCK_ERROR,
			 "%u unreadable AG block bitmap(s) not rebuilt (the inode walk was "
			 "incomplete)",
			 ck.bm_pending);
	res->used_blocks = ck.sb.blocks - res->free_blocks;
	if (ck.rw && res->errors == 0) {
		/* Clean now: clear the error flag, mark clean. */
		if (bdev_read(ck.dev, SFS_SUPER_BLKNO * SFS_BLOCK_SIZE, ck.blk, SFS_BLOCK_SIZE) ==
		    0) {
			struct sfs_super sb;
			const char *why;
			if (sfs_super_decode(ck.blk, SFS_SUPER_BLKNO, &sb, &why) == 0 &&
			    (sb.state & SFS_SB_ERROR)) {
				sb.state &= ~SFS_SB_ERROR;
				for (uint64_t at = SFS_SUPER_BLKNO; at <= SFS_SUPER_BACKUP; at++) {
					sfs_super_encode(&sb, at, ck.blk);
					wr(&ck, at, ck.blk);
				}
				fsck_say(&ck, FSCK_FIXED, "superblock error flag cleared");
			}
		}
		bdev_flush(ck.dev);
	}
	rc = 0;
done:
	res->exit_code = res->errors  ? FSCK_EXIT_ERRORS
			 : res->fixed ? FSCK_EXIT_REPAIRED
				      : FSCK_EXIT_CLEAN;
	goto out;
oper:
	res->exit_code = FSCK_EXIT_OPERROR;
out:
	if (ck.rw && ck.dev)
		bdev_flush(ck.dev);
	free(ck.refs);
	free(ck.dup);
	free(ck.inodes);
	free(ck.orphans);
	bdev_free(ck.blk);
	bdev_close(ck.dev);
	return rc;
}
