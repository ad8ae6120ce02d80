/* The one logging module of sanfs (STYLE: levels, the subsystem and node id on
 * every line; quiet by default, --verbose for more).
 *
 * A line looks like:
 *   2026-11-23T20:14:41.123Z sanfsd[n1] WARN fs: block 1234: bad checksum
 *
 * Lines go to stderr (or the file given to log_open_file). Thread-safe: each
 * line is formatted into a local buffer and written with one write(2), so lines
 * from different threads never interleave. The settings are process-wide: they
 * describe the process (its name, its node id), not a component's state. */
#ifndef SANFS_COMMON_LOG_H
#define SANFS_COMMON_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_ERROR = 0,
	LOG_WARN = 1,
	LOG_INFO = 2,
	LOG_DEBUG = 3,
};

/* Name of the program and node id (0: none yet) printed on every line; the
 * level at and below which lines are printed (default LOG_WARN). */
void log_setup(const char *prog, unsigned node_id, enum log_level level);
void log_set_node(unsigned node_id);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Send lines to a file (appending) instead of stderr. Returns 0 or -errno. */
int log_open_file(const char *path);

/* A daemon's last words: on SIGSEGV, SIGBUS, SIGILL, SIGFPE or SIGABRT write
 * one line naming the signal and a backtrace to the log, then die of the
 * signal as before (core dump included). Call once, after log_open_file. */
void log_install_crash_handler(void);

void log_msg(enum log_level level, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level level, const char *subsys, const char *fmt, va_list ap);

#define log_error(sub, ...) log_msg(LOG_ERROR, sub, __VA_ARGS__)
#define log_warn(sub, ...)  log_msg(LOG_WARN, sub, __VA_ARGS__)
#define log_info(sub, ...)  log_msg(LOG_INFO, sub, __VA_ARGS__)
#define log_debug(sub, ...)                                                                        \
	do {                                                                                       \
		if (log_get_level() >= LOG_DEBUG)                                                  \
			log_msg(LOG_DEBUG, sub, __VA_ARGS__);                                      \
	} while (0)

#endif
