/* pid-softdirty-check - ground truth for the pid tracker's soft-dirty method.
 *
 * Runs where the kernel has soft-dirty (Debian's 6.1 in the TCG test VM, see
 * tests/cli/pid-softdirty.sh, which links it statically with libdpt.a); elsewhere it prints
 * one skip line with the reason. A forked synthetic target (tests/integration/pid-util.h)
 * writes known pages between collects: every interval's bitmap must be exactly those pages
 * (user writes, writes by the kernel, none for reads); a new mapping is picked up with its
 * written pages; "auto" picks soft-dirty where the uffd method is missing; the target's exit
 * is seen, and a launched program's last partial interval is read at its exit. The target
 * writes only while dpt is not between reading pagemap and clear_refs, so the documented race
 * cannot strike here. Prints ok/FAIL/skip lines; exit status 1 on a failure.
 */
#include "../integration/pid-util.h"
#include "../test.h"

static unsigned seed = 777;

static void test_exact(void)
{
	struct dpt_tracker t;
	struct dpt_sample s;
	struct tgt g;
	char range[64];
	const char *regions[] = {range};
	uint8_t expect[256];
	uint64_t first = 0;
	unsigned bad;
	int err;

	if (tgt_start(&g, 256)) {
		TEST_CHECK(0, "sd-target", "cannot start the target");
		return;
	}
	snprintf(range, sizeof(range), "%" PRIx64 "-%" PRIx64, g.base, g.base + 256 * TGT_PAGE);
	err = pid_test_open(&t, g.pid, "soft-dirty", regions, 1);
	TEST_CHECK(!err && !strcmp(t.mode, "soft-dirty"), "sd-open", "%s", pid_test_err());
	if (err)
		goto out;
	err = t.ops->start(&t) || pid_test_collect(&t, &s);
	TEST_CHECK(!err && s.total == 256 && s.dirty == 0 && s.regions_changed, "sd-first-sample",
		   "%s; dirty %" PRIu64, pid_test_err(), s.dirty);
	bad = pid_test_random_intervals(&g, &t, 20, 50, &seed);
	TEST_CHECK(!bad, "sd-exact-20-intervals", "%u intervals differ", bad);
	memset(expect, 0, sizeof(expect));
	memset(expect + 40, 1, 10);
	err = tgt_cmd(&g, "z 40 50") || pid_test_collect(&t, &s);
	TEST_CHECK(!err && !region_diff(&s, 0, expect, 256, &first), "sd-kernel-writes",
		   "dirty %" PRIu64 ", first difference %" PRIu64, s.dirty, first);
	err = tgt_cmd(&g, "r 0 256") || pid_test_collect(&t, &s);
	TEST_CHECK(!err && s.dirty == 0, "sd-reads-not-dirty", "dirty %" PRIu64, s.dirty);
	err = tgt_cmd(&g, "w 0 256") || pid_test_collect(&t, &s);
	TEST_CHECK(!err && s.dirty == 256, "sd-all", "dirty %" PRIu64, s.dirty);
	t.ops->close(&t);
	TEST_CHECK(!tgt_cmd(&g, "w 0 1") && proc_tracer(g.pid) == 0, "sd-target-alive",
		   "target gone or traced");
out:
	tgt_stop(&g);
}

/* kB of AnonHugePages in the process (smaps_rollup). */
static unsigned long proc_anon_huge(pid_t pid)
{
	char path[64], buf[4096], *p;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	if (pid_read_file(path, buf, sizeof(buf)) <= 0 || !(p = strstr(buf, "AnonHugePages:")))
		return 0;
	return strtoul(p + 14, NULL, 10);
}

static void test_default(void)
{
	struct dpt_tracker t;
	struct dpt_sample s;
	struct tgt g;
	uint64_t addr = 0, off, wrong = 0;
	int err, r;

	if (tgt_start(&g, 64))
		return;
	dpt_clear_error();
	err = pid_test_open(&t, g.pid, NULL, NULL, 0);
	if (pid_tracker_ops.probe(&(struct dpt_tracker_opts){.mode = "uffd"}))
		TEST_CHECK(!err && !strcmp(t.mode, "soft-dirty"), "sd-auto-chooses-soft-dirty",
			   "mode %s: %s", t.mode, pid_test_err());
	else
		test_skip("sd-auto-chooses-soft-dirty", "this kernel has the uffd method");
	if (err)
		goto out;
	t.ops->close(&t);
	err =
	    pid_test_open(&t, g.pid, "soft-dirty", NULL, 0) || t.ops->start(&t) || pid_test_collect(&t, &s);
	if (!err)
		err = tgt_cmd_val(&g, &addr, 1, "m 32") || tgt_cmd(&g, "M %" PRIx64 " 0 8", addr) ||
		      pid_test_collect(&t, &s);
	r = err ? -1 : region_at(&s, addr);
	if (r >= 0) {
		off = (addr - s.regions[r].start) / TGT_PAGE;
		for (unsigned i = 0; i < 32; i++)
			wrong +=
			    bitmap_test(s.bitmap, s.regions[r].first_page + off + i) != (i < 8);
	}
	TEST_CHECK(r >= 0 && !wrong && s.regions_changed, "sd-new-mapping",
		   "region %d, %" PRIu64 " wrong pages: %s", r, wrong, err ? pid_test_err() : "");
	err = tgt_cmd(&g, "M %" PRIx64 " 16 20", addr) || pid_test_collect(&t, &s);
	r = err ? -1 : region_at(&s, addr);
	wrong = 0;
	if (r >= 0) {
		off = (addr - s.regions[r].start) / TGT_PAGE;
		for (unsigned i = 0; i < 32; i++)
			wrong += bitmap_test(s.bitmap, s.regions[r].first_page + off + i) !=
				 (i >= 16 && i < 20);
	}
	TEST_CHECK(r >= 0 && !wrong, "sd-new-mapping-tracked", "%" PRIu64 " wrong pages", wrong);
	if (write(g.in, "x 5\n", 4) == 4) {
		err = !tgt_wait_readable(t.end_fd, 5000);
		err = err || pid_test_collect(&t, &s) != -ESRCH;
		TEST_CHECK(!err && strstr(t.end_reason, "exited"), "sd-target-exit", "%s",
			   t.end_reason);
		waitpid(g.pid, NULL, 0);
		g.pid = 0;
	}
	t.ops->close(&t);
out:
	tgt_stop(&g);
}

/* Transparent huge pages: soft-dirty sees writes there per 2 MiB, and says so (the flag huge),
 * a write counting its huge page's 512 pages. Skipped where the guest gives no THP. */
static void test_thp(void)
{
	struct dpt_tracker t;
	struct dpt_sample s;
	struct tgt g;
	uint64_t addr = 0;
	int err, r;

	if (tgt_start(&g, 16))
		return;
	err = pid_test_open(&t, g.pid, "soft-dirty", NULL, 0) || t.ops->start(&t) ||
	      tgt_cmd_val(&g, &addr, 1, "H 4") || pid_test_collect(&t, &s);
	if (!err && !proc_anon_huge(g.pid)) {
		test_skip("sd-thp", "no transparent huge page in this guest");
		t.ops->close(&t);
		tgt_stop(&g);
		return;
	}
	/* one page written in one huge page: 512 pages, flagged */
	err = err || tgt_cmd(&g, "M %" PRIx64 " 3 4", addr) || pid_test_collect(&t, &s);
	r = err ? -1 : region_at(&s, addr);
	TEST_CHECK(r >= 0 && (s.flags & DPT_SAMPLE_HUGE) && s.dirty >= 512, "sd-thp-flagged",
		   "%s; dirty %" PRIu64 ", flags %x", pid_test_err(), s.dirty, s.flags);
	t.ops->close(&t);
	tgt_stop(&g);
}

/* Launch mode, the program's end (itself, as the launched target): its keeper holds it at
 * its exit, and the last partial interval holds exactly the pages it wrote on its way out. */
static void test_launch_exit(void)
{
	static const struct {
		const char *how, *name;
		int status;
	} cases[] = {
	    {"rewrite 24", "sd-launch-last-interval-exit", 0},
	    {"kill 24", "sd-launch-last-interval-sigkill", 128 + SIGKILL},
	    {"thread 24 5", "sd-launch-last-interval-thread-exit", 5},
	};
	char why[512];

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		TEST_CHECK(!pid_test_launch_exit("/proc/self/exe", "soft-dirty", cases[i].how,
						 cases[i].status, why, sizeof(why)),
			   cases[i].name, "%s", why);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--write")) /* the launched target */
		return tgt_write_main(strtoul(argv[2], NULL, 0));
	dpt_clear_error();
	if (pid_tracker_ops.probe(&(struct dpt_tracker_opts){.mode = "soft-dirty"})) {
		test_skip("pid-softdirty", "%s", pid_test_err());
		return 0;
	}
	test_exact();
	test_default();
	test_thp();
	test_launch_exit();
	return test_done();
}
