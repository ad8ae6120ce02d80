/* node/dlm_admin: the "lock.*" admin operations (admin_proto.h) over the
 * node's lockspace (dlm_node.h).
 *
 * The DLM calls block until the master answers, and the loop must never
 * block, so each call runs on a thread of its own; its result comes back to
 * the loop through a uv_async queue, where the reply is sent. Whatever a
 * connection holds (lock ids, files with record locks) is recorded here, on
 * the loop thread only, and released when the connection closes.
 *
 * Time-outs: a wait that times out answers "timeout" at once and is
 * cancelled: dlm_cancel for a lock request or conversion (the request leaves
 * the master's queue, a conversion keeps its old mode), dlm_plock_cancel for
 * a record lock. If the grant crossed the cancel, the lock the client was
 * told it did not get is unlocked at once. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "locks/dlm.h"
#include "locks/posix_lock.h"
#include "node/admin_proto.h"
#include "node/dlm_node.h"
#include "node/sanfsd.h"

#define LOCK_TIMEOUT_DEF_MS 10000
#define LOCK_TIMEOUT_MAX_MS 600000
#define OWNER_MAX	    0xffffffffu

enum job_kind { J_LOCK, J_CONVERT, J_UNLOCK, J_PLOCK, J_PLOCKGET, J_REL_UNLOCK, J_REL_PLOCK };

struct aconn { /* what one admin connection holds */
	struct aconn *next;
	uint64_t id;
	bool closed;
	int inflight;
	uint64_t *lkids;
	size_t nlkids, caplk;
	struct pfile {
		uint64_t fs, ino, owner;
	} * pfiles;
	size_t npf, cappf;
};

struct job {
	struct job *next;	     /* done queue (under mu) */
	struct job *rnext, **rpprev; /* running list (loop) */
	struct dlm_admin *a;
	struct dlm_ls *ls;
	enum job_kind kind;
	uint64_t conn;
	struct admin_req *req; /* NULL: internal, or answered (time-out) */
	uv_timer_t *timer;
	bool timed_out;
	unsigned timeout_ms;
	/* in */
	struct dlm_resname name;
	enum dlm_mode mode;
	struct dlm_range range;
	uint32_t flags;
	uint64_t lkid;
	struct dlm_plock pl;
	bool wait;
	/* out */
	int rc;
	struct dlm_range granted;
	struct dlm_plock conflict;
};

struct dlm_admin {
	struct sanfsd *d;
	uv_async_t async;
	pthread_mutex_t mu;
	struct job *done; /* under mu */
	bool stopping;	  /* under mu */
	struct job *running;
	struct aconn *conns;
};

/* ---- connections ---- */

static struct aconn *conn_get(struct dlm_admin *a, uint64_t id, bool create)
{
	for (struct aconn *c = a->conns; c; c = c->next)
		if (c->id == id)
			return c;
	if (!create)
		return NULL;
	struct aconn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->id = id;
	c->next = a->conns;
	a->conns = c;
	return c;
}

static void conn_maybe_free(struct dlm_admin *a, struct aconn *c)
{
	if (!c->closed || c->inflight)
		return;
	for (struct aconn **pp = &a->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	free(c->lkids);
	free(c->pfiles);
	free(c);
}

static bool conn_has_lkid(struct aconn *c, uint64_t lkid, bool remove)
{
	for (size_t i = 0; i < c->nlkids; i++)
		if (c->lkids[i] == lkid) {
			if (remove)
				c->lkids[i] = c->lkids[--c->nlkids];
			return true;
		}
	return false;
}

static int conn_add_lkid(struct aconn *c, uint64_t lkid)
{
	if (c->nlkids == c->caplk) {
		size_t n = c->caplk ? c->caplk * 2 : 8;
		uint64_t *p = realloc(c->lkids, n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		c->lkids = p;
		c->caplk = n;
	}
	c->lkids[c->nlkids++] = lkid;
	return 0;
}

static int conn_add_pfile(struct aconn *c, uint64_t fs, uint64_t ino, uint64_t owner)
{
	for (size_t i = 0; i < c->npf; i++)
		if (c->pfiles[i].fs == fs && c->pfiles[i].ino == ino && c->pfiles[i].owner == owner)
			return 0;
	if (c->npf == c->cappf) {
		size_t n = c->cappf ? c->cappf * 2 : 8;
		struct pfile *p = realloc(c->pfiles, n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		c->pfiles = p;
		c->cappf = n;
	}
	c->pfiles[c->npf++] = (struct pfile){fs, ino, owner};
	return 0;
}

/* ---- jobs ---- */

static void *job_main(void *arg)
{
	struct job *j = arg;
	struct dlm_admin *a = j->a;
	switch (j->kind) {
	case J_LOCK:
		j->rc = dlm_lock(j->ls, &j->name, j->mode, &j->range, j->flags, NULL, NULL,
				 &j->lkid, &j->granted);
		break;
	case J_CONVERT:
		j->rc = dlm_convert(j->ls, j->lkid, j->mode, &j->range, j->flags, &j->granted);
		break;
	case J_UNLOCK:
		j->rc = dlm_unlock(j->ls, j->lkid);
		break;
	case J_REL_UNLOCK:
		/* -EBUSY: a conversion that timed out for its client still
		 * waits; the lock can go once it is done. */
		for (int i = 0; (j->rc = dlm_unlock(j->ls, j->lkid)) == -EBUSY && i < 60000; i++)
			usleep(10000);
		break;
	case J_PLOCK:
	case J_REL_PLOCK:
		j->rc = dlm_plock_set(j->ls, &j->pl, j->wait);
		break;
	case J_PLOCKGET:
		j->rc = dlm_plock_get(j->ls, &j->pl, &j->conflict);
		break;
	}
	pthread_mutex_lock(&a->mu);
	if (!a->stopping) {
		j->next = a->done;
		a->done = j;
		uv_async_send(&a->async);
	}
	/* Stopping: the loop is going away; the job is dropped with it. */
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static void timer_free(uv_handle_t *h)
{
	free(h);
}

static void job_unlink(struct job *j)
{
	*j->rpprev = j->rnext;
	if (j->rnext)
		j->rnext->rpprev = j->rpprev;
}

/* Loop: start j on a thread. On failure j is freed and -errno returned. */
static int job_start(struct dlm_admin *a, struct job *j)
{
	j->a = a;
	j->ls = dlm_node_ls(a->d, NULL);
	struct aconn *c = conn_get(a, j->conn, false);
	pthread_attr_t at;
	pthread_t t;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 256 * 1024);
	j->rnext = a->running;
	if (j->rnext)
		j->rnext->rpprev = &j->rnext;
	j->rpprev = &a->running;
	a->running = j;
	if (c)
		c->inflight++;
	int rc = pthread_create(&t, &at, job_main, j);
	pthread_attr_destroy(&at);
	if (rc) {
		job_unlink(j);
		if (c)
			c->inflight--;
		if (j->timer)
			uv_close((uv_handle_t *)j->timer, timer_free);
		free(j);
		return -rc;
	}
	return 0;
}

static void release_lock(struct dlm_admin *a, uint64_t lkid)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->kind = J_REL_UNLOCK;
	j->lkid = lkid;
	if (job_start(a, j))
		log_warn("dlm", "cannot release lock %#llx of a closed admin connection",
			 (unsigned long long)lkid);
}

static void release_plock(struct dlm_admin *a, uint64_t fs, uint64_t ino, uint64_t owner,
			  uint64_t start, uint64_t end)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->kind = J_REL_PLOCK;
	j->pl = (struct dlm_plock){.fs = fs,
				   .ino = ino,
				   .owner = owner,
				   .type = POSIX_LOCK_UN,
				   .start = start,
				   .end = end};
	if (job_start(a, j))
		log_warn("dlm", "cannot release record locks of a closed admin connection");
}

static json_t *errno_reply(int rc, const char *what)
{
	const char *code = ADMIN_E_INTERNAL, *name = "EIO";
	switch (-rc) {
	case EAGAIN:
		code = ADMIN_E_BUSY, name = "EAGAIN";
		break;
	case ETIMEDOUT:
		code = ADMIN_E_TIMEOUT, name = "ETIMEDOUT";
		break;
	case EINVAL:
		code = ADMIN_E_INVALID, name = "EINVAL";
		break;
	case ENOENT:
		code = ADMIN_E_NOTFOUND, name = "ENOENT";
		break;
	case EINTR:
		code = ADMIN_E_TIMEOUT, name = "EINTR";
		break;
	case ECANCELED:
		code = ADMIN_E_TIMEOUT, name = "ECANCELED";
		break;
	case ENOTCONN:
		code = ADMIN_E_BUSY, name = "ENOTCONN";
		break;
	case EBUSY:
		code = ADMIN_E_BUSY, name = "EBUSY";
		break;
	}
	json_t *r = aproto_err(code, "%s: %s", what, strerror(-rc));
	if (r)
		json_object_set_new(r, "errno", json_string(name));
	return r;
}

static json_int_t end_json(uint64_t end)
{
	return end == UINT64_MAX ? -1 : (json_int_t)end;
}

static void reply(struct job *j, json_t *r)
{
	if (j->req) {
		admin_reply(j->req, r);
		j->req = NULL;
	} else {
		json_decref(r);
	}
}

/* Loop: a job's DLM call returned. */
static void job_done(struct dlm_admin *a, struct job *j)
{
	job_unlink(j);
	if (j->timer) {
		uv_timer_stop(j->timer);
		uv_close((uv_handle_t *)j->timer, timer_free);
	}
	struct aconn *c = conn_get(a, j->conn, false);
	bool gone = !c || c->closed;
	switch (j->kind) {
	case J_LOCK:
		if (j->rc == 0 && (j->timed_out || gone || conn_add_lkid(c, j->lkid))) {
			release_lock(a, j->lkid);
			if (!j->timed_out)
				reply(j, errno_reply(-ENOMEM, "lock"));
		} else if (j->rc == 0) {
			if (j->req)
				admin_req_pin(j->req, true);
			reply(j,
			      json_pack("{s:b,s:I,s:I,s:I}", "ok", 1, "lkid", (json_int_t)j->lkid,
					"start", (json_int_t)j->granted.start, "end",
					end_json(j->granted.end)));
		} else {
			reply(j, errno_reply(j->rc, "lock"));
		}
		break;
	case J_CONVERT:
		if (j->rc >= 0)
			reply(j,
			      json_pack("{s:b,s:b,s:I,s:I}", "ok", 1, "demoted",
					j->rc == DLM_DEMOTED, "start", (json_int_t)j->granted.start,
					"end", end_json(j->granted.end)));
		else
			reply(j, errno_reply(j->rc, "convert"));
		break;
	case J_UNLOCK:
		/* The id left the connection's list when the unlock started
		 * (a close meanwhile must not unlock it twice). */
		if (j->rc && j->rc != -ENOENT && (gone || conn_add_lkid(c, j->lkid)))
			release_lock(a, j->lkid);
		reply(j, j->rc ? errno_reply(j->rc, "unlock") : aproto_ok());
		break;
	case J_PLOCK:
		if (j->rc == 0 && j->pl.type != POSIX_LOCK_UN &&
		    (j->timed_out || gone || conn_add_pfile(c, j->pl.fs, j->pl.ino, j->pl.owner))) {
			release_plock(a, j->pl.fs, j->pl.ino, j->pl.owner, j->pl.start, j->pl.end);
			if (!j->timed_out)
				reply(j, errno_reply(-ENOMEM, "plock"));
		} else if (j->rc == 0) {
			if (j->req && j->pl.type != POSIX_LOCK_UN)
				admin_req_pin(j->req, true);
			reply(j, aproto_ok());
		} else {
			reply(j, errno_reply(j->rc, "plock"));
		}
		break;
	case J_PLOCKGET:
		if (j->rc)
			reply(j, errno_reply(j->rc, "plockget"));
		else if (j->conflict.type == POSIX_LOCK_UN)
			reply(j, json_pack("{s:b,s:n}", "ok", 1, "conflict"));
		else
			reply(j, json_pack("{s:b,s:{s:s,s:I,s:I,s:I,s:I}}", "ok", 1, "conflict",
					   "type", j->conflict.type == POSIX_LOCK_WR ? "wr" : "rd",
					   "node", (json_int_t)j->conflict.node, "pid",
					   (json_int_t)j->conflict.pid, "start",
					   (json_int_t)j->conflict.start, "end",
					   end_json(j->conflict.end)));
		break;
	case J_REL_UNLOCK:
	case J_REL_PLOCK:
		if (j->rc)
			log_warn("dlm", "releasing what a closed admin connection held: %s",
				 strerror(-j->rc));
		break;
	}
	if (c) {
		c->inflight--;
		conn_maybe_free(a, c);
	}
	free(j);
}

static void on_async(uv_async_t *h)
{
	struct dlm_admin *a = h->data;
	pthread_mutex_lock(&a->mu);
	struct job *list = a->done;
	a->done = NULL;
	pthread_mutex_unlock(&a->mu);
	while (list) {
		struct job *j = list;
		list = j->next;
		job_done(a, j);
	}
}

/* Loop: stop the wait of a running job whose answer nobody wants any more
 * (timed out, or its connection closed). dlm_cancel never blocks. */
static void job_cancel(struct job *j)
{
	if (!j->wait)
		return;
	if (j->kind == J_PLOCK) {
		dlm_plock_cancel(j->ls, j->pl.fs, j->pl.ino, j->pl.owner);
	} else if (j->kind == J_CONVERT) {
		dlm_cancel(j->ls, j->lkid);
	} else if (j->kind == J_LOCK) {
		/* dlm_lock publishes the id before it waits; 0: the thread
		 * has not got that far (the lock is released if granted). */
		uint64_t lkid = __atomic_load_n(&j->lkid, __ATOMIC_ACQUIRE);
		if (lkid)
			dlm_cancel(j->ls, lkid);
	}
}

static void on_timeout(uv_timer_t *t)
{
	struct job *j = t->data;
	j->timed_out = true;
	reply(j, errno_reply(-ETIMEDOUT, j->kind == J_PLOCK ? "plock" : "lock"));
	job_cancel(j);
}

static struct dlm_admin *admin_get(struct sanfsd *d)
{
	if (d->dlma)
		return d->dlma;
	struct dlm_admin *a = calloc(1, sizeof(*a));
	if (!a || uv_async_init(d->loop, &a->async, on_async)) {
		free(a);
		return NULL;
	}
	a->d = d;
	a->async.data = a;
	pthread_mutex_init(&a->mu, NULL);
	d->dlma = a;
	return a;
}

/* ---- requests ---- */

static bool only_keys(json_t *msg, const char *const *keys, char *err, size_t errlen)
{
	const char *k;
	json_t *v;
	json_object_foreach(msg, k, v)
	{
		bool known = !strcmp(k, "op");
		for (size_t i = 0; keys[i] && !known; i++)
			known = !strcmp(k, keys[i]);
		if (!known) {
			snprintf(err, errlen, "unknown argument \"%.32s\"", k);
			return false;
		}
	}
	return true;
}

static int opt_uint(json_t *msg, const char *name, uint64_t def, uint64_t max, uint64_t *out,
		    char *err, size_t errlen)
{
	if (!json_object_get(msg, name)) {
		*out = def;
		return 0;
	}
	return aproto_get_uint(msg, name, 0, max, out, err, errlen);
}

static int opt_bool(json_t *msg, const char *name, bool def, bool *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(msg, name);
	if (!v) {
		*out = def;
		return 0;
	}
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "argument \"%s\" is not a boolean", name);
		return -EINVAL;
	}
	*out = json_is_true(v);
	return 0;
}

/* "start" (default 0) and "end" (default, or -1: to the end). */
static int get_range(json_t *msg, uint64_t *start, uint64_t *end, char *err, size_t errlen)
{
	json_t *e = json_object_get(msg, "end");
	if (opt_uint(msg, "start", 0, INT64_MAX, start, err, errlen))
		return -EINVAL;
	if (!e || (json_is_integer(e) && json_integer_value(e) == -1))
		*end = UINT64_MAX;
	else if (aproto_get_uint(msg, "end", 0, INT64_MAX, end, err, errlen))
		return -EINVAL;
	if (*start > *end) {
		snprintf(err, errlen, "inverted range: start %llu > end %llu",
			 (unsigned long long)*start, (unsigned long long)*end);
		return -EINVAL;
	}
	return 0;
}

static int get_mode(json_t *msg, enum dlm_mode *mode, char *err, size_t errlen)
{
	const char *s;
	if (aproto_get_str(msg, "mode", 8, &s, err, errlen))
		return -EINVAL;
	if (dlm_mode_parse(s, mode)) {
		snprintf(err, errlen, "bad mode \"%.8s\": one of NL CR CW PR PW EX", s);
		return -EINVAL;
	}
	return 0;
}

static int get_wait(json_t *msg, bool *wait, unsigned *timeout_ms, char *err, size_t errlen)
{
	uint64_t t;
	if (opt_bool(msg, "wait", true, wait, err, errlen) ||
	    opt_uint(msg, "timeout_ms", LOCK_TIMEOUT_DEF_MS, LOCK_TIMEOUT_MAX_MS, &t, err, errlen))
		return -EINVAL;
	if (t == 0) {
		snprintf(err, errlen, "argument \"timeout_ms\" must be at least 1");
		return -EINVAL;
	}
	*timeout_ms = (unsigned)t;
	return 0;
}

static json_t *dump_reply(struct sanfsd *d);

void dlm_admin_handle(struct sanfsd *d, struct admin_req *req, json_t *msg)
{
	static const char *const lock_keys[] = {"fs",  "id",   "type",	     "mode",   "start",
						"end", "wait", "timeout_ms", "expand", NULL};
	static const char *const conv_keys[] = {"lkid", "mode",	      "start", "end",
						"wait", "timeout_ms", NULL};
	static const char *const unlock_keys[] = {"lkid", NULL};
	static const char *const plock_keys[] = {"fs",	  "ino", "owner", "pid",	"type",
						 "start", "end", "wait",  "timeout_ms", NULL};
	static const char *const dump_keys[] = {NULL};
	const char *op = json_string_value(json_object_get(msg, "op"));
	char err[200] = "";
	bool ready;
	struct dlm_ls *ls = dlm_node_ls(d, &ready);
	struct dlm_admin *a = admin_get(d);
	if (!ls || !a) {
		admin_reply(req, aproto_err(ADMIN_E_INTERNAL, "the lockspace is not running"));
		return;
	}
	struct job *j = calloc(1, sizeof(*j));
	if (!j) {
		admin_reply(req, NULL);
		return;
	}
	j->conn = admin_req_conn(req);
	j->ls = ls;
	struct aconn *c = conn_get(a, j->conn, false);
	uint64_t v;
	int bad = 0;
	if (!strcmp(op, "lock.dump")) {
		free(j);
		if (!only_keys(msg, dump_keys, err, sizeof(err)))
			admin_reply(req, aproto_err(ADMIN_E_INVALID, "%s", err));
		else
			admin_reply(req, dump_reply(d));
		return;
	} else if (!strcmp(op, "lock.lock")) {
		j->kind = J_LOCK;
		bool expand;
		bad = !only_keys(msg, lock_keys, err, sizeof(err)) ||
		      aproto_get_uint(msg, "id", 0, INT64_MAX, &j->name.id, err, sizeof(err)) ||
		      opt_uint(msg, "fs", 0, INT64_MAX, &j->name.fs, err, sizeof(err)) ||
		      opt_uint(msg, "type", 0, DLM_RES_POSIX - 1, &v, err, sizeof(err)) ||
		      get_mode(msg, &j->mode, err, sizeof(err)) ||
		      get_range(msg, &j->range.start, &j->range.end, err, sizeof(err)) ||
		      get_wait(msg, &j->wait, &j->timeout_ms, err, sizeof(err)) ||
		      opt_bool(msg, "expand", false, &expand, err, sizeof(err));
		if (!bad) {
			j->name.type = (uint8_t)v;
			j->flags = (j->wait ? 0 : DLM_LKF_NOQUEUE) | (expand ? DLM_LKF_EXPAND : 0);
		}
	} else if (!strcmp(op, "lock.convert")) {
		j->kind = J_CONVERT;
		bad = !only_keys(msg, conv_keys, err, sizeof(err)) ||
		      aproto_get_uint(msg, "lkid", 0, INT64_MAX, &j->lkid, err, sizeof(err)) ||
		      get_mode(msg, &j->mode, err, sizeof(err)) ||
		      get_range(msg, &j->range.start, &j->range.end, err, sizeof(err)) ||
		      get_wait(msg, &j->wait, &j->timeout_ms, err, sizeof(err));
		j->flags = j->wait ? 0 : DLM_LKF_NOQUEUE;
	} else if (!strcmp(op, "lock.unlock")) {
		j->kind = J_UNLOCK;
		bad = !only_keys(msg, unlock_keys, err, sizeof(err)) ||
		      aproto_get_uint(msg, "lkid", 0, INT64_MAX, &j->lkid, err, sizeof(err));
	} else if (!strcmp(op, "lock.plock") || !strcmp(op, "lock.plockget")) {
		bool get = !strcmp(op, "lock.plockget");
		j->kind = get ? J_PLOCKGET : J_PLOCK;
		const char *type = NULL;
		uint64_t owner = 0, pid = 0;
		bad = !only_keys(msg, plock_keys, err, sizeof(err)) ||
		      aproto_get_uint(msg, "ino", 0, INT64_MAX, &j->pl.ino, err, sizeof(err)) ||
		      opt_uint(msg, "fs", 0, INT64_MAX, &j->pl.fs, err, sizeof(err)) ||
		      aproto_get_uint(msg, "owner", 0, OWNER_MAX, &owner, err, sizeof(err)) ||
		      opt_uint(msg, "pid", 0, UINT32_MAX, &pid, err, sizeof(err)) ||
		      aproto_get_str(msg, "type", 4, &type, err, sizeof(err)) ||
		      get_range(msg, &j->pl.start, &j->pl.end, err, sizeof(err)) ||
		      get_wait(msg, &j->wait, &j->timeout_ms, err, sizeof(err));
		if (!bad) {
			if (!strcmp(type, "rd"))
				j->pl.type = POSIX_LOCK_RD;
			else if (!strcmp(type, "wr"))
				j->pl.type = POSIX_LOCK_WR;
			else if (!strcmp(type, "un") && !get)
				j->pl.type = POSIX_LOCK_UN;
			else {
				snprintf(err, sizeof(err), "unknown type \"%.4s\": rd, wr%s", type,
					 get ? "" : " or un");
				bad = 1;
			}
		}
		/* Owners of different connections never meet: the DLM owner
		 * is (connection, client's owner). */
		j->pl.owner = j->conn << 32 | owner;
		j->pl.pid = (uint32_t)pid;
		if (j->pl.type == POSIX_LOCK_UN)
			j->wait = false;
	} else {
		bad = 1;
		snprintf(err, sizeof(err), "unknown op '%.64s'", op);
	}
	if (bad) {
		free(j);
		json_t *r = aproto_err(ADMIN_E_INVALID, "%s", err);
		if (r)
			json_object_set_new(r, "errno", json_string("EINVAL"));
		admin_reply(req, r);
		return;
	}
	if ((j->kind == J_CONVERT || j->kind == J_UNLOCK) &&
	    (!c || !conn_has_lkid(c, j->lkid, j->kind == J_UNLOCK && ready))) {
		admin_reply(req, aproto_err(ADMIN_E_NOTFOUND,
					    "no lock %llu was taken on this connection",
					    (unsigned long long)j->lkid));
		free(j);
		return;
	}
	if (!ready) {
		free(j);
		json_t *r = aproto_err(ADMIN_E_BUSY, "the lockspace is not running yet: this node "
						     "is not an active member with every peer "
						     "connected");
		json_object_set_new(r, "errno", json_string("ENOTCONN"));
		admin_reply(req, r);
		return;
	}
	if (!conn_get(a, j->conn, true)) {
		free(j);
		admin_reply(req, NULL);
		return;
	}
	j->req = req;
	bool waits = j->wait && (j->kind == J_LOCK || j->kind == J_CONVERT || j->kind == J_PLOCK);
	if (waits) {
		j->timer = malloc(sizeof(*j->timer));
		if (j->timer) {
			uv_timer_init(d->loop, j->timer);
			j->timer->data = j;
			uv_timer_start(j->timer, on_timeout, j->timeout_ms, 0);
		}
	}
	int rc = job_start(a, j);
	if (rc)
		admin_reply(req, errno_reply(rc, "cannot start a lock thread"));
}

void dlm_admin_conn_closed(void *data, uint64_t conn)
{
	struct sanfsd *d = data;
	struct dlm_admin *a = d->dlma;
	/* Stopping (admin_srv_stop closes every connection after
	 * dlm_node_stop): the process exits, and the lockspace with it. */
	struct aconn *c = a && !a->stopping ? conn_get(a, conn, false) : NULL;
	if (!c)
		return;
	c->closed = true;
	c->inflight++; /* not freed while releasing */
	for (size_t i = 0; i < c->nlkids; i++)
		release_lock(a, c->lkids[i]);
	c->nlkids = 0;
	for (size_t i = 0; i < c->npf; i++)
		release_plock(a, c->pfiles[i].fs, c->pfiles[i].ino, c->pfiles[i].owner, 0,
			      POSIX_LOCK_EOF);
	c->npf = 0;
	/* A lock or record lock still waiting would be granted to nobody. */
	for (struct job *j = a->running; j; j = j->rnext)
		if (j->conn == conn)
			job_cancel(j);
	c->inflight--;
	conn_maybe_free(a, c);
}

void dlm_admin_stop(struct sanfsd *d)
{
	struct dlm_admin *a = d->dlma;
	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->stopping = true;
	pthread_mutex_unlock(&a->mu);
	/* Threads still blocked in the DLM never touch a again once they see
	 * stopping; a (and its jobs) live until the process exits. */
	uv_close((uv_handle_t *)&a->async, NULL);
	for (struct job *j = a->running; j; j = j->rnext)
		if (j->timer) {
			uv_timer_stop(j->timer);
			uv_close((uv_handle_t *)j->timer, timer_free);
			j->timer = NULL;
		}
}

/* ---- lock.dump ---- */

static void dump_one(void *arg, const struct dlm_lock_info *li)
{
	json_t *arr = arg;
	json_array_append_new(
	    arr, json_pack("{s:s,s:I,s:I,s:i,s:I,s:I,s:I,s:s,s:s,s:I,s:I,s:s}", "role", li->role,
			   "fs", (json_int_t)li->name.fs, "id", (json_int_t)li->name.id, "type",
			   (int)li->name.type, "master", (json_int_t)li->master, "node",
			   (json_int_t)li->node, "lkid", (json_int_t)li->lkid, "grmode",
			   dlm_mode_name(li->grmode), "rqmode", dlm_mode_name(li->rqmode), "start",
			   (json_int_t)li->range.start, "end", end_json(li->range.end), "state",
			   li->state ? li->state : "?"));
}

static json_t *dump_reply(struct sanfsd *d)
{
	bool ready;
	struct dlm_ls *ls = dlm_node_ls(d, &ready);
	json_t *arr = json_array();
	dlm_ls_dump(ls, dump_one, arr);
	struct dlm_ls_stats st;
	dlm_ls_get_stats(ls, &st);
	return json_pack("{s:b,s:I,s:b,s:o,s:{s:I,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I}}", "ok", 1, "id",
			 (json_int_t)d->conf.id, "ready", ready, "locks", arr, "stats", "epoch",
			 (json_int_t)st.epoch, "recovering", st.recovering, "owned",
			 (json_int_t)st.owned, "mastered_resources",
			 (json_int_t)st.mastered_resources, "mastered_locks",
			 (json_int_t)st.mastered_locks, "dead_pending", (json_int_t)st.dead_pending,
			 "msgs_in", (json_int_t)st.msgs_in, "msgs_out", (json_int_t)st.msgs_out,
			 "msgs_dropped", (json_int_t)st.msgs_dropped);
}
