/* node/admin_proto: encoding and validation of admin protocol messages. */
#include "node/admin_proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *aproto_request(const char *op)
{
	return json_pack("{s:s}", "op", op);
}

json_t *aproto_ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

json_t *aproto_err(const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One line, always. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return json_pack("{s:b,s:s,s:s}", "ok", 0, "code", code, "error", msg);
}

char *aproto_dump_line(const json_t *msg, size_t *len)
{
	char *s = json_dumps(msg, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (!s)
		return NULL;
	size_t n = strlen(s);
	char *r = realloc(s, n + 2);
	if (!r) {
		free(s);
		return NULL;
	}
	r[n] = '\n';
	r[n + 1] = 0;
	if (len)
		*len = n + 1;
	return r;
}

static int parse_obj(const char *line, size_t len, json_t **out, char *err, size_t errlen)
{
	json_error_t je;
	*out = NULL;
	if (len > ADMIN_LINE_MAX) {
		snprintf(err, errlen, "message longer than %d bytes", ADMIN_LINE_MAX);
		return -EINVAL;
	}
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (memchr(line, '\n', len)) {
		snprintf(err, errlen, "message spans several lines");
		return -EINVAL;
	}
	json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		snprintf(err, errlen, "bad JSON at column %d: %s", je.column, je.text);
		return -EINVAL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		snprintf(err, errlen, "message is not a JSON object");
		return -EINVAL;
	}
	*out = j;
	return 0;
}

int aproto_parse_request(const char *line, size_t len, json_t **out, char *err, size_t errlen)
{
	int rc = parse_obj(line, len, out, err, errlen);
	if (rc)
		return rc;
	json_t *op = json_object_get(*out, "op");
	if (!json_is_string(op) || json_string_length(op) == 0 || json_string_length(op) > 64) {
		json_decref(*out);
		*out = NULL;
		snprintf(err, errlen, "request has no string \"op\"");
		return -EINVAL;
	}
	return 0;
}

int aproto_parse_reply(const char *line, size_t len, json_t **out, char *err, size_t errlen)
{
	int rc = parse_obj(line, len, out, err, errlen);
	if (rc)
		return rc;
	json_t *ok = json_object_get(*out, "ok");
	if (!json_is_boolean(ok) ||
	    (json_is_false(ok) && (!json_is_string(json_object_get(*out, "code")) ||
				   !json_is_string(json_object_get(*out, "error"))))) {
		json_decref(*out);
		*out = NULL;
		snprintf(err, errlen, "reply lacks \"ok\" (or \"code\"/\"error\")");
		return -EINVAL;
	}
	return 0;
}

const char *aproto_reply_error(const json_t *reply, const char **code)
{
	if (json_is_true(json_object_get(reply, "ok")))
		return NULL;
	if (code)
		*code = json_string_value(json_object_get(reply, "code"));
	const char *e = json_string_value(json_object_get(reply, "error"));
	return e ? e : "malformed reply";
}

int aproto_get_uint(const json_t *req, const char *name, uint64_t min, uint64_t max, uint64_t *out,
		    char *err, size_t errlen)
{
	json_t *v = json_object_get(req, name);
	if (!json_is_integer(v)) {
		snprintf(err, errlen, "argument \"%s\" missing or not an integer", name);
		return -EINVAL;
	}
	json_int_t x = json_integer_value(v);
	if (x < 0 || (uint64_t)x < min || (uint64_t)x > max) {
		snprintf(err, errlen, "argument \"%s\" out of range %llu..%llu", name,
			 (unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*out = (uint64_t)x;
	return 0;
}

int aproto_get_str(const json_t *req, const char *name, size_t maxlen, const char **out, char *err,
		   size_t errlen)
{
	json_t *v = json_object_get(req, name);
	if (!json_is_string(v)) {
		snprintf(err, errlen, "argument \"%s\" missing or not a string", name);
		return -EINVAL;
	}
	if (json_string_length(v) > maxlen) {
		snprintf(err, errlen, "argument \"%s\" longer than %zu bytes", name, maxlen);
		return -EINVAL;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errlen, "argument \"%s\" contains a NUL byte", name);
		return -EINVAL;
	}
	*out = json_string_value(v);
	return 0;
}
