/* sfs: open and close of a filesystem, slot claim and heartbeat (sfs.h). */
#include "fs/sfs.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#include "blockdev/bdev.h"
#include "common/clock.h"
#include "common/log.h"
#include "fs/alloc.h"
#include "fs/bcache.h"
#include "fs/jnl.h"
#include "fs/orphan.h"
#include "locks/lcl.h"

/* The heartbeat is also the local mount's lease on the device (DESIGN §6):
 * renewed every HB_PERIOD_MS (HB_RETRY_MS after a failed renewal), it runs
 * HB_LEASE_MS from the read that found the slot still ours; device I/O waits
 * while it is expired, at most HB_LEASE_WAIT_MS. A mount taking over a
 * silent slot watches it for 2 s (sfs_mount_opts.hb_wait_ms), well past any
 * lease the old holder may still think it has: a paused holder resumes,
 * finds the slot taken at its next renewal and fences itself, having issued
 * no I/O in between.
 *
 * Every write of the block follows a read that justified it (the slot is
 * ours; the slot is free or its holder silent), and two writers may race
 * between such a read and such a write. So a write is issued only when its
 * read came back within HB_WRITE_GAP_MS, and a writer whose write completed
 * HB_WRITE_LATE_MS or more after that read cannot tell whether it wrote over
 * another mount's claim: a holder fences itself, a claimer gives up. Every
 * claim is read back HB_CONFIRM_MS after it was written, before the journal
 * is touched: any write over it issued before the claim landed has landed
 * by then, and the claimer that finds another's claim gives up (EBUSY). */
#define HB_PERIOD_MS	 500
#define HB_RETRY_MS	 100
#define HB_LEASE_MS	 1000
#define HB_LEASE_WAIT_MS 60000
#define HB_WRITE_GAP_MS	 800
#define HB_WRITE_LATE_MS 1500
#define HB_CONFIRM_MS	 2000
#define HB_WATCH_MS	 2000 /* sfs_mount_opts.hb_wait_ms by default */
#define NS_PER_MS	 1000000ull

static __thread char last_error[256];

const char *sfs_last_error(void)
{
	return last_error[0] ? last_error : "no error";
}

static int fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	log_warn("fs", "%s", last_error);
	return rc;
}

/* ---- heartbeat ---- */

struct sfs_hbeat {
	struct sfs *fs;
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, started;
	bool lost;	      /* another mount took the slot over: fenced, never write it again */
	struct bdev_hb taker; /* when lost: the claim found in the slot (if any) */
	struct bdev_hb hb;
	uint64_t off; /* byte offset of the slot's heartbeat block */
};

static uint64_t slot_hb_off(const struct sfs *fs, unsigned slot)
{
	return (sfs_slot_base(&fs->sb, slot) + SFS_SLOT_HB) * SFS_BLOCK_SIZE;
}

/* Read the slot's heartbeat before claiming it; a never written, corrupt or
 * foreign one is FREE. A block that does not decode may be a live holder's
 * write caught half-way: it is read again a few times before it counts. */
static int hb_read(struct sfs *fs, uint64_t off, struct bdev_hb *hb)
{
	int rc = bdev_hb_read(fs->dev, off, hb, 0);
	for (int i = 0; rc == -EBADMSG && i < 3; i++) {
		usleep(20000);
		rc = bdev_hb_read(fs->dev, off, hb, 0);
	}
	if (rc == -ENODATA || rc == -EBADMSG || rc == -ENOTSUP ||
	    (!rc && memcmp(hb->uuid, fs->sb.uuid, 16) != 0)) {
		if (rc == -EBADMSG)
			log_warn("fs",
				 "block %" PRIu64 ": heartbeat block corrupt; slot taken as free",
				 off / SFS_BLOCK_SIZE);
		memset(hb, 0, sizeof(*hb));
		hb->state = BDEV_HB_FREE;
		return 0;
	}
	return rc;
}

static int hb_write(struct sfs_hbeat *h, unsigned flags)
{
	h->hb.time_ns = clock_ns(CLOCK_REALTIME);
	return bdev_hb_write(h->fs->dev, h->off, &h->hb, flags);
}

/* Does the slot still hold this mount's claim? A mount that takes it over
 * writes a higher incarnation, its own pid and host name. */
static bool hb_ours(const struct sfs_hbeat *h, const struct bdev_hb *cur)
{
	return cur->state == h->hb.state && cur->incarnation == h->hb.incarnation &&
	       cur->pid == h->hb.pid && cur->node_id == h->hb.node_id &&
	       !strcmp(cur->hostname, h->hb.hostname);
}

/* Read the slot back: still ours (0), taken over (-ESTALE), or an error. A
 * block that does not decode is an error to retry (the caller logs it), not
 * a takeover: the expired lease keeps I/O waiting meanwhile. Another valid
 * claim, or another filesystem's block (a reformat), is a takeover. */
static int hb_check(struct sfs_hbeat *h, struct bdev_hb *cur)
{
	int rc = bdev_hb_read(h->fs->dev, h->off, cur, BDEV_HB_PAST_LEASE);
	return rc ? rc : hb_ours(h, cur) ? 0 : -ESTALE;
}

static uint64_t ms_since(uint64_t t0)
{
	return (bdev_now_ns() - t0) / NS_PER_MS;
}

/* Taken over (cur: the new claim), or maybe (cur NULL: a heartbeat write
 * landed too late to tell): stop all I/O for good (sfs_close then fails with
 * EIO and writes nothing, this slot's heartbeat included). */
static void hb_lost(struct sfs_hbeat *h, const struct bdev_hb *cur, uint64_t write_ms)
{
	h->lost = true;
	if (cur) {
		h->taker = *cur;
		log_error("fs",
			  "slot %u was taken over by %s pid %u while this mount was stalled: "
			  "all I/O stops here (unmount it)",
			  h->fs->slot, cur->hostname[0] ? cur->hostname : "?", cur->pid);
	} else
		log_error("fs",
			  "slot %u: a heartbeat write completed %" PRIu64 " ms after its "
			  "read, too late to tell whether another mount claimed the slot "
			  "meanwhile: all I/O stops here (unmount it)",
			  h->fs->slot, write_ms);
	bdev_gate_close(h->fs->dev, EIO);
}

/* One renewal: the slot must still be ours, then a new sequence, and the
 * lease runs from before that read. A read that returned late is not
 * followed by a write (-EAGAIN); a write that completed late fences. */
static int hb_renew(struct sfs_hbeat *h)
{
	uint64_t t0 = bdev_now_ns();
	struct bdev_hb cur;
	int rc = hb_check(h, &cur);
	if (rc == -ESTALE)
		hb_lost(h, &cur, 0);
	if (rc)
		return rc;
	if (ms_since(t0) > HB_WRITE_GAP_MS)
		return -EAGAIN;
	h->hb.sequence++;
	rc = hb_write(h, BDEV_HB_PAST_LEASE);
	uint64_t ms = ms_since(t0);
	if (ms >= HB_WRITE_LATE_MS) {
		hb_lost(h, NULL, ms);
		return -ESTALE;
	}
	if (rc)
		return rc;
	if (ms >= HB_LEASE_MS)
		return -EAGAIN; /* renewed too late to extend anything: again soon */
	bdev_lease_renew(h->fs->dev, t0 + HB_LEASE_MS * NS_PER_MS, HB_LEASE_WAIT_MS);
	return 0;
}

static void *hb_thread(void *arg)
{
	struct sfs_hbeat *h = arg;
	pthread_mutex_lock(&h->mu);
	int rc = 0;
	unsigned fails = 0;
	while (!h->stop && !h->lost) {
		unsigned ms = rc ? HB_RETRY_MS : HB_PERIOD_MS;
		struct timespec ts = clock_ts(clock_ns(CLOCK_MONOTONIC) + ms * NS_PER_MS);
		pthread_cond_timedwait(&h->cv, &h->mu, &ts);
		if (h->stop)
			break;
		rc = hb_renew(h);
		/* Retried every HB_RETRY_MS: say so at the first failure, then
		 * every 100th, and when it works again. */
		if (rc && rc != -ESTALE && ++fails % 100 == 1)
			log_warn("fs", "block %" PRIu64 ": heartbeat not renewed (%u time(s)): %s",
				 h->off / SFS_BLOCK_SIZE, fails, strerror(-rc));
		if (!rc && fails)
			log_info("fs", "block %" PRIu64 ": heartbeat renewed again",
				 h->off / SFS_BLOCK_SIZE);
		if (!rc)
			fails = 0;
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

static uint64_t claim_step(void)
{
	uint32_t r;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint32_t)(clock_ns(CLOCK_REALTIME) ^ ((uint64_t)getpid() << 16));
	return r & 0xfffff;
}

static int hb_read_failed(struct sfs *fs, int rc)
{
	return fail(rc, "cannot read the heartbeat of slot %u: %s", fs->slot, strerror(-rc));
}

/* Read the slot; if it is LIVE, watch it for wait_ms: its holder is alive
 * when the heartbeat advances (-EBUSY). *t0: when the last read started. */
static int slot_watch(struct sfs *fs, struct sfs_hbeat *h, unsigned wait_ms, struct bdev_hb *cur,
		      uint64_t *t0)
{
	*t0 = bdev_now_ns();
	int rc = hb_read(fs, h->off, cur);
	if (rc)
		return hb_read_failed(fs, rc);
	if (cur->state != BDEV_HB_LIVE)
		return 0;
	uint64_t deadline = clock_ns(CLOCK_MONOTONIC) + wait_ms * NS_PER_MS;
	while (clock_ns(CLOCK_MONOTONIC) < deadline) {
		usleep(100000);
		struct bdev_hb again;
		*t0 = bdev_now_ns();
		rc = hb_read(fs, h->off, &again);
		if (rc)
			return hb_read_failed(fs, rc);
		if (again.state != BDEV_HB_LIVE) { /* unmounted meanwhile */
			*cur = again;
			break;
		}
		if (bdev_hb_newer(&again, cur))
			return fail(-EBUSY, "device is mounted on %s pid %u",
				    again.hostname[0] ? again.hostname : "?", again.pid);
	}
	return 0;
}

/* This host's name as the heartbeat holds it (printable, truncated). */
static void hb_hostname(struct bdev_hb *hb)
{
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	size_t k = 0;
	for (size_t i = 0; host[i] && k < BDEV_HB_HOST_MAX; i++)
		if (host[i] >= 0x20 && host[i] <= 0x7e)
			hb->hostname[k++] = host[i];
	hb->hostname[k] = 0;
}

/* Claim the slot: refuse a live holder, take over a dead one. */
static int slot_claim(struct sfs *fs, const struct sfs_mount_opts *o)
{
	struct sfs_hbeat *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->fs = fs;
	h->off = slot_hb_off(fs, fs->slot);
	pthread_mutex_init(&h->mu, NULL);
	cond_init_monotonic(&h->cv);
	fs->hb = h;
	struct bdev_hb cur;
	unsigned wait_ms = o->hb_wait_ms ? o->hb_wait_ms : HB_WATCH_MS;
	uint64_t t0 = 0; /* when the read that justifies the claim started */
	int rc = 0;
	for (int attempt = 0;; attempt++) {
		rc = slot_watch(fs, h, wait_ms, &cur, &t0);
		if (rc)
			return rc;
		if (ms_since(t0) <= HB_WRITE_GAP_MS)
			break;
		if (attempt == 2)
			return fail(-EIO,
				    "heartbeat reads of slot %u take over %u ms: the device "
				    "is too slow to claim the slot safely",
				    fs->slot, HB_WRITE_GAP_MS);
	}
	if (cur.state == BDEV_HB_LIVE)
		log_warn("fs", "slot %u was left mounted by %s pid %u (crashed): taking it over",
			 fs->slot, cur.hostname[0] ? cur.hostname : "?", cur.pid);
	memset(&h->hb, 0, sizeof(h->hb));
	h->hb.state = BDEV_HB_LIVE;
	memcpy(h->hb.uuid, fs->sb.uuid, 16);
	h->hb.node_id = (uint32_t)o->node_id;
	h->hb.slot = fs->slot;
	/* Above the last holder's by a random step: two mounts that read the
	 * same block (two hosts, or two with one pid and host name) write
	 * claims that differ, so the read-back tells them apart. */
	h->hb.incarnation = cur.incarnation + 1 + claim_step();
	h->hb.sequence = 1;
	h->hb.pid = (uint32_t)getpid();
	h->hb.mode = fs->local ? BDEV_HB_LOCAL : BDEV_HB_CLUSTER;
	h->hb.proto_version = 1;
	hb_hostname(&h->hb);
	rc = hb_write(h, BDEV_HB_FLUSH);
	if (rc)
		return fail(rc, "cannot write the heartbeat of slot %u: %s", fs->slot,
			    strerror(-rc));
	if (ms_since(t0) >= HB_WRITE_LATE_MS)
		return fail(-EIO,
			    "the heartbeat write of slot %u took over %u ms: cannot tell "
			    "whether another mount claimed the slot meanwhile",
			    fs->slot, HB_WRITE_LATE_MS);
	bdev_lease_renew(fs->dev, t0 + HB_LEASE_MS * NS_PER_MS, HB_LEASE_WAIT_MS);
	return 0;
}

static int hb_start(struct sfs *fs)
{
	int rc = -pthread_create(&fs->hb->thr, NULL, hb_thread, fs->hb);
	fs->hb->started = rc == 0;
	return rc;
}

/* A mount reads its claim back HB_CONFIRM_MS after writing it, before it
 * touches the journal, while the heartbeat thread renews it (a claim that
 * did not advance would look crashed to another mount watching the slot).
 * Whoever else wrote the slot around the claim (another claimer, a stalled
 * holder whose late write is bounded by HB_WRITE_LATE_MS) has landed by
 * then, and a renewal or this read finds it: the mount gives up. Tools and
 * tests that set hb_wait_ms know nobody else is there. */
static int slot_confirm(struct sfs *fs, const struct sfs_mount_opts *o)
{
	struct sfs_hbeat *h = fs->hb;
	if (o->hb_wait_ms)
		return 0;
	usleep(HB_CONFIRM_MS * 1000);
	pthread_mutex_lock(&h->mu); /* not while a renewal runs */
	struct bdev_hb cur;
	int rc = h->lost ? -ESTALE : hb_check(h, &cur);
	if (rc == -ESTALE && !h->lost)
		hb_lost(h, &cur, 0);
	pthread_mutex_unlock(&h->mu);
	if (rc == -ESTALE && !h->taker.pid)
		return fail(-EIO, "the heartbeat of slot %u is too slow to hold the slot safely",
			    fs->slot);
	if (rc == -ESTALE)
		return fail(-EBUSY, "device is mounted on %s pid %u",
			    h->taker.hostname[0] ? h->taker.hostname : "?", h->taker.pid);
	if (rc)
		return hb_read_failed(fs, rc);
	return 0;
}

/* Read the heartbeat of every slot but skip into first[] (slot_count of
 * them) and watch the LIVE ones for the watch time: one that advances is a
 * mount alive somewhere, refused (-EBUSY, said). */
static int watch_slots(struct sfs *fs, const struct sfs_mount_opts *o, unsigned skip,
		       struct bdev_hb *first)
{
	unsigned n = fs->sb.slot_count, live = 0;
	int rc = 0;
	for (unsigned s = 0; s < n && !rc; s++) {
		if (s == skip)
			continue;
		rc = hb_read(fs, slot_hb_off(fs, s), &first[s]);
		if (rc)
			rc = fail(rc, "cannot read the heartbeat of slot %u: %s", s, strerror(-rc));
		else if (first[s].state == BDEV_HB_LIVE)
			live++;
	}
	uint64_t deadline =
	    clock_ns(CLOCK_MONOTONIC) + (o->hb_wait_ms ? o->hb_wait_ms : HB_WATCH_MS) * NS_PER_MS;
	while (!rc && live && clock_ns(CLOCK_MONOTONIC) < deadline) {
		usleep(100000);
		for (unsigned s = 0; s < n && !rc; s++) {
			if (s == skip || first[s].state != BDEV_HB_LIVE)
				continue;
			struct bdev_hb now;
			rc = hb_read(fs, slot_hb_off(fs, s), &now);
			if (rc)
				rc = fail(rc, "cannot read the heartbeat of slot %u: %s", s,
					  strerror(-rc));
			else if (now.state == BDEV_HB_LIVE && bdev_hb_newer(&now, &first[s]))
				rc = fail(-EBUSY, "device is mounted on %s pid %u (slot %u)",
					  now.hostname[0] ? now.hostname : "?", now.pid, s);
		}
	}
	return rc;
}

/* A mount that owns the whole device (local mode) is alone on it. Another
 * slot whose heartbeat advances is a live mount: refused (-EBUSY). One left
 * LIVE without progress belongs to a crashed holder: it is marked FENCED
 * under this mount's name, so that a holder that was only stalled finds
 * its slot taken at its next renewal and stops, and then every other slot's
 * journal is replayed. Left there, a journal would be replayed by that
 * slot's next mount over the changes this one makes. Their orphan lists
 * wait for that slot's next mount, as in cluster recovery. */
static int others_recover(struct sfs *fs, const struct sfs_mount_opts *o)
{
	unsigned n = fs->sb.slot_count;
	struct bdev_hb *first = calloc(n, sizeof(*first));
	if (!first)
		return fail(-ENOMEM, "out of memory");
	int rc = watch_slots(fs, o, fs->slot, first);
	for (unsigned s = 0; s < n && !rc; s++) {
		if (s == fs->slot || first[s].state != BDEV_HB_LIVE)
			continue;
		log_warn("fs", "slot %u was left mounted by %s pid %u (crashed): fencing it", s,
			 first[s].hostname[0] ? first[s].hostname : "?", first[s].pid);
		struct bdev_hb f = first[s];
		f.state = BDEV_HB_FENCED;
		f.incarnation += 1 + claim_step();
		f.sequence = 1;
		f.pid = (uint32_t)getpid();
		f.node_id = (uint32_t)o->node_id;
		f.mode = BDEV_HB_LOCAL;
		f.time_ns = clock_ns(CLOCK_REALTIME);
		hb_hostname(&f);
		rc = bdev_hb_write(fs->dev, slot_hb_off(fs, s), &f, BDEV_HB_FLUSH);
		if (rc)
			rc = fail(rc, "cannot fence slot %u: %s", s, strerror(-rc));
	}
	for (unsigned s = 0; s < n && !rc; s++) {
		unsigned count = 0;
		if (s == fs->slot)
			continue;
		rc = jnl_replay(fs->dev, &fs->sb, s, true, &count);
		if (rc)
			rc = fail(rc, "journal replay of slot %u failed: %s", s, strerror(-rc));
		else if (count)
			log_info("fs", "slot %u: replayed %u transaction(s)", s, count);
	}
	free(first);
	return rc;
}

/* Stop the thread; with state != 0 write that final state. */
static int hb_stop(struct sfs *fs, uint32_t state)
{
	struct sfs_hbeat *h = fs->hb;
	int rc = 0;
	if (!h)
		return 0;
	if (h->started) {
		pthread_mutex_lock(&h->mu);
		h->stop = true;
		pthread_cond_broadcast(&h->cv);
		pthread_mutex_unlock(&h->mu);
		pthread_join(h->thr, NULL);
	}
	if (state) {
		/* Only over this mount's own claim. */
		struct bdev_hb cur;
		rc = h->lost ? -EIO : hb_check(h, &cur);
		if (rc == -ESTALE)
			hb_lost(h, &cur, 0);
		if (!rc) {
			h->hb.state = (enum bdev_hb_state)state;
			h->hb.sequence++;
			rc = hb_write(h, BDEV_HB_FLUSH | BDEV_HB_PAST_LEASE);
		}
	}
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h);
	fs->hb = NULL;
	return rc;
}

/* ---- superblock ---- */

static int super_write(struct sfs *fs)
{
	uint8_t *blk = bdev_alloc(SFS_BLOCK_SIZE);
	if (!blk)
		return -ENOMEM;
	pthread_mutex_lock(&fs->sb_mu);
	fs->sb.mtime = (uint64_t)time(NULL);
	struct sfs_super sb = fs->sb;
	pthread_mutex_unlock(&fs->sb_mu);
	int rc = 0;
	for (uint64_t at = SFS_SUPER_BLKNO; at <= SFS_SUPER_BACKUP && !rc; at++) {
		sfs_super_encode(&sb, at, blk);
		rc = bdev_write(fs->dev, at * SFS_BLOCK_SIZE, blk, SFS_BLOCK_SIZE);
	}
	if (!rc)
		rc = bdev_flush(fs->dev);
	bdev_free(blk);
	return rc;
}

void sfs_mark_error(struct sfs *fs)
{
	pthread_mutex_lock(&fs->sb_mu);
	fs->sb.state |= SFS_SB_ERROR;
	pthread_mutex_unlock(&fs->sb_mu);
}

/* ---- lock callouts ---- */

static int co_flush(void *arg, uint64_t res)
{
	return jnl_flush_res(arg, res);
}

static void co_invalidate(void *arg, uint64_t res)
{
	struct sfs *fs = arg;
	bc_drop_res(fs, res);
	if (fs->ops.invalidate)
		fs->ops.invalidate(fs, res);
}

/* ---- open / close ---- */

static void sfs_free(struct sfs *fs)
{
	orphan_teardown(fs);
	alloc_teardown(fs);
	if (fs->bc)
		bc_teardown(fs);
	if (fs->dev && !fs->dev_borrowed)
		bdev_close(fs->dev);
	pthread_mutex_destroy(&fs->sb_mu);
	free(fs);
}

static int read_super(struct sfs *fs)
{
	uint8_t *blk = bdev_alloc(SFS_BLOCK_SIZE);
	if (!blk)
		return fail(-ENOMEM, "out of memory");
	int rc = bdev_read(fs->dev, SFS_SUPER_BLKNO * SFS_BLOCK_SIZE, blk, SFS_BLOCK_SIZE);
	if (rc) {
		bdev_free(blk);
		return fail(rc, "%s: cannot read the superblock: %s", bdev_path(fs->dev),
			    strerror(-rc));
	}
	const char *why;
	rc = sfs_super_decode(blk, SFS_SUPER_BLKNO, &fs->sb, &why);
	bdev_free(blk);
	if (rc)
		return fail(-EINVAL, "%s: %s", bdev_path(fs->dev), why);
	bool ro_only;
	if (sfs_super_compatible(&fs->sb, &ro_only, &why))
		return fail(-EINVAL, "%s: %s", bdev_path(fs->dev), why);
	if (ro_only && !fs->readonly)
		return fail(-EROFS, "%s: unknown read-only-compatible feature: mount read-only",
			    bdev_path(fs->dev));
	if (bdev_size(fs->dev) / SFS_BLOCK_SIZE < fs->sb.blocks)
		return fail(-EINVAL,
			    "%s: device is smaller than the filesystem (%" PRIu64
			    " bytes, needs %" PRIu64 ")",
			    bdev_path(fs->dev), bdev_size(fs->dev), fs->sb.blocks * SFS_BLOCK_SIZE);
	return 0;
}

int sfs_open(const char *dev_path, const struct sfs_mount_opts *o, struct lcl *lcl,
	     struct sfs **out)
{
	static const struct sfs_mount_opts defaults = {.local = true};
	if (!o)
		o = &defaults;
	last_error[0] = 0;
	struct sfs *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return fail(-ENOMEM, "out of memory");
	pthread_mutex_init(&fs->sb_mu, NULL);
	fs->lcl = lcl;
	fs->readonly = o->readonly;
	fs->local = o->local;
	fs->slot = o->slot;
	fs->user = o->user;
	if (o->ops)
		fs->ops = *o->ops;
	unsigned flags = (o->readonly ? BDEV_RDONLY : 0) | (o->buffered ? BDEV_BUFFERED : 0);
	int rc = 0;
	if (o->dev && o->readonly) {
		fs->dev = o->dev;
		fs->dev_borrowed = true;
	} else {
		rc = bdev_open(dev_path, flags, &fs->dev);
	}
	if (rc) {
		free(fs);
		return fail(rc, "%s: %s", dev_path, strerror(-rc));
	}
	rc = read_super(fs);
	if (rc)
		goto err;
	if (fs->slot >= fs->sb.slot_count) {
		rc = fail(-EINVAL, "slot %u does not exist (the filesystem has %u)", fs->slot,
			  fs->sb.slot_count);
		goto err;
	}
	rc = bc_setup(fs, o->cache_blocks);
	if (rc)
		goto err;
	if (lcl) {
		struct lcl_callouts co = {
		    .flush = co_flush, .invalidate = co_invalidate, .arg = fs};
		for (int t = LCL_T_SUPER; t < LCL_T_MAX; t++)
			lcl_set_callouts(lcl, (enum lcl_type)t, &co);
	}
	if (fs->readonly && fs->local && o->own_device) {
		/* A read-only mount does not share the device with a live
		 * mount: it would read a filesystem changing under it, with no
		 * lock to tell it. It claims no slot (it writes nothing, the
		 * device may be read-only), so a read-write mount that starts
		 * after it is not kept out (fs/FORMAT.md, "Heartbeat block"). */
		struct bdev_hb *hbs = calloc(fs->sb.slot_count, sizeof(*hbs));
		rc = hbs ? watch_slots(fs, o, UINT_MAX, hbs) : fail(-ENOMEM, "out of memory");
		free(hbs);
		if (rc)
			goto err;
	}
	if (fs->readonly && fs->local) {
		/* A read-only mount writes nothing, so it cannot replay: what a
		 * journal still holds is not home yet and reading around it would
		 * show a half-old filesystem. Refuse rather than mislead. */
		for (unsigned s = 0; s < fs->sb.slot_count; s++) {
			unsigned n = 0;
			rc = jnl_replay(fs->dev, &fs->sb, s, false, &n);
			if (rc) {
				rc = fail(rc, "cannot read the journal of slot %u: %s", s,
					  strerror(-rc));
				goto err;
			}
			if (n) {
				rc = fail(-EUCLEAN,
					  "the journal of slot %u holds %u transaction(s) not yet "
					  "written home (not unmounted cleanly): mount read-write "
					  "once to replay it, or run sanctl fsck --repair",
					  s, n);
				goto err;
			}
		}
	}
	if (!fs->readonly) {
		if (lcl) {
			rc = lcl_lock_node(lcl, sfs_owner_slot(fs->slot), LCL_EX);
			if (rc) {
				rc = fail(rc, "cannot lock slot %u: %s", fs->slot, strerror(-rc));
				goto err;
			}
			fs->slot_locked = true;
		}
		if (!o->external_heartbeat) {
			rc = slot_claim(fs, o);
			if (!rc)
				rc = hb_start(fs); /* renews the lease from here on */
			if (!rc)
				rc = slot_confirm(fs, o);
			if (!rc && o->own_device)
				rc = others_recover(fs, o);
			if (rc)
				goto err;
		}
		unsigned n = 0;
		rc = jnl_replay(fs->dev, &fs->sb, fs->slot, true, &n);
		if (rc) {
			rc = fail(rc, "journal replay of slot %u failed: %s", fs->slot,
				  strerror(-rc));
			goto err;
		}
		if (n)
			log_info("fs", "slot %u: replayed %u transaction(s)", fs->slot, n);
		rc = jnl_start(fs, o->commit_ms);
		if (rc) {
			rc = fail(rc, "cannot start the journal of slot %u: %s", fs->slot,
				  strerror(-rc));
			goto err;
		}
		if (fs->local) {
			fs->sb.state &= ~SFS_SB_CLEAN;
			rc = super_write(fs);
			if (rc) {
				rc = fail(rc, "cannot write the superblock: %s", strerror(-rc));
				goto err;
			}
		}
	}
	rc = alloc_setup(fs);
	if (!rc)
		rc = orphan_setup(fs);
	if (rc) {
		rc = fail(rc, "cannot set up the allocator: %s", strerror(-rc));
		goto err;
	}
	if (fs->ops.setup) {
		rc = fs->ops.setup(fs);
		if (rc) {
			rc = fail(rc, "cannot set up the inode cache: %s", strerror(-rc));
			goto err;
		}
	}
	if (!fs->readonly && fs->ops.reclaim)
		orphan_process(fs);
	*out = fs;
	return 0;
err:
	jnl_stop(fs, false);
	hb_stop(fs, 0);
	if (fs->slot_locked)
		lcl_unlock_node(lcl, sfs_owner_slot(fs->slot), LCL_EX);
	sfs_free(fs);
	return rc;
}

int sfs_close(struct sfs *fs)
{
	if (!fs)
		return 0;
	int rc = 0, r;
	atomic_store(&fs->frozen, false); /* remounted ro: unmounting writes the clean state */
	if (fs->ops.teardown)
		fs->ops.teardown(fs);
	if (!fs->readonly) {
		rc = alloc_save_cursor(fs);
		r = jnl_stop(fs, true);
		if (r && !rc)
			rc = r;
		if (fs->local && !rc) {
			pthread_mutex_lock(&fs->sb_mu);
			fs->sb.state |= SFS_SB_CLEAN;
			pthread_mutex_unlock(&fs->sb_mu);
			r = super_write(fs);
			if (r && !rc)
				rc = r;
		}
		r = hb_stop(fs, rc ? 0 : BDEV_HB_CLEAN);
		if (r && !rc)
			rc = r;
		if (fs->slot_locked)
			lcl_unlock_node(fs->lcl, sfs_owner_slot(fs->slot), LCL_EX);
	}
	if (rc)
		log_error("fs", "unmount of %s: %s", bdev_path(fs->dev), strerror(-rc));
	sfs_free(fs);
	return rc;
}

void sfs_crash(struct sfs *fs)
{
	if (!fs)
		return;
	bdev_gate_close(fs->dev, EIO);
	if (fs->ops.teardown)
		fs->ops.teardown(fs);
	jnl_stop(fs, false);
	hb_stop(fs, 0);
	if (fs->slot_locked)
		lcl_unlock_node(fs->lcl, sfs_owner_slot(fs->slot), LCL_EX);
	sfs_free(fs);
}

uint64_t sfs_root_ino(struct sfs *fs)
{
	return fs->sb.root_ino;
}

const uint8_t *sfs_dir_hash_seed(struct sfs *fs)
{
	return fs->sb.dir_hash_seed;
}
