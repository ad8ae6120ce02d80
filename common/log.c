#include "common/log.h"

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char log_prog[32] = "sanfs";
static atomic_uint log_node;
static atomic_int log_level = LOG_WARN;
static atomic_int log_fd = STDERR_FILENO;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void log_setup(const char *prog, unsigned node_id, enum log_level level)
{
	if (prog) {
		const char *slash = strrchr(prog, '/');
		snprintf(log_prog, sizeof(log_prog), "%s", slash ? slash + 1 : prog);
	}
	atomic_store(&log_node, node_id);
	atomic_store(&log_level, level);
}

void log_set_node(unsigned node_id)
{
	atomic_store(&log_node, node_id);
}

void log_set_level(enum log_level level)
{
	atomic_store(&log_level, level);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load(&log_level);
}

int log_open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	int old = atomic_exchange(&log_fd, fd);
	if (old != STDERR_FILENO)
		close(old);
	return 0;
}

void log_vmsg(enum log_level level, const char *subsys, const char *fmt, va_list ap)
{
	if ((int)level > atomic_load(&log_level))
		return;
	int saved_errno = errno;
	char line[1024];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line),
			 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[n%u] %s %s: ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 ts.tv_nsec / 1000000, log_prog, atomic_load(&log_node),
			 level_names[level < 0		 ? 0
				     : level > LOG_DEBUG ? LOG_DEBUG
							 : level],
			 subsys ? subsys : "-");
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof(line)) {
		int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		if (m > 0)
			n += m;
	}
	if ((size_t)n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	ssize_t w = write(atomic_load(&log_fd), line, (size_t)n);
	(void)w;
	errno = saved_errno;
}

void log_msg(enum log_level level, const char *subsys, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, subsys, fmt, ap);
	va_end(ap);
}

/* Only async-signal-safe calls here: write(2) of preformatted text, and
 * backtrace_symbols_fd (backtrace() is primed at install time so that its
 * first call, which may load libgcc and allocate, is not made here). */
static size_t append(char *buf, size_t n, size_t cap, const char *s)
{
	while (*s && n < cap)
		buf[n++] = *s++;
	return n;
}

static void crash_handler(int sig)
{
	int fd = atomic_load(&log_fd);
	char line[160];
	const char *name = sigabbrev_np(sig);
	size_t n = append(line, 0, sizeof(line), log_prog);
	n = append(line, n, sizeof(line), " FATAL: SIG");
	n = append(line, n, sizeof(line), name ? name : "?");
	n = append(line, n, sizeof(line), ", backtrace follows\n");
	ssize_t w = write(fd, line, n);
	(void)w;
	void *frames[64];
	int nf = backtrace(frames, 64);
	backtrace_symbols_fd(frames, nf, fd);
	signal(sig, SIG_DFL);
	raise(sig);
}

void log_install_crash_handler(void)
{
	void *prime[1];
	(void)backtrace(prime, 1);
	static char altstack[64 * 1024];
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack)};
	sigaltstack(&ss, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = crash_handler;
	sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}
