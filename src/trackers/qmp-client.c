/* qmp-client.c - a QMP client on a unix socket, on jansson (see qmp-client.h).
 *
 * 1. connect (non-blocking socket), read the greeting {"QMP": {"version": ...}}, send
 *    qmp_capabilities: the connection is then in command mode.
 * 2. qmp_execute: send one line of compact JSON with a fresh "id", then read messages until
 *    the reply with that id. Events ({"event": ...}) are queued; replies to other ids (a command
 *    given up after a timeout) are dropped.
 * 3. framing: QEMU ends every message with "\r\n" and, even pretty-printed, never breaks a
 *    token across lines, so the buffer is parsed up to its last newline only: a partial token
 *    ("tr" of true, half a \u escape) is never mistaken for malformed JSON. A message still
 *    incomplete at QMP_MAX_MSG bytes is an error, as is a peer silent past the deadline.
 * QEMU's QMP socket serves one client at a time: a second client connects but gets no
 * greeting until the first leaves, hence the hint in the greeting timeout's message.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dpt/log.h"
#include "qmp-client.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool qmp_version_ge(const struct qmp_version *v, int major, int minor)
{
	return v->major > major || (v->major == major && v->minor >= minor);
}

static int peer_closed(struct qmp_client *c)
{
	c->peer_closed = true;
	return dpt_fail(-ECONNRESET, "QEMU closed the QMP connection %s", c->path);
}

/* Printable excerpt of what the peer sent, for error messages. */
static void excerpt(const char *p, size_t n, char *out, size_t size)
{
	size_t i, j = 0;

	for (i = 0; i < n && j + 1 < size && j < 40; i++)
		out[j++] = (p[i] >= 32 && p[i] < 127) ? p[i] : '.';
	out[j] = 0;
}

static int malformed(struct qmp_client *c, const json_error_t *e, size_t n)
{
	char ex[48];

	excerpt(c->buf, n, ex, sizeof(ex));
	return dpt_fail(-EPROTO, "malformed JSON from the QMP peer: %s (it sent '%s')", e->text,
			ex);
}

/* Parse one message from the buffer. 1: *msg set; 0: incomplete; -errno. */
static int parse_one(struct qmp_client *c, json_t **msg, bool final)
{
	size_t skip = 0, upto;
	json_error_t e;

	if (!c->len)
		return 0;
	while (skip < c->len && strchr(" \t\r\n", c->buf[skip]) && c->buf[skip])
		skip++;
	memmove(c->buf, c->buf + skip, c->len - skip);
	c->len -= skip;
	for (upto = c->len; upto > 0 && c->buf[upto - 1] != '\n'; upto--)
		;
	if (final) /* the peer went quiet: judge what it sent so far */
		upto = c->len;
	if (upto == 0)
		return 0;
	*msg = json_loadb(c->buf, upto, JSON_DISABLE_EOF_CHECK, &e);
	if (!*msg) {
		if (json_error_code(&e) == json_error_premature_end_of_input && !final)
			return 0;
		return malformed(c, &e, c->len);
	}
	if ((size_t)e.position > QMP_MAX_MSG) {
		json_decref(*msg);
		return dpt_fail(-EMSGSIZE, "QMP message from %s exceeds %u bytes", c->path,
				QMP_MAX_MSG);
	}
	if (!json_is_object(*msg)) {
		json_decref(*msg);
		return dpt_fail(-EPROTO, "the QMP peer sent a JSON array, not an object");
	}
	memmove(c->buf, c->buf + e.position, c->len - e.position);
	c->len -= e.position;
	return 1;
}

/* Receive what is there. 0, or -errno (the peer closed: -ECONNRESET). */
static int recv_some(struct qmp_client *c)
{
	if (c->cap - c->len < 4096) {
		size_t cap = c->cap ? c->cap * 2 : 16384;
		char *b = realloc(c->buf, cap);
		if (!b)
			return dpt_fail(-ENOMEM, "out of memory reading QMP");
		c->buf = b;
		c->cap = cap;
	}
	ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
	if (n == 0)
		return peer_closed(c);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		if (errno == ECONNRESET)
			return peer_closed(c);
		return dpt_fail(-errno, "reading QMP socket %s: %s", c->path, strerror(errno));
	}
	c->len += (size_t)n;
	c->buf[c->len] = 0;
	return 0;
}

/* Wait for the socket until deadline (ms, monotonic). 1 readable, 0 timed out, -errno. */
static int wait_fd(struct qmp_client *c, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = events};
		int64_t left = deadline - now_ms();
		int r = poll(&p, 1, left > 0 ? (int)left : 0);
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return dpt_fail(-errno, "poll on QMP socket: %s", strerror(errno));
	}
}

/* Read one message, waiting until deadline. 0: *msg set; -errno. waiting names what is
 * awaited, for the timeout's message; NULL when nothing is (qmp_wait): a quiet peer is then
 * no error but returns 1, and a partial message stays buffered, unjudged, for the next read. */
static int read_msg(struct qmp_client *c, int64_t deadline, json_t **msg, const char *waiting)
{
	for (;;) {
		int r = parse_one(c, msg, false);
		if (r)
			return r < 0 ? r : 0;
		if (c->len >= QMP_MAX_MSG)
			return dpt_fail(-EMSGSIZE, "QMP message from %s exceeds %u bytes", c->path,
					QMP_MAX_MSG);
		if (c->peer_closed)
			return peer_closed(c);
		r = wait_fd(c, POLLIN, deadline);
		if (r < 0)
			return r;
		if (r == 0 && !waiting)
			return 1;
		if (r == 0) {
			r = c->len ? parse_one(c, msg, true) : 0;
			if (r)
				return r < 0 ? r : 0;
			return dpt_fail(-ETIMEDOUT, "QMP peer %s: no %s within %d ms", c->path,
					waiting, c->timeout_ms);
		}
		r = recv_some(c);
		if (r < 0)
			return r;
	}
}

static void queue_event(struct qmp_client *c, json_t *ev)
{
	if (json_array_size(c->events) >= QMP_MAX_EVENTS) {
		json_array_remove(c->events, 0);
		c->events_dropped++;
	}
	json_array_append_new(c->events, ev);
}

json_t *qmp_event_pop(struct qmp_client *c)
{
	if (!c->events || !json_array_size(c->events))
		return NULL;
	json_t *ev = json_incref(json_array_get(c->events, 0));
	json_array_remove(c->events, 0);
	return ev;
}

static int send_all(struct qmp_client *c, const char *s, size_t n)
{
	int64_t deadline = now_ms() + c->timeout_ms;

	while (n) {
		ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
		if (w > 0) {
			s += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
			return peer_closed(c);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return dpt_fail(-errno, "writing QMP socket: %s", strerror(errno));
		int r = wait_fd(c, POLLOUT, deadline);
		if (r <= 0)
			return r ? r : dpt_fail(-ETIMEDOUT, "QMP peer %s stopped reading", c->path);
	}
	return 0;
}

static int send_cmd(struct qmp_client *c, const char *cmd, json_t *args, uint64_t id)
{
	json_t *m = json_pack("{s:s, s:I}", "execute", cmd, "id", (json_int_t)id);
	int err;

	if (!m) {
		json_decref(args);
		return dpt_fail(-ENOMEM, "out of memory building a QMP command");
	}
	if (args)
		json_object_set_new(m, "arguments", args);
	char *s = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	if (!s)
		return dpt_fail(-ENOMEM, "out of memory building a QMP command");
	size_t n = strlen(s);
	char *line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return dpt_fail(-ENOMEM, "out of memory building a QMP command");
	}
	memcpy(line + n, "\n", 2);
	err = send_all(c, line, n + 1);
	free(line);
	return err;
}

static int refused(struct qmp_client *c, const char *cmd, json_t *error)
{
	const char *cls = json_string_value(json_object_get(error, "class"));
	const char *desc = json_string_value(json_object_get(error, "desc"));

	snprintf(c->err_class, sizeof(c->err_class), "%s", cls ? cls : "GenericError");
	snprintf(c->err_desc, sizeof(c->err_desc), "%s", desc ? desc : "(no description)");
	int err = !strcmp(c->err_class, "CommandNotFound")  ? -EOPNOTSUPP
		  : !strcmp(c->err_class, "DeviceNotFound") ? -ENODEV
							    : -EINVAL;
	return dpt_fail(err, "QEMU refused %s: %s", cmd, c->err_desc);
}

/* A reply is ours if its id is ours; QEMU omits the id only when it could not parse the
 * request at all, which can only be the command in flight. */
static bool reply_is_ours(json_t *msg, uint64_t id)
{
	json_t *jid = json_object_get(msg, "id");

	return !jid || (json_is_integer(jid) && (uint64_t)json_integer_value(jid) == id);
}

/* Read until the reply to command id, queueing events and dropping late replies. */
static int await_reply(struct qmp_client *c, const char *cmd, uint64_t id, json_t **ret)
{
	int64_t deadline = now_ms() + c->timeout_ms;

	for (;;) {
		json_t *msg, *r, *e;
		int err = read_msg(c, deadline, &msg, "reply");
		if (err)
			return dpt_fail_ctx(err, "%s", cmd);
		if (json_object_get(msg, "event")) {
			queue_event(c, msg);
			continue;
		}
		r = json_object_get(msg, "return");
		e = json_object_get(msg, "error");
		if (!r && !e) {
			json_decref(msg);
			return dpt_fail(-EPROTO, "%s: QMP peer sent neither a reply nor an event",
					cmd);
		}
		if (!reply_is_ours(msg, id)) {
			json_decref(msg); /* a late reply to a command given up earlier */
			continue;
		}
		err = e ? refused(c, cmd, e) : 0;
		if (!err && ret)
			*ret = json_incref(r);
		json_decref(msg);
		return err;
	}
}

int qmp_execute(struct qmp_client *c, const char *cmd, json_t *args, json_t **ret)
{
	uint64_t id = ++c->next_id;
	int err;

	c->err_class[0] = c->err_desc[0] = 0;
	if (ret)
		*ret = NULL;
	if (c->fd < 0 || c->peer_closed) {
		json_decref(args);
		return c->fd < 0 ? dpt_fail(-ENOTCONN, "QMP client not connected") : peer_closed(c);
	}
	err = qmp_wait(c, 0); /* take what came meanwhile: events, or a hang-up */
	if (err) {
		json_decref(args);
		return dpt_fail_ctx(err, "%s", cmd);
	}
	err = send_cmd(c, cmd, args, id);
	return err ? err : await_reply(c, cmd, id, ret);
}

int qmp_wait(struct qmp_client *c, int ms)
{
	int64_t deadline = now_ms() + ms;

	for (;;) {
		json_t *msg;
		int r = read_msg(c, deadline, &msg, NULL);
		if (r)
			return r > 0 ? 0 : r; /* 1: the deadline passed quietly */
		if (json_object_get(msg, "event"))
			queue_event(c, msg);
		else
			json_decref(msg); /* a late reply */
	}
}

static int read_greeting(struct qmp_client *c)
{
	json_t *msg, *v;
	int err = read_msg(c, now_ms() + c->timeout_ms, &msg, "greeting");

	if (err == -ECONNRESET) {
		dpt_clear_error();
		return dpt_fail(err, "%s closed the connection without a QMP greeting", c->path);
	}
	if (err == -EPROTO || err == -EMSGSIZE)
		return dpt_fail_ctx(err, "%s is not a QMP socket", c->path);
	if (err == -ETIMEDOUT) {
		dpt_clear_error();
		return dpt_fail(err,
				"%s: no QMP greeting within %d ms (not a QMP socket, or another "
				"client holds QEMU's only QMP connection)",
				c->path, c->timeout_ms);
	}
	if (err)
		return err;
	v = json_object_get(json_object_get(json_object_get(msg, "QMP"), "version"), "qemu");
	if (!json_is_object(v)) {
		json_decref(msg);
		return dpt_fail(-EPROTO, "%s is not a QMP socket (no QMP greeting)", c->path);
	}
	c->version.major = (int)json_integer_value(json_object_get(v, "major"));
	c->version.minor = (int)json_integer_value(json_object_get(v, "minor"));
	c->version.micro = (int)json_integer_value(json_object_get(v, "micro"));
	const char *pkg = json_string_value(
	    json_object_get(json_object_get(json_object_get(msg, "QMP"), "version"), "package"));
	snprintf(c->package, sizeof(c->package), "%s", pkg ? pkg : "");
	json_decref(msg);
	return 0;
}

static int connect_unix(struct qmp_client *c, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (strlen(path) >= sizeof(sa.sun_path))
		return dpt_fail(-ENAMETOOLONG, "QMP socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return dpt_fail(-errno, "socket: %s", strerror(errno));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)))
		return dpt_fail(-errno, "cannot connect to QMP socket %s: %s", path,
				strerror(errno));
	if (fcntl(c->fd, F_SETFL, O_NONBLOCK))
		return dpt_fail(-errno, "fcntl: %s", strerror(errno));
	if (!getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		c->peer_pid = cred.pid;
	return 0;
}

int qmp_client_open(struct qmp_client *c, const char *path, int timeout_ms)
{
	int err;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : QMP_TIMEOUT_MS;
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->events = json_array();
	if (!c->events)
		return dpt_fail(-ENOMEM, "out of memory");
	err = connect_unix(c, path);
	if (!err)
		err = read_greeting(c);
	if (!err)
		err = qmp_execute(c, "qmp_capabilities", NULL, NULL);
	if (err)
		qmp_client_close(c);
	return err;
}

void qmp_client_close(struct qmp_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
	json_decref(c->events);
	c->events = NULL;
}
