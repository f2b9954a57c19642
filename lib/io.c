/* io.c - small I/O helpers (include/dpt/io.h). */
#include <errno.h>
#include <unistd.h>

#include "dpt/io.h"

int dpt_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
