/* Power loss with a volatile device write cache (not just kill -9): each
 * round mkfs's an image, mounts it in-process with the blockdev VOLATILE
 * fault (every write since the last device flush may be lost, whole or
 * torn per 4 KiB block), runs a few threads of creates, appends,
 * overwrites, renames, renames over another file, unlinks, fsyncs and
 * directory syncs through the fs API, cuts the power at a random moment
 * (bdev_fault_powerloss), stops the filesystem as a crash, then mounts
 * without the fault (journal replay, orphans) and checks:
 *
 *  - the filesystem mounts, and after a clean unmount fsck is clean;
 *  - every name change known durable (its transaction was at or before
 *    one a successful fsync or jnl_wait waited for) is there; each file is
 *    in a state its history allows (absent, or under one of the names it
 *    had at or after the newest durable point, with its own inode);
 *  - every byte written before a successful fsync of its file is there;
 *  - every byte inside a file's size is that file's pattern (a pure
 *    function of (file id, offset)) or zero, never stale bytes of another
 *    file or of metadata (stale data exposure), and no size is larger
 *    than the file ever was;
 *  - the file's attribute user.v (set again and again with lengths from a
 *    few bytes inline to XATTR_SIZE_MAX in the xattr run, so runs grow,
 *    move, shrink and go) is one whole version that was set, not older
 *    than the one an fsync made durable.
 *
 * Rounds: SANFS_POWERLOSS_ROUNDS (default 30), bounded to about
 * SANFS_POWERLOSS_SECONDS (default 60) s.
 * Randomized: each round prints nothing unless it fails, then its seed;
 * SANFS_TEST_SEED=S SANFS_POWERLOSS_ROUNDS=1 replays the round with seed S
 * (same operations per thread, cut time and loss; thread interleaving may
 * differ). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blockdev/bdev.h"
#include "common/log.h"
#include "fs/dir.h"
#include "fs/file.h"
#include "fs/fsck.h"
#include "fs/inode.h"
#include "fs/jnl.h"
#include "fs/mkfs.h"
#include "fs/sfs.h"
#include "fs/xattr.h"
#include "locks/lcl.h"

#define NTHREADS 3
#define NFILES	 48	     /* files a thread creates in a round, at most */
#define NEVENTS	 24	     /* name events of one file */
#define FMAX	 (160 << 10) /* largest file */
#define WMAX	 (40 << 10)  /* largest write */
#define BUFMAX	 (64 << 10)  /* a worker's buffer: the largest write or xattr value */
#define MAYBE	 UINT64_MAX  /* tid of a change whose handle failed */

static char img[64];
static struct sfs *fs;
static struct lcl *lcl;
static unsigned round_seed;
static int round_no;

/* One name change of a file: from transaction tid on, the file is name
 * (-1: it has no name any more). */
struct ev {
	uint64_t tid;
	int name;
};

struct pfile {
	unsigned fid;	   /* unique in the round */
	uint64_t ino, gen; /* inode numbers are reused; (number, generation) are not */
	int name;	   /* current name, -1 when unlinked */
	uint64_t size;	   /* as this thread last set it */
	uint64_t max_size;
	uint64_t ack_size; /* bytes below it were made durable by an fsync */
	uint64_t ack_tid;  /* the transaction that fsync waited for */
	uint32_t xver;	   /* versions of user.v set (tried) so far */
	uint32_t xack;	   /* the version an fsync made durable, 0: none */
	unsigned nev;
	struct ev ev[NEVENTS];
};

struct worker {
	unsigned id;
	unsigned seed;
	struct pfile f[NFILES];
	unsigned nf;
	unsigned next_name;
	uint64_t last_ns_tid;
	unsigned ops, fsyncs;
	int err; /* the error that stopped it, 0 when stopped by the flag */
	bool err_before_cut;
	uint8_t *buf;
};

static struct worker W[NTHREADS];
static atomic_bool stop;
static atomic_bool cutting;		 /* set just before the cut: errors after it are expected */
static atomic_uint_fast64_t durable_tid; /* every tid <= it is durable */
static uint8_t *rbuf;			 /* the checker's read buffer (FMAX) */
static unsigned sync_pct;		 /* per cent of operations that are fsyncs */

static void durable_at_least(uint64_t tid)
{
	uint64_t cur = atomic_load(&durable_tid);
	while (cur < tid && !atomic_compare_exchange_weak(&durable_tid, &cur, tid))
		;
}

static uint8_t pat(unsigned fid, uint64_t off)
{
	uint32_t v = (uint32_t)off * 2654435761u ^ (fid * 40503u + 0x5bd1e995u);
	v ^= v >> 13;
	v *= 0x85ebca6bu;
	v ^= v >> 16;
	return (uint8_t)(1 + v % 255);
}

static void name_of(int name, char out[16])
{
	snprintf(out, 16, "n%d", name);
}

static void add_ev(struct pfile *p, uint64_t tid, int name)
{
	if (p->nev < NEVENTS)
		p->ev[p->nev++] = (struct ev){tid, name};
	else /* never: ops that add events check for room first */
		ck_abort_msg("file %u: too many events", p->fid);
}

/* ---- locking helpers: inode locks in ascending number ---- */

struct locks {
	unsigned n;
	uint64_t ino[3];
	struct lcl_handle *h[3];
};

static int lock_all(struct locks *l)
{
	for (unsigned i = 0; i < l->n; i++)
		for (unsigned j = i + 1; j < l->n; j++)
			if (l->ino[j] < l->ino[i]) {
				uint64_t t = l->ino[i];
				l->ino[i] = l->ino[j];
				l->ino[j] = t;
			}
	for (unsigned i = 0; i < l->n; i++) {
		int r = lcl_lock(lcl, inode_res(l->ino[i]), LCL_EX, &l->h[i]);
		if (r) {
			while (i-- > 0)
				lcl_unlock(l->h[i]);
			return r;
		}
	}
	return 0;
}

static void unlock_all(struct locks *l)
{
	for (unsigned i = l->n; i-- > 0;)
		lcl_unlock(l->h[i]);
}

/* End a handle: txn_end when r == 0, else txn_abort (the journal aborts if
 * the handle changed anything, as fuse_ops does). */
static int finish(struct txn *t, int r, uint64_t *tid)
{
	if (r) {
		txn_abort(t);
		return r;
	}
	return txn_end(t, tid);
}

/* ---- operations (each as fuse_ops does it, without the FUSE parts) ---- */

static int op_create(struct worker *w)
{
	if (w->nf >= NFILES)
		return 1; /* nothing to do */
	struct pfile *p = &w->f[w->nf];
	int name = (int)(w->id * 100000 + w->next_name++);
	char nm[16];
	name_of(name, nm);
	uint64_t root_ino = sfs_root_ino(fs);
	struct locks l = {.n = 1, .ino = {root_ino}};
	int r = lock_all(&l);
	if (r)
		return r;
	struct sfs_inode *root, *ip = NULL;
	r = inode_get(fs, root_ino, &root);
	if (r) {
		unlock_all(&l);
		return r;
	}
	struct txn *t = NULL;
	for (int attempt = 0;; attempt++) {
		r = txn_begin(fs, 2 * inode_write_max_blocks() + dir_max_blocks_per_op() + 8, &t);
		if (r) {
			t = NULL;
			break;
		}
		r = inode_create(fs, t, root, S_IFREG | 0644, 0, 0, 0, &ip);
		if (r != -ENOSPC || attempt > 0)
			break;
		txn_abort(t);
		t = NULL;
		r = jnl_sync(fs);
		if (r)
			break;
	}
	uint64_t tid = 0;
	bool changed = false;
	if (t) {
		changed = r == 0;
		if (!r)
			r = dir_add(fs, t, root, nm, strlen(nm), ip->ino, DT_REG);
		if (!r)
			r = inode_write(fs, t, root);
		if (!r)
			r = inode_write(fs, t, ip);
		r = finish(t, r, &tid);
	}
	if (changed) {
		*p = (struct pfile){
		    .fid = w->id * 1000 + w->nf, .ino = ip->ino, .gen = ip->generation, .name = -1};
		w->nf++;
		add_ev(p, r ? MAYBE : tid, name);
		p->name = r ? -1 : name;
		if (!r)
			w->last_ns_tid = tid;
	}
	unlock_all(&l);
	if (ip)
		inode_put(fs, ip);
	inode_put(fs, root);
	return r;
}

static struct pfile *pick_live(struct worker *w, int skip)
{
	unsigned live = 0;
	for (unsigned i = 0; i < w->nf; i++)
		live += w->f[i].name >= 0 && (int)i != skip;
	if (!live)
		return NULL;
	unsigned k = (unsigned)rand_r(&w->seed) % live;
	for (unsigned i = 0; i < w->nf; i++)
		if (w->f[i].name >= 0 && (int)i != skip && k-- == 0)
			return &w->f[i];
	return NULL;
}

/* p's inode locked EX and referenced (*ip); on failure neither. */
static int lock_get(const struct pfile *p, struct locks *l, struct sfs_inode **ip)
{
	*l = (struct locks){.n = 1, .ino = {p->ino}};
	int r = lock_all(l);
	if (r)
		return r;
	r = inode_get(fs, p->ino, ip);
	if (r)
		unlock_all(l);
	return r;
}

static int op_write(struct worker *w, struct pfile *p, bool append)
{
	uint64_t off, len = 1 + (uint64_t)rand_r(&w->seed) % WMAX;
	if (append || p->size == 0) {
		off = p->size;
	} else {
		off = (uint64_t)rand_r(&w->seed) % p->size;
		if (len > p->size - off && rand_r(&w->seed) % 2)
			len = p->size - off; /* a pure overwrite */
	}
	if (off + len > FMAX) {
		if (off >= FMAX)
			off = (uint64_t)rand_r(&w->seed) % FMAX; /* full: overwrite instead */
		if (off + len > FMAX)
			len = FMAX - off;
	}
	for (uint64_t i = 0; i < len; i++)
		w->buf[i] = pat(p->fid, off + i);
	struct locks l;
	struct sfs_inode *ip;
	int r = lock_get(p, &l, &ip);
	if (r)
		return r;
	/* Whatever happens, the size may now be up to off + len. */
	if (off + len > p->max_size)
		p->max_size = off + len;
	size_t done = 0;
	r = file_write(fs, ip, w->buf, len, off, &done);
	if (!r && done != len)
		r = -ENOSPC;
	if (off + done > p->size)
		p->size = off + done;
	unlock_all(&l);
	inode_put(fs, ip);
	return r;
}

/* Version ver of file fid's user.v: its length (a pure function, from a
 * few bytes to XATTR_SIZE_MAX) and its bytes (u32 ver, u32 fid, pattern). */
static size_t xlen(unsigned fid, uint32_t ver)
{
	uint32_t h = (fid + 1) * 2654435761u ^ ver * 40503u;
	h ^= h >> 15;
	switch (h % 4) {
	case 0:
		return 8 + h % 200;
	case 1:
		return 8 + h % 3000;
	case 2:
		return 3000 + h % 30000;
	default:
		return h & 16 ? 65536 : 8 + h % 65000;
	}
}

static uint8_t xpat(unsigned fid, uint32_t ver, size_t i)
{
	return (uint8_t)(fid * 31 + ver * 7 + i * 13 + (i >> 9));
}

static int op_xattr(struct worker *w, struct pfile *p)
{
	uint32_t ver = ++p->xver;
	size_t len = xlen(p->fid, ver);
	for (size_t i = 0; i < len; i++)
		w->buf[i] = xpat(p->fid, ver, i);
	memcpy(w->buf, &ver, 4);
	memcpy(w->buf + 4, &p->fid, 4);
	struct locks l;
	struct sfs_inode *ip;
	int r = lock_get(p, &l, &ip);
	if (r)
		return r;
	r = xattr_set(fs, ip, "user.v", w->buf, len, 0);
	unlock_all(&l);
	inode_put(fs, ip);
	return r == -ENOSPC ? 1 : r; /* full: nothing done */
}

/* The rule for user.v of file p found as inode ip; "" when it holds. */
static const char *check_xattr(struct sfs_inode *ip, const struct pfile *p, char *why, size_t wlen)
{
	size_t n = 0;
	int r = xattr_get(fs, ip, "user.v", rbuf, BUFMAX, &n);
	if (r == -ENODATA && p->xack == 0)
		return "";
	if (r) {
		snprintf(why, wlen, "user.v: %d (version %u was fsync'ed)", r, p->xack);
		return why;
	}
	uint32_t ver, fid;
	memcpy(&ver, rbuf, 4);
	memcpy(&fid, rbuf + 4, 4);
	if (n < 8 || fid != p->fid || ver < p->xack || ver == 0 || ver > p->xver ||
	    n != xlen(p->fid, ver)) {
		snprintf(why, wlen,
			 "user.v: %zu bytes of version %u of file %u (set %u, fsync'ed %u)", n, ver,
			 fid, p->xver, p->xack);
		return why;
	}
	for (size_t i = 8; i < n; i++)
		if (rbuf[i] != xpat(p->fid, ver, i)) {
			snprintf(why, wlen, "user.v version %u: byte %zu of %zu wrong", ver, i, n);
			return why;
		}
	return "";
}

static int op_fsync(struct worker *w, struct pfile *p)
{
	struct lcl_handle *h;
	int r = lcl_lock(lcl, inode_res(p->ino), LCL_PR, &h);
	if (r)
		return r;
	struct sfs_inode *ip = NULL;
	r = inode_get(fs, p->ino, &ip);
	if (!r) {
		uint64_t tid = ip->sync_tid, size = p->size;
		uint32_t xver = p->xver;
		r = inode_fsync(fs, ip);
		if (!r) {
			durable_at_least(tid);
			p->xack = xver;
			if (size > p->ack_size) {
				p->ack_size = size;
				p->ack_tid = tid;
			}
			w->fsyncs++;
		}
	}
	lcl_unlock(h);
	if (ip)
		inode_put(fs, ip);
	return r;
}

/* fsync of the directory: the newest name change of this thread. */
static int op_syncdir(struct worker *w)
{
	if (!w->last_ns_tid)
		return 1;
	int r = jnl_wait(fs, w->last_ns_tid);
	if (!r)
		durable_at_least(w->last_ns_tid);
	return r;
}

/* Rename p to a new name, or (over) onto victim's name, replacing it. */
static int op_rename(struct worker *w, struct pfile *p, struct pfile *victim)
{
	if (p->nev >= NEVENTS || (victim && victim->nev >= NEVENTS))
		return 1;
	int name = victim ? victim->name : (int)(w->id * 100000 + w->next_name++);
	char onm[16], nnm[16];
	name_of(p->name, onm);
	name_of(name, nnm);
	uint64_t root_ino = sfs_root_ino(fs);
	struct locks l = {.n = victim ? 3 : 2, .ino = {root_ino, p->ino, victim ? victim->ino : 0}};
	int r = lock_all(&l);
	if (r)
		return r;
	struct sfs_inode *root = NULL, *vp = NULL;
	r = inode_get(fs, root_ino, &root);
	if (!r && victim)
		r = inode_get(fs, victim->ino, &vp);
	struct txn *t = NULL;
	if (!r)
		r = txn_begin(fs, 3 * inode_write_max_blocks() + 3 * dir_max_blocks_per_op() + 4,
			      &t);
	if (r) {
		unlock_all(&l);
		goto out;
	}
	uint64_t tid = 0, gone = 0;
	if (victim) {
		r = dir_set(fs, t, root, nnm, strlen(nnm), p->ino, DT_REG);
		if (!r)
			r = dir_remove(fs, t, root, onm, strlen(onm), &gone);
		if (!r && vp->nlink > 0)
			vp->nlink--;
		if (!r)
			r = inode_write(fs, t, vp); /* nlink 0: onto the orphan list */
	} else {
		r = dir_add(fs, t, root, nnm, strlen(nnm), p->ino, DT_REG);
		if (!r)
			r = dir_remove(fs, t, root, onm, strlen(onm), &gone);
	}
	if (!r && gone != p->ino)
		ck_abort_msg("rename: %s named inode %llu, not %llu", onm, (unsigned long long)gone,
			     (unsigned long long)p->ino);
	if (!r)
		r = inode_write(fs, t, root);
	r = finish(t, r, &tid);
	add_ev(p, r ? MAYBE : tid, name);
	if (victim)
		add_ev(victim, r ? MAYBE : tid, -1);
	if (!r) {
		p->name = name;
		if (victim)
			victim->name = -1;
		w->last_ns_tid = tid;
	}
	unlock_all(&l);
out:
	if (vp)
		inode_put(fs, vp); /* the last reference of a replaced file frees it */
	if (root)
		inode_put(fs, root);
	return r;
}

static int op_unlink(struct worker *w, struct pfile *p)
{
	if (p->nev >= NEVENTS)
		return 1;
	char nm[16];
	name_of(p->name, nm);
	uint64_t root_ino = sfs_root_ino(fs);
	struct locks l = {.n = 2, .ino = {root_ino, p->ino}};
	int r = lock_all(&l);
	if (r)
		return r;
	struct sfs_inode *root = NULL, *ip = NULL;
	r = inode_get(fs, root_ino, &root);
	if (!r)
		r = inode_get(fs, p->ino, &ip);
	struct txn *t = NULL;
	if (!r)
		r = txn_begin(fs, 2 * inode_write_max_blocks() + dir_max_blocks_per_op() + 4, &t);
	if (r) {
		unlock_all(&l);
		goto out;
	}
	uint64_t tid = 0, gone = 0;
	r = dir_remove(fs, t, root, nm, strlen(nm), &gone);
	if (!r && gone != p->ino)
		ck_abort_msg("unlink: %s named inode %llu, not %llu", nm, (unsigned long long)gone,
			     (unsigned long long)p->ino);
	if (!r)
		ip->nlink--;
	if (!r)
		r = inode_write(fs, t, root);
	if (!r)
		r = inode_write(fs, t, ip);
	r = finish(t, r, &tid);
	add_ev(p, r ? MAYBE : tid, -1);
	if (!r) {
		p->name = -1;
		w->last_ns_tid = tid;
	}
	unlock_all(&l);
out:
	if (ip)
		inode_put(fs, ip);
	if (root)
		inode_put(fs, root);
	return r;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	while (!atomic_load(&stop)) {
		unsigned c = (unsigned)rand_r(&w->seed) % 100;
		struct pfile *p = pick_live(w, -1);
		int r = 0;
		if (p && c < sync_pct) {
			if (rand_r(&w->seed) % 4)
				r = op_fsync(w, p);
			else
				r = op_syncdir(w);
			goto done;
		}
		c = (unsigned)rand_r(&w->seed) % 19;
		if (p && c >= 16)
			r = op_xattr(w, p);
		else if (!p || c < 2)
			r = op_create(w);
		else if (c < 8)
			r = op_write(w, p, true);
		else if (c < 11)
			r = op_write(w, p, false);
		else if (c < 13)
			r = op_rename(w, p, NULL);
		else if (c < 14) {
			struct pfile *v = pick_live(w, (int)(p - w->f));
			r = v ? op_rename(w, p, v) : 1;
		} else
			r = op_unlink(w, p);
	done:
		if (r > 0) { /* nothing was done: no busy loop */
			struct timespec ts = {0, 1000 * 1000};
			nanosleep(&ts, NULL);
			continue;
		}
		w->ops++;
		if (r) {
			w->err = r;
			w->err_before_cut = !atomic_load(&cutting);
			break;
		}
	}
	return NULL;
}

/* ---- checking after the cut ---- */

struct seen {
	char name[32];
	uint64_t ino, gen, size;
	uint32_t nlink;
	bool matched;
};

struct listing {
	struct seen e[NTHREADS * NFILES + 8];
	unsigned n;
};

static int list_fn(void *arg, const char *name, size_t len, uint64_t ino, uint8_t dtype,
		   uint64_t next_cookie)
{
	(void)dtype;
	(void)next_cookie;
	struct listing *ls = arg;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	ck_assert_msg(ls->n < sizeof(ls->e) / sizeof(ls->e[0]),
		      "seed %u: more directory entries than files ever created", round_seed);
	ck_assert_msg(len < sizeof(ls->e[0].name), "seed %u: entry name of %zu bytes", round_seed,
		      len);
	struct seen *s = &ls->e[ls->n++];
	memcpy(s->name, name, len);
	s->name[len] = 0;
	s->ino = ino;
	s->matched = false;
	return 0;
}

/* Names the file may have after the cut (-1: none): its name at the
 * durable point and every one it took after. *n candidates. */
static unsigned candidates(const struct pfile *p, uint64_t durable, int out[NEVENTS + 1])
{
	int at = -1;
	unsigned i = 0, n = 0;
	for (; i < p->nev && p->ev[i].tid <= durable; i++)
		at = p->ev[i].name;
	out[n++] = at;
	for (; i < p->nev; i++)
		out[n++] = p->ev[i].name;
	return n;
}

/* For the failure message: what the model knows of p. */
static void print_history(const struct pfile *p, uint64_t durable)
{
	printf(
	    "file %u inode %llu gen %llu: size %llu (max %llu), fsync'ed %llu at transaction %llu; "
	    "durable transaction %llu; names:",
	    p->fid, (unsigned long long)p->ino, (unsigned long long)p->gen,
	    (unsigned long long)p->size, (unsigned long long)p->max_size,
	    (unsigned long long)p->ack_size, (unsigned long long)p->ack_tid,
	    (unsigned long long)durable);
	for (unsigned i = 0; i < p->nev; i++)
		printf(" %d@%lld", p->ev[i].name,
		       p->ev[i].tid == MAYBE ? -1ll : (long long)p->ev[i].tid);
	printf("\n");
	fflush(stdout);
}

/* For a failure message: every file whose history has the name. */
static void print_name_holders(const char *entry, uint64_t durable)
{
	for (unsigned t = 0; t < NTHREADS; t++)
		for (unsigned k = 0; k < W[t].nf; k++) {
			const struct pfile *p = &W[t].f[k];
			for (unsigned i = 0; i < p->nev; i++) {
				char nm[16];
				name_of(p->ev[i].name, nm);
				if (p->ev[i].name >= 0 && !strcmp(nm, entry)) {
					printf("%s was a name of: ", entry);
					print_history(p, durable);
					break;
				}
			}
		}
}

/* With SANFS_POWERLOSS_KEEP set, keep the image of a failed round (as
 * mounted after the cut, journal replayed) for the engine's owner. */
static void keep_image(void)
{
	if (!getenv("SANFS_POWERLOSS_KEEP"))
		return;
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "cp --sparse=always %s /var/tmp/sanfs-powerloss-fail-%u.img",
		 img, round_seed);
	if (system(cmd) == 0)
		printf("image kept as /var/tmp/sanfs-powerloss-fail-%u.img\n", round_seed);
	fflush(stdout);
}

/* The content rules for file p found as inode ip; "" when they hold, else
 * why not. */
static const char *check_content(struct sfs_inode *ip, const struct pfile *p, char *why,
				 size_t wlen)
{
	if (ip->size > p->max_size) {
		snprintf(why, wlen, "size %llu, larger than it ever was (%llu)",
			 (unsigned long long)ip->size, (unsigned long long)p->max_size);
		return why;
	}
	if (ip->size < p->ack_size) {
		snprintf(why, wlen, "size %llu, fsync'ed at %llu", (unsigned long long)ip->size,
			 (unsigned long long)p->ack_size);
		return why;
	}
	size_t done = 0;
	int r = file_read(fs, ip, rbuf, FMAX, 0, &done);
	if (r || done != ip->size) {
		snprintf(why, wlen, "read: %d, %zu of %llu bytes", r, done,
			 (unsigned long long)ip->size);
		return why;
	}
	for (size_t i = 0; i < done; i++) {
		uint8_t want = pat(p->fid, i);
		if (rbuf[i] == want || (rbuf[i] == 0 && i >= p->ack_size))
			continue;
		size_t j = i;
		while (j < done && rbuf[j] != pat(p->fid, j) && !(rbuf[j] == 0 && j >= p->ack_size))
			j++;
		snprintf(why, wlen,
			 "bytes %zu..%zu of %llu (fsync'ed %llu) are neither its pattern nor "
			 "zero%s: first %02x, want %02x",
			 i, j - 1, (unsigned long long)ip->size, (unsigned long long)p->ack_size,
			 i < p->ack_size ? " or were fsync'ed and lost" : " (stale data)", rbuf[i],
			 want);
		return why;
	}
	return "";
}

static void fsck_msg(void *arg, enum fsck_kind kind, const char *text)
{
	(void)arg;
	if (kind == FSCK_ERROR || kind == FSCK_FIXED || getenv("VERBOSE"))
		printf("fsck: %s\n", text);
}

static struct sfs *mount_img(bool volatile_cache, unsigned commit_ms)
{
	ck_assert_int_eq(lcl_create_local(&lcl), 0);
	struct sfs_ops ops = {0};
	inode_sfs_ops(&ops);
	struct sfs_mount_opts mo = {
	    .local = true, .hb_wait_ms = 1, .commit_ms = commit_ms, .ops = &ops};
	/* Through the environment, so the writes of the mount itself (slot
	 * claim, replay, orphans) go through the volatile cache too. */
	if (volatile_cache) {
		char spec[128];
		snprintf(spec, sizeof(spec), "volatile,seed=%u,dev=%s", round_seed, img);
		setenv("SANFS_BDEV_FAULTS", spec, 1);
	}
	struct sfs *f = NULL;
	int r = sfs_open(img, &mo, lcl, &f);
	unsetenv("SANFS_BDEV_FAULTS");
	ck_assert_msg(r == 0, "seed %u round %d: mount%s: %d %s", round_seed, round_no,
		      volatile_cache ? "" : " after the power cut", r, sfs_last_error());
	return f;
}

struct totals {
	uint64_t reverted, kept, fsyncs, ops, cap_flushes, files, acked_bytes, xattrs;
};

static void verify(struct totals *tot)
{
	fs = mount_img(false, 0);
	uint64_t durable = atomic_load(&durable_tid);
	struct sfs_inode *root;
	ck_assert_int_eq(inode_get(fs, sfs_root_ino(fs), &root), 0);
	static struct listing ls;
	ls.n = 0;
	ck_assert_int_eq(dir_iterate(fs, root, 0, list_fn, &ls), 0);
	inode_put(fs, root);
	for (unsigned e = 0; e < ls.n; e++) {
		struct sfs_inode *ip;
		int r = inode_get(fs, ls.e[e].ino, &ip);
		if (r) {
			print_name_holders(ls.e[e].name, atomic_load(&durable_tid));
			keep_image();
		}
		ck_assert_msg(r == 0, "seed %u round %d: entry %s -> inode %llu: %d", round_seed,
			      round_no, ls.e[e].name, (unsigned long long)ls.e[e].ino, r);
		ls.e[e].gen = ip->generation;
		ls.e[e].nlink = ip->nlink;
		ls.e[e].size = ip->size;
		inode_put(fs, ip);
	}
	char why[256];
	for (unsigned t = 0; t < NTHREADS; t++) {
		for (unsigned k = 0; k < W[t].nf; k++) {
			const struct pfile *p = &W[t].f[k];
			int cand[NEVENTS + 1];
			unsigned nc = candidates(p, durable, cand);
			bool may_be_absent = false;
			for (unsigned c = 0; c < nc; c++)
				may_be_absent |= cand[c] < 0;
			unsigned found = 0;
			for (unsigned e = 0; e < ls.n; e++) {
				if (ls.e[e].ino != p->ino || ls.e[e].gen != p->gen)
					continue;
				bool named = false;
				for (unsigned c = 0; c < nc; c++) {
					char nm[16];
					if (cand[c] < 0)
						continue;
					name_of(cand[c], nm);
					named |= !strcmp(nm, ls.e[e].name);
				}
				if (!named) {
					print_history(p, durable);
					print_name_holders(ls.e[e].name, durable);
					printf("inode %llu on disk: gen %llu nlink %u size %llu\n",
					       (unsigned long long)p->ino,
					       (unsigned long long)ls.e[e].gen, ls.e[e].nlink,
					       (unsigned long long)ls.e[e].size);
					keep_image();
				}
				ck_assert_msg(
				    named,
				    "seed %u round %d: file %u (inode %llu) is %s, a name "
				    "its history does not allow",
				    round_seed, round_no, p->fid, (unsigned long long)p->ino,
				    ls.e[e].name);
				found++;
				ls.e[e].matched = true;
				struct sfs_inode *ip;
				ck_assert_int_eq(inode_get(fs, p->ino, &ip), 0);
				const char *bad = check_content(ip, p, why, sizeof(why));
				if (!*bad)
					bad = check_xattr(ip, p, why, sizeof(why));
				tot->xattrs += p->xver && xattr_get(fs, ip, "user.v", NULL, 0,
								    &(size_t){0}) == 0;
				if (*bad) {
					print_history(p, durable);
					keep_image();
				}
				ck_assert_msg(!*bad,
					      "seed %u round %d: file %u (%s, inode %llu): %s",
					      round_seed, round_no, p->fid, ls.e[e].name,
					      (unsigned long long)p->ino, bad);
				inode_put(fs, ip);
				tot->acked_bytes += p->ack_size;
			}
			ck_assert_msg(found <= 1, "seed %u round %d: file %u under %u names",
				      round_seed, round_no, p->fid, found);
			if (!found && !may_be_absent) {
				char nm[16];
				name_of(cand[0], nm);
				ck_abort_msg("seed %u round %d: file %u (inode %llu) lost: it was "
					     "%s at durable transaction %llu",
					     round_seed, round_no, p->fid,
					     (unsigned long long)p->ino, nm,
					     (unsigned long long)durable);
			}
			tot->files++;
		}
	}
	for (unsigned e = 0; e < ls.n; e++)
		ck_assert_msg(ls.e[e].matched,
			      "seed %u round %d: entry %s -> inode %llu matches no file's history",
			      round_seed, round_no, ls.e[e].name, (unsigned long long)ls.e[e].ino);
	ck_assert_int_eq(sfs_close(fs), 0);
	fs = NULL;
	lcl_destroy(lcl);
	lcl = NULL;
	struct fsck_opts fo = {.msg = fsck_msg};
	struct fsck_result res;
	fsck_run(img, &fo, &res);
	ck_assert_msg(res.exit_code == FSCK_EXIT_CLEAN,
		      "seed %u round %d: fsck after recovery: exit %d, %u errors", round_seed,
		      round_no, res.exit_code, res.errors);
}

static void make_image(void)
{
	int fd = open(img, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 64 << 20), 0);
	close(fd);
	struct mkfs_opts o = {.slots = 2, .journal_bytes = 4 << 20, .root_init = mkfs_root_default};
	const char *why = NULL;
	int r = mkfs_format(img, &o, NULL, &why);
	ck_assert_msg(r == 0, "mkfs: %d %s", r, why ? why : "");
}

static void one_round(struct totals *tot)
{
	unsigned s = round_seed;
	make_image();
	/* Commits every 5 ms to 1 s: more or less unflushed between them. */
	unsigned commit_ms = 5 + (unsigned)rand_r(&s) % 1000;
	static const unsigned pcts[] = {1, 4, 10, 25};
	sync_pct = pcts[rand_r(&s) % 4];
	fs = mount_img(true, commit_ms);
	atomic_store(&stop, false);
	atomic_store(&cutting, false);
	atomic_store(&durable_tid, 0);
	pthread_t th[NTHREADS];
	for (unsigned t = 0; t < NTHREADS; t++) {
		W[t] = (struct worker){.id = t, .seed = s * 31 + t + 1, .buf = W[t].buf};
		ck_assert_int_eq(pthread_create(&th[t], NULL, worker_run, &W[t]), 0);
	}
	/* The cut comes at a random moment: early (the mount's own writes
	 * and the first creates) or late (checkpoints, block reuse). */
	unsigned ms = 5 + (unsigned)rand_r(&s) % 400;
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
	/* Then, for up to 200 ms more, wait until a few writes are unflushed
	 * (the cache is empty right after each of the many flushes). */
	unsigned want = 1 + (unsigned)rand_r(&s) % 12;
	struct bdev_volatile_stats st;
	for (int i = 0; i < 2000; i++) {
		ck_assert_int_eq(bdev_fault_volatile_stats(fs->dev, &st), 0);
		if (st.unflushed_writes >= want)
			break;
		struct timespec poll = {0, 100 * 1000};
		nanosleep(&poll, NULL);
	}
	atomic_store(&cutting, true);
	int n = bdev_fault_powerloss(fs->dev, (uint64_t)rand_r(&s) << 16 | round_seed);
	ck_assert_msg(n >= 0, "seed %u: power cut: %d", round_seed, n);
	atomic_store(&stop, true);
	for (unsigned t = 0; t < NTHREADS; t++) {
		pthread_join(th[t], NULL);
		tot->fsyncs += W[t].fsyncs;
		tot->ops += W[t].ops;
	}
	for (unsigned t = 0; t < NTHREADS; t++)
		ck_assert_msg(
		    !W[t].err_before_cut,
		    "seed %u round %d: thread %u: operation failed before the power cut: %s",
		    round_seed, round_no, t, strerror(-W[t].err));
	struct bdev_volatile_stats st2;
	ck_assert_int_eq(bdev_fault_volatile_stats(fs->dev, &st2), 0);
	if (getenv("VERBOSE_ROUNDS"))
		printf("round %d seed %u: commit %u ms, %u%% fsyncs, cut after %u ms: %llu "
		       "unflushed writes (%llu logged, "
		       "%llu flushes), %llu blocks reverted, %llu kept\n",
		       round_no, round_seed, commit_ms, sync_pct, ms,
		       (unsigned long long)st.unflushed_writes, (unsigned long long)st.writes,
		       (unsigned long long)st.flushes, (unsigned long long)st2.reverted_blocks,
		       (unsigned long long)st2.kept_blocks);
	if (getenv("VERBOSE_ROUNDS")) {
		struct jnl_stats js;
		jnl_stats(fs, &js);
		printf("  journal: %llu commits, %llu checkpoints, %llu handles\n",
		       (unsigned long long)js.commits, (unsigned long long)js.checkpoints,
		       (unsigned long long)js.handles);
	}
	if (getenv("VERBOSE_ROUNDS"))
		for (unsigned t = 0; t < NTHREADS; t++)
			printf("  thread %u: %u ops, %u fsyncs, %u files, stopped by %d\n", t,
			       W[t].ops, W[t].fsyncs, W[t].nf, W[t].err);
	tot->reverted += st2.reverted_blocks;
	tot->kept += st2.kept_blocks;
	tot->cap_flushes += st2.cap_flushes;
	sfs_crash(fs);
	fs = NULL;
	lcl_destroy(lcl);
	lcl = NULL;
	verify(tot);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(powerloss_rounds)
{
	unsigned base = (unsigned)time(NULL);
	if (getenv("SANFS_TEST_SEED"))
		base = (unsigned)strtoul(getenv("SANFS_TEST_SEED"), NULL, 0);
	int rounds = getenv("SANFS_POWERLOSS_ROUNDS") ? atoi(getenv("SANFS_POWERLOSS_ROUNDS")) : 30;
	double seconds =
	    getenv("SANFS_POWERLOSS_SECONDS") ? atof(getenv("SANFS_POWERLOSS_SECONDS")) : 60;
	printf("test_powerloss seed %u, up to %d rounds\n", base, rounds);
	fflush(stdout);
	rbuf = malloc(FMAX);
	for (unsigned t = 0; t < NTHREADS; t++)
		W[t].buf = malloc(BUFMAX);
	struct totals tot = {0};
	double t0 = now_s();
	int done = 0;
	for (round_no = 0; round_no < rounds; round_no++) {
		if (round_no > 0 && now_s() - t0 > seconds)
			break; /* bounded: the rounds done are reported */
		round_seed = base + (unsigned)round_no;
		one_round(&tot);
		done++;
	}
	printf("test_powerloss: %d rounds passed in %.1f s: %llu ops, %llu fsyncs acknowledged "
	       "(%llu bytes checked present), %llu files (%llu with user.v checked); power cuts "
	       "reverted %llu unflushed 4 KiB blocks and kept %llu; %llu cap write-backs\n",
	       done, now_s() - t0, (unsigned long long)tot.ops, (unsigned long long)tot.fsyncs,
	       (unsigned long long)tot.acked_bytes, (unsigned long long)tot.files,
	       (unsigned long long)tot.xattrs, (unsigned long long)tot.reverted,
	       (unsigned long long)tot.kept, (unsigned long long)tot.cap_flushes);
	/* The test must have tested something: writes were lost at the cuts
	 * and fsyncs were acknowledged before them. */
	if (done >= 10) {
		ck_assert_uint_gt(tot.reverted, 0);
		ck_assert_uint_gt(tot.fsyncs, 0);
	}
	for (unsigned t = 0; t < NTHREADS; t++)
		free(W[t].buf);
	free(rbuf);
}
END_TEST

/* The window the power-loss rounds hit now and then, made deterministic
 * (no power loss needed, a crash suffices): file A is committed, then
 * unlinked and freed in a transaction that is not committed yet; freeing
 * its inode block (bc_forget) drops the block's committed image that was
 * waiting for the checkpoint. A checkpoint then moves the journal tail past
 * A's transactions without that image ever reaching home. After a crash
 * the free never happened, so A must still be there, whole: its inode
 * block must hold its committed image. */
START_TEST(forget_before_commit_then_checkpoint)
{
	round_seed = 0;
	round_no = 0;
	rbuf = malloc(FMAX);
	W[0] = (struct worker){.id = 0, .seed = 1, .buf = malloc(BUFMAX)};
	make_image();
	fs = mount_img(false, 600000); /* commits only when asked */
	struct worker *w = &W[0];
	ck_assert_int_eq(op_create(w), 0);
	ck_assert_int_eq(op_create(w), 0);
	struct pfile *a = &w->f[0], *b = &w->f[1];
	ck_assert_int_eq(op_write(w, a, true), 0);
	ck_assert_int_eq(op_write(w, b, true), 0);
	ck_assert_int_eq(jnl_sync(fs), 0);
	a->ack_size = a->size;
	struct jnl_stats js;
	jnl_stats(fs, &js);
	uint64_t committed = js.committed_tid;
	ck_assert_int_eq(op_unlink(w, a), 0); /* frees A's blocks, uncommitted */
	/* Checkpoint what is committed (B's inode has an image waiting) but
	 * commit nothing new. */
	ck_assert_int_eq(jnl_flush_res(fs, inode_res(b->ino)), 0);
	jnl_stats(fs, &js);
	ck_assert_uint_eq(js.committed_tid, committed);
	sfs_crash(fs);
	lcl_destroy(lcl);
	fs = mount_img(false, 0);
	char nm[16];
	name_of(a->ev[0].name, nm);
	struct sfs_inode *root, *ip;
	ck_assert_int_eq(inode_get(fs, sfs_root_ino(fs), &root), 0);
	uint64_t ino = 0;
	uint8_t dt;
	ck_assert_int_eq(dir_lookup(fs, root, nm, strlen(nm), &ino, &dt), 0);
	inode_put(fs, root);
	ck_assert_uint_eq(ino, a->ino);
	int r = inode_get(fs, ino, &ip);
	ck_assert_msg(r == 0,
		      "file %s (inode %llu) committed, its free lost in the crash: inode_get %d "
		      "(its committed image was dropped at the free and never written home)",
		      nm, (unsigned long long)ino, r);
	ck_assert_uint_eq(ip->generation, a->gen);
	char why[256];
	const char *bad = check_content(ip, a, why, sizeof(why));
	ck_assert_msg(!*bad, "file %s: %s", nm, bad);
	inode_put(fs, ip);
	ck_assert_int_eq(sfs_close(fs), 0);
	fs = NULL;
	lcl_destroy(lcl);
	lcl = NULL;
	struct fsck_opts fo = {.msg = fsck_msg};
	struct fsck_result res;
	fsck_run(img, &fo, &res);
	ck_assert_int_eq(res.exit_code, FSCK_EXIT_CLEAN);
	free(W[0].buf);
	free(rbuf);
}
END_TEST

static void setup(void)
{
	snprintf(img, sizeof(img), "/var/tmp/sanfs-powerloss-XXXXXX");
	int fd = mkstemp(img);
	ck_assert_int_ge(fd, 0);
	close(fd);
}

static void teardown(void)
{
	unlink(img);
}

int main(void)
{
	log_setup("test_powerloss", 0, LOG_ERROR);
	if (!getenv("VERBOSE"))
		log_set_level((enum log_level) - 1); /* the cut makes every layer complain */
	Suite *s = suite_create("powerloss");
	TCase *tc = tcase_create("powerloss");
	tcase_set_timeout(tc, 110);
	/* Unchecked: set up and torn down in the runner process, so the image
	 * goes even when a failed assertion ends a test's process. */
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, powerloss_rounds);
	tcase_add_test(tc, forget_before_commit_then_checkpoint);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
