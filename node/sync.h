/* node/sync: user sync commands of the CCD (DESIGN §4, SEEDS Sun: "user
 * synchronization commands run on every node at freeze and unfreeze, with a
 * time-out that fails the update").
 *
 * Every executable file of DIR/ccd-sync.d/ runs, in name order, as
 *     FILE PHASE OP KEY TEXT
 * with PHASE "pre" (before the update is proposed: a non-zero exit or the
 * time-out fails the update, nothing is applied), "post" (after it
 * committed) or "abort" (the update failed after "pre" succeeded here).
 * OP is format|add|remove|restore. The time-out covers all files of a phase;
 * a command still running then is killed (SIGKILL) and the phase fails.
 * Runs through uv_spawn: the loop never waits. cb runs exactly once if 0 is
 * returned, possibly before sync_run returns (no commands). [loop] */
#ifndef SANFS_NODE_SYNC_H
#define SANFS_NODE_SYNC_H

#include <uv.h>

/* status 0 ok, else -ETIMEDOUT or -EIO (msg says which command and why). */
typedef void (*sync_done_fn)(void *data, int status, const char *msg);

int sync_run(uv_loop_t *loop, const char *state_dir, const char *phase, const char *op,
	     const char *key, const char *text, unsigned timeout_ms, sync_done_fn cb, void *data);

/* Number of executable files in DIR/ccd-sync.d/ (what sync_run would run;
 * 0 if the directory is missing). [loop] */
int sync_count(const char *state_dir);

#endif
