/* qmp-fake: a fake QEMU QMP server for the qmp tracker's tests, one scenario per run.
 *
 *   qmp-fake SOCKET SCENARIO [--log FILE] [--rate MIB_S]
 *
 * 1. Listen on the unix socket SOCKET, print "qmp-fake ready" on stdout, then serve clients one
 *    after another (as QEMU does) until SIGTERM/SIGINT.
 * 2. Greet as the scenario's QEMU version, take qmp_capabilities, answer query-kvm,
 *    query-memory-size-summary (256 MiB), query-cpus-fast (2 vCPUs), query-status,
 *    calc-dirty-rate and query-dirty-rate. A measurement runs in real time: "measuring" until
 *    its calc-time has passed, then "measured" with dirty-rate = --rate (default 100 MiB/s;
 *    dirty-ring: vCPU 0 has 3/4 of it, vCPU 1 the rest).
 * 3. Log every line received to --log, plus "# CRASH ..." where the real QEMU would have died
 *    (dirty-bitmap or dirty-ring without KVM before 9.1: the fake then hangs up, as QEMU's
 *    SIGSEGV would) and "# VIOLATION ..." for a calc-dirty-rate sent while a measurement runs.
 *
 * Scenarios: normal (7.2, TCG), events (normal, plus events before every reply and while
 * idle), kvm (7.2, KVM, no ring), ring (7.2, KVM, dirty ring), v82 (8.2, TCG: milliseconds),
 * v91 (9.1, TCG: dirty-bitmap works), v60 (6.0: no "mode" argument), old (5.1: no
 * calc-dirty-rate), errors (calc-dirty-rate always refused), disconnect (SHUTDOWN event and
 * hang-up during the 3rd measurement), garbage (no greeting, a line of text), malformed (bad
 * JSON in the first query-dirty-rate reply), oversized (a 2 MiB reply), slow (every reply
 * 300 ms late), silent (says nothing), hang (stops answering after the 2nd calc-dirty-rate),
 * measuring (another client's 2 s measurement is running at connection), intruder (another
 * client replaces the 2nd measurement with its own).
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct scenario {
	const char *name;
	int major, minor;
	bool kvm, ring;
};

static const struct scenario scenarios[] = {
    {"normal", 7, 2, false, false},    {"events", 7, 2, false, false},
    {"kvm", 7, 2, true, false},	       {"ring", 7, 2, true, true},
    {"v82", 8, 2, false, false},       {"v91", 9, 1, false, false},
    {"v60", 6, 0, false, false},       {"old", 5, 1, false, false},
    {"errors", 7, 2, false, false},    {"disconnect", 7, 2, false, false},
    {"garbage", 7, 2, false, false},   {"malformed", 7, 2, false, false},
    {"oversized", 7, 2, false, false}, {"slow", 7, 2, false, false},
    {"silent", 7, 2, false, false},    {"hang", 7, 2, false, false},
    {"measuring", 7, 2, false, false}, {"intruder", 7, 2, false, false},
};

static const struct scenario *sc;
static FILE *logf;
static long rate = 100;
static volatile sig_atomic_t stop;

/* The measurement QEMU holds (one at a time). */
static struct {
	bool started;	  /* any calc-dirty-rate yet */
	int64_t start_ms; /* monotonic */
	int64_t calc_ms;
	char mode[32];
	long sample_pages;
	long count; /* calc-dirty-rate commands accepted on this connection */
} m;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is(const char *name)
{
	return !strcmp(sc->name, name);
}

static void logline(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logline(const char *fmt, ...)
{
	va_list ap;

	if (!logf)
		return;
	va_start(ap, fmt);
	vfprintf(logf, fmt, ap);
	va_end(ap);
	fputc('\n', logf);
	fflush(logf);
}

static int send_str(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Send a message (stolen reference) as one line. */
static int send_json(int fd, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	int r = s ? send_str(fd, s) : -1;

	free(s);
	json_decref(j);
	return r ? r : send_str(fd, "\r\n");
}

static int send_event(int fd, const char *name)
{
	return send_json(fd, json_pack("{s:s, s:{s:i, s:i}, s:{}}", "event", name, "timestamp",
				       "seconds", (int)time(NULL), "microseconds", 0, "data"));
}

static bool measuring(void)
{
	return m.started && now_ms() < m.start_ms + m.calc_ms;
}

static int reply(int fd, json_t *req, json_t *ret)
{
	json_t *msg = json_pack("{s:o}", "return", ret);
	json_t *id = json_object_get(req, "id");

	if (id)
		json_object_set(msg, "id", id);
	if (is("events"))
		send_event(fd, "RESUME");
	return send_json(fd, msg);
}

static int refuse(int fd, json_t *req, const char *cls, const char *desc)
{
	json_t *msg = json_pack("{s:{s:s, s:s}}", "error", "class", cls, "desc", desc);
	json_t *id = json_object_get(req, "id");

	if (id)
		json_object_set(msg, "id", id);
	return send_json(fd, msg);
}

static bool version_ge(int major, int minor)
{
	return sc->major > major || (sc->major == major && sc->minor >= minor);
}

/* Arguments QEMU of this version does not know: its own error. */
static const char *unexpected_arg(json_t *args)
{
	if (json_object_get(args, "mode") && !version_ge(6, 2))
		return "Parameter 'mode' is unexpected";
	if (json_object_get(args, "sample-pages") && !version_ge(6, 1))
		return "Parameter 'sample-pages' is unexpected";
	if (json_object_get(args, "calc-time-unit") && !version_ge(8, 2))
		return "Parameter 'calc-time-unit' is unexpected";
	return NULL;
}

static int64_t hangup_at; /* disconnect: when to hang up (0: never) */
static bool gone_silent;  /* hang: no more replies */

/* calc-dirty-rate, checked as QEMU does. 1: the fake "crashed" (hang up). */
static int calc(int fd, json_t *req)
{
	json_t *a = json_object_get(req, "arguments");
	const char *mode = json_string_value(json_object_get(a, "mode"));
	const char *unit = json_string_value(json_object_get(a, "calc-time-unit"));
	json_int_t t = json_integer_value(json_object_get(a, "calc-time"));
	json_t *sp = json_object_get(a, "sample-pages");
	bool ms = unit && !strcmp(unit, "millisecond");
	char desc[128];

	if (measuring()) {
		logline("# VIOLATION calc-dirty-rate while a measurement runs");
		return refuse(fd, req, "GenericError", "the dirty rate is already being measured.");
	}
	if (unexpected_arg(a))
		return refuse(fd, req, "GenericError", unexpected_arg(a));
	if (is("errors"))
		return refuse(fd, req, "GenericError", "injected failure");
	mode = mode ? mode : "page-sampling";
	if (strcmp(mode, "page-sampling") && !sc->kvm && !version_ge(9, 1)) {
		logline("# CRASH %s mode without KVM on QEMU %d.%d", mode, sc->major, sc->minor);
		return 1;
	}
	if ((ms && (t < 50 || t > 60000)) || (!ms && (t < 1 || t > 60)))
		return refuse(fd, req, "GenericError", "calc-time is out of range");
	if (sp && (strcmp(mode, "page-sampling") || json_integer_value(sp) < 128 ||
		   json_integer_value(sp) > 16384))
		return refuse(fd, req, "GenericError", "sample-pages is out of range");
	if ((!strcmp(mode, "dirty-ring") && !sc->ring) ||
	    (!strcmp(mode, "dirty-bitmap") && sc->ring)) {
		snprintf(desc, sizeof(desc), "mode %s is not enabled, use other method instead.",
			 mode);
		return refuse(fd, req, "GenericError", desc);
	}
	m.started = true;
	m.start_ms = now_ms();
	m.calc_ms = ms ? t : t * 1000;
	snprintf(m.mode, sizeof(m.mode), "%s", mode);
	m.sample_pages = sp ? (long)json_integer_value(sp) : 512;
	m.count++;
	if (is("disconnect") && m.count == 3)
		hangup_at = m.start_ms + m.calc_ms / 2;
	if (is("intruder") && m.count == 2)
		m.sample_pages = 1024; /* someone else's measurement replaced ours */
	int r = reply(fd, req, json_object());
	if (is("hang") && m.count == 2)
		gone_silent = true;
	return r;
}

static json_t *vcpu_rates(void)
{
	return json_pack("[{s:i, s:I}, {s:i, s:I}]", "id", 0, "dirty-rate",
			 (json_int_t)(rate - rate / 4), "id", 1, "dirty-rate",
			 (json_int_t)(rate / 4));
}

static int query(int fd, json_t *req)
{
	static bool first_done;
	bool done = m.started && !measuring();
	json_t *r =
	    json_pack("{s:s, s:I, s:I, s:I}", "status",
		      !m.started ? "unstarted"
		      : done	 ? "measured"
				 : "measuring",
		      "sample-pages", (json_int_t)(m.started ? m.sample_pages : 0), "start-time",
		      (json_int_t)(m.start_ms / 1000), "calc-time", (json_int_t)(m.calc_ms / 1000));

	if (!first_done && is("malformed")) {
		first_done = true;
		json_decref(r);
		return send_str(fd, "{\"return\": {\"status\": measured}}\r\n");
	}
	if (!first_done && is("oversized")) {
		first_done = true;
		char *big = malloc(2u << 20);
		memset(big, 'x', (2u << 20) - 1);
		big[(2u << 20) - 1] = 0;
		json_object_set_new(r, "junk", json_string(big));
		free(big);
		return reply(fd, req, r);
	}
	if (version_ge(6, 2))
		json_object_set_new(r, "mode", json_string(m.started ? m.mode : "page-sampling"));
	if (done) {
		json_object_set_new(r, "dirty-rate", json_integer(rate));
		if (!strcmp(m.mode, "dirty-ring"))
			json_object_set_new(r, "vcpu-dirty-rate", vcpu_rates());
		if (strcmp(m.mode, "page-sampling"))
			json_object_set_new(r, "sample-pages", json_integer(0));
	}
	return reply(fd, req, r);
}

/* One command. 1: hang up. */
static int dispatch(int fd, json_t *req, bool *caps)
{
	const char *cmd = json_string_value(json_object_get(req, "execute"));
	char desc[128];

	if (!cmd)
		return refuse(fd, req, "GenericError", "QMP input lacks member 'execute'");
	if (is("slow"))
		usleep(300000);
	if (!strcmp(cmd, "qmp_capabilities")) {
		*caps = true;
		return reply(fd, req, json_object());
	}
	if (!*caps)
		return refuse(fd, req, "CommandNotFound",
			      "Expecting capabilities negotiation with 'qmp_capabilities'");
	if (!strcmp(cmd, "query-kvm"))
		return reply(fd, req, json_pack("{s:b, s:b}", "enabled", sc->kvm, "present", 1));
	if (!strcmp(cmd, "query-memory-size-summary"))
		return reply(fd, req,
			     json_pack("{s:I, s:I}", "base-memory", (json_int_t)256 << 20,
				       "plugged-memory", (json_int_t)0));
	if (!strcmp(cmd, "query-cpus-fast"))
		return reply(fd, req, json_pack("[{s:i}, {s:i}]", "cpu-index", 0, "cpu-index", 1));
	if (!strcmp(cmd, "query-status"))
		return reply(fd, req, json_pack("{s:s, s:b}", "status", "running", "running", 1));
	if (!is("old") && !strcmp(cmd, "calc-dirty-rate"))
		return calc(fd, req);
	if (!is("old") && !strcmp(cmd, "query-dirty-rate"))
		return query(fd, req);
	snprintf(desc, sizeof(desc), "The command %s has not been found", cmd);
	return refuse(fd, req, "CommandNotFound", desc);
}

static int greet(int fd)
{
	if (is("garbage"))
		return send_str(fd, "hello, this is not QMP\r\n");
	if (is("silent"))
		return 0;
	return send_json(fd, json_pack("{s:{s:{s:{s:i, s:i, s:i}, s:s}, s:[s]}}", "QMP", "version",
				       "qemu", "micro", 0, "minor", sc->minor, "major", sc->major,
				       "package", sc->name, "capabilities", "oob"));
}

/* Take the complete lines in buf; 1: hang up. */
static int take_lines(int fd, char *buf, size_t *len, bool *caps)
{
	char *nl;

	while ((nl = memchr(buf, '\n', *len))) {
		size_t n = (size_t)(nl - buf) + 1;
		json_error_t e;
		json_t *req = json_loadb(buf, n, 0, &e);
		logline("%.*s", (int)(n - 1), buf);
		int r = 0;
		if (!req)
			r = send_str(fd, "{\"error\": {\"class\": \"GenericError\", \"desc\": "
					 "\"JSON parse error\"}}\r\n");
		else if (!gone_silent)
			r = dispatch(fd, req, caps);
		json_decref(req);
		memmove(buf, buf + n, *len - n);
		*len -= n;
		if (r)
			return 1;
	}
	return 0;
}

static void serve(int fd)
{
	static char buf[65536];
	size_t len = 0;
	bool caps = false;

	memset(&m, 0, sizeof(m));
	hangup_at = 0;
	gone_silent = false;
	if (is("measuring")) { /* another client's 2 s measurement, started just now */
		m.started = true;
		m.start_ms = now_ms();
		m.calc_ms = 2000;
		snprintf(m.mode, sizeof(m.mode), "page-sampling");
		m.sample_pages = 512;
	}
	if (greet(fd))
		return;
	while (!stop) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 50) < 0 && errno != EINTR)
			return;
		if (hangup_at && now_ms() >= hangup_at) {
			send_json(fd, json_pack("{s:s, s:{s:b, s:s}}", "event", "SHUTDOWN", "data",
						"guest", 0, "reason", "host-signal"));
			logline("# HANGUP mid-measurement");
			return;
		}
		if (is("events") && !(p.revents & POLLIN))
			send_event(fd, "RTC_CHANGE");
		if (!(p.revents & (POLLIN | POLLHUP)))
			continue;
		ssize_t n = recv(fd, buf + len, sizeof(buf) - len, 0);
		if (n <= 0)
			return;
		len += (size_t)n;
		if (take_lines(fd, buf, &len, &caps) || len == sizeof(buf))
			return;
	}
}

static void on_signal(int sig)
{
	stop = 1;
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4)) {
		fprintf(stderr, "qmp-fake: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal};

	if (argc < 3) {
		fprintf(stderr, "usage: qmp-fake SOCKET SCENARIO [--log FILE] [--rate MIB_S]\n");
		return 2;
	}
	for (unsigned i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		if (!strcmp(argv[2], scenarios[i].name))
			sc = &scenarios[i];
	if (!sc) {
		fprintf(stderr, "qmp-fake: unknown scenario %s\n", argv[2]);
		return 2;
	}
	for (int i = 3; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--log") && !(logf = fopen(argv[i + 1], "a"))) {
			fprintf(stderr, "qmp-fake: %s: %s\n", argv[i + 1], strerror(errno));
			return 1;
		}
		if (!strcmp(argv[i], "--rate"))
			rate = atol(argv[i + 1]);
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	int lfd = listen_on(argv[1]);
	printf("qmp-fake ready\n");
	fflush(stdout);
	while (!stop) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		serve(fd);
		close(fd);
	}
	unlink(argv[1]);
	return 0;
}
