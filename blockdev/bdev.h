/* blockdev: raw shared-device I/O (DESIGN §2, §3).
 *
 * A struct bdev is one open block device or image file. All I/O goes through
 * O_DIRECT (two nodes on one host must not share the page cache, exactly as
 * two hosts on a SAN do not), so every offset, length and buffer address must
 * be a multiple of bdev_align(dev) (the logical sector size, at least 512;
 * buffers from bdev_alloc are 4096-aligned, which always suffices).
 *
 * Every I/O passes the I/O gate. A closed gate fails every read, write and
 * flush with the gate's error (EIO by default) without touching the device:
 * this is how a node fences itself (the seed's "pseudo storage driver").
 *
 * Errors: every function returns 0 or a negative errno. Thread-safe: any number
 * of threads may issue I/O on one bdev at once.
 *
 * Ownership: bdev_open returns a bdev the caller frees with bdev_close. */
#ifndef SANFS_BLOCKDEV_BDEV_H
#define SANFS_BLOCKDEV_BDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bdev;

enum bdev_open_flags {
	BDEV_RDONLY = 1 << 0,
	/* Open without O_DIRECT: only for tools on filesystems that refuse it
	 * (tmpfs); never for a mounted filesystem. */
	BDEV_BUFFERED = 1 << 1,
};

int bdev_open(const char *path, unsigned flags, struct bdev **out);
void bdev_close(struct bdev *dev);

const char *bdev_path(const struct bdev *dev);
uint64_t bdev_size(const struct bdev *dev);  /* bytes */
unsigned bdev_align(const struct bdev *dev); /* required alignment, bytes */

/* Whole-range I/O: returns 0 only when all len bytes were transferred. */
int bdev_read(struct bdev *dev, uint64_t off, void *buf, size_t len);
int bdev_write(struct bdev *dev, uint64_t off, const void *buf, size_t len);
/* Make every completed write durable, device write cache included. */
int bdev_flush(struct bdev *dev);

/* Shadow mode, for looking at a filesystem as a change would leave it
 * without making the change (fsck's read-only check of a journal that was
 * not replayed): from this call until bdev_close, writes (whole 4 KiB blocks
 * at 4 KiB offsets, else -EINVAL) are kept in memory instead of reaching the
 * device, reads see them, a flush does nothing, and a BDEV_RDONLY device
 * takes writes. bdev_shadow_blocks: blocks held. */
int bdev_shadow_start(struct bdev *dev);
uint64_t bdev_shadow_blocks(const struct bdev *dev);

/* 4096-aligned zeroed memory for I/O (len rounded up to a multiple of 4096;
 * NULL when out of memory); free with bdev_free. */
#define BDEV_BUF_ALIGN 4096
void *bdev_alloc(size_t len);
void bdev_free(void *p);

/* A thread-safe pool of count buffers of buf_size bytes each (a multiple of
 * 4096), every one 4096-aligned, allocated once at creation. For I/O paths
 * that must not allocate (journal commit, writeback).
 *
 * bdev_pool_create: -EINVAL for a zero or unaligned size or zero count,
 *   -ENOMEM. The caller owns the pool and frees it with bdev_pool_destroy,
 *   after every buffer was put back (asserted).
 * bdev_pool_get: a buffer, waiting until one is put back if none is free.
 *   Its contents are whatever its last user left (zeroed the first time).
 * bdev_pool_tryget: a buffer, or NULL at once if none is free.
 * bdev_pool_put: give back a buffer of this pool (NULL: no-op); wakes one
 *   waiter. A foreign pointer or a double put is a caller bug (asserted). */
struct bdev_pool;
int bdev_pool_create(size_t buf_size, unsigned count, struct bdev_pool **out);
void bdev_pool_destroy(struct bdev_pool *pool);
void *bdev_pool_get(struct bdev_pool *pool);
void *bdev_pool_tryget(struct bdev_pool *pool);
void bdev_pool_put(struct bdev_pool *pool, void *buf);
size_t bdev_pool_buf_size(const struct bdev_pool *pool);
unsigned bdev_pool_count(const struct bdev_pool *pool);
unsigned bdev_pool_available(struct bdev_pool *pool); /* free buffers right now */

/* The I/O gate (DESIGN §6: a node that lost its lease "fences itself in the
 * blockdev gate"). bdev_gate_close never blocks: requests that start after
 * it returns fail with -err; requests already past the gate finish.
 * bdev_gate_drain waits until none is in flight any more (0) or timeout_ms
 * passed (-ETIMEDOUT): after close + drain returned 0, this bdev issues no
 * more I/O to the device. It blocks: call it off the libuv loop thread.
 * The only I/O a closed gate lets through is the FENCED heartbeat notice
 * (bdev_hb_write with BDEV_HB_PAST_GATE). */
void bdev_gate_close(struct bdev *dev, int err); /* err: positive errno, 0 = EIO */
void bdev_gate_open(struct bdev *dev);
bool bdev_gate_is_open(const struct bdev *dev);
int bdev_gate_drain(struct bdev *dev, unsigned timeout_ms);

/* The lease (DESIGN §6: device I/O only "within its lease"). A bdev has no
 * lease until the first bdev_lease_renew. From then on a request that starts
 * at or after end_ns (bdev_now_ns: CLOCK_BOOTTIME, so time the host spent
 * suspended counts) waits until the lease is renewed, the gate closes (then
 * fails with the gate's error), or wait_ms passed (-EIO: whoever renews it
 * is stuck or cut off from the device). The holder's own renewal I/O passes
 * with bdev_hb_read/bdev_hb_write flag BDEV_HB_PAST_LEASE. end_ns 0 drops
 * the lease. The check is made as the request starts: a request already
 * past it is not recalled, so whoever takes a dead holder's place waits well
 * past the end of any lease it may still hold (fs/sfs.c: 1 s lease, 2 s
 * wait). */
uint64_t bdev_now_ns(void);
void bdev_lease_renew(struct bdev *dev, uint64_t end_ns, unsigned wait_ms);

/* ---- Device label (block 0) ----
 *
 * Bytes 0..4095 of every sanfs device belong to blockdev: the label that
 * names the device (DESIGN §3: find a device by label or UUID). The
 * filesystem superblock starts at byte 4096 (fs/FORMAT.md). Layout, all
 * little-endian:
 *
 *   off  size  field
 *     0     8  magic "SANFSLBL"
 *     8     4  version (BDEV_LABEL_VERSION)
 *    12     4  reserved, 0
 *    16    16  device UUID (also the filesystem UUID)
 *    32    64  label: printable ASCII, NUL-terminated, NUL-padded (<= 63 bytes)
 *    96     8  size of the device in bytes when labelled
 *   104     8  creation time, ns since the Unix epoch
 *   112  3980  reserved, 0 (covered by the CRC, ignored on decode)
 *  4092     4  CRC32C of bytes 0..4091
 */
#define BDEV_LABEL_MAGIC   "SANFSLBL"
#define BDEV_LABEL_VERSION 1
#define BDEV_LABEL_BYTES   4096
#define BDEV_LABEL_MAX	   63 /* label length, bytes */
#define BDEV_UUID_STR	   37 /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" + NUL */

struct bdev_label {
	uint32_t version;
	uint8_t uuid[16];
	char label[BDEV_LABEL_MAX + 1]; /* NUL-terminated */
	uint64_t size;			/* bytes */
	uint64_t ctime_ns;
};

/* A label string is valid when it has at most 63 bytes, each printable
 * ASCII (0x20..0x7e); the empty label is valid. */
bool bdev_label_valid(const char *label);
/* Fill l for a new device: version, a random UUID, label (validated: -EINVAL),
 * size and the current time. */
int bdev_label_init(struct bdev_label *l, const char *label, uint64_t size);
/* Encode l into block (BDEV_LABEL_BYTES bytes, all written). -EINVAL when the
 * label string is invalid. */
int bdev_label_encode(const struct bdev_label *l, void *block);
/* Decode len bytes (at least BDEV_LABEL_BYTES, else -EINVAL).
 *   -ENODATA  no sanfs label (magic absent)
 *   -EBADMSG  magic present but CRC or a field is wrong (corrupt)
 *   -ENOTSUP  a newer version than this code reads
 * Never reads past len; never trusts a field before the CRC matched. */
int bdev_label_decode(const void *block, size_t len, struct bdev_label *l);
/* Read and decode block 0 of dev (errors as decode, or the I/O error). */
int bdev_label_read(struct bdev *dev, struct bdev_label *l);
/* Encode and write block 0 of dev, then flush. */
int bdev_label_write(struct bdev *dev, const struct bdev_label *l);

/* UUIDs: random version 4; text in the usual 8-4-4-4-12 lowercase form.
 * parse accepts upper or lower case and returns 0 or -EINVAL. */
int bdev_uuid_generate(uint8_t uuid[16]);
void bdev_uuid_format(const uint8_t uuid[16], char out[BDEV_UUID_STR]);
int bdev_uuid_parse(const char *s, uint8_t uuid[16]);

/* Find the device whose label or UUID (text form) equals label_or_uuid.
 * paths: NULL-terminated list of candidate paths, or NULL to scan /dev
 * (block devices named loop*, sd*, vd*, nvme*n*, xvd*, dm-*). Candidates
 * that cannot be opened or hold no valid label are skipped, and so are
 * suspended device-mapper devices (a read would block); paths naming
 * the same device are counted once; where a device-mapper device and one
 * of the devices under it (multipath) both match, the dm device wins.
 * On success the path is copied to out (outlen bytes, NUL-terminated).
 *   -ENOENT        no device carries it
 *   -EEXIST        two different devices carry it (ambiguous; both logged)
 *   -ENAMETOOLONG  out is too small */
int bdev_find(const char *label_or_uuid, const char *const *paths, char *out, size_t outlen);

/* What the device already holds. Returns 1 when it carries anything
 * recognisable, with a short name in what (e.g. "ext4 filesystem", "swap
 * area", "GPT partition table", "sanfs device label"); 0 when nothing is
 * recognised (what = ""); or a negative errno for a read error. Knows
 * ext2/3/4, xfs, btrfs, f2fs, gfs2, squashfs, ntfs, exfat, vfat, iso9660,
 * swap, LUKS, LVM2 PV, GPT and MBR partition tables and sanfs labels.
 * mkfs refuses a device with 1 unless --force. Reads the first 68 KiB.
 * The _buf form checks len bytes already read from offset 0 (any len). */
int bdev_probe_foreign(struct bdev *dev, char *what, size_t wlen);
int bdev_probe_foreign_buf(const void *buf, size_t len, char *what, size_t wlen);

/* ---- Heartbeat / mailbox block (DESIGN §6; the seed's NetApp mailbox) ----
 *
 * Each node slot of a filesystem has one 4096-byte block, at an offset fs/
 * chooses, where the node holding the slot writes its disk heartbeat and
 * where others read it. A node is dead only when every channel is silent;
 * duplicates over several channels are told apart by (incarnation,
 * sequence): bdev_hb_newer.
 *
 * States (written only by the slot's holder, except FENCED):
 *
 *   state    meaning                          next
 *   FREE     slot unused (or never written)   LIVE   (a node claims the slot)
 *   LIVE     holder mounted, heartbeating     CLEAN  (clean unmount)
 *                                             FENCED (self-fence on lease loss,
 *                                                     or the ADM fences it)
 *   CLEAN    unmounted, journal checkpointed  LIVE   (next mount, new incarnation)
 *   FENCED   holder cut off; its journal must LIVE   (after recovery, new
 *            be replayed before reuse                incarnation) or FREE
 *
 * A block that was never written decodes as -ENODATA: callers treat it as
 * FREE. Layout, little-endian:
 *
 *   off  size  field
 *     0     8  magic "SANFS-HB"
 *     8     4  format version (BDEV_HB_VERSION)
 *    12     4  state (enum bdev_hb_state)
 *    16     8  byte offset of this block on the device (catches misplaced blocks)
 *    24    16  filesystem / device UUID
 *    40     4  node id
 *    44     4  slot
 *    48     8  incarnation (boot generation of the node)
 *    56     8  sequence (per incarnation, increases with every write)
 *    64     8  time, ns since the Unix epoch (the writer's clock; informative)
 *    72     8  SAN generation the writer knows
 *    80     4  pid of the writer
 *    84     4  mode (enum bdev_hb_mode)
 *    88     4  protocol version of the writer
 *    92     4  reserved, 0
 *    96    64  hostname: printable ASCII, NUL-terminated, NUL-padded
 *   160  3932  reserved (covered by the CRC)
 *  4092     4  CRC32C of bytes 0..4091
 */
#define BDEV_HB_MAGIC	 "SANFS-HB"
#define BDEV_HB_VERSION	 1
#define BDEV_HB_BYTES	 4096
#define BDEV_HB_HOST_MAX 63

enum bdev_hb_state {
	BDEV_HB_FREE = 0,
	BDEV_HB_LIVE = 1,
	BDEV_HB_CLEAN = 2,
	BDEV_HB_FENCED = 3,
};
enum bdev_hb_mode {
	BDEV_HB_LOCAL = 1,   /* single-host mount (sanctl mount --local) */
	BDEV_HB_CLUSTER = 2, /* mounted by a cluster member */
};

struct bdev_hb {
	enum bdev_hb_state state;
	uint8_t uuid[16];
	uint32_t node_id;
	uint32_t slot;
	uint64_t incarnation;
	uint64_t sequence;
	uint64_t time_ns;
	uint64_t san_generation;
	uint32_t pid;
	enum bdev_hb_mode mode;
	uint32_t proto_version;
	char hostname[BDEV_HB_HOST_MAX + 1]; /* NUL-terminated */
};

/* Encode hb as the block at byte offset off into block (BDEV_HB_BYTES, all
 * written). -EINVAL for an offset that is not a multiple of 4096, a state or
 * mode out of range or a hostname that is not printable or longer than 63
 * bytes. */
int bdev_hb_encode(const struct bdev_hb *hb, uint64_t off, void *block);
/* Decode len bytes (at least BDEV_HB_BYTES, else -EINVAL) read from byte
 * offset off (UINT64_MAX: do not check the stored offset).
 *   -ENODATA  never written (magic absent): treat as FREE
 *   -EBADMSG  CRC, offset (not the expected one, or not a multiple of
 *             4096) or a field is wrong
 *   -ENOTSUP  a newer format than this code reads */
int bdev_hb_decode(const void *block, size_t len, uint64_t off, struct bdev_hb *hb);
/* Read / write the heartbeat block at off (a multiple of 4096). write does
 * one O_DIRECT write, which other hosts sharing the device see at once;
 * with BDEV_HB_FLUSH it also flushes the device cache (use it for state
 * changes that must survive power loss: CLEAN, FENCED).
 * BDEV_HB_PAST_LEASE (read and write): the lease holder renewing it.
 * BDEV_HB_PAST_GATE: write (and flush) even through a closed gate, so a
 * node that fenced itself can still say so (DESIGN §6: "it writes FENCED to
 * its heartbeat block"). Only for hb->state == BDEV_HB_FENCED (else
 * -EINVAL). */
#define BDEV_HB_FLUSH	   1u
#define BDEV_HB_PAST_GATE  2u
#define BDEV_HB_PAST_LEASE 4u /* not held up by an expired lease (bdev_lease_renew) */
int bdev_hb_read(struct bdev *dev, uint64_t off, struct bdev_hb *hb, unsigned flags);
int bdev_hb_write(struct bdev *dev, uint64_t off, const struct bdev_hb *hb, unsigned flags);
/* true when a is newer than b: (incarnation, sequence) compared in order. */
bool bdev_hb_newer(const struct bdev_hb *a, const struct bdev_hb *b);
/* "FREE", "LIVE", "CLEAN", "FENCED" or "?" */
const char *bdev_hb_state_name(enum bdev_hb_state s);

/* Test-only fault injection (DESIGN §7: "device errors through blockdev fault
 * injection"). Rules are armed per open bdev, by API or, for integration
 * tests of daemons, by the environment variable SANFS_BDEV_FAULTS read at
 * bdev_open. A bdev without rules pays one atomic load per I/O. Rules are
 * checked in the order added; the gate comes before all of them.
 *
 *   BDEV_FAULT_EIO     every I/O of the given ops overlapping the byte range
 *                      [off, off + len) fails with EIO; the device is not
 *                      touched (not even the part outside the range).
 *   BDEV_FAULT_EIO_AFTER  the next n writes succeed; once they are used up
 *                      every write and flush (and read, if ops has
 *                      BDEV_FAULT_READ) fails with EIO: a device that dies.
 *   BDEV_FAULT_TORN    one shot: the next write of more than one sector
 *                      (bdev_align bytes) writes only its first n sectors to
 *                      the device (at least 0, at most all but the last one)
 *                      and fails with EIO; the rule then disarms itself.
 *                      Single-sector writes pass (a sector write is atomic).
 *   BDEV_FAULT_DELAY   every I/O of the given ops (and flush, with writes)
 *                      sleeps us microseconds first.
 *   BDEV_FAULT_VOLATILE  the device has a volatile write cache: see
 *                      "Power loss" below. At most one per bdev (-EEXIST).
 *
 * SANFS_BDEV_FAULTS syntax: rules separated by ';', each a kind followed by
 * ',key=value' fields:
 *   eio,off=SIZE,len=SIZE[,ops=r|w|rw]     (ops default rw)
 *   eio_after,n=N[,ops=w|rw]               (ops default w)
 *   torn,n=N                               (N sectors reach the device)
 *   delay,us=N[,ops=r|w|rw]                (ops default rw)
 *   volatile[,seed=N][,cap=SIZE]           (cap default 64M)
 * Any rule may add ',dev=STRING': it then applies only to devices whose path
 * contains STRING. SIZE is a decimal number with an optional K, M or G suffix
 * (powers of 1024). Example:
 *   SANFS_BDEV_FAULTS='eio,off=1M,len=64K,ops=w;torn,n=3,dev=loop5;delay,us=500'
 * A malformed value makes bdev_open fail with -EINVAL and a log line. */
enum bdev_fault_kind {
	BDEV_FAULT_EIO = 1,
	BDEV_FAULT_EIO_AFTER,
	BDEV_FAULT_TORN,
	BDEV_FAULT_DELAY,
	BDEV_FAULT_VOLATILE,
};
enum bdev_fault_ops {
	BDEV_FAULT_READ = 1 << 0,
	BDEV_FAULT_WRITE = 1 << 1,
};
struct bdev_fault {
	enum bdev_fault_kind kind;
	unsigned ops;	   /* BDEV_FAULT_READ | BDEV_FAULT_WRITE; 0 = the kind's default */
	uint64_t off, len; /* EIO: byte range */
	uint64_t n;	   /* EIO_AFTER: writes still allowed; TORN: sectors written */
	uint64_t us;	   /* DELAY: microseconds */
	uint64_t seed;	   /* VOLATILE: mixed into every bdev_fault_powerloss seed */
	uint64_t cap;	   /* VOLATILE: undo log bound, bytes; 0 = BDEV_VOLATILE_CAP */
};
/* Arm a copy of *f. -EINVAL for an unknown kind or an empty EIO range;
 * -EEXIST for a second VOLATILE rule. */
int bdev_fault_add(struct bdev *dev, const struct bdev_fault *f);
/* Disarm every rule (also those from the environment). A VOLATILE cache
 * forgets its undo log (what is on the device stays: power came back), and
 * after a power cut the device serves I/O again once the gate is opened. */
void bdev_fault_clear(struct bdev *dev);
/* How many I/Os a rule has failed, torn or delayed since open. */
uint64_t bdev_fault_hits(struct bdev *dev);
/* Parse one SANFS_BDEV_FAULTS value into at most max rules for the device
 * at path (rules whose dev= does not match are skipped). Returns the number
 * of rules stored, or -EINVAL (with a log line naming the bad rule), or
 * -E2BIG when more than max rules match. */
int bdev_fault_parse(const char *spec, const char *path, struct bdev_fault *out, size_t max);

/* ---- Power loss (BDEV_FAULT_VOLATILE) ----
 *
 * A real disk acknowledges a write once it sits in its volatile cache and
 * may persist cached writes in any order, whole or in part, until a cache
 * flush; a power cut loses whatever it had not persisted. The VOLATILE rule
 * makes an image or device behave so, to test that the filesystem flushes
 * where it must (DESIGN §3 ordered data, the journal's commit flushes):
 *
 *  - every write that succeeds while the rule is armed is recorded in an
 *    undo log with the prior content of the 4 KiB blocks it touches (read
 *    before the write; a write not aligned to 4 KiB records the enclosing
 *    blocks). Writes of one bdev are serialised while the rule is armed,
 *    so the prior content is exact;
 *  - a successful bdev_flush forgets the log: what was written before it is
 *    permanent (the host's fdatasync is skipped meanwhile: the host does
 *    not lose power, and its cost would only shrink the window a cut can
 *    hit). Reads see the newest data (the cache serves them);
 *  - the log is bounded by cap bytes of prior content. A write that would
 *    pass the cap first forgets the log, as if the device had written its
 *    cache back on its own (which real caches do at any moment); a write
 *    larger than the cap alone is written through unlogged. Both count in
 *    cap_flushes: they only make the simulated loss smaller, never wrong.
 *
 * bdev_fault_powerloss(dev, seed) cuts the power: it closes the I/O gate
 * (EIO) and from then on every read, write and flush of dev fails with EIO,
 * including requests already past the gate and the FENCED notice. It then
 * reverts, newest first, a pseudo-random subset of the unflushed writes
 * chosen from seed ^ rule seed: each logged write is kept whole, reverted
 * whole or torn (each of its 4 KiB blocks reverted or kept alone). Applying
 * the reverts newest first leaves every 4 KiB block as it was after some
 * prefix of the writes to it since the last flush, which is what a cache
 * persisting blocks in any order can leave. Same log + same seed = same
 * result. Returns the number of 4 KiB blocks reverted (>= 0), -EINVAL when
 * no VOLATILE rule is armed, -EALREADY when the power is already off, or
 * the I/O error of a revert. bdev_fault_clear (then bdev_gate_open) brings
 * the power back; bdev_close after a cut leaves the device as cut.
 *
 * bdev_fault_volatile_stats: -EINVAL when no VOLATILE rule is armed. */
#define BDEV_VOLATILE_CAP (64ull << 20)
struct bdev_volatile_stats {
	uint64_t unflushed_writes; /* in the undo log now */
	uint64_t unflushed_bytes;  /* prior content held, bytes */
	uint64_t writes;	   /* logged since armed */
	uint64_t flushes;	   /* flushes that emptied the log since armed */
	uint64_t cap_flushes;	   /* logs forgotten (or writes unlogged) at the cap */
	uint64_t reverted_blocks;  /* by the power cut */
	uint64_t kept_blocks;	   /* unflushed blocks the power cut kept */
	bool cut;		   /* the power is off */
};
int bdev_fault_powerloss(struct bdev *dev, uint64_t seed);
int bdev_fault_volatile_stats(struct bdev *dev, struct bdev_volatile_stats *st);

#endif
