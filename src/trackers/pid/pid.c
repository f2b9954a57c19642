/* pid.c - the pid tracker: any running process, or a tree of them, exactly, from its page
 * tables.
 *
 * Mechanism:
 *  1. open: pick a method by doing -- uffd (userfaultfd async write-protect + PAGEMAP_SCAN,
 *     uffd.c) or soft-dirty (clear_refs + pagemap bit 55, softdirty.c) -- and open the target
 *     (proc.c: checked, its regions chosen, attached). A program dpt launched has a keeper
 *     (keeper.c), its tracer, which holds it at its exit; so does a process attached with
 *     --hold. Following a tree (--follow, --cgroup), the keeper traces every process of it
 *     and each one is a process of the set (follow.c).
 *  2. start: arm every process.
 *  3. collect: each process's pages written since the last collect; following, one sample
 *     of them all, with a row per process.
 *  4. ended (end_fd fired): the target has exited, or its keeper reports -- the root held at
 *     its exit, or, following, a birth, an exec, an exit, handled there and then.
 *  5. close: every process is let go; nothing of dpt's stays in any.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/tracker.h"
#include "trackers/pid/int.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static const struct pid_method *const methods[] = {&pid_method_uffd, &pid_method_softdirty};

/* DPT_PID_DISABLE=uffd,soft-dirty makes a method's probe fail: for testing the error paths
 * of a kernel that lacks it. */
static int method_probe(const struct pid_method *m)
{
	const char *off = getenv("DPT_PID_DISABLE");

	if (off && strstr(off, m->name))
		return dpt_fail(-EOPNOTSUPP, "%s method disabled by DPT_PID_DISABLE", m->name);
	return m->probe();
}

static int choose_method(const char *mode, const struct pid_method **out)
{
	char why[2][256];
	int err;

	if (mode && strcmp(mode, "auto")) {
		for (unsigned i = 0; i < 2; i++) {
			if (strcmp(mode, methods[i]->name))
				continue;
			err = method_probe(methods[i]);
			if (err)
				return err;
			*out = methods[i];
			return 0;
		}
		return dpt_fail(-EINVAL,
				"unknown pid tracking mode '%s' (uffd, soft-dirty or auto)", mode);
	}
	for (unsigned i = 0; i < 2; i++) {
		dpt_clear_error();
		err = method_probe(methods[i]);
		if (!err) {
			*out = methods[i];
			return 0;
		}
		snprintf(why[i], sizeof(why[i]), "%s", dpt_last_error() ? dpt_last_error() : "");
	}
	dpt_clear_error();
	return dpt_fail(-EOPNOTSUPP,
			"this kernel can track a process neither with userfaultfd "
			"write-protect and PAGEMAP_SCAN (Linux >= 6.7) nor with soft-dirty "
			"(CONFIG_MEM_SOFT_DIRTY): %s; %s",
			why[0], why[1]);
}

static int pid_probe(const struct dpt_tracker_opts *opts)
{
	const struct pid_method *m;

	return choose_method(opts ? opts->mode : NULL, &m);
}

static struct pid_proc *root_proc(struct pid_set *S)
{
	return S->root && S->nr ? &S->v[0]->p : NULL;
}

static void describe(struct dpt_tracker *t, struct pid_set *S)
{
	struct pid_proc *p = root_proc(S);

	if (S->cgroup[0])
		snprintf(t->target_desc, sizeof(t->target_desc), "cgroup %.100s (%u processes)",
			 S->cgroup, pid_set_live(S));
	else if (S->follow)
		snprintf(t->target_desc, sizeof(t->target_desc), "pid %d (%s) and its descendants",
			 p->pid, p->comm);
	else
		pid_proc_describe(p, t->target_desc, sizeof(t->target_desc));
	if (p && !t->end_reason[0])
		snprintf(t->end_reason, sizeof(t->end_reason), "pid %d (%s) exited", p->pid,
			 p->comm);
}

static void pid_close(struct dpt_tracker *t);

/* A keeper traces the root from now on (--hold, --follow on a running process): keeper.c. */
static int keep_running(struct pid_set *S, bool follow)
{
	pid_t keeper;
	int err = pid_keeper_start(S->root, follow, &keeper);

	if (!err)
		err = pid_keeper_seize(S->root, true);
	if (err)
		return dpt_fail_ctx(err, follow ? "--follow" : "--hold");
	dpt_debug("pid %d: traced by keeper %d", S->root, keeper);
	return 0;
}

static int open_root(struct pid_set *S, const struct dpt_target *target,
		     const struct pid_tracker_opts *xo)
{
	struct pid_member *m = calloc(1, sizeof(*m));
	struct pid_proc_opts o = {
	    .regions = xo ? xo->regions : NULL, .nr_regions = xo ? xo->nr_regions : 0,
	    .qemu = xo ? xo->qemu : PID_QEMU_AUTO,
	    .qmp = {.path = target->qmp_path, .via = xo ? xo->qmp_via : NULL},
	    .launched = pid_keeper_launched(target->pid),
	};
	int err;

	if (!m || !(S->v = calloc(4, sizeof(*S->v))))
		return free(m), dpt_fail(-ENOMEM, "out of memory");
	S->cap = 4;
	S->v[S->nr++] = m;
	m->p.pidfd = -1;
	err = pid_proc_open(&m->p, target->pid, S->method, &o);
	if (err)
		return err;
	m->armed = true;
	m->ppid = pid_parent_of(target->pid);
	/* the processes of a followed tree take the same regions, without the root's QMP */
	S->child_opts = o;
	S->child_opts.qmp = (struct pid_qemu_qmp){0};
	S->child_opts.launched = false;
	S->child_opts.lax = true;
	/* a program dpt launched: its keeper says when it is held at its exit */
	S->launched = pid_keeper_exists(S->root);
	if (!S->launched && xo && (xo->hold || xo->follow)) {
		err = keep_running(S, xo->follow);
		if (err)
			return err;
	}
	if (S->follow)
		err = pid_set_add_tree(S);
	return err;
}

static int pid_open(struct dpt_tracker *t, const struct dpt_target *target,
		    const struct dpt_tracker_opts *opts)
{
	const struct pid_tracker_opts *xo = opts ? opts->extra : NULL;
	struct pid_set *S;
	int err;

	t->end_fd = -1;
	if (target->kind != DPT_TARGET_PID || (target->pid <= 0 && !(xo && xo->cgroup)))
		return dpt_fail(-EINVAL, "the pid tracker needs a process id");
	S = calloc(1, sizeof(*S));
	if (!S)
		return dpt_fail(-ENOMEM, "out of memory");
	t->priv = S;
	S->keeper_fd = -1;
	S->root = xo && xo->cgroup ? 0 : target->pid;
	S->follow = xo && (xo->follow || xo->cgroup);
	/* what is wrong with the target first, then with the kernel */
	err = S->root ? pid_proc_check(S->root) : 0;
	if (!err)
		err = choose_method(opts ? opts->mode : NULL, &S->method);
	if (!err && xo && xo->cgroup) {
		S->child_opts = (struct pid_proc_opts){.regions = xo->regions,
						       .nr_regions = xo->nr_regions,
						       .qemu = xo->qemu, .lax = true};
		err = pid_set_cgroup_path(S, xo->cgroup);
		if (!err)
			err = pid_set_add_cgroup(S);
	} else if (!err) {
		err = open_root(S, target, xo);
	}
	if (err)
		goto fail;
	S->keeper_fd = pid_keeper_report_fd(S->root);
	S->no_hold = S->launched && S->keeper_fd < 0;
	S->kept = S->keeper_fd >= 0;
	t->end_fd = S->keeper_fd >= 0 ? S->keeper_fd : root_proc(S) ? root_proc(S)->pidfd : -1;
	snprintf(t->mode, sizeof(t->mode), "%s", S->method->name);
	t->has_bitmap = true;
	t->estimate = false;
	t->counts_discarded = true;
	t->per_process = S->follow;
	t->nr_vcpus = 0;
	t->owner_pid = S->root ? S->root : getpid();
	t->total_pages = root_proc(S) && !S->follow ? root_proc(S)->cur.total : 0;
	describe(t, S);
	return 0;
fail:
	pid_close(t);
	return err;
}

/* How the root ended, from a wait status; with pass, end_status follows it (dpt's child). */
static void say_end(struct dpt_tracker *t, struct pid_proc *p, int status, bool pass)
{
	if (WIFEXITED(status)) {
		t->end_status = pass ? WEXITSTATUS(status) : 0;
		snprintf(t->end_reason, sizeof(t->end_reason), "pid %d (%s) exited with status %d",
			 p->pid, p->comm, WEXITSTATUS(status));
	} else {
		t->end_status = pass ? 128 + WTERMSIG(status) : 0;
		snprintf(t->end_reason, sizeof(t->end_reason),
			 "pid %d (%s) was killed by signal %d (%s)", p->pid, p->comm,
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	}
}

/* The root has exited: reap it if it is our child (launch mode) and say how it ended. With
 * wait_ms, wait that long for it to finish exiting (a program its keeper has just let go). */
static void note_end(struct dpt_tracker *t, struct pid_set *S, int wait_ms)
{
	struct pid_proc *p = root_proc(S);
	struct pollfd pfd = {.fd = p ? p->pidfd : -1, .events = POLLIN};
	siginfo_t si;

	if (S->ended || !p || p->pidfd < 0)
		return;
	if (wait_ms && poll(&pfd, 1, wait_ms) != 1)
		return;
	S->ended = true;
	memset(&si, 0, sizeof(si));
	/* for a process that is not dpt's child: ECHILD, and end_reason stays "exited" */
	if (waitid(P_PIDFD, p->pidfd, &si, WEXITED | WNOHANG) || !si.si_pid)
		return;
	if (si.si_code == CLD_EXITED)
		say_end(t, p, W_EXITCODE(si.si_status, 0), true);
	else
		say_end(t, p, W_EXITCODE(0, si.si_status), true);
}

/* The root has exited and took its last writes along: say so, with what we know of how. */
static int root_gone(struct dpt_tracker *t, struct pid_set *S)
{
	if (S->held)
		return dpt_fail(-ESRCH, "%s", t->end_reason);
	note_end(t, S, 0);
	dpt_clear_error();
	return dpt_fail(-ESRCH,
			"%s; the writes of its last partial interval went with its memory (%s)",
			t->end_reason,
			S->kept	     ? "its keeper, which would have held it at its exit, was gone"
			: S->no_hold ? "launched with --no-hold"
				     : "dpt holds a process it attached to at its exit only with --hold");
}

/*
 * end_fd fired. The root's pidfd: it has exited. The keeper's report fd: the root is held at
 * its exit, its memory still there for the last collect; following, a birth, exec or exit to
 * handle now (the tree has ended when no process is left); or the keeper is gone -- then,
 * unless the root went with it, track on without it.
 */
static bool pid_ended(struct dpt_tracker *t)
{
	struct pid_set *S = t->priv;
	struct pid_keeper_event ev;
	int r, status = 0;
	bool root_exited = false;

	if (!S || S->keeper_fd < 0 || t->end_fd != S->keeper_fd)
		return true;
	while ((r = pid_keeper_event(S->root, &ev)) == 1) {
		if (!S->follow) {
			S->held = true;
			say_end(t, root_proc(S), ev.status, S->launched);
			return true;
		}
		pid_set_event(S, &ev, &status, &root_exited);
		if (root_exited)
			say_end(t, root_proc(S), status, S->launched);
	}
	describe(t, S);
	if (r == 0) {
		S->keeper_fd = -1;
		t->end_fd = root_proc(S) ? root_proc(S)->pidfd : -1;
		if (root_proc(S) && pid_proc_exited(root_proc(S)))
			return true;
		dpt_warn("%s: its keeper is gone; dpt will not see the writes of its last partial "
			 "interval%s",
			 t->target_desc, S->follow ? ", nor follow new processes" : "");
		return false;
	}
	/* a followed tree has ended when its last process has (a cgroup may fill again) */
	return S->follow && !S->cgroup[0] && !pid_set_live(S);
}

static int pid_start(struct dpt_tracker *t)
{
	struct pid_set *S = t->priv;
	int err = 0;

	for (unsigned i = 0; !err && i < S->nr; i++) {
		struct pid_member *m = S->v[i];

		if (!m->armed || m->exited)
			continue;
		err = pid_proc_start(&m->p);
		if (err == -ESRCH && S->follow) { /* it ended meanwhile */
			dpt_clear_error();
			err = 0;
		}
	}
	if (err && root_proc(S) && pid_proc_exited(root_proc(S)))
		return root_gone(t, S);
	t->total_pages = root_proc(S) && !S->follow ? root_proc(S)->cur.total : 0;
	return err;
}

static int pid_collect(struct dpt_tracker *t, struct dpt_sample *s)
{
	struct pid_set *S = t->priv;
	struct pid_proc *p = root_proc(S);
	bool changed = false;
	int err;

	if (S->follow) {
		err = pid_set_collect(S, s);
		if (!err) {
			t->total_pages = s->total;
			describe(t, S);
		}
		return err;
	}
	s->flags = 0;
	err = pid_proc_collect(p, &s->flags, &changed);
	if (err == -ESRCH)
		return root_gone(t, S);
	if (err)
		return err;
	if (p->execs) /* followed into a new program: say it */
		describe(t, S);
	t->total_pages = s->total = p->cur.total;
	s->dirty = bitmap_weight(p->bitmap, p->cur.total);
	s->discarded = bitmap_weight(p->discarded, p->cur.total);
	s->discarded_bitmap = p->discarded;
	s->page_size = PID_PAGE;
	s->nr_vcpus = 0;
	s->vcpu_dirty = NULL;
	s->bitmap = p->bitmap;
	s->nr_regions = p->cur.nr_regions;
	s->regions = p->cur.regions;
	s->regions_changed = changed;
	return 0;
}

static void pid_close(struct dpt_tracker *t)
{
	struct pid_set *S = t->priv;
	struct pid_proc *p;

	if (!S)
		return;
	p = root_proc(S);
	/* nothing of dpt's left in any process first, then the keeper lets them go */
	for (unsigned i = 0; i < S->nr; i++)
		if (S->v[i]->p.method)
			S->v[i]->p.method->detach(&S->v[i]->p);
	pid_keeper_release(S->root);
	if (p && p->pidfd >= 0 && (S->held || pid_proc_exited(p)))
		note_end(t, S, S->held ? 5000 : 0); /* reaps our child, says how it ended */
	pid_set_fini(S);
	free(S);
	t->priv = NULL;
	t->end_fd = -1;
}

const struct dpt_tracker_ops pid_tracker_ops = {
    .name = "pid",
    .probe = pid_probe,
    .open = pid_open,
    .start = pid_start,
    .collect = pid_collect,
    .ended = pid_ended,
    .close = pid_close,
    .zscan_prepare = pid_zscan_prepare,
    .zscan_run = pid_zscan_run,
    .zscan_free = pid_zscan_free,
};
