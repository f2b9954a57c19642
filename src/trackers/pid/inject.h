/* inject.h - run system calls inside another process with ptrace (x86-64).
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
	bool traced;		       /* the keeper traces the thread: resume it, never detach */
	bool held;		       /* traced, and held in a stop by the keeper: leave it there */
	unsigned long trace_opts;      /* traced: the keeper's ptrace options */
	bool seccomp_suspended;	       /* traced: PTRACE_O_SUSPEND_SECCOMP added for the call */
	int exit_status;	       /* traced: the thread's exit stop (PTRACE_EVENT_EXIT) met
					  while injecting, for the keeper to handle; else 0 */
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

/* The same for thread tid of pid, which the calling process (the keeper, keeper.c) traces
 * already with options opts, and goes on tracing: pid_inject_detach() then restores it and lets
 * it run (or, if it was in a group stop, brings it back into a group-stop trap) instead of
 * detaching. If the thread turns out to be exiting, fails with -ESRCH and in->exit_status. */
int pid_inject_attach_traced(struct pid_inject *in, pid_t pid, pid_t tid, unsigned long opts,
			     int parent_fd);

/* The same for a thread the keeper holds in a ptrace stop (a child at its first stop, a
 * program at the exit of its execve): it is not interrupted, and pid_inject_detach() restores
 * it and leaves it in that stop, for the keeper to let go. */
int pid_inject_attach_held(struct pid_inject *in, pid_t pid, pid_t tid, unsigned long opts,
			   int parent_fd);

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

/* Test hook at each step of an injection; see DPT_PID_INJECT_PAUSE in inject.c. */
void pid_inject_test_point(struct pid_inject *in);
/* The test hook's fd, which a helper that injects must keep open, or -1. */
int pid_inject_hook_fd(void);

/* The answer of a helper that injected: 0 and an fd for dpt (SCM_RIGHTS) or none (-1), or
 * -errno with dpt_last_error() as the reason. recv: 0 or the -errno answered (with the reason
 * recorded, *answered set), or -errno if no answer came (EOF: -ECHILD). */
void pid_inject_send_result(int sock, int err, int fd);
int pid_inject_recv_result(int sock, pid_t pid, int *fd, bool *answered);

/* ---- the keeper (keeper.c): the tracer of the programs dpt tracks ---- */

/* Start the keeper of root, a program dpt launched, stopped in a group stop and not traced:
 * until told otherwise, it lets the program run (SIGCONT) if dpt dies. One per program. For
 * --hold, the keeper of a running process dpt attached to (then pid_keeper_seize(root,
 * true)). With follow, it follows root's descendants too (fork, vfork, clone of a process):
 * each is held at its birth, at the end of its execve() and at its exit, and reported, until
 * pid_keeper_let_go(). root 0: no root program (a cgroup); processes come with
 * pid_keeper_adopt(). */
int pid_keeper_start(pid_t root, bool follow, pid_t *keeper);
/* Make it the program's tracer, holding it at its exit; -errno if it cannot (it stays a
 * launch guard). running: root is not a launched program in its group stop but a process dpt
 * attached to (--hold, --follow), running: every thread is seized as it runs (and, following,
 * every descendant's). */
int pid_keeper_seize(pid_t root, bool running);
/* Following: trace pid too, a running process (and its descendants), as pid_keeper_seize. */
int pid_keeper_adopt(pid_t root, pid_t pid);
/* Was pid launched by this dpt (its keeper is not one started for --hold)? */
bool pid_keeper_launched(pid_t pid);
/* Let the program run (the keeper sends SIGCONT). */
int pid_keeper_resume(pid_t root);
/* Does a keeper of this dpt trace pid (the program, or a process it follows)? */
bool pid_keeper_exists(pid_t pid);
/* pid_inject_run() for a process a keeper traces: the keeper runs fn (arg must be NULL). */
int pid_keeper_inject(pid_t pid, pid_inject_fn fn, void *arg, int *fd);
/* The fd that becomes readable when root's keeper has something to report, or is gone; -1
 * if it does not trace. */
int pid_keeper_report_fd(pid_t root);

enum pid_keeper_event_type {
	PID_KEEPER_EXIT = 1, /* pid is held at its exit (status: how it is exiting) */
	PID_KEEPER_BIRTH,    /* pid, a new child of ppid, is held before its first instruction */
	PID_KEEPER_EXEC,     /* pid is held at the end of its execve(), in its new program */
};

struct pid_keeper_event {
	int type;   /* enum pid_keeper_event_type */
	pid_t pid;
	pid_t ppid; /* PID_KEEPER_BIRTH: its parent */
	int status; /* PID_KEEPER_EXIT: a wait status */
};

/* Read one report: 1 and *ev, 0 if the keeper is gone (then the report fd is closed),
 * -EAGAIN if nothing. Birth and exec holds last until pid_keeper_let_go(); an exit hold until
 * pid_keeper_let_go() (following) or pid_keeper_release(); each at most 5 s. */
int pid_keeper_event(pid_t root, struct pid_keeper_event *ev);
/* Let the process held go on (following). */
int pid_keeper_let_go(pid_t root, pid_t pid);
/* Let every program go: the keeper detaches (a held one goes on) and exits. */
void pid_keeper_release(pid_t root);

#endif
