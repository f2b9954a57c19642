/* monitor.c - line-based command monitor on stdio or a unix socket (see monitor.h).
 *
 * 1. stdio: lines from stdin, replies on stdout; end of input means quit.
 * 2. unix:PATH: a listening socket created under umask 077 (mode 0600); up to
 *    MONITOR_MAX_CLIENTS clients, each greeted and prompted; a client that closes is dropped.
 * Every fd is non-blocking; a line longer than the buffer is refused, not split.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dpt/log.h"
#include "monitor.h"

#define LINE_MAX_LEN 1024

struct client {
	int in, out; /* -1 when the slot is free */
	char buf[LINE_MAX_LEN];
	unsigned len;
	bool overflow;
};

struct monitor {
	monitor_handler handler;
	void *ctx;
	int listen_fd; /* -1 for stdio */
	char *path;
	struct client clients[MONITOR_MAX_CLIENTS];
};

static const char greeting[] = "dpt monitor - type 'help' for more information\n";
static const char prompt[] = "(dpt) ";

void monitor_printf(struct monitor_reply *r, const char *fmt, ...)
{
	va_list ap;
	unsigned room = sizeof(r->text) - r->len;

	va_start(ap, fmt);
	int n = vsnprintf(r->text + r->len, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		r->len += (unsigned)n < room ? (unsigned)n : room - 1;
}

static void send_text(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* a client that does not read loses its reply */
		s += n;
		len -= (size_t)n;
	}
}

static void client_add(struct monitor *m, int in, int out)
{
	for (unsigned i = 0; i < MONITOR_MAX_CLIENTS; i++)
		if (m->clients[i].in < 0) {
			struct client *c = &m->clients[i];
			c->in = in;
			c->out = out;
			c->len = 0;
			c->overflow = false;
			send_text(out, greeting, sizeof(greeting) - 1);
			send_text(out, prompt, sizeof(prompt) - 1);
			return;
		}
	send_text(out, "error: too many monitor clients\n", 32);
	close(in);
}

static void client_drop(struct monitor *m, struct client *c)
{
	if (m->listen_fd >= 0)
		close(c->in);
	c->in = c->out = -1;
}

static int listen_unix(struct monitor *m, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path))
		return dpt_fail(-ENAMETOOLONG, "monitor socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	if (!lstat(path, &st)) {
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool live = S_ISSOCK(st.st_mode) && probe >= 0 &&
			    !connect(probe, (struct sockaddr *)&sa, sizeof(sa));
		if (probe >= 0)
			close(probe);
		if (!S_ISSOCK(st.st_mode))
			return dpt_fail(-EEXIST, "monitor socket %s: file exists", path);
		if (live)
			return dpt_fail(-EADDRINUSE, "monitor socket %s: in use by another process",
					path);
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return dpt_fail(-errno, "monitor socket: %s", strerror(errno));
	/* bind() creates the file with 0777 & ~umask: 0700 under umask 077, then 0600 (no one
	 * else can reach it in between) */
	mode_t old = umask(077);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (!rc)
		rc = chmod(path, 0600);
	if (rc || listen(fd, 4)) {
		int err = -errno;
		close(fd);
		return dpt_fail(err, "monitor socket %s: %s", path, strerror(-err));
	}
	m->listen_fd = fd;
	m->path = strdup(path);
	return 0;
}

int monitor_open(struct monitor **out, const char *spec, monitor_handler handler, void *ctx)
{
	struct monitor *m = calloc(1, sizeof(*m));
	int err = 0;

	if (!m)
		return -ENOMEM;
	m->handler = handler;
	m->ctx = ctx;
	m->listen_fd = -1;
	for (unsigned i = 0; i < MONITOR_MAX_CLIENTS; i++)
		m->clients[i].in = m->clients[i].out = -1;
	if (!strcmp(spec, "stdio")) {
		fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
		client_add(m, 0, 1);
	} else if (!strncmp(spec, "unix:", 5) && spec[5]) {
		err = listen_unix(m, spec + 5);
	} else {
		err = dpt_fail(-EINVAL, "--monitor takes stdio or unix:PATH, not '%s'", spec);
	}
	if (err) {
		monitor_close(m);
		return err;
	}
	*out = m;
	return 0;
}

void monitor_close(struct monitor *m)
{
	if (!m)
		return;
	if (m->listen_fd >= 0) {
		for (unsigned i = 0; i < MONITOR_MAX_CLIENTS; i++)
			if (m->clients[i].in >= 0)
				close(m->clients[i].in);
		close(m->listen_fd);
		if (m->path)
			unlink(m->path);
	} else {
		fcntl(0, F_SETFL, fcntl(0, F_GETFL) & ~O_NONBLOCK);
	}
	free(m->path);
	free(m);
}

unsigned monitor_pollfds(struct monitor *m, struct pollfd *pfd)
{
	unsigned n = 0;

	if (m->listen_fd >= 0)
		pfd[n++] = (struct pollfd){.fd = m->listen_fd, .events = POLLIN};
	for (unsigned i = 0; i < MONITOR_MAX_CLIENTS; i++)
		if (m->clients[i].in >= 0)
			pfd[n++] = (struct pollfd){.fd = m->clients[i].in, .events = POLLIN};
	return n;
}

/* Run every complete line in c's buffer; returns 1 on quit. */
static int client_lines(struct monitor *m, struct client *c)
{
	char *nl;

	while ((nl = memchr(c->buf, '\n', c->len))) {
		struct monitor_reply r = {.len = 0};
		int quit = 0;
		size_t used = (size_t)(nl - c->buf) + 1;

		*nl = 0;
		if (nl > c->buf && nl[-1] == '\r')
			nl[-1] = 0;
		if (c->overflow)
			monitor_printf(&r, "error: line too long\n");
		else
			quit = m->handler(m->ctx, c->buf, &r);
		c->overflow = false;
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= (unsigned)used;
		send_text(c->out, r.text, r.len);
		if (quit)
			return 1;
		send_text(c->out, prompt, sizeof(prompt) - 1);
	}
	if (c->len == sizeof(c->buf)) { /* no newline in a full buffer: drop it */
		c->overflow = true;
		c->len = 0;
	}
	return 0;
}

static int client_read(struct monitor *m, struct client *c)
{
	ssize_t n = read(c->in, c->buf + c->len, sizeof(c->buf) - c->len);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		bool was_stdio = m->listen_fd < 0;
		client_drop(m, c);
		return was_stdio ? 1 : 0; /* end of stdin ends the session */
	}
	c->len += (unsigned)n;
	int quit = client_lines(m, c);
	if (quit && m->listen_fd >= 0)
		client_drop(m, c);
	return quit;
}

int monitor_serve(struct monitor *m, const struct pollfd *pfd, unsigned n)
{
	unsigned k = 0;
	int quit = 0;

	if (m->listen_fd >= 0) {
		if (pfd[k++].revents & POLLIN) {
			int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd >= 0)
				client_add(m, fd, fd);
		}
	}
	for (; k < n; k++) {
		if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		for (unsigned i = 0; i < MONITOR_MAX_CLIENTS; i++)
			if (m->clients[i].in == pfd[k].fd) {
				quit |= client_read(m, &m->clients[i]);
				break;
			}
	}
	return quit;
}
