/* pid-overhead.c - what the pid tracker (uffd method) costs the target, and what a collect
 * costs dpt, each measured side by side with its baseline in one run.
 *
 * 1. Target slowdown. A forked writer rewrites a 256 MiB working set as fast as it can, one
 *    store per page, and counts pages in a shared page. Its rate is measured untracked, then
 *    tracked (default regions) with a collect every 1 s, 100 ms and 10 ms, each tracked run
 *    right after an untracked one: the ratio is tracked / untracked. This writer is the worst
 *    case: it dirties its whole working set many times per interval, so every interval costs
 *    it one write-protect fault per page (~2 us); a program that dirties fewer pages than it
 *    writes pays proportionally less.
 * 2. Collect cost per GiB. A synthetic target (tests/integration/pid-util.h) with MEM of
 *    populated memory (default 512M, scaled to 1 GiB) writes 0%, 1% or 100% of it between
 *    collects; collect() (range region = that memory) is timed, and on the same memory, with
 *    the same pages written, a bare PAGEMAP_SCAN loop (one ioctl walk with WP_MATCHING, the
 *    floor any uffd tracker pays); the ratio is collect / bare scan. Medians of 7.
 *
 *	build/bench/pid-overhead [MEM]
 */
#include <stdatomic.h>

#include "../tests/integration/pid-util.h"
#include "dpt/parse.h"
#include "trackers/pid/kabi.h"

#define WS_PAGES (256UL << 20 >> 12)

static double now_s(void)
{
	return tgt_now_ns() / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* ---- 1. the writer's throughput ---- */

static __attribute__((noreturn)) void writer(_Atomic uint64_t *count)
{
	volatile char *buf = mmap(NULL, WS_PAGES * TGT_PAGE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	uint64_t n = 0;

	if (buf == MAP_FAILED)
		_exit(1);
	for (;;) {
		for (unsigned long i = 0; i < WS_PAGES; i++) {
			buf[i * TGT_PAGE] = (char)n;
			if (!(++n & 255))
				atomic_store_explicit(count, n, memory_order_relaxed);
		}
	}
}

/* Pages per second the writer achieves over secs, with a collect every interval (0: none). */
static double writer_rate(pid_t pid, _Atomic uint64_t *count, double secs, double interval,
			  unsigned *collects)
{
	struct dpt_tracker t;
	struct dpt_sample s;
	double t0, t1, next;
	uint64_t c0, c1;

	*collects = 0;
	if (interval && (pid_test_open(&t, pid, "uffd", NULL, 0) || t.ops->start(&t))) {
		fprintf(stderr, "pid-overhead: %s\n", pid_test_err());
		exit(1);
	}
	t0 = now_s();
	c0 = atomic_load(count);
	next = t0 + interval;
	while (now_s() < t0 + secs) {
		if (!interval) {
			usleep(10000);
			continue;
		}
		while (now_s() < next)
			usleep(200);
		memset(&s, 0, sizeof(s));
		if (t.ops->collect(&t, &s)) {
			fprintf(stderr, "pid-overhead: collect: %s\n", pid_test_err());
			exit(1);
		}
		(*collects)++;
		next += interval;
	}
	c1 = atomic_load(count);
	t1 = now_s();
	if (interval)
		t.ops->close(&t);
	return (c1 - c0) / (t1 - t0);
}

static void bench_writer(void)
{
	static const double intervals[] = {1.0, 0.1, 0.01};
	_Atomic uint64_t *count =
	    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned collects;
	pid_t pid;

	*count = 0;
	pid = fork();
	if (!pid)
		writer(count);
	while (atomic_load(count) < 2 * WS_PAGES)
		usleep(10000);
	printf(
	    "target slowdown: a writer rewriting 256 MiB, one store per page, as fast as it can\n");
	printf("  %-10s %14s %14s %8s %10s\n", "interval", "untracked p/s", "tracked p/s", "ratio",
	       "collects");
	for (unsigned i = 0; i < 3; i++) {
		double secs = intervals[i] >= 1 ? 3 : 2;
		double base = writer_rate(pid, count, secs, 0, &collects);
		double tracked = writer_rate(pid, count, secs, intervals[i], &collects);

		printf("  %-10s %14.3g %14.3g %8.3f %10u\n",
		       intervals[i] >= 1     ? "1 s"
		       : intervals[i] >= 0.1 ? "100 ms"
					     : "10 ms",
		       base, tracked, tracked / base, collects);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ---- 2. collect against a bare PAGEMAP_SCAN ---- */

static double bare_scan(int pagemap, uint64_t start, uint64_t end, struct page_region *vec,
			size_t vec_len)
{
	struct pm_scan_arg arg = {
	    .size = sizeof(arg),
	    .flags = PM_SCAN_WP_MATCHING,
	    .start = start,
	    .end = end,
	    .vec = (uintptr_t)vec,
	    .vec_len = vec_len,
	    .category_mask = PAGE_IS_WRITTEN,
	    .return_mask = PAGE_IS_WRITTEN,
	};
	double t0 = now_s();

	while (ioctl(pagemap, PAGEMAP_SCAN, &arg) >= 0 && arg.walk_end < end)
		arg.start = arg.walk_end;
	return now_s() - t0;
}

static void bench_collect(uint64_t mem)
{
	static const unsigned steps[] = {0, 100, 1}; /* 0%, 1%, 100% */
	static const char *const names[] = {"0%", "1%", "100%"};
	size_t vec_len = 4096;
	struct page_region *vec = malloc(vec_len * sizeof(*vec));
	unsigned pages = mem / TGT_PAGE;
	double scale = (double)(1ULL << 30) / mem;
	char range[64], path[64];
	const char *regions[] = {range};
	struct dpt_tracker t;
	struct dpt_sample s;
	struct tgt g;
	int pagemap;

	if (!vec || tgt_start(&g, pages) || tgt_cmd(&g, "w 0 %u", pages)) {
		fprintf(stderr, "pid-overhead: cannot start the target\n");
		exit(1);
	}
	snprintf(range, sizeof(range), "%" PRIx64 "-%" PRIx64, g.base, g.base + mem);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", g.pid);
	pagemap = open(path, O_RDONLY);
	if (pagemap < 0 || pid_test_open(&t, g.pid, "uffd", regions, 1) || t.ops->start(&t)) {
		fprintf(stderr, "pid-overhead: %s\n", pid_test_err());
		exit(1);
	}
	printf("collect cost, %" PRIu64 " MiB populated, scaled to 1 GiB (median of 7)\n",
	       mem >> 20);
	printf("  %-8s %14s %14s %8s\n", "dirty", "collect ms/GiB", "bare scan ms/GiB", "ratio");
	for (unsigned c = 0; c < 3; c++) {
		double tc[7], tb[7], t0;

		for (unsigned k = 0; k < 7; k++) {
			if (steps[c])
				tgt_cmd(&g, "s 0 %u %u", pages, steps[c]);
			memset(&s, 0, sizeof(s));
			t0 = now_s();
			if (t.ops->collect(&t, &s)) {
				fprintf(stderr, "pid-overhead: collect: %s\n", pid_test_err());
				exit(1);
			}
			tc[k] = now_s() - t0;
			if (steps[c])
				tgt_cmd(&g, "s 0 %u %u", pages, steps[c]);
			tb[k] = bare_scan(pagemap, g.base, g.base + mem, vec, vec_len);
		}
		qsort(tc, 7, sizeof(double), cmp_double);
		qsort(tb, 7, sizeof(double), cmp_double);
		printf("  %-8s %14.2f %14.2f %8.2f\n", names[c], tc[3] * 1e3 * scale,
		       tb[3] * 1e3 * scale, tc[3] / tb[3]);
	}
	t.ops->close(&t);
	close(pagemap);
	tgt_stop(&g);
	free(vec);
}

int main(int argc, char **argv)
{
	uint64_t mem = 512ULL << 20;

	if (argc > 1 && (parse_size(argv[1], &mem) || mem < (64ULL << 20))) {
		fprintf(stderr, "usage: pid-overhead [MEM] (at least 64M)\n");
		return 2;
	}
	dpt_clear_error();
	if (pid_tracker_ops.probe(&(struct dpt_tracker_opts){.mode = "uffd"})) {
		printf("pid-overhead: skipped: %s\n", pid_test_err());
		return 0;
	}
	bench_writer();
	bench_collect(mem);
	return 0;
}
