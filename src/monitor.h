/* monitor.h - a Qemu-DPT-style command monitor on stdio or a unix socket.
 *
 * Lines in, replies out, a "(dpt) " prompt after each reply. The monitor only moves text;
 * what a command does is decided by the handler (the interval loop).
 */
#ifndef DPT_MONITOR_H
#define DPT_MONITOR_H

#include <poll.h>
#include <stdbool.h>

#define MONITOR_MAX_CLIENTS 8
#define MONITOR_MAX_FDS (MONITOR_MAX_CLIENTS + 1)

/* Reply buffer a handler appends to. */
struct monitor_reply {
	char text[4096];
	unsigned len;
};
void monitor_printf(struct monitor_reply *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Runs one command line; returns 1 to end the session ("quit"), 0 otherwise. */
typedef int (*monitor_handler)(void *ctx, const char *line, struct monitor_reply *reply);

struct monitor;

/* spec: "stdio" or "unix:PATH" (a new socket of mode 0600; a stale socket file is replaced,
 * a live one is an error). */
int monitor_open(struct monitor **out, const char *spec, monitor_handler handler, void *ctx);
/* Remove the socket file; safe on NULL. */
void monitor_close(struct monitor *m);
/* The fds to poll for input (up to MONITOR_MAX_FDS). */
unsigned monitor_pollfds(struct monitor *m, struct pollfd *pfd);
/* Serve what is ready among the fds returned by monitor_pollfds (same order). Returns 1 when a
 * client asked to quit (or stdin closed), 0 otherwise, -errno on a fatal error. */
int monitor_serve(struct monitor *m, const struct pollfd *pfd, unsigned n);

#endif
