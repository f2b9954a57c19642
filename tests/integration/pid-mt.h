/* pid-mt.h - the multi-threaded target of the pid tracker's attach tests (pid-attach, pid-kill9).
 *
 * A forked child whose main thread -- the one dpt injects into -- is, in turn (mode N on the
 * control pipe), blocked in read() on a pipe (-ERESTARTSYS), in nanosleep()
 * (-ERESTART_RESTARTBLOCK), in a futex wait with and without timeout, in poll(), computing in
 * user space with every register live, or in epoll_wait(), which returns EINTR rather than
 * restarting; other threads sleep, wait on futexes and echo checksummed messages. Every
 * system call checks its result (an EINTR or errno 512 is an error) and every computation its
 * value; "stats" answers "ok OPS ERRORS FIRST-ERROR".
 */
#ifndef DPT_PID_MT_H
#define DPT_PID_MT_H

#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#include "pid-util.h"

enum mode { M_READ, M_SLEEP, M_FUTEX, M_FUTEX_TIMED, M_POLL, M_BUSY, M_EPOLL, M_NR };
static const char *const __attribute__((unused))
mode_name[M_NR] = {"read", "nanosleep", "futex", "futex-timeout", "poll", "busy", "epoll"};

/* ---- the target (a forked child) ---- */

static _Atomic int t_mode = M_READ, t_quit, t_errors;
static _Atomic unsigned t_word, t_ops;
static char t_first_error[128];
static int t_data[2], t_echo_in[2], t_out;

static inline void t_error(const char *what, long r)
{
	if (atomic_fetch_add(&t_errors, 1) == 0)
		snprintf(t_first_error, sizeof(t_first_error), "%s returned %ld errno %d", what, r,
			 errno);
}

static inline uint32_t crc(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* Echo thread: "K payload" in, "K crc" out. */
static inline void *t_echo(void *arg)
{
	FILE *f = fdopen(t_echo_in[0], "r");
	char line[256];

	while (f && fgets(line, sizeof(line), f)) {
		unsigned k = strtoul(line, NULL, 10);
		char out[64];
		int n;

		line[strcspn(line, "\n")] = 0;
		n = snprintf(out, sizeof(out), "echo %u %08x\n", k, crc(line));
		if (write(t_out, out, n) != n)
			t_error("write", -1);
	}
	return NULL;
}

/* Sleeper and futex waker. */
static inline void *t_sleeper(void *arg)
{
	while (!t_quit) {
		struct timespec ts = {0, 1000000};
		long r = nanosleep(&ts, NULL);

		if (r)
			t_error("nanosleep (other thread)", r);
		atomic_fetch_add(&t_word, 1);
		syscall(SYS_futex, &t_word, FUTEX_WAKE, 1, NULL, NULL, 0);
	}
	return NULL;
}

/* Another futex waiter, never the injected thread. */
static inline void *t_waiter(void *arg)
{
	while (!t_quit) {
		unsigned v = t_word;
		long r = syscall(SYS_futex, &t_word, FUTEX_WAIT, v, NULL, NULL, 0);

		if (r && errno != EAGAIN)
			t_error("futex wait (other thread)", r);
	}
	return NULL;
}

/* Register-heavy computation with a known result. */
static inline uint64_t t_compute(uint64_t seed)
{
	uint64_t a = seed, b = seed ^ 0x9e3779b97f4a7c15ULL, c = 1, d = 7, e = 11, f = 13, g = 17;
	double x = 1.0, y = 0.5;

	for (int i = 0; i < 200000; i++) {
		a = a * 6364136223846793005ULL + 1442695040888963407ULL;
		b ^= a >> 17;
		c += b * 3;
		d ^= c << 5;
		e += d >> 3;
		f ^= e * 7;
		g += f ^ a;
		x = x * 1.0000001 + y;
		y = y * 0.9999999 + 0.25;
	}
	return a ^ b ^ c ^ d ^ e ^ f ^ g ^ (uint64_t)x ^ (uint64_t)(y * 1000);
}

static inline void t_main_loop(void)
{
	static char buf[256];
	uint64_t expect = t_compute(42);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN};

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, t_echo_in[1], &(struct epoll_event){0}))
		t_error("epoll setup", -1);

	while (!t_quit) {
		struct timespec ts = {0, 2000000}, tmo = {0, 50000000};
		struct pollfd pfd = {.fd = t_data[0], .events = POLLIN};
		unsigned v;
		long r;

		switch (t_mode) {
		case M_READ:
			r = read(t_data[0], buf, sizeof(buf));
			if (r <= 0)
				t_error("read", r);
			break;
		case M_SLEEP:
			r = nanosleep(&ts, NULL);
			if (r)
				t_error("nanosleep", r);
			break;
		case M_FUTEX:
			v = t_word;
			r = syscall(SYS_futex, &t_word, FUTEX_WAIT, v, NULL, NULL, 0);
			if (r && errno != EAGAIN)
				t_error("futex wait", r);
			break;
		case M_FUTEX_TIMED:
			v = t_word;
			r = syscall(SYS_futex, &t_word, FUTEX_WAIT, v, &tmo, NULL, 0);
			if (r && errno != EAGAIN && errno != ETIMEDOUT)
				t_error("futex wait with timeout", r);
			break;
		case M_POLL:
			pfd.fd = t_echo_in[1]; /* a pipe's write end with no reader data: */
			pfd.events = POLLPRI;  /* never ready, so poll times out */
			r = poll(&pfd, 1, 5);
			if (r)
				t_error("poll", r);
			break;
		case M_BUSY:
			if (t_compute(42) != expect)
				t_error("computation", 0);
			break;
		case M_EPOLL:
			r = epoll_wait(ep, &ev, 1, 5);
			if (r)
				t_error("epoll_wait", r);
			break;
		}
		atomic_fetch_add(&t_ops, 1);
	}
}

/* Control thread: "mode N", "stats", "quit" on the control pipe. */
static int t_ctl_fd;

static inline void *t_ctl(void *arg)
{
	FILE *f = fdopen(t_ctl_fd, "r");
	char line[64];

	while (f && fgets(line, sizeof(line), f)) {
		char out[256];
		int n = 0;

		if (!strncmp(line, "mode ", 5)) {
			t_mode = atoi(line + 5);
			/* wake the main thread out of whatever it was blocked in */
			if (write(t_data[1], "x", 1) != 1)
				t_error("write", -1);
			n = snprintf(out, sizeof(out), "ok\n");
		} else if (!strncmp(line, "stats", 5)) {
			n = snprintf(out, sizeof(out), "ok %u %d %s\n", (unsigned)t_ops,
				     (int)t_errors, t_errors ? t_first_error : "-");
		} else if (!strncmp(line, "quit", 4)) {
			t_quit = 1;
			if (write(t_data[1], "x", 1) != 1)
				t_error("write", -1);
			n = snprintf(out, sizeof(out), "ok\n");
		}
		if (n && write(t_out, out, n) != n)
			t_error("write", -1);
	}
	return NULL;
}

static inline __attribute__((noreturn)) void target_main(int ctl, int echo_in, int out)
{
	pthread_t th[4];

	t_ctl_fd = ctl;
	t_out = out;
	if (pipe(t_data))
		_exit(90);
	t_echo_in[0] = echo_in;
	t_echo_in[1] = t_data[1];
	pthread_create(&th[0], NULL, t_echo, NULL);
	pthread_create(&th[1], NULL, t_sleeper, NULL);
	pthread_create(&th[2], NULL, t_waiter, NULL);
	pthread_create(&th[3], NULL, t_ctl, NULL);
	t_main_loop();
	_exit(0);
}

/* ---- the test side ---- */

struct mt {
	pid_t pid;
	int ctl, echo, out;
	unsigned sent, echoed;
	int bad_echo;
};

static inline int mt_start(struct mt *m)
{
	int ctl[2], echo[2], out[2];

	memset(m, 0, sizeof(*m));
	if (pipe2(ctl, O_CLOEXEC) || pipe2(echo, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		return -1;
	m->pid = fork();
	if (m->pid < 0)
		return -1;
	if (!m->pid)
		target_main(ctl[0], echo[0], out[1]);
	close(ctl[0]);
	close(echo[0]);
	close(out[1]);
	m->ctl = ctl[1];
	m->echo = echo[1];
	m->out = out[0];
	return 0;
}

/* Read lines until an "ok" answer, checking every echo on the way. */
static inline int mt_answer(struct mt *m, char *ans, size_t size)
{
	char line[256];

	for (;;) {
		if (tgt_line(m->out, line, sizeof(line)))
			return -1;
		if (!strncmp(line, "echo ", 5)) {
			unsigned k;
			uint32_t c;
			char payload[128];

			if (sscanf(line, "echo %u %x", &k, &c) != 2 || k != m->echoed)
				m->bad_echo++;
			snprintf(payload, sizeof(payload), "%u payload-%u-%u", k, k * 7919,
				 k ^ 0x5a5a);
			if (c != crc(payload))
				m->bad_echo++;
			m->echoed = k + 1;
			continue;
		}
		snprintf(ans, size, "%s", line);
		return strncmp(line, "ok", 2) ? -1 : 0;
	}
}

static inline int mt_ctl(struct mt *m, const char *cmd, char *ans, size_t size)
{
	size_t n = strlen(cmd);

	if (write(m->ctl, cmd, n) != (ssize_t)n)
		return -1;
	return mt_answer(m, ans, size);
}

static inline void mt_echo(struct mt *m, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		char buf[128];
		unsigned k = m->sent++;
		int n = snprintf(buf, sizeof(buf), "%u payload-%u-%u\n", k, k * 7919, k ^ 0x5a5a);

		if (write(m->echo, buf, n) != n)
			m->bad_echo++;
	}
}

#endif
