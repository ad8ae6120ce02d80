/* node/sync: run the CCD sync commands of DIR/ccd-sync.d/. */
#include "node/sync.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

struct sync_job {
	uv_loop_t *loop;
	char **files;
	int nfiles, next;
	char *args[4];	    /* phase op key text */
	uv_process_t *proc; /* the running one; each spawn has its own */
	uv_timer_t timer;
	int running;
	int timed_out;
	int status;
	char msg[300];
	sync_done_fn cb;
	void *data;
	int handles;
};

struct sync_proc {
	uv_process_t p; /* first: the handle's address is the struct's */
	struct sync_job *j;
};

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void job_free(struct sync_job *j)
{
	for (int i = 0; i < j->nfiles; i++)
		free(j->files[i]);
	free(j->files);
	for (int i = 0; i < 4; i++)
		free(j->args[i]);
	free(j);
}

static void handle_closed(uv_handle_t *h)
{
	struct sync_job *j = h->data;
	if (h->type == UV_PROCESS) {
		j = ((struct sync_proc *)h)->j;
		free(h);
	}
	if (--j->handles == 0)
		job_free(j);
}

static void job_finish(struct sync_job *j)
{
	j->cb(j->data, j->status, j->msg);
	j->handles++;
	uv_close((uv_handle_t *)&j->timer, handle_closed);
}

static void start_next(struct sync_job *j);

static void on_exit_cb(uv_process_t *p, int64_t exit_status, int term_signal)
{
	struct sync_job *j = ((struct sync_proc *)p)->j;
	const char *f = j->files[j->next - 1];
	j->running = 0;
	j->handles++;
	uv_close((uv_handle_t *)p, handle_closed);
	if (j->timed_out) {
		j->status = -ETIMEDOUT;
		snprintf(j->msg, sizeof(j->msg), "sync command %s (%s) timed out", f, j->args[0]);
	} else if (exit_status || term_signal) {
		j->status = -EIO;
		snprintf(j->msg, sizeof(j->msg), "sync command %s (%s) failed: %s %d", f,
			 j->args[0], term_signal ? "signal" : "exit status",
			 term_signal ? term_signal : (int)exit_status);
	}
	if (j->status) {
		log_warn("sync", "%s", j->msg);
		uv_timer_stop(&j->timer);
		job_finish(j);
		return;
	}
	start_next(j);
}

static void on_timeout(uv_timer_t *t)
{
	struct sync_job *j = t->data;
	if (j->running) {
		j->timed_out = 1;
		uv_process_kill(j->proc, SIGKILL);
	}
}

static void start_next(struct sync_job *j)
{
	if (j->next >= j->nfiles) {
		uv_timer_stop(&j->timer);
		job_finish(j);
		return;
	}
	const char *f = j->files[j->next++];
	char *argv[] = {(char *)f, j->args[0], j->args[1], j->args[2], j->args[3], NULL};
	uv_stdio_container_t io[3] = {
	    {.flags = UV_IGNORE}, {.flags = UV_IGNORE}, {.flags = UV_INHERIT_FD, .data.fd = 2}};
	uv_process_options_t o = {
	    .exit_cb = on_exit_cb, .file = f, .args = argv, .stdio_count = 3, .stdio = io};
	struct sync_proc *sp = calloc(1, sizeof(*sp));
	int rc = sp ? uv_spawn(j->loop, &sp->p, &o) : UV_ENOMEM;
	if (sp) {
		sp->j = j;
		j->proc = &sp->p;
	}
	if (rc) {
		j->status = -EIO;
		snprintf(j->msg, sizeof(j->msg), "sync command %s: %s", f, uv_strerror(rc));
		if (sp) {
			j->handles++;
			uv_close((uv_handle_t *)&sp->p, handle_closed);
		}
		uv_timer_stop(&j->timer);
		job_finish(j);
		return;
	}
	j->running = 1;
}

int sync_count(const char *state_dir)
{
	char dir[PATH_MAX], p[PATH_MAX + 256];
	snprintf(dir, sizeof(dir), "%s/ccd-sync.d", state_dir);
	DIR *dd = opendir(dir);
	int n = 0;
	struct dirent *e;
	struct stat st;
	if (!dd)
		return 0;
	while ((e = readdir(dd))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (!stat(p, &st) && S_ISREG(st.st_mode) && !access(p, X_OK))
			n++;
	}
	closedir(dd);
	return n;
}

int sync_run(uv_loop_t *loop, const char *state_dir, const char *phase, const char *op,
	     const char *key, const char *text, unsigned timeout_ms, sync_done_fn cb, void *data)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/ccd-sync.d", state_dir);
	struct sync_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->loop = loop;
	j->cb = cb;
	j->data = data;
	j->args[0] = strdup(phase);
	j->args[1] = strdup(op);
	j->args[2] = strdup(key ? key : "");
	j->args[3] = strdup(text ? text : "");
	DIR *dd = opendir(dir);
	if (dd) {
		struct dirent *e;
		int cap = 0;
		while ((e = readdir(dd))) {
			char p[PATH_MAX + 256];
			struct stat st;
			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			if (stat(p, &st) || !S_ISREG(st.st_mode) || access(p, X_OK))
				continue;
			if (j->nfiles == cap) {
				cap = cap ? cap * 2 : 8;
				char **nf = realloc(j->files, sizeof(char *) * (size_t)cap);
				if (!nf)
					break;
				j->files = nf;
			}
			j->files[j->nfiles++] = strdup(p);
		}
		closedir(dd);
		if (j->nfiles)
			qsort(j->files, (size_t)j->nfiles, sizeof(char *), cmpstr);
	}
	uv_timer_init(loop, &j->timer);
	j->timer.data = j;
	uv_timer_start(&j->timer, on_timeout, timeout_ms, 0);
	start_next(j);
	return 0;
}
