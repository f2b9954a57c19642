/* pid-spawn.c - launch mode: start a program stopped right after its exec, untraced.
 *
 * Mechanism:
 *  1. fork; the child asks to be traced (PTRACE_TRACEME), resets signal dispositions and
 *     mask, and execs; a close-on-exec pipe carries errno back if the exec fails.
 *  2. A successful exec stops the traced child with SIGTRAP before the new program's first
 *     instruction, in its new address space.
 *  3. The parent queues SIGSTOP and detaches, discarding the SIGTRAP: the child goes
 *     straight from the kernel into a group stop, and is left stopped and untraced, exactly
 *     like any process found stopped by SIGSTOP, which the pid tracker attaches to and leaves
 *     stopped. SIGCONT (pid_spawn_resume) starts the program once tracking is armed.
 *  4. Until then a launch guard watches dpt: a helper process (pid-helper.c) holding a pidfd
 *     of the program and one end of a socket. pid_spawn_resume() and pid_spawn_kill() release
 *     it; if dpt dies first (EOF, no release), the guard sends the program SIGCONT and
 *     exits. The program then runs, untracked, as it would have a moment
 *     later (and as it does when dpt stops before tracking starts): it is never left stopped
 *     for ever. PR_SET_PDEATHSIG in the program was the other way; it was not taken, because
 *     it outlives the exec, cannot be cleared from outside once tracking has started, and
 *     would then kill (or, with SIGCONT, poke) a running program whenever dpt died.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dpt/log.h"
#include "trackers/pid-int.h"
#include "trackers/pid.h"

static void child(const char *const argv[], int errfd)
{
	static const int dfl[] = {SIGPIPE, SIGINT, SIGTERM, SIGCHLD, SIGQUIT, SIGHUP};
	sigset_t none;
	int e;

	for (unsigned i = 0; i < sizeof(dfl) / sizeof(dfl[0]); i++)
		signal(dfl[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (ptrace(PTRACE_TRACEME, 0, 0, 0) == 0)
		execvp(argv[0], (char *const *)argv);
	e = errno;
	if (write(errfd, &e, sizeof(e)) < 0)
		_exit(126);
	_exit(127);
}

/*
 * The guard's life: wait for dpt's word. A byte: dpt resumed or killed the program itself.
 * EOF: dpt died before it let the program run; SIGCONT it. Whatever state it is seen in: an
 * injector may hold its thread in a ptrace stop, or be running it through an injected call
 * ('R' for a moment) and put it back into the group stop on detach -- SIGCONT ends the group
 * stop, so the kernel does not reinstate it then. Through the pidfd: never another process.
 */
static __attribute__((noreturn)) void guard(int sock, int pidfd)
{
	char c;
	ssize_t n;

	do
		n = read(sock, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		syscall(SYS_pidfd_send_signal, pidfd, SIGCONT, NULL, 0);
	_exit(0);
}

static int start_guard(struct pid_spawn *sp)
{
	int pidfd, err;

	pidfd = syscall(SYS_pidfd_open, sp->pid, 0);
	if (pidfd < 0)
		return dpt_fail(-errno, "pidfd_open: %s", strerror(errno));
	err = pid_helper_fork(&sp->guard, &sp->guard_fd, &pidfd, 1);
	if (err == 1)
		guard(sp->guard_fd, pidfd);
	close(pidfd);
	return err;
}

/* dpt has let the program run or killed it: the guard may go. */
static void release_guard(struct pid_spawn *sp)
{
	if (sp->guard_fd >= 0) {
		if (write(sp->guard_fd, "r", 1) != 1) {
			/* the guard is gone already; nothing to release */
		}
		close(sp->guard_fd);
		sp->guard_fd = -1;
	}
	if (sp->guard > 0)
		pid_helper_reap(sp->guard);
	sp->guard = 0;
}

int pid_spawn(const char *const argv[], struct pid_spawn *sp)
{
	int pfd[2], status, e = 0, err;
	pid_t pid, r;

	sp->pid = sp->guard = 0;
	sp->guard_fd = -1;
	if (!argv || !argv[0])
		return dpt_fail(-EINVAL, "no command to run");
	if (pipe2(pfd, O_CLOEXEC))
		return dpt_fail(-errno, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		e = errno;
		close(pfd[0]);
		close(pfd[1]);
		return dpt_fail(-e, "fork: %s", strerror(e));
	}
	if (!pid)
		child(argv, pfd[1]);
	close(pfd[1]);
	sp->pid = pid;
	do
		r = waitpid(pid, &status, 0);
	while (r < 0 && errno == EINTR);
	if (r != pid || !WIFSTOPPED(status)) {
		/* the exec failed: the child reported why and exited */
		if (read(pfd[0], &e, sizeof(e)) != sizeof(e))
			e = ECHILD;
		close(pfd[0]);
		if (r == pid && WIFSTOPPED(status))
			pid_spawn_kill(sp);
		sp->pid = 0;
		return dpt_fail(-e, "cannot run %s: %s", argv[0], strerror(e));
	}
	close(pfd[0]);
	/*
	 * Stopped at exec with SIGTRAP, traced by us: if dpt dies now, the kernel detaches it and
	 * it runs. Start the guard before turning the stop into a group stop, which nothing
	 * would end if dpt died.
	 */
	err = start_guard(sp);
	if (err) {
		pid_spawn_kill(sp);
		return dpt_fail_ctx(err, "cannot run %s", argv[0]);
	}
	kill(pid, SIGSTOP);
	if (ptrace(PTRACE_DETACH, pid, 0, 0)) {
		e = errno;
		pid_spawn_kill(sp);
		return dpt_fail(-e, "cannot run %s: PTRACE_DETACH: %s", argv[0], strerror(e));
	}
	/* consume the stop notification so it is not mistaken for anything later */
	do
		r = waitpid(pid, &status, WUNTRACED);
	while (r < 0 && errno == EINTR);
	if (r != pid || !WIFSTOPPED(status)) {
		pid_spawn_kill(sp);
		return dpt_fail(-ECHILD, "cannot run %s: it did not stop after exec", argv[0]);
	}
	return 0;
}

int pid_spawn_resume(struct pid_spawn *sp)
{
	int err = 0;

	/* SIGCONT first, then release the guard: dpt dying in between leaves it running */
	if (kill(sp->pid, SIGCONT))
		err = dpt_fail(-errno, "pid %d: SIGCONT: %s", sp->pid, strerror(errno));
	release_guard(sp);
	return err;
}

void pid_spawn_kill(struct pid_spawn *sp)
{
	if (sp->pid <= 0) {
		release_guard(sp);
		return;
	}
	kill(sp->pid, SIGKILL);
	release_guard(sp);
	while (waitpid(sp->pid, NULL, 0) < 0 && errno == EINTR)
		;
}
