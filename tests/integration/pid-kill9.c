/* pid-kill9 - dpt killed with SIGKILL in the middle of an injection must not harm the target.
 *
 * The uffd method makes the target create a userfaultfd by ptrace syscall injection: one thread
 * is seized, stopped, its registers and signal mask saved and replaced, a system call run at a
 * borrowed `syscall` instruction, everything restored. A tracer that dies in the middle leaves
 * the thread with whatever the injection had loaded. This test kills "dpt" -- a forked child
 * that opens the pid tracker, or build/dpt track --pid -- at every step of an injection in
 * turn (DPT_PID_INJECT_PAUSE=STEP:FD makes the injecting process say when it reaches step STEP
 * and wait there), half of the time by killing its whole process group, and then at random
 * times spread over the measured length of open(). The target is the multi-threaded one of
 * pid-attach (pid-mt.h), its main thread blocked in read(), nanosleep(), a futex wait, poll()
 * or computing; once also stopped with SIGSTOP. After each kill, once the helper processes
 * dpt left are gone, the target must be alive, running (or still stopped), untraced, hold no
 * userfaultfd and no registered range, have the signal masks it had, and its checksummed
 * output and every system call of its threads must be intact. A program launched by dpt
 * (launch mode) killed before dpt let it run must run all the same; one killed while dpt
 * tracks it, or as it exits, must run on untraced or finish its exit.
 *
 * The test is a child subreaper: the orphans dpt leaves (its injector and launch helpers,
 * a launched program) become its children, so it can wait for them to finish.
 */
#include <sys/mman.h>
#include <sys/prctl.h>

#include "../test.h"
#include "pid-mt.h"

#define SETTLE_MS 3000

static struct mt m;
static char masks[8][96]; /* "TID SigBlk" of each thread of the target when started */
static unsigned nr_masks;
static pid_t launched; /* a launched program, orphaned to us */
static int launched_status = -1; /* its wait status, once helpers_left() reaped it */

static int sigblk(pid_t pid, pid_t tid, char *out, size_t size)
{
	char path[96], buf[4096], *p;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	if (pid_read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	p = strstr(buf, "SigBlk:");
	if (!p)
		return -1;
	snprintf(out, size, "%d %.*s", tid, (int)strcspn(p + 7, "\n"), p + 7);
	return 0;
}

/* Record, or compare with the record, the signal mask of every thread. */
static int masks_check(bool record, char *why, size_t size)
{
	char path[64], now[96];
	struct dirent *de;
	unsigned n = 0;
	int bad = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", m.pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)) && n < 8) {
		if (de->d_name[0] == '.' || sigblk(m.pid, atoi(de->d_name), now, sizeof(now)))
			continue;
		if (record) {
			snprintf(masks[n], sizeof(masks[n]), "%s", now);
		} else {
			bool found = false;

			for (unsigned i = 0; i < nr_masks && !found; i++)
				found = !strcmp(masks[i], now);
			if (!found && !bad++)
				snprintf(why, size, "thread mask changed: now %s", now);
		}
		n++;
	}
	closedir(d);
	if (record)
		nr_masks = n;
	return bad;
}

static int target_start(void)
{
	char ans[256];

	if (mt_start(&m))
		return -1;
	fcntl(m.out, F_SETFL, O_NONBLOCK); /* answers time out instead of hanging */
	if (mt_ctl(&m, "stats\n", ans, sizeof(ans)))
		return -1;
	usleep(20000);
	return masks_check(true, NULL, 0);
}

static void target_stop(void)
{
	if (m.pid > 0) {
		kill(m.pid, SIGKILL);
		waitpid(m.pid, NULL, 0);
	}
	close(m.ctl);
	close(m.echo);
	close(m.out);
	m.pid = 0;
}

/* Our children other than the target and a launched program: dpt's orphaned helpers. Reaps
 * those that exited; notes if the target was reaped (it died). */
static int helpers_left(bool *target_died)
{
	char path[64], buf[4096], *p, *e;
	int status, n = 0;
	pid_t r;

	while ((r = waitpid(-1, &status, WNOHANG)) > 0) {
		if (r == m.pid) {
			*target_died = true;
			m.pid = 0;
		}
		if (r == launched)
			launched_status = status;
	}
	snprintf(path, sizeof(path), "/proc/self/task/%d/children", getpid());
	if (pid_read_file(path, buf, sizeof(buf)) < 0)
		return 0;
	for (p = buf;; p = e) {
		long c = strtol(p, &e, 10);

		if (e == p)
			break;
		n += c != m.pid && c != launched;
	}
	return n;
}

/* What is wrong with the target now (empty if nothing). */
static void inspect(bool stopped_ok, bool target_died, char *why, size_t size)
{
	char ans[256], st;

	*why = 0;
	if (target_died || m.pid <= 0) {
		snprintf(why, size, "the target died");
		return;
	}
	st = proc_state(m.pid);
	if (st == 'Z' || st == 'X' || st == '?') {
		snprintf(why, size, "the target died (state %c)", st);
		return;
	}
	if (!pid_test_clean(m.pid, why, size))
		return;
	/* a stopped target released by a dying tracer runs a moment on its way back to the stop */
	for (int i = 0; stopped_ok && st != 'T' && i < 200; i++) {
		usleep(1000);
		st = proc_state(m.pid);
	}
	if (stopped_ok ? st != 'T' : (st == 'T' || st == 't')) {
		snprintf(why, size, "the target is in state %c", st);
		return;
	}
	if (masks_check(false, why, size))
		return;
	if (stopped_ok)
		kill(m.pid, SIGCONT);
	mt_echo(&m, 3);
	/* the echo thread answers on its own time: ask until every echo is in */
	for (int i = 0; i < 2000; i++) {
		if (mt_ctl(&m, "stats\n", ans, sizeof(ans)) || m.echoed == m.sent || m.bad_echo)
			break;
		usleep(1000);
	}
	if (!strstr(ans, " 0 -")) {
		snprintf(why, size, "target stats: %.200s", *ans ? ans : "no answer");
		return;
	}
	if (m.bad_echo || m.echoed != m.sent) {
		snprintf(why, size, "%d bad echoes, %u of %u echoed", m.bad_echo, m.echoed, m.sent);
		return;
	}
	*why = 0;
}

/* "dpt": a child that opens the pid tracker on the target (and starts, collects, closes). */
static pid_t tracker_start(pid_t target, const char *hook, bool own_group, int ready_fd)
{
	pid_t c = fork();

	if (c)
		return c;
	if (own_group)
		setpgid(0, 0);
	if (hook)
		setenv("DPT_PID_INJECT_PAUSE", hook, 1);
	else
		unsetenv("DPT_PID_INJECT_PAUSE");
	if (ready_fd >= 0 && write(ready_fd, "r", 1) != 1)
		_exit(3);
	{
		struct dpt_tracker t;
		struct dpt_sample s;
		int err = pid_test_open(&t, target, "uffd", NULL, 0);

		if (!err)
			err = t.ops->start(&t) || t.ops->collect(&t, &s);
		t.ops->close(&t);
		_exit(err ? 1 : 0);
	}
}

/* Wait until the helpers are gone (the injector finishing on its own), then look. */
static void settle_and_inspect(bool stopped_ok, char *why, size_t size)
{
	bool died = false;

	for (int i = 0; i < SETTLE_MS && helpers_left(&died); i++)
		usleep(1000);
	if (helpers_left(&died)) {
		snprintf(why, size, "a helper of dpt is still running after %d ms", SETTLE_MS);
		return;
	}
	inspect(stopped_ok, died, why, size);
}

static int wait_readable(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms) == 1 ? 0 : -1;
}

/* Wait for one byte on fd, up to ms; 1 byte, 0 EOF (every writer gone), -1 timeout. */
static int wait_byte(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;

	if (poll(&p, 1, ms) != 1)
		return -1;
	return read(fd, &c, 1) == 1 ? 1 : 0;
}

struct tally {
	unsigned tries, harmed;
	char first[320];
};

static void harmed(struct tally *t, const char *what, const char *why)
{
	if (!t->harmed++)
		snprintf(t->first, sizeof(t->first), "%.90s: %.200s", what, why);
	if (t->harmed <= 12)
		printf("# %s: %s\n", what, why);
}

/* The target was harmed: start a fresh one. */
static int target_restart(void)
{
	target_stop();
	return target_start();
}

/*
 * Kill dpt at step `step` of its injection. Returns 1 if the step was reached and the kill
 * done, 0 if the injection has fewer steps, -1 on a test failure.
 */
static int kill_at_step(int step, int mode, bool stopped, bool group, struct tally *tl)
{
	char hook[32], what[96], why[256] = "", ans[256];
	int pfd[2], r;
	pid_t c;

	snprintf(ans, sizeof(ans), "mode %d\n", mode);
	if (mt_ctl(&m, ans, ans, sizeof(ans)))
		return -1;
	usleep(5000); /* into its call */
	if (stopped) {
		kill(m.pid, SIGSTOP);
		for (int i = 0; i < 200 && proc_state(m.pid) != 'T'; i++)
			usleep(500);
	}
	if (pipe2(pfd, O_CLOEXEC))
		return -1;
	snprintf(hook, sizeof(hook), "%d:%d", step, pfd[1]);
	c = tracker_start(m.pid, hook, group, -1);
	close(pfd[1]);
	r = wait_byte(pfd[0], 10000);
	close(pfd[0]);
	if (r == 1)
		kill(group ? -c : c, SIGKILL);
	waitpid(c, NULL, 0);
	snprintf(what, sizeof(what), "step %d, main thread in %s%s%s", step, mode_name[mode],
		 stopped ? ", stopped" : "", group ? ", process group killed" : "");
	settle_and_inspect(stopped, why, sizeof(why));
	if (r == 1)
		tl->tries++;
	if (*why) {
		harmed(tl, what, why);
		return target_restart() ? -1 : r == 1;
	}
	return r == 1;
}

static void test_every_step(void)
{
	static const int modes[] = {M_READ, M_SLEEP, M_FUTEX, M_POLL, M_BUSY};
	struct tally tl = {0}, ts = {0};
	int step, r = 1;

	for (step = 1; r == 1 && step < 100; step++) {
		for (unsigned i = 0; r == 1 && i < 5; i++)
			r = kill_at_step(step, modes[i], false, (step + i) % 2, &tl);
		if (r == 1)
			r = kill_at_step(step, M_READ, true, step % 2, &ts);
	}
	printf("# %d steps in one injection; dpt killed %u times at them, %u harmed the "
	       "target; %u times with the target stopped, %u harmed it\n",
	       step - 2, tl.tries, tl.harmed, ts.tries, ts.harmed);
	TEST_CHECK(r == 0 && step - 2 >= 10, "kill9-steps", "%s after step %d",
		   r < 0 ? "test failure" : "no end", step - 1);
	TEST_CHECK(!tl.harmed, "kill9-every-step-target-unharmed", "%u of %u kills harmed it; %s",
		   tl.harmed, tl.tries, tl.first);
	TEST_CHECK(!ts.harmed, "kill9-every-step-stopped-target-unharmed",
		   "%u of %u kills harmed it; %s", ts.harmed, ts.tries, ts.first);
}

static uint64_t median(uint64_t *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && v[j] < v[j - 1]; j--) {
			uint64_t x = v[j];

			v[j] = v[j - 1];
			v[j - 1] = x;
		}
	return v[n / 2];
}

/*
 * Random times. The injecting process says when it has seized the thread (step 1) and waits
 * 1 ms there, time enough for us to wake up; the kill comes a random delay after we do,
 * spread over the time from then to the end of the tracker's work (measured first), of which
 * the rest of the injection is the first part.
 */
static pid_t random_tracker(int mode, bool group, int *notify)
{
	char hook[32], ans[256];
	int pfd[2];
	pid_t c;

	snprintf(ans, sizeof(ans), "mode %d\n", mode);
	if (mt_ctl(&m, ans, ans, sizeof(ans)) || pipe2(pfd, O_CLOEXEC))
		return -1;
	usleep(2000); /* into its call */
	snprintf(hook, sizeof(hook), "1:%d:1000", pfd[1]);
	c = tracker_start(m.pid, hook, group, -1);
	close(pfd[1]);
	*notify = pfd[0];
	return c;
}

static void test_random_times(unsigned tries)
{
	static const int modes[] = {M_READ, M_SLEEP, M_FUTEX, M_POLL, M_BUSY};
	struct tally tl = {0};
	uint64_t v[7], window;
	char what[96], why[256];
	unsigned seed = 12345, landed = 0;
	int fd, st;
	pid_t c;

	for (unsigned i = 0; i < 7; i++) {
		uint64_t t0;

		c = random_tracker(M_READ, false, &fd);
		if (c < 0)
			return;
		wait_byte(fd, 10000);
		t0 = tgt_now_ns();
		waitpid(c, NULL, 0);
		v[i] = tgt_now_ns() - t0;
		close(fd);
	}
	window = median(v, 7);
	printf("# from the seize (+1 ms) to the end of the tracker's open+start+collect+close: "
	       "%.3f ms (median of 7); kills spread over that\n",
	       window / 1e6);
	for (unsigned i = 0; i < tries; i++) {
		uint64_t delay = (uint64_t)(rand_r(&seed) % 1000) * window / 1000, t0;
		int mode = modes[i % 5], r;

		c = random_tracker(mode, i % 2, &fd);
		if (c < 0)
			break;
		r = wait_byte(fd, 10000);
		for (t0 = tgt_now_ns(); tgt_now_ns() - t0 < delay;)
			;
		kill(i % 2 ? -c : c, SIGKILL);
		waitpid(c, &st, 0);
		close(fd);
		tl.tries += r == 1;
		landed += WIFSIGNALED(st);
		settle_and_inspect(false, why, sizeof(why));
		if (*why) {
			snprintf(what, sizeof(what),
				 "killed %.3f ms after the seize, main thread in %s", delay / 1e6,
				 mode_name[mode]);
			harmed(&tl, what, why);
			if (target_restart())
				break;
		}
	}
	printf("# %u kills at random times, %u before the tracker was done: %u harmed the "
	       "target\n",
	       tl.tries, landed, tl.harmed);
	TEST_CHECK(tl.tries == tries && !tl.harmed, "kill9-random-times-target-unharmed",
		   "%u of %u kills harmed it; %s", tl.harmed, tl.tries, tl.first);
}

/* build/dpt track --pid, in a process group of its own, killed with it at every step. */
static void test_cli(void)
{
	struct tally tl = {0};
	const char *dpt = getenv("DPT");
	char path[256], pidarg[16], hook[32], what[64], why[256];
	int step, r = 1;

	if (!dpt) {
		snprintf(path, sizeof(path), "%s/dpt", getenv("BUILD") ? getenv("BUILD") : "build");
		dpt = path;
	}
	for (step = 1; r == 1 && step < 100; step++) {
		int pfd[2], nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		pid_t c;

		snprintf(pidarg, sizeof(pidarg), "%d", m.pid);

		if (nul < 0 || pipe2(pfd, 0))
			break;
		snprintf(hook, sizeof(hook), "%d:%d", step, pfd[1]);
		c = fork();
		if (!c) {
			setpgid(0, 0);
			dup2(nul, 1);
			dup2(nul, 2);
			setenv("DPT_PID_INJECT_PAUSE", hook, 1);
			execl(dpt, dpt, "track", "-q", "--pid", pidarg, "--method", "uffd",
			      "--interval", "10ms", "--count", "1", "-o", "csv:/dev/null",
			      (char *)NULL);
			_exit(127);
		}
		close(nul);
		close(pfd[1]);
		r = wait_byte(pfd[0], 10000);
		close(pfd[0]);
		if (r == 1)
			kill(-c, SIGKILL);
		waitpid(c, NULL, 0);
		if (r != 1)
			break;
		tl.tries++;
		settle_and_inspect(false, why, sizeof(why));
		if (*why) {
			snprintf(what, sizeof(what), "dpt track --pid killed at step %d", step);
			harmed(&tl, what, why);
			if (target_restart())
				break;
		}
	}
	printf("# dpt track --pid killed with its process group at %u steps: %u harmed the "
	       "target\n",
	       tl.tries, tl.harmed);
	TEST_CHECK(tl.tries >= 10 && !tl.harmed, "kill9-cli-target-unharmed",
		   "%u of %u kills harmed it; %s", tl.harmed, tl.tries, tl.first);
}

/*
 * Launch mode: dpt starts a program stopped before its first instruction and lets it run once
 * tracking is armed. dpt killed before that -- right after the launch, or at any step of the
 * injection into the stopped program -- must not leave it stopped forever: it runs.
 */
static void test_launch(void)
{
	struct tally tl = {0};
	char prog[256], hook[32], what[96], why[256], line[128];
	const char *argv[] = {prog, "--write", "10", NULL};
	int step, r = 1;

	snprintf(prog, sizeof(prog), "%s/tests/helpers/pid-target",
		 getenv("BUILD") ? getenv("BUILD") : "build");
	for (step = 0; r == 1 && step < 100; step++) {
		int pfd[2], in[2], out[2], info[2];
		bool died = false;
		pid_t c;

		if (pipe2(pfd, O_CLOEXEC) || pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) ||
		    pipe2(info, O_CLOEXEC))
			break;
		snprintf(hook, sizeof(hook), "%d:%d", step, pfd[1]);
		c = fork();
		if (!c) {
			struct dpt_tracker t;
			struct pid_spawn sp;

			setpgid(0, 0);
			dup2(in[0], 0);
			dup2(out[1], 1);
			setenv("DPT_PID_INJECT_PAUSE", hook, 1);
			if (pid_spawn(argv, 0, &sp))
				_exit(2);
			if (write(info[1], &sp.pid, sizeof(sp.pid)) != sizeof(sp.pid))
				_exit(3);
			if (!step) {
				/* step 0: killed right after the launch */
				if (write(pfd[1], "p", 1) != 1)
					_exit(3);
				pause();
			}
			if (pid_test_open(&t, sp.pid, "uffd", NULL, 0) || t.ops->start(&t) ||
			    pid_spawn_resume(&sp))
				_exit(1);
			t.ops->close(&t);
			_exit(0);
		}
		close(pfd[1]);
		close(in[0]);
		close(out[1]);
		close(info[1]);
		fcntl(out[0], F_SETFL, O_NONBLOCK);
		launched = 0;
		if (read(info[0], &launched, sizeof(launched)) != sizeof(launched))
			launched = 0;
		close(info[0]);
		r = wait_byte(pfd[0], 10000);
		close(pfd[0]);
		/* dpt alone: a launched program is in dpt's process group, and goes with it */
		if (r == 1)
			kill(c, SIGKILL);
		waitpid(c, NULL, 0);
		if (r == 1) {
			tl.tries++;
			*why = 0;
			for (int i = 0; i < SETTLE_MS && helpers_left(&died); i++)
				usleep(1000);
			if (helpers_left(&died))
				snprintf(why, sizeof(why), "a helper of dpt is still running");
			else if (launched <= 0)
				snprintf(why, sizeof(why), "no launched program");
			else if (wait_readable(out[0], 1000) ||
				 tgt_line(out[0], line, sizeof(line)) || strncmp(line, "ready ", 6))
				snprintf(why, sizeof(why),
					 "the launched program did not run (state %c)",
					 proc_state(launched));
			else if (pid_test_clean(launched, why, sizeof(why)))
				*why = 0;
			if (*why) {
				snprintf(what, sizeof(what), "launch mode, dpt killed at step %d",
					 step);
				harmed(&tl, what, why);
			}
		}
		if (launched > 0) {
			kill(launched, SIGKILL);
			waitpid(launched, NULL, 0);
		}
		launched = 0;
		close(in[1]);
		close(out[0]);
	}
	printf("# launch mode: dpt killed before the program ran, %u times: %u left it "
	       "unable to run or harmed\n",
	       tl.tries, tl.harmed);
	TEST_CHECK(tl.tries >= 10 && !tl.harmed, "kill9-launch-runs", "%u of %u kills; %s",
		   tl.harmed, tl.tries, tl.first);
}

/*
 * Launch mode, dpt killed while it tracks: the keeper traces the program all along and holds it
 * at its exit. dpt killed at a random moment -- while it collects every few milliseconds, or
 * just as the program exits and is held -- must leave the program running untraced with
 * nothing of dpt's, or let it finish its exit with its own status. "dpt" is a child that
 * launches pid-target --write 64, tracks it and collects in a loop; the program is told to
 * rewrite 5 pages and exit, before or after the kill.
 */
static void test_launch_tracking(unsigned tries)
{
	struct tally tl = {0};
	char prog[256], what[96], why[256];
	const char *argv[] = {prog, "--write", "64", NULL};
	unsigned seed = 4242;

	snprintf(prog, sizeof(prog), "%s/tests/helpers/pid-target",
		 getenv("BUILD") ? getenv("BUILD") : "build");
	/* the program's end as dpt saw it, stored the moment dpt reaped it (dpt's child): dpt
	 * killed after that and before its own exit took the status along (a CI run judged such
	 * an exit a harm: the program gone, no status) */
	volatile int *seen = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
				  -1, 0);
	if (seen == MAP_FAILED)
		return;
	for (unsigned i = 0; i < tries; i++) {
		int in[2], ready[2], status;
		bool died = false, exit_first = i % 2;
		unsigned delay_us;
		pid_t c;

		if (pipe2(in, O_CLOEXEC) || pipe2(ready, O_CLOEXEC))
			break;
		*seen = -1;
		c = fork();
		if (!c) {
			struct dpt_tracker t;
			struct dpt_sample s;
			struct pid_spawn sp;
			int devnull = open("/dev/null", O_WRONLY);

			setpgid(0, 0);
			dup2(in[0], 0);
			dup2(devnull, 1); /* its "ready" line */
			/* a sanitizer build's leak check would trip over the keeper */
			setenv("LSAN_OPTIONS", "detect_leaks=0", 1);
			if (pid_spawn(argv, 0, &sp) || pid_test_open(&t, sp.pid, "uffd", NULL, 0) ||
			    t.ops->start(&t) || pid_spawn_resume(&sp))
				_exit(1);
			if (write(ready[1], &sp.pid, sizeof(sp.pid)) != sizeof(sp.pid))
				_exit(1);
			for (;;) {
				if (tgt_wait_readable(t.end_fd, 3) && t.ops->ended(&t)) {
					/* it exits before the kill: dpt reaps it (its child) */
					*seen = t.end_status;
					pid_test_collect(&t, &s);
					t.ops->close(&t);
					_exit(t.end_status ? 3 : 0);
				}
				pid_test_collect(&t, &s);
			}
		}
		close(in[0]);
		close(ready[1]);
		launched = 0;
		launched_status = -1;
		if (read(ready[0], &launched, sizeof(launched)) != sizeof(launched))
			launched = 0;
		close(ready[0]);
		seed = seed * 1103515245 + 12345;
		delay_us = 1000 + (seed >> 8) % 200000;
		if (launched > 0 && exit_first) {
			usleep(delay_us);
			if (write(in[1], "rewrite 5\n", 10) != 10)
				launched = 0;
			usleep((seed >> 4) % 3000); /* dpt may be collecting its last interval */
		} else {
			usleep(delay_us);
		}
		kill(c, SIGKILL);
		waitpid(c, &status, 0);
		if (WIFEXITED(status))
			launched_status = W_EXITCODE(WEXITSTATUS(status), 0); /* dpt reaped it */
		else if (*seen >= 0) /* dpt reaped it, then was killed before its own exit */
			launched_status = W_EXITCODE(*seen ? 3 : 0, 0);
		tl.tries++;
		*why = 0;
		for (int ms = 0; ms < SETTLE_MS && helpers_left(&died); ms++)
			usleep(1000);
		if (helpers_left(&died))
			snprintf(why, sizeof(why), "a helper of dpt is still running");
		else if (launched <= 0)
			snprintf(why, sizeof(why), "no launched program");
		/* told to exit, it may be finishing right now (its keeper let it go): a zombie
		 * not reaped yet is an exit, not a harm */
		for (int ms = 0; !*why && exit_first && launched_status < 0 && ms < 1000 &&
				 (proc_state(launched) == 'Z' || proc_state(launched) == '?');
		     ms++) {
			helpers_left(&died);
			usleep(1000);
		}
		if (!*why && launched_status < 0) {
			/* still running: untraced, nothing of dpt's (else why says what is
			 * left), and it still obeys */
			if (pid_test_clean(launched, why, sizeof(why))) {
				*why = 0;
				if (!exit_first && write(in[1], "rewrite 5\n", 10) != 10)
					snprintf(why, sizeof(why), "cannot talk to it");
			} else if (exit_first && proc_tracer(launched) < 0) {
				/* it finished exiting while we looked: its status says how */
				for (int ms = 0; ms < 1000 && launched_status < 0; ms++) {
					helpers_left(&died);
					usleep(1000);
				}
				if (launched_status >= 0)
					*why = 0;
			}
			for (int ms = 0; !*why && ms < 5000 && launched_status < 0; ms++) {
				helpers_left(&died);
				usleep(1000);
			}
			if (!*why && launched_status < 0)
				snprintf(why, sizeof(why), "it does not exit when told (state %c)",
					 proc_state(launched));
		}
		if (!*why && !(WIFEXITED(launched_status) && WEXITSTATUS(launched_status) == 0))
			snprintf(why, sizeof(why), "it ended with wait status 0x%x", launched_status);
		if (*why) {
			snprintf(what, sizeof(what), "launch mode, dpt killed %u us in%s", delay_us,
				 exit_first ? ", as the program exits" : "");
			harmed(&tl, what, why);
			if (launched > 0 && launched_status < 0) {
				kill(launched, SIGKILL);
				for (int ms = 0; ms < 1000 && launched_status < 0; ms++) {
					helpers_left(&died);
					usleep(1000);
				}
			}
		}
		close(in[1]);
		launched = 0;
	}
	printf("# launch mode: dpt killed while tracking, %u times (half as the program exits): "
	       "%u left it harmed\n",
	       tl.tries, tl.harmed);
	TEST_CHECK(tl.tries == tries && !tl.harmed, "kill9-launch-tracking", "%u of %u kills; %s",
		   tl.harmed, tl.tries, tl.first);
}

int main(void)
{
	char ans[256];
	bool died = false;

	dpt_clear_error();
	if (pid_tracker_ops.probe(&(struct dpt_tracker_opts){.mode = "uffd"})) {
		test_skip("pid-kill9", "no uffd method here: %s", pid_test_err());
		return test_done();
	}
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (target_start()) {
		TEST_CHECK(0, "target", "cannot start the multi-threaded target");
		return test_done();
	}
	test_every_step();
	test_random_times(200);
	test_cli();
	test_launch();
	test_launch_tracking(40);
	mt_ctl(&m, "quit\n", ans, sizeof(ans));
	for (int i = 0; i < SETTLE_MS && helpers_left(&died); i++)
		usleep(1000);
	TEST_CHECK(!helpers_left(&died), "kill9-no-helper-left", "children still running");
	target_stop();
	return test_done();
}
