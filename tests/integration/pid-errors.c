/* pid-errors - every way opening the pid tracker can fail: one clear line, -errno, and the
 * target untouched (alive, not stopped, not traced, no userfaultfd, no registered range, its
 * answers intact).
 *
 * Cases: no such pid, a kernel thread, a zombie, a region outside the target (range and
 * name), overlapping regions, a target already tracked by another dpt, a target traced by a
 * debugger, permission denied (an unprivileged user; root without capabilities the target
 * holds), a kernel with neither method (DPT_PID_DISABLE), soft-dirty where the kernel has
 * none, an unknown mode.
 */
#include <dirent.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/ptrace.h>

#include "../test.h"
#include "pid-util.h"

static struct tgt g;

/* Open must fail with err, its reason must contain what and be one line, and the target must
 * be as it was. */
static void expect_fail(const char *name, pid_t pid, const char *mode, const char *const *regions,
			unsigned nr, int err, const char *what)
{
	struct dpt_tracker t;
	int r = pid_test_open(&t, pid, mode, regions, nr);
	const char *msg = pid_test_err();
	char why[128], full[160];

	TEST_CHECK(r == err && strstr(msg, what) && !strchr(msg, '\n') && !t.priv, name,
		   "got %d (want %d): %s", r, err, msg);
	if (!r)
		t.ops->close(&t);
	if (g.pid && pid == g.pid) {
		snprintf(full, sizeof(full), "%s-target-untouched", name);
		TEST_CHECK(pid_test_clean(g.pid, why, sizeof(why)) && proc_state(g.pid) != 'T' &&
			       !tgt_cmd(&g, "w 0 16"),
			   full, "%s, state %c", why, proc_state(g.pid));
	}
	printf("# %s: %s\n", name, msg);
}

static pid_t find_kthread(void)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = 0;

	while (d && !found && (de = readdir(d))) {
		pid_t p = atoi(de->d_name);
		char path[64], buf[512], *s;
		unsigned long flags;

		if (p <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", p);
		if (pid_read_file(path, buf, sizeof(buf)) < 0)
			continue;
		s = strrchr(buf, ')');
		if (s && sscanf(s + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) == 1 &&
		    (flags & 0x00200000))
			found = p;
	}
	if (d)
		closedir(d);
	return found;
}

/* Open the tracker on the target from a child that first loses privileges with drop() (0, or
 * non-zero if it cannot here); the open's result and reason in msg. Returns 0, or -1 if the
 * child could not drop them. */
static int open_from_child(int (*drop)(void), char *msg, size_t size)
{
	int pfd[2], status;
	pid_t child;
	ssize_t n;

	if (pipe(pfd))
		return -1;
	child = fork();
	if (!child) {
		struct dpt_tracker t;
		int r;

		close(pfd[0]);
		if (drop())
			_exit(2);
		r = pid_test_open(&t, g.pid, NULL, NULL, 0);
		dprintf(pfd[1], "%d %s", r, pid_test_err());
		_exit(0);
	}
	close(pfd[1]);
	n = read(pfd[0], msg, size - 1);
	close(pfd[0]);
	msg[n > 0 ? n : 0] = 0;
	waitpid(child, &status, 0);
	return WIFEXITED(status) && WEXITSTATUS(status) == 2 ? -1 : 0;
}

static int become_nobody(void)
{
	return setgroups(0, NULL) || setgid(65534) || setuid(65534);
}

/* CAP_SYS_PTRACE and CAP_SYS_RESOURCE out of the effective set only */
static int drop_caps(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return -1;
	data[0].effective &= ~((1u << CAP_SYS_PTRACE) | (1u << CAP_SYS_RESOURCE));
	return syscall(SYS_capset, &hdr, data) ? -1 : 0;
}

static void test_unprivileged(void)
{
	char msg[512];

	if (open_from_child(become_nobody, msg, sizeof(msg)))
		return test_skip("permission-denied", "cannot become nobody here");
	TEST_CHECK(atoi(msg) == -EPERM && strstr(msg, "permission denied"), "permission-denied",
		   "as nobody: %s", msg);
	printf("# permission-denied: %s\n", strchr(msg, ' ') ? strchr(msg, ' ') + 1 : msg);
}

/* Root without some capabilities the target holds (as in a container, or with a reduced
 * bounding set): refused, and the reason says that rather than "needs root". */
static void test_fewer_caps(void)
{
	char msg[512];

	if (open_from_child(drop_caps, msg, sizeof(msg)))
		return test_skip("fewer-capabilities", "cannot drop capabilities here");
	TEST_CHECK(atoi(msg) == -EPERM && strstr(msg, "holds capabilities dpt lacks") &&
		       !strchr(msg, '\n'),
		   "fewer-capabilities", "%s", msg);
	printf("# fewer-capabilities: %s\n", strchr(msg, ' ') ? strchr(msg, ' ') + 1 : msg);
}

static void test_already(void)
{
	struct dpt_tracker a;
	int err = pid_test_open(&a, g.pid, "uffd", NULL, 0) || a.ops->start(&a);

	if (err) {
		TEST_CHECK(0, "already-tracked", "first tracker: %s", pid_test_err());
		return;
	}
	{
		struct dpt_tracker b;
		int r = pid_test_open(&b, g.pid, "uffd", NULL, 0);

		TEST_CHECK(r == -EBUSY && strstr(pid_test_err(), "another dpt") &&
			       proc_uffd_fds(g.pid) == 0 && proc_tracer(g.pid) == 0,
			   "already-tracked", "%d: %s", r, pid_test_err());
		printf("# already-tracked: %s\n", pid_test_err());
		if (!r)
			b.ops->close(&b);
	}
	a.ops->close(&a);
}

static void test_traced(void)
{
	int r;

	if (ptrace(PTRACE_SEIZE, g.pid, 0, 0)) {
		test_skip("traced-by-debugger", "cannot seize: %s", strerror(errno));
		return;
	}
	r = pid_test_open(&(struct dpt_tracker){0}, g.pid, "uffd", NULL, 0);
	TEST_CHECK(r == -EBUSY && strstr(pid_test_err(), "already being traced"),
		   "traced-by-debugger", "%d: %s", r, pid_test_err());
	printf("# traced-by-debugger: %s\n", pid_test_err());
	/* detaching needs the tracee in a stop */
	ptrace(PTRACE_INTERRUPT, g.pid, 0, 0);
	waitpid(g.pid, NULL, __WALL);
	ptrace(PTRACE_DETACH, g.pid, 0, 0);
}

int main(void)
{
	const char *outside[] = {"1000-3000"};
	const char *noname[] = {"[no-such-mapping]"};
	char r1[64], r2[64];
	const char *overlap[] = {r1, r2};
	const char *empty[] = {""};
	pid_t gone, zombie, kt;

	dpt_clear_error();
	if (tgt_start(&g, 64)) {
		TEST_CHECK(0, "target", "cannot start the target");
		return test_done();
	}
	gone = fork();
	if (!gone)
		_exit(0);
	waitpid(gone, NULL, 0);
	expect_fail("no-such-pid", gone, NULL, NULL, 0, -ESRCH, "no process with pid");
	expect_fail("pid-zero", 0, NULL, NULL, 0, -EINVAL, "needs a process id");

	kt = find_kthread();
	if (kt)
		expect_fail("kernel-thread", kt, NULL, NULL, 0, -EINVAL, "kernel thread");
	else
		test_skip("kernel-thread", "no kernel thread visible in this pid namespace");

	zombie = fork();
	if (!zombie)
		_exit(0);
	for (int i = 0; i < 200 && proc_state(zombie) != 'Z'; i++)
		usleep(1000);
	expect_fail("zombie", zombie, NULL, NULL, 0, -ESRCH, "zombie");
	waitpid(zombie, NULL, 0);

	expect_fail("region-outside", g.pid, NULL, outside, 1, -ENXIO, "outside pid");
	expect_fail("region-no-such-name", g.pid, NULL, noname, 1, -ENXIO, "no writable mapping");
	expect_fail("region-empty", g.pid, NULL, empty, 1, -EINVAL, "empty region");
	snprintf(r1, sizeof(r1), "%" PRIx64 "-%" PRIx64, g.base, g.base + 32 * TGT_PAGE);
	snprintf(r2, sizeof(r2), "%" PRIx64 "-%" PRIx64, g.base + 16 * TGT_PAGE,
		 g.base + 48 * TGT_PAGE);
	expect_fail("regions-overlap", g.pid, NULL, overlap, 2, -EINVAL, "overlaps");
	expect_fail("unknown-mode", g.pid, "magic", NULL, 0, -EINVAL, "unknown pid tracking mode");

	setenv("DPT_PID_DISABLE", "uffd,soft-dirty", 1);
	expect_fail("neither-method", g.pid, NULL, NULL, 0, -EOPNOTSUPP, "neither");
	unsetenv("DPT_PID_DISABLE");
	dpt_clear_error();
	if (pid_tracker_ops.probe(&(struct dpt_tracker_opts){.mode = "soft-dirty"}))
		expect_fail("no-soft-dirty", g.pid, "soft-dirty", NULL, 0, -EOPNOTSUPP,
			    "CONFIG_MEM_SOFT_DIRTY");
	else
		test_skip("no-soft-dirty", "this kernel has soft-dirty");

	dpt_clear_error();
	if (!pid_tracker_ops.probe(&(struct dpt_tracker_opts){.mode = "uffd"})) {
		test_already();
		test_traced();
	} else {
		test_skip("already-tracked", "no uffd method here");
	}
	if (getuid() == 0) {
		test_unprivileged();
		test_fewer_caps();
	} else
		test_skip("permission-denied", "not root: cannot test as another user");
	TEST_CHECK(!tgt_cmd(&g, "w 0 64") && proc_tracer(g.pid) == 0, "target-alive-at-end",
		   "target gone or traced");
	tgt_stop(&g);
	return test_done();
}
