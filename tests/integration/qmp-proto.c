/* qmp-proto: the qmp tracker against a fake QMP server (tests/helpers/qmp-fake.c), one
 * scenario per check: counts, modes and fallbacks, events, and every failure giving one clear
 * reason in bounded time. The fake logs what dpt sent, so the checks also see that dpt never
 * sent a mode that crashes QEMU and never started a measurement over someone else's.
 */
#include "../test.h"
#include "qmp-util.h"

static char dir[64], sock[128], logpath[128], fake[PATH_MAX];
static pid_t fake_pid;

static int fake_start(const char *scenario, long rate)
{
	char r[32];

	snprintf(r, sizeof(r), "%ld", rate);
	unlink(logpath);
	char *argv[] = {fake, sock, (char *)scenario, "--log", logpath, "--rate", r, NULL};
	fake_pid = qt_spawn(argv, "qmp-fake ready");
	return fake_pid > 0 ? 0 : -1;
}

static char *fake_stop(void)
{
	qt_reap(fake_pid);
	fake_pid = 0;
	return qt_slurp(logpath);
}

static struct qmp_tracker_opts opts(double interval, unsigned timeout_ms)
{
	return (struct qmp_tracker_opts){.interval_ns = (uint64_t)(interval * 1e9),
					 .timeout_ms = timeout_ms};
}

/* Run a scenario: the fake, then the tracker for n intervals. Returns the fake's log. */
static char *scenario(const char *name, long rate, const char *mode,
		      const struct qmp_tracker_opts *x, unsigned n, struct qt_run *r)
{
	if (fake_start(name, rate)) {
		memset(r, 0, sizeof(*r));
		r->err = -ECHILD;
		snprintf(r->error, sizeof(r->error), "cannot start %.400s", fake);
		return strdup("");
	}
	qt_track(sock, mode, x, n, r);
	return fake_stop();
}

/* dirty is rate x 256 x seconds, within 2% (the tracker's and our clocks differ by us). */
/* rate x 256 x the interval's length, where that length is the one asked for when the loop
 * woke within the tracker's jitter band (QEMU's window is calc-time whatever the loop's timing:
 * qmp.c interval_secs()), else the measured one; the band is checked loosely (either length
 * is accepted) so that a test run under load does not judge the timer. */
static bool rate_ok(const struct qt_run *r, long rate, unsigned from)
{
	for (unsigned i = from; i < r->n; i++) {
		double measured = rate * 256.0 * r->secs[i], nominal = rate * 256.0 * r->interval;
		bool m = r->dirty[i] >= measured * 0.98 && r->dirty[i] <= measured * 1.02 + 1;
		bool n = r->dirty[i] >= nominal * 0.98 && r->dirty[i] <= nominal * 1.02 + 1;
		if (!m && !n)
			return false;
	}
	return r->n > from;
}

static void check_run(const char *name, const struct qt_run *r, unsigned want_n)
{
	TEST_CHECK(!r->err && r->n == want_n, name, "%s failed (%d): %s; %u samples", r->where,
		   r->err, r->error, r->n);
}

static void check_fail(const char *name, const struct qt_run *r, int err, const char *where,
		       const char *text, double max_s)
{
	TEST_CHECK(r->err == err && r->where && !strcmp(r->where, where) &&
		       strstr(r->error, text) && r->elapsed < max_s,
		   name, "want %s %d '%s' within %.1f s; got %s %d '%s' after %.2f s", where, err,
		   text, max_s, r->where ? r->where : "-", r->err, r->error, r->elapsed);
	printf("#   %s (%.2f s)\n", r->error, r->elapsed);
}

static void t_normal(void)
{
	struct qmp_tracker_opts x = opts(1, 0);
	struct qt_run r;
	char *log = scenario("normal", 100, NULL, &x, 3, &r);

	check_run("normal: three intervals", &r, 3);
	TEST_CHECK(!strcmp(r.mode, "page-sampling") && r.estimate && !r.t_nr_vcpus,
		   "normal: auto picks page-sampling without KVM", "mode %s estimate %d", r.mode,
		   r.estimate);
	TEST_CHECK(rate_ok(&r, 100, 0), "normal: dirty = 100 MiB/s x 256 x seconds",
		   "dirty %llu over %.3f s", (unsigned long long)r.dirty[0], r.secs[0]);
	TEST_CHECK(r.total[0] == 65536 && (r.flags[0] & DPT_SAMPLE_ESTIMATE),
		   "normal: total = 256 MiB, flagged estimate", "total %llu flags %x",
		   (unsigned long long)r.total[0], r.flags[0]);
	TEST_CHECK(qt_count(log, "\"calc-dirty-rate\"") == 4 &&
		       qt_count(log, "\"calc-time\":1,\"mode\":\"page-sampling\"") == 4,
		   "normal: one measurement per interval, back to back", "log:\n%s", log);
	TEST_CHECK(!strstr(log, "VIOLATION") && r.max_late < 0.3,
		   "normal: never over a running measurement, collect waits little",
		   "longest collect %.3f s", r.max_late);
	free(log);
}

static void t_events(void)
{
	struct qmp_tracker_opts x = opts(1, 0);
	struct qt_run r;
	char *log = scenario("events", 40, NULL, &x, 2, &r);

	check_run("events: interleaved events are skipped", &r, 2);
	TEST_CHECK(rate_ok(&r, 40, 0), "events: counts unaffected", "dirty %llu",
		   (unsigned long long)r.dirty[0]);
	free(log);
}

static void t_kvm(void)
{
	struct qmp_tracker_opts x = opts(1, 0);
	struct qt_run r;
	char *log = scenario("kvm", 50, "auto", &x, 2, &r);

	check_run("kvm: auto runs", &r, 2);
	TEST_CHECK(!strcmp(r.mode, "dirty-bitmap") && !r.estimate && rate_ok(&r, 50, 0),
		   "kvm: auto picks dirty-bitmap when the VM has no ring", "mode %s", r.mode);
	TEST_CHECK(qt_count(log, "\"mode\":\"dirty-ring\"") == 1 && !strstr(log, "VIOLATION"),
		   "kvm: one dirty-ring try, refused", "log:\n%s", log);
	free(log);
	log = scenario("kvm", 50, "dirty-ring", &x, 1, &r);
	check_fail("kvm: dirty-ring without a ring: clear error", &r, -EOPNOTSUPP, "open",
		   "dirty-ring-size", 5);
	free(log);
}

static void t_ring(void)
{
	struct qmp_tracker_opts x = opts(1, 0);
	struct qt_run r;
	char *log = scenario("ring", 80, NULL, &x, 2, &r);

	check_run("ring: auto runs", &r, 2);
	TEST_CHECK(!strcmp(r.mode, "dirty-ring") && r.t_nr_vcpus == 2 && r.nr_vcpus[1] == 2,
		   "ring: auto picks dirty-ring, per-vCPU counts", "mode %s vcpus %u/%u", r.mode,
		   r.t_nr_vcpus, r.nr_vcpus[1]);
	TEST_CHECK(r.vcpu[1][0] + r.vcpu[1][1] == r.dirty[1] && rate_ok(&r, 80, 0) &&
		       r.vcpu[1][0] > 2 * r.vcpu[1][1],
		   "ring: vCPU counts add up to the total", "%llu + %llu vs %llu",
		   (unsigned long long)r.vcpu[1][0], (unsigned long long)r.vcpu[1][1],
		   (unsigned long long)r.dirty[1]);
	TEST_CHECK(!strstr(log, "dirty-bitmap") && !strstr(log, "VIOLATION"),
		   "ring: the probe measurement is waited out", "log:\n%s", log);
	free(log);
	log = scenario("ring", 80, "dirty-bitmap", &x, 1, &r);
	check_fail("ring: dirty-bitmap refused: clear error", &r, -EOPNOTSUPP, "open", "dirty ring",
		   5);
	free(log);
}

static void t_tcg_fallback(void)
{
	struct qmp_tracker_opts x = opts(1, 0);
	const char *modes[] = {"dirty-bitmap", "dirty-ring"};
	struct qt_run r;

	for (int i = 0; i < 2; i++) {
		char *log = scenario("normal", 30, modes[i], &x, 1, &r);
		char name[96];
		snprintf(name, sizeof(name), "7.2 without KVM: %s falls back, never sent",
			 modes[i]);
		TEST_CHECK(!r.err && !strcmp(r.mode, "page-sampling") && !strstr(log, modes[i]) &&
			       !strstr(log, "CRASH"),
			   name, "err %d (%s) mode %s log:\n%s", r.err, r.error, r.mode, log);
		free(log);
	}
}

static void t_versions(void)
{
	struct qmp_tracker_opts x = opts(0.1, 0);
	struct qt_run r;
	char *log = scenario("v82", 100, NULL, &x, 5, &r);

	check_run("8.2: 100 ms intervals", &r, 5);
	TEST_CHECK(strstr(log, "\"calc-time\":90,\"calc-time-unit\":\"millisecond\""),
		   "8.2: calc-time in milliseconds, less a 10 ms guard", "log:\n%s", log);
	TEST_CHECK(rate_ok(&r, 100, 1), "8.2: counts at 100 ms intervals",
		   "dirty %llu %llu %llu %llu over %.4f %.4f %.4f %.4f s",
		   (unsigned long long)r.dirty[1], (unsigned long long)r.dirty[2],
		   (unsigned long long)r.dirty[3], (unsigned long long)r.dirty[4], r.secs[1],
		   r.secs[2], r.secs[3], r.secs[4]);
	free(log);

	x = opts(1, 0);
	log = scenario("v91", 20, "dirty-bitmap", &x, 1, &r);
	TEST_CHECK(!r.err && !strcmp(r.mode, "dirty-bitmap") && !strstr(log, "CRASH"),
		   "9.1 without KVM: dirty-bitmap is safe, used", "err %d (%s) mode %s", r.err,
		   r.error, r.mode);
	free(log);

	log = scenario("v60", 20, NULL, &x, 1, &r);
	TEST_CHECK(!r.err && r.n == 1 && !strstr(log, "\"mode\""),
		   "6.0: page-sampling without the mode argument", "err %d (%s) log:\n%s", r.err,
		   r.error, log);
	free(log);
	log = scenario("v60", 20, "dirty-bitmap", &x, 1, &r);
	check_fail("6.0: dirty-bitmap needs 6.2", &r, -EOPNOTSUPP, "open", "6.2", 5);
	free(log);

	log = scenario("old", 20, NULL, &x, 1, &r);
	check_fail("5.1: too old, clear error", &r, -EOPNOTSUPP, "open", "needs QEMU 5.2", 5);
	free(log);

	x = opts(0.5, 0);
	log = scenario("normal", 20, NULL, &x, 1, &r);
	check_fail("7.2: sub-second interval refused", &r, -EINVAL, "open", "whole seconds", 5);
	free(log);
}

static void t_options(void)
{
	struct qmp_tracker_opts x = opts(1, 0);
	struct qt_run r;

	x.sample_pages = 2048;
	char *log = scenario("normal", 20, NULL, &x, 1, &r);
	TEST_CHECK(!r.err && r.n == 1 && qt_count(log, "\"sample-pages\":2048") == 2,
		   "sample-pages is passed on", "err %d (%s) log:\n%s", r.err, r.error, log);
	free(log);
	x.sample_pages = 100;
	log = scenario("normal", 20, NULL, &x, 1, &r);
	check_fail("sample-pages out of range", &r, -EINVAL, "open", "128 to 16384", 5);
	free(log);
	x.sample_pages = 0;
	log = scenario("normal", 20, "bogus", &x, 1, &r);
	check_fail("unknown mode", &r, -EINVAL, "open", "auto, page-sampling", 5);
	free(log);
	qt_track("/nonexistent/qmp.sock", NULL, &x, 1, &r);
	check_fail("no socket", &r, -ENOENT, "open", "cannot connect", 5);
}

static void t_errors(void)
{
	struct qmp_tracker_opts x = opts(1, 1000);
	struct qt_run r;
	char *log;

	log = scenario("errors", 20, NULL, &x, 1, &r);
	check_fail("QEMU refuses calc-dirty-rate: its reason", &r, -EINVAL, "start",
		   "injected failure", 5);
	free(log);
	log = scenario("garbage", 20, NULL, &x, 1, &r);
	check_fail("garbage peer: not a QMP socket", &r, -EPROTO, "open", "not a QMP socket", 5);
	free(log);
	log = scenario("silent", 20, NULL, &x, 1, &r);
	check_fail("silent peer: times out", &r, -ETIMEDOUT, "open", "no QMP greeting", 3);
	free(log);
	log = scenario("malformed", 20, NULL, &x, 1, &r);
	check_fail("malformed JSON: clear error", &r, -EPROTO, "open", "malformed JSON", 5);
	free(log);
	log = scenario("oversized", 20, NULL, &x, 1, &r);
	check_fail("oversized message: clear error", &r, -EMSGSIZE, "open", "exceeds 1048576", 5);
	free(log);
	log = scenario("hang", 20, NULL, &x, 3, &r);
	check_fail("QEMU stops answering mid-run: times out", &r, -ETIMEDOUT, "collect", "no reply",
		   5);
	TEST_CHECK(r.n == 1, "QEMU stops answering: the interval before is kept", "%u", r.n);
	free(log);
}

static void t_lifecycle(void)
{
	struct qmp_tracker_opts x = opts(1, 0);
	struct qt_run r;
	char *log;

	log = scenario("disconnect", 20, NULL, &x, 4, &r);
	check_fail("QEMU quits mid-measurement: clear error", &r, -ECONNRESET, "collect",
		   "QEMU shut down: host-signal", 5);
	TEST_CHECK(r.n == 2, "QEMU quits: the intervals before are kept", "%u samples", r.n);
	free(log);

	log = scenario("slow", 20, NULL, &x, 2, &r);
	check_run("slow replies (300 ms each)", &r, 2);
	TEST_CHECK(rate_ok(&r, 20, 0), "slow replies: counts right", "dirty %llu",
		   (unsigned long long)r.dirty[0]);
	free(log);

	log = scenario("measuring", 20, NULL, &x, 2, &r);
	check_run("another client's measurement at open", &r, 2);
	TEST_CHECK(!strstr(log, "VIOLATION") && r.elapsed > 3.5,
		   "another client's measurement is waited for, never clobbered",
		   "elapsed %.2f log:\n%s", r.elapsed, log);
	free(log);

	log = scenario("intruder", 20, NULL, &x, 3, &r);
	check_fail("another client replaces a measurement: clear error", &r, -EBUSY, "collect",
		   "another QMP client", 5);
	free(log);
}

/* A stop mid-interval: the last collect waits for QEMU's window and reports rate x the part;
 * then a second session (monitor dpt_start) starts cleanly over the window left running. */
static void t_partial(void)
{
	struct dpt_target target = {.kind = DPT_TARGET_QMP, .qmp_path = sock};
	struct qmp_tracker_opts x = opts(1, 0);
	struct dpt_tracker_opts o = {.extra = &x};
	struct dpt_tracker t = {.ops = &qmp_tracker_ops};
	struct dpt_sample s1 = {0}, s2 = {0}, s3 = {0};
	double waited = 0;
	char *log = NULL;
	int err = -ECHILD;

	if (!fake_start("normal", 100)) {
		err = t.ops->open(&t, &target, &o);
		err = err ?: t.ops->start(&t);
		qt_sleep_until(qt_now() + 1.0);
		err = err ?: t.ops->collect(&t, &s1);
		qt_sleep_until(qt_now() + 0.4);
		double t0 = qt_now();
		err = err ?: t.ops->collect(&t, &s2);
		waited = qt_now() - t0;
		err = err ?: t.ops->start(&t);
		qt_sleep_until(qt_now() + 1.0);
		err = err ?: t.ops->collect(&t, &s3);
		t.ops->close(&t);
		log = fake_stop();
	}
	TEST_CHECK(!err && waited > 0.5 && waited < 0.8,
		   "partial interval: the last collect waits out QEMU's window",
		   "err %d (%s), waited %.3f s", err, dpt_last_error(), waited);
	TEST_CHECK(!err && s2.dirty > 100 * 256 * 0.38 && s2.dirty < 100 * 256 * 0.45,
		   "partial interval: rate x its length", "err %d, dirty %llu for 0.4 s", err,
		   (unsigned long long)s2.dirty);
	TEST_CHECK(!err && s3.dirty == 25600 && log && !strstr(log, "VIOLATION"),
		   "second session after a stop", "err %d, dirty %llu", err,
		   (unsigned long long)s3.dirty);
	free(log);
}

int main(void)
{
	alarm(120); /* a hang is a failure, not a stuck test run */
	qt_helper("qmp-fake", fake, sizeof(fake));
	if (access(fake, X_OK)) {
		test_skip("qmp-proto", "%s not built (make tests)", fake);
		return test_done();
	}
	snprintf(dir, sizeof(dir), "/tmp/dpt-qmp.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/qmp.sock", dir);
	snprintf(logpath, sizeof(logpath), "%s/fake.log", dir);
	dpt_verbosity = 0;
	t_normal();
	t_events();
	t_kvm();
	t_ring();
	t_tcg_fallback();
	t_versions();
	t_options();
	t_errors();
	t_lifecycle();
	t_partial();
	unlink(logpath);
	unlink(sock);
	rmdir(dir);
	return test_done();
}
