/* io.h - small I/O helpers shared by the writers and the trace library. */
#ifndef DPT_IO_H
#define DPT_IO_H

#include <stddef.h>

/* Write all len bytes of buf to fd, across short writes and EINTR: 0 or -errno. */
int dpt_write_all(int fd, const void *buf, size_t len);

#endif
