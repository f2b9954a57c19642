/* pid-attach - attaching must go unnoticed, and leaving must leave nothing.
 *
 * The target is a multi-threaded child whose main thread -- the one dpt injects into -- is, in
 * turn, blocked in read() on a pipe (-ERESTARTSYS), in nanosleep() (-ERESTART_RESTARTBLOCK),
 * in a futex wait with and without timeout, in poll(), or computing in user space with every
 * register live; or in epoll_wait(), which returns EINTR rather than restarting, so dpt must
 * pick another thread; other threads sleep, wait on futexes and echo checksummed messages. Every
 * system call checks its result (an EINTR or errno 512 is an error) and every computation its
 * value. The test attaches and detaches 100 times across those states (open, start, one
 * collect, close), also to the target stopped with SIGSTOP (it must stay stopped), and kills a
 * tracking process with SIGKILL mid-interval: the target keeps its output intact, has no
 * userfaultfd, no registered range and no tracer left, and writes at full speed.
 */
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#include "../test.h"
#include "pid-util.h"

enum mode { M_READ, M_SLEEP, M_FUTEX, M_FUTEX_TIMED, M_POLL, M_BUSY, M_EPOLL, M_NR };
static const char *const mode_name[M_NR] = {"read", "nanosleep", "futex", "futex-timeout",
					    "poll", "busy",	 "epoll"};

/* ---- the target (a forked child) ---- */

static _Atomic int t_mode = M_READ, t_quit, t_errors;
static _Atomic unsigned t_word, t_ops;
static char t_first_error[128];
static int t_data[2], t_echo_in[2], t_out;

static void t_error(const char *what, long r)
{
	if (atomic_fetch_add(&t_errors, 1) == 0)
		snprintf(t_first_error, sizeof(t_first_error), "%s returned %ld errno %d", what, r,
			 errno);
}

static uint32_t crc(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* Echo thread: "K payload" in, "K crc" out. */
static void *t_echo(void *arg)
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
static void *t_sleeper(void *arg)
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
static void *t_waiter(void *arg)
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
static uint64_t t_compute(uint64_t seed)
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

static void t_main_loop(void)
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

static void *t_ctl(void *arg)
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

static __attribute__((noreturn)) void target_main(int ctl, int echo_in, int out)
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

static int mt_start(struct mt *m)
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
static int mt_answer(struct mt *m, char *ans, size_t size)
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

static int mt_ctl(struct mt *m, const char *cmd, char *ans, size_t size)
{
	size_t n = strlen(cmd);

	if (write(m->ctl, cmd, n) != (ssize_t)n)
		return -1;
	return mt_answer(m, ans, size);
}

static void mt_echo(struct mt *m, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		char buf[128];
		unsigned k = m->sent++;
		int n = snprintf(buf, sizeof(buf), "%u payload-%u-%u\n", k, k * 7919, k ^ 0x5a5a);

		if (write(m->echo, buf, n) != n)
			m->bad_echo++;
	}
}

static int cycle(pid_t pid, char *why, size_t size)
{
	struct dpt_tracker t;
	struct dpt_sample s;
	int err = pid_test_open(&t, pid, "uffd", NULL, 0);

	if (!err)
		err = t.ops->start(&t);
	if (!err) {
		memset(&s, 0, sizeof(s));
		err = t.ops->collect(&t, &s);
	}
	if (err)
		snprintf(why, size, "%s", pid_test_err());
	t.ops->close(&t);
	return err;
}

static void test_cycles(struct mt *m)
{
	char why[256] = "", ans[256];
	unsigned failed = 0, dirty = 0, n = 0;

	for (int mode = 0; mode < M_NR; mode++) {
		char cmd[32];

		snprintf(cmd, sizeof(cmd), "mode %d\n", mode);
		if (mt_ctl(m, cmd, ans, sizeof(ans))) {
			failed++;
			break;
		}
		usleep(20000); /* let the main thread settle into its call */
		for (int i = 0; i < (mode == M_BUSY ? 20 : 16); i++, n++) {
			mt_echo(m, 3);
			if (cycle(m->pid, why, sizeof(why))) {
				printf("# %s cycle %d: %s\n", mode_name[mode], i, why);
				failed++;
			}
			if (!pid_test_clean(m->pid, why, sizeof(why))) {
				printf("# %s cycle %d left: %s\n", mode_name[mode], i, why);
				dirty++;
			}
		}
	}
	mt_ctl(m, "stats\n", ans, sizeof(ans));
	TEST_CHECK(!failed, "attach-detach-cycles", "%u of %u cycles failed", failed, n);
	TEST_CHECK(!dirty, "nothing-left-after-each-cycle", "%u cycles left something", dirty);
	TEST_CHECK(n >= 100 && !strncmp(ans, "ok ", 3) && strstr(ans, " 0 -"),
		   "target-noticed-nothing", "%u cycles; target stats: %s", n, ans);
	TEST_CHECK(!m->bad_echo && m->echoed == m->sent, "checksummed-output-intact",
		   "%d bad echoes, %u of %u echoed", m->bad_echo, m->echoed, m->sent);
}

static void test_stopped(struct mt *m)
{
	char why[256] = "", ans[256];
	int err;

	/* out of epoll_wait first: SIGSTOP and SIGCONT alone make it return EINTR */
	mt_ctl(m, "mode 0\n", ans, sizeof(ans));
	usleep(50000);
	kill(m->pid, SIGSTOP);
	for (int i = 0; i < 100 && proc_state(m->pid) != 'T'; i++)
		usleep(1000);
	err = cycle(m->pid, why, sizeof(why));
	usleep(50000);
	TEST_CHECK(!err && proc_state(m->pid) == 'T', "stopped-target-stays-stopped",
		   "%s; state %c", err ? why : "attached", proc_state(m->pid));
	kill(m->pid, SIGCONT);
	mt_echo(m, 5);
	err = mt_ctl(m, "stats\n", ans, sizeof(ans));
	TEST_CHECK(!err && strstr(ans, " 0 -"), "stopped-target-resumes-unharmed", "%s", ans);
}

/* A process that tracks the target, killed with SIGKILL mid-interval. */
static void test_kill9(void)
{
	struct tgt g;
	uint64_t base = UINT64_MAX, during = 0, after = UINT64_MAX, ns;
	int ready[2];
	char why[256], c;
	pid_t tracker;

	if (tgt_start(&g, 4096) || pipe(ready))
		return;
	for (int i = 0; i < 3; i++)
		if (!tgt_cmd_val(&g, &ns, 0, "t 0 4096 100") && ns < base)
			base = ns;
	tracker = fork();
	if (!tracker) {
		struct dpt_tracker t;
		struct dpt_sample s;

		if (pid_test_open(&t, g.pid, "uffd", NULL, 0) || t.ops->start(&t) ||
		    t.ops->collect(&t, &s))
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1) {
		TEST_CHECK(0, "kill9", "the tracking child failed to attach");
		waitpid(tracker, NULL, 0);
		tgt_stop(&g);
		return;
	}
	close(ready[0]);
	TEST_CHECK(proc_uffd_ranges(g.pid) > 0, "kill9-tracking-armed", "no registered range");
	tgt_cmd_val(&g, &during, 0, "t 0 4096 100");
	kill(tracker, SIGKILL);
	waitpid(tracker, NULL, 0);
	TEST_CHECK(!tgt_cmd(&g, "w 0 4096"), "kill9-target-continues", "no answer");
	TEST_CHECK(pid_test_clean(g.pid, why, sizeof(why)), "kill9-nothing-left", "%s", why);
	for (int i = 0; i < 3; i++)
		if (!tgt_cmd_val(&g, &ns, 0, "t 0 4096 100") && ns < after)
			after = ns;
	printf("# 16 MiB x 100 rewrites: untracked %.1f ms, tracked %.1f ms, after kill -9 "
	       "%.1f ms\n",
	       base / 1e6, during / 1e6, after / 1e6);
	TEST_CHECK(after < base * 1.5 + 2000000, "kill9-full-speed",
		   "after %.1f ms vs %.1f ms before", after / 1e6, base / 1e6);
	tgt_stop(&g);
}

int main(void)
{
	struct mt m;
	char ans[64];

	dpt_clear_error();
	if (pid_tracker_ops.probe(&(struct dpt_tracker_opts){.mode = "uffd"})) {
		test_skip("pid-attach", "no uffd method here: %s", pid_test_err());
		return test_done();
	}
	if (mt_start(&m)) {
		TEST_CHECK(0, "target", "cannot start the multi-threaded target");
		return test_done();
	}
	test_cycles(&m);
	test_stopped(&m);
	mt_ctl(&m, "quit\n", ans, sizeof(ans));
	close(m.ctl);
	close(m.echo);
	waitpid(m.pid, NULL, 0);
	test_kill9();
	return test_done();
}
