/* tests/cluster/lock_stress: a client of sanfsd's lock.* admin operations for
 * tests/cluster/t_locks.sh.
 *
 *   lock_stress hold SOCK JSON LOG RELEASE_FILE
 *     Send one lock.lock or lock.plock request on a new connection; append
 *     "granted TS_NS" (or "error TS_NS REPLY") to LOG once it answers; then
 *     wait until RELEASE_FILE exists, append "releasing TS_NS", unlock and
 *     exit (which closes the connection).
 *
 *   lock_stress stress --socks S1,S2,.. --nodes 1,2,.. --threads T --secs S
 *                      --logdir DIR --seed N [--death-file F] [--min-grants M]
 *                      [--stop-file F2] [--rejoin]
 *     T client threads per node, each with its own admin connection,
 *     request random resources (16), modes and ranges for S seconds (or
 *     until F2 exists), hold 0-3 ms, sometimes convert, then unlock. Each
 *     thread logs to DIR/nN.tT.log: "G ts node lkid res mode start end"
 *     after a grant (or a conversion) returned, "R ts node lkid" before the
 *     unlock (or the conversion) is sent, "L ts node" when its connection
 *     was lost. Then the checker reads every log and fails if two
 *     conflicting grants (modes incompatible, ranges overlapping) held by
 *     different locks overlapped in time. Logging after the grant and before
 *     the release makes each logged interval a sub-interval of the real one,
 *     so real exclusion implies logged exclusion, whatever the order in which
 *     threads write.
 *     F (written by the test each time it kill -9'ed a node) holds lines
 *     "NODE TS_NS": a grant of that node without a release ends at its
 *     node's first death after the grant (the dead node's locks stay held
 *     until it is fenced, later still), and in the time from each death to
 *     the next one (or the end) every other node makes at least M grants
 *     (the survivors go on). With a death file a thread whose connection is
 *     lost reconnects until the end (the test may restart the node); with
 *     --rejoin, every killed node must also make M grants after its last
 *     death (it came back as a new incarnation and serves locks again).
 *
 * Times are CLOCK_REALTIME in ns (one host, one clock). Exit 0 when the
 * check passes, 1 otherwise, with one line per violation (at most 20). */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_NODES   8
#define NRES	    16
#define MAX_THREADS 32
#define MAX_DEATHS  64

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- one admin connection ---- */

struct conn {
	int fd;
	char buf[65536];
	size_t len;
};

static int conn_open(struct conn *c, const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	c->len = 0;
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof(a))) {
		int e = -errno;
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		return e;
	}
	return 0;
}

/* Send one request line, read one reply line. NULL: connection lost. */
static json_t *conn_call(struct conn *c, const char *line)
{
	size_t n = strlen(line);
	char *out = malloc(n + 2);
	memcpy(out, line, n);
	out[n] = '\n';
	ssize_t w = send(c->fd, out, n + 1, MSG_NOSIGNAL);
	free(out);
	if (w != (ssize_t)(n + 1))
		return NULL;
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			*nl = 0;
			json_t *r = json_loads(c->buf, 0, NULL);
			size_t used = (size_t)(nl - c->buf) + 1;
			memmove(c->buf, c->buf + used, c->len - used);
			c->len -= used;
			return r;
		}
		if (c->len == sizeof(c->buf))
			return NULL;
		ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (r <= 0)
			return NULL;
		c->len += (size_t)r;
	}
}

static bool reply_ok(json_t *r)
{
	return r && json_is_true(json_object_get(r, "ok"));
}

static const char *reply_errno(json_t *r)
{
	const char *e = r ? json_string_value(json_object_get(r, "errno")) : NULL;
	return e ? e : "?";
}

/* ---- hold ---- */

static int cmd_hold(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: lock_stress hold SOCK JSON LOG RELEASE_FILE\n");
		return 2;
	}
	struct conn c;
	if (conn_open(&c, argv[2])) {
		fprintf(stderr, "lock_stress: cannot connect to %s\n", argv[2]);
		return 1;
	}
	FILE *log = fopen(argv[4], "a");
	if (!log)
		return 1;
	json_t *r = conn_call(&c, argv[3]);
	uint64_t t = now_ns();
	char *txt = r ? json_dumps(r, JSON_COMPACT) : strdup("(connection lost)");
	if (!reply_ok(r)) {
		fprintf(log, "error %llu %s\n", (unsigned long long)t, txt);
		fclose(log);
		return 1;
	}
	fprintf(log, "granted %llu %s\n", (unsigned long long)t, txt);
	fflush(log);
	free(txt);
	struct stat st;
	while (stat(argv[5], &st))
		usleep(10000);
	fprintf(log, "releasing %llu\n", (unsigned long long)now_ns());
	fflush(log);
	json_t *req = json_loads(argv[3], 0, NULL);
	const char *op = json_string_value(json_object_get(req, "op"));
	char line[512];
	if (op && !strcmp(op, "lock.lock"))
		snprintf(line, sizeof(line), "{\"op\":\"lock.unlock\",\"lkid\":%lld}",
			 (long long)json_integer_value(json_object_get(r, "lkid")));
	else
		snprintf(line, sizeof(line),
			 "{\"op\":\"lock.plock\",\"ino\":%lld,\"owner\":%lld,\"type\":\"un\"}",
			 (long long)json_integer_value(json_object_get(req, "ino")),
			 (long long)json_integer_value(json_object_get(req, "owner")));
	json_t *u = conn_call(&c, line);
	fprintf(log, "%s %llu\n", reply_ok(u) ? "released" : "unlock-failed",
		(unsigned long long)now_ns());
	fclose(log);
	return reply_ok(u) ? 0 : 1;
}

/* ---- stress ---- */

struct death {
	int node;
	uint64_t ts;
};

struct cfg {
	const char *socks[MAX_NODES];
	int nodes[MAX_NODES];
	int nnodes, threads, secs;
	const char *logdir, *death_file, *stop_file;
	bool rejoin;
	unsigned seed;
	long min_grants;
	uint64_t deadline;
	struct death deaths[MAX_DEATHS];
	int ndeaths;
};

static bool running(const struct cfg *cfg)
{
	struct stat st;
	return now_ns() < cfg->deadline && !(cfg->stop_file && stat(cfg->stop_file, &st) == 0);
}

struct worker {
	struct cfg *cfg;
	int node_ix, t;
	unsigned seed;
	long grants, timeouts, tries_failed, converts, errors, reconnects;
	uint64_t wait_max_ns, wait_sum_ns;
	bool lost;
};

/* The connection is gone (its node was killed). Without a death file the
 * thread stops; with one it reconnects until the end, since the test may
 * restart the node. Returns whether to go on. */
static bool lost_connection(struct worker *w, struct conn *c, FILE *log, int node)
{
	w->lost = true;
	fprintf(log, "L %llu %d\n", (unsigned long long)now_ns(), node);
	fflush(log);
	close(c->fd);
	c->fd = -1;
	if (!w->cfg->death_file)
		return false;
	while (running(w->cfg)) {
		usleep(50000);
		if (conn_open(c, w->cfg->socks[w->node_ix]) == 0) {
			w->reconnects++;
			return true;
		}
	}
	return false;
}

static const char *const MODES[] = {"NL", "CR", "CW", "PR", "PW", "EX"};
/* Mode compatibility (locks/dlm_mode.h). */
static const bool COMPAT[6][6] = {
    {1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 0}, {1, 1, 1, 0, 0, 0},
    {1, 1, 0, 1, 0, 0}, {1, 1, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0},
};

static int pick_mode(unsigned *seed)
{
	/* Mostly strong modes, so that conflicts are common. */
	static const int w[] = {1, 2, 2, 4, 3, 6};
	int x = rand_r(seed) % 18;
	for (int m = 0; m < 6; m++) {
		if (x < w[m])
			return m;
		x -= w[m];
	}
	return 5;
}

static void pick_range(unsigned *seed, long long *start, long long *end)
{
	if (rand_r(seed) % 4 == 0) {
		*start = 0, *end = -1;
		return;
	}
	*start = rand_r(seed) % 100;
	*end = *start + rand_r(seed) % 40;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct cfg *cfg = w->cfg;
	int node = cfg->nodes[w->node_ix];
	char path[4096], line[512];
	snprintf(path, sizeof(path), "%s/n%d.t%d.log", cfg->logdir, node, w->t);
	FILE *log = fopen(path, "w");
	struct conn c;
	if (!log || conn_open(&c, cfg->socks[w->node_ix])) {
		fprintf(stderr, "lock_stress: node %d thread %d cannot start\n", node, w->t);
		w->errors++;
		if (log)
			fclose(log);
		return NULL;
	}
	while (running(cfg)) {
		int res = rand_r(&w->seed) % NRES, mode = pick_mode(&w->seed);
		long long start, end;
		pick_range(&w->seed, &start, &end);
		bool try = rand_r(&w->seed) % 10 == 0;
		snprintf(
		    line, sizeof(line),
		    "{\"op\":\"lock.lock\",\"id\":%d,\"mode\":\"%s\",\"start\":%lld,\"end\":%lld,"
		    "\"wait\":%s,\"timeout_ms\":3000}",
		    res, MODES[mode], start, end, try ? "false" : "true");
		uint64_t t0 = now_ns();
		json_t *r = conn_call(&c, line);
		uint64_t t1 = now_ns();
		if (!r) {
			if (lost_connection(w, &c, log, node))
				continue;
			break;
		}
		if (!reply_ok(r)) {
			const char *e = reply_errno(r);
			if (!strcmp(e, "ETIMEDOUT"))
				w->timeouts++;
			else if (!strcmp(e, "EAGAIN"))
				w->tries_failed++;
			else if (!strcmp(e, "ENOTCONN"))
				usleep(10000); /* lockspace not running yet */
			else {
				char *s = json_dumps(r, JSON_COMPACT);
				fprintf(stderr, "lock_stress: n%d: %s\n", node, s);
				free(s);
				w->errors++;
			}
			json_decref(r);
			continue;
		}
		long long lkid = json_integer_value(json_object_get(r, "lkid"));
		long long gs = json_integer_value(json_object_get(r, "start"));
		long long ge = json_integer_value(json_object_get(r, "end"));
		json_decref(r);
		w->grants++;
		w->wait_sum_ns += t1 - t0;
		if (t1 - t0 > w->wait_max_ns)
			w->wait_max_ns = t1 - t0;
		fprintf(log, "G %llu %d %lld %d %d %lld %lld\n", (unsigned long long)t1, node, lkid,
			res, mode, gs, ge);
		usleep((useconds_t)(rand_r(&w->seed) % 3000));
		if (rand_r(&w->seed) % 5 == 0) {
			int m2 = pick_mode(&w->seed);
			fprintf(log, "R %llu %d %lld\n", (unsigned long long)now_ns(), node, lkid);
			snprintf(
			    line, sizeof(line),
			    "{\"op\":\"lock.convert\",\"lkid\":%lld,\"mode\":\"%s\",\"start\":%lld,"
			    "\"end\":%lld,\"timeout_ms\":3000}",
			    lkid, MODES[m2], gs, ge);
			r = conn_call(&c, line);
			if (!r) {
				if (lost_connection(w, &c, log, node))
					continue;
				break;
			}
			if (reply_ok(r)) {
				w->converts++;
				fprintf(log, "G %llu %d %lld %d %d %lld %lld\n",
					(unsigned long long)now_ns(), node, lkid, res, m2,
					(long long)json_integer_value(json_object_get(r, "start")),
					(long long)json_integer_value(json_object_get(r, "end")));
				usleep((useconds_t)(rand_r(&w->seed) % 2000));
			} else if (!strcmp(reply_errno(r), "ETIMEDOUT")) {
				/* Still converting inside sanfsd: held in some mode
				 * we cannot name. Its logged interval is closed; the
				 * unlock below waits behind the conversion. */
				w->timeouts++;
			} else {
				w->errors++;
			}
			json_decref(r);
		}
		fprintf(log, "R %llu %d %lld\n", (unsigned long long)now_ns(), node, lkid);
		snprintf(line, sizeof(line), "{\"op\":\"lock.unlock\",\"lkid\":%lld}", lkid);
		r = conn_call(&c, line);
		/* EBUSY: a conversion that timed out still waits in sanfsd. */
		for (int i = 0; r && !reply_ok(r) && !strcmp(reply_errno(r), "EBUSY") && i < 1000;
		     i++) {
			json_decref(r);
			usleep(10000);
			r = conn_call(&c, line);
		}
		if (!r) {
			if (lost_connection(w, &c, log, node))
				continue;
			break;
		}
		if (!reply_ok(r)) {
			char *s = json_dumps(r, JSON_COMPACT);
			fprintf(stderr, "lock_stress: n%d unlock: %s\n", node, s);
			free(s);
			w->errors++;
		}
		json_decref(r);
	}
	fclose(log);
	if (c.fd >= 0)
		close(c.fd);
	return NULL;
}

struct ival {
	uint64_t g, r;
	int node, res, mode;
	long long lkid;
	uint64_t start, end;
};

static int cmp_ival(const void *a, const void *b)
{
	const struct ival *x = a, *y = b;
	if (x->res != y->res)
		return x->res - y->res;
	return x->g < y->g ? -1 : x->g > y->g;
}

/* The first death of NODE at or after TS, or UINT64_MAX. */
static uint64_t death_after(const struct cfg *cfg, int node, uint64_t ts)
{
	for (int i = 0; i < cfg->ndeaths; i++)
		if (cfg->deaths[i].node == node && cfg->deaths[i].ts >= ts)
			return cfg->deaths[i].ts;
	return UINT64_MAX;
}

static void push(struct ival **v, size_t *n, size_t *cap, const struct ival *x)
{
	if (*n == *cap)
		*v = realloc(*v, (*cap *= 2) * sizeof(**v));
	(*v)[(*n)++] = *x;
}

/* Read the logs into intervals, one per logged grant; returns the count. */
static long load(const struct cfg *cfg, struct ival **out)
{
	size_t cap = 1 << 16, n = 0;
	struct ival *v = malloc(cap * sizeof(*v));
	for (int i = 0; i < cfg->nnodes; i++)
		for (int t = 0; t < cfg->threads; t++) {
			char path[4096], line[256];
			snprintf(path, sizeof(path), "%s/n%d.t%d.log", cfg->logdir, cfg->nodes[i],
				 t);
			FILE *f = fopen(path, "r");
			if (!f)
				continue;
			struct ival open = {0};
			bool have = false;
			while (fgets(line, sizeof(line), f)) {
				unsigned long long ts, s, e;
				long long lkid, es, ee;
				int node, res, mode;
				if (line[0] == 'G' &&
				    sscanf(line, "G %llu %d %lld %d %d %lld %lld", &ts, &node,
					   &lkid, &res, &mode, &es, &ee) == 7) {
					s = (unsigned long long)es;
					e = ee < 0 ? UINT64_MAX : (unsigned long long)ee;
					open = (struct ival){ts, 0, node, res, mode, lkid, s, e};
					have = true;
				} else if (line[0] == 'R' &&
					   sscanf(line, "R %llu %d %lld", &ts, &node, &lkid) == 3 &&
					   have) {
					open.r = ts;
					push(&v, &n, &cap, &open);
					have = false;
				}
			}
			fclose(f);
			if (have) {
				/* Held when the log ends: its node died holding it
				 * (held, in truth, until the node was fenced), or the
				 * run ended: it is released at close, after every
				 * logged event. */
				open.r = death_after(cfg, open.node, open.g);
				push(&v, &n, &cap, &open);
			}
		}
	*out = v;
	return (long)n;
}

static int read_deaths(struct cfg *cfg)
{
	FILE *f = fopen(cfg->death_file, "r");
	if (!f) {
		fprintf(stderr, "lock_stress: cannot read %s\n", cfg->death_file);
		return -1;
	}
	int node;
	unsigned long long ts;
	while (cfg->ndeaths < MAX_DEATHS && fscanf(f, "%d %llu", &node, &ts) == 2)
		cfg->deaths[cfg->ndeaths++] = (struct death){node, ts};
	fclose(f);
	if (cfg->ndeaths == 0) {
		fprintf(stderr, "lock_stress: no death in %s\n", cfg->death_file);
		return -1;
	}
	for (int i = 1; i < cfg->ndeaths; i++)
		if (cfg->deaths[i].ts < cfg->deaths[i - 1].ts) {
			fprintf(stderr, "lock_stress: deaths out of order in %s\n",
				cfg->death_file);
			return -1;
		}
	return 0;
}

/* Grants of NODE logged in (from, to). */
static long grants_between(const struct ival *v, long n, int node, uint64_t from, uint64_t to)
{
	long c = 0;
	for (long i = 0; i < n; i++)
		c += v[i].node == node && v[i].g > from && v[i].g < to;
	return c;
}

/* The survivors of every death go on; with --rejoin every killed node
 * serves again after its last death. */
static int check_progress(const struct cfg *cfg, const struct ival *v, long n)
{
	int rc = 0;
	for (int d = 0; d < cfg->ndeaths; d++) {
		const struct death *x = &cfg->deaths[d];
		uint64_t to = d + 1 < cfg->ndeaths ? cfg->deaths[d + 1].ts : UINT64_MAX;
		for (int i = 0; i < cfg->nnodes; i++) {
			if (cfg->nodes[i] == x->node)
				continue;
			long c = grants_between(v, n, cfg->nodes[i], x->ts, to);
			printf("check: n%d: %ld grants after death %d (n%d)%s\n", cfg->nodes[i], c,
			       d + 1, x->node, to == UINT64_MAX ? "" : " until the next");
			if (c < cfg->min_grants) {
				fprintf(stderr,
					"FAIL: survivor n%d made %ld grants after death %d of n%d "
					"(want >= %ld)\n",
					cfg->nodes[i], c, d + 1, x->node, cfg->min_grants);
				rc = 1;
			}
		}
	}
	for (int i = 0; cfg->rejoin && i < cfg->nnodes; i++) {
		uint64_t last = 0;
		for (int d = 0; d < cfg->ndeaths; d++)
			if (cfg->deaths[d].node == cfg->nodes[i])
				last = cfg->deaths[d].ts;
		if (!last)
			continue;
		long c = grants_between(v, n, cfg->nodes[i], last, UINT64_MAX);
		printf("check: n%d: %ld grants after it came back\n", cfg->nodes[i], c);
		if (c < cfg->min_grants) {
			fprintf(stderr,
				"FAIL: n%d made %ld grants after its restart (want >= %ld)\n",
				cfg->nodes[i], c, cfg->min_grants);
			rc = 1;
		}
	}
	return rc;
}

static int check(struct cfg *cfg)
{
	if (cfg->death_file && read_deaths(cfg))
		return 1;
	struct ival *v;
	long n = load(cfg, &v);
	qsort(v, (size_t)n, sizeof(*v), cmp_ival);
	long bad = 0, pairs = 0;
	for (long i = 0; i < n; i++)
		for (long k = i + 1; k < n && v[k].res == v[i].res && v[k].g < v[i].r; k++) {
			struct ival *a = &v[i], *b = &v[k];
			if (a->lkid == b->lkid && a->node == b->node)
				continue;
			pairs++;
			bool range = a->start <= b->end && b->start <= a->end;
			if (!range || COMPAT[a->mode][b->mode])
				continue;
			if (bad++ < 20)
				fprintf(stderr,
					"VIOLATION res %d: n%d lock %#llx %s [%llu-%llu] held "
					"%llu..%llu "
					"and n%d lock %#llx %s [%llu-%llu] granted %llu\n",
					a->res, a->node, (unsigned long long)a->lkid,
					MODES[a->mode], (unsigned long long)a->start,
					(unsigned long long)a->end, (unsigned long long)a->g,
					(unsigned long long)a->r, b->node,
					(unsigned long long)b->lkid, MODES[b->mode],
					(unsigned long long)b->start, (unsigned long long)b->end,
					(unsigned long long)b->g);
		}
	printf("check: %ld grant intervals, %ld time-overlapping pairs on one resource, %ld "
	       "conflicting\n",
	       n, pairs, bad);
	int rc = bad ? 1 : 0;
	if (check_progress(cfg, v, n))
		rc = 1;
	free(v);
	return rc;
}

static int split(const char *s, const char **out, int max)
{
	char *dup = strdup(s);
	int n = 0;
	for (char *tok = strtok(dup, ","); tok && n < max; tok = strtok(NULL, ","))
		out[n++] = tok;
	return n;
}

static int cmd_stress(int argc, char **argv)
{
	struct cfg cfg = {.threads = 4, .secs = 20, .seed = (unsigned)time(NULL), .min_grants = 1};
	const char *nodes[MAX_NODES];
	int nn = 0, ns = 0;
	bool check_only = false;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--check-only")) {
			check_only = true;
			continue;
		}
		if (!strcmp(a, "--rejoin")) {
			cfg.rejoin = true;
			continue;
		}
		if (!v) {
			fprintf(stderr, "lock_stress: %s needs a value\n", a);
			return 2;
		}
		i++;
		if (!strcmp(a, "--socks"))
			ns = split(v, cfg.socks, MAX_NODES);
		else if (!strcmp(a, "--nodes"))
			nn = split(v, nodes, MAX_NODES);
		else if (!strcmp(a, "--threads"))
			cfg.threads = atoi(v);
		else if (!strcmp(a, "--secs"))
			cfg.secs = atoi(v);
		else if (!strcmp(a, "--logdir"))
			cfg.logdir = v;
		else if (!strcmp(a, "--seed"))
			cfg.seed = (unsigned)strtoul(v, NULL, 0);
		else if (!strcmp(a, "--death-file"))
			cfg.death_file = v;
		else if (!strcmp(a, "--stop-file"))
			cfg.stop_file = v;
		else if (!strcmp(a, "--min-grants"))
			cfg.min_grants = atol(v);
		else {
			fprintf(stderr, "lock_stress: unknown option %s\n", a);
			return 2;
		}
	}
	if (nn == 0 || nn != ns || !cfg.logdir || cfg.threads < 1 || cfg.threads > MAX_THREADS) {
		fprintf(stderr, "lock_stress stress: --socks and --nodes (same count), --logdir, "
				"--threads 1..32 needed\n");
		return 2;
	}
	cfg.nnodes = nn;
	for (int i = 0; i < nn; i++)
		cfg.nodes[i] = atoi(nodes[i]);
	if (check_only)
		return check(&cfg);
	printf("stress: seed %u, %d nodes x %d threads, %d s\n", cfg.seed, nn, cfg.threads,
	       cfg.secs);
	fflush(stdout);
	uint64_t began = now_ns();
	cfg.deadline = began + (uint64_t)cfg.secs * 1000000000u;
	struct worker *w = calloc((size_t)(nn * cfg.threads), sizeof(*w));
	pthread_t *th = calloc((size_t)(nn * cfg.threads), sizeof(*th));
	for (int i = 0; i < nn; i++)
		for (int t = 0; t < cfg.threads; t++) {
			struct worker *x = &w[i * cfg.threads + t];
			*x = (struct worker){.cfg = &cfg, .node_ix = i, .t = t};
			x->seed = cfg.seed * 1000003u + (unsigned)(i * 97 + t);
			pthread_create(&th[i * cfg.threads + t], NULL, worker_main, x);
		}
	long errors = 0;
	for (int i = 0; i < nn * cfg.threads; i++)
		pthread_join(th[i], NULL);
	double secs = (double)(now_ns() - began) / 1e9;
	for (int i = 0; i < nn; i++) {
		long g = 0, to = 0, tf = 0, cv = 0, recon = 0;
		uint64_t mx = 0, sum = 0;
		bool lost = false;
		for (int t = 0; t < cfg.threads; t++) {
			struct worker *x = &w[i * cfg.threads + t];
			g += x->grants, to += x->timeouts, tf += x->tries_failed, cv += x->converts;
			errors += x->errors;
			sum += x->wait_sum_ns;
			mx = x->wait_max_ns > mx ? x->wait_max_ns : mx;
			lost |= x->lost;
			recon += x->reconnects;
		}
		printf("stress: n%d: %ld grants (%.0f/s), %ld conversions, %ld try-locks refused, "
		       "%ld time-outs, wait mean %.2f ms max %.1f ms%s",
		       cfg.nodes[i], g, (double)g / secs, cv, tf, to,
		       g ? (double)sum / (double)g / 1e6 : 0.0, (double)mx / 1e6,
		       lost ? ", connection lost" : "");
		if (recon)
			printf(", %ld reconnects", recon);
		printf("\n");
	}
	fflush(stdout);
	free(w);
	free(th);
	int rc = check(&cfg);
	if (errors) {
		fprintf(stderr, "FAIL: %ld unexpected errors\n", errors);
		rc = 1;
	}
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "hold"))
		return cmd_hold(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "stress"))
		return cmd_stress(argc, argv);
	fprintf(stderr, "usage: lock_stress hold ... | stress ... (see the source)\n");
	return 2;
}
