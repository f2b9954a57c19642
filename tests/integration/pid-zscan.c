/* pid-zscan - ground truth for the pid tracker's non-zero scan (zscan_prepare, _run, _free).
 *
 * A synthetic target (pid-util.h) makes a known set of pages non-zero, others present but
 * zero (written then zeroed, or read-faulted: the shared zero page), discards some and leaves
 * the rest untouched; the scan's set must be exactly the non-zero ones, with nothing unknown,
 * at the start and after more writes, while the tracker collects on another thread; and the
 * scan must leave the target as it found it: no page faulted in, no page shared copy-on-write
 * with a child unshared. Files: a private file mapping shows its file where the target never
 * wrote (read from the page cache; a page evicted from it is unknown), a shared memfd shows
 * what another process wrote into it. A target killed before or during a scan, and memory
 * unmapped under it, end it normally (unknown pages, no error). A followed tree is scanned
 * in the samples' numbering, process after process. Skips when this kernel has no uffd
 * method (Linux < 6.7).
 */
#include <linux/capability.h>
#include <poll.h>
#include <sys/stat.h>

#include "../test.h"
#include "pid-util.h"
#include "trackers/pid/kabi.h"

#define PAGES 4096 /* the target's buffer: 16 MiB */

/* A check's name, with the prefix of the run ("nopfn-" without CAP_SYS_ADMIN). */
static const char *prefix = "";

static const char *nm(const char *name)
{
	static char buf[8][64];
	static unsigned k;

	k = (k + 1) % 8;
	snprintf(buf[k], sizeof(buf[k]), "%s%s", prefix, name);
	return buf[k];
}

struct scan {
	struct dpt_zscan *zs;
	struct dpt_nonzero z;
	int err;
};

/* prepare and run one scan (free it with scan_drop) */
static int scan_take(struct dpt_tracker *t, struct scan *sc)
{
	memset(sc, 0, sizeof(*sc));
	dpt_clear_error();
	sc->err = t->ops->zscan_prepare(t, &sc->zs);
	if (!sc->err)
		sc->err = t->ops->zscan_run(sc->zs, &sc->z);
	return sc->err;
}

static void scan_drop(struct dpt_tracker *t, struct scan *sc)
{
	if (sc->zs)
		t->ops->zscan_free(sc->zs);
	sc->zs = NULL;
}

/* The scan's region that starts at addr (in a followed set: of process pid, else pid 0). */
static const struct dpt_region *scan_region(const struct dpt_nonzero *z, uint64_t addr, pid_t pid)
{
	char pfx[16];

	snprintf(pfx, sizeof(pfx), "%d:", pid);
	for (unsigned r = 0; r < z->nr_regions; r++)
		if (z->regions[r].start == addr &&
		    (!pid || !strncmp(z->regions[r].name, pfx, strlen(pfx))))
			return &z->regions[r];
	return NULL;
}

/* Differences between the scan's bits over n pages from addr and want[]; *first the first. */
static unsigned scan_diff(const struct dpt_nonzero *z, uint64_t addr, pid_t pid,
			  const uint8_t *want, unsigned n, unsigned *first)
{
	const struct dpt_region *r = scan_region(z, addr, pid);
	unsigned diff = 0;

	*first = ~0u;
	if (!r || r->pages < n)
		return n;
	for (unsigned i = 0; i < n; i++)
		if (bitmap_test(z->bitmap, r->first_page + i) != !!want[i] && !diff++)
			*first = i;
	return diff;
}

/* The target's pagemap entries of n pages from addr. */
static int pagemap_of(pid_t pid, uint64_t addr, uint64_t *e, unsigned n)
{
	char path[64];
	int fd;
	ssize_t got;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	got = fd < 0 ? -1 : pread(fd, e, n * 8, (off_t)(addr / TGT_PAGE * 8));
	if (fd >= 0)
		close(fd);
	return got == (ssize_t)n * 8 ? 0 : -1;
}

/* Pages of the n from addr whose entries differ in mask between before and now. */
static unsigned pagemap_changed(pid_t pid, uint64_t addr, const uint64_t *before, unsigned n,
				uint64_t mask)
{
	static uint64_t now[PAGES];
	unsigned c = 0;

	if (pagemap_of(pid, addr, now, n))
		return n;
	for (unsigned i = 0; i < n; i++)
		c += (before[i] & mask) != (now[i] & mask);
	return c;
}

static void set(uint8_t *want, unsigned a, unsigned b, uint8_t v)
{
	memset(want + a, v, b - a);
}

struct bg {
	struct dpt_tracker *t;
	struct scan sc;
};

static void *scan_thread(void *arg)
{
	struct bg *b = arg;

	b->sc.err = b->t->ops->zscan_run(b->sc.zs, &b->sc.z);
	return NULL;
}

/*
 * The exact set in a range region, at the start and after changes; the scan running on its
 * thread while the tracker collects; nothing faulted in.
 */
static void test_truth(void)
{
	static uint8_t want[PAGES];
	static uint64_t before[PAGES];
	struct dpt_tracker t;
	struct dpt_sample s;
	struct scan sc;
	struct tgt g;
	char range[64];
	const char *regions[1] = {range};
	unsigned first = 0, diff, present = 0;
	pthread_t th;
	struct bg b;
	int err;

	if (tgt_start(&g, PAGES)) {
		TEST_CHECK(0, nm("zscan-target"), "cannot start the target");
		return;
	}
	snprintf(range, sizeof(range), "%" PRIx64 "-%" PRIx64, g.base, g.base + PAGES * TGT_PAGE);
	/* non-zero: 0-99, 1000-1499, 3000; present zeros: 200-399 written then zeroed, 500-699
	 * read (the zero page); 800-899 made non-zero then discarded; the rest untouched */
	err = tgt_cmd(&g, "N 0 100") || tgt_cmd(&g, "N 1000 1500") || tgt_cmd(&g, "N 3000 3001") ||
	      tgt_cmd(&g, "Z 200 400") || tgt_cmd(&g, "r 500 700") || tgt_cmd(&g, "N 800 900") ||
	      tgt_cmd(&g, "d 800 900");
	set(want, 0, 100, 1);
	set(want, 1000, 1500, 1);
	want[3000] = 1;
	err = err || pid_test_open(&t, g.pid, "uffd", regions, 1) || t.ops->start(&t);
	TEST_CHECK(!err, nm("zscan-setup"), "%s", pid_test_err());
	if (err)
		goto out;
	pagemap_of(g.pid, g.base, before, PAGES);
	for (unsigned i = 0; i < PAGES; i++)
		present += !!(before[i] & PM_ENTRY_PRESENT);
	err = scan_take(&t, &sc);
	diff = err ? PAGES : scan_diff(&sc.z, g.base, 0, want, PAGES, &first);
	TEST_CHECK(!err && !diff && sc.z.count == 601 && sc.z.unknown == 0 && sc.z.total == PAGES &&
		       sc.z.nr_regions == 1 && sc.z.method == DPT_NZ_CONTENT &&
		       sc.z.bytes_read >= 601 * TGT_PAGE && sc.z.bytes_read <= present * TGT_PAGE,
		   nm("zscan-exact-at-start"),
		   "%s; %u pages differ (first %u), count %" PRIu64 " (want 601), unknown %" PRIu64
		   ", bytes %" PRIu64 " (present %u pages)",
		   err ? pid_test_err() : "", diff, first, sc.z.count, sc.z.unknown,
		   sc.z.bytes_read, present);
	scan_drop(&t, &sc);
	/* present: 0-99, 200-399, 500-699, 1000-1499, 3000 (the discarded ones are gone) */
	TEST_CHECK(
	    present == 1001 &&
		!pagemap_changed(g.pid, g.base, before, PAGES, PM_ENTRY_PRESENT | PM_ENTRY_SWAPPED),
	    nm("zscan-faults-nothing-in"), "%u present before, %u entries changed by the scan",
	    present,
	    pagemap_changed(g.pid, g.base, before, PAGES, PM_ENTRY_PRESENT | PM_ENTRY_SWAPPED));

	/* changes: 50-59 zeroed, 2000-2099 made non-zero, 1400-1499 discarded */
	err = pid_test_collect(&t, &s) || tgt_cmd(&g, "Z 50 60") || tgt_cmd(&g, "N 2000 2100") ||
	      tgt_cmd(&g, "d 1400 1500") || pid_test_collect(&t, &s);
	set(want, 50, 60, 0);
	set(want, 2000, 2100, 1);
	set(want, 1400, 1500, 0);
	err = err || scan_take(&t, &sc);
	diff = err ? PAGES : scan_diff(&sc.z, g.base, 0, want, PAGES, &first);
	TEST_CHECK(!err && !diff && sc.z.count == 591 && sc.z.unknown == 0, nm("zscan-exact-after"),
		   "%s; %u pages differ (first %u), count %" PRIu64 " (want 591)",
		   err ? pid_test_err() : "", diff, first, sc.z.count);
	scan_drop(&t, &sc);

	/* the scan on its thread while the tracker collects and the target writes elsewhere */
	memset(&b, 0, sizeof(b));
	b.t = &t;
	err = t.ops->zscan_prepare(&t, &b.sc.zs);
	err = err || pthread_create(&th, NULL, scan_thread, &b);
	for (unsigned i = 0; !err && i < 20; i++)
		err = tgt_cmd(&g, "w %u %u", 3500 + i, 3501 + i) || pid_test_collect(&t, &s);
	if (!err)
		pthread_join(th, NULL);
	diff = err || b.sc.err ? PAGES : scan_diff(&b.sc.z, g.base, 0, want, 3500, &first);
	TEST_CHECK(!err && !b.sc.err && !diff && b.sc.z.unknown == 0, nm("zscan-while-collecting"),
		   "%s; %u pages differ (first %u)", pid_test_err(), diff, first);
	scan_drop(&t, &b.sc);
	t.ops->close(&t);
	{
		char why[128];

		TEST_CHECK(pid_test_clean(g.pid, why, sizeof(why)), nm("zscan-close-clean"), "%s",
			   why);
	}
out:
	tgt_stop(&g);
}

/*
 * Pages a child shares copy-on-write with its parent stay shared: the scan reads through
 * /proc/PID/mem, whose references do not unshare them (process_vm_readv()'s pins would copy
 * every one into the target: pagemap bit 56, exclusively mapped, would turn on).
 */
static void test_cow(void)
{
	static uint64_t before[1024];
	struct dpt_tracker t;
	struct scan sc;
	struct tgt g;
	char range[64];
	const char *regions[1] = {range};
	uint64_t child = 0;
	unsigned excl = 0, changed;
	int err;

	if (tgt_start(&g, 1024)) {
		TEST_CHECK(0, "zscan-cow-target", "cannot start the target");
		return;
	}
	snprintf(range, sizeof(range), "%" PRIx64 "-%" PRIx64, g.base, g.base + 1024 * TGT_PAGE);
	err = tgt_cmd(&g, "N 0 1024") || tgt_cmd_val(&g, &child, 0, "f 0 10") ||
	      pid_test_open(&t, g.pid, "uffd", regions, 1) || t.ops->start(&t);
	usleep(100000); /* the child's writes */
	err = err || pagemap_of(g.pid, g.base, before, 1024);
	for (unsigned i = 0; !err && i < 1024; i++)
		excl += !!(before[i] & PM_ENTRY_EXCLUSIVE);
	err = err || scan_take(&t, &sc);
	changed = err ? 1024 : pagemap_changed(g.pid, g.base, before, 1024, PM_ENTRY_EXCLUSIVE);
	TEST_CHECK(!err && excl == 10 && !changed && sc.z.count == 1024, "zscan-cow-kept-shared",
		   "%s; %u exclusive before (want 10), %u changed by the scan, count %" PRIu64,
		   err ? pid_test_err() : "", excl, changed, sc.z.count);
	scan_drop(&t, &sc);
	if (!err)
		t.ops->close(&t);
	if (child)
		kill((pid_t)child, SIGKILL);
	tgt_stop(&g);
}

/*
 * File and shared mappings. A private mapping of a file shows the file where the target has
 * not written: its resident pages are read from the page cache, a hole is zero, a page evicted
 * from the page cache is unknown (reading it would load it). A shared memfd shows what another
 * process wrote into it, though the target never mapped those pages.
 */
static void test_files(void)
{
	char path[] = "/tmp/dpt-zscan.XXXXXX", fpath[64], cmd[128], r0[64], r1[64];
	const char *regions[2] = {r0, r1};
	uint8_t page[TGT_PAGE], want[64] = {0}, want_m[64] = {0};
	uint64_t fa = 0, ma = 0;
	struct dpt_tracker t;
	struct scan sc;
	struct tgt g;
	unsigned first = 0, d1 = 64, d2 = 64;
	uint8_t *m = MAP_FAILED;
	int fd = mkstemp(path), mfd = memfd_create("dpt-zscan", MFD_CLOEXEC), err = 0;

	memset(page, 0x11, sizeof(page));
	for (unsigned i = 0; i < 10 && fd >= 0; i++) /* 0-9 data, 10-19 zeros, 40-44 evicted */
		err |= pwrite(fd, page, TGT_PAGE, i * TGT_PAGE) != TGT_PAGE;
	for (unsigned i = 40; i < 45 && fd >= 0; i++)
		err |= pwrite(fd, page, TGT_PAGE, i * TGT_PAGE) != TGT_PAGE;
	memset(page, 0, sizeof(page));
	for (unsigned i = 10; i < 20 && fd >= 0; i++)
		err |= pwrite(fd, page, TGT_PAGE, i * TGT_PAGE) != TGT_PAGE;
	err |= fd < 0 || ftruncate(fd, 64 * TGT_PAGE) || fsync(fd);
	err |= mfd < 0 || ftruncate(mfd, 64 * TGT_PAGE);
	if (!err)
		m = mmap(NULL, 64 * TGT_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (err || m == MAP_FAILED || tgt_start(&g, 16)) {
		TEST_CHECK(0, "zscan-files-setup", "%s", strerror(errno));
		goto close;
	}
	memset(m, 0x22, 5 * TGT_PAGE);		/* 0-4 written by us, before the target maps it */
	memset(m + 30 * TGT_PAGE, 0, TGT_PAGE); /* 30 allocated, zero */
	snprintf(fpath, sizeof(fpath), "/proc/%d/fd/%d", getpid(), mfd);
	snprintf(cmd, sizeof(cmd), "F %s 64", path);
	err = tgt_cmd_val(&g, &fa, 1, cmd);
	snprintf(cmd, sizeof(cmd), "S %s 64", fpath);
	err = err || tgt_cmd_val(&g, &ma, 1, cmd) || !fa || !ma;
	err =
	    err || tgt_cmd(&g, "K %" PRIx64 " 30 35", fa) || tgt_cmd(&g, "K %" PRIx64 " 10 12", ma);
	snprintf(r0, sizeof(r0), "%" PRIx64 "-%" PRIx64, fa, fa + 64 * TGT_PAGE);
	snprintf(r1, sizeof(r1), "%" PRIx64 "-%" PRIx64, ma, ma + 64 * TGT_PAGE);
	err = err || pid_test_open(&t, g.pid, "uffd", regions, 2) || t.ops->start(&t);
	TEST_CHECK(!err, "zscan-files-open", "%s", pid_test_err());
	if (err)
		goto stop;
	memset(m + 20 * TGT_PAGE, 0x33, 3 * TGT_PAGE); /* 20-22 by us, after it mapped it */
	set(want, 0, 10, 1);
	set(want, 30, 35, 1);
	set(want, 40, 45, 1); /* evicted: unknown, counted non-zero */
	set(want_m, 0, 5, 1);
	set(want_m, 10, 12, 1);
	set(want_m, 20, 23, 1);
	/* out of the page cache now (the target's faults read ahead into it) */
	err = posix_fadvise(fd, 40 * TGT_PAGE, 5 * TGT_PAGE, POSIX_FADV_DONTNEED) ||
	      scan_take(&t, &sc);
	if (!err) {
		d1 = scan_diff(&sc.z, fa, 0, want, 64, &first);
		d2 = scan_diff(&sc.z, ma, 0, want_m, 64, &first);
	}
	TEST_CHECK(!err && !d1 && sc.z.unknown == 5, "zscan-private-file",
		   "%s; %u pages differ (first %u), unknown %" PRIu64 " (want 5: the evicted ones)",
		   err ? pid_test_err() : "", d1, first, sc.z.unknown);
	TEST_CHECK(!err && !d2, "zscan-shared-memfd", "%u pages differ (first %u)", d2, first);
	scan_drop(&t, &sc);
	t.ops->close(&t);
stop:
	tgt_stop(&g);
close:
	if (m != MAP_FAILED)
		munmap(m, 64 * TGT_PAGE);
	if (fd >= 0)
		close(fd);
	if (mfd >= 0)
		close(mfd);
	unlink(path);
}

/* A target killed between prepare and run, and during a run: the scan ends normally, with
 * what it could not read unknown. */
static void test_exit(void)
{
	struct dpt_tracker t;
	struct scan sc;
	struct tgt g;
	pthread_t th;
	struct bg b;
	uint64_t t0;
	int err;

	if (tgt_start(&g, 1024)) {
		TEST_CHECK(0, "zscan-exit-target", "cannot start the target");
		return;
	}
	err =
	    tgt_cmd(&g, "N 0 512") || pid_test_open(&t, g.pid, "uffd", NULL, 0) || t.ops->start(&t);
	memset(&sc, 0, sizeof(sc));
	err = err || t.ops->zscan_prepare(&t, &sc.zs);
	tgt_stop(&g);
	err = err || t.ops->zscan_run(sc.zs, &sc.z);
	TEST_CHECK(!err && sc.z.total > 1024 && sc.z.unknown == sc.z.total &&
		       sc.z.count == sc.z.total,
		   "zscan-target-gone-before-run",
		   "%s; total %" PRIu64 ", count %" PRIu64 ", unknown %" PRIu64 " (want all)",
		   pid_test_err(), sc.z.total, sc.z.count, sc.z.unknown);
	scan_drop(&t, &sc);
	t.ops->close(&t);

	/* killed while the scan reads its 256 MiB */
	if (tgt_start(&g, 65536)) {
		TEST_CHECK(0, "zscan-exit-target", "cannot start the target");
		return;
	}
	err = tgt_cmd(&g, "N 0 65536") || pid_test_open(&t, g.pid, "uffd", NULL, 0) ||
	      t.ops->start(&t);
	memset(&b, 0, sizeof(b));
	b.t = &t;
	err =
	    err || t.ops->zscan_prepare(&t, &b.sc.zs) || pthread_create(&th, NULL, scan_thread, &b);
	usleep(10000);
	t0 = tgt_now_ns();
	tgt_stop(&g);
	if (!err)
		pthread_join(th, NULL);
	TEST_CHECK(!err && !b.sc.err && b.sc.z.count <= b.sc.z.total &&
		       b.sc.z.unknown <= b.sc.z.count && tgt_now_ns() - t0 < 5000000000ULL,
		   "zscan-target-killed-during-run",
		   "%s; err %d, count %" PRIu64 ", unknown %" PRIu64 " of %" PRIu64, pid_test_err(),
		   b.sc.err, b.sc.z.count, b.sc.z.unknown, b.sc.z.total);
	printf("# killed during the scan: %" PRIu64 " of %" PRIu64 " pages unknown\n",
	       b.sc.z.unknown, b.sc.z.total);
	scan_drop(&t, &b.sc);
	t.ops->close(&t);
}

/* Memory unmapped, or mapped over, between prepare and run: gone, so zero; no error. */
static void test_unmapped(void)
{
	static uint8_t want[PAGES];
	struct dpt_tracker t;
	struct scan sc;
	struct tgt g;
	char range[64];
	const char *regions[1] = {range};
	unsigned first = 0, diff = PAGES;
	int err;

	if (tgt_start(&g, PAGES)) {
		TEST_CHECK(0, "zscan-unmap-target", "cannot start the target");
		return;
	}
	snprintf(range, sizeof(range), "%" PRIx64 "-%" PRIx64, g.base, g.base + PAGES * TGT_PAGE);
	err = tgt_cmd(&g, "N 0 3000") || pid_test_open(&t, g.pid, "uffd", regions, 1) ||
	      t.ops->start(&t);
	memset(&sc, 0, sizeof(sc));
	err = err || t.ops->zscan_prepare(&t, &sc.zs) ||
	      tgt_cmd(&g, "u %" PRIx64 " 500", g.base + 1000 * TGT_PAGE) ||
	      tgt_cmd(&g, "R 2000 2100");
	err = err || t.ops->zscan_run(sc.zs, &sc.z);
	set(want, 0, 3000, 1);
	set(want, 1000, 1500, 0);
	set(want, 2000, 2100, 0);
	if (!err)
		diff = scan_diff(&sc.z, g.base, 0, want, PAGES, &first);
	TEST_CHECK(!err && !diff && sc.z.unknown == 0, "zscan-unmapped-under-it",
		   "%s; %u pages differ (first %u), unknown %" PRIu64, pid_test_err(), diff, first,
		   sc.z.unknown);
	scan_drop(&t, &sc);
	t.ops->close(&t);
	tgt_stop(&g);
}


/* A followed tree: each process's pages in its own regions, one process after another, as
 * the samples number them; a process that has exited is left out. */
static void test_follow(void)
{
	struct pid_tracker_opts xo = {.nr_regions = 1, .follow = true};
	uint8_t want_p[256] = {0}, want_c[256] = {0};
	struct dpt_tracker t;
	struct dpt_sample s;
	struct scan sc;
	struct tgt g;
	char range[64];
	const char *regions[1] = {range};
	uint64_t child = 0;
	unsigned first = 0, dp = 256, dc = 256;
	int err;

	if (tgt_start(&g, 256)) {
		TEST_CHECK(0, "zscan-follow-target", "cannot start the target");
		return;
	}
	snprintf(range, sizeof(range), "%" PRIx64 "-%" PRIx64, g.base, g.base + 256 * TGT_PAGE);
	xo.regions = regions;
	err = tgt_cmd(&g, "N 0 100") || pid_test_open_opts(&t, g.pid, "uffd", &xo) ||
	      t.ops->start(&t) || tgt_cmd_pumped(&g, &t, &child, "f %u %u", 200, 210);
	tgt_pump(&t, 100);
	err = err || pid_test_collect(&t, &s) || scan_take(&t, &sc);
	set(want_p, 0, 100, 1);
	set(want_c, 0, 100, 1);
	set(want_c, 200, 210, 1);
	if (!err) {
		dp = scan_diff(&sc.z, g.base, g.pid, want_p, 256, &first);
		dc = scan_diff(&sc.z, g.base, (pid_t)child, want_c, 256, &first);
	}
	TEST_CHECK(!err && !dp && !dc && sc.z.nr_regions == s.nr_regions && sc.z.total == s.total &&
		       sc.z.count == 210 && sc.z.unknown == 0,
		   "zscan-follow-per-process",
		   "%s; parent %u and child %u pages differ, %u regions (sample %u), count %" PRIu64
		   " (want 210)",
		   pid_test_err(), dp, dc, sc.z.nr_regions, s.nr_regions, sc.z.count);
	for (unsigned r = 0; !err && r < sc.z.nr_regions && r < s.nr_regions; r++)
		err = sc.z.regions[r].first_page != s.regions[r].first_page ||
		      strcmp(sc.z.regions[r].name, s.regions[r].name);
	TEST_CHECK(!err, "zscan-follow-sample-numbering",
		   "the scan's regions are not the sample's");
	scan_drop(&t, &sc);

	kill((pid_t)child, SIGKILL);
	tgt_pump(&t, 300);
	err = pid_test_collect(&t, &s) || scan_take(&t, &sc);
	TEST_CHECK(!err && sc.z.nr_regions == 1 && sc.z.count == 100 &&
		       scan_region(&sc.z, g.base, g.pid),
		   "zscan-follow-exited-left-out", "%s; %u regions, count %" PRIu64, pid_test_err(),
		   sc.z.nr_regions, sc.z.count);
	scan_drop(&t, &sc);
	t.ops->close(&t);
	tgt_stop(&g);
}

/*
 * Without CAP_SYS_ADMIN pagemap hides page frame numbers and swap types: the zero page is read
 * like any page, and a uffd-wp marker is told from a swapped-out page by VmSwap only. The
 * ground truth again, in a child that dropped the capability (before any scan: the probe of
 * what pagemap shows is made once a process).
 */
static void test_no_sys_admin(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	pid_t c = fork();
	int status = 0;

	if (c == 0) {
		prefix = "nopfn-";
		if (syscall(SYS_capget, &h, d) == 0) {
			d[0].effective &= ~(1u << CAP_SYS_ADMIN);
			d[0].permitted &= ~(1u << CAP_SYS_ADMIN);
			d[0].inheritable &= ~(1u << CAP_SYS_ADMIN);
		}
		if (syscall(SYS_capset, &h, d)) {
			TEST_CHECK(0, nm("zscan-drop-cap"), "capset: %s", strerror(errno));
			_exit(1);
		}
		test_truth();
		_exit(test_done());
	}
	TEST_CHECK(
	    c > 0 && waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "zscan-no-sys-admin", "the run without CAP_SYS_ADMIN failed (status %#x)", status);
}

int main(void)
{
	dpt_clear_error();
	if (pid_tracker_ops.probe(&(struct dpt_tracker_opts){.mode = "uffd"})) {
		test_skip("pid-zscan", "no uffd method here: %s", pid_test_err());
		return test_done();
	}
	test_no_sys_admin();
	test_truth();
	test_cow();
	test_files();
	test_exit();
	test_unmapped();
	test_follow();
	return test_done();
}
