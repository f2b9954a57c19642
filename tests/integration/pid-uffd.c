/* pid-uffd - ground truth for the pid tracker's uffd method on the host.
 *
 * A synthetic target (pid-util.h) writes known pages between collects; every interval's bitmap
 * must equal exactly the pages it wrote: user writes, writes made by the kernel (read() into
 * the buffer), none for reads; mappings that appear are picked up and their pages counted,
 * mappings that vanish are dropped; start() again forgets the past; the target leaves nothing
 * behind after close(), including in launch mode, where its exit status comes back.
 * Skips when this kernel has no uffd method (Linux < 6.7).
 */
#include <poll.h>

#include "../test.h"
#include "pid-util.h"

static unsigned seed = 12345;


static void check_clean(pid_t pid, const char *name)
{
	char why[128];

	TEST_CHECK(pid_test_clean(pid, why, sizeof(why)), name, "%s", why);
}

/* Random page sets in a range region: exact every interval. */
static void test_exact(void)
{
	struct dpt_tracker t;
	struct dpt_sample s;
	struct tgt g;
	char range[64];
	const char *regions[1] = {range};
	uint8_t expect[256];
	uint64_t first = 0;
	unsigned bad;
	int err;

	if (tgt_start(&g, 256)) {
		TEST_CHECK(0, "uffd-exact", "cannot start the target");
		return;
	}
	snprintf(range, sizeof(range), "%" PRIx64 "-%" PRIx64, g.base, g.base + 256 * TGT_PAGE);
	err = pid_test_open(&t, g.pid, "uffd", regions, 1);
	TEST_CHECK(!err, "uffd-open", "%s", pid_test_err());
	if (err)
		goto out;
	TEST_CHECK(!strcmp(t.mode, "uffd") && t.has_bitmap && !t.estimate && t.owner_pid == g.pid &&
		       t.end_fd >= 0,
		   "uffd-fields", "mode %s bitmap %d end_fd %d", t.mode, t.has_bitmap, t.end_fd);
	TEST_CHECK(!t.ops->start(&t), "uffd-start", "%s", pid_test_err());
	err = pid_test_collect(&t, &s);
	TEST_CHECK(!err && s.total == 256 && s.nr_regions == 1 && s.regions[0].start == g.base &&
		       s.regions[0].pages == 256 && s.regions_changed && s.dirty == 0 &&
		       s.page_size == 4096,
		   "uffd-first-sample", "err %d total %" PRIu64 " regions %u dirty %" PRIu64, err,
		   s.total, s.nr_regions, s.dirty);

	bad = pid_test_random_intervals(&g, &t, 30, 60, &seed);
	TEST_CHECK(!bad, "uffd-exact-30-intervals", "%u intervals differ", bad);

	memset(expect, 0, sizeof(expect));
	memset(expect + 10, 1, 20);
	err = tgt_cmd(&g, "z 10 30") || pid_test_collect(&t, &s);
	TEST_CHECK(!err && !region_diff(&s, 0, expect, 256, &first), "uffd-kernel-writes",
		   "read() into pages 10-29: dirty %" PRIu64 ", first difference %" PRIu64, s.dirty,
		   first);
	err = tgt_cmd(&g, "r 0 256") || pid_test_collect(&t, &s);
	TEST_CHECK(!err && s.dirty == 0, "uffd-reads-not-dirty", "dirty %" PRIu64, s.dirty);
	err = tgt_cmd(&g, "w 0 256") || tgt_cmd(&g, "w 0 256") || pid_test_collect(&t, &s);
	TEST_CHECK(!err && s.dirty == 256, "uffd-all", "dirty %" PRIu64, s.dirty);

	/* start() again forgets what was written before it */
	err = tgt_cmd(&g, "w 0 100") || t.ops->start(&t) || pid_test_collect(&t, &s);
	TEST_CHECK(!err && s.dirty == 0 && s.regions_changed, "uffd-restart-forgets",
		   "dirty %" PRIu64, s.dirty);
	err = tgt_cmd(&g, "w 7 8") || pid_test_collect(&t, &s);
	TEST_CHECK(!err && s.dirty == 1 && bitmap_test(s.bitmap, 7), "uffd-restart-tracks",
		   "dirty %" PRIu64, s.dirty);
	t.ops->close(&t);
	check_clean(g.pid, "uffd-close-clean");
	TEST_CHECK(!tgt_cmd(&g, "w 0 256"), "uffd-target-alive", "target does not answer");
out:
	tgt_stop(&g);
}

/*
 * Discarded is not written: pages zapped with MADV_DONTNEED (scattered ones, and a whole
 * 2 MiB page table's worth, which the kernel may free along with its page table) count as
 * discarded, not dirty; read back they are neither; zapped again while empty they are not
 * discarded twice; memory mapped over in place (munmap + mmap) discards what it replaced.
 */
static void test_discard(void)
{
	const unsigned n = 2048;
	struct dpt_tracker t;
	struct dpt_sample s;
	struct tgt g;
	char range[64];
	const char *regions[1] = {range};
	static uint8_t want[2048];
	uint64_t first = 0;
	unsigned chunk;
	int err;

	if (tgt_start(&g, n)) {
		TEST_CHECK(0, "discard", "cannot start the target");
		return;
	}
	snprintf(range, sizeof(range), "%" PRIx64 "-%" PRIx64, g.base, g.base + n * TGT_PAGE);
	/* 512 pages of the buffer aligned on 2 MiB, after its first 512 */
	chunk = (unsigned)((((g.base + (4u << 20) - 1) & ~((2ULL << 20) - 1)) - g.base) / TGT_PAGE);
	err = pid_test_open(&t, g.pid, "uffd", regions, 1) || t.ops->start(&t) ||
	      tgt_cmd(&g, "w 0 %u", n) || pid_test_collect(&t, &s);
	TEST_CHECK(!err && s.dirty == n && s.discarded == 0 && t.counts_discarded,
		   "discard-setup", "%s dirty %" PRIu64, err ? pid_test_err() : "", s.dirty);
	if (err)
		goto out;

	memset(want, 0, sizeof(want));
	memset(want + chunk, 1, 512);
	want[3] = want[100] = want[chunk + 600] = 1;
	err = tgt_cmd(&g, "d %u %u", chunk, chunk + 512) ||
	      tgt_cmd(&g, "D 3 100 %u", chunk + 600) || pid_test_collect(&t, &s);
	TEST_CHECK(!err && s.dirty == 0 && s.discarded == 515 &&
		       !region_diff_discarded(&s, 0, want, n, &first),
		   "discard-not-dirty", "dirty %" PRIu64 " discarded %" PRIu64 " (want 0, 515), "
		   "first difference at page %" PRIu64, s.dirty, s.discarded, first);
	err = tgt_cmd(&g, "r %u %u", chunk, chunk + 512) || tgt_cmd(&g, "r 0 200") ||
	      pid_test_collect(&t, &s);
	TEST_CHECK(!err && s.dirty == 0 && s.discarded == 0, "discard-read-back",
		   "dirty %" PRIu64 " discarded %" PRIu64, s.dirty, s.discarded);
	err = tgt_cmd(&g, "d %u %u", chunk, chunk + 512) || pid_test_collect(&t, &s);
	TEST_CHECK(!err && s.dirty == 0 && s.discarded == 0, "discard-empty-twice",
		   "dirty %" PRIu64 " discarded %" PRIu64, s.dirty, s.discarded);
	err = tgt_cmd(&g, "l 3 %u %u", chunk + 1, chunk + 2) || pid_test_collect(&t, &s);
	TEST_CHECK(!err && s.dirty == 3 && s.discarded == 0, "discard-then-write",
		   "dirty %" PRIu64 " discarded %" PRIu64, s.dirty, s.discarded);
	/* held data, written again, then discarded in the same interval: its content is gone, it
	 * is discarded (a page that held none when the interval began would be neither) */
	err = tgt_cmd(&g, "w 10 20") || tgt_cmd(&g, "d 10 20") || pid_test_collect(&t, &s);
	TEST_CHECK(!err && s.dirty == 0 && s.discarded == 10, "write-then-discard",
		   "dirty %" PRIu64 " discarded %" PRIu64, s.dirty, s.discarded);
	/* fresh memory mapped over pages 1200-1300 (they all held data) */
	memset(want, 0, sizeof(want));
	memset(want + 1200, 1, 100);
	err = tgt_cmd(&g, "R 1200 1300") || pid_test_collect(&t, &s);
	TEST_CHECK(!err && s.dirty == 0 && s.discarded == 100 && !s.regions_changed &&
		       !region_diff_discarded(&s, 0, want, n, &first),
		   "discard-mapped-over", "dirty %" PRIu64 " discarded %" PRIu64 " (want 0, 100)",
		   s.dirty, s.discarded);
	err = tgt_cmd(&g, "w 1200 1210") || tgt_cmd(&g, "d 1250 1300") || pid_test_collect(&t, &s);
	TEST_CHECK(!err && s.dirty == 10 && s.discarded == 0, "discard-mapped-over-tracked",
		   "dirty %" PRIu64 " discarded %" PRIu64 " (want 10, 0)", s.dirty, s.discarded);
	t.ops->close(&t);
	check_clean(g.pid, "discard-close-clean");
out:
	tgt_stop(&g);
}

/* Default regions: the buffer's region is exact; new mappings are followed. */
static void test_default(void)
{
	struct dpt_tracker t;
	struct dpt_sample s;
	struct tgt g;
	uint8_t expect[256];
	uint64_t first, addr = 0, off;
	int err, r;

	if (tgt_start(&g, 256)) {
		TEST_CHECK(0, "default-regions", "cannot start the target");
		return;
	}
	err = pid_test_open(&t, g.pid, NULL, NULL, 0);
	TEST_CHECK(!err && !strcmp(t.mode, "uffd"), "auto-chooses-uffd", "%s (mode %s)",
		   err ? pid_test_err() : "", t.mode);
	if (err)
		goto out;
	err = t.ops->start(&t) || pid_test_collect(&t, &s);
	TEST_CHECK(!err && s.nr_regions >= 3, "default-regions", "%u regions: %s", s.nr_regions,
		   pid_test_err());

	err = tgt_cmd(&g, "w 5 9") || pid_test_collect(&t, &s);
	r = err ? -1 : region_at(&s, g.base);
	memset(expect, 0, sizeof(expect));
	memset(expect + 5, 1, 4);
	first = 0;
	if (r >= 0) {
		/* the buffer may share its region with adjacent anonymous mappings */
		off = (g.base - s.regions[r].start) / TGT_PAGE;
		for (unsigned i = 0; i < 256; i++)
			if (bitmap_test(s.bitmap, s.regions[r].first_page + off + i) != expect[i])
				first++;
	}
	TEST_CHECK(r >= 0 && first == 0, "default-buffer-exact",
		   "region %d, %" PRIu64 " differences", r, first);

	/* a new mapping, written before any collect has seen it */
	err = tgt_cmd_val(&g, &addr, 1, "m 64") || tgt_cmd(&g, "M %" PRIx64 " 0 10", addr) ||
	      pid_test_collect(&t, &s);
	r = err ? -1 : region_at(&s, addr);
	first = 0;
	if (r >= 0) {
		off = (addr - s.regions[r].start) / TGT_PAGE;
		for (unsigned i = 0; i < 64; i++)
			first +=
			    bitmap_test(s.bitmap, s.regions[r].first_page + off + i) != (i < 10);
	}
	TEST_CHECK(r >= 0 && !first && s.regions_changed, "new-mapping-picked-up",
		   "region %d, %" PRIu64 " differences, changed %d", r, first, s.regions_changed);
	err = tgt_cmd(&g, "M %" PRIx64 " 20 30", addr) || pid_test_collect(&t, &s);
	r = err ? -1 : region_at(&s, addr);
	first = 0;
	if (r >= 0) {
		off = (addr - s.regions[r].start) / TGT_PAGE;
		for (unsigned i = 0; i < 64; i++)
			first += bitmap_test(s.bitmap, s.regions[r].first_page + off + i) !=
				 (i >= 20 && i < 30);
	}
	TEST_CHECK(r >= 0 && !first && !s.regions_changed, "new-mapping-tracked",
		   "region %d, %" PRIu64 " differences, changed %d", r, first, s.regions_changed);
	err = tgt_cmd(&g, "u %" PRIx64 " 64", addr) || pid_test_collect(&t, &s);
	TEST_CHECK(!err && region_at(&s, addr) < 0 && s.regions_changed, "unmapped-dropped",
		   "region %d still at the unmapped address", region_at(&s, addr));
	t.ops->close(&t);
	check_clean(g.pid, "default-close-clean");
out:
	tgt_stop(&g);
}

/* The target exits while tracked. */
static void test_exit(void)
{
	struct dpt_tracker t;
	struct dpt_sample s;
	struct tgt g;
	int err;

	if (tgt_start(&g, 64))
		return;
	err = pid_test_open(&t, g.pid, "uffd", NULL, 0) || t.ops->start(&t) || pid_test_collect(&t, &s);
	if (err) {
		TEST_CHECK(0, "exit-mid-run", "%s", pid_test_err());
		tgt_stop(&g);
		return;
	}
	TEST_CHECK(!tgt_wait_readable(t.end_fd, 0), "end-fd-quiet", "end_fd readable while it runs");
	tgt_cmd(&g, "w 0 10");
	if (write(g.in, "x 0\n", 4) != 4)
		return;
	TEST_CHECK(tgt_wait_readable(t.end_fd, 5000), "end-fd-on-exit", "end_fd not readable");
	err = pid_test_collect(&t, &s);
	TEST_CHECK(err == -ESRCH && strstr(pid_test_err(), "exited"), "collect-after-exit",
		   "err %d: %s", err, pid_test_err());
	TEST_CHECK(strstr(t.end_reason, "exited") != NULL, "end-reason", "'%s'", t.end_reason);
	t.ops->close(&t);
	waitpid(g.pid, NULL, 0);
	g.pid = 0;
	tgt_stop(&g);
}

/* Pages of the 64-page buffer of a sample over exactly that buffer whose bit is not "set iff in
 * [a, b)". */
static unsigned buffer_wrong(const struct dpt_sample *s, unsigned a, unsigned b)
{
	unsigned wrong = s->total == 64 ? 0 : 64;

	for (unsigned i = 0; !wrong && i < 64; i++)
		wrong += bitmap_test(s->bitmap, i) != (i >= a && i < b);
	return wrong;
}

/*
 * --hold: a process dpt attached to is traced by a keeper for the whole run, so that its exit
 * is held and its last partial interval read. And when dpt ends first, it runs on untraced.
 */
static void test_hold(void)
{
	char range[64], line[64];
	const char *regions[] = {range};
	struct pid_tracker_opts xo = {.regions = regions, .nr_regions = 1, .hold = true};
	struct dpt_tracker t;
	struct dpt_sample s;
	unsigned wrong = 64;
	long tracer = 0;
	struct tgt g;
	int err, status = -1;

	/* dpt ends first: the target is let go, untraced, and goes on */
	if (tgt_start(&g, 64))
		return;
	snprintf(range, sizeof(range), "%" PRIx64 "-%" PRIx64, g.base, g.base + 64 * TGT_PAGE);
	err = pid_test_open_opts(&t, g.pid, "uffd", &xo) || t.ops->start(&t);
	tracer = proc_tracer(g.pid);
	err = err || tgt_cmd(&g, "w 0 10") || pid_test_collect(&t, &s);
	if (!err)
		wrong = buffer_wrong(&s, 0, 10);
	t.ops->close(&t);
	TEST_CHECK(!err && !wrong && tracer > 0 && proc_tracer(g.pid) == 0 &&
		       !tgt_cmd(&g, "w 0 1"),
		   "hold-dpt-ends-first", "%s; %u wrong pages, tracer %ld while tracked, %ld after",
		   err ? pid_test_err() : "ok", wrong, tracer, proc_tracer(g.pid));

	/* the target ends first: held at its exit, its last partial interval read */
	err = pid_test_open_opts(&t, g.pid, "uffd", &xo) || t.ops->start(&t) ||
	      tgt_cmd(&g, "w 0 10") || pid_test_collect(&t, &s) || tgt_cmd(&g, "w 5 17");
	snprintf(line, sizeof(line), "x 3\n");
	err = err || write(g.in, line, strlen(line)) != (ssize_t)strlen(line);
	err = err || !tgt_wait_readable(t.end_fd, 5000) || !t.ops->ended(&t) ||
	      pid_test_collect(&t, &s);
	wrong = err ? 64 : buffer_wrong(&s, 5, 17);
	TEST_CHECK(!err && !wrong && strstr(t.end_reason, "exited with status 3") &&
		       t.end_status == 0,
		   "hold-last-interval", "%s; %u wrong pages, '%s', end_status %d",
		   err ? pid_test_err() : "ok", wrong, t.end_reason, t.end_status);
	/* the target is our child here: once let go, close() reaps it and passes its status */
	t.ops->close(&t);
	status = waitpid(g.pid, NULL, WNOHANG) < 0 && errno == ECHILD ? t.end_status : -1;
	TEST_CHECK(status == 3, "hold-target-exit-status", "end_status after close %d",
		   t.end_status);
	g.pid = 0;
	tgt_stop(&g);
}

/* A launched wrapper that execs the real program: followed into it. */
static void test_exec(const char *prog)
{
	char cmdline[300], line[128];
	const char *argv[] = {"/bin/sh", "-c", cmdline, NULL};
	struct dpt_tracker t;
	struct dpt_sample s;
	uint64_t addr = 0, n = 0, wrong;
	int in, out, err, r = -1;
	struct pid_spawn sp;

	snprintf(cmdline, sizeof(cmdline), "exec %s --write 50", prog);
	if (pid_test_spawn_piped(argv, &sp, &in, &out)) {
		TEST_CHECK(0, "exec-followed", "%s", pid_test_err());
		return;
	}
	err =
	    pid_test_open(&t, sp.pid, "uffd", NULL, 0) || t.ops->start(&t) || pid_spawn_resume(&sp);
	err = err || tgt_line(out, line, sizeof(line)) ||
	      sscanf(line, "ready %" SCNx64 " %" SCNu64, &addr, &n) != 2;
	err = err || pid_test_collect(&t, &s);
	wrong = err ? n : pid_test_wrong_bits(&s, addr, n, n);
	r = err ? -1 : region_at(&s, addr);
	TEST_CHECK(!err && n == 50 && !wrong && s.regions_changed &&
		       strstr(t.target_desc, "pid-target"),
		   "exec-followed", "%s; region %d, %" PRIu64 " of %" PRIu64 " pages missing, %s",
		   err ? pid_test_err() : "ok", r, wrong, n, t.target_desc);
	close(in); /* it exits 0 */
	err = err || !tgt_wait_readable(t.end_fd, 5000) || !t.ops->ended(&t) || pid_test_collect(&t, &s);
	t.ops->close(&t);
	TEST_CHECK(!err && t.end_status == 0 && strstr(t.end_reason, "(pid-target) exited"),
		   "exec-then-exit", "status %d, %s", t.end_status, t.end_reason);
	close(out);
}

/* Launch mode, the program's end: the last partial interval, read while its keeper holds it
 * at its exit (pid-util.h). */
static void test_launch_exit(const char *prog, const char *how, const char *name, int status)
{
	char why[512];

	TEST_CHECK(!pid_test_launch_exit(prog, "uffd", how, status, why, sizeof(why)), name, "%s",
		   why);
}

/* Launch mode: tracked from the first instruction; exit status comes back. */
static void test_launch(void)
{
	char prog[256], line[128];
	const char *argv[] = {prog, "--write", "100", NULL};
	const char *sh[] = {"/bin/sh", "-c", "exit 3", NULL};
	const char *bad[] = {"/nonexistent/prog", NULL};
	struct dpt_tracker t;
	struct dpt_sample s;
	int in, out, err, r = -1;
	uint64_t addr = 0, n = 0, wrong = 0;
	struct pid_spawn sp;
	pid_t pid = 0;
	char state;

	snprintf(prog, sizeof(prog), "%s/tests/helpers/pid-target",
		 getenv("BUILD") ? getenv("BUILD") : "build");
	err = pid_test_spawn_piped(argv, &sp, &in, &out);
	TEST_CHECK(!err, "spawn", "%s", pid_test_err());
	if (err)
		return;
	pid = sp.pid;
	state = proc_state(pid);
	err = pid_test_open(&t, pid, NULL, NULL, 0);
	/* after the injection it runs for a moment on its way back into the group stop; its
	 * keeper traces it, so the stop shows as 't' */
	for (int i = 0; i < 100 && proc_state(pid) != 't'; i++)
		usleep(1000);
	TEST_CHECK(!err && state == 't' && proc_state(pid) == 't', "spawn-open-stays-stopped",
		   "%s; state before %c after %c", err ? pid_test_err() : "ok", state,
		   proc_state(pid));
	if (err) {
		pid_spawn_kill(&sp);
		return;
	}
	err = t.ops->start(&t) || pid_spawn_resume(&sp);
	if (!err)
		err = tgt_line(out, line, sizeof(line)) ||
		      sscanf(line, "ready %" SCNx64 " %" SCNu64, &addr, &n) != 2;
	err = err || pid_test_collect(&t, &s);
	wrong = err ? n : pid_test_wrong_bits(&s, addr, n, n);
	r = err ? -1 : region_at(&s, addr);
	TEST_CHECK(!err && n == 100 && !wrong, "launch-first-interval",
		   "region %d, %" PRIu64 " of %" PRIu64 " pages missing", r, wrong, n);
	close(in);
	TEST_CHECK(tgt_wait_readable(t.end_fd, 5000) && t.ops->ended(&t), "launch-end-fd",
		   "not readable");
	err = pid_test_collect(&t, &s);
	TEST_CHECK(err == 0 && t.end_status == 0 && strstr(t.end_reason, "status 0"),
		   "launch-exit-status-0", "err %d status %d '%s'", err, t.end_status,
		   t.end_reason);
	t.ops->close(&t);
	TEST_CHECK(waitpid(pid, NULL, WNOHANG) < 0 && errno == ECHILD, "launch-reaped",
		   "the child was not reaped");
	close(out);
	test_exec(prog);
	test_launch_exit(prog, "rewrite 24", "launch-last-interval-exit", 0);
	test_launch_exit(prog, "kill 24", "launch-last-interval-sigkill", 128 + SIGKILL);
	test_launch_exit(prog, "thread 24 5", "launch-last-interval-thread-exit", 5);
	/* a clone sharing its memory that ends with exit_group(): not the program's end */
	test_launch_exit(prog, "clone 24", "launch-last-interval-clone-not-end", 0);

	err = pid_spawn(sh, 0, &sp) || pid_test_open(&t, sp.pid, "uffd", NULL, 0) ||
	      t.ops->start(&t) || pid_spawn_resume(&sp);
	TEST_CHECK(!err, "launch-sh", "%s", pid_test_err());
	if (!err) {
		tgt_wait_readable(t.end_fd, 5000);
		t.ops->ended(&t);
		pid_test_collect(&t, &s);
		t.ops->close(&t);
		TEST_CHECK(t.end_status == 3 && strstr(t.end_reason, "status 3"),
			   "launch-exit-status-3", "status %d '%s'", t.end_status, t.end_reason);
	}
	dpt_clear_error();
	err = pid_spawn(bad, 0, &sp);
	TEST_CHECK(err == -ENOENT && strstr(pid_test_err(), "cannot run /nonexistent/prog"),
		   "launch-bad-command", "err %d: %s", err, pid_test_err());
}

int main(void)
{
	dpt_clear_error();
	if (pid_tracker_ops.probe(&(struct dpt_tracker_opts){.mode = "uffd"})) {
		test_skip("pid-uffd", "no uffd method here: %s", pid_test_err());
		return test_done();
	}
	test_exact();
	test_discard();
	test_default();
	test_exit();
	test_launch();
	test_hold();
	return test_done();
}
