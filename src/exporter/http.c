/* http.c - /metrics over HTTP with libmicrohttpd, and the listening socket.
 *
 * 1. exp_listen() binds the socket itself, so a bad address or a port in use is one clear
 *    line before anything starts.
 * 2. libmicrohttpd serves it from one internal thread polling every connection (epoll): a
 *    client that sends nothing, or reads slowly, holds a connection, never the thread. Idle
 *    connections close after 10 s, at most 128 at once; a request whose headers exceed
 *    libmicrohttpd's per-connection memory (32 KiB) is answered with an error by it.
 * 3. A request copies the text the tracking loop last published (exp_text_scrape): it never
 *    waits for, nor starts, a measurement. GET or HEAD /metrics: 200; /: a pointer to it;
 *    another path: 404; another method: 405.
 * Built without libmicrohttpd, exp_http_start() says so (and dpt exporter exits 2 earlier).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dpt/log.h"
#include "dpt/parse.h"
#include "exporter/exporter.h"

int exp_listen(const char *addr)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	uint64_t port;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST},
			*ai = NULL;
	int fd, one = 1;

	if (!colon || parse_uint(colon + 1, 1, 65535, &port))
		return dpt_fail(-EINVAL, "--listen: '%s' is not ADDR:PORT (e.g. 127.0.0.1:9901)",
				addr);
	size_t hl = (size_t)(colon - addr);
	if (hl >= sizeof(host))
		return dpt_fail(-EINVAL, "--listen: '%s': address too long", addr);
	memcpy(host, addr, hl);
	host[hl] = 0;
	if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') { /* [::1]:9901 */
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = 0;
	}
	int r = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
	if (r || !ai)
		return dpt_fail(-EINVAL, "--listen: '%s': %s", addr,
				r ? gai_strerror(r) : "no address");
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		freeaddrinfo(ai);
		return dpt_fail(r, "--listen %s: socket: %s", addr, strerror(-r));
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 64)) {
		r = -errno;
		freeaddrinfo(ai);
		close(fd);
		return dpt_fail(r, "--listen %s: %s", addr, strerror(-r));
	}
	freeaddrinfo(ai);
	return fd;
}

#ifdef HAVE_MICROHTTPD
#include <microhttpd.h>

struct exp_http {
	struct MHD_Daemon *d;
	struct exp_text *x;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *text,
			     const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
								 MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, "Allow", allow);
	enum MHD_Result ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **state)
{
	struct exp_http *h = cls;
	bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");

	if (!get)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: GET or HEAD\n",
			     "GET, HEAD");
	if (!strcmp(url, "/"))
		return reply(c, MHD_HTTP_OK, "dpt exporter: metrics at /metrics\n", NULL);
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, "not found: metrics are at /metrics\n", NULL);
	size_t len = 0;
	char *text = exp_text_scrape(h->x, &len);
	if (!text)
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n", NULL);
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static void mhd_log(void *arg, const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = 0;
	dpt_debug("http: %s", line);
}

int exp_http_start(struct exp_http **hp, int fd, struct exp_text *x)
{
	struct exp_http *h = calloc(1, sizeof(*h));

	if (!h) {
		close(fd);
		return dpt_fail(-ENOMEM, "out of memory");
	}
	h->x = x;
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
				0, NULL, NULL, on_request, h, MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_CONNECTION_LIMIT,
				128u, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
	if (!h->d) {
		close(fd);
		free(h);
		return dpt_fail(-EIO, "the HTTP server (libmicrohttpd) did not start");
	}
	*hp = h;
	return 0;
}

void exp_http_stop(struct exp_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}

bool exp_http_available(void)
{
	return true;
}

#else

int exp_http_start(struct exp_http **hp, int fd, struct exp_text *x)
{
	close(fd);
	return dpt_fail(-EOPNOTSUPP, "dpt was built without libmicrohttpd");
}

void exp_http_stop(struct exp_http *h)
{
}

bool exp_http_available(void)
{
	return false;
}

#endif
