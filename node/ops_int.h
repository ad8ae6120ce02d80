/* node/ops_int: what ops.c (admin requests, node and device changes) and
 * ops_ccd.c (the configuration database) share. Private to node/. */
#ifndef SANFS_NODE_OPS_INT_H
#define SANFS_NODE_OPS_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "node/sanfsd.h"

#define COMMIT_TIMEOUT_MS 5000
#define ACK_TIMEOUT_MS	  5000
#define FWD_TIMEOUT_MS	  20000

struct op {
	struct sanfsd *d;
	ops_done_fn done;
	void *data;
	json_t *req;
	const char *name;
	uv_timer_t timer;
	bool timer_on;
	bool finished;
	int refs; /* callbacks still to come that hold op */
	/* ack waiting */
	uint64_t gen;
	uint64_t deadline;
	/* CCD update */
	struct cons_cmd cmd;
	char *blob;
	const char *ccd_op, *ccd_key, *ccd_text;
	int sync_pending;
	int sync_status;
	char sync_msg[300];
	const char *phase;
	uint64_t sync_ok[MEMB_MAX_PEERS]; /* members whose "pre" succeeded */
	unsigned nsync_ok;
	struct op *qnext; /* CCD queue */
	bool no_batch;	  /* its batch was refused: run it alone */
};

/* An op is referenced by its caller until op_finish and by every callback
 * still to come; op_finish answers exactly once (later calls drop reply). */
void op_unref(struct op *o);
void op_finish(struct op *o, json_t *reply);
void op_timer_start(struct op *o, uv_timer_cb cb, uint64_t timeout, uint64_t repeat);
/* Propose o->cmd on the ADM with a commit time-out. */
void op_propose(struct op *o);
json_t *op_errno_reply(const char *what, int e);

/* ops_ccd.c */
json_t *op_config_query(struct sanfsd *d, json_t *req);
json_t *op_config_checkpoint(struct sanfsd *d, json_t *req);
void op_config_verify(struct op *o);
void op_ccd_change(struct op *o, const char *op);
/* The commit of a CCD update finished (status/result as cons_propose_cb). */
void ccd_after_commit(struct op *o, int status, int64_t result);
/* The running CCD update is over: start the next queued one. */
void ccd_release(void);
json_t *ccd_record_json(const struct ccd_record *rec);
/* Control request {"t":"syncb","phase","items":[{"op","key","text"}..]}: the
 * sync phase of a batch of CCD updates on this node (see ops_ccd.c). */
void ccd_on_syncb(struct sanfsd *d, struct ctl_in *in, json_t *msg);

#endif
