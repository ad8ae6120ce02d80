/* sanctl config: the cluster configuration database (DESIGN §4, SEEDS Sun).
 *   format KEY FORMAT | add KEY ROW | query KEY [PATTERN] | remove KEY ROW |
 *   verify | checkpoint FILE | restore FILE | quorum on|off
 * Changes run on the administrator with the sync commands of every node
 * (node/sync.h). query is served from the local copy (stale-tolerant); with
 * no sanfsd running it reads the static init database DIR/ccd.init.
 * quorum on: queries are refused on a node without quorum (key sanfs_ccd,
 * row quorum:on); off (default): they are served from the local copy. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin_client.h"
#include "cli/commands.h"
#include "consensus/ccd.h"
#include "node/admin_proto.h"

static int usage(FILE *f, int rc)
{
	fprintf(f,
		"usage: sanctl [--state DIR] config SUBCOMMAND\n"
		"  format KEY FORMAT      set KEY's columns, e.g. name:ip:port\n"
		"  add KEY ROW            add a row matching the format (a:b:c)\n"
		"  query KEY [PATTERN]    rows matching PATTERN ('*' wildcards per column)\n"
		"  remove KEY ROW         remove a row\n"
		"  verify                 compare the consistency records of all members\n"
		"  checkpoint FILE        write the database and its record to FILE\n"
		"  restore FILE           replace the database by a checkpoint (flagged restored)\n"
		"  quorum on|off          on: queries need quorum; off: served locally\n"
		"query works with no sanfsd running: it then reads DIR/ccd.init.\n");
	return rc;
}

struct init_query {
	const char *key, *pattern;
	char fmt[1024];
	int nrows;
};

static int init_line(void *data, enum ccd_line_type type, const char *key, const char *text)
{
	struct init_query *q = data;
	if (strcmp(key, q->key))
		return 0;
	if (type == CCD_LINE_FORMAT)
		snprintf(q->fmt, sizeof(q->fmt), "%s", text);
	else if (type == CCD_LINE_ROW && (!q->pattern || ccd_match(q->pattern, text))) {
		printf("%s\n", text);
		q->nrows++;
	}
	return 0;
}

static int query_init_db(const char *dir, const char *key, const char *pattern)
{
	char path[PATH_MAX];
	struct init_query q = {.key = key, .pattern = pattern};
	snprintf(path, sizeof(path), "%s/ccd.init", dir);
	int rc = ccd_file_parse(path, init_line, &q);
	if (rc) {
		fprintf(stderr, "sanctl config query: sanfsd not running and %s: %s\n", path,
			rc == -EINVAL ? "invalid" : strerror(-rc));
		return 1;
	}
	if (!q.fmt[0]) {
		fprintf(stderr, "sanctl config query: key '%s' not in the init database %s\n", key,
			path);
		return 1;
	}
	fprintf(stderr, "(sanfsd not running: from the static init database %s)\n", path);
	return 0;
}

static char *read_file(const char *path, size_t max)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *b = malloc(max + 1);
	size_t n = b ? fread(b, 1, max + 1, f) : 0;
	fclose(f);
	if (!b || n > max) {
		free(b);
		errno = EFBIG;
		return NULL;
	}
	b[n] = 0;
	if (strlen(b) != n) {
		free(b);
		errno = EINVAL;
		return NULL;
	}
	return b;
}

static int simple(const struct sanctl_globals *g, const char *cmd, json_t *req, json_t **out)
{
	json_t *r;
	int rc = admin_call_or_print(cmd, g->state_dir, req, 30000, &r);
	json_decref(req);
	if (rc)
		return rc;
	const char *w = json_string_value(json_object_get(r, "warning"));
	if (w)
		fprintf(stderr, "sanctl %s: warning: %s\n", cmd, w);
	if (out)
		*out = r;
	else
		json_decref(r);
	return 0;
}

int cmd_config(const struct sanctl_globals *g, int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr, 2);
	const char *sub = argv[1];
	json_t *req, *r;
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h"))
		return usage(stdout, 0);
	if (!strcmp(sub, "format") || !strcmp(sub, "add") || !strcmp(sub, "remove")) {
		if (argc != 4) {
			fprintf(stderr, "sanctl config %s: expected KEY %s\n", sub,
				!strcmp(sub, "format") ? "FORMAT" : "ROW");
			return 2;
		}
		if (!ccd_key_valid(argv[2])) {
			fprintf(stderr,
				"sanctl config %s: bad key '%s' (1..63 of [A-Za-z0-9_.-])\n", sub,
				argv[2]);
			return 2;
		}
		if (!strcmp(sub, "format") && ccd_format_check(argv[3]) < 0) {
			fprintf(stderr,
				"sanctl config format: bad format '%s' (column names of "
				"[A-Za-z0-9_.-] separated by ':')\n",
				argv[3]);
			return 2;
		}
		char op[32], cmd[32];
		snprintf(op, sizeof(op), "config.%s", sub);
		snprintf(cmd, sizeof(cmd), "config %s", sub);
		req = aproto_request(op);
		json_object_set_new(req, "key", json_string(argv[2]));
		json_object_set_new(req, !strcmp(sub, "format") ? "format" : "row",
				    json_string(argv[3]));
		return simple(g, cmd, req, NULL);
	}
	if (!strcmp(sub, "query")) {
		if (argc != 3 && argc != 4) {
			fprintf(stderr, "sanctl config query: expected KEY [PATTERN]\n");
			return 2;
		}
		if (!ccd_key_valid(argv[2])) {
			fprintf(stderr, "sanctl config query: bad key '%s'\n", argv[2]);
			return 2;
		}
		req = aproto_request("config.query");
		json_object_set_new(req, "key", json_string(argv[2]));
		if (argc == 4)
			json_object_set_new(req, "pattern", json_string(argv[3]));
		char err[512];
		int rc = admin_call(g->state_dir, req, 5000, &r, err, sizeof(err));
		json_decref(req);
		if (rc == -ENOENT || rc == -ECONNREFUSED)
			return query_init_db(g->state_dir, argv[2], argc == 4 ? argv[3] : NULL);
		if (rc) {
			fprintf(stderr, "sanctl config query: %s\n", err);
			return 1;
		}
		const char *code, *e = aproto_reply_error(r, &code);
		if (e) {
			fprintf(stderr, "sanctl config query: %s%s\n",
				code && !strcmp(code, ADMIN_E_NOQUORUM) ? "no quorum: " : "", e);
			json_decref(r);
			return 1;
		}
		size_t i;
		json_t *row;
		json_array_foreach(json_object_get(r, "rows"), i, row)
		    printf("%s\n", json_string_value(row));
		json_decref(r);
		return 0;
	}
	if (!strcmp(sub, "verify")) {
		if (argc != 2)
			return usage(stderr, 2);
		if (simple(g, "config verify", aproto_request("config.verify"), &r))
			return 1;
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(r, "records"), i, e)
		{
			json_t *rec = json_object_get(e, "record");
			if (rec)
				printf(
				    "node %lld: generation %lld length %lld checksum %08llx%s\n",
				    (long long)json_integer_value(json_object_get(e, "id")),
				    (long long)json_integer_value(
					json_object_get(rec, "generation")),
				    (long long)json_integer_value(json_object_get(rec, "length")),
				    (unsigned long long)json_integer_value(
					json_object_get(rec, "checksum")),
				    json_is_true(json_object_get(rec, "restored")) ? " restored"
										   : "");
			else
				printf("node %lld: %s\n",
				       (long long)json_integer_value(json_object_get(e, "id")),
				       json_string_value(json_object_get(e, "error")));
		}
		bool ok = json_is_true(json_object_get(r, "consistent"));
		printf("%s\n", ok ? "consistent" : "INCONSISTENT");
		json_decref(r);
		return ok ? 0 : 1;
	}
	if (!strcmp(sub, "checkpoint") || !strcmp(sub, "restore")) {
		if (argc != 3) {
			fprintf(stderr, "sanctl config %s: expected FILE\n", sub);
			return 2;
		}
		char abs[PATH_MAX];
		if (!strcmp(sub, "checkpoint")) {
			char *slash = strrchr(argv[2], '/');
			char dirpart[PATH_MAX];
			snprintf(dirpart, sizeof(dirpart), "%.*s",
				 slash ? (int)(slash - argv[2]) : 1, slash ? argv[2] : ".");
			if (!dirpart[0])
				strcpy(dirpart, "/");
			if (!realpath(dirpart, abs) ||
			    strlen(abs) + strlen(slash ? slash + 1 : argv[2]) + 2 > sizeof(abs)) {
				fprintf(stderr, "sanctl config checkpoint: %s: %s\n", argv[2],
					strerror(errno));
				return 1;
			}
			strcat(abs, "/");
			strcat(abs, slash ? slash + 1 : argv[2]);
			req = aproto_request("config.checkpoint");
			json_object_set_new(req, "file", json_string(abs));
			if (simple(g, "config checkpoint", req, NULL))
				return 1;
			printf("checkpoint written to %s\n", abs);
			return 0;
		}
		char *text = read_file(argv[2], ADMIN_LINE_MAX / 2);
		if (!text) {
			fprintf(stderr, "sanctl config restore: %s: %s\n", argv[2],
				strerror(errno));
			return 1;
		}
		unsigned bad = 0;
		if (ccd_text_parse(text, strlen(text), NULL, NULL, &bad)) {
			fprintf(stderr, "sanctl config restore: %s:%u: invalid line\n", argv[2],
				bad);
			free(text);
			return 1;
		}
		req = aproto_request("config.restore");
		json_object_set_new(req, "text", json_string(text));
		free(text);
		return simple(g, "config restore", req, NULL);
	}
	if (!strcmp(sub, "quorum")) {
		if (argc != 3 || (strcmp(argv[2], "on") && strcmp(argv[2], "off"))) {
			fprintf(stderr, "sanctl config quorum: expected on or off\n");
			return 2;
		}
		bool on = !strcmp(argv[2], "on");
		/* Add the new setting before removing the old one: if interrupted,
		 * both rows exist and "on" wins (the safe reading). */
		req = aproto_request("config.format");
		json_object_set_new(req, "key", json_string("sanfs_ccd"));
		json_object_set_new(req, "format", json_string("name:value"));
		if (simple(g, "config quorum", req, NULL))
			return 1;
		req = aproto_request("config.add");
		json_object_set_new(req, "key", json_string("sanfs_ccd"));
		json_object_set_new(req, "row", json_string(on ? "quorum:on" : "quorum:off"));
		char err[512];
		if (admin_call(g->state_dir, req, 30000, &r, err, sizeof(err))) {
			json_decref(req);
			fprintf(stderr, "sanctl config quorum: %s\n", err);
			return 1;
		}
		json_decref(req);
		const char *code, *e = aproto_reply_error(r, &code);
		if (e && strcmp(code, ADMIN_E_EXISTS)) {
			fprintf(stderr, "sanctl config quorum: %s\n", e);
			json_decref(r);
			return 1;
		}
		json_decref(r);
		req = aproto_request("config.remove");
		json_object_set_new(req, "key", json_string("sanfs_ccd"));
		json_object_set_new(req, "row", json_string(on ? "quorum:off" : "quorum:on"));
		if (admin_call(g->state_dir, req, 30000, &r, err, sizeof(err)) == 0)
			json_decref(r);
		json_decref(req);
		printf("configuration queries %s\n",
		       on ? "now need quorum" : "are served from the local copy");
		return 0;
	}
	fprintf(stderr, "sanctl config: unknown subcommand '%s' (see --help)\n", sub);
	return 2;
}
