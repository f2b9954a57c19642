/* spawn.c - launch mode: start a program stopped right after its exec, untraced.
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
 *  4. A keeper (keeper.c) watches it: a helper process that lets the program run (SIGCONT)
 *     if dpt dies before pid_spawn_resume() -- it then runs, untracked, as it would have a
 *     moment later, and is never left stopped for ever -- and, once the program is in its
 *     group stop, becomes its tracer, to hold it at its exit until dpt has read the last
 *     partial interval. PR_SET_PDEATHSIG in the program was the other way to guard it; it was
 *     not taken, because it outlives the exec, cannot be cleared from outside once tracking
 *     has started, and would then kill (or, with SIGCONT, poke) a running program whenever dpt
 *     died.
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
#include "trackers/pid/inject.h"
#include "trackers/pid/int.h"
#include "trackers/pid/pid.h"

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

int pid_spawn(const char *const argv[], unsigned flags, struct pid_spawn *sp)
{
	int pfd[2], status, e = 0, err;
	pid_t pid, r;

	sp->pid = sp->keeper = 0;
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
	 * it runs. Start the keeper before turning the stop into a group stop, which nothing
	 * would end if dpt died.
	 */
	err = pid_keeper_start(pid, flags & PID_SPAWN_FOLLOW, &sp->keeper);

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
	/* from now on the keeper traces it, to hold it at its exit */
	if (flags & PID_SPAWN_NO_HOLD)
		return 0;
	err = pid_keeper_seize(pid, false);
	if (err)
		dpt_warn("%s; dpt will not see the writes of its last partial interval",
			 dpt_last_error());
	dpt_clear_error();
	return 0;
}

int pid_spawn_resume(struct pid_spawn *sp)
{
	/* the keeper sends SIGCONT and stops being a launch guard */
	if (!pid_keeper_resume(sp->pid))
		return 0;
	dpt_clear_error();
	if (kill(sp->pid, SIGCONT))
		return dpt_fail(-errno, "pid %d: SIGCONT: %s", sp->pid, strerror(errno));
	return 0;
}

void pid_spawn_kill(struct pid_spawn *sp)
{
	if (sp->pid <= 0)
		return;
	kill(sp->pid, SIGKILL);
	pid_keeper_release(sp->pid);
	while (waitpid(sp->pid, NULL, 0) < 0 && errno == EINTR)
		;
}
