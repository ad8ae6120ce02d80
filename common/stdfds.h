/* common/stdfds.h: make sure file descriptors 0, 1 and 2 are open.
 *
 * A program started with one of them closed hands that number to the next
 * file it opens: a device opened as fd 1 would then receive whatever is
 * printed to stdout, and a daemon that later points 0-2 at /dev/null would
 * silently swap its device for /dev/null. Every sanfs program calls
 * std_fds_open first thing in main. */
#ifndef SANFS_COMMON_STDFDS_H
#define SANFS_COMMON_STDFDS_H

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* Open /dev/null on each of 0-2 that is closed. Returns 0, or -1 when
 * /dev/null cannot be opened (then the caller must not go on). */
static inline int std_fds_open(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int n = open("/dev/null", O_RDWR);
		if (n < 0)
			return -1;
		if (n != fd) { /* cannot happen: open returns the lowest free fd */
			close(n);
			return -1;
		}
	}
	return 0;
}

#endif
