/* consensus/ccd: the cluster configuration database's pure rules (DESIGN §4,
 * SEEDS "Sun cluster configuration database").
 *
 * Keys: 1..63 characters of [A-Za-z0-9_.-]. A key has a format row: column
 * names separated by ':' (1..64 columns, each 1..63 of [A-Za-z0-9_.-]). A row
 * of the key has the same number of columns, separated by ':'; a column holds
 * no ':', no newline, no NUL (it may be empty, but a whole row may not). A query pattern has the
 * same number of columns as the format; in each column '*' matches any run of characters (so "*"
 * alone matches anything), every other character matches itself. A pattern may also be shorter than
 * the format: missing trailing columns match anything.
 *
 * Text format (checkpoint files, restore images and the static init database
 * STATE/ccd.init, which is readable before the cluster is up). One entry per
 * line; '#' starts a comment line; blank lines ignored:
 *
 *   KEY_fmt FORMAT         the format of KEY (a single space after KEY_fmt)
 *   KEY ROW                a row of KEY (its format must come first)
 *   @generation N          consistency record fields (checkpoints only;
 *   @date N                ignored by the init database and by restore,
 *   @length N              which recomputes them)
 *   @checksum N
 *   @restored 0|1
 *   @members ID,ID,...
 *
 * Canonical dump (what the record's length and checksum cover): for every key
 * in byte order, its "KEY_fmt FORMAT\n" line then its rows in byte order as
 * "KEY ROW\n". Every member with the same CCD content has the same dump, so
 * `verify` compares records across members.
 *
 * All functions are pure and thread-safe. */
#ifndef SANFS_CONSENSUS_CCD_H
#define SANFS_CONSENSUS_CCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CCD_MAX_COLUMNS 64

bool ccd_key_valid(const char *key);
/* Returns the column count (>= 1) or -EINVAL. */
int ccd_format_check(const char *fmt);
/* 0 if row fits a format of ncols columns, -EINVAL otherwise. */
int ccd_row_check(const char *row, int ncols);
/* Does row match pattern ('*' wildcards per column, see above)? */
bool ccd_match(const char *pattern, const char *row);

/* One parsed line of the text format. */
enum ccd_line_type { CCD_LINE_FORMAT, CCD_LINE_ROW, CCD_LINE_RECORD };
/* Called per entry; key/text point into a scratch buffer valid during the
 * call. For CCD_LINE_RECORD key is the field name without '@'. Return
 * non-zero to stop (that value is returned by ccd_text_parse). */
typedef int (*ccd_line_cb)(void *data, enum ccd_line_type type, const char *key, const char *text);
/* Parse a text image (not NUL-terminated, len bytes). Checks the syntax of
 * every line (key, format, row against its key's format seen earlier in the
 * text) and returns -EINVAL with the 1-based line number in *bad_line (may be
 * NULL) on the first bad one. */
int ccd_text_parse(const char *text, size_t len, ccd_line_cb cb, void *data, unsigned *bad_line);

/* Read a text image file whole: a regular file of at most CONS_CCD_BLOB_MAX
 * bytes into *text (malloc'ed, not NUL-terminated, len bytes; the caller
 * frees it). Returns 0, -errno, or -EINVAL (with a log line naming the file)
 * for anything else than such a file. */
int ccd_file_read(const char *path, char **text, size_t *len);

/* Read the static init database (or any text image) from a file: calls cb for
 * each line as ccd_text_parse. Returns 0, -errno, or -EINVAL (with a log line
 * naming the file and line). Usable before the cluster is up. */
int ccd_file_parse(const char *path, ccd_line_cb cb, void *data);

#endif
