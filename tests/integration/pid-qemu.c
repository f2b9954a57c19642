/* pid-qemu - the pid tracker on a real QEMU (TCG) running Linux, from the host.
 *
 * A test VM (tests/vmkit/start.sh, 256 MiB) runs the writer (tests/helpers/writer.c) with a
 * known rate over a 64 MiB working set, after a delay. The QEMU process is tracked with its
 * QMP socket: the regions are its RAM blocks in RAM-offset order and the total is QEMU's last
 * RAM page (from "info ramblock", parsed here independently); the dirty rate measured while
 * the writer runs, minus the rate measured before it starts (the guest kernel's own writes),
 * is within 5% of the writer's, and nearly all of it lands in pc.ram. Without QMP the regions
 * are every RAM block all the same (its DONTFORK mappings), guest RAM first. Skips without
 * qemu or the kit's kernel.
 */
#include <poll.h>

#include "../test.h"
#include "pid-util.h"

#define WRITER_RATE  2000 /* pages per second */
#define WRITER_DELAY 5	  /* seconds between ready and the first write */
#define GUEST_PAGES  (256ULL << 20 >> 12)

static char dir[] = "/tmp/dpt-pid-qemu.XXXXXX";

static void stop_vm(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd),
		 "tests/vmkit/stop.sh --pidfile %s/vm.pid --qmp %s/qmp.sock >/dev/null 2>&1; "
		 "rm -rf %s",
		 dir, dir, dir);
	if (system(cmd))
		printf("# stop.sh failed\n");
}

static double now_s(void)
{
	return tgt_now_ns() / 1e9;
}

/* QEMU's last RAM page, from "info ramblock" through the kit's qmp.sh; *sum: the pages of
 * all its blocks (their mappings' lengths), *nr: how many. */
static uint64_t last_ram_page(uint64_t *sum, unsigned *nr)
{
	char cmd[512], line[512];
	uint64_t last = 0;
	FILE *f;

	*sum = 0;
	*nr = 0;

	snprintf(cmd, sizeof(cmd),
		 "tests/vmkit/qmp.sh %s/qmp.sock '{\"execute\":\"human-monitor-command\","
		 "\"arguments\":{\"command-line\":\"info ramblock\"}}' 2>/dev/null | "
		 "sed 's/\\\\r\\\\n/\\n/g'",
		 dir);
	f = popen(cmd, "r");
	while (f && fgets(line, sizeof(line), f)) {
		uint64_t off, used, total;
		char *p = strstr(line, "0x");

		if (!p || sscanf(p, "%" SCNx64 " %" SCNx64 " %" SCNx64, &off, &used, &total) != 3)
			continue;
		if ((off + total) / 4096 > last)
			last = (off + total) / 4096;
		*sum += (total + 4095) / 4096;
		(*nr)++;
	}
	if (f)
		pclose(f);
	return last;
}

static int open_qemu(struct dpt_tracker *t, pid_t pid, const char *qmp)
{
	static struct pid_tracker_opts xo;
	struct dpt_target target = {.kind = DPT_TARGET_PID, .pid = pid, .qmp_path = qmp};
	struct dpt_tracker_opts o = {.mode = "uffd", .extra = &xo};

	memset(t, 0, sizeof(*t));
	t->ops = &pid_tracker_ops;
	dpt_clear_error();
	return t->ops->open(t, &target, &o);
}

/* Dirty pages per second over [from, to) seconds after t0, in 500 ms intervals; also the
 * share that landed in the region named main. */
static double measure(struct dpt_tracker *t, double t0, double from, double to,
		      const char *main_region, double *share)
{
	struct dpt_sample s;
	uint64_t dirty = 0, in_main = 0;
	double start;

	while (now_s() < t0 + from)
		usleep(10000);
	memset(&s, 0, sizeof(s));
	if (t->ops->collect(t, &s))
		return -1;
	start = now_s();
	while (now_s() < t0 + to) {
		usleep(500000);
		memset(&s, 0, sizeof(s));
		if (t->ops->collect(t, &s))
			return -1;
		dirty += s.dirty;
		for (unsigned r = 0; r < s.nr_regions; r++)
			if (!strcmp(s.regions[r].name, main_region))
				for (uint64_t i = 0; i < s.regions[r].pages; i++)
					in_main +=
					    bitmap_test(s.bitmap, s.regions[r].first_page + i);
	}
	if (share)
		*share = dirty ? (double)in_main / dirty : 0;
	return dirty / (now_s() - start);
}

int main(void)
{
	char cmd[1024], qmp[128], line[256];
	struct dpt_tracker t;
	struct dpt_sample s;
	double t0, bg, fg, share = 0;
	uint64_t last, sum;
	unsigned nr_blocks;
	pid_t pid = 0;
	FILE *f;
	int err;

	dpt_clear_error();
	if (pid_tracker_ops.probe(&(struct dpt_tracker_opts){.mode = "uffd"})) {
		test_skip("pid-qemu", "no uffd method here: %s", pid_test_err());
		return test_done();
	}
	if (system("command -v qemu-system-x86_64 >/dev/null 2>&1")) {
		test_skip("pid-qemu", "no qemu-system-x86_64");
		return test_done();
	}
	if (!mkdtemp(dir))
		return 1;
	snprintf(qmp, sizeof(qmp), "%s/qmp.sock", dir);
	snprintf(cmd, sizeof(cmd),
		 "tests/vmkit/start.sh --qmp %s --pidfile %s/vm.pid --mem 256M --helpers "
		 "--ready '^writer ready' -- writer --wss 64M --rate %d --delay %d --duration 0 "
		 "2>&1",
		 qmp, dir, WRITER_RATE, WRITER_DELAY);
	f = popen(cmd, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "pid=", 4))
			pid = atoi(line + 4);
	if (!f || pclose(f) || pid <= 0) {
		test_skip("pid-qemu", "the test VM did not start (tests/vmkit/start.sh)");
		stop_vm();
		return test_done();
	}
	t0 = now_s(); /* the writer starts writing WRITER_DELAY s from about now */

	err = open_qemu(&t, pid, qmp);
	TEST_CHECK(!err && strstr(t.target_desc, "from QMP"), "qemu-open-qmp", "%s",
		   err ? pid_test_err() : t.target_desc);
	if (err)
		goto out;
	printf("# %s\n", t.target_desc);
	last = last_ram_page(&sum, &nr_blocks);
	err = t.ops->start(&t);
	memset(&s, 0, sizeof(s));
	err = err || t.ops->collect(&t, &s);
	TEST_CHECK(!err && s.total == last && last > GUEST_PAGES && s.nr_regions > 1 &&
		       !strcmp(s.regions[0].name, "pc.ram") && s.regions[0].first_page == 0 &&
		       s.regions[0].pages >= GUEST_PAGES,
		   "qemu-ram-blocks",
		   "total %" PRIu64 " (QEMU's last RAM page %" PRIu64 "), %u "
		   "regions, first %s",
		   s.total, last, s.nr_regions, s.nr_regions ? s.regions[0].name : "-");
	for (unsigned r = 0; !err && r < s.nr_regions; r++)
		printf("# region %s at page %" PRIu64 ", %" PRIu64 " pages\n", s.regions[r].name,
		       s.regions[r].first_page, s.regions[r].pages);

	bg = measure(&t, t0, 0.5, WRITER_DELAY - 0.5, "pc.ram", NULL);
	fg = measure(&t, t0, WRITER_DELAY + 0.5, WRITER_DELAY + 4.5, "pc.ram", &share);
	printf("# guest kernel alone %.0f pages/s, with the writer %.0f pages/s: writer %.0f "
	       "(set to %d), %.1f%% in pc.ram\n",
	       bg, fg, fg - bg, WRITER_RATE, share * 100);
	TEST_CHECK(
	    bg >= 0 && fg >= 0 && (fg - bg) > WRITER_RATE * 0.95 && (fg - bg) < WRITER_RATE * 1.05,
	    "qemu-writer-rate-within-5pct", "measured %.0f pages/s for %d", fg - bg, WRITER_RATE);
	TEST_CHECK(share > 0.95, "qemu-writes-in-pc.ram", "%.1f%%", share * 100);
	t.ops->close(&t);

	err = open_qemu(&t, pid, NULL);
	TEST_CHECK(!err && strstr(t.target_desc, "from its mappings"), "qemu-open-maps", "%s",
		   err ? pid_test_err() : t.target_desc);
	if (!err) {
		err = t.ops->start(&t);
		memset(&s, 0, sizeof(s));
		usleep(300000);
		err = err || t.ops->collect(&t, &s);
		/* every RAM block, as with QMP (without the gaps of QEMU's offsets), guest RAM
		 * first under the name "ram" */
		TEST_CHECK(!err && s.total == sum && s.nr_regions == nr_blocks && s.dirty > 0 &&
			       !strcmp(s.regions[0].name, "ram") &&
			       s.regions[0].pages == GUEST_PAGES,
			   "qemu-maps-all-blocks",
			   "total %" PRIu64 " (the blocks' %" PRIu64 "), regions %u (%u blocks), "
			   "first %s, dirty %" PRIu64,
			   s.total, sum, s.nr_regions, nr_blocks, s.nr_regions ? s.regions[0].name : "-",
			   s.dirty);
		for (unsigned r = 0; !err && r < s.nr_regions; r++)
			printf("# without QMP: region %s at page %" PRIu64 ", %" PRIu64 " pages\n",
			       s.regions[r].name, s.regions[r].first_page, s.regions[r].pages);
		t.ops->close(&t);
	}
	snprintf(line, sizeof(line), "%d", pid);
	{
		char why[128];

		TEST_CHECK(pid_test_clean(pid, why, sizeof(why)), "qemu-nothing-left", "%s", why);
	}
out:
	stop_vm();
	return test_done();
}
