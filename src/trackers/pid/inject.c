/* inject.c - run system calls inside another process with ptrace (x86-64), as CRIU does.
 *
 * Mechanism:
 *  0. All of it runs in the injector: a helper process forked from dpt (helper.c), which
 *     is the tracer, so that dpt being SIGKILLed cannot interrupt it. A tracer that dies
 *     mid-injection makes the kernel detach the thread with the injected registers loaded (it
 *     would run a foreign system call and go on from the borrowed instruction) or with every
 *     signal blocked; the injector instead finishes, or rolls back as soon as it sees dpt gone
 *     (EOF on its socket), restores, detaches, and exits. What the injection made for dpt (a
 *     file descriptor) comes back over the socket with SCM_RIGHTS.
 *  1. Pick one thread (the leader if it sleeps in a system call that restarts; else a thread
 *     that does; else a running one; a thread in a call that would return EINTR to the program
 *     instead of restarting only if there is no other), PTRACE_SEIZE it and PTRACE_INTERRUPT
 *     it; every other thread keeps running.
 *  2. Save its registers and signal mask, block every signal in it (PTRACE_SETSIGMASK), and
 *     find a `syscall` instruction: the one it is sitting on if it was stopped in a system call,
 *     else one in the vDSO, else one in any executable mapping.
 *  3. For each injected call: point rip at that instruction with the call's number and
 *     arguments, PTRACE_SYSCALL to its entry stop and again to its exit stop, read rax.
 *  4. Restore the registers (with the interrupted system call set up to restart) and the signal
 *     mask, PTRACE_DETACH. A process that was stopped by SIGSTOP when found stops again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dpt/log.h"
#include "trackers/pid/inject.h"
#include "trackers/pid/int.h"

/* Kernel-internal return codes of an interrupted system call (include/linux/errno.h). */
#define ERESTARTSYS	      512
#define ERESTARTNOINTR	      513
#define ERESTARTNOHAND	      514
#define ERESTART_RESTARTBLOCK 516

#define USER64_CS 0x33

/* How long a thread may take to reach a ptrace stop after PTRACE_INTERRUPT. */
#define INJECT_STOP_TIMEOUT_MS 3000

/*
 * System calls that return -EINTR to the program, rather than restarting, when the thread is
 * merely stopped by ptrace (see signal(7), "Interruption of system call and library functions
 * by stop signals"): epoll waits, AIO and io_uring waits, semtimedop, sigtimedwait, and KVM_RUN
 * (an ioctl). Well-written programs retry them, but we prefer a thread that is not in one, so
 * the target sees nothing at all.
 */
static bool syscall_returns_eintr(long nr)
{
	switch (nr) {
	case SYS_epoll_wait:
	case SYS_epoll_pwait:
	case 441: /* epoll_pwait2 */
	case SYS_io_getevents:
	case 333: /* io_pgetevents */
	case 426: /* io_uring_enter */
	case SYS_semop:
	case SYS_semtimedop:
	case SYS_rt_sigtimedwait:
	case SYS_ioctl:
		return true;
	}
	return false;
}

int pid_inject_task_state(pid_t pid, pid_t tid, char *state, unsigned long *flags)
{
	char path[64], buf[1024], *p;
	unsigned long fl = 0;
	int n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	n = pid_read_file(path, buf, sizeof(buf));
	if (n < 0)
		return n;
	/* "tid (comm) S ppid pgrp session tty tpgid flags ..."; comm may hold ')' or spaces */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %lu", state, &fl) != 2)
		return -EIO;
	if (flags)
		*flags = fl;
	return 0;
}

/*
 * Preference for injecting into a thread: 0 unusable, 1 in D state, 2 blocked in an EINTR-prone
 * call, 3 running, 4 blocked in a call that restarts. A running thread is good but not best: it
 * may be on its way into an EINTR-prone call (a loop around epoll_wait with a timeout is
 * "running" between two calls), and an interrupt that lands between that call's entry and its
 * sleep makes it return EINTR. A thread asleep in read(), nanosleep(), a futex... just restarts.
 */
static int thread_score(pid_t pid, pid_t tid)
{
	char path[64], buf[256], state;
	long nr;

	if (pid_inject_task_state(pid, tid, &state, NULL))
		return 0;
	if (state == 'Z' || state == 'X' || state == 'x')
		return 0;
	if (state == 'D')
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", pid, tid);
	if (pid_read_file(path, buf, sizeof(buf)) < 0)
		return 2;
	if (!strncmp(buf, "running", 7))
		return 3;
	nr = strtol(buf, NULL, 10);
	if (nr < 0) /* blocked, but not in a system call: a page fault, say */
		return 3;
	return syscall_returns_eintr(nr) ? 2 : 4;
}

static int choose_thread(pid_t pid, pid_t *out)
{
	char path[64];
	struct dirent *de;
	int best = thread_score(pid, pid), s;
	pid_t tid = pid;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return dpt_fail(-errno, "pid %d: cannot list its threads: %s", pid,
				strerror(errno));
	while (best < 4 && (de = readdir(d))) {
		pid_t t = atoi(de->d_name);

		if (t <= 0 || t == pid)
			continue;
		s = thread_score(pid, t);
		if (s > best) {
			best = s;
			tid = t;
		}
	}
	closedir(d);
	if (!best)
		return dpt_fail(-ESRCH, "pid %d has no live thread to stop", pid);
	*out = tid;
	return 0;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for the next ptrace event of the thread, up to timeout_ms. Returns 0 with *status, or
 * -ETIMEDOUT, or -ESRCH if it is gone. */
static int wait_thread(struct pid_inject *in, int *status, long timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	unsigned spin = 0;
	pid_t r;

	for (;;) {
		r = waitpid(in->tid, status, __WALL | WNOHANG);
		if (r == in->tid)
			break;
		if (r < 0 && errno != EINTR) {
			in->gone = true;
			return -ESRCH;
		}
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		/* stops usually come within microseconds: spin a little, then back off to 1 ms */
		if (spin < 64)
			sched_yield();
		else
			usleep(spin < 200 ? 50 : 1000);
		spin++;
	}
	in->wait_status = *status;
	if (WIFEXITED(*status) || WIFSIGNALED(*status)) {
		in->gone = true;
		return -ESRCH;
	}
	return 0;
}

/*
 * Test hook. DPT_PID_INJECT_PAUSE=STEP:FD[:USEC] makes the process that runs the injection,
 * when it reaches the STEP-th point of one injection (1-based, counted from
 * pid_inject_attach(): after each ptrace call that changes the target's state, and once the
 * result is sent to dpt), write one byte to FD and pause USEC microseconds (default 2 s), or
 * until dpt dies. tests/integration/pid-kill9 SIGKILLs dpt there, at every step in turn.
 */
void pid_inject_test_point(struct pid_inject *in)
{
	const char *env = getenv("DPT_PID_INJECT_PAUSE");
	int step, fd, usec = 2000000;

	in->step++;
	if (!env || sscanf(env, "%d:%d:%d", &step, &fd, &usec) < 2 || step != in->step)
		return;
	if (write(fd, "p", 1) != 1)
		return;
	if (usec > 0 && in->parent_fd >= 0)
		pid_helper_parent_gone(in->parent_fd, usec / 1000); /* dpt killed: go on at once */
	else if (usec > 0)
		usleep(usec);
}

bool pid_inject_parent_gone(struct pid_inject *in)
{
	return in->parent_fd >= 0 && pid_helper_parent_gone(in->parent_fd, 0);
}

static bool is_group_stop_sig(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* The thread stopped on its way out (PTRACE_EVENT_EXIT, only when the keeper traces it): there
 * is nothing to inject into any more. The stop is the keeper's to handle (it may be the
 * program's exit, to hold): keep it in in->exit_status. */
static int exiting(struct pid_inject *in, int status)
{
	in->gone = true;
	in->exit_status = status;
	return dpt_fail(-ESRCH, "pid %d is exiting", in->pid);
}

/* After PTRACE_INTERRUPT: wait until the thread sits in a ptrace stop we may work in. */
static int wait_interrupt_stop(struct pid_inject *in)
{
	int status, err, sig;

	for (unsigned i = 0; i < 64; i++) {
		err = wait_thread(in, &status, INJECT_STOP_TIMEOUT_MS);
		if (err == -ETIMEDOUT)
			return dpt_fail(err,
					"pid %d: thread %d did not stop within %d ms (in "
					"uninterruptible sleep?)",
					in->pid, in->tid, INJECT_STOP_TIMEOUT_MS);
		if (err)
			return dpt_fail(err, "pid %d exited while dpt was attaching", in->pid);
		if (!WIFSTOPPED(status))
			continue;
		sig = WSTOPSIG(status);
		if (status >> 16 == PTRACE_EVENT_STOP) {
			if (is_group_stop_sig(sig))
				in->was_stopped = true;
			return 0;
		}
		if (status >> 16 == PTRACE_EVENT_EXIT)
			return exiting(in, status);
		if (status >> 16) {
			/* another event of a thread the keeper traces (clone, exec): let it go on;
			 * the pending interrupt stops it right after */
			if (ptrace(PTRACE_CONT, in->tid, 0, 0))
				return dpt_fail(-errno, "pid %d: PTRACE_CONT: %s", in->pid,
						strerror(errno));
			continue;
		}
		/*
		 * A signal arrived between PTRACE_SEIZE and our interrupt: this is its
		 * signal-delivery stop. Deliver it as the kernel would have; the pending
		 * interrupt then stops the thread, possibly at the entry of its handler,
		 * which is as good a place as any.
		 */
		if (ptrace(PTRACE_CONT, in->tid, 0, (void *)(long)sig))
			return dpt_fail(-errno, "pid %d: PTRACE_CONT: %s", in->pid,
					strerror(errno));
	}
	return dpt_fail(-EAGAIN, "pid %d: thread %d keeps receiving signals; cannot stop it",
			in->pid, in->tid);
}

/*
 * The thread was stopped on its way out of the kernel. If it was in a system call that the
 * signal machinery would restart (rax holds -ERESTART*, orig_rax the call number), the kernel
 * rewinds rip and reloads rax only after get_signal() returns, which is after our stop, and
 * on the registers as they are then -- ours. So we do the rewind ourselves on the saved copy,
 * exactly as arch/x86/kernel/signal.c does when no handler runs: -ERESTARTSYS,
 * -ERESTARTNOINTR and -ERESTARTNOHAND re-execute the same call, -ERESTART_RESTARTBLOCK calls
 * restart_syscall(), which resumes from the thread's restart_block (nanosleep's remaining
 * time, for example; our injected calls do not touch it). orig_rax is then set to -1: the
 * thread passes through that kernel code again when it resumes (PTRACE_DETACH leaves
 * TIF_SIGPENDING set), and must not rewind a second time. That pass would also have rewound
 * unrewound registers; we do not rely on it, as it is an implementation detail of detach.
 */
static void apply_restart(struct user_regs_struct *r)
{
	if ((long)r->orig_rax < 0)
		return;
	switch ((long)r->rax) {
	case -ERESTARTSYS:
	case -ERESTARTNOINTR:
	case -ERESTARTNOHAND:
		r->rax = r->orig_rax;
		r->rip -= 2;
		break;
	case -ERESTART_RESTARTBLOCK:
		r->rax = SYS_restart_syscall;
		r->rip -= 2;
		break;
	default:
		return;
	}
	r->orig_rax = -1;
}

static bool is_syscall_insn(int memfd, uint64_t ip)
{
	unsigned char b[2];

	return pread(memfd, b, 2, (off_t)ip) == 2 && b[0] == 0x0f && b[1] == 0x05;
}

/* Look for "0f 05" in [start, end) of the target; 0 if none. */
static uint64_t scan_for_syscall(int memfd, uint64_t start, uint64_t end)
{
	const size_t size = 65536;
	unsigned char *buf = malloc(size);
	uint64_t a, ip = 0;
	ssize_t n;

	for (a = start; buf && !ip && a < end; a += size - 1) {
		size_t len = end - a < size ? end - a : size;
		void *hit;

		n = pread(memfd, buf, len, (off_t)a);
		if (n < 2)
			break;
		hit = memmem(buf, n, "\x0f\x05", 2);
		if (hit)
			ip = a + ((unsigned char *)hit - buf);
		if ((size_t)n < len)
			break;
	}
	free(buf);
	return ip;
}

/*
 * A `syscall` instruction to borrow. The bytes need not be an instruction boundary of the
 * surrounding code: the CPU decodes from wherever rip points. The vDSO always has one (its
 * fallback paths call the kernel), and is the same for every process of the machine.
 */
static int find_syscall_insn(struct pid_inject *in, uint64_t found_rip, long found_orig_rax)
{
	char path[64];
	struct pid_maps maps = {0};
	uint64_t ip = 0;
	int memfd, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/mem", in->pid);
	memfd = open(path, O_RDONLY | O_CLOEXEC);
	if (memfd < 0 && (errno == EACCES || errno == EPERM))
		return pid_permission_denied(in->pid, "read the memory of");
	if (memfd < 0)
		return dpt_fail(-errno, "pid %d: %s: %s", in->pid, path, strerror(errno));
	if (found_orig_rax >= 0 && is_syscall_insn(memfd, found_rip - 2)) {
		ip = found_rip - 2;
		goto out;
	}
	err = pid_maps_read_pid(&maps, in->pid);
	if (err)
		goto out;
	for (unsigned pass = 0; pass < 2 && !ip; pass++) {
		for (unsigned i = 0; i < maps.nr && !ip; i++) {
			const struct pid_area *a = &maps.v[i];
			bool vdso = !strcmp(a->name, "[vdso]");

			if (!(a->prot & PID_PROT_EXEC) || (pass == 0) != vdso)
				continue;
			if (!strcmp(a->name, "[vsyscall]"))
				continue; /* emulated, only three calls */
			ip = scan_for_syscall(memfd, a->start,
					      a->end - a->start > (16 << 20) ? a->start + (16 << 20)
									     : a->end);
		}
	}
	if (!ip)
		err = dpt_fail(-ENOEXEC,
			       "pid %d: no syscall instruction found in its executable "
			       "mappings",
			       in->pid);
out:
	pid_maps_fini(&maps);
	close(memfd);
	in->syscall_ip = ip;
	return err;
}

static int task_status_field(pid_t pid, pid_t tid, const char *field, long *val)
{
	char path[64], buf[4096], *p;
	int n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	n = pid_read_file(path, buf, sizeof(buf));
	if (n < 0)
		return n;
	p = strstr(buf, field);
	if (!p)
		return -ENOENT;
	*val = strtol(p + strlen(field), NULL, 10);
	return 0;
}

static int seize(struct pid_inject *in)
{
	unsigned long opts = PTRACE_O_TRACESYSGOOD;
	long tracer = 0, seccomp = 0;

	if (!task_status_field(in->pid, in->tid, "TracerPid:", &tracer) && tracer)
		return dpt_fail(-EBUSY,
				"pid %d is already being traced by pid %ld (a debugger, "
				"strace, or another dpt attaching)",
				in->pid, tracer);
	/*
	 * A seccomp filter could refuse userfaultfd() or, worse, kill the process for calling
	 * it. PTRACE_O_SUSPEND_SECCOMP (CONFIG_CHECKPOINT_RESTORE, needs CAP_SYS_ADMIN) turns
	 * the filter off for the traced thread while we hold it, as CRIU does; without it we
	 * do not touch a filtered process.
	 */
	task_status_field(in->pid, in->tid, "Seccomp:", &seccomp);
	if (seccomp)
		opts |= PTRACE_O_SUSPEND_SECCOMP;
	if (ptrace(PTRACE_SEIZE, in->tid, 0, (void *)opts)) {
		int e = errno;

		if (e == ESRCH)
			return dpt_fail(-ESRCH, "pid %d exited", in->pid);
		if (seccomp && (e == EINVAL || e == EPERM))
			return dpt_fail(-EPERM,
					"pid %d runs under a seccomp filter and this kernel "
					"or user cannot suspend it (PTRACE_O_SUSPEND_SECCOMP needs "
					"CAP_SYS_ADMIN and CONFIG_CHECKPOINT_RESTORE)",
					in->pid);
		if (e == EPERM)
			return dpt_fail(-EPERM,
					"permission denied: cannot ptrace pid %d (dpt needs "
					"root or CAP_SYS_PTRACE; check kernel.yama.ptrace_scope)",
					in->pid);
		return dpt_fail(-e, "pid %d: PTRACE_SEIZE: %s", in->pid, strerror(e));
	}
	in->seized = true;
	pid_inject_test_point(in);
	return 0;
}

/* Stop the seized thread, save it, block its signals, find a syscall instruction. */
static int stop_and_save(struct pid_inject *in)
{
	struct user_regs_struct found;
	uint64_t all = ~0ULL;
	pid_t pid = in->pid;
	int err;

	if (!in->held && ptrace(PTRACE_INTERRUPT, in->tid, 0, 0)) {
		err = dpt_fail(-errno, "pid %d: PTRACE_INTERRUPT: %s", pid, strerror(errno));
		goto fail;
	}
	err = in->held ? 0 : wait_interrupt_stop(in);
	if (err)
		goto fail;
	pid_inject_test_point(in);
	if (ptrace(PTRACE_GETREGS, in->tid, 0, &found)) {
		err = dpt_fail(-errno, "pid %d: PTRACE_GETREGS: %s", pid, strerror(errno));
		goto fail;
	}
	if (found.cs != USER64_CS) {
		err = dpt_fail(-EOPNOTSUPP, "pid %d is a 32-bit process; dpt tracks 64-bit ones",
			       pid);
		goto fail;
	}
	in->saved = found;
	apply_restart(&in->saved);
	in->regs_saved = true;
	if (ptrace(PTRACE_GETSIGMASK, in->tid, (void *)sizeof(uint64_t), &in->saved_mask)) {
		err = dpt_fail(-errno, "pid %d: PTRACE_GETSIGMASK: %s", pid, strerror(errno));
		goto fail;
	}
	in->mask_saved = true;
	/*
	 * Block every signal while our calls run: a handler must not run on our borrowed
	 * registers. Signals that arrive meanwhile stay pending and are delivered after we
	 * restore the mask. SIGKILL and SIGSTOP cannot be blocked; see pid_inject_syscall().
	 */
	in->dirty = true;
	if (ptrace(PTRACE_SETSIGMASK, in->tid, (void *)sizeof(uint64_t), &all)) {
		err = dpt_fail(-errno, "pid %d: PTRACE_SETSIGMASK: %s", pid, strerror(errno));
		goto fail;
	}
	pid_inject_test_point(in);
	err = find_syscall_insn(in, found.rip, (long)found.orig_rax);
	if (err)
		goto fail;
	return 0;
fail:
	pid_inject_detach(in);
	return err;
}

int pid_inject_attach(struct pid_inject *in, pid_t pid, int parent_fd)
{
	int err;

	memset(in, 0, sizeof(*in));
	in->pid = pid;
	in->parent_fd = parent_fd;
	err = choose_thread(pid, &in->tid);
	if (err)
		return err;
	err = seize(in);
	if (err)
		return err;
	return stop_and_save(in);
}

/* A thread the calling process traces with options opts; held: in a stop already. */
static int attach_tracee(struct pid_inject *in, pid_t pid, pid_t tid, unsigned long opts,
			 int parent_fd, bool held)
{
	long seccomp = 0;

	memset(in, 0, sizeof(*in));
	in->pid = pid;
	in->tid = tid;
	in->parent_fd = parent_fd;
	in->traced = true;
	in->held = held;
	in->trace_opts = opts;
	in->seized = true;
	/* as seize() does, for a program that installed a seccomp filter since its launch */
	task_status_field(pid, tid, "Seccomp:", &seccomp);
	if (seccomp && !(opts & PTRACE_O_SUSPEND_SECCOMP) &&
	    ptrace(PTRACE_SETOPTIONS, tid, 0, (void *)(opts | PTRACE_O_SUSPEND_SECCOMP)) == 0)
		in->seccomp_suspended = true;
	return stop_and_save(in);
}

int pid_inject_attach_traced(struct pid_inject *in, pid_t pid, pid_t tid, unsigned long opts,
			     int parent_fd)
{
	return attach_tracee(in, pid, tid, opts, parent_fd, false);
}

int pid_inject_attach_held(struct pid_inject *in, pid_t pid, pid_t tid, unsigned long opts,
			   int parent_fd)
{
	return attach_tracee(in, pid, tid, opts, parent_fd, true);
}

int pid_inject_syscall(struct pid_inject *in, long nr, const uint64_t args[6], int64_t *ret)
{
	struct user_regs_struct r = in->saved;
	bool entered = false;
	int status, err, sig;
	long deliver = 0;

	if (!in->seized || in->gone)
		return dpt_fail(-ESRCH, "pid %d: not attached", in->pid);
	r.rax = nr;
	r.orig_rax = -1;
	r.rdi = args[0];
	r.rsi = args[1];
	r.rdx = args[2];
	r.r10 = args[3];
	r.r8 = args[4];
	r.r9 = args[5];
	r.rip = in->syscall_ip;
	in->dirty = true;
	if (ptrace(PTRACE_SETREGS, in->tid, 0, &r))
		return dpt_fail(-errno, "pid %d: PTRACE_SETREGS: %s", in->pid, strerror(errno));
	pid_inject_test_point(in);
	for (unsigned i = 0; i < 64; i++) {
		if (ptrace(PTRACE_SYSCALL, in->tid, 0, (void *)deliver))
			return dpt_fail(-errno, "pid %d: PTRACE_SYSCALL: %s", in->pid,
					strerror(errno));
		deliver = 0;
		err = wait_thread(in, &status, INJECT_STOP_TIMEOUT_MS);
		if (err == -ETIMEDOUT)
			return dpt_fail(err, "pid %d: injected system call %ld did not return",
					in->pid, nr);
		if (err)
			return dpt_fail(err, "pid %d exited during an injected system call",
					in->pid);
		sig = WSTOPSIG(status);
		if (sig == (SIGTRAP | 0x80)) {
			if (!entered) {
				entered = true;
				pid_inject_test_point(in);
				continue;
			}
			if (ptrace(PTRACE_GETREGS, in->tid, 0, &r))
				return dpt_fail(-errno, "pid %d: PTRACE_GETREGS: %s", in->pid,
						strerror(errno));
			*ret = (int64_t)r.rax;
			pid_inject_test_point(in);
			return 0;
		}
		if (status >> 16 == PTRACE_EVENT_STOP) {
			/* a group stop (SIGSTOP arrived) or a stray interrupt: keep going; the
			 * group stop is reinstated when we detach */
			if (is_group_stop_sig(sig))
				in->was_stopped = true;
			continue;
		}
		if (status >> 16 == PTRACE_EVENT_EXIT)
			return exiting(in, status);
		/*
		 * Signal-delivery stop. Every blockable signal is blocked, so this is SIGSTOP,
		 * which we pass on (the process stops once we let go), or a fault raised by
		 * our own borrowed instruction, which must never reach the program: we
		 * swallow it and fail.
		 */
		if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGTRAP ||
		    sig == SIGFPE)
			return dpt_fail(-EFAULT, "pid %d: injected system call raised signal %d",
					in->pid, sig);
		deliver = sig;
	}
	return dpt_fail(-EAGAIN, "pid %d: injected system call %ld kept being interrupted", in->pid,
			nr);
}

/*
 * The keeper traces the thread and goes on tracing it: instead of detaching, let it run again
 * as it was. A thread found in a group stop must not run: a plain PTRACE_CONT would let it
 * (the group stop ended for it when we ran the injected calls), so it is interrupted and
 * continued, which brings it straight back into a group-stop trap (PTRACE_EVENT_STOP with the
 * stop signal), where the keeper puts it back to listening.
 */
static int resume_traced(struct pid_inject *in, long sig, int err)
{
	if (in->seccomp_suspended)
		ptrace(PTRACE_SETOPTIONS, in->tid, 0, (void *)in->trace_opts);
	if (in->held) { /* it stays in its stop, for the keeper to let go */
		in->seized = false;
		in->dirty = false;
		return err;
	}
	if (in->was_stopped && ptrace(PTRACE_INTERRUPT, in->tid, 0, 0) && !err)
		err = dpt_fail(-errno, "pid %d: PTRACE_INTERRUPT: %s", in->pid, strerror(errno));
	if (ptrace(PTRACE_CONT, in->tid, 0, (void *)sig) && !err)
		err = dpt_fail(-errno, "pid %d: PTRACE_CONT: %s", in->pid, strerror(errno));
	pid_inject_test_point(in);
	in->seized = false;
	in->dirty = false;
	return err;
}

int pid_inject_detach(struct pid_inject *in)
{
	int status, err = 0;
	long sig = 0;

	if (!in->seized)
		return 0;
	if (in->gone) {
		in->seized = false;
		return dpt_fail(-ESRCH, "pid %d exited", in->pid);
	}
	/* PTRACE_DETACH needs the thread in a ptrace stop; it is unless a wait timed out */
	if (ptrace(PTRACE_GETEVENTMSG, in->tid, 0, &(unsigned long){0}) && errno == ESRCH) {
		ptrace(PTRACE_INTERRUPT, in->tid, 0, 0);
		err = wait_thread(in, &status, 10 * INJECT_STOP_TIMEOUT_MS);
		if (err == -ESRCH) {
			in->seized = false;
			return dpt_fail(err, "pid %d exited", in->pid);
		}
		if (err)
			return dpt_fail(err,
					"pid %d: thread %d cannot be stopped to detach it; the "
					"kernel releases it when dpt exits",
					in->pid, in->tid);
		if (status >> 16 == PTRACE_EVENT_EXIT) {
			in->seized = false;
			return exiting(in, status);
		}
		/* a signal-delivery stop: hand the signal over with the detach */
		if (status >> 16 == 0 && WSTOPSIG(status) != (SIGTRAP | 0x80))
			sig = WSTOPSIG(status);
	}
	if (in->dirty && in->regs_saved && ptrace(PTRACE_SETREGS, in->tid, 0, &in->saved))
		err = dpt_fail(-errno, "pid %d: restoring registers: %s", in->pid, strerror(errno));
	pid_inject_test_point(in);
	if (in->dirty && in->mask_saved &&
	    ptrace(PTRACE_SETSIGMASK, in->tid, (void *)sizeof(uint64_t), &in->saved_mask))
		err = dpt_fail(-errno, "pid %d: restoring the signal mask: %s", in->pid,
			       strerror(errno));
	pid_inject_test_point(in);
	if (in->traced)
		return resume_traced(in, sig, err);
	if (ptrace(PTRACE_DETACH, in->tid, 0, (void *)sig) && !err)
		err = dpt_fail(-errno, "pid %d: PTRACE_DETACH: %s", in->pid, strerror(errno));
	pid_inject_test_point(in);
	in->seized = false;
	in->dirty = false;
	return err;
}

/* ---- the injector process ---- */

/* What the injector answers: 0 and an fd (SCM_RIGHTS) or none, or -errno and the reason. */
struct inject_msg {
	int err;
	char reason[500];
};

void pid_inject_send_result(int sock, int err, int fd)
{
	struct inject_msg msg = {.err = err};
	char cbuf[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec iov = {.iov_base = &msg, .iov_len = sizeof(msg)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;

	if (err)
		snprintf(msg.reason, sizeof(msg.reason), "%s",
			 dpt_last_error() ? dpt_last_error() : strerror(-err));
	if (!err && fd >= 0) {
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	/* fails (EPIPE) only if dpt is gone: then closing our copy releases everything */
	while (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

/*
 * The injector's whole life. It touches the target only if dpt is still there when it
 * starts; fn() sees dpt's death through pid_inject_parent_gone() and rolls back (closes what
 * it made in the target). Whatever happens, the registers and mask are restored and the
 * thread detached before the injector exits, and the fd it sends is its only copy: once it
 * exits, dpt's is the only one (or none, if dpt died: an fd in flight in a socket nobody holds
 * is released by the kernel).
 */
static __attribute__((noreturn)) void injector(pid_t pid, pid_inject_fn fn, void *arg, int sock)
{
	struct pid_inject in;
	int err, err2, fd = -1;

	dpt_clear_error();
	if (pid_helper_parent_gone(sock, 0))
		_exit(1);
	err = pid_inject_attach(&in, pid, sock);
	if (!err) {
		err = fn(&in, arg, &fd);
		err2 = pid_inject_detach(&in);
		if (!err)
			err = err2;
	}
	pid_inject_send_result(sock, err, err ? -1 : fd);
	if (fd >= 0)
		close(fd);
	if (!err)
		pid_inject_test_point(&in);
	_exit(err ? 1 : 0);
}

int pid_inject_recv_result(int sock, pid_t pid, int *fd, bool *answered)
{
	struct inject_msg msg;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = &msg, .iov_len = sizeof(msg)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm;
	ssize_t n;

	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n ? -errno : -ECHILD;
	*answered = true;
	cm = CMSG_FIRSTHDR(&mh);
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(cm), sizeof(int));
	if (n != sizeof(msg))
		msg.err = dpt_fail(-EPROTO, "pid %d: short answer from the injector", pid);
	else if (msg.err)
		dpt_fail(msg.err, "%s", msg.reason);
	else if (mh.msg_flags & MSG_CTRUNC)
		msg.err = dpt_fail(-EMFILE, "pid %d: cannot receive the injector's fd", pid);
	if (msg.err && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	return msg.err;
}

int pid_inject_hook_fd(void)
{
	const char *hook = getenv("DPT_PID_INJECT_PAUSE");
	int step, fd;

	return hook && sscanf(hook, "%d:%d", &step, &fd) == 2 ? fd : -1;
}

int pid_inject_run(pid_t pid, pid_inject_fn fn, void *arg, int *fd)
{
	int keep[1] = {pid_inject_hook_fd()}, sock, status, err;
	bool answered = false;
	pid_t helper;

	*fd = -1;
	/* a program dpt launched is traced by its keeper: the keeper injects */
	if (pid_keeper_exists(pid))
		return pid_keeper_inject(pid, fn, arg, fd);
	err = pid_helper_fork(&helper, &sock, keep, keep[0] >= 0);
	if (err < 0)
		return dpt_fail_ctx(err, "pid %d: starting the injector", pid);
	if (err)
		injector(pid, fn, arg, sock);
	err = pid_inject_recv_result(sock, pid, fd, &answered);
	close(sock);
	status = pid_helper_reap(helper);
	if (answered)
		return err;
	if (status >= 0 && WIFSIGNALED(status))
		return dpt_fail(-ECHILD,
				"pid %d: the injector (pid %d) was killed by signal %d (%s) "
				"before it answered; if it was mid-injection, the target may be "
				"harmed",
				pid, helper, WTERMSIG(status), strsignal(WTERMSIG(status)));
	return dpt_fail(err, "pid %d: the injector (pid %d) exited without an answer (status %d)",
			pid, helper, status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}
