/* struct cons: lifetime, the Raft FSM over the LMDB store, change detection
 * and queries (consensus.h). Proposals and membership changes: cons_req.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "common/endian_le.h"
#include "common/log.h"
#include "consensus/ccd.h"
#include "consensus/cons_int.h"
#include "consensus/transport.h"

#define SUB "consensus"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef OVERLAYFS_SUPER_MAGIC
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#endif
#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif

int cons_raft_errno(int rv)
{
	switch (rv) {
	case 0:
		return 0;
	case RAFT_NOMEM:
		return -ENOMEM;
	case RAFT_BADID:
	case RAFT_NOTFOUND:
		return -ENOENT;
	case RAFT_DUPLICATEID:
	case RAFT_DUPLICATEADDRESS:
		return -EEXIST;
	case RAFT_NOTLEADER:
		return -EREMOTE;
	case RAFT_LEADERSHIPLOST:
	case RAFT_NOCONNECTION:
		return -ENOTCONN;
	case RAFT_SHUTDOWN:
	case RAFT_CANCELED:
		return -ECANCELED;
	case RAFT_CANTBOOTSTRAP:
		return -EEXIST;
	case RAFT_CANTCHANGE:
	case RAFT_BUSY:
		return -EBUSY;
	case RAFT_CORRUPT:
		return -EUCLEAN;
	case RAFT_TOOBIG:
		return -E2BIG;
	case RAFT_NOSPACE:
		return -ENOSPC;
	case RAFT_BADROLE:
	case RAFT_INVALID:
	case RAFT_MALFORMED:
		return -EINVAL;
	case RAFT_UNAUTHORIZED:
		return -EACCES;
	default:
		return -EIO;
	}
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool cons_on_loop(const struct cons *c)
{
	return pthread_equal(pthread_self(), c->loop_thread);
}

/* ---- FSM --------------------------------------------------------------- */

/* Raft entry envelope. libraft sends and stores entry payloads in 8-byte
 * units (its wire and segment encodings pad each entry to a multiple of 8 and
 * the receiver assumes the payload is that long), so a command of another
 * length would reach followers shifted. An entry is therefore:
 *   u32 LE command length | u32 0 | command | zero padding to 8 bytes. */
int cons_entry_wrap(const uint8_t *cmd, size_t len, struct raft_buffer *out)
{
	size_t total = (8 + len + 7) & ~(size_t)7;
	uint8_t *b;

	if (len > UINT32_MAX - 16)
		return -E2BIG;
	b = raft_malloc(total);
	if (!b)
		return -ENOMEM;
	memset(b, 0, total);
	le32_put(b, (uint32_t)len);
	memcpy(b + 8, cmd, len);
	out->base = b;
	out->len = total;
	return 0;
}

int cons_entry_unwrap(const struct raft_buffer *in, struct raft_buffer *cmd)
{
	const uint8_t *b = in->base;
	size_t len;

	if (in->len < 8 || in->len % 8)
		return -EINVAL;
	len = le32_get(b);
	if (le32_get(b + 4) != 0 || len > in->len - 8 || in->len - 8 - len >= 8)
		return -EINVAL;
	for (size_t i = 8 + len; i < in->len; i++)
		if (b[i])
			return -EINVAL;
	cmd->base = (void *)(b + 8);
	cmd->len = len;
	return 0;
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *rbuf, void **result)
{
	struct cons *c = fsm->data;
	struct raft_buffer cmdbuf;
	const struct raft_buffer *buf = &cmdbuf;
	int64_t res;

	if (cons_entry_unwrap(rbuf, &cmdbuf) != 0) {
		log_error(SUB, "apply: malformed entry of %zu bytes skipped", rbuf->len);
		cmdbuf.base = NULL;
		cmdbuf.len = 0;
	}
	res = store_apply(c->store, buf->base, buf->len);
	const uint8_t *b = buf->base;

	/* The result travels in the pointer: raft 0.15 stops applying if apply
	 * returns non-zero, so a failed command is a result, not an error. */
	*result = (void *)(intptr_t)res;
	c->applied_dirty = true;
	if (buf->len > 3 && res >= 0) {
		switch (b[3]) {
		case CONS_CMD_ADM_TAKEOVER:
		case CONS_CMD_MEMBER_PUT:
		case CONS_CMD_MEMBER_DEL:
		case CONS_CMD_FENCE:
		case CONS_CMD_UNFENCE:
			c->members_dirty = true;
		}
	}
	if (res < 0)
		log_debug(SUB, "apply %s: %s", buf->len > 3 ? cons_cmd_name(b[3]) : "?",
			  strerror((int)-res));
	return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
	struct cons *c = fsm->data;
	uint8_t *dump;
	size_t len;
	int rc = store_dump(c->store, &dump, &len);

	if (rc) {
		log_error(SUB, "snapshot: %s", strerror(-rc));
		return RAFT_IOERR;
	}
	*bufs = raft_malloc(sizeof(**bufs));
	if (!*bufs) {
		free(dump);
		return RAFT_NOMEM;
	}
	(*bufs)[0].base = dump;
	(*bufs)[0].len = len;
	*n = 1;
	return 0;
}

static int fsm_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
	(void)fsm;
	if (*bufs) {
		for (unsigned i = 0; i < *n; i++)
			free((*bufs)[i].base);
		raft_free(*bufs);
	}
	*bufs = NULL;
	*n = 0;
	return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	struct cons *c = fsm->data;
	int rc = store_load(c->store, buf->base, buf->len);
	if (rc) {
		log_error(SUB, "ALERT: snapshot of %zu bytes does not load: %s", buf->len,
			  strerror(-rc));
		return RAFT_CORRUPT;
	}
	raft_free(buf->base); /* raft gave us ownership */
	c->applied_dirty = c->members_dirty = true;
	return 0;
}

/* ---- change detection -------------------------------------------------- */

static void emit(struct cons *c, enum cons_event_type type)
{
	struct cons_event ev = {
	    .type = type,
	    .leader_id = atomic_load(&c->leader_id),
	    .term = atomic_load(&c->term),
	    .applied = atomic_load(&c->applied),
	};
	struct cons_cluster cl;
	if (store_get_cluster(c->store, &cl) == 0)
		ev.generation = cl.generation;
	if (c->cfg.on_event)
		c->cfg.on_event(c, &ev, c->cfg.cb_data);
}

static void elect_barrier_cb(struct raft_barrier *req, int status)
{
	struct cons *c = req->data;
	uint64_t term = c->barrier_term;

	c->barrier_inflight = false;
	if (c->closing)
		return;
	if (status != 0 || raft_state(&c->raft) != RAFT_LEADER || c->raft.current_term != term) {
		log_info(SUB, "election barrier of term %llu: %s", (unsigned long long)term,
			 status ? raft_strerror(status) : "leadership moved");
		c->barrier_term = 0; /* retry if still leader */
		return;
	}
	atomic_store(&c->authoritative, true);
	log_info(SUB, "leader of term %llu, state authoritative", (unsigned long long)term);
	cons_on_authoritative(c);
	emit(c, CONS_EV_AUTHORITATIVE);
}

static uint64_t conf_hash(const struct raft_configuration *conf)
{
	uint64_t h = 1469598103934665603ull;
	for (unsigned i = 0; i < conf->n; i++) {
		h = (h ^ conf->servers[i].id) * 1099511628211ull;
		h = (h ^ (uint64_t)conf->servers[i].role) * 1099511628211ull;
	}
	return h ^ conf->n;
}

static void on_check(uv_check_t *h)
{
	struct cons *c = h->data;
	raft_id lid;
	const char *laddr;
	int state;

	if (c->closing || !c->started)
		return;
	state = raft_state(&c->raft);
	if (state == RAFT_UNAVAILABLE) {
		if (!c->failed_reported) {
			c->failed_reported = true;
			log_error(SUB, "ALERT: raft stopped: %s", raft_errmsg(&c->raft));
			emit(c, CONS_EV_FAILED);
		}
		return;
	}
	raft_leader(&c->raft, &lid, &laddr);
	atomic_store(&c->is_leader, state == RAFT_LEADER);
	if (state == RAFT_LEADER || (state == RAFT_FOLLOWER && lid != 0)) {
		/* libraft resets election_timer_start when a follower hears from
		 * the leader and when a leader confirms a majority of contacts. */
		raft_time t = c->io.time(&c->io);
		uint64_t age =
		    t > c->raft.election_timer_start ? t - c->raft.election_timer_start : 0;
		uint64_t now = mono_ms();
		atomic_store(&c->contact_mono_ms, now > age ? now - age : 1);
	} else {
		atomic_store(&c->contact_mono_ms, 0);
	}
	atomic_store(&c->applied, raft_last_applied(&c->raft));
	if (state != RAFT_LEADER)
		atomic_store(&c->authoritative, false);
	if (lid != c->seen_leader || c->raft.current_term != c->seen_term) {
		c->seen_leader = lid;
		c->seen_term = c->raft.current_term;
		pthread_mutex_lock(&c->lock);
		snprintf(c->leader_addr, sizeof(c->leader_addr), "%s", lid && laddr ? laddr : "");
		pthread_mutex_unlock(&c->lock);
		atomic_store(&c->leader_id, lid);
		atomic_store(&c->term, c->seen_term);
		atomic_store(&c->authoritative, false);
		log_info(SUB, "member %llu: term %llu leader %llu state %d",
			 (unsigned long long)c->id, (unsigned long long)c->seen_term,
			 (unsigned long long)lid, state);
		emit(c, CONS_EV_LEADER);
	}
	/* DESIGN §4: a new leader appends a barrier; its state is authoritative
	 * only once the barrier commits (libraft 0.15 has no no-op entry). */
	if (state == RAFT_LEADER && !c->barrier_inflight && c->barrier_term != c->seen_term &&
	    !atomic_load(&c->authoritative)) {
		c->barrier_term = c->seen_term;
		c->elect_barrier.data = c;
		int rv = raft_barrier(&c->raft, &c->elect_barrier, elect_barrier_cb);
		if (rv == 0)
			c->barrier_inflight = true;
		else
			c->barrier_term = 0;
	}
	uint64_t hsh = conf_hash(&c->raft.configuration);
	if (hsh != c->seen_conf_hash) {
		c->seen_conf_hash = hsh;
		pthread_mutex_lock(&c->lock);
		c->nvoters = 0;
		for (unsigned i = 0; i < c->raft.configuration.n; i++) {
			const struct raft_server *s = &c->raft.configuration.servers[i];
			if (s->role != RAFT_VOTER)
				continue;
			unsigned j = c->nvoters;
			if (j >= 256)
				break;
			while (j > 0 && c->voters[j - 1] > s->id) {
				c->voters[j] = c->voters[j - 1];
				j--;
			}
			c->voters[j] = s->id;
			c->nvoters++;
		}
		pthread_mutex_unlock(&c->lock);
		c->members_dirty = true;
	}
	if (c->members_dirty) {
		c->members_dirty = false;
		emit(c, CONS_EV_MEMBERSHIP);
	}
	if (c->applied_dirty) {
		c->applied_dirty = false;
		emit(c, CONS_EV_APPLIED);
	}
}

static void on_async(uv_async_t *h)
{
	cons_run_wreqs(h->data);
}

/* ---- state directory --------------------------------------------------- */

static int check_state_dir(const char *dir)
{
	struct statfs sfs;
	char probe[4096];
	void *buf = NULL;
	int fd, rc = 0;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		log_error(SUB, "state dir %s: %s", dir, strerror(-rc));
		return rc;
	}
	if (statfs(dir, &sfs) < 0) {
		rc = -errno;
		log_error(SUB, "state dir %s: %s", dir, strerror(-rc));
		return rc;
	}
	if ((unsigned long)sfs.f_type == TMPFS_MAGIC || (unsigned long)sfs.f_type == RAMFS_MAGIC ||
	    (unsigned long)sfs.f_type == OVERLAYFS_SUPER_MAGIC) {
		log_error(SUB,
			  "state dir %s is on %s: the raft log needs O_DIRECT and native AIO "
			  "(use ext4 or xfs)",
			  dir,
			  (unsigned long)sfs.f_type == OVERLAYFS_SUPER_MAGIC ? "overlayfs"
			  : (unsigned long)sfs.f_type == RAMFS_MAGIC	     ? "ramfs"
									     : "tmpfs");
		return -EINVAL;
	}
	snprintf(probe, sizeof(probe), "%s/.odirect-probe", dir);
	fd = open(probe, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
	} else {
		if (posix_memalign(&buf, 4096, 4096) == 0) {
			memset(buf, 0, 4096);
			if (pwrite(fd, buf, 4096, 0) != 4096)
				rc = errno ? -errno : -EIO;
			free(buf);
		} else {
			rc = -ENOMEM;
		}
		close(fd);
		unlink(probe);
	}
	if (rc) {
		log_error(SUB, "state dir %s: O_DIRECT I/O fails (%s): use ext4 or xfs", dir,
			  strerror(-rc));
		return -EINVAL;
	}
	return 0;
}

static char *path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", a, b);
	return p;
}

/* ---- lifetime ---------------------------------------------------------- */

/* libraft 0.15 may run its io close callback (raft.c ioCloseCb) twice:
 * uvMaybeFireCloseCb has no guard, and a segment writer it stopped
 * tracking (uvAliveSegmentFinalize takes the segment off its queue before
 * the writer has closed) calls it again when it closes after the rest. The
 * second run frees raft->address and closes the log and configuration
 * again (a double free), then calls the close callback again. raft_closed
 * makes that second run harmless, and the raft and uv memory it touches
 * (inside struct cons, and the uv behind c->io) is never freed once a
 * raft has closed: such members rest here, reachable, for the life of the
 * process. sanfsd closes its member once, at exit; the tests close a few
 * dozen per process. */
static pthread_mutex_t graveyard_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cons *graveyard;

static void cons_free_parts(struct cons *c)
{
	atr_transport_free(&c->transport);
	store_close(c->store);
	pthread_mutex_destroy(&c->lock);
	free(c->state_dir);
	free(c->raft_dir);
	free(c->lmdb_dir);
	memset(&c->cfg.key, 0, sizeof(c->cfg.key));
}

static void cons_free(struct cons *c)
{
	if (c->raft_closed) {
		cons_free_parts(c);
		pthread_mutex_lock(&graveyard_lock);
		c->grave_next = graveyard;
		graveyard = c;
		pthread_mutex_unlock(&graveyard_lock);
		return;
	}
	if (c->io_inited)
		raft_uv_close(&c->io);
	cons_free_parts(c);
	free(c);
}

int cons_open(uv_loop_t *loop, const struct cons_config *cfg, struct cons **out)
{
	struct cons *c;
	int rc, rv;

	*out = NULL;
	if (!loop || !cfg || !cfg->state_dir || !cfg->address || cfg->id == 0 ||
	    cfg->id > (UINT64_MAX >> 1) || strlen(cfg->address) >= CONS_ADDR_MAX) {
		log_error(SUB, "cons_open: bad configuration (id, address or state dir)");
		return -EINVAL;
	}
	rc = check_state_dir(cfg->state_dir);
	if (rc)
		return rc;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->loop = loop;
	c->loop_thread = pthread_self();
	c->id = cfg->id;
	c->cfg = *cfg;
	snprintf(c->address, sizeof(c->address), "%s", cfg->address);
	c->state_dir = strdup(cfg->state_dir);
	c->raft_dir = path_join(cfg->state_dir, "raft");
	c->lmdb_dir = path_join(cfg->state_dir, "lmdb");
	c->cfg.address = c->address;
	c->cfg.state_dir = c->state_dir;
	if (!c->state_dir || !c->raft_dir || !c->lmdb_dir) {
		rc = -ENOMEM;
		goto fail;
	}
	if (mkdir(c->raft_dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		log_error(SUB, "%s: %s", c->raft_dir, strerror(-rc));
		goto fail;
	}
	rc = store_open(c->lmdb_dir, &c->store);
	if (rc)
		goto fail;
	rc = atr_transport_init(&c->transport, loop, &cfg->key);
	if (rc)
		goto fail;
	rv = raft_uv_init(&c->io, loop, c->raft_dir, &c->transport);
	if (rv) {
		log_error(SUB, "raft uv init %s: %s", c->raft_dir, c->io.errmsg);
		rc = cons_raft_errno(rv);
		goto fail;
	}
	c->io_inited = true;
#ifdef HAVE_RAFT_UV_SET_AUTO_RECOVERY
	/* DESIGN §4: never silently drop a corrupt segment; fail start instead. */
	raft_uv_set_auto_recovery(&c->io, false);
#endif
	raft_uv_set_connect_retry_delay(&c->io, 200);
	c->fsm.version = 2;
	c->fsm.data = c;
	c->fsm.apply = fsm_apply;
	c->fsm.snapshot = fsm_snapshot;
	c->fsm.snapshot_finalize = fsm_snapshot_finalize;
	c->fsm.restore = fsm_restore;
	rv = raft_init(&c->raft, &c->io, &c->fsm, cfg->id, c->address);
	if (rv) {
		log_error(SUB, "raft init: %s", raft_errmsg(&c->raft));
		rc = cons_raft_errno(rv);
		goto fail;
	}
	c->raft_inited = true;
	raft_set_election_timeout(&c->raft,
				  cfg->election_timeout_ms ? cfg->election_timeout_ms : 500);
	raft_set_heartbeat_timeout(&c->raft,
				   cfg->heartbeat_timeout_ms ? cfg->heartbeat_timeout_ms : 100);
	raft_set_snapshot_threshold(&c->raft,
				    cfg->snapshot_threshold ? cfg->snapshot_threshold : 1024);
	raft_set_snapshot_trailing(&c->raft, cfg->snapshot_trailing ? cfg->snapshot_trailing : 128);
	raft_set_pre_vote(&c->raft, true);
	uv_check_init(loop, &c->check);
	c->check.data = c;
	uv_async_init(loop, &c->async, on_async);
	c->async.data = c;
	c->handles_open = 2;
	*out = c;
	return 0;
fail:
	cons_free(c); /* raft_init is the last step that can fail: nothing to close */
	return rc;
}

int cons_bootstrap(struct cons *c)
{
	struct raft_configuration conf;
	int rv;

	if (c->started)
		return -EBUSY;
	raft_configuration_init(&conf);
	rv = raft_configuration_add(&conf, c->id, c->address, RAFT_VOTER);
	if (rv == 0)
		rv = raft_bootstrap(&c->raft, &conf);
	raft_configuration_close(&conf);
	if (rv == RAFT_CANTBOOTSTRAP) {
		log_error(SUB, "%s already holds a cluster; not bootstrapping", c->raft_dir);
		return -EEXIST;
	}
	if (rv)
		log_error(SUB, "bootstrap: %s", raft_errmsg(&c->raft));
	return cons_raft_errno(rv);
}

int cons_start(struct cons *c)
{
	int rv;

	if (c->started || c->closing)
		return -EBUSY;
	rv = raft_start(&c->raft);
	if (rv) {
		if (rv == RAFT_CORRUPT)
			log_error(SUB,
				  "ALERT: raft log under %s is corrupt (%s); auto-recovery is off: "
				  "restore this member's state from a healthy member",
				  c->raft_dir, raft_errmsg(&c->raft));
		else if (raft_errmsg(&c->raft)[0])
			log_error(SUB, "raft start: %s", raft_errmsg(&c->raft));
		else /* libraft says nothing when its I/O start fails */
			log_error(SUB, "raft start: error %d (%s) starting I/O: is %s in use?", rv,
				  raft_strerror(rv), c->address);
		return cons_raft_errno(rv);
	}
	c->started = true;
	uv_check_start(&c->check, on_check);
	log_info(SUB, "member %llu started at %s", (unsigned long long)c->id, c->address);
	return 0;
}

static void maybe_freed(struct cons *c)
{
	if (c->handles_open)
		return;
	void (*cb)(void *) = c->close_cb;
	void *data = c->close_data;
	cons_free(c);
	if (cb)
		cb(data);
}

static void handle_closed(uv_handle_t *h)
{
	struct cons *c = h->data;
	c->handles_open--;
	maybe_freed(c);
}

static void raft_closed(struct raft *r)
{
	struct cons *c = r->data;
	/* A second run of libraft's io close callback (see graveyard) frees
	 * and closes these again, and calls no callback. */
	r->close_cb = NULL;
	r->address = NULL;
	memset(&r->log, 0, sizeof(r->log));
	memset(&r->configuration, 0, sizeof(r->configuration));
	c->raft_closed = true;
	c->handles_open--;
	maybe_freed(c);
}

void cons_close(struct cons *c, void (*cb)(void *data), void *data)
{
	if (!c || c->closing)
		return;
	c->closing = true;
	c->close_cb = cb;
	c->close_data = data;
	atomic_store(&c->is_leader, false);
	atomic_store(&c->authoritative, false);
	atomic_store(&c->contact_mono_ms, 0);
	cons_cancel_wreqs(c);
	uv_close((uv_handle_t *)&c->check, handle_closed);
	uv_close((uv_handle_t *)&c->async, handle_closed);
	c->handles_open++;
	c->raft.data = c;
	raft_close(&c->raft, raft_closed);
}

const char *cons_errmsg(struct cons *c)
{
	return raft_errmsg(&c->raft);
}

/* ---- queries ----------------------------------------------------------- */

bool cons_is_leader(struct cons *c)
{
	return atomic_load(&c->is_leader);
}

bool cons_is_authoritative(struct cons *c)
{
	return atomic_load(&c->authoritative);
}

uint64_t cons_leader(struct cons *c, char *address, size_t addrlen)
{
	uint64_t id;
	pthread_mutex_lock(&c->lock);
	id = atomic_load(&c->leader_id);
	if (address && addrlen)
		snprintf(address, addrlen, "%s", c->leader_addr);
	pthread_mutex_unlock(&c->lock);
	return id;
}

uint64_t cons_term(struct cons *c)
{
	return atomic_load(&c->term);
}

uint64_t cons_applied(struct cons *c)
{
	return atomic_load(&c->applied);
}

uint64_t cons_contact_age_ms(struct cons *c)
{
	uint64_t t = atomic_load(&c->contact_mono_ms), now = mono_ms();
	if (t == 0)
		return UINT64_MAX;
	return now > t ? now - t : 0;
}

uint64_t cons_id(const struct cons *c)
{
	return c->id;
}

unsigned cons_voters(struct cons *c, uint64_t *ids, unsigned max)
{
	unsigned n;
	pthread_mutex_lock(&c->lock);
	n = c->nvoters;
	for (unsigned i = 0; i < n && i < max; i++)
		ids[i] = c->voters[i];
	pthread_mutex_unlock(&c->lock);
	return n;
}

int cons_get_cluster(struct cons *c, struct cons_cluster *out)
{
	int rc = store_get_cluster(c->store, out);
	out->applied = atomic_load(&c->applied);
	return rc;
}

int cons_get_members(struct cons *c, struct cons_member **out, size_t *n)
{
	return store_get_members(c->store, out, n);
}

int cons_get_member(struct cons *c, uint64_t id, struct cons_member *out)
{
	return store_get_member(c->store, id, out);
}

int cons_get_devices(struct cons *c, struct cons_device **out, size_t *n)
{
	return store_get_devices(c->store, out, n);
}

int cons_get_filesystems(struct cons *c, struct cons_fs **out, size_t *n)
{
	return store_get_filesystems(c->store, out, n);
}

int cons_get_fences(struct cons *c, struct cons_fence **out, size_t *n)
{
	return store_get_fences(c->store, out, n);
}

int cons_ccd_format(struct cons *c, const char *key, char *fmt, size_t fmtlen)
{
	return store_ccd_format(c->store, key, fmt, fmtlen);
}

int cons_ccd_query(struct cons *c, const char *key, const char *pattern, char ***rows, size_t *n)
{
	return store_ccd_query(c->store, key, pattern, rows, n);
}

int cons_ccd_record(struct cons *c, struct ccd_record *out)
{
	return store_ccd_record(c->store, out);
}

int cons_ccd_checkpoint(struct cons *c, const char *path)
{
	char *text, tmp[4096];
	size_t len;
	int fd, rc = store_ccd_text(c->store, &text, &len);

	if (rc)
		return rc;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		free(text);
		return -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		free(text);
		return rc;
	}
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
		rc = errno ? -errno : -EIO;
	close(fd);
	free(text);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

int cons_ccd_restore_cmd(const char *path, struct cons_cmd *cmd, uint8_t **buf)
{
	unsigned bad = 0;
	char *text;
	size_t got;
	int rc;

	*buf = NULL;
	rc = ccd_file_read(path, &text, &got);
	if (rc)
		return rc;
	rc = ccd_text_parse(text, got, NULL, NULL, &bad);
	if (rc) {
		log_error(SUB, "%s:%u: bad line, not restoring", path, bad);
		free(text);
		return rc;
	}
	memset(cmd, 0, sizeof(*cmd));
	cmd->type = CONS_CMD_CCD_RESTORE;
	cmd->u.blob.data = (uint8_t *)text;
	cmd->u.blob.len = got;
	*buf = (uint8_t *)text;
	return 0;
}
