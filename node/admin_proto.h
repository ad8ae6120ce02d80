/* node/admin_proto: the admin protocol between sanctl and sanfsd (DESIGN §8),
 * shared by node/ (server) and cli/ (client).
 *
 * Transport: the Unix stream socket DIR/sanfsd.sock (mode 0600, so only the
 * node's owner may administer it). Requests and replies are single-line JSON
 * objects terminated by '\n', at most ADMIN_LINE_MAX bytes. A client may send
 * several requests on one connection; replies come in request order.
 *
 * Request:  {"op": "<op>", ...arguments}
 * Reply:    {"ok": true, ...results}
 *       or  {"ok": false, "code": "<code>", "error": "<one line>"}
 *
 * Ops and their arguments (all integers are JSON numbers):
 *   ping                                 -> {"id", "name"}
 *   status                               -> see ADMIN_STATUS below
 *   node.list                            -> {"members": [member...]}
 *   node.remove   {"id"}                 (quorum)
 *   node.fence    {"id"}                 (quorum)
 *   node.unfence  {"id"}                 (quorum)
 *   device.add    {"uuid","label","size","path"}  (quorum; waits for acks)
 *                                        -> {"generation", "unacked": [id...]}
 *   device.list                          -> {"devices": [device...]}
 *   device.remove {"label"}              (quorum; waits for acks)
 *   config.format {"key","format"}       (quorum; sync commands)
 *   config.add    {"key","row"}          (quorum; sync commands)
 *   config.remove {"key","row"}          (quorum; sync commands)
 *   config.query  {"key","pattern"?}     local copy -> {"rows": [...], "stale_ok": true}
 *   config.verify                        -> {"consistent", "records": [...]}
 *   config.checkpoint                    -> {"text"} (the client writes FILE)
 *   config.restore {"text"}              (quorum)
 *   config.quorum  {"on": bool}          (quorum)
 *   join          {"id","address"}       only over the authenticated control
 *                                        port, never the admin socket
 *
 * ADMIN_STATUS reply fields: "id", "name", "cluster", "leader" (id or 0),
 * "adm" (id or 0), "term", "generation", "quorum" (bool: this node hears a
 * majority), "members": [{"id","name","address","state","incarnation",
 * "voter","last_heard_ms"}], "devices": [{"uuid","label","size","state"}],
 * "filesystems": [...], "fence": [{"id","incarnation","generation"}].
 *
 * Error codes: see ADMIN_E_* below. "noquorum" is what a node in a minority
 * answers to every change: sanctl prints "no quorum: ..." and exits 1. */
#ifndef SANFS_NODE_ADMIN_PROTO_H
#define SANFS_NODE_ADMIN_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADMIN_SOCK_NAME "sanfsd.sock"
#define ADMIN_LINE_MAX	(256 * 1024)

#define ADMIN_E_INVALID	 "invalid"  /* bad request or argument */
#define ADMIN_E_NOQUORUM "noquorum" /* this node cannot reach a majority */
#define ADMIN_E_NOTFOUND "notfound"
#define ADMIN_E_EXISTS	 "exists"
#define ADMIN_E_TIMEOUT	 "timeout"
#define ADMIN_E_BUSY	 "busy"	    /* another update is in progress */
#define ADMIN_E_SYNC	 "syncfail" /* a CCD sync command failed */
#define ADMIN_E_INTERNAL "internal"

/* Builders. Each returns a new reference (caller json_decref's it) or NULL on
 * out of memory. */
json_t *aproto_request(const char *op);
json_t *aproto_ok(void);
json_t *aproto_err(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One message as a line: malloc'ed "...\n" string (caller frees), NULL on
 * error. *len gets its length. */
char *aproto_dump_line(const json_t *msg, size_t *len);

/* Parse one line (without or with its '\n'). A request must be an object with
 * a string "op"; a reply an object with a boolean "ok" (and, when false, string
 * "code" and "error"). Returns 0 and a new reference in *out, or -EINVAL with a
 * one-line reason in err. */
int aproto_parse_request(const char *line, size_t len, json_t **out, char *err, size_t errlen);
int aproto_parse_reply(const char *line, size_t len, json_t **out, char *err, size_t errlen);

/* For a parsed reply: NULL when ok, else the error text; *code (optional)
 * gets the code. Pointers are owned by reply. */
const char *aproto_reply_error(const json_t *reply, const char **code);

/* Validated argument getters for the server side. Return 0, or -EINVAL with a
 * one-line reason in err. Strings are owned by req. */
int aproto_get_uint(const json_t *req, const char *name, uint64_t min, uint64_t max, uint64_t *out,
		    char *err, size_t errlen);
int aproto_get_str(const json_t *req, const char *name, size_t maxlen, const char **out, char *err,
		   size_t errlen);

#endif
