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
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dpt/log.h"
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

int pid_spawn(const char *const argv[], pid_t *out)
{
	int pfd[2], status, e = 0;
	pid_t pid, r;

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
	do
		r = waitpid(pid, &status, 0);
	while (r < 0 && errno == EINTR);
	if (r != pid || !WIFSTOPPED(status)) {
		/* the exec failed: the child reported why and exited */
		if (read(pfd[0], &e, sizeof(e)) != sizeof(e))
			e = ECHILD;
		close(pfd[0]);
		if (r == pid && WIFSTOPPED(status))
			pid_spawn_kill(pid);
		return dpt_fail(-e, "cannot run %s: %s", argv[0], strerror(e));
	}
	close(pfd[0]);
	/* stopped at exec with SIGTRAP: turn that into a plain SIGSTOP group stop */
	kill(pid, SIGSTOP);
	if (ptrace(PTRACE_DETACH, pid, 0, 0)) {
		e = errno;
		pid_spawn_kill(pid);
		return dpt_fail(-e, "cannot run %s: PTRACE_DETACH: %s", argv[0], strerror(e));
	}
	/* consume the stop notification so it is not mistaken for anything later */
	do
		r = waitpid(pid, &status, WUNTRACED);
	while (r < 0 && errno == EINTR);
	if (r != pid || !WIFSTOPPED(status)) {
		pid_spawn_kill(pid);
		return dpt_fail(-ECHILD, "cannot run %s: it did not stop after exec", argv[0]);
	}
	*out = pid;
	return 0;
}

int pid_spawn_resume(pid_t pid)
{
	if (kill(pid, SIGCONT))
		return dpt_fail(-errno, "pid %d: SIGCONT: %s", pid, strerror(errno));
	return 0;
}

void pid_spawn_kill(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}
