/* helper.c - helper processes that finish their work even if dpt is killed.
 *
 * Two things dpt does to a target must not be left half done when dpt dies: a ptrace syscall
 * injection (inject.c: the injector) and the launch of a program stopped before its first
 * instruction, traced for its whole run (keeper.c: the keeper). Each runs in, or is watched
 * by, a process forked from dpt that outlives it:
 *  - its own process group, in dpt's session: a terminal's ^C, ^Z, ^\ and hangup go to the
 *    foreground group, `kill -9 -PGID` to dpt's group, a shell's SIGHUP to its jobs -- none to
 *    the helper. setsid() would give the same protection, but staying in the session keeps the
 *    kernel's rule for orphaned process groups on our side: if the helper is ever stopped (a
 *    SIGSTOP sent to its own pid) and dpt dies, its group becomes orphaned with a stopped member
 *    and the kernel sends it SIGHUP and SIGCONT, so it goes on and finishes;
 *  - every signal blocked (SIGKILL and SIGSTOP cannot be), so the SIGINT, SIGTERM, SIGHUP,
 *    SIGPIPE ... that dpt handles or dies of do not reach it;
 *  - oom_score_adj -1000 where allowed (root), so the OOM killer does not pick it (it shares
 *    dpt's memory and would be a likely victim);
 *  - every fd closed but its end of a socketpair to dpt (and the few it needs), so it holds
 *    nothing of dpt's open, and dpt's death shows as EOF on that socket -- not
 *    PR_SET_PDEATHSIG, which would kill the helper exactly when it must go on.
 * Root or CAP_SYS_PTRACE pass to the helper: fork keeps every credential and capability (no
 * exec, so nothing is recomputed).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dpt/log.h"
#include "trackers/pid/int.h"

static void close_range_or_loop(unsigned lo, unsigned hi)
{
	struct rlimit rl;

	if (lo > hi || !close_range(lo, hi, 0))
		return;
	/* before Linux 5.9 */
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur > 65536)
		rl.rlim_cur = 65536;
	for (unsigned fd = lo; fd <= hi && fd < rl.rlim_cur; fd++)
		close(fd);
}

/* Close every fd from 3 up but those in keep[]. */
static void close_all_but(const int *keep, unsigned nr)
{
	unsigned lo = 3;

	for (;;) {
		int next = -1;

		for (unsigned i = 0; i < nr; i++)
			if (keep[i] >= (int)lo && (next < 0 || keep[i] < next))
				next = keep[i];
		if (next < 0)
			break;
		if ((unsigned)next > lo)
			close_range_or_loop(lo, next - 1);
		lo = next + 1;
	}
	close_range_or_loop(lo, ~0U);
}

static void become_helper(int sock, const int *keep, unsigned nr_keep)
{
	int all[8], nr = 0, fd;
	sigset_t full;

	setpgid(0, 0);
	sigfillset(&full);
	sigprocmask(SIG_SETMASK, &full, NULL);
	all[nr++] = sock;
	for (unsigned i = 0; i < nr_keep && nr < 8; i++)
		all[nr++] = keep[i];
	close_all_but(all, nr);
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "-1000", 5) < 0) {
			/* not root: the OOM killer may pick it, as it may pick dpt */
		}
		close(fd);
	}
}

int pid_helper_fork(pid_t *pid, int *sock, const int *keep, unsigned nr_keep)
{
	int sv[2], e;
	pid_t c;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return dpt_fail(-errno, "socketpair: %s", strerror(errno));
	c = fork();
	if (c < 0) {
		e = errno;
		close(sv[0]);
		close(sv[1]);
		return dpt_fail(-e, "fork: %s", strerror(e));
	}
	if (!c) {
		close(sv[0]);
		become_helper(sv[1], keep, nr_keep);
		*pid = 0;
		*sock = sv[1];
		return 1;
	}
	close(sv[1]);
	*pid = c;
	*sock = sv[0];
	return 0;
}

bool pid_helper_parent_gone(int sock, int timeout_ms)
{
	struct pollfd p = {.fd = sock, .events = POLLIN};
	char c;
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	/* dpt never writes to a helper unless to release it; EOF (or an error) means it died */
	return r == 1 && recv(sock, &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
}

int pid_helper_reap(pid_t pid)
{
	int status;
	pid_t r;

	do
		r = waitpid(pid, &status, 0);
	while (r < 0 && errno == EINTR);
	return r == pid ? status : -1;
}
