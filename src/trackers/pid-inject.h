/* pid-inject.h - run system calls inside another process with ptrace (x86-64).
 *
 * Used by the pid tracker to make the target create a userfaultfd (which must be created in the
 * target's mm) and to close the target's copy once dpt holds its own. The target does not notice:
 * one thread is stopped for a few hundred microseconds, every register and the signal mask are
 * restored, an interrupted system call restarts as if nothing happened, and the target is left
 * untraced and in the run state it was found in (running, or stopped by SIGSTOP).
 *
 * The ptrace conversation runs in a helper process, the injector, so that dpt being killed in
 * the middle of it cannot leave the target with borrowed registers: the injector finishes or
 * rolls back on its own.
 *
 *	pid_inject_run(pid, fn, arg, &fd);     fork the injector, which attaches, calls
 *	                                       fn(in, arg, &fd) and detaches; fd comes back
 *	in fn:
 *	pid_inject_syscall(in, nr, args, &r);  as many as needed
 *	pid_inject_parent_gone(in)             dpt died: roll back what was done, return
 */
#ifndef DPT_PID_INJECT_H
#define DPT_PID_INJECT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

struct pid_inject {
	pid_t pid;   /* the process */
	pid_t tid;   /* the thread we stopped; 0 before attach */
	bool seized; /* we are its tracer: detach must run */
	bool regs_saved;
	bool mask_saved;
	bool dirty;		       /* registers or mask changed: restore before detach */
	bool was_stopped;	       /* the process was in a group stop (SIGSTOP) when found */
	bool gone;		       /* the thread died under us: nothing to restore */
	struct user_regs_struct saved; /* as found, with a pending syscall restart applied */
	uint64_t saved_mask;	       /* its blocked signals as found */
	uint64_t syscall_ip;	       /* address of a `syscall` instruction in the target */
	int wait_status;	       /* last waitpid status (for exit status in launch mode) */
	int step;		       /* test points passed (pid_inject_test_point) */
	int parent_fd;		       /* in the injector: its socket to dpt; -1 elsewhere */
};

/* The work done between attach and detach, in the injector: returns 0 with *fd an fd for dpt
 * (or -1), or -errno with a reason, having undone in the target what it did. */
typedef int (*pid_inject_fn)(struct pid_inject *in, void *arg, int *fd);

/* Fork the injector, which attaches to pid, runs fn, and detaches whatever happens, even if
 * dpt dies meanwhile; return fn's result, and in *fd dpt's copy of the fd fn made (the only
 * copy once the injector has exited), or -1. A failure of the injector is recorded with
 * dpt_fail() as its own reason. */
int pid_inject_run(pid_t pid, pid_inject_fn fn, void *arg, int *fd);

/* In fn: has dpt gone away (then roll back and return)? */
bool pid_inject_parent_gone(struct pid_inject *in);

/* Pick a thread of pid, seize and stop it, save its registers and signal mask, block every
 * signal, and find a `syscall` instruction to run. On failure the target is left as found and
 * the reason recorded with dpt_fail(). parent_fd: in the injector, its socket to dpt; else -1.
 * The calling process becomes the thread's tracer: pid_inject_run() calls it in the injector. */
int pid_inject_attach(struct pid_inject *in, pid_t pid, int parent_fd);

/* Run syscall nr with up to 6 arguments in the stopped thread; *ret gets its return value (a
 * negative errno on failure, as the kernel returns it). Returns 0, or -errno if the injection
 * itself failed (thread died: -ESRCH). */
int pid_inject_syscall(struct pid_inject *in, long nr, const uint64_t args[6], int64_t *ret);

/* Restore registers and signal mask and detach. Safe to call on a half-attached or already
 * detached struct, and after a failed pid_inject_attach(). Returns 0 or -errno (with a reason)
 * when the target could not be restored, which only happens if it died. */
int pid_inject_detach(struct pid_inject *in);

/* The thread's /proc state letter (R, S, D, T, t, Z, X, ...) and flags from /proc/PID/stat, or
 * -errno. flags is the kernel's task->flags (PF_KTHREAD = 0x00200000). */
int pid_inject_task_state(pid_t pid, pid_t tid, char *state, unsigned long *flags);

/* Test hook at each step of an injection; see DPT_PID_INJECT_PAUSE in pid-inject.c. */
void pid_inject_test_point(struct pid_inject *in);

#endif
