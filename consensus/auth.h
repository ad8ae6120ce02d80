/* consensus/auth: node-to-node authentication with the cluster key (DESIGN §4:
 * "Node-to-node connections (Raft and DLM) authenticate with the cluster key
 * created at bootstrap; an unauthenticated peer is dropped and logged").
 *
 * The cluster key is 32 random bytes plus a 16-byte cluster id, created once by
 * `sanctl bootstrap` and carried to joining nodes inside the join token.
 *
 * Handshake (challenge-response, mutual; libsodium crypto_auth =
 * HMAC-SHA512-256, compared in constant time by crypto_auth_verify):
 *
 *   client -> server  HELLO  "SNA1" | cluster_id[16] | client_id u64 | nc[32] |
 *                            client_address[64] (NUL-padded, may be empty)
 *   server -> client  CHAL   "SNA2" | server_id u64 | ns[32] |
 *                            mac_s = HMAC(key, "S" | cluster_id | client_id |
 *                                         server_id | nc | ns | client_address)
 *   client -> server  RESP   "SNA3" | mac_c = HMAC(key, "C" | same fields)
 *   server -> client  OK     "SNA4"
 *
 * Both sides read exactly the bytes of each message (never beyond), so the
 * stream carries the caller's protocol right after the handshake. A peer with
 * another key or cluster id, garbage bytes, or silence past the time-out make
 * the handshake fail with a negative errno and a log line; nothing blocks the
 * loop. All integers little-endian.
 *
 * Threads: everything here except the key helpers runs on the loop thread that
 * owns the stream. The key helpers are pure and thread-safe. */
#ifndef SANFS_CONSENSUS_AUTH_H
#define SANFS_CONSENSUS_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define AUTH_KEY_BYTES	      32
#define AUTH_CLUSTER_ID_BYTES 16
/* Text form: "sanfs1-" + 96 lowercase hex digits (cluster id then key) + NUL. */
#define AUTH_KEY_TEXT_MAX 104

struct auth_key {
	uint8_t cluster_id[AUTH_CLUSTER_ID_BYTES];
	uint8_t key[AUTH_KEY_BYTES];
};

/* Fill *k with a fresh random cluster id and key (libsodium randombytes).
 * Returns 0 or -errno (libsodium could not initialise). */
int auth_key_generate(struct auth_key *k);

/* Encode *k as NUL-terminated text into out (outlen >= AUTH_KEY_TEXT_MAX).
 * Returns 0 or -ENOSPC. */
int auth_key_encode(const struct auth_key *k, char *out, size_t outlen);

/* Decode text made by auth_key_encode (trailing newline allowed). Returns 0 or
 * -EINVAL for anything else; *k is untouched on error. */
int auth_key_decode(const char *text, struct auth_key *k);

/* Store / load the key file (text form, file mode 0600, written to a temporary
 * file, fsynced and renamed). load refuses (-EPERM, log line) a file readable
 * by group or others. Return 0 or -errno. */
int auth_key_save(const char *path, const struct auth_key *k);
int auth_key_load(const char *path, struct auth_key *k);

enum auth_role {
	AUTH_CLIENT = 0, /* the side that connected */
	AUTH_SERVER = 1, /* the side that accepted */
};

struct auth_hs; /* one handshake in progress; private */

/* Called once per handshake on the loop thread. status 0: the peer proved it
 * holds the key; peer_id is the id it announced (authenticated by the MACs).
 * Otherwise a negative errno: -EACCES wrong key/cluster, -EPROTO garbage,
 * -ETIMEDOUT time-out, -ECONNRESET peer closed, -ECANCELED auth_hs_cancel.
 * The handshake object is gone once the callback returns. */
typedef void (*auth_hs_cb)(void *data, uv_stream_t *stream, int status, uint64_t peer_id);

/* Run the handshake on an open stream (TCP, pipe). While it runs the
 * handshake reads and writes the stream: the caller must not (stream->data
 * is borrowed, and restored before cb runs). The caller owns
 * the stream before, during and after: the handshake never closes it (on
 * failure the caller closes it). self_id is this node's id (sent, and bound
 * into the MACs). timeout_ms 0 means 3000. key is copied. *out (may be NULL)
 * receives the handle for auth_hs_cancel, valid until cb runs.
 * Returns 0 (cb will run exactly once) or -errno (cb will not run). */
int auth_hs_start(uv_stream_t *stream, const struct auth_key *key, enum auth_role role,
		  uint64_t self_id, unsigned timeout_ms, auth_hs_cb cb, void *data,
		  struct auth_hs **out);

/* Same, with addresses: the client announces self_address (its listening
 * "IP:PORT", < AUTH_ADDR_MAX bytes; NULL = none), bound into the MACs; the
 * server's cb receives it as peer_address ("" from a client that announced
 * none, and always "" on the client side). peer_address is valid during cb. */
#define AUTH_ADDR_MAX 64
typedef void (*auth_hs_addr_cb)(void *data, uv_stream_t *stream, int status, uint64_t peer_id,
				const char *peer_address);
int auth_hs_start_addr(uv_stream_t *stream, const struct auth_key *key, enum auth_role role,
		       uint64_t self_id, const char *self_address, unsigned timeout_ms,
		       auth_hs_addr_cb cb, void *data, struct auth_hs **out);

/* Stop a handshake in progress: its cb runs before this returns with
 * -ECANCELED, and the stream is left idle (reading stopped) for the caller to
 * close. */
void auth_hs_cancel(struct auth_hs *hs);

/* Pure helpers of the handshake, exposed for tests and fuzzing. */
#define AUTH_HELLO_BYTES (4 + AUTH_CLUSTER_ID_BYTES + 8 + 32 + 64)
#define AUTH_CHAL_BYTES	 (4 + 8 + 32 + 32)
#define AUTH_RESP_BYTES	 (4 + 32)
#define AUTH_OK_BYTES	 4

#endif
