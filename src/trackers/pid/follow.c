/* follow.c - a tree of processes, or a cgroup's, tracked as one target with a row each.
 *
 * Mechanism:
 *  1. The keeper (keeper.c) traces every process of the tree: the root's descendants that
 *     run when dpt starts (read from /proc/PID/task/TID/children) or the processes of the
 *     cgroup (its cgroup.procs, read again before each collect for those that joined), and,
 *     through its fork/vfork/clone events, every process born since.
 *  2. A birth is reported while the child and its parent are held: the child is opened and
 *     armed before its first instruction, the pages the kernel wrote for it before it ran
 *     noted (proc.c), then both go on. An execve() is reported at its end: the process is
 *     attached afresh in its new program, which then counts what it populated since its
 *     exec. An exit is reported while the process is held with its memory: its last partial
 *     interval is read there and then, and sampled at the interval's end.
 *  3. Each interval, every process is collected, and one sample made of them all: their
 *     regions one after another (named "PID:name"), their bitmaps side by side, and a row per
 *     process (pid, parent, comm, dirty, discarded, total, flags) whose counts add up to the
 *     sample's.
 * A process that cannot be tracked (refused, or its arming failed) stays in the set, flagged
 * untracked after a line saying why, so that its exit is still let go and its children still
 * followed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "trackers/pid/int.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

struct pid_member *pid_set_find(struct pid_set *S, pid_t pid)
{
	for (unsigned i = 0; i < S->nr; i++)
		if (S->v[i]->p.pid == pid && !S->v[i]->gone)
			return S->v[i];
	return NULL;
}

unsigned pid_set_live(const struct pid_set *S)
{
	unsigned n = 0;

	for (unsigned i = 0; i < S->nr; i++)
		n += !S->v[i]->exited && !S->v[i]->gone;
	return n;
}

pid_t pid_parent_of(pid_t pid)
{
	char path[64], buf[2048], *p;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (pid_read_file(path, buf, sizeof(buf)) <= 0 || !(p = strstr(buf, "PPid:")))
		return 0;
	return (pid_t)atoi(p + 5);
}

struct pid_member *pid_set_add(struct pid_set *S, pid_t pid, pid_t ppid, enum pid_add how)
{
	struct pid_member *m = calloc(1, sizeof(*m));
	char comm[32];
	int err;

	if (!m)
		return NULL;
	if (S->nr == S->cap) {
		unsigned cap = S->cap ? 2 * S->cap : 16;
		struct pid_member **v = realloc(S->v, cap * sizeof(*v));

		if (!v) {
			free(m);
			return NULL;
		}
		S->v = v;
		S->cap = cap;
	}
	S->v[S->nr++] = m;
	S->set_changed = true;
	m->ppid = ppid;
	m->flags = DPT_PROC_BORN;
	dpt_clear_error();
	err = pid_proc_open(&m->p, pid, S->method, &S->child_opts);
	if (!err && how == PID_ADD_BIRTH)
		err = pid_proc_note_birth(&m->p);
	if (!err && how == PID_ADD_EXEC)
		pid_proc_fresh(&m->p); /* it counts what its new program populated */
	else if (!err)
		err = pid_proc_start(&m->p);
	if (!err) {
		m->armed = true;
		return m;
	}
	pid_read_comm(pid, comm, sizeof(comm));
	if (err != -ESRCH) /* one that exited meanwhile is not worth a line */
		dpt_warn("pid %d (%s): not tracked: %s", pid, comm,
			 dpt_last_error() ? dpt_last_error() : strerror(-err));
	dpt_clear_error();
	pid_proc_close(&m->p);
	m->p.pid = pid;
	snprintf(m->p.comm, sizeof(m->p.comm), "%s", comm);
	m->flags |= DPT_PROC_UNTRACKED;
	m->exited = err == -ESRCH;
	return m;
}

int pid_set_add_tree(struct pid_set *S)
{
	pid_t *v = NULL;
	unsigned n = 0, cap = 0;

	/* breadth first: each process's children after it */
	pid_children(S->root, &v, &n, &cap);
	for (unsigned i = 0; i < n; i++) {
		pid_t c = v[i];

		if (pid_set_find(S, c) || pid_keeper_adopt(S->root, c)) {
			dpt_clear_error(); /* known already, or gone meanwhile */
			continue;
		}
		pid_set_add(S, c, pid_parent_of(c), PID_ADD_RUNNING);
		pid_children(c, &v, &n, &cap);
	}
	free(v);
	return 0;
}

int pid_set_cgroup_path(struct pid_set *S, const char *arg)
{
	char dir[512] = "", mnt[256] = "", line[4096];
	struct statfs sf;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	/* the cgroup2 mount: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - cgroup2 SRC ..." */
	while (f && !mnt[0] && fgets(line, sizeof(line), f)) {
		char *dash = strstr(line, " - cgroup2 ");

		if (dash)
			sscanf(line, "%*s %*s %*s %*s %255s", mnt);
	}
	if (f)
		fclose(f);
	if (arg[0] == '/')
		snprintf(dir, sizeof(dir), "%s", arg);
	else if (mnt[0])
		snprintf(dir, sizeof(dir), "%s/%s", mnt, arg);
	if (!dir[0] || statfs(dir, &sf) || (uint32_t)sf.f_type != CGROUP2_SUPER_MAGIC)
		return dpt_fail(-ENOTDIR, "--cgroup %s: not a cgroup v2 directory%s%s%s", arg,
				mnt[0] ? " (cgroup2 is mounted at " : " (no cgroup2 is mounted)",
				mnt[0] ? mnt : "", mnt[0] ? ")" : "");
	snprintf(S->cgroup, sizeof(S->cgroup), "%.480s/cgroup.procs", dir);
	return 0;
}

int pid_set_add_cgroup(struct pid_set *S)
{
	char buf[65536];
	pid_t keeper;
	int n, err;

	if (!S->keeper_started) {
		err = pid_keeper_start(0, true, &keeper);
		if (err)
			return err;
		S->keeper_started = true;
	}
	n = pid_read_file(S->cgroup, buf, sizeof(buf));
	if (n < 0)
		return dpt_fail(n, "%s: %s", S->cgroup, strerror(-n));
	for (char *s = buf, *e; *s; s = e) {
		pid_t pid = (pid_t)strtol(s, &e, 10);

		if (e == s)
			break;
		if (pid <= 0 || pid_set_find(S, pid))
			continue;
		if (pid_keeper_adopt(0, pid)) { /* gone meanwhile, or traced by someone else */
			dpt_debug("pid %d: %s", pid, dpt_last_error());
			dpt_clear_error();
			continue;
		}
		pid_set_add(S, pid, pid_parent_of(pid), PID_ADD_RUNNING);
	}
	return 0;
}

void pid_set_event(struct pid_set *S, const struct pid_keeper_event *ev, int *root_status,
		   bool *root_exited)
{
	struct pid_member *m = pid_set_find(S, ev->pid);
	bool changed = false;
	int err;

	switch (ev->type) {
	case PID_KEEPER_BIRTH:
		if (!m)
			pid_set_add(S, ev->pid, ev->ppid, PID_ADD_BIRTH);
		break;
	case PID_KEEPER_EXEC:
		if (!m) { /* a vfork child, which shared its parent's memory until now */
			pid_set_add(S, ev->pid, pid_parent_of(ev->pid), PID_ADD_EXEC);
			break;
		}
		m->flags |= DPT_PROC_EXEC;
		if (!m->armed || m->exited)
			break;
		err = pid_proc_exec(&m->p);
		if (err) {
			dpt_warn("pid %d (%s): not tracked after its execve: %s", m->p.pid,
				 m->p.comm, dpt_last_error() ? dpt_last_error() : strerror(-err));
			dpt_clear_error();
			m->flags |= DPT_PROC_UNTRACKED;
			m->armed = false;
		}
		S->set_changed = true;
		break;
	case PID_KEEPER_EXIT:
		if (ev->pid == S->root) {
			*root_status = ev->status;
			*root_exited = true;
		}
		if (!m || m->exited)
			break;
		/* held with its memory: its last partial interval, read now */
		if (m->armed && pid_proc_collect(&m->p, &m->sflags, &changed)) {
			dpt_clear_error();
			m->flags |= DPT_PROC_LOST;
		}
		m->flags |= DPT_PROC_EXITED;
		m->exited = true;
		S->set_changed |= changed;
		break;
	}
	pid_keeper_let_go(S->root, ev->pid);
}

void pid_member_region_name(char *dst, size_t size, pid_t pid, const char *name)
{
	size_t n = strlen(name), k = (size_t)snprintf(dst, size, "%d:", pid), room = size - 1 - k;

	if (n <= room) {
		memcpy(dst + k, name, n + 1);
	} else {
		memcpy(dst + k, "...", 3);
		memcpy(dst + k + 3, name + n - (room - 3), room - 3);
		dst[size - 1] = 0;
	}
}

static int reserve(struct pid_set *S, uint64_t total, unsigned nr_regions)
{
	size_t words = bitmap_words(total) ? bitmap_words(total) : 1;

	if (words > S->words) {
		uint64_t *a = realloc(S->bitmap, words * sizeof(*a)), *b;

		if (a)
			S->bitmap = a;
		b = a ? realloc(S->discarded, words * sizeof(*b)) : NULL;
		if (!b)
			return dpt_fail(-ENOMEM, "out of memory");
		S->discarded = b;
		S->words = words;
	}
	if (nr_regions > S->cap_regions) {
		struct dpt_region *r = realloc(S->regions, nr_regions * sizeof(*r));

		if (!r)
			return dpt_fail(-ENOMEM, "out of memory");
		S->regions = r;
		S->cap_regions = nr_regions;
	}
	if (S->nr > S->cap_rows) {
		struct dpt_proc *r = realloc(S->rows, S->nr * sizeof(*r));

		if (!r)
			return dpt_fail(-ENOMEM, "out of memory");
		S->rows = r;
		S->cap_rows = S->nr;
	}
	memset(S->bitmap, 0, words * sizeof(uint64_t));
	memset(S->discarded, 0, words * sizeof(uint64_t));
	return 0;
}

/* Members whose last interval has been sampled leave the set (the root's stays, for its
 * end to be reaped and said). */
static void drop_reported(struct pid_set *S)
{
	unsigned k = 0;

	for (unsigned i = 0; i < S->nr; i++) {
		struct pid_member *m = S->v[i];

		if (m->reported && m->p.pid == S->root)
			m->gone = true;
		if (!m->reported || m->p.pid == S->root) {
			S->v[k++] = m;
			continue;
		}
		pid_proc_close(&m->p);
		free(m);
		S->set_changed = true;
	}
	S->nr = k;
}

/* Does a member give pages to this sample? (Armed, and its last interval not lost.) */
static bool contributes(const struct pid_member *m)
{
	return !m->gone && m->armed && !(m->flags & DPT_PROC_LOST);
}

int pid_set_collect(struct pid_set *S, struct dpt_sample *s)
{
	uint64_t total = 0, base = 0;
	unsigned nr_regions = 0, nr_rows = 0, flags = 0;
	bool changed = S->set_changed;
	int err;

	drop_reported(S);
	if (S->cgroup[0] && pid_set_add_cgroup(S)) /* the processes that joined it */
		dpt_clear_error();
	changed |= S->set_changed;
	for (unsigned i = 0; i < S->nr; i++) {
		struct pid_member *m = S->v[i];
		bool ch = false;

		if (m->gone || !m->armed || m->exited)
			continue;
		err = pid_proc_collect(&m->p, &m->sflags, &ch);
		if (err == -ESRCH) { /* it exited without the keeper holding it */
			m->exited = true;
			m->flags |= DPT_PROC_EXITED | DPT_PROC_LOST;
		} else if (err) {
			dpt_warn("pid %d (%s): tracking failed: %s", m->p.pid, m->p.comm,
				 dpt_last_error() ? dpt_last_error() : strerror(-err));
			m->flags |= DPT_PROC_UNTRACKED;
			m->armed = false;
		}
		dpt_clear_error();
		changed |= ch;
	}
	for (unsigned i = 0; i < S->nr; i++)
		if (contributes(S->v[i])) {
			total += S->v[i]->p.cur.total;
			nr_regions += S->v[i]->p.cur.nr_regions;
		}
	err = reserve(S, total, nr_regions);
	if (err)
		return err;
	nr_regions = 0;
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < S->nr; i++) {
		struct pid_member *m = S->v[i];
		struct dpt_proc *row;
		const struct pid_proc *p = &m->p;

		if (m->gone)
			continue;
		row = &S->rows[nr_rows++];
		memset(row, 0, sizeof(*row));
		row->pid = p->pid;
		row->ppid = m->ppid;
		snprintf(row->comm, sizeof(row->comm), "%.15s", p->comm);
		row->flags = m->flags;
		flags |= m->sflags;
		if (m->flags & (DPT_PROC_LOST | DPT_PROC_UNTRACKED))
			flags |= DPT_SAMPLE_UNTRACKED;
		if (!contributes(m))
			continue;
		row->total = p->cur.total;
		row->dirty = bitmap_weight(p->bitmap, p->cur.total);
		row->discarded = bitmap_weight(p->discarded, p->cur.total);
		bitmap_copy_range(S->bitmap, base, p->bitmap, 0, p->cur.total);
		bitmap_copy_range(S->discarded, base, p->discarded, 0, p->cur.total);
		for (unsigned r = 0; r < p->cur.nr_regions; r++) {
			struct dpt_region *g = &S->regions[nr_regions++];

			*g = p->cur.regions[r];
			g->first_page += base;
			pid_member_region_name(g->name, sizeof(g->name), p->pid, p->cur.regions[r].name);
		}
		s->dirty += row->dirty;
		s->discarded += row->discarded;
		base += p->cur.total;
	}
	for (unsigned i = 0; i < S->nr; i++) {
		S->v[i]->reported = S->v[i]->exited;
		S->v[i]->flags = 0;
		S->v[i]->sflags = 0;
	}
	S->set_changed = false;
	s->total = total;
	s->page_size = PID_PAGE;
	s->flags = flags;
	s->bitmap = S->bitmap;
	s->discarded_bitmap = S->discarded;
	s->regions = S->regions;
	s->nr_regions = nr_regions;
	s->regions_changed = changed;
	s->procs = S->rows;
	s->nr_procs = nr_rows;
	return 0;
}

void pid_set_fini(struct pid_set *S)
{
	for (unsigned i = 0; i < S->nr; i++) {
		pid_proc_close(&S->v[i]->p);
		free(S->v[i]);
	}
	free(S->v);
	free(S->bitmap);
	free(S->discarded);
	free(S->regions);
	free(S->rows);
	memset(S, 0, sizeof(*S));
}
