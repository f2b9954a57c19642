/* pid-attach - attaching must go unnoticed, and leaving must leave nothing.
 *
 * The target is a multi-threaded child whose main thread -- the one dpt injects into -- is, in
 * turn, blocked in read() on a pipe (-ERESTARTSYS), in nanosleep() (-ERESTART_RESTARTBLOCK),
 * in a futex wait with and without timeout, in poll(), or computing in user space with every
 * register live; or in epoll_wait(), which returns EINTR rather than restarting, so dpt must
 * pick another thread; other threads sleep, wait on futexes and echo checksummed messages. Every
 * system call checks its result (an EINTR or errno 512 is an error) and every computation its
 * value. The test attaches and detaches 100 times across those states (open, start, one
 * collect, close; every other cycle with --hold, which traces every thread while tracked),
 * also to the target stopped with SIGSTOP (it must stay stopped), and kills a
 * tracking process with SIGKILL mid-interval: the target keeps its output intact, has no
 * userfaultfd, no registered range and no tracer left, and writes at full speed.
 */
#include "../test.h"

#include "pid-mt.h"

/* Open, start, one collect, close; with hold (--hold), every thread must be traced (by the
 * keeper) while tracked, and none after. */
static int cycle(pid_t pid, bool hold, char *why, size_t size)
{
	struct pid_tracker_opts xo = {.hold = hold};
	struct dpt_tracker t;
	struct dpt_sample s;
	unsigned nr = 0, traced = 0;
	int err = pid_test_open_opts(&t, pid, "uffd", &xo);

	if (!err)
		err = t.ops->start(&t);
	if (!err)
		err = pid_test_collect(&t, &s);
	if (!err && hold)
		proc_tracers(pid, &nr, &traced);
	if (err)
		snprintf(why, size, "%s", pid_test_err());
	t.ops->close(&t);
	if (!err && hold && (traced != nr || nr < 2)) {
		snprintf(why, size, "--hold: %u of %u threads traced", traced, nr);
		err = -1;
	}
	if (!err && (proc_tracers(pid, &nr, &traced), traced)) {
		snprintf(why, size, "%u of %u threads still traced after close", traced, nr);
		err = -1;
	}
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
			if (cycle(m->pid, i % 2, why, sizeof(why))) {
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
	err = cycle(m->pid, false, why, sizeof(why));
	usleep(50000);
	TEST_CHECK(!err && proc_state(m->pid) == 'T', "stopped-target-stays-stopped",
		   "%s; state %c", err ? why : "attached", proc_state(m->pid));
	err = cycle(m->pid, true, why, sizeof(why));
	usleep(50000);
	TEST_CHECK(!err && proc_state(m->pid) == 'T', "stopped-target-stays-stopped-hold",
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
