/* keeper.c - the keeper: the tracer of the programs dpt tracks, which holds them at their exit
 * -- and, following a process tree, at their birth and exec -- until dpt has read them.
 *
 * A process that exits takes its page tables with it (exit_mm) before anyone outside can see
 * it has exited, so the writes of its last partial interval are lost to every method. Only a
 * tracer sees the exit coming: with PTRACE_O_TRACEEXIT, each thread stops in do_exit() before
 * it lets go of the memory. The keeper is that tracer, for a program dpt launched (unless
 * --no-hold), for a process dpt attached to only when asked (--hold, --follow: that traces
 * someone else's process for the whole run; see do_seize_all()), and, following a tree, for
 * every process of it.
 *
 * Mechanism:
 *  1. pid_spawn() starts the keeper while the program is stopped before its first instruction;
 *     until it is told to trace, it is the launch guard: dpt dying (EOF) makes it SIGCONT the
 *     program and exit.
 *  2. Seize: PTRACE_SEIZE of the stopped program with TRACECLONE (every new thread is traced
 *     too), TRACEEXEC, TRACEEXIT and TRACESYSGOOD, and, following, TRACEFORK and TRACEVFORK.
 *     Its group stop shows as a group-stop trap, which the keeper turns into PTRACE_LISTEN:
 *     still stopped, as before.
 *  3. From then on the keeper passes everything through: a signal-delivery stop is continued
 *     with its signal, a group-stop trap listens (the program stays stopped until SIGCONT, as
 *     a shell expects), clone and exec events continue. The program behaves as untraced, with
 *     a round trip through the keeper per signal and per thread or process created.
 *  4. Injections (inject.c) into a traced process run in the keeper, which is already its
 *     tracer (a thread has one): dpt sends the request, the keeper answers with the fd.
 *  5. Exit: a thread stopping at PTRACE_EVENT_EXIT that ends its process -- it called
 *     exit_group, or a fatal signal is killing the group (SIGKILL included: each thread dequeues
 *     it before it stops), or it is the last thread calling exit -- is held there, its memory
 *     intact, and dpt is told on the report socket. dpt collects the last partial interval and
 *     lets it go. Threads killed by an exec or by the group exit, and threads ending alone, go
 *     on at once.
 *  6. Following (dpt track --follow): a fork, a vfork or a clone() making a process is reported
 *     by its parent's event stop, and the child starts with a stop of its own. When the child
 *     has its own memory (fork, clone without CLONE_VM), both are held until dpt has armed the
 *     child (dpt injects into the child through the keeper; the parent is held so that it
 *     cannot write into the pages the two still share, which would make the child's copies
 *     look like the child's own). A child sharing its parent's memory (vfork, CLONE_VM) goes on
 *     at once: its writes are its parent's; it becomes a process of its own at its execve().
 *     An execve() is held at the end of the call (its syscall-exit stop: the new program is
 *     loaded and has not run), until dpt has attached to the new program.
 *  7. Leaving (dpt lets go, or dies: EOF, kill -9 included): threads held or stopped are
 *     detached (with the signal they were about to receive), the others by the kernel as the
 *     keeper exits, which wakes none of them (see detach_stopped()); a group stop stays in
 *     force, and a program never resumed gets its SIGCONT. A hold lasts at most HOLD_MS,
 *     should dpt stop answering.
 * The keeper is a helper (helper.c): its own process group, every signal blocked (SIGCHLD
 * comes through a signalfd), OOM-proof, nothing of dpt's open.
 */
#include <dirent.h>
#include <errno.h>
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
#define FOLLOW_OPTS  (KEEPER_OPTS | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK)
#define HOLD_MS	     5000 /* longest hold, should dpt not answer */
#define STOP_WAIT_MS 3000 /* a launched program seized in its group stop traps within this */
#define MAX_KEEPERS  4

#ifndef KCMP_VM
#define KCMP_VM 1
#endif

/* dpt -> keeper */
enum {
	REQ_SEIZE = 'S',     /* the launched root, in its group stop */
	REQ_SEIZE_ALL = 'A', /* a running process (and, following, its descendants) */
	REQ_RESUME = 'R',    /* SIGCONT the launched root */
	REQ_INJECT = 'I',
	REQ_LET_GO = 'L',    /* a held process goes on */
	REQ_RELEASE = 'D',   /* everything goes on; the keeper exits */
};

struct keeper_req {
	char type;
	pid_t pid;
	uintptr_t fn; /* REQ_INJECT: a pid_inject_fn; the keeper is a fork of dpt, same code */
};

/* ---- in the keeper ---- */

enum kt_state {
	KT_RUNNING,	 /* continued; its next stop comes through waitpid */
	KT_LISTENING,	 /* in a group stop, PTRACE_LISTEN */
	KT_STOPPED,	 /* in a ptrace stop the keeper keeps it in (a hold) */
	KT_EXEC_PENDING, /* continued from its exec event to its syscall-exit stop */
	KT_EXITING,	 /* passed its exit stop */
};

struct kthread {
	pid_t tid, tgid;
	enum kt_state st;
};

enum hold { HOLD_NONE, HOLD_BIRTH, HOLD_EXEC, HOLD_EXIT };

/* A traced process. A newborn with memory of its own is held in two stops: its parent's fork
 * event (parent_tid) and its own first stop (child_stopped). */
struct kproc {
	pid_t pid, ppid;
	bool shares_mm; /* a vfork or CLONE_VM child: writes its parent's memory until it execs */
	enum hold hold;
	bool reported;
	pid_t held_tid;	  /* the thread held (exit: its exit stop; exec: its syscall-exit stop) */
	pid_t parent_tid; /* birth: the parent thread held at its fork event, or 0 */
	bool child_stopped;
	long deadline;
};

struct keeper {
	pid_t root;
	int sock;   /* requests and answers */
	int report; /* reports */
	int sfd;    /* SIGCHLD */
	bool tracing, resumed, leaving, follow;
	unsigned long opts;
	struct kthread *t;
	unsigned nr, cap;
	struct kproc *p;
	unsigned nr_p, cap_p;
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

static struct kthread *kt_add(struct keeper *k, pid_t tid, pid_t tgid)
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
	k->t[k->nr] = (struct kthread){.tid = tid, .tgid = tgid, .st = KT_RUNNING};
	return &k->t[k->nr++];
}

static struct kproc *kp_find(struct keeper *k, pid_t pid)
{
	for (unsigned i = 0; i < k->nr_p; i++)
		if (k->p[i].pid == pid)
			return &k->p[i];
	return NULL;
}

static struct kproc *kp_add(struct keeper *k, pid_t pid, pid_t ppid)
{
	struct kproc *p = kp_find(k, pid);

	if (p)
		return p;
	if (k->nr_p == k->cap_p) {
		unsigned cap = k->cap_p ? 2 * k->cap_p : 16;
		struct kproc *v = realloc(k->p, cap * sizeof(*v));

		if (!v)
			return NULL;
		k->p = v;
		k->cap_p = cap;
	}
	k->p[k->nr_p] = (struct kproc){.pid = pid, .ppid = ppid};
	return &k->p[k->nr_p++];
}

/* A thread is gone; so is its process when it was the last one. */
static void kt_del(struct keeper *k, pid_t tid)
{
	struct kthread *t = kt_find(k, tid);
	pid_t tgid;

	if (!t)
		return;
	tgid = t->tgid;
	*t = k->t[--k->nr];
	for (unsigned i = 0; i < k->nr; i++)
		if (k->t[i].tgid == tgid)
			return;
	for (unsigned i = 0; i < k->nr_p; i++)
		if (k->p[i].pid == tgid) {
			/* a newborn that died before it was armed: its parent goes on */
			if (k->p[i].hold == HOLD_BIRTH && k->p[i].parent_tid)
				ptrace(PTRACE_CONT, k->p[i].parent_tid, 0, 0);
			k->p[i] = k->p[--k->nr_p];
			return;
		}
}

static bool is_group_stop_sig(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* A field ("Tgid:", "PPid:") of /proc/TID/status; 0 if unreadable. */
static pid_t status_pid(pid_t tid, const char *field)
{
	char path[64], buf[2048], *p;

	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	if (pid_read_file(path, buf, sizeof(buf)) <= 0 || !(p = strstr(buf, field)))
		return 0;
	return (pid_t)atoi(p + strlen(field));
}

static bool same_mm(pid_t a, pid_t b)
{
	return syscall(SYS_kcmp, a, b, KCMP_VM, 0, 0) == 0;
}

static void report(struct keeper *k, int type, const struct kproc *p, int status)
{
	struct pid_keeper_event ev = {.type = type, .pid = p->pid, .ppid = p->ppid, .status = status};

	if (send(k->report, &ev, sizeof(ev), MSG_NOSIGNAL) != sizeof(ev))
		k->leaving = true; /* dpt is gone: nobody will collect; the main loop leaves */
}

static void cont(struct keeper *k, pid_t tid, long sig)
{
	struct kthread *t = kt_find(k, tid);

	if (t && t->st != KT_EXITING)
		t->st = KT_RUNNING;
	ptrace(PTRACE_CONT, tid, 0, (void *)sig);
}

/* The hold of p is over: its threads go on. */
static void let_go(struct keeper *k, struct kproc *p)
{
	switch (p->hold) {
	case HOLD_BIRTH:
		if (p->parent_tid)
			cont(k, p->parent_tid, 0);
		if (p->child_stopped)
			cont(k, p->pid, 0);
		break;
	case HOLD_EXEC:
		cont(k, p->held_tid, 0);
		break;
	case HOLD_EXIT:
		ptrace(PTRACE_CONT, p->held_tid, 0, 0); /* it stays KT_EXITING */
		break;
	case HOLD_NONE:
		break;
	}
	p->hold = HOLD_NONE;
	p->parent_tid = p->held_tid = 0;
	p->reported = false;
}

static void hold(struct keeper *k, struct kproc *p, enum hold how, pid_t tid, int status)
{
	static const int types[] = {[HOLD_BIRTH] = PID_KEEPER_BIRTH, [HOLD_EXEC] = PID_KEEPER_EXEC,
				    [HOLD_EXIT] = PID_KEEPER_EXIT};
	struct kthread *t = kt_find(k, tid);

	if (t && how != HOLD_EXIT)
		t->st = KT_STOPPED;
	p->hold = how;
	p->held_tid = tid;
	p->deadline = now_ms() + HOLD_MS;
	p->reported = true;
	report(k, types[how], p, status);
}

/*
 * Does this exit stop end its process? code is the exit code the kernel gives the stop
 * (PTRACE_GETEVENTMSG: a wait status). A fatal signal kills the whole group; exit_group()
 * ends it (the caller stops with orig_rax = exit_group; the threads it kills stop with
 * whatever call they were in, and are let go); exit() ends it only from the last thread.
 * Threads killed by another thread's execve stop with exit code 0 and are let go.
 */
static bool ends_process(struct keeper *k, struct kthread *t, unsigned long code)
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
		if (k->t[i].tgid == t->tgid && k->t[i].tid != t->tid && k->t[i].st != KT_EXITING)
			return false;
	return true;
}

/* A newborn with memory of its own is reported once its parent's event and its own first
 * stop have both come. */
static void birth_ready(struct keeper *k, struct kproc *p)
{
	if (p->hold == HOLD_BIRTH && p->child_stopped && p->parent_tid && !p->reported) {
		p->reported = true;
		p->deadline = now_ms() + HOLD_MS;
		report(k, PID_KEEPER_BIRTH, p, 0);
	}
}

/*
 * Following: tid (of process parent) made child, a process (ev: the event). With memory of
 * its own, hold both until dpt has armed the child; sharing the parent's memory, go on.
 */
static void new_child(struct keeper *k, struct kthread *t, pid_t child, int ev)
{
	struct kproc *p = kp_find(k, child);
	struct kthread *c = kt_add(k, child, child);
	bool shares = ev == PTRACE_EVENT_VFORK ||
		      (ev == PTRACE_EVENT_CLONE && same_mm(t->tgid, child));

	if (!p)
		p = kp_add(k, child, t->tgid);
	if (!p || !c) {
		cont(k, t->tid, 0);
		return;
	}
	p->ppid = t->tgid;
	p->shares_mm = shares;
	if (shares) {
		cont(k, t->tid, 0);
		if (p->child_stopped) /* its first stop came first */
			cont(k, child, 0);
		p->child_stopped = false;
		return;
	}
	p->hold = HOLD_BIRTH;
	p->parent_tid = t->tid;
	p->deadline = now_ms() + HOLD_MS;
	t->st = KT_STOPPED;
	birth_ready(k, p);
}

/* The first stop of a thread the keeper has not heard of: a thread of a traced process (its
 * creator's event comes later), following a new process (likewise), or something else. */
static struct kthread *unknown_thread(struct keeper *k, pid_t tid, int sig, int ev)
{
	pid_t tgid = status_pid(tid, "Tgid:");
	struct kproc *p;

	if (tgid && kp_find(k, tgid))
		return kt_add(k, tid, tgid);
	if (k->follow && tgid == tid && kp_find(k, status_pid(tid, "PPid:"))) {
		p = kp_add(k, tid, status_pid(tid, "PPid:"));
		if (p) {
			p->hold = HOLD_BIRTH;
			p->child_stopped = true;
			p->deadline = now_ms() + HOLD_MS;
			kt_add(k, tid, tid)->st = KT_STOPPED;
			return NULL; /* held until its parent's event says what it is */
		}
	}
	/* another process (a CLONE_VM clone, not following): let it go, with its signal */
	ptrace(PTRACE_DETACH, tid, 0, (void *)(long)(!ev && sig != (SIGTRAP | 0x80) ? sig : 0));
	return NULL;
}

/* One stop or death of a traced thread, as waitpid reported it. */
static void on_event(struct keeper *k, pid_t tid, int status)
{
	struct kthread *t;
	struct kproc *p;
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
	if (!t && !(t = unknown_thread(k, tid, sig, ev)))
		return;
	p = kp_find(k, t->tgid);
	switch (ev) {
	case PTRACE_EVENT_STOP:
		if (is_group_stop_sig(sig) && !ptrace(PTRACE_LISTEN, tid, 0, 0)) {
			t->st = KT_LISTENING;
			return;
		}
		/* a newborn's first stop: held until dpt has armed it */
		if (p && p->hold == HOLD_BIRTH && tid == p->pid && !p->child_stopped) {
			p->child_stopped = true;
			t->st = KT_STOPPED;
			birth_ready(k, p);
			return;
		}
		break; /* an interrupt, a new thread, the end of a group stop: run on */
	case PTRACE_EVENT_CLONE:
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK:
		if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg) || !msg)
			break;
		if (status_pid((pid_t)msg, "Tgid:") == t->tgid) {
			kt_add(k, (pid_t)msg, t->tgid);
			break;
		}
		if (k->follow && p) {
			new_child(k, t, (pid_t)msg, ev);
			return;
		}
		break; /* a CLONE_VM clone, not following: let go at its first stop */
	case PTRACE_EVENT_EXEC:
		/* a thread other than the leader exec'ed: it now has the leader's tid, and its old
		 * tid is gone without a report */
		if (!ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg) && (pid_t)msg != tid)
			kt_del(k, (pid_t)msg);
		if (k->follow && p) {
			/* to the end of the call, where the new program has not run yet */
			p->shares_mm = false;
			t->st = KT_EXEC_PENDING;
			ptrace(PTRACE_SYSCALL, tid, 0, 0);
			return;
		}
		break;
	case PTRACE_EVENT_EXIT:
		ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg);
		t->st = KT_EXITING;
		if (p && !p->shares_mm && p->hold == HOLD_NONE && k->resumed && !k->leaving &&
		    ends_process(k, t, msg)) {
			hold(k, p, HOLD_EXIT, tid, (int)msg);
			return;
		}
		break;
	case 0:
		if (sig == (SIGTRAP | 0x80) && t->st == KT_EXEC_PENDING && p) {
			hold(k, p, HOLD_EXEC, tid, 0);
			return;
		}
		/* a signal-delivery stop: deliver it, as without us */
		if (sig != (SIGTRAP | 0x80)) {
			cont(k, tid, sig);
			return;
		}
		break;
	}
	cont(k, tid, 0);
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

/* Add the threads /proc shows for process pid that we have not heard of yet (their first stop
 * is queued). */
static void add_listed_threads(struct keeper *k, pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	while (d && (de = readdir(d)))
		if (atoi(de->d_name) > 0)
			kt_add(k, atoi(de->d_name), pid);
	if (d)
		closedir(d);
}

/*
 * Detach one thread without waking it. PTRACE_DETACH needs the thread in a ptrace stop, and
 * stopping a running thread to detach it (PTRACE_INTERRUPT) is not invisible: one blocked in,
 * or entering, a call that a stop ends with EINTR (epoll_wait, an ioctl such as KVM_RUN) gets
 * EINTR. So only threads already stopped are detached here: one held; one in a stop not yet
 * reported, with the signal it was about to receive. The others -- running, blocked, or
 * listening in a group stop -- are detached by the kernel when the keeper exits, which wakes
 * none of them (a group stop stays in force). A signal that stops a thread in the last moments
 * before that exit would be lost with the stop; a final look shortens that window.
 */
static void detach_stopped(struct keeper *k, pid_t tgid, pid_t tid)
{
	char state = 0;
	int status;
	long sig = 0;

	if (pid_inject_task_state(tgid, tid, &state, NULL) || state != 't')
		return;
	if (waitpid(tid, &status, __WALL | WNOHANG) == tid) {
		if (!WIFSTOPPED(status))
			return;
		if (!(status >> 16) && WSTOPSIG(status) != (SIGTRAP | 0x80))
			sig = WSTOPSIG(status);
	}
	ptrace(PTRACE_DETACH, tid, 0, (void *)sig); /* fails for a listening one: fine */
}

/* Let every program go and exit: detach every thread; a program never resumed is resumed. */
static __attribute__((noreturn)) void leave(struct keeper *k)
{
	k->leaving = true;
	if (k->tracing) {
		drain_events(k);
		for (unsigned i = 0; i < k->nr_p; i++) {
			struct kproc *p = &k->p[i];

			/* held ones go on, detached: a newborn untracked, the exiting one exits */
			if (p->parent_tid)
				ptrace(PTRACE_DETACH, p->parent_tid, 0, 0);
			if (p->hold == HOLD_BIRTH && p->child_stopped)
				ptrace(PTRACE_DETACH, p->pid, 0, 0);
			if (p->held_tid)
				ptrace(PTRACE_DETACH, p->held_tid, 0, 0);
			add_listed_threads(k, p->pid);
		}
		for (unsigned i = 0; i < k->nr; i++)
			detach_stopped(k, k->t[i].tgid, k->t[i].tid);
		for (unsigned i = 0; i < k->nr; i++) /* the final look */
			detach_stopped(k, k->t[i].tgid, k->t[i].tid);
	}
	if (!k->resumed && k->root > 0)
		kill(k->root, SIGCONT);
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
	if (ptrace(PTRACE_SEIZE, k->root, 0, (void *)k->opts)) {
		err = -errno;
		answer(k, dpt_fail(err, "cannot trace pid %d: %s", k->root, strerror(-err)));
		return;
	}
	k->tracing = true;
	kp_add(k, k->root, 0);
	kt_add(k, k->root, k->root);
	/* the program is in a group stop: its group-stop trap comes at once; listen */
	err = wait_tid(k->root, &status, STOP_WAIT_MS);
	if (!err)
		on_event(k, k->root, status);
	answer(k, err ? dpt_fail(err, "pid %d did not stop for its keeper", k->root) : 0);
}

/* Is tid traced by us already (made by a thread seized already: TRACECLONE took it)? */
static bool traced_by_us(pid_t pid, pid_t tid)
{
	char path[64], buf[2048], *p;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	if (pid_read_file(path, buf, sizeof(buf)) <= 0 || !(p = strstr(buf, "TracerPid:")))
		return false;
	return atoi(p + strlen("TracerPid:")) == getpid();
}

/* Seize every thread of running process pid: PTRACE_SEIZE does not stop a thread; TRACECLONE
 * catches the threads a seized thread creates; a thread created by one not yet seized shows in
 * the next listing. Repeat until a listing brings nothing new. 1 if a new thread was seized. */
static int seize_threads(struct keeper *k, pid_t pid, int *err)
{
	char path[64];
	struct dirent *de;
	int seized = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d) {
		*err = dpt_fail(-ESRCH, "pid %d exited", pid);
		return 0;
	}
	while (!*err && (de = readdir(d))) {
		pid_t tid = atoi(de->d_name);

		if (tid <= 0 || kt_find(k, tid))
			continue;
		if (ptrace(PTRACE_SEIZE, tid, 0, (void *)k->opts)) {
			if (errno == ESRCH)
				continue; /* it exited meanwhile */
			if (errno == EPERM && traced_by_us(pid, tid)) {
				kt_add(k, tid, pid);
				continue;
			}
			*err = dpt_fail(-errno, "pid %d: cannot trace thread %d: %s", pid, tid,
					strerror(errno));
			break;
		}
		kt_add(k, tid, pid);
		seized = 1;
	}
	closedir(d);
	return seized;
}

/* Following: the children of process pid that it does not trace yet. */
static void add_children(struct keeper *k, pid_t pid, bool *more)
{
	pid_t *v = NULL;
	unsigned n = 0, cap = 0;

	pid_children(pid, &v, &n, &cap);
	for (unsigned i = 0; i < n; i++)
		if (v[i] > 0 && !kp_find(k, v[i])) {
			kp_add(k, v[i], pid);
			*more = true;
		}
	free(v);
}

/*
 * Attach mode (--hold, --follow, a cgroup's process): trace every thread of running process
 * pid -- following, of its descendants too, found in /proc and repeated until a pass finds
 * nothing new. A process that some other tracer holds is refused (what was seized so far stays
 * traced until dpt releases the keeper; it will).
 */
static void do_seize_all(struct keeper *k, pid_t pid)
{
	bool more = true;
	int err = 0;

	dpt_clear_error();
	k->tracing = true;
	k->resumed = true; /* running: hold it at its exit from now on, never SIGCONT it */
	if (!kp_find(k, pid))
		kp_add(k, pid, status_pid(pid, "PPid:"));
	for (unsigned pass = 0; more && !err && pass < 100; pass++) {
		more = false;
		for (unsigned i = 0; i < k->nr_p && !err; i++) {
			pid_t p = k->p[i].pid;

			more |= seize_threads(k, p, &err);
			if (err == -ESRCH && p != pid) { /* a descendant ended meanwhile */
				dpt_clear_error();
				err = 0;
			}
			if (k->follow)
				add_children(k, p, &more);
		}
	}
	if (!err && !kt_find(k, pid))
		err = dpt_fail(-ESRCH, "pid %d exited", pid);
	answer(k, err);
}

static void do_inject(struct keeper *k, pid_inject_fn fn, pid_t pid)
{
	struct kproc *p = kp_find(k, pid);
	struct pid_inject in;
	struct kthread *t = NULL;
	int err, err2, fd = -1;
	pid_t tid;

	dpt_clear_error();
	if (!k->tracing) { /* a launch guard only: inject as a plain injector would */
		err = pid_inject_attach(&in, pid, k->sock);
		if (!err) {
			err = fn(&in, NULL, &fd);
			err2 = pid_inject_detach(&in);
			err = err ? err : err2;
		}
		goto out;
	}
	drain_events(k);
	p = kp_find(k, pid);
	if (p && (p->hold == HOLD_BIRTH || p->hold == HOLD_EXEC)) {
		/* held in a stop already: inject there, and leave it there */
		tid = p->hold == HOLD_BIRTH ? p->pid : p->held_tid;
		err = pid_inject_attach_held(&in, pid, tid, k->opts, k->sock);
	} else {
		t = kt_find(k, pid);
		for (unsigned i = 0; (!t || t->st > KT_LISTENING) && i < k->nr; i++)
			if (k->t[i].tgid == pid)
				t = &k->t[i];
		if (!p || !t || t->st > KT_LISTENING || p->hold == HOLD_EXIT) {
			err = dpt_fail(-ESRCH, "pid %d is exiting", pid);
			goto out;
		}
		tid = t->tid;
		err = pid_inject_attach_traced(&in, pid, tid, k->opts, k->sock);
	}
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
	else if (t && !in.held)
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
	struct kproc *p;
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
		do_seize_all(k, req.pid);
		break;
	case REQ_RESUME:
		k->resumed = true;
		answer(k, kill(k->root, SIGCONT) ? -errno : 0);
		break;
	case REQ_INJECT:
		do_inject(k, (pid_inject_fn)req.fn, req.pid);
		break;
	case REQ_LET_GO:
		drain_events(k);
		p = kp_find(k, req.pid);
		if (p)
			let_go(k, p);
		answer(k, 0);
		break;
	default:
		answer(k, -EINVAL);
	}
}

/* Holds past their deadline end: dpt stopped answering (stopped with ^Z, say); the programs
 * must not wait for ever. The next deadline, or -1. */
static long expire_holds(struct keeper *k)
{
	long now = now_ms(), next = -1;

	for (unsigned i = 0; i < k->nr_p; i++) {
		struct kproc *p = &k->p[i];

		if (p->hold == HOLD_NONE)
			continue;
		if (now >= p->deadline)
			let_go(k, p);
		else if (next < 0 || p->deadline < next)
			next = p->deadline;
	}
	return next;
}

static __attribute__((noreturn)) void keeper_main(pid_t root, bool follow, int sock, int rep)
{
	struct keeper k = {.root = root, .sock = sock, .report = rep, .follow = follow};
	struct signalfd_siginfo si;
	sigset_t chld;

	k.opts = follow ? FOLLOW_OPTS : KEEPER_OPTS;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	k.sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC); /* SIGCHLD is blocked */
	for (;;) {
		struct pollfd pfd[2] = {{.fd = sock, .events = POLLIN}, {.fd = k.sfd, .events = POLLIN}};
		long next = expire_holds(&k), timeout = -1;

		if (next >= 0)
			timeout = next > now_ms() ? next - now_ms() : 0;
		if (k.sfd < 0 && k.tracing && (timeout < 0 || timeout > 10))
			timeout = 10; /* no signalfd: look for events every 10 ms */
		if (poll(pfd, 2, (int)timeout) < 0 && errno != EINTR)
			leave(&k);
		while (k.sfd >= 0 && read(k.sfd, &si, sizeof(si)) == sizeof(si))
			;
		if (k.tracing)
			drain_events(&k);
		if (k.leaving)
			leave(&k);
		if (pfd[0].revents)
			on_request(&k);
		if (k.tracing && !k.nr && k.root > 0)
			_exit(0); /* every program is gone; dpt sees EOF (a cgroup may fill again) */
	}
}

/* ---- in dpt ---- */

struct keeper_ref {
	pid_t root;   /* the program (0: free slot; -1: no program, a cgroup) */
	pid_t keeper; /* the keeper process */
	int sock;     /* requests and answers */
	int report;   /* reports; -1 once the keeper is gone */
	bool tracing;
	bool gone;     /* it exited (EOF on reports): injections go to an injector again */
	bool attached; /* the keeper of a process dpt attached to, not launched */
	pid_t *pids;   /* following: the other processes it traces */
	unsigned nr_pids, cap_pids;
};

/* The keepers of this dpt (one, in practice). */
static struct keeper_ref refs[MAX_KEEPERS];

/* The keeper whose root is pid (0: a free slot). */
static struct keeper_ref *ref_of_root(pid_t root)
{
	for (unsigned i = 0; i < MAX_KEEPERS; i++)
		if (refs[i].root == root && (root || !refs[i].keeper))
			return &refs[i];
	return NULL;
}

/* The keeper that traces pid: its root, or one of the processes it follows. */
static struct keeper_ref *ref_find(pid_t pid)
{
	struct keeper_ref *r = pid > 0 ? ref_of_root(pid) : NULL;

	for (unsigned i = 0; !r && pid > 0 && i < MAX_KEEPERS; i++)
		for (unsigned j = 0; refs[i].keeper && j < refs[i].nr_pids; j++)
			if (refs[i].pids[j] == pid)
				return &refs[i];
	return r;
}

static void ref_add_pid(struct keeper_ref *r, pid_t pid)
{
	for (unsigned i = 0; i < r->nr_pids; i++)
		if (r->pids[i] == pid)
			return;
	if (r->nr_pids == r->cap_pids) {
		unsigned cap = r->cap_pids ? 2 * r->cap_pids : 16;
		pid_t *v = realloc(r->pids, cap * sizeof(*v));

		if (!v)
			return;
		r->pids = v;
		r->cap_pids = cap;
	}
	r->pids[r->nr_pids++] = pid;
}

int pid_keeper_start(pid_t root, bool follow, pid_t *keeper)
{
	struct keeper_ref *r = ref_find(root) ? NULL : ref_of_root(0);
	int rv[2], keep[2], sock, err;
	pid_t c;

	if (!r)
		return dpt_fail(-EBUSY, "pid %d: no room for another keeper", root);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, rv))
		return dpt_fail(-errno, "socketpair: %s", strerror(errno));
	keep[0] = rv[1];
	keep[1] = pid_inject_hook_fd();
	err = pid_helper_fork(&c, &sock, keep, keep[1] >= 0 ? 2 : 1);
	if (err == 1)
		keeper_main(root, follow, sock, rv[1]);
	close(rv[1]);
	if (err) {
		close(rv[0]);
		return dpt_fail_ctx(err, "pid %d: starting its keeper", root);
	}
	/* a cgroup's keeper reports from the start, whether it traces anything yet or not */
	*r = (struct keeper_ref){.root = root ? root : -1, .keeper = c, .sock = sock,
				 .report = rv[0], .tracing = !root};
	*keeper = c;
	return 0;
}

bool pid_keeper_exists(pid_t pid)
{
	struct keeper_ref *r = ref_find(pid);

	return r && !r->gone;
}

/* Send a request and read the answer (fd: for REQ_INJECT). */
static int request(struct keeper_ref *r, struct keeper_req *req, int *fd)
{
	int dummy = -1, err;
	bool answered = false;

	if (send(r->sock, req, sizeof(*req), MSG_NOSIGNAL) != sizeof(*req))
		return dpt_fail(-ECHILD, "pid %d: its keeper (pid %d) is gone", r->root, r->keeper);
	err = pid_inject_recv_result(r->sock, req->pid ? req->pid : r->root, fd ? fd : &dummy,
				     &answered);
	if (!answered)
		return dpt_fail(err, "pid %d: its keeper (pid %d) exited without an answer",
				r->root, r->keeper);
	return err;
}

int pid_keeper_seize(pid_t root, bool running)
{
	struct keeper_ref *r = root > 0 ? ref_of_root(root) : NULL;
	struct keeper_req req = {.type = running ? REQ_SEIZE_ALL : REQ_SEIZE, .pid = root};
	int err;

	if (!r)
		return dpt_fail(-ESRCH, "pid %d has no keeper", root);
	err = request(r, &req, NULL);
	r->tracing = !err;
	r->attached = running;
	return err;
}

int pid_keeper_adopt(pid_t root, pid_t pid)
{
	struct keeper_ref *r = ref_of_root(root > 0 ? root : -1);
	struct keeper_req req = {.type = REQ_SEIZE_ALL, .pid = pid};
	int err;

	if (!r)
		return dpt_fail(-ESRCH, "pid %d has no keeper", root);
	ref_add_pid(r, pid);
	err = request(r, &req, NULL);
	r->tracing |= !err;
	r->attached = true;
	return err;
}

int pid_keeper_resume(pid_t root)
{
	struct keeper_ref *r = root > 0 ? ref_of_root(root) : NULL;
	struct keeper_req req = {.type = REQ_RESUME};

	if (!r)
		return dpt_fail(-ESRCH, "pid %d has no keeper", root);
	return request(r, &req, NULL);
}

int pid_keeper_inject(pid_t pid, pid_inject_fn fn, void *arg, int *fd)
{
	struct keeper_ref *r = ref_find(pid);
	struct keeper_req req = {.type = REQ_INJECT, .pid = pid, .fn = (uintptr_t)fn};

	*fd = -1;
	if (!r)
		return dpt_fail(-ESRCH, "pid %d has no keeper", pid);
	if (arg)
		return dpt_fail(-EINVAL, "pid %d: the keeper runs injections without arguments",
				pid);
	return request(r, &req, fd);
}

int pid_keeper_report_fd(pid_t root)
{
	struct keeper_ref *r = ref_of_root(root > 0 ? root : -1);

	return r && r->tracing ? r->report : -1;
}

int pid_keeper_event(pid_t root, struct pid_keeper_event *ev)
{
	struct keeper_ref *r = ref_of_root(root > 0 ? root : -1);
	ssize_t n;

	if (!r || r->report < 0)
		return 0;
	do
		n = recv(r->report, ev, sizeof(*ev), MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -EAGAIN;
	if (n == sizeof(*ev)) {
		if (ev->type == PID_KEEPER_BIRTH || ev->type == PID_KEEPER_EXEC)
			ref_add_pid(r, ev->pid);
		return 1;
	}
	close(r->report); /* EOF: the keeper has exited */
	r->report = -1;
	r->tracing = false;
	r->gone = true;
	return 0;
}

int pid_keeper_let_go(pid_t root, pid_t pid)
{
	struct keeper_ref *r = ref_of_root(root > 0 ? root : -1);
	struct keeper_req req = {.type = REQ_LET_GO, .pid = pid};

	if (!r || r->gone)
		return 0;
	return request(r, &req, NULL);
}

void pid_keeper_release(pid_t root)
{
	struct keeper_ref *r = ref_of_root(root > 0 ? root : -1);
	struct keeper_req req = {.type = REQ_RELEASE};

	if (!r || !r->keeper)
		return;
	if (send(r->sock, &req, sizeof(req), MSG_NOSIGNAL) != sizeof(req)) {
		/* it is gone already */
	}
	close(r->sock);
	if (r->report >= 0)
		close(r->report);
	pid_helper_reap(r->keeper);
	free(r->pids);
	*r = (struct keeper_ref){0};
}

bool pid_keeper_launched(pid_t pid)
{
	struct keeper_ref *r = pid > 0 ? ref_of_root(pid) : NULL;

	return r && r->keeper && !r->attached;
}
