/* keeper.c - the keeper: a tracked program's tracer, which holds it at its exit.
 *
 * A process that exits takes its page tables with it (exit_mm) before anyone outside can see
 * it has exited, so the writes of its last partial interval are lost to every method. Only a
 * tracer sees the exit coming: with PTRACE_O_TRACEEXIT, each thread stops in do_exit() before
 * it lets go of the memory. The keeper is that tracer, for a program dpt launched (unless
 * --no-hold), and for a process dpt attached to only when asked (--hold: that traces someone
 * else's process for the whole run; see do_seize_all()).
 *
 * Mechanism:
 *  1. pid_spawn() starts the keeper while the program is stopped before its first instruction;
 *     until it is told to trace, it is the launch guard: dpt dying (EOF) makes it SIGCONT the
 *     program and exit.
 *  2. Seize: PTRACE_SEIZE of the stopped program with TRACECLONE (every new thread is traced
 *     too), TRACEEXEC, TRACEEXIT and TRACESYSGOOD. Its group stop shows as a group-stop trap,
 *     which the keeper turns into PTRACE_LISTEN: still stopped, as before.
 *  3. From then on the keeper passes everything through: a signal-delivery stop is continued
 *     with its signal, a group-stop trap listens (the program stays stopped until SIGCONT, as
 *     a shell expects), clone and exec events continue. The program behaves as untraced, with a
 *     few microseconds more per signal and per thread creation.
 *  4. Injections (inject.c) into the program run in the keeper, which is already its
 *     tracer (a thread has one): dpt sends the request, the keeper answers with the fd.
 *  5. Exit: a thread stopping at PTRACE_EVENT_EXIT that ends the program -- it called
 *     exit_group, or a fatal signal is killing the group (SIGKILL included: each thread dequeues
 *     it before it stops), or it is the last thread calling exit -- is held there, its memory
 *     intact, and dpt is told on the report socket. dpt collects the last partial interval and
 *     releases it; the keeper detaches and exits, and the program finishes exiting. Threads
 *     killed by an exec or by the group exit, and threads ending alone, go on at once.
 *  6. Leaving (dpt releases it, or dies: EOF): a thread held or stopped is detached (with the
 *     signal it was about to receive), the others by the kernel as the keeper exits, which
 *     wakes none of them (see detach_stopped()); a group stop stays in force, and a program
 *     never resumed gets its SIGCONT. A hold lasts at most HOLD_MS, should dpt stop answering.
 * The keeper is a helper (helper.c): its own process group, every signal blocked (SIGCHLD
 * comes through a signalfd), OOM-proof, nothing of dpt's open.
 */
#include <errno.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dpt/log.h"
#include "trackers/pid/inject.h"
#include "trackers/pid/int.h"

#define KEEPER_OPTS                                                                            \
	(PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT)
#define HOLD_MS	     5000 /* longest hold at the exit, should dpt not answer */
#define STOP_WAIT_MS 3000 /* a launched program seized in its group stop traps within this */
#define MAX_KEEPERS  4

/* dpt -> keeper */
enum { REQ_SEIZE = 'S', REQ_SEIZE_ALL = 'A', REQ_RESUME = 'R', REQ_INJECT = 'I', REQ_RELEASE = 'D' };

struct keeper_req {
	char type;
	uintptr_t fn; /* REQ_INJECT: a pid_inject_fn; the keeper is a fork of dpt, same code */
};

/* keeper -> dpt, on the report socket: the program is held at its exit */
struct keeper_report {
	int status; /* wait status it is exiting with */
};

/* ---- in the keeper ---- */

enum kt_state {
	KT_RUNNING,   /* continued; its next stop comes through waitpid */
	KT_LISTENING, /* in a group stop, PTRACE_LISTEN */
	KT_EXITING,   /* passed its exit stop */
	KT_HELD,      /* held at its exit stop: the program's end */
};

struct kthread {
	pid_t tid;
	enum kt_state st;
};

struct keeper {
	pid_t pid;
	int sock;   /* requests and answers */
	int report; /* reports */
	int sfd;    /* SIGCHLD */
	bool tracing, resumed, leaving;
	struct kthread *t;
	unsigned nr, cap;
	pid_t held;
	long hold_deadline;
};

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct kthread *kt_find(struct keeper *k, pid_t tid)
{
	for (unsigned i = 0; i < k->nr; i++)
		if (k->t[i].tid == tid)
			return &k->t[i];
	return NULL;
}

static struct kthread *kt_add(struct keeper *k, pid_t tid)
{
	struct kthread *t = kt_find(k, tid);

	if (t)
		return t;
	if (k->nr == k->cap) {
		unsigned cap = k->cap ? 2 * k->cap : 16;
		struct kthread *v = realloc(k->t, cap * sizeof(*v));

		if (!v)
			return NULL;
		k->t = v;
		k->cap = cap;
	}
	k->t[k->nr] = (struct kthread){.tid = tid, .st = KT_RUNNING};
	return &k->t[k->nr++];
}

static void kt_del(struct keeper *k, pid_t tid)
{
	struct kthread *t = kt_find(k, tid);

	if (t)
		*t = k->t[--k->nr];
}

static bool is_group_stop_sig(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/*
 * Does this exit stop end the program? status is the exit code the kernel gives the stop
 * (PTRACE_GETEVENTMSG: a wait status). A fatal signal kills the whole group; exit_group() ends
 * it (the caller stops with orig_rax = exit_group; the threads it kills stop with whatever
 * call they were in, and are let go); exit() ends it only from the last thread. Threads killed
 * by another thread's execve stop with exit code 0 and are let go.
 */
static bool ends_program(struct keeper *k, struct kthread *t, unsigned long code)
{
	struct user_regs_struct r;

	if (code & 0x7f)
		return true;
	if (ptrace(PTRACE_GETREGS, t->tid, 0, &r))
		return false;
	if ((long)r.orig_rax == SYS_exit_group)
		return true;
	if ((long)r.orig_rax != SYS_exit)
		return false;
	for (unsigned i = 0; i < k->nr; i++)
		if (k->t[i].tid != t->tid && k->t[i].st != KT_EXITING && k->t[i].st != KT_HELD)
			return false;
	return true;
}

static void hold(struct keeper *k, struct kthread *t, unsigned long code)
{
	struct keeper_report rep = {.status = (int)code};

	t->st = KT_HELD;
	k->held = t->tid;
	k->hold_deadline = now_ms() + HOLD_MS;
	if (send(k->report, &rep, sizeof(rep), MSG_NOSIGNAL) != sizeof(rep)) {
		/* dpt is gone: nobody will collect; let it go */
		ptrace(PTRACE_CONT, t->tid, 0, 0);
		t->st = KT_EXITING;
		k->held = 0;
	}
}

/* Is tid a thread of the program? TRACECLONE also catches a clone() that makes a new process
 * sharing the memory (CLONE_VM without CLONE_THREAD, exit signal 0): not ours to keep. */
static bool ours(struct keeper *k, pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task/%d", k->pid, tid);
	return access(path, F_OK) == 0;
}

/* One stop or death of a traced thread, as waitpid reported it. */
static void on_event(struct keeper *k, pid_t tid, int status)
{
	struct kthread *t;
	unsigned long msg = 0;
	int sig, ev;

	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		kt_del(k, tid);
		return;
	}
	if (!WIFSTOPPED(status))
		return;
	sig = WSTOPSIG(status);
	ev = status >> 16;
	t = kt_find(k, tid);
	if (!t && !ours(k, tid)) {
		/* another process: let it go, with the signal it was about to receive */
		ptrace(PTRACE_DETACH, tid, 0, (void *)(long)(!ev && sig != (SIGTRAP | 0x80) ? sig : 0));
		return;
	}
	if (!t) /* a new thread's first stop may come before its creator's event */
		t = kt_add(k, tid);
	switch (ev) {
	case PTRACE_EVENT_STOP:
		if (is_group_stop_sig(sig) && !ptrace(PTRACE_LISTEN, tid, 0, 0)) {
			if (t)
				t->st = KT_LISTENING;
			return;
		}
		break; /* an interrupt, a new thread, the end of a group stop: run on */
	case PTRACE_EVENT_CLONE:
		if (!ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg) && ours(k, (pid_t)msg))
			kt_add(k, (pid_t)msg);
		break;
	case PTRACE_EVENT_EXEC:
		/* a thread other than the leader exec'ed: it now has the leader's tid, and
		 * its old tid is gone without a report */
		if (!ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg) && (pid_t)msg != tid)
			kt_del(k, (pid_t)msg);
		break;
	case PTRACE_EVENT_EXIT:
		ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg);
		if (t)
			t->st = KT_EXITING;
		if (t && !k->held && k->resumed && !k->leaving && ends_program(k, t, msg)) {
			hold(k, t, msg);
			return;
		}
		break;
	case 0:
		/* a signal-delivery stop: deliver it, as without us */
		if (sig != (SIGTRAP | 0x80)) {
			if (t)
				t->st = KT_RUNNING;
			ptrace(PTRACE_CONT, tid, 0, (void *)(long)sig);
			return;
		}
		break;
	}
	if (t && t->st != KT_EXITING)
		t->st = KT_RUNNING;
	ptrace(PTRACE_CONT, tid, 0, 0);
}

static void drain_events(struct keeper *k)
{
	int status;
	pid_t r;

	while ((r = waitpid(-1, &status, __WALL | WNOHANG)) > 0)
		on_event(k, r, status);
}

/* Wait up to ms for the next stop or death of tid. */
static int wait_tid(pid_t tid, int *status, long ms)
{
	long deadline = now_ms() + ms;
	pid_t r;

	for (;;) {
		r = waitpid(tid, status, __WALL | WNOHANG);
		if (r == tid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -ESRCH;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(200);
	}
}

/* Add the threads /proc shows that we have not heard of yet (their first stop is queued). */
static void add_listed_threads(struct keeper *k)
{
	char path[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", k->pid);
	d = opendir(path);
	while (d && (de = readdir(d)))
		if (atoi(de->d_name) > 0)
			kt_add(k, atoi(de->d_name));
	if (d)
		closedir(d);
}

/*
 * Detach one thread without waking it. PTRACE_DETACH needs the thread in a ptrace stop, and
 * stopping a running thread to detach it (PTRACE_INTERRUPT) is not invisible: one blocked in,
 * or entering, a call that a stop ends with EINTR (epoll_wait, an ioctl such as KVM_RUN) gets
 * EINTR. So only threads already stopped are detached here: one held at its exit; one in a stop
 * not yet reported, with the signal it was about to receive. The others -- running, blocked,
 * or listening in a group stop -- are detached by the kernel when the keeper exits, which
 * wakes none of them (a group stop stays in force). A signal that stops a thread in the last
 * moments before that exit would be lost with the stop; a final look shortens that window.
 */
static void detach_stopped(struct keeper *k, pid_t tid)
{
	char state = 0;
	int status;
	long sig = 0;

	if (pid_inject_task_state(k->pid, tid, &state, NULL) || state != 't')
		return;
	if (waitpid(tid, &status, __WALL | WNOHANG) == tid) {
		if (!WIFSTOPPED(status))
			return;
		if (!(status >> 16) && WSTOPSIG(status) != (SIGTRAP | 0x80))
			sig = WSTOPSIG(status);
	}
	ptrace(PTRACE_DETACH, tid, 0, (void *)sig); /* fails for a listening one: fine */
}

/* Let the program go and exit: detach every thread; a program never resumed is resumed. */
static __attribute__((noreturn)) void leave(struct keeper *k)
{
	k->leaving = true;
	if (k->tracing) {
		drain_events(k);
		if (k->held)
			ptrace(PTRACE_DETACH, k->held, 0, 0); /* it finishes exiting */
		k->held = 0;
		add_listed_threads(k);
		for (unsigned i = 0; i < k->nr; i++)
			detach_stopped(k, k->t[i].tid);
		for (unsigned i = 0; i < k->nr; i++) /* the final look */
			detach_stopped(k, k->t[i].tid);
	}
	if (!k->resumed)
		kill(k->pid, SIGCONT);
	_exit(0);
}

static void answer(struct keeper *k, int err)
{
	pid_inject_send_result(k->sock, err, -1);
}

static void do_seize(struct keeper *k)
{
	int status, err;

	dpt_clear_error();
	if (ptrace(PTRACE_SEIZE, k->pid, 0, (void *)(unsigned long)KEEPER_OPTS)) {
		err = -errno;
		answer(k, dpt_fail(err, "cannot trace pid %d: %s", k->pid, strerror(-err)));
		return;
	}
	k->tracing = true;
	kt_add(k, k->pid);
	/* the program is in a group stop: its group-stop trap comes at once; listen */
	err = wait_tid(k->pid, &status, STOP_WAIT_MS);
	if (!err)
		on_event(k, k->pid, status);
	answer(k, err ? dpt_fail(err, "pid %d did not stop for its keeper", k->pid) : 0);
}

/*
 * Attach mode (--hold): trace every thread of a running process. PTRACE_SEIZE does not stop a
 * thread; TRACECLONE catches the threads a seized thread creates; a thread created by one not
 * yet seized shows in the next listing. Repeat until a listing brings nothing new. A process
 * that some other tracer holds is refused, untouched (everything seized so far is detached).
 */
static bool traced_by_us(pid_t pid, pid_t tid)
{
	char path[64], buf[2048], *p;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	if (pid_read_file(path, buf, sizeof(buf)) <= 0 || !(p = strstr(buf, "TracerPid:")))
		return false;
	return atoi(p + strlen("TracerPid:")) == getpid();
}

static void do_seize_all(struct keeper *k)
{
	char path[64];
	bool more = true;
	int err = 0;

	dpt_clear_error();
	snprintf(path, sizeof(path), "/proc/%d/task", k->pid);
	k->tracing = true;
	k->resumed = true; /* running: hold it at its exit from now on, never SIGCONT it */
	for (unsigned pass = 0; more && !err && pass < 100; pass++) {
		struct dirent *de;
		DIR *d = opendir(path);

		more = false;
		if (!d) {
			err = dpt_fail(-ESRCH, "pid %d exited", k->pid);
			break;
		}
		while (!err && (de = readdir(d))) {
			pid_t tid = atoi(de->d_name);

			if (tid <= 0 || kt_find(k, tid))
				continue;
			if (ptrace(PTRACE_SEIZE, tid, 0, (void *)(unsigned long)KEEPER_OPTS)) {
				if (errno == ESRCH)
					continue; /* it exited meanwhile */
				if (errno == EPERM && traced_by_us(k->pid, tid)) {
					/* made by a thread seized already: TRACECLONE took it */
					kt_add(k, tid);
					continue;
				}
				err = dpt_fail(-errno, "pid %d: cannot trace thread %d to hold it at "
						       "its exit: %s",
					       k->pid, tid, strerror(errno));
				break;
			}
			kt_add(k, tid);
			more = true;
		}
		closedir(d);
	}
	if (!err && !kt_find(k, k->pid))
		err = dpt_fail(-ESRCH, "pid %d exited", k->pid);
	/* on failure, what was seized stays traced until dpt releases the keeper (it will) */
	answer(k, err);
}

static void do_inject(struct keeper *k, pid_inject_fn fn)
{
	struct pid_inject in;
	struct kthread *t = NULL;
	int err, err2, fd = -1;

	dpt_clear_error();
	if (!k->tracing) { /* a launch guard only: inject as a plain injector would */
		err = pid_inject_attach(&in, k->pid, k->sock);
		if (!err) {
			err = fn(&in, NULL, &fd);
			err2 = pid_inject_detach(&in);
			err = err ? err : err2;
		}
		goto out;
	}
	drain_events(k);
	t = kt_find(k, k->pid);
	for (unsigned i = 0; (!t || t->st > KT_LISTENING) && i < k->nr; i++)
		t = &k->t[i];
	if (!t || t->st > KT_LISTENING || k->held) {
		err = dpt_fail(-ESRCH, "pid %d is exiting", k->pid);
		goto out;
	}
	pid_t tid = t->tid;
	err = pid_inject_attach_traced(&in, k->pid, tid, KEEPER_OPTS, k->sock);
	if (!err) {
		err = fn(&in, NULL, &fd);
		err2 = pid_inject_detach(&in);
		err = err ? err : err2;
	}
	t = kt_find(k, tid);
	if (in.exit_status)
		on_event(k, tid, in.exit_status); /* the stop it met is the keeper's to handle */
	else if (in.gone)
		kt_del(k, tid);
	else if (t)
		t->st = KT_RUNNING; /* a group stop comes back as a trap: listened to then */
out:
	pid_inject_send_result(k->sock, err, err ? -1 : fd);
	if (fd >= 0)
		close(fd);
	if (!err)
		pid_inject_test_point(&in);
}

/* Read and carry out one request; EOF (dpt died) or a release: leave. */
static void on_request(struct keeper *k)
{
	struct keeper_req req;
	ssize_t n;

	do
		n = recv(k->sock, &req, sizeof(req), 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0 || req.type == REQ_RELEASE)
		leave(k);
	if (n != sizeof(req))
		return;
	switch (req.type) {
	case REQ_SEIZE:
		do_seize(k);
		break;
	case REQ_SEIZE_ALL:
		do_seize_all(k);
		break;
	case REQ_RESUME:
		k->resumed = true;
		answer(k, kill(k->pid, SIGCONT) ? -errno : 0);
		break;
	case REQ_INJECT:
		do_inject(k, (pid_inject_fn)req.fn);
		break;
	default:
		answer(k, -EINVAL);
	}
}

static __attribute__((noreturn)) void keeper_main(pid_t pid, int sock, int report)
{
	struct keeper k = {.pid = pid, .sock = sock, .report = report};
	struct signalfd_siginfo si;
	sigset_t chld;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	k.sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC); /* SIGCHLD is blocked */
	for (;;) {
		struct pollfd pfd[2] = {{.fd = sock, .events = POLLIN}, {.fd = k.sfd, .events = POLLIN}};
		long timeout = -1;

		if (k.held)
			timeout = k.hold_deadline > now_ms() ? k.hold_deadline - now_ms() : 0;
		else if (k.sfd < 0 && k.tracing)
			timeout = 10; /* no signalfd: look for events every 10 ms */
		if (poll(pfd, 2, (int)timeout) < 0 && errno != EINTR)
			leave(&k);
		while (k.sfd >= 0 && read(k.sfd, &si, sizeof(si)) == sizeof(si))
			;
		if (k.tracing)
			drain_events(&k);
		if (pfd[0].revents)
			on_request(&k);
		if (k.held && now_ms() >= k.hold_deadline) {
			/* dpt did not collect in time: the program must not wait for ever */
			struct kthread *t = kt_find(&k, k.held);

			ptrace(PTRACE_CONT, k.held, 0, 0);
			if (t)
				t->st = KT_EXITING;
			k.held = 0;
		}
		if (k.tracing && !k.nr)
			_exit(0); /* the program is gone; dpt sees EOF */
	}
}

/* ---- in dpt ---- */

struct keeper_ref {
	pid_t pid;    /* the program; 0: free slot */
	pid_t keeper; /* the keeper process */
	int sock;     /* requests and answers */
	int report;   /* reports; -1 once the keeper is gone */
	bool tracing;
	bool gone;    /* it exited (EOF on reports): injections go to an injector again */
	bool attached; /* the keeper of a process dpt attached to (--hold), not launched */
};

/* The keepers of the programs this dpt launched (one, in practice). */
static struct keeper_ref refs[MAX_KEEPERS];

/* The keeper of pid; pid 0: a free slot. */
static struct keeper_ref *ref_find(pid_t pid)
{
	for (unsigned i = 0; pid >= 0 && i < MAX_KEEPERS; i++)
		if (refs[i].pid == pid)
			return &refs[i];
	return NULL;
}

int pid_keeper_start(pid_t pid, pid_t *keeper)
{
	struct keeper_ref *r = pid > 0 && !ref_find(pid) ? ref_find(0) : NULL;
	int rv[2], keep[2], sock, err;
	pid_t c;

	if (!r)
		return dpt_fail(-EBUSY, "pid %d: no room for another keeper", pid);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, rv))
		return dpt_fail(-errno, "socketpair: %s", strerror(errno));
	keep[0] = rv[1];
	keep[1] = pid_inject_hook_fd();
	err = pid_helper_fork(&c, &sock, keep, keep[1] >= 0 ? 2 : 1);
	if (err == 1)
		keeper_main(pid, sock, rv[1]);
	close(rv[1]);
	if (err) {
		close(rv[0]);
		return dpt_fail_ctx(err, "pid %d: starting its keeper", pid);
	}
	*r = (struct keeper_ref){.pid = pid, .keeper = c, .sock = sock, .report = rv[0]};
	*keeper = c;
	return 0;
}

bool pid_keeper_exists(pid_t pid)
{
	struct keeper_ref *r = pid > 0 ? ref_find(pid) : NULL;

	return r && !r->gone;
}

/* Send a request and read the answer (fd: for REQ_INJECT). */
static int request(struct keeper_ref *r, struct keeper_req *req, int *fd)
{
	int dummy = -1, err;
	bool answered = false;

	if (send(r->sock, req, sizeof(*req), MSG_NOSIGNAL) != sizeof(*req))
		return dpt_fail(-ECHILD, "pid %d: its keeper (pid %d) is gone", r->pid, r->keeper);
	err = pid_inject_recv_result(r->sock, r->pid, fd ? fd : &dummy, &answered);
	if (!answered)
		return dpt_fail(err, "pid %d: its keeper (pid %d) exited without an answer",
				r->pid, r->keeper);
	return err;
}

int pid_keeper_seize(pid_t pid, bool running)
{
	struct keeper_ref *r = (pid > 0 ? ref_find(pid) : NULL);
	struct keeper_req req = {.type = running ? REQ_SEIZE_ALL : REQ_SEIZE};
	int err;

	if (!r)
		return dpt_fail(-ESRCH, "pid %d has no keeper", pid);
	err = request(r, &req, NULL);
	r->tracing = !err;
	r->attached = running;
	return err;
}

int pid_keeper_resume(pid_t pid)
{
	struct keeper_ref *r = (pid > 0 ? ref_find(pid) : NULL);
	struct keeper_req req = {.type = REQ_RESUME};

	if (!r)
		return dpt_fail(-ESRCH, "pid %d has no keeper", pid);
	return request(r, &req, NULL);
}

int pid_keeper_inject(pid_t pid, pid_inject_fn fn, void *arg, int *fd)
{
	struct keeper_ref *r = (pid > 0 ? ref_find(pid) : NULL);
	struct keeper_req req = {.type = REQ_INJECT, .fn = (uintptr_t)fn};

	*fd = -1;
	if (!r)
		return dpt_fail(-ESRCH, "pid %d has no keeper", pid);
	if (arg)
		return dpt_fail(-EINVAL, "pid %d: the keeper runs injections without arguments",
				pid);
	return request(r, &req, fd);
}

int pid_keeper_report_fd(pid_t pid)
{
	struct keeper_ref *r = (pid > 0 ? ref_find(pid) : NULL);

	return r && r->tracing ? r->report : -1;
}

int pid_keeper_report(pid_t pid, int *status)
{
	struct keeper_ref *r = (pid > 0 ? ref_find(pid) : NULL);
	struct keeper_report rep;
	ssize_t n;

	if (!r || r->report < 0)
		return 0;
	do
		n = recv(r->report, &rep, sizeof(rep), MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -EAGAIN;
	if (n == sizeof(rep)) {
		*status = rep.status;
		return 1;
	}
	close(r->report); /* EOF: the keeper has exited */
	r->report = -1;
	r->tracing = false;
	r->gone = true;
	return 0;
}

void pid_keeper_release(pid_t pid)
{
	struct keeper_ref *r = (pid > 0 ? ref_find(pid) : NULL);
	struct keeper_req req = {.type = REQ_RELEASE};

	if (!r)
		return;
	if (send(r->sock, &req, sizeof(req), MSG_NOSIGNAL) != sizeof(req)) {
		/* it is gone already */
	}
	close(r->sock);
	if (r->report >= 0)
		close(r->report);
	pid_helper_reap(r->keeper);
	*r = (struct keeper_ref){0};
}

bool pid_keeper_launched(pid_t pid)
{
	struct keeper_ref *r = pid > 0 ? ref_find(pid) : NULL;

	return r && !r->attached;
}
