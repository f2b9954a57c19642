/* uffd.c - the pid tracker's uffd method: userfaultfd write-protect (async) + PAGEMAP_SCAN.
 *
 * Mechanism (Linux >= 6.7):
 *  1. Make the target create a userfaultfd (ptrace syscall injection, run by a helper process
 *     so that dpt's death cannot interrupt it, inject.c), take a copy with pidfd_getfd(),
 *     close the target's copy, pass ours to dpt (SCM_RIGHTS): dpt holds the only reference.
 *  2. UFFDIO_API with WP_ASYNC | WP_UNPOPULATED: a write to a protected page is not sent to
 *     any handler; the kernel just clears the page's uffd-wp bit and lets the write proceed.
 *  3. UFFDIO_REGISTER (mode WP) and UFFDIO_WRITEPROTECT every tracked area: every page,
 *     populated or not, is now protected.
 *  4. Each interval, one PAGEMAP_SCAN per area on /proc/PID/pagemap returns the pages whose
 *     bit is clear (PAGE_IS_WRITTEN) and, in the same walk under the page table lock, sets it
 *     again (PM_SCAN_WP_MATCHING): read and re-arm are one atomic step per page, so no write
 *     is lost and none is counted twice.
 * When dpt's copy is closed, also by the kernel when dpt dies, the userfaultfd context is
 * released and every range unregistered: the target is left as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "trackers/pid/inject.h"
#include "trackers/pid/int.h"
#include "trackers/pid/kabi.h"

#define UFFD_FEATURES (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED)
#define SCAN_VEC_LEN  4096

static int uffd_api(int fd)
{
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURES};

	if (ioctl(fd, UFFDIO_API, &api))
		return -errno;
	return 0;
}

static int uffd_register(int fd, uint64_t start, uint64_t end)
{
	struct uffdio_register reg = {
	    .range = {.start = start, .len = end - start},
	    .mode = UFFDIO_REGISTER_MODE_WP,
	};

	return ioctl(fd, UFFDIO_REGISTER, &reg) ? -errno : 0;
}

static int uffd_protect(int fd, uint64_t start, uint64_t end)
{
	struct uffdio_writeprotect wp = {
	    .range = {.start = start, .len = end - start},
	    .mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};

	return ioctl(fd, UFFDIO_WRITEPROTECT, &wp) ? -errno : 0;
}

/* One PAGEMAP_SCAN query: which pages match (struct pm_scan_arg's masks), what to do to them
 * (flags), what to return; returned ranges whose categories intersect skip are passed over. */
struct scan_q {
	uint64_t flags, mask, inverted, anyof, ret, skip;
};

/*
 * One PAGEMAP_SCAN walk over [start, end), continued from walk_end whenever the result
 * vector fills up. Each returned range is passed to fn unless its categories intersect q->skip.
 */
static int scan(int pagemap, uint64_t start, uint64_t end, const struct scan_q *q,
		struct page_region *vec, size_t vec_len, void (*fn)(void *, uint64_t, uint64_t),
		void *ctx)
{
	struct pm_scan_arg arg = {
	    .size = sizeof(arg),
	    .flags = q->flags,
	    .start = start,
	    .end = end,
	    .vec = (uintptr_t)(q->ret ? vec : NULL),
	    .vec_len = q->ret ? vec_len : 0,
	    .category_inverted = q->inverted,
	    .category_mask = q->mask,
	    .category_anyof_mask = q->anyof,
	    .return_mask = q->ret,
	};
	long n;

	for (;;) {
		n = ioctl(pagemap, PAGEMAP_SCAN, &arg);
		if (n < 0)
			return -errno;
		for (long i = 0; i < n; i++)
			if (!(vec[i].categories & q->skip))
				fn(ctx, vec[i].start, vec[i].end);
		if (arg.walk_end >= end || arg.walk_end <= arg.start)
			return 0;
		arg.start = arg.walk_end;
	}
}

/* The scans the method makes. */
#define HERE (PAGE_IS_PRESENT | PAGE_IS_SWAPPED)
/* the pages written since the last scan, re-protected (see scan_written) */
static const struct scan_q q_written = {
    .flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, .mask = PAGE_IS_WRITTEN,
    .ret = PAGE_IS_WRITTEN};
/* the empty ptes (neither present nor swapped: a marker reads as swapped), given a marker */
static const struct scan_q q_empty = {
    .flags = PM_SCAN_WP_MATCHING, .mask = HERE, .inverted = HERE, .ret = PAGE_IS_PRESENT};
/* the same, looked at only: what a collect has to scan (see collect_area) */
static const struct scan_q q_peek = {
    .flags = PM_SCAN_CHECK_WPASYNC, .mask = PAGE_IS_WRITTEN, .ret = PAGE_IS_WRITTEN};
/* the pages that hold data, before any marker is installed */
static const struct scan_q q_held = {.anyof = HERE, .ret = PAGE_IS_PRESENT};

/* ---- probe: the whole mechanism, on a scratch mapping of dpt's own ---- */

struct probe_ctx {
	uint64_t base;
	unsigned pages[8], n;
};

static void probe_hit(void *ctx, uint64_t start, uint64_t end)
{
	struct probe_ctx *c = ctx;

	for (uint64_t a = start; a < end && c->n < 8; a += PID_PAGE)
		c->pages[c->n++] = (a - c->base) / PID_PAGE;
}

static int uffd_probe(void)
{
	struct page_region vec[8];
	struct probe_ctx c = {0};
	char *mem = MAP_FAILED;
	int fd, pagemap = -1, err;

	fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		return dpt_fail(-EOPNOTSUPP, "this kernel has no userfaultfd (%s)",
				strerror(errno));
	err = uffd_api(fd);
	if (err) {
		err = dpt_fail(-EOPNOTSUPP, "this kernel's userfaultfd has no async write-protect "
					    "(WP_ASYNC, Linux >= 6.7)");
		goto out;
	}
	mem = mmap(NULL, 4 * PID_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (mem == MAP_FAILED || pagemap < 0) {
		err = dpt_fail(-errno, "uffd probe: %s", strerror(errno));
		goto out;
	}
	c.base = (uintptr_t)mem;
	mem[0] = 1;
	err = uffd_register(fd, c.base, c.base + 4 * PID_PAGE);
	if (!err)
		err = uffd_protect(fd, c.base, c.base + 4 * PID_PAGE);
	if (err) {
		err = dpt_fail(-EOPNOTSUPP, "userfaultfd write-protect does not work here: %s",
			       strerror(-err));
		goto out;
	}
	mem[PID_PAGE] = 1;
	mem[3 * PID_PAGE] = 1;
	err = scan(pagemap, c.base, c.base + 4 * PID_PAGE, &q_written, vec, 8, probe_hit, &c);
	if (err) {
		err = dpt_fail(-EOPNOTSUPP, "this kernel has no PAGEMAP_SCAN (Linux >= 6.7): %s",
			       strerror(-err));
		goto out;
	}
	if (c.n != 2 || c.pages[0] != 1 || c.pages[1] != 3)
		err = dpt_fail(-EOPNOTSUPP,
			       "PAGEMAP_SCAN reported %u written pages where 2 were "
			       "written: uffd method unusable",
			       c.n);
out:
	if (mem != MAP_FAILED)
		munmap(mem, 4 * PID_PAGE);
	if (pagemap >= 0)
		close(pagemap);
	close(fd);
	return err;
}

/* ---- attach: the userfaultfd must be born in the target's mm ---- */

static int is_userfaultfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return 0;
	link[n] = 0;
	return !strcmp(link, "anon_inode:[userfaultfd]");
}

/*
 * userfaultfd() flags: UFFD_USER_MODE_ONLY is what a process without CAP_SYS_PTRACE may ask
 * for when vm.unprivileged_userfaultfd is 0 (the default), and the syscall runs with the
 * target's credentials, so it is what works for every target. It only restricts which faults
 * are delivered to a handler; in async write-protect mode none ever is (the kernel resolves
 * them itself), so writes made by the kernel on the target's behalf -- read() into a buffer,
 * KVM and vhost writing guest memory -- are tracked just the same (tests/integration/pid-uffd
 * checks read() from /dev/zero). Kernels before 5.11 refuse the flag; they also lack async
 * write-protect, so there is nothing to fall back to.
 */
static int make_uffd(struct pid_inject *in, void *arg, int *out)
{
	uint64_t args[6] = {O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY};
	int64_t tfd = -1, r;
	int err, err2, pidfd, mine = -1;

	if (pid_inject_parent_gone(in))
		return dpt_fail(-ECANCELED, "dpt went away");
	err = pid_inject_syscall(in, SYS_userfaultfd, args, &tfd);
	if (err)
		return err;
	if (tfd < 0)
		return dpt_fail((int)tfd, "pid %d: userfaultfd() inside the target failed: %s",
				in->pid, strerror((int)-tfd));
	if (pid_inject_parent_gone(in)) {
		err = dpt_fail(-ECANCELED, "dpt went away");
		goto close_theirs;
	}
	pidfd = syscall(SYS_pidfd_open, in->tid, in->tid == in->pid ? 0 : PIDFD_THREAD);
	if (pidfd < 0 && in->tid != in->pid)
		pidfd = syscall(SYS_pidfd_open, in->pid, 0);
	if (pidfd < 0) {
		err = dpt_fail(-errno, "pid %d: pidfd_open: %s", in->pid, strerror(errno));
	} else {
		mine = syscall(SYS_pidfd_getfd, pidfd, (int)tfd, 0);
		if (mine < 0)
			err = dpt_fail(-errno, "pid %d: pidfd_getfd: %s", in->pid, strerror(errno));
		else if (!is_userfaultfd(mine))
			err = dpt_fail(-EIO,
				       "pid %d: fd %d taken from the target is not the "
				       "userfaultfd it just made",
				       in->pid, (int)tfd);
		close(pidfd);
	}
	pid_inject_test_point(in);
close_theirs:
	/* whatever happened, the target's copy goes */
	args[0] = (uint64_t)tfd;
	err2 = pid_inject_syscall(in, SYS_close, args, &r);
	if (!err && (err2 || r))
		err = err2 ? err2
			   : dpt_fail((int)r, "pid %d: close() inside the target failed", in->pid);
	if (err) {
		if (mine >= 0)
			close(mine);
		return err;
	}
	*out = mine;
	return 0;
}

/* The injector makes the userfaultfd in the target and hands dpt the only copy. */
static int take_uffd(struct pid_proc *p)
{
	return pid_inject_run(p->pid, make_uffd, NULL, &p->uffd);
}

static int uffd_attach(struct pid_proc *p)
{
	int err;

	p->scratch_size = SCAN_VEC_LEN * sizeof(struct page_region);
	p->scratch = malloc(p->scratch_size);
	if (!p->scratch)
		return dpt_fail(-ENOMEM, "out of memory");
	err = take_uffd(p);
	if (err)
		return err;
	err = uffd_api(p->uffd);
	if (err)
		return dpt_fail(err, "pid %d: UFFDIO_API (WP_ASYNC | WP_UNPOPULATED): %s", p->pid,
				strerror(-err));
	return 0;
}

/* ---- arming and collecting ---- */

/*
 * Register an area. EBUSY: another userfaultfd holds it -- the target's own (it registered a
 * mapping that appeared since we armed the others, or one we could not arm yet) or another
 * tracker's. Not ours to take: the area is left out, its bytes counted in p->untracked (the
 * sample says so), and tried again at the next collect (it is not registered with us, so its
 * scan fails with EPERM and it is armed afresh then).
 */
static int register_area(struct pid_proc *p, const struct pid_tarea *a)
{
	int err = uffd_register(p->uffd, a->start, a->end);

	if (err == -EBUSY)
		p->untracked += a->end - a->start;
	return err;
}

struct hit_ctx {
	const struct pid_layout *l;
	const struct pid_tarea *a;
	uint64_t *bm;
};

static void hit(void *ctx, uint64_t start, uint64_t end)
{
	struct hit_ctx *c = ctx;

	bitmap_set_range(c->bm, pid_layout_page(c->l, c->a, start), (end - start) / PID_PAGE);
}

/* One scan of area a of l, its hits set in bm (numbered as l). */
static int scan_area(struct pid_proc *p, struct pid_layout *l, const struct pid_tarea *a,
		     const struct scan_q *q, uint64_t *bm)
{
	struct hit_ctx c = {l, a, bm};

	return scan(p->pagemap_fd, a->start, a->end, q, p->scratch, SCAN_VEC_LEN, hit, &c);
}

static int uffd_arm(struct pid_proc *p, struct pid_layout *l, uint64_t *has_data)
{
	int err;

	for (unsigned i = 0; i < l->nr_areas; i++) {
		const struct pid_tarea *a = &l->areas[i];

		/* what holds data, read before the markers go in */
		err = register_area(p, a);
		if (!err)
			err = scan_area(p, l, a, &q_held, has_data);
		if (!err)
			err = uffd_protect(p->uffd, a->start, a->end);
		if (err == -ESRCH || err == -ENOMEM)
			return dpt_fail(err, "pid %d: arming 0x%" PRIx64 "-0x%" PRIx64 ": %s",
					p->pid, a->start, a->end, strerror(-err));
		/* anything else: the mapping changed under us (the next collect sees it), or
		 * another userfaultfd holds it (EBUSY: p->untracked) */
		if (err)
			dpt_debug("pid %d: cannot arm 0x%" PRIx64 "-0x%" PRIx64 ": %s", p->pid,
				  a->start, a->end, strerror(-err));
		l->areas[i].fresh = false;
	}
	return 0;
}


/*
 * The pages of an armed area discarded since it was last scanned: zapped (MADV_DONTNEED, a
 * balloon, free-page reporting) without being written again, so they hold zeros now.
 *
 * Once an area is armed, each of its ptes holds a page (present or swapped) or a uffd-wp
 * marker. Zapping private anonymous memory drops the marker with the page: the pte is left
 * empty (the kernel keeps markers only in file and shmem mappings), or, when a whole page
 * table was emptied, the table itself may be freed (Linux >= 6.14 reclaims them on
 * MADV_DONTNEED). Both read as neither PAGE_IS_PRESENT nor PAGE_IS_SWAPPED (a marker reads as
 * SWAPPED), and only they do: this scan matches exactly them, and with PM_SCAN_WP_MATCHING puts
 * a marker back on each, so that a later read fault maps the zero page write-protected and a
 * later write is seen. It must come before the written-pages scan of the same area: that scan
 * takes the empty ptes for written pages (its fast path reports every pte without a wp bit)
 * and re-marks them, which would hide the discard and count it as a write.
 *
 * Races: a page written after its discard, before this scan, is present and counted as
 * written, not discarded; a page written and then discarded in the same interval counts as
 * discarded only (its content is gone); a page discarded in the microseconds between this scan
 * and the written-pages scan of its area counts as written. Only private anonymous memory is
 * scanned: zapping file or shared memory keeps the markers (the data is still in the file or
 * the shmem object), and punching a hole in shared memory is not seen as a discard.
 */
static int scan_discarded(struct pid_proc *p, struct pid_layout *l, const struct pid_tarea *a,
			  uint64_t *gone)
{
	if (a->file || a->shared)
		return 0;
	/* a result vector is needed: without one the kernel write-protects the whole range */
	return scan_area(p, l, a, &q_empty, gone);
}

/*
 * The pages written in an area since it was last scanned, re-protected in the same walk.
 *
 * What counts as written: PAGE_IS_WRITTEN means "present or swapped, without the uffd-wp bit",
 * or an empty pte without a marker. In a fresh area's first scan (fresh = true) two kinds of
 * such pages were never written and are skipped: the shared zero page (mapped by a read fault
 * before we installed markers; read-only by nature, a write would replace it), and, in a
 * private file mapping, a page-cache page mapped by a read fault (a written one would have
 * been copied to an anonymous page). In an armed area neither happens -- a read fault on a
 * marker keeps the bit -- so the steady-state scan asks for PAGE_IS_WRITTEN alone: asking for
 * PFNZERO or FILE too makes the kernel classify every pte and triples the cost of the walk
 * (bench/pid-overhead). The one page an armed area could report without a write is one the
 * program discarded since (MADV_DONTNEED): scan_discarded(), run first, takes those out.
 */
static int scan_written(struct pid_proc *p, struct pid_layout *l, const struct pid_tarea *a,
			bool fresh, uint64_t *bm)
{
	struct scan_q q = q_written;

	if (fresh) {
		q.flags = PM_SCAN_WP_MATCHING;
		q.skip = PAGE_IS_PFNZERO | (a->file && !a->shared ? PAGE_IS_FILE : 0);
		q.ret |= q.skip;
	}
	return scan_area(p, l, a, &q, bm);
}

/*
 * A fresh area: a mapping that appeared (or was replaced, or grew) since the last collect.
 *
 * Order matters. After UFFDIO_REGISTER, an empty pte with no marker reads as WRITTEN, so we
 * first install markers on every page that is neither present nor swapped (a scan matching
 * exactly those, with WP_MATCHING), and only then scan for WRITTEN: what it returns is the
 * pages populated before we came, which we count in this interval (for anonymous memory, the
 * pages the program wrote; for shared memory, every resident page), and it protects them. A
 * page first written between the two scans is present by the second and counted; none is lost.
 * UFFDIO_WRITEPROTECT is not used here: it would also protect pages written before it and
 * lose them. The marker scan asks for a result vector it does not need: without one, the
 * kernel takes a fast path that write-protects every pte of the range, whatever the category
 * masks say, which would lose the pages written before we came just the same.
 */
static int arm_fresh(struct pid_proc *p, struct pid_layout *l, const struct pid_tarea *a,
		     uint64_t *bm, uint64_t *gone)
{
	int err = register_area(p, a);

	if (err)
		return err;
	/* the empty pages are gone: if the area replaced one in place (munmap + mmap), what the
	 * old one held is discarded */
	err = scan_area(p, l, a, &q_empty, gone);
	if (err)
		return err;
	return scan_written(p, l, a, true, bm);
}

struct span {
	uint64_t lo, hi;
};

static void widen(void *ctx, uint64_t start, uint64_t end)
{
	struct span *sp = ctx;

	if (start < sp->lo)
		sp->lo = start;
	if (end > sp->hi)
		sp->hi = end;
}

/*
 * One armed area's interval. Most areas of a process see no write in a given interval, and
 * the discard scan classifies every pte (about twice the cost of the written-pages scan's fast
 * path, bench/pid-overhead). So a first look, the fast path without re-protecting, finds the
 * span of the pages written or emptied since the last scan (an empty pte reads as written
 * there); only that span is scanned for discards, then for written pages, which re-protects
 * them. A page written or zapped outside the span after the look is seen at the next collect:
 * nothing is lost, and an idle area costs one fast walk.
 */
static int collect_area(struct pid_proc *p, struct pid_layout *l, const struct pid_tarea *a,
			uint64_t *bm, uint64_t *gone)
{
	struct span sp = {UINT64_MAX, 0};
	struct pid_tarea part = *a;
	int err = scan(p->pagemap_fd, a->start, a->end, &q_peek, p->scratch, SCAN_VEC_LEN, widen,
		       &sp);

	if (err || sp.hi <= sp.lo)
		return err;
	part.start = sp.lo;
	part.end = sp.hi;
	err = scan_discarded(p, l, &part, gone);
	if (!err)
		err = scan_written(p, l, &part, false, bm);
	return err;
}

/*
 * Scanning with PM_SCAN_CHECK_WPASYNC makes the kernel refuse (EPERM) a walk that meets a VMA
 * not registered with us -- one the program mapped over a tracked one at the same address,
 * which /proc/PID/maps cannot tell from the old one. But the refusal comes after the VMAs
 * before it were walked and re-protected, and their results are dropped: so we scan one VMA
 * (area) at a time, where a refusal can only come first and loses nothing, and arm the newcomer
 * as a fresh area.
 */
static int uffd_collect(struct pid_proc *p, struct pid_layout *l, uint64_t *bm, uint64_t *gone)
{
	int err;

	for (unsigned i = 0; i < l->nr_areas; i++) {
		struct pid_tarea *a = &l->areas[i];

		err = a->fresh ? -EPERM : collect_area(p, l, a, bm, gone);
		if (err == -EPERM)
			err = arm_fresh(p, l, a, bm, gone);
		if (err == -ESRCH || err == -ENOMEM || err == -EFAULT)
			return dpt_fail(err, "pid %d: PAGEMAP_SCAN: %s", p->pid, strerror(-err));
		if (err)
			dpt_debug("pid %d: skipping 0x%" PRIx64 "-0x%" PRIx64 " this interval: %s",
				  p->pid, a->start, a->end, strerror(-err));
		a->fresh = false;
	}
	return 0;
}

static void uffd_detach(struct pid_proc *p)
{
	if (p->uffd >= 0)
		close(p->uffd);
	p->uffd = -1;
}

const struct pid_method pid_method_uffd = {
    .name = "uffd",
    .probe = uffd_probe,
    .attach = uffd_attach,
    .arm = uffd_arm,
    .collect = uffd_collect,
    .detach = uffd_detach,
};
