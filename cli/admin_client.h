/* cli/admin_client: sanctl's side of the admin protocol (node/admin_proto.h).
 * Blocking calls with a time-out: sanctl is a short-lived command. */
#ifndef SANFS_CLI_ADMIN_CLIENT_H
#define SANFS_CLI_ADMIN_CLIENT_H

#include <jansson.h>

/* Send req (borrowed) to the sanfsd of state_dir and wait up to timeout_ms for
 * the reply. Returns 0 and a new reference in *reply (which may be an
 * {"ok":false} reply), or a negative errno with a one-line reason in err:
 * -ENOENT/-ECONNREFUSED no sanfsd running, -ETIMEDOUT, -EPROTO bad reply. */
int admin_call(const char *state_dir, json_t *req, int timeout_ms, json_t **reply, char *err,
	       size_t errlen);

/* admin_call, then print the error of a failed call or an {"ok":false} reply
 * as "sanctl CMD: reason" (prefixing "no quorum: " for the noquorum code).
 * Returns 0 with *reply set when ok, else 1 (the exit status). */
int admin_call_or_print(const char *cmd, const char *state_dir, json_t *req, int timeout_ms,
			json_t **reply);

/* The shape of a read-only command, `sanctl CMD [--json]`: parses argv
 * (--help prints usage), asks the sanfsd of state_dir for op and, with
 * --json, prints the reply. Returns -1 with *reply set when the caller is to
 * print it as text; otherwise the exit status (the command is done). */
int admin_show(const char *cmd, const char *state_dir, int argc, char **argv, const char *usage,
	       const char *op, json_t **reply);

#endif
