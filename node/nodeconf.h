/* node/nodeconf: the node's state directory files and the validation of every
 * user-supplied value that ends up in them (DESIGN §8, issue 3 "bad input").
 *
 * State directory layout (mode 0700, owned by the node):
 *   DIR/node.conf      this node: id, address, cluster id, key file, name, and
 *                      how it enters the cluster (bootstrap or join address)
 *   DIR/cluster.key    cluster id and key, "sanfs1-" + 96 hex digits (the
 *                      format of consensus/auth.h), mode 0600
 *   DIR/sanfsd.sock    the admin socket of the running sanfsd (mode 0600)
 *   DIR/raft/          the Raft log and LMDB state machine (consensus/)
 *   DIR/ccd-init       the static CCD init database (readable with no sanfsd)
 *   DIR/ccd-sync.d/    user sync commands run before and after a CCD update
 *
 * node.conf is "key = value" lines; '#' starts a comment. Unknown keys are an
 * error (a typo must not be silently ignored).
 *
 * Errors: every function returns 0 or a negative errno and, where it takes an
 * err buffer, writes one line saying what is wrong (no trailing newline). */
#ifndef SANFS_NODE_NODECONF_H
#define SANFS_NODE_NODECONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NCONF_ID_MIN	   1
#define NCONF_ID_MAX	   65535
#define NCONF_ADDR_MAX	   64 /* "IP:PORT" or "[IPv6]:PORT", NUL included */
#define NCONF_NAME_MAX	   64
#define NCONF_KEY_BYTES	   32
#define NCONF_CLUSTER_HEX  32 /* cluster id: 16 random bytes as hex */
#define NCONF_TOKEN_PREFIX "SANFS1-"
#define NCONF_TOKEN_MAX	   256

struct node_conf {
	unsigned id;			     /* 1..65535, unique in the cluster */
	char address[NCONF_ADDR_MAX];	     /* Raft address, IP:PORT */
	char cluster[NCONF_CLUSTER_HEX + 1]; /* cluster id, lower-case hex */
	char key_file[4096];		     /* absolute, or relative to DIR */
	char name[NCONF_NAME_MAX];	     /* human name, default "nID" */
	bool bootstrap;			     /* first node: bootstraps Raft */
	char join_address[NCONF_ADDR_MAX];   /* node to ask for admission, or "" */
	unsigned hb_interval_ms;	     /* network heartbeat period (100) */
	unsigned hb_timeout_ms;		     /* silence before failure (1000) */
	unsigned election_ms;		     /* Raft election timeout (750) */
};

/* Parsing and validation of single values. */
int nconf_parse_id(const char *s, unsigned *out, char *err, size_t errlen);
/* IPv4 "A.B.C.D:PORT" or "[IPv6]:PORT", port 1..65535. Fills host (no
 * brackets, hostlen >= 46) and port when non-NULL. */
int nconf_parse_address(const char *s, char *host, size_t hostlen, unsigned *port, char *err,
			size_t errlen);
/* NAME: 1..63 of [A-Za-z0-9._-]. */
int nconf_check_name(const char *s, char *err, size_t errlen);
/* A node listens on three consecutive ports: Raft on PORT, the control port
 * (node-to-node messages: heartbeats, admission, forwarded admin requests)
 * on PORT+1 and the lock manager on PORT+2. Writes "host:PORT+1" into out;
 * -ERANGE when PORT leaves no room for the other two. */
int nconf_control_address(const char *raft_addr, char *out, size_t outlen);

/* node.conf */
void nconf_init_defaults(struct node_conf *c);
int nconf_load(const char *dir, struct node_conf *c, char *err, size_t errlen);
/* Writes DIR/node.conf atomically (temp file, fsync, rename). */
int nconf_save(const char *dir, const struct node_conf *c, char *err, size_t errlen);

/* The cluster key: reads the key file named by c (relative to dir), checks it
 * is not readable by group or others and belongs to c->cluster. */
int nconf_load_key(const char *dir, const struct node_conf *c, uint8_t key[NCONF_KEY_BYTES],
		   char *err, size_t errlen);
/* Creates DIR/cluster.key (O_EXCL, mode 0600). */
int nconf_write_key(const char *dir, const char *cluster, const uint8_t key[NCONF_KEY_BYTES],
		    char *err, size_t errlen);

/* Join token: what `sanctl bootstrap` prints and `sanctl join --token` takes.
 * It is a secret (it carries the cluster key). Encoding:
 *   "SANFS1-" base64url(no padding) of
 *     cluster id (16 bytes) | key (32 bytes) | address length (1) | address |
 *     CRC32C of everything before, little-endian (4)
 * The CRC catches truncated or mistyped tokens with a clear error. */
struct join_token {
	char cluster[NCONF_CLUSTER_HEX + 1];
	uint8_t key[NCONF_KEY_BYTES];
	char address[NCONF_ADDR_MAX];
};
int ntoken_encode(const struct join_token *t, char *out, size_t outlen);
int ntoken_decode(const char *s, struct join_token *t, char *err, size_t errlen);

/* Hex helpers (lower case). hex_decode returns -EINVAL unless s is exactly
 * 2*n hex digits. */
void nconf_hex_encode(const uint8_t *b, size_t n, char *out);
int nconf_hex_decode(const char *s, uint8_t *b, size_t n);

/* Creates the state directory (and parents' last component) with mode 0700;
 * fails with -EEXIST and a message if it already holds a node.conf. */
int nconf_make_state_dir(const char *dir, char *err, size_t errlen);

#endif
