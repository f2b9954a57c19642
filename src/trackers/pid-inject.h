/* pid-inject.h - run system calls inside another process with ptrace (x86-64).
 *
 * Used by the pid tracker to make the target create a userfaultfd (which must be created in the
 * target's mm) and to close the target's copy once dpt holds its own. The target does not notice:
 * one thread is stopped for a few hundred microseconds, every register and the signal mask are
 * restored, an interrupted system call restarts as if nothing happened, and the target is left
 * untraced and in the run state it was found in (running, or stopped by SIGSTOP).
 *
 *	struct pid_inject in;
 *	pid_inject_attach(&in, pid);           stop one thread, save its state
 *	pid_inject_syscall(&in, nr, args, &r); as many as needed
 *	pid_inject_detach(&in);                restore, let go (safe on a half-attached one)
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
};

/* Pick a thread of pid, seize and stop it, save its registers and signal mask, block every
 * signal, and find a `syscall` instruction to run. On failure the target is left as found and
 * the reason recorded with dpt_fail(). */
int pid_inject_attach(struct pid_inject *in, pid_t pid);

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

#endif
