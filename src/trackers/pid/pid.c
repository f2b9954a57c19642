/* pid.c - the pid tracker: any running process, exactly, from its page tables.
 *
 * Mechanism:
 *  1. open: check the target (exists, has memory, may be traced, not tracked already), pick a
 *     method by doing -- uffd (userfaultfd async write-protect + PAGEMAP_SCAN, uffd.c) or
 *     soft-dirty (clear_refs + pagemap bit 55, softdirty.c) -- choose the regions
 *     (maps.c; QEMU RAM blocks, qemu.c) and attach.
 *  2. start: read /proc/PID/maps, lay the regions out, arm every area.
 *  3. collect: read the maps again, so mappings that came or went are followed; arm the new
 *     ones; let the method set the bits of the pages written since the last collect.
 *  4. close: the method lets go; nothing of dpt's stays in the target.
 * The target's exit is seen through a pidfd (end_fd).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/tracker.h"
#include "trackers/pid/inject.h"
#include "trackers/pid/int.h"
#include "trackers/pid/kabi.h"
#include "trackers/pid/pid.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define PF_KTHREAD 0x00200000UL

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

static void read_comm(pid_t pid, char *comm, size_t size)
{
	char path[64];
	int n;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	n = pid_read_file(path, comm, size);
	if (n <= 0)
		snprintf(comm, size, "?");
	else if (comm[n - 1] == '\n')
		comm[n - 1] = 0;
}

static int count_entries(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* Open /proc/PID/pagemap and maps and read the maps. */
static int open_proc_files(struct pid_priv *p)
{
	char path[64];
	int err;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", p->pid);
	p->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (p->pagemap_fd < 0 && (errno == EACCES || errno == EPERM))
		return pid_permission_denied(p->pid, "read the page tables of");
	if (p->pagemap_fd < 0)
		return dpt_fail(errno == ENOENT ? -ESRCH : -errno, "%s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "/proc/%d/maps", p->pid);
	p->maps_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (p->maps_fd < 0)
		return dpt_fail(errno == ENOENT ? -ESRCH : -errno, "%s: %s", path, strerror(errno));
	err = pid_maps_read_fd(&p->maps, p->maps_fd);
	if (err)
		return dpt_fail(err, "%s: %s", path, strerror(-err));
	if (!p->maps.nr)
		return dpt_fail(-ESRCH, "pid %d (%s) has no memory (exiting?)", p->pid, p->comm);
	return 0;
}

/* Before anything touches the target: it exists, is a user process with memory, and dpt
 * may read its page tables. */
static int check_target(struct pid_priv *p)
{
	char path[64], state;
	unsigned long flags;
	int err;

	err = pid_inject_task_state(p->pid, p->pid, &state, &flags);
	if (err == -ENOENT || err == -ESRCH)
		return dpt_fail(-ESRCH, "no process with pid %d", p->pid);
	if (err)
		return dpt_fail(err, "pid %d: /proc/%d/stat: %s", p->pid, p->pid, strerror(-err));
	read_comm(p->pid, p->comm, sizeof(p->comm));
	if (flags & PF_KTHREAD)
		return dpt_fail(-EINVAL,
				"pid %d (%s) is a kernel thread: it has no user memory to "
				"track",
				p->pid, p->comm);
	if (state == 'Z' || state == 'X') {
		/*
		 * A zombie -- or a live process whose main thread exited (pthread_exit):
		 * /proc/PID shows the main thread, which has no memory any more, so its maps
		 * and pagemap are empty even though other threads run on.
		 */
		snprintf(path, sizeof(path), "/proc/%d/task", p->pid);
		if (count_entries(path) > 1)
			return dpt_fail(-ESRCH,
					"pid %d (%s): its main thread has exited; dpt "
					"cannot reach its memory through /proc/%d",
					p->pid, p->comm, p->pid);
		return dpt_fail(-ESRCH,
				"pid %d (%s) is a zombie: it has exited and holds no memory",
				p->pid, p->comm);
	}
	return open_proc_files(p);
}

/*
 * Another dpt (or anything else using userfaultfd on these ranges) shows in /proc/PID/smaps:
 * VmFlags "uw" (write-protect), "um" (missing), "ui" (minor) on the ranges it registered. The
 * kernel would refuse us with EBUSY anyway; checking first means we refuse before stopping any
 * thread of the target, with the reason. (A userfaultfd the target holds itself was refused
 * before: check_own_userfaultfd.)
 */
static int check_not_tracked(struct pid_priv *p)
{
	char path[64], line[4096];
	uint64_t s = 0, e = 0;
	bool ours = false;
	int err = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", p->pid);
	f = fopen(path, "re");
	if (!f)
		return 0; /* not fatal: EBUSY at register time says the same */
	while (!err && fgets(line, sizeof(line), f)) {
		uint64_t ls, le;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " ", &ls, &le) == 2 && strchr(line, ' ') &&
		    strchr(line, ':') > strchr(line, ' ')) {
			s = ls;
			e = le;
			ours = false;
			for (unsigned i = 0; i < p->cur.nr_areas && !ours; i++)
				ours = p->cur.areas[i].start < e && s < p->cur.areas[i].end;
			continue;
		}
		if (ours && !strncmp(line, "VmFlags:", 8) && strstr(line, " uw"))
			err = dpt_fail(-EBUSY,
				       "pid %d: 0x%" PRIx64 "-0x%" PRIx64 " is already "
				       "write-protected with a userfaultfd that the target does "
				       "not hold (is another dpt tracking it?)",
				       p->pid, s, e);
		else if (ours && !strncmp(line, "VmFlags:", 8) &&
			 (strstr(line, " um") || strstr(line, " ui")))
			err = dpt_fail(-EBUSY,
				       "pid %d: 0x%" PRIx64 "-0x%" PRIx64 " is registered with a "
				       "userfaultfd for missing pages, served by another process "
				       "(a snapshot restored through a page-fault handler, CRIU "
				       "lazy pages): dpt cannot track it without making that fail",
				       p->pid, s, e);
	}
	fclose(f);
	return err;
}

static int setup_regions(struct pid_priv *p, const struct dpt_target *target,
			 const struct pid_tracker_opts *xo)
{
	unsigned nr = xo ? xo->nr_regions : 0;
	enum pid_qemu_mode q = xo ? xo->qemu : PID_QEMU_AUTO;
	int err;

	if (q == PID_QEMU_ON || (q == PID_QEMU_AUTO && pid_qemu_detect(p->pid))) {
		p->qemu = calloc(1, sizeof(*p->qemu));
		if (!p->qemu)
			return dpt_fail(-ENOMEM, "out of memory");
		/* --region names its RAM blocks (or mappings); a launched QEMU has no RAM before
		 * its first instruction: its blocks are looked for at each collect */
		return pid_qemu_open(p->qemu, p->pid, target->qmp_path, nr ? xo->regions : NULL,
				     nr, pid_keeper_launched(p->pid), p->method == &pid_method_uffd);
	}
	if (!nr)
		return 0;
	p->sels = calloc(nr, sizeof(*p->sels));
	if (!p->sels)
		return dpt_fail(-ENOMEM, "out of memory");
	for (unsigned i = 0; i < nr; i++) {
		err = pid_sel_parse(&p->sels[i], xo->regions[i]);
		if (err)
			return err;
	}
	p->nr_sels = nr;
	return 0;
}

/* The selectors in force: the QEMU layout's, or the process layout's. */
static const struct pid_sel *selectors(const struct pid_priv *p, unsigned *nr)
{
	*nr = p->qemu ? p->qemu->nr_sels : p->nr_sels;
	return p->qemu ? p->qemu->sels : p->sels;
}

static void describe(struct dpt_tracker *t, struct pid_priv *p)
{
	char q[64];

	if (p->qemu) {
		pid_qemu_describe(p->qemu, q, sizeof(q));
		snprintf(t->target_desc, sizeof(t->target_desc), "pid %d (%s, %s)", p->pid,
			 p->comm, q);
	} else {
		snprintf(t->target_desc, sizeof(t->target_desc), "pid %d (%s)", p->pid, p->comm);
	}
	snprintf(t->end_reason, sizeof(t->end_reason), "pid %d (%s) exited", p->pid, p->comm);
}

/*
 * A userfaultfd of the target's own: one in its fd table means it registers (or will) some
 * of its memory with it -- QEMU receiving a postcopy migration or taking a background
 * snapshot, Firecracker restoring a snapshot through a page-fault handler, CRIU lazy pages.
 * A range can be registered with one userfaultfd only, so dpt registering first would make
 * the target's own registration fail (EBUSY), and the target with it: refused. Its fd number,
 * or 0 if it holds none.
 */
static int own_userfaultfd(pid_t pid)
{
	char path[32], link[64], fp[320];
	struct dirent *de;
	int fd = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	while (d && !fd && (de = readdir(d))) {
		ssize_t n;

		snprintf(fp, sizeof(fp), "%s/%s", path, de->d_name);
		n = readlink(fp, link, sizeof(link) - 1);
		if (n > 0 && (link[n] = 0, !strcmp(link, "anon_inode:[userfaultfd]")))
			fd = atoi(de->d_name);
	}
	if (d)
		closedir(d);
	return fd;
}

static int check_own_userfaultfd(struct pid_priv *p)
{
	int fd = own_userfaultfd(p->pid);

	if (!fd)
		return 0;
	return dpt_fail(-EBUSY,
			"pid %d (%s) holds a userfaultfd of its own (fd %d): it registers memory "
			"with it (a postcopy migration or background snapshot in QEMU, a snapshot "
			"restored through a page-fault handler, CRIU lazy pages), and a range can "
			"have one userfaultfd only, so dpt's would make its own fail; track it once "
			"it has let go of it (for QEMU: once the migration or snapshot has "
			"completed), or use --method soft-dirty where the kernel has it",
			p->pid, p->comm, fd);
}

static void pid_close(struct dpt_tracker *t);

/* --hold on a process dpt attached to: a keeper traces it from now on (keeper.c). */
static int hold_running(struct pid_priv *p)
{
	pid_t keeper;
	int err = pid_keeper_start(p->pid, &keeper);

	if (!err)
		err = pid_keeper_seize(p->pid, true);
	if (err)
		return dpt_fail_ctx(err, "--hold");
	dpt_debug("pid %d: held at its exit by keeper %d", p->pid, keeper);
	return 0;
}

static int pid_open(struct dpt_tracker *t, const struct dpt_target *target,
		    const struct dpt_tracker_opts *opts)
{
	const struct pid_tracker_opts *xo = opts ? opts->extra : NULL;
	const struct pid_sel *sels;
	struct pid_priv *p;
	unsigned nr_sels;
	int err = 0;

	t->end_fd = -1;
	if (target->kind != DPT_TARGET_PID || target->pid <= 0)
		return dpt_fail(-EINVAL, "the pid tracker needs a process id");
	p = calloc(1, sizeof(*p));
	if (!p)
		return dpt_fail(-ENOMEM, "out of memory");
	t->priv = p;
	p->pid = target->pid;
	p->pidfd = p->maps_fd = p->pagemap_fd = p->uffd = p->clear_refs_fd = p->keeper_fd = -1;

	err = check_target(p);
	if (err)
		goto fail;
	err = choose_method(opts ? opts->mode : NULL, &p->method);
	if (err)
		goto fail;
	if (p->method == &pid_method_uffd) {
		err = check_own_userfaultfd(p);
		if (err)
			goto fail;
	}
	err = setup_regions(p, target, xo);
	if (err)
		goto fail;
	/* strict: a region that is not (entirely) mapped is an error; a QEMU that waits has an
	 * empty layout */
	sels = selectors(p, &nr_sels);
	if (!p->qemu || p->qemu->wait == PID_QEMU_READY)
		err = pid_layout_build(&p->cur, &p->maps, sels, nr_sels, true, p->pid);
	if (err == -ENXIO && p->qemu && p->qemu->block_names[0]) {
		char why[512];

		snprintf(why, sizeof(why), "%s", dpt_last_error());
		dpt_clear_error();
		err = dpt_fail(err, "%s, nor a RAM block of that name (its RAM blocks: %s)", why,
			       p->qemu->block_names);
	}
	if (err)
		goto fail;
	if (p->method == &pid_method_uffd) {
		err = check_not_tracked(p);
		if (err)
			goto fail;
	}
	p->pidfd = syscall(SYS_pidfd_open, p->pid, 0);
	if (p->pidfd < 0) {
		err = dpt_fail(errno == ESRCH ? -ESRCH : -errno, "pid %d: pidfd_open: %s", p->pid,
			       strerror(errno));
		goto fail;
	}
	err = p->method->attach(p);
	if (err)
		goto fail;

	/* a program dpt launched: its keeper says when it is held at its exit */
	p->launched = pid_keeper_exists(p->pid);
	if (!p->launched && xo && xo->hold) {
		err = hold_running(p);
		if (err)
			goto fail;
	}
	p->keeper_fd = pid_keeper_report_fd(p->pid);
	p->no_hold = p->launched && p->keeper_fd < 0;
	p->kept = p->keeper_fd >= 0;
	t->end_fd = p->keeper_fd >= 0 ? p->keeper_fd : p->pidfd;
	snprintf(t->mode, sizeof(t->mode), "%s", p->method->name);
	t->has_bitmap = true;
	t->estimate = false;
	t->counts_discarded = true;
	t->nr_vcpus = 0;
	t->owner_pid = p->pid;
	t->total_pages = p->cur.total;
	describe(t, p);
	return 0;
fail:
	pid_close(t);
	return err;
}

/* How the target ended, from a wait status; with pass, end_status follows it (dpt's child). */
static void say_end(struct dpt_tracker *t, struct pid_priv *p, int status, bool pass)
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

/* The target has exited: reap it if it is our child (launch mode) and say how it ended. With
 * wait_ms, wait that long for it to finish exiting (a program its keeper has just let go). */
static void note_end(struct dpt_tracker *t, struct pid_priv *p, int wait_ms)
{
	struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
	siginfo_t si;

	if (p->ended)
		return;
	if (wait_ms && poll(&pfd, 1, wait_ms) != 1)
		return;
	p->ended = true;
	memset(&si, 0, sizeof(si));
	/* for a process that is not dpt's child: ECHILD, and end_reason stays "exited" */
	if (waitid(P_PIDFD, p->pidfd, &si, WEXITED | WNOHANG) || !si.si_pid)
		return;
	if (si.si_code == CLD_EXITED)
		say_end(t, p, W_EXITCODE(si.si_status, 0), true);
	else
		say_end(t, p, W_EXITCODE(0, si.si_status), true);
}

static bool target_exited(struct pid_priv *p)
{
	struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};

	return p->ended || p->held || (p->pidfd >= 0 && poll(&pfd, 1, 0) == 1);
}

/* The target has exited: say so, with what we know of how. */
static int target_gone(struct dpt_tracker *t, struct pid_priv *p)
{
	if (p->held)
		return dpt_fail(-ESRCH, "%s", t->end_reason);
	note_end(t, p, 0);
	return dpt_fail(-ESRCH,
			"%s; the writes of its last partial interval went with its memory (%s)",
			t->end_reason,
			p->kept	     ? "its keeper, which would have held it at its exit, was gone"
			: p->no_hold ? "launched with --no-hold"
				     : "dpt holds a process it attached to at its exit only with --hold");
}

/*
 * end_fd fired. The pidfd: the target has exited. The keeper's report fd (launch mode): the
 * program is held at its exit, its memory still there for the last collect -- or the keeper
 * is gone; then, unless the program went with it, track on without it.
 */
static bool pid_ended(struct dpt_tracker *t)
{
	struct pid_priv *p = t->priv;
	int status = 0, r;

	if (!p || p->keeper_fd < 0 || t->end_fd != p->keeper_fd)
		return true;
	r = pid_keeper_report(p->pid, &status);
	if (r == -EAGAIN)
		return false;
	if (r == 1) {
		p->held = true;
		say_end(t, p, status, p->launched);
		return true;
	}
	p->keeper_fd = -1;
	t->end_fd = p->pidfd;
	if (target_exited(p))
		return true;
	dpt_warn("pid %d (%s): its keeper is gone; dpt will not see the writes of its last "
		 "partial interval",
		 p->pid, p->comm);
	return false;
}

/*
 * The target called execve(): same pid, a new address space. Our userfaultfd, pagemap and
 * maps fds belong to the old one, which is gone. Attach again as open() did -- inject into the
 * new program, reopen the /proc files -- and forget the old layout, so every mapping is fresh:
 * the next sample counts what the new program populated since its exec, in its own regions
 * (regions_changed). A wrapper that execs (env, nice, taskset, sh -c 'exec ...') is thus
 * followed into the program it runs. QEMU block layouts are not carried over.
 */
static int reattach(struct dpt_tracker *t, struct pid_priv *p)
{
	int err;

	if (p->qemu)
		return dpt_fail(-ESRCH,
				"pid %d (%s) replaced its program (execve): its QEMU "
				"RAM blocks are gone",
				p->pid, p->comm);
	if (p->method == &pid_method_uffd && check_own_userfaultfd(p))
		return -EBUSY;
	p->method->detach(p);
	close(p->maps_fd);
	close(p->pagemap_fd);
	p->maps_fd = p->pagemap_fd = -1;
	free(p->scratch);
	p->scratch = NULL;
	read_comm(p->pid, p->comm, sizeof(p->comm));
	err = open_proc_files(p);
	if (!err)
		err = p->method->attach(p);
	if (err)
		return target_exited(p) ? (dpt_clear_error(), target_gone(t, p))
					: dpt_fail_ctx(err, "pid %d: after its execve", p->pid);
	p->cur.nr_areas = p->cur.nr_regions = 0;
	p->cur.total = 0;
	describe(t, p);
	dpt_debug("pid %d replaced its program with %s: tracking it afresh", p->pid, p->comm);
	return 0;
}

/* Read the maps again; follow an execve, report an exit. */
static int reread_maps(struct dpt_tracker *t, struct pid_priv *p)
{
	int err = pid_maps_read_fd(&p->maps, p->maps_fd);

	if (!err && p->maps.nr)
		return 0;
	if (target_exited(p))
		return target_gone(t, p);
	return reattach(t, p);
}

/*
 * The layout of the maps just read, under the selectors. A QEMU target is brought up to date
 * first (qemu.c): it may have stopped waiting, or gained or lost RAM blocks; its layout is
 * empty while it waits (a launched QEMU before it maps its RAM, one receiving a migration).
 */
static int build_layout(struct dpt_tracker *t, struct pid_priv *p, struct pid_layout *l)
{
	const struct pid_sel *sels;
	unsigned nr;

	if (p->qemu) {
		int r = pid_qemu_update(p->qemu, &p->maps);

		if (r < 0)
			return r;
		if (r > 0)
			describe(t, p);
		if (p->qemu->wait != PID_QEMU_READY) {
			l->nr_areas = l->nr_regions = 0;
			l->total = 0;
			return 0;
		}
	}
	sels = selectors(p, &nr);
	return pid_layout_build(l, &p->maps, sels, nr, false, p->pid);
}

/* Room for the per-page bitmaps of a layout of total pages. */
static int bitmaps_reserve(struct pid_priv *p, uint64_t total)
{
	size_t words = bitmap_words(total) ? bitmap_words(total) : 1;
	uint64_t **v[] = {&p->bitmap, &p->discarded, &p->has_data, &p->has_data_next};

	if (words <= p->bitmap_words)
		return 0;
	for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint64_t *bm = realloc(*v[i], words * sizeof(uint64_t));

		if (!bm)
			return dpt_fail(-ENOMEM, "out of memory");
		*v[i] = bm;
	}
	p->bitmap_words = words;
	return 0;
}

/*
 * Discarded pages: those found empty (gone, from the method) that held data -- present when
 * tracking began, or written since, and not discarded since -- and were not written again.
 * What held data is carried from one layout to the next by address: a page keeps its data
 * when its VMA is split, merged or replaced in place (munmap + mmap: the method then finds it
 * empty, and it counts as discarded); an address tracked for the first time holds none. On
 * return p->discarded holds the discarded pages of the interval and p->has_data what holds
 * data now, both numbered as p->next.
 */
static void account_discards(struct pid_priv *p, const uint64_t *bm, uint64_t *gone)
{
	size_t words = bitmap_words(p->next.total);
	uint64_t *data = p->has_data_next;

	memset(data, 0, words * sizeof(*data));
	pid_layout_carry(&p->next, data, &p->cur, p->has_data);
	for (size_t i = 0; i < words; i++) {
		uint64_t d = gone[i] & data[i] & ~bm[i];

		data[i] = (data[i] & ~gone[i]) | bm[i];
		gone[i] = d;
	}
	p->has_data_next = p->has_data;
	p->has_data = data;
}

/*
 * What this interval leaves out, said when it changes: areas another userfaultfd holds (the
 * target's own, registered since we armed its other memory), and, with the default
 * selection, shared writable memory. Both flag the sample as untracked.
 */
static unsigned say_untracked(struct pid_priv *p)
{
	char names[512];
	uint64_t shared = !p->qemu && !p->nr_sels ? pid_maps_shared(&p->maps, names, sizeof(names))
						   : 0;

	if (p->untracked != p->untracked_said && p->untracked)
		dpt_warn("pid %d (%s): %.1f MiB of its memory is registered with a userfaultfd "
			 "that is not dpt's (its own?): not tracked while it is",
			 p->pid, p->comm, p->untracked / 1048576.0);
	else if (p->untracked != p->untracked_said)
		dpt_info("pid %d (%s): all of its memory is tracked again", p->pid, p->comm);
	if (shared != p->shared_said && shared)
		dpt_warn("pid %d (%s): %.1f MiB of shared writable memory is not tracked: %s. "
			 "Shared memory is also written through the other processes that map it, "
			 "which dpt does not see; to track this process's writes to it anyway, "
			 "name it with --region",
			 p->pid, p->comm, shared / 1048576.0, names);
	p->untracked_said = p->untracked;
	p->shared_said = shared;
	return p->untracked || shared ? DPT_SAMPLE_UNTRACKED : 0;
}

/*
 * Regions tracked per huge page (hugetlbfs: a write there counts all the 4 KiB pages of its
 * huge page), said in a line when they first appear; the samples are flagged huge while any
 * is tracked.
 */
static unsigned say_huge(struct pid_priv *p, const struct pid_layout *l)
{
	uint64_t sig = 0;
	unsigned flags = 0;

	for (unsigned r = 0; r < l->nr_regions; r++)
		if (l->regions[r].granule > PID_PAGE) {
			sig = (sig ^ l->regions[r].start ^ l->regions[r].granule) * 1099511628211ULL;
			flags = DPT_SAMPLE_HUGE;
		}
	if (sig == p->huge_said)
		return flags;
	p->huge_said = sig;
	for (unsigned r = 0; r < l->nr_regions; r++) {
		const struct dpt_region *g = &l->regions[r];

		if (g->granule > PID_PAGE)
			dpt_warn("pid %d (%s): region %s (0x%" PRIx64 ", %.1f MiB) is backed by "
				 "%u KiB huge pages: writes there are seen per huge page, each "
				 "counting its %u pages",
				 p->pid, p->comm, g->name[0] ? g->name : "anonymous", g->start,
				 g->pages * PID_PAGE / 1048576.0, g->granule >> 10,
				 (unsigned)(g->granule / PID_PAGE));
	}
	return flags;
}

static int pid_start(struct dpt_tracker *t)
{
	struct pid_priv *p = t->priv;
	int err;

	err = reread_maps(t, p);
	if (err)
		return err;
	err = build_layout(t, p, &p->cur);
	if (err)
		return err;
	t->total_pages = p->cur.total;
	err = bitmaps_reserve(p, p->cur.total);
	if (err)
		return err;
	memset(p->has_data, 0, bitmap_words(p->cur.total) * sizeof(uint64_t));
	p->untracked = 0;
	err = p->method->arm(p, &p->cur, p->has_data);
	if (err)
		return err;
	say_untracked(p);
	say_huge(p, &p->cur);
	p->first = true;
	return 0;
}

static int pid_collect(struct dpt_tracker *t, struct dpt_sample *s)
{
	struct pid_priv *p = t->priv;
	struct pid_layout tmp;
	size_t words;
	bool changed;
	int err;

	err = reread_maps(t, p);
	if (err)
		return err;
	err = build_layout(t, p, &p->next);
	if (err)
		return err;
	pid_layout_mark_fresh(&p->next, &p->cur);
	err = bitmaps_reserve(p, p->next.total);
	if (err)
		return err;
	words = bitmap_words(p->next.total);
	memset(p->bitmap, 0, words * sizeof(*p->bitmap));
	memset(p->discarded, 0, words * sizeof(*p->discarded));
	p->untracked = 0;
	err = p->method->collect(p, &p->next, p->bitmap, p->discarded);
	if (err && target_exited(p)) {
		/* the mm died under the scan: that error means nothing */
		dpt_clear_error();
		return target_gone(t, p);
	}
	if (err)
		return err;
	account_discards(p, p->bitmap, p->discarded);
	changed = p->first || !pid_layout_same_regions(&p->next, &p->cur);
	tmp = p->cur;
	p->cur = p->next;
	p->next = tmp;
	p->first = false;

	t->total_pages = s->total = p->cur.total;
	s->dirty = bitmap_weight(p->bitmap, p->cur.total);
	s->discarded = bitmap_weight(p->discarded, p->cur.total);
	s->discarded_bitmap = p->discarded;
	s->page_size = PID_PAGE;
	s->flags = say_untracked(p) | say_huge(p, &p->cur);
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
	struct pid_priv *p = t->priv;

	if (!p)
		return;
	if (p->method)
		p->method->detach(p);
	/* a launched program: its keeper lets it go (finish exiting, if held) */
	pid_keeper_release(p->pid);
	if (p->pidfd >= 0) {
		if (target_exited(p))
			note_end(t, p, p->held ? 5000 : 0); /* reaps our child, says how it ended */
		close(p->pidfd);
	}
	if (p->maps_fd >= 0)
		close(p->maps_fd);
	if (p->pagemap_fd >= 0)
		close(p->pagemap_fd);
	pid_maps_fini(&p->maps);
	pid_layout_fini(&p->cur);
	pid_layout_fini(&p->next);
	free(p->bitmap);
	free(p->discarded);
	free(p->has_data);
	free(p->has_data_next);
	free(p->scratch);
	free(p->sels);
	if (p->qemu)
		pid_qemu_fini(p->qemu);
	free(p->qemu);
	free(p);
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
};
