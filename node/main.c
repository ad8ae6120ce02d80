/* sanfsd: the sanfs node daemon (DESIGN §2, §8).
 *   sanfsd --state DIR [--foreground] [--verbose]
 *   sanfsd --local ...          single-host mode (the fuse helper's node/local.c)
 * Refuses, with a one-line reason: a missing or unreadable key, a state
 * directory of another cluster, an address in use, a state directory on tmpfs
 * or overlayfs (consensus checks it), a second sanfsd on the same DIR. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/stdfds.h"
#include "node/admin_proto.h"
#include "node/dlm_node.h"
#ifdef SANFS_HAVE_LOCAL
#include "node/local.h"
#endif
#include "node/sanfsd.h"

uint64_t sanfsd_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int sanfsd_ctl_addr_of(const char *raft_addr, char *out, size_t outlen)
{
	return nconf_control_address(raft_addr, out, outlen);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sanfsd --state DIR [--foreground] [--verbose]\n"
		   "       sanfsd --local ...   (single host, no cluster)\n"
		   "The sanfs node daemon. DIR is written by `sanctl bootstrap` or `sanctl join`;\n"
		   "the admin socket is DIR/" ADMIN_SOCK_NAME ".\n");
}

/* The state directory belongs to one cluster for life: DIR/cluster.id is
 * written at the first start and compared at every later one. */
static int check_cluster_id(const char *dir, const char *cluster, char *err, size_t errlen)
{
	char path[PATH_MAX + 64], buf[64] = "";
	snprintf(path, sizeof(path), "%s/cluster.id", dir);
	FILE *f = fopen(path, "re");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
		buf[strcspn(buf, "\r\n")] = 0;
		if (strcmp(buf, cluster)) {
			snprintf(err, errlen,
				 "state directory %.200s belongs to cluster %s, node.conf says %s",
				 dir, buf, cluster);
			return -EINVAL;
		}
		return 0;
	}
	f = fopen(path, "we");
	if (!f) {
		snprintf(err, errlen, "%.300s: %s", path, strerror(errno));
		return -errno;
	}
	fprintf(f, "%s\n", cluster);
	fflush(f);
	fsync(fileno(f));
	fclose(f);
	return 0;
}

/* Every start is a new incarnation (DESIGN §6): DIR/incarnation counts them. */
int sanfsd_next_incarnation(struct sanfsd *d)
{
	char path[PATH_MAX + 64], tmp[PATH_MAX + 80];
	unsigned long long inc = 0;
	snprintf(path, sizeof(path), "%s/incarnation", d->state_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%llu", &inc) != 1)
			inc = 0;
		fclose(f);
	}
	inc++;
	if (inc <= d->incarnation)
		inc = d->incarnation + 1;
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "%llu\n", inc);
	int rc = (fflush(f) || fsync(fileno(f))) ? -errno : 0;
	fclose(f);
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (!rc)
		d->incarnation = inc;
	return rc;
}

/* A clear message for an address already in use, before Raft tries. */
static int check_port_free(const char *addr, char *err, size_t errlen)
{
	char host[64];
	unsigned port;
	struct sockaddr_storage ss;
	if (nconf_parse_address(addr, host, sizeof(host), &port, err, errlen))
		return -EINVAL;
	int rc = strchr(host, ':') ? uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&ss)
				   : uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&ss);
	if (rc)
		return rc;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	socklen_t sl =
	    ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	rc = bind(fd, (struct sockaddr *)&ss, sl) ? -errno : 0;
	close(fd);
	if (rc)
		snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(-rc));
	return rc;
}

static void on_cons_event(struct cons *c, const struct cons_event *ev, void *data)
{
	struct sanfsd *d = data;
	(void)c;
	if (ev->type == CONS_EV_FAILED) {
		log_error("node", "Raft stopped (%s): shutting down", cons_errmsg(d->cons));
		raise(SIGTERM);
		return;
	}
	memb_on_event(d, ev);
	if (ev->type == CONS_EV_APPLIED)
		ops_on_applied(d);
	if (ev->type == CONS_EV_APPLIED || ev->type == CONS_EV_MEMBERSHIP)
		dlm_node_on_state(d);
}

static void on_admin(void *data, struct admin_req *req, json_t *msg);

static void admin_done(void *data, json_t *reply)
{
	admin_reply(data, reply);
}

static void on_admin(void *data, struct admin_req *req, json_t *msg)
{
	const char *op = json_string_value(json_object_get(msg, "op"));
	if (!strncmp(op, "lock.", 5)) /* served here, never forwarded */
		dlm_admin_handle(data, req, msg);
	else
		ops_handle(data, msg, false, admin_done, req);
}

static void on_ctl(void *data, struct ctl_in *in, uint64_t peer, json_t *msg)
{
	struct sanfsd *d = data;
	const char *t = json_string_value(json_object_get(msg, "t"));
	if (!strcmp(t, "hb"))
		memb_on_hb(d, in, peer, msg);
	else if (!strcmp(t, "join"))
		memb_on_join(d, in, peer, msg);
	else if (!strcmp(t, "dlmep"))
		dlm_node_on_ctl(d, in, peer, msg);
	else
		ops_on_ctl(d, in, peer, msg);
}

static void cons_closed(void *data)
{
	struct sanfsd *d = data;
	d->cons = NULL;
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct sanfsd *d = s->data;
	if (d->stopping)
		return;
	d->stopping = true;
	log_info("node", "signal %d: stopping", signum);
	memb_stop(d);
	dlm_node_stop(d);
	admin_srv_stop(d->admin);
	d->admin = NULL;
	ctl_close(d->ctl);
	d->ctl = NULL;
	if (d->cons)
		cons_close(d->cons, cons_closed, d);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
}

static int run(struct sanfsd *d, bool foreground)
{
	char err[512], path[PATH_MAX + 64], dlm_addr[NCONF_ADDR_MAX] = "";
	uint8_t key[NCONF_KEY_BYTES];
	if (nconf_load(d->state_dir, &d->conf, err, sizeof(err)) ||
	    nconf_load_key(d->state_dir, &d->conf, key, err, sizeof(err)) ||
	    check_cluster_id(d->state_dir, d->conf.cluster, err, sizeof(err))) {
		fprintf(stderr, "sanfsd: %s\n", err);
		return 1;
	}
	nconf_hex_decode(d->conf.cluster, d->key.cluster_id, sizeof(d->key.cluster_id));
	memcpy(d->key.key, key, sizeof(d->key.key));
	sodium_memzero(key, sizeof(key));
	log_set_node(d->conf.id);
	if (sanfsd_ctl_addr_of(d->conf.address, d->ctl_addr, sizeof(d->ctl_addr))) {
		fprintf(stderr, "sanfsd: address %s leaves no room for the control port\n",
			d->conf.address);
		return 1;
	}

	/* One sanfsd per state directory. */
	snprintf(path, sizeof(path), "%s/sanfsd.lock", d->state_dir);
	int lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB)) {
		fprintf(stderr, "sanfsd: %s: %s\n", path,
			errno == EWOULDBLOCK ? "another sanfsd runs on this state directory"
					     : strerror(errno));
		return 1;
	}
	if (check_port_free(d->conf.address, err, sizeof(err)) ||
	    check_port_free(d->ctl_addr, err, sizeof(err)) ||
	    (dlm_node_addr_of(d->conf.address, dlm_addr, sizeof(dlm_addr)) &&
	     snprintf(err, sizeof(err), "address %s leaves no room for the DLM port",
		      d->conf.address)) ||
	    check_port_free(dlm_addr, err, sizeof(err))) {
		fprintf(stderr, "sanfsd: %s\n", err);
		return 1;
	}
	if (!foreground) {
		snprintf(path, sizeof(path), "%s/sanfsd.log", d->state_dir);
		if (log_open_file(path) || daemon(0, 0)) {
			fprintf(stderr, "sanfsd: cannot daemonize: %s\n", strerror(errno));
			return 1;
		}
	}
	log_install_crash_handler();
	if (sanfsd_next_incarnation(d)) {
		log_error("node", "cannot record the incarnation in %s", d->state_dir);
		return 1;
	}
	d->sync_timeout_ms = 5000;

	struct cons_config cfg = {
	    .id = d->conf.id,
	    .address = d->conf.address,
	    .state_dir = d->state_dir,
	    .key = d->key,
	    .election_timeout_ms = d->conf.election_ms,
	    .heartbeat_timeout_ms = 100,
	    .on_event = on_cons_event,
	    .cb_data = d,
	};
	int rc = cons_open(d->loop, &cfg, &d->cons);
	if (rc) {
		/* -EINVAL: consensus already logged the one-line reason. */
		if (rc != -EINVAL)
			fprintf(stderr, "sanfsd: cannot open the Raft state in %s: %s\n",
				d->state_dir, strerror(-rc));
		return 1;
	}
	if (d->conf.bootstrap) {
		rc = cons_bootstrap(d->cons);
		if (rc && rc != -EEXIST) {
			fprintf(stderr, "sanfsd: bootstrap: %s (%s)\n", strerror(-rc),
				cons_errmsg(d->cons));
			cons_close(d->cons, NULL, NULL);
			uv_run(d->loop, UV_RUN_DEFAULT);
			return 1;
		}
	}
	rc = cons_start(d->cons);
	if (!rc)
		rc = ctl_open(d->loop, d->ctl_addr, &d->key, d->conf.id, on_ctl, d, &d->ctl);
	if (!rc) {
		snprintf(path, sizeof(path), "%s/%s", d->state_dir, ADMIN_SOCK_NAME);
		rc = admin_srv_start(d->loop, path, on_admin, d, &d->admin);
	}
	if (!rc)
		rc = memb_start(d);
	if (!rc) {
		admin_srv_on_close(d->admin, dlm_admin_conn_closed, d);
		rc = dlm_node_start(d);
	}
	if (rc) {
		log_error("node", "start failed: %s (%s)", strerror(-rc), cons_errmsg(d->cons));
		fprintf(stderr, "sanfsd: start failed: %s\n", strerror(-rc));
		raise(SIGTERM);
	}
	uv_signal_init(d->loop, &d->sigterm);
	uv_signal_init(d->loop, &d->sigint);
	d->sigterm.data = d->sigint.data = d;
	uv_signal_start(&d->sigterm, on_signal, SIGTERM);
	uv_signal_start(&d->sigint, on_signal, SIGINT);
	log_info("node", "node %u (%s) up, incarnation %llu, cluster %s", d->conf.id,
		 d->conf.address, (unsigned long long)d->incarnation, d->conf.cluster);
	if (rc) /* the signal handler is installed: deliver the stop */
		on_signal(&d->sigterm, SIGTERM);
	uv_run(d->loop, UV_RUN_DEFAULT);
	close(lockfd);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (std_fds_open() != 0)
		return 1; /* nowhere to say it */
	static const struct option opts[] = {
	    {"state", required_argument, NULL, 's'}, {"foreground", no_argument, NULL, 'f'},
	    {"verbose", no_argument, NULL, 'v'},     {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},     {NULL, 0, NULL, 0}};
	/* Single-host mode (DESIGN §1): `sanfsd --local ...` is the fuse
	 * helper's local daemon (node/local.h); it parses its own arguments. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--local"))
			continue;
#ifdef SANFS_HAVE_LOCAL
		return sanfsd_local_main(argc, argv);
#else
		fprintf(stderr, "sanfsd: --local: this build has no single-host mode "
				"(built without fs/)\n");
		return 2;
#endif
	}
	const char *dir = NULL;
	bool fg = false, verbose = false;
	int o;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			dir = optarg;
			break;
		case 'f':
			fg = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("sanfsd %s\n", SANFS_VERSION);
			return 0;
		default:
			fprintf(stderr, "sanfsd: bad option '%s' (see --help)\n", argv[optind - 1]);
			return 2;
		}
	}
	if (!dir || optind < argc) {
		usage(stderr);
		return 2;
	}
	log_setup("sanfsd", 0, verbose ? LOG_DEBUG : LOG_WARN);
	if (sodium_init() < 0) {
		fprintf(stderr, "sanfsd: libsodium failed to initialise\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	static struct sanfsd d;
	uv_loop_t loop;
	uv_loop_init(&loop);
	d.loop = &loop;
	if (strlen(dir) >= sizeof(d.state_dir) - 64) {
		fprintf(stderr, "sanfsd: state directory path too long\n");
		return 2;
	}
	if (!realpath(dir, d.state_dir)) {
		fprintf(stderr, "sanfsd: state directory %s: %s\n", dir, strerror(errno));
		return 1;
	}
	int rc = run(&d, fg);
	uv_loop_close(&loop);
	sodium_memzero(&d.key, sizeof(d.key));
	return rc;
}
