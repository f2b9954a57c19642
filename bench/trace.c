/* trace.c - what a .dpt trace costs, each figure side by side with its baseline or target.
 *
 * 1. sizes: for each pattern, 20 intervals of a 4 GiB target (1 Mi pages) written as a trace
 *    (the file's bytes after its header, record frames and footer included) and as Qemu-DPT's
 *    bitmaps (T / 8 bytes an interval: raw, and each file compressed with zstd at the trace's
 *    level and at level 3): bytes per dirty page-interval, and how many times smaller the trace
 *    is than the raw bitmaps.
 * 2. speed, one core: dirty page-intervals per second written (trace_writer_sample: sizing,
 *    encoding, zstd, CRC, the write to the page cache) and read back (trace_reader_next, then
 *    each set as a bitmap, or as runs), against the targets (100 M/s, 300 M/s).
 * 3. live: the -o trace writer (src/writers/trace.c, through its writer ops) fed samples of a
 *    4 GiB target at 100 a second: the time the loop's thread spends in its sample() (the copy
 *    into its queue) against the 10 ms interval; then fed as fast as it takes them, what its
 *    thread sustains, in samples a second against the 100 needed.
 * 4. gen: a big synthetic trace, by default one hour of a 64 GiB VM at 1 s intervals with 5 %
 *    of its pages dirty each interval (16.7 M pages x 3600): its size, how long writing it and
 *    a full decode take, and `dpt report` on it when this dpt has that command ($DPT).
 *
 *	build/bench/trace [sizes] [speed] [live]    (default: all three, about half a minute)
 *	build/bench/trace gen [FILE [PAGES INTERVALS PERCENT [PATTERN]]]
 * PATTERN (gen): random (the default: uniform, each interval anew), seq (a window of PERCENT
 * of the pages moving on by its width each interval) or clustered (runs of 1 to 128 pages at
 * random places, PERCENT of the pages).
 * Files go to $TMPDIR (default /tmp); gen's is kept for timing other readers on it.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/trace.h"
#include "dpt/writer.h"

#define PAGES	  (1u << 20) /* 4 GiB of 4 KiB pages */
#define INTERVALS 20

extern const struct dpt_writer_ops trace_writer_ops;

static char tmpdir[2048];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this thread: the speed of one core, whatever else the machine runs. */
static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

/* A uniform page below n. */
static uint64_t rnd_page(uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rnd() * n) >> 64);
}

/* ---- the patterns ---- */

enum pattern { P_SEQ, P_RAND1, P_RAND5, P_HOTCOLD, P_SPARSE, P_CLUSTER, P_RAND25, P_ALL, NR_PATTERNS };

static const char *const pattern_name[] = {
	"seq 5%", "random 1%", "random 5%", "hot/cold", "sparse idle", "clustered 5%",
	"random 25%", "all dirty",
};
static const char *const pattern_how[] = {
	"a window of 5% of the pages, moving on each interval",
	"each page dirty with probability 1/100",
	"each page dirty with probability 1/20",
	"5% of the pages written: 90% of the writes in a hot tenth, 10% over the rest",
	"100 scattered pages and 4 runs of 8 (an idle guest: timers, page tables)",
	"runs of 1 to 128 pages (64 on average) at random places, 5% of the pages",
	"each page dirty with probability 1/4 (stored as a bitmap)",
	"every page",
};

/* Uniform random pages of [first, first + n) until about pct % are dirty (draws with
 * repetition: -ln(1 - p) n draws leave p n distinct pages). */
static void scatter(uint64_t *bm, uint64_t first, uint64_t n, double pct)
{
	uint64_t draws = (uint64_t)ceil(-log(1 - pct / 100) * (double)n);

	for (uint64_t i = 0; i < draws; i++)
		bitmap_set(bm, first + rnd_page(n));
}

/* Interval k of a pattern over n pages. */
static void pattern_fill(enum pattern p, uint64_t *bm, uint64_t n, unsigned k)
{
	memset(bm, 0, bitmap_bytes(n));
	switch (p) {
	case P_SEQ: {
		uint64_t w = n / 20, start = (uint64_t)k * w % n;
		bitmap_set_range(bm, start, start + w <= n ? w : n - start);
		break;
	}
	case P_RAND1:
		scatter(bm, 0, n, 1);
		break;
	case P_RAND5:
		scatter(bm, 0, n, 5);
		break;
	case P_RAND25:
		scatter(bm, 0, n, 25);
		break;
	case P_HOTCOLD: {
		uint64_t writes = n / 20, hot = n / 10, hot0 = n / 3;
		for (uint64_t i = 0; i < writes; i++) {
			if (rnd() % 10)
				bitmap_set(bm, hot0 + rnd_page(hot));
			else
				bitmap_set(bm, (hot0 + hot + rnd_page(n - hot)) % n);
		}
		break;
	}
	case P_SPARSE:
		for (int i = 0; i < 100; i++)
			bitmap_set(bm, rnd_page(n));
		for (int i = 0; i < 4; i++)
			bitmap_set_range(bm, rnd_page(n - 8), 8);
		break;
	case P_CLUSTER:
		for (uint64_t sum = 0; sum < n / 20;) {
			uint64_t len = 1 + rnd() % 128;
			bitmap_set_range(bm, rnd_page(n - len), len);
			sum += len;
		}
		break;
	case P_ALL:
	case NR_PATTERNS:
		bitmap_fill(bm, n);
		break;
	}
}

/* ---- writing and reading traces ---- */

static struct trace_header bench_header(uint64_t interval_ns)
{
	return (struct trace_header){.page_size = 4096, .dpt_version = "bench", .tracker = "kvm",
				     .mode = "bitmap", .target = "synthetic", .command = "bench/trace",
				     .interval_ns = interval_ns, .flags = TRACE_HAS_SETS};
}

static struct dpt_sample bench_sample(uint64_t seq, uint64_t interval_ns, const uint64_t *bm,
				      uint64_t n)
{
	int64_t t0 = (int64_t)(seq - 1) * (int64_t)interval_ns;

	return (struct dpt_sample){
		.seq = seq,
		.mono_start = {t0 / 1000000000, t0 % 1000000000},
		.mono_end = {(t0 + (int64_t)interval_ns) / 1000000000,
			     (t0 + (int64_t)interval_ns) % 1000000000},
		.dirty = bitmap_weight(bm, n),
		.total = n,
		.page_size = 4096,
		.bitmap = bm,
	};
}

/* Write rounds x k intervals (the sets bms[0..k)) to path: *bytes after the header (footer
 * included), *secs in trace_writer_sample. */
static int write_trace(const char *path, uint64_t **bms, unsigned k, unsigned rounds, uint64_t n,
		       uint64_t *bytes, double *secs)
{
	struct trace_header h = bench_header(10000000);
	struct trace_writer *tw;
	struct stat st;
	int err;

	*secs = 0;
	if ((err = trace_writer_open(&tw, path, true, &h)))
		return err;
	uint64_t base = trace_writer_bytes(tw), seq = 1;
	for (unsigned r = 0; r < rounds && !err; r++) {
		for (unsigned i = 0; i < k && !err; i++) {
			struct dpt_sample s = bench_sample(seq++, 10000000, bms[i], n);
			double t0 = cpu_s();
			err = trace_writer_sample(tw, &s);
			*secs += cpu_s() - t0;
		}
	}
	int e2 = trace_writer_close(tw, true, false);
	if (err || e2)
		return err ? err : e2;
	if (stat(path, &st))
		return -errno;
	*bytes = (uint64_t)st.st_size - base;
	return 0;
}

/* Read every record of path, each set as a bitmap (runs false) or as runs: dirty
 * page-intervals read, or -errno. */
static int64_t read_trace(const char *path, bool runs)
{
	struct trace_reader *r;
	struct trace_record rec;
	int64_t pages = 0;
	int got, err;

	if ((err = trace_reader_open(&r, path)))
		return err;
	while ((got = trace_reader_next(r, &rec)) > 0) {
		const uint64_t *bm;
		const struct trace_run *rr;
		size_t nr;
		if (rec.type != TRACE_REC_INTERVAL || !rec.has_set)
			continue;
		got = runs ? trace_reader_runs(r, 0, &rr, &nr) : trace_reader_bitmap(r, 0, &bm);
		if (got)
			break;
		pages += (int64_t)rec.s.dirty;
	}
	trace_reader_close(r);
	return got < 0 ? got : pages;
}

/* ---- 1. sizes ---- */

static uint64_t zstd_size(const void *p, size_t n, int level)
{
	size_t cap = ZSTD_compressBound(n);
	void *z = malloc(cap);
	size_t got = ZSTD_compress(z, cap, p, n, level);

	free(z);
	return ZSTD_isError(got) ? n : got;
}

static uint64_t **make_sets(enum pattern p, uint64_t n, unsigned k)
{
	uint64_t **bms = calloc(k, sizeof(*bms));

	for (unsigned i = 0; i < k; i++) {
		bms[i] = malloc(bitmap_bytes(n));
		pattern_fill(p, bms[i], n, i);
	}
	return bms;
}

static void free_sets(uint64_t **bms, unsigned k)
{
	for (unsigned i = 0; i < k; i++)
		free(bms[i]);
	free(bms);
}

/* The encoding the writer takes, as a name. */
static const char *encoding(const uint64_t *bm, uint64_t n)
{
	size_t sz[3];

	trace_set_sizes(bm, n, sz);
	return sz[TRACE_SET_BITMAP] < sz[TRACE_SET_INDICES] && sz[TRACE_SET_BITMAP] < sz[0 + 1]
		       ? "bitmap"
	       : sz[TRACE_SET_INDICES] < sz[TRACE_SET_RUNS] ? "indices"
							    : "runs";
}

static int bench_sizes(void)
{
	char path[4200];
	int err = 0;

	snprintf(path, sizeof(path), "%s/dpt-bench-sizes.dpt", tmpdir);
	printf("== sizes: bytes per dirty page-interval, %u intervals of a 4 GiB target (%u pages),"
	       " zstd level %d\n", INTERVALS, PAGES, trace_zstd_level);
	printf("%-13s %9s %8s %8s %8s %8s %9s %8s  %s\n", "pattern", "dirty/int", "trace",
	       "bitmap", "bm+zstd", "bm+zstd3", "bitmap/tr", "encoding", "target");
	for (int p = 0; p < NR_PATTERNS && !err; p++) {
		uint64_t **bms = make_sets(p, PAGES, INTERVALS), dirty = 0, bytes, z1 = 0, z3 = 0;
		double secs;
		for (unsigned i = 0; i < INTERVALS; i++) {
			dirty += bitmap_weight(bms[i], PAGES);
			z1 += zstd_size(bms[i], bitmap_bytes(PAGES), trace_zstd_level);
			z3 += zstd_size(bms[i], bitmap_bytes(PAGES), 3);
		}
		err = write_trace(path, bms, INTERVALS, 1, PAGES, &bytes, &secs);
		double raw = (double)INTERVALS * (double)bitmap_bytes(PAGES), d = (double)dirty;
		double per = (double)bytes / d;
		char target[64] = "";
		if (p == P_RAND1 || p == P_RAND5 || p == P_HOTCOLD)
			snprintf(target, sizeof(target), "<= 1.3: %s", per <= 1.3 ? "met" : "MISSED");
		if (p == P_SEQ || p == P_CLUSTER)
			snprintf(target, sizeof(target), "<= 0.3: %s", per <= 0.3 ? "met" : "MISSED");
		if (p == P_SPARSE)
			snprintf(target, sizeof(target), ">= 50x: %s",
				 raw / (double)bytes >= 50 ? "met" : "MISSED");
		printf("%-13s %9.0f %8.3f %8.2f %8.3f %8.3f %8.0fx %8s  %s\n", pattern_name[p],
		       d / INTERVALS, per, raw / d, (double)z1 / d, (double)z3 / d,
		       raw / (double)bytes, encoding(bms[0], PAGES), target);
		free_sets(bms, INTERVALS);
	}
	printf("(trace: the file's bytes after its header, footer included; bitmap: Qemu-DPT's "
	       "files, T/8 bytes an interval)\n");
	for (int p = 0; p < NR_PATTERNS; p++)
		printf("  %-13s %s\n", pattern_name[p], pattern_how[p]);
	unlink(path);
	if (err)
		fprintf(stderr, "bench/trace: %s\n", dpt_last_error());
	return err;
}

/* ---- 2. speed ---- */

static int bench_speed(void)
{
	static const enum pattern ps[] = {P_RAND1, P_RAND5, P_CLUSTER, P_SEQ, P_RAND25, P_ALL};
	char path[4200];
	int err = 0;

	snprintf(path, sizeof(path), "%s/dpt-bench-speed.dpt", tmpdir);
	printf("\n== speed on one core: millions of dirty page-intervals a second (4 GiB target)\n");
	printf("%-13s %9s %8s %8s %8s %8s %8s\n", "pattern", "encode", "/100M", "decode-bm",
	       "/300M", "decode-runs", "/300M");
	for (unsigned i = 0; i < sizeof(ps) / sizeof(ps[0]) && !err; i++) {
		uint64_t **bms = make_sets(ps[i], PAGES, INTERVALS), dirty = 0, bytes;
		for (unsigned j = 0; j < INTERVALS; j++)
			dirty += bitmap_weight(bms[j], PAGES);
		/* enough rounds for about 0.2 s of encoding at 100 M/s; the best of 3 */
		unsigned rounds = (unsigned)(20e6 / (double)dirty) + 1;
		double enc = 1e9, dbm = 1e9, drun = 1e9, e;
		for (int rep = 0; rep < 3 && !err; rep++) {
			err = write_trace(path, bms, INTERVALS, rounds, PAGES, &bytes, &e);
			enc = e < enc ? e : enc;
			for (int runs = 0; runs < 2 && !err; runs++) {
				double t0 = cpu_s();
				int64_t got = read_trace(path, runs);
				double t = cpu_s() - t0;
				if (got < 0)
					err = (int)got;
				if (runs)
					drun = t < drun ? t : drun;
				else
					dbm = t < dbm ? t : dbm;
			}
		}
		if (err)
			break;
		double m = (double)dirty * rounds / 1e6;
		printf("%-13s %9.0f %8.2f %8.0f %8.2f %8.0f %8.2f\n", pattern_name[ps[i]], m / enc,
		       m / enc / 100, m / dbm, m / dbm / 300, m / drun, m / drun / 300);
		free_sets(bms, INTERVALS);
	}
	printf("(encode: trace_writer_sample, to the page cache; decode: trace_reader_next and each "
	       "set as a bitmap, or as runs;\n this thread's CPU time, the best of 3; /target: "
	       "above 1 meets it)\n");
	unlink(path);
	if (err)
		fprintf(stderr, "bench/trace: %s\n", dpt_last_error());
	return err;
}

/* ---- 3. live ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct live_result {
	double med_us, p99_us, max_us, close_ms, secs;
};

/* Feed the -o trace writer n samples cycling over bms, at 100 a second (paced) or as fast as
 * it takes them. */
static int live_run(uint64_t **bms, unsigned k, unsigned n, bool paced, struct live_result *res)
{
	struct dpt_writer w = {.ops = &trace_writer_ops};
	struct dpt_run_info info = {.tracker = "kvm", .mode = "bitmap", .target_desc = "synthetic",
				    .interval_ns = 10000000, .has_bitmap = true,
				    .command = "bench/trace live"};
	double *us = calloc(n, sizeof(*us)), t0, next;
	char path[4200];
	int err;

	snprintf(path, sizeof(path), "%s/dpt-bench-live.dpt", tmpdir);
	if ((err = w.ops->open(&w, path, &info)) || (err = w.ops->start(&w)))
		goto out;
	t0 = next = now_s();
	for (unsigned i = 0; i < n && !err; i++) {
		struct dpt_sample s = bench_sample(i + 1, 10000000, bms[i % k], PAGES);
		if (paced) {
			next += 0.01;
			while (now_s() < next)
				usleep((useconds_t)((next - now_s()) * 1e6) + 1);
		}
		double a = now_s();
		err = w.ops->sample(&w, &s);
		us[i] = (now_s() - a) * 1e6;
	}
	if (!err)
		err = w.ops->stop(&w);
	double c = now_s();
	int e2 = w.ops->close(&w);
	double end = now_s();
	err = err ? err : e2;
	qsort(us, n, sizeof(*us), cmp_double);
	res->med_us = us[n / 2];
	res->p99_us = us[n * 99 / 100];
	res->max_us = us[n - 1];
	res->close_ms = (end - c) * 1e3;
	res->secs = end - t0;
out:
	unlink(path);
	free(us);
	return err;
}

static int bench_live(void)
{
	static const enum pattern ps[] = {P_ALL, P_RAND5, P_RAND25};
	int err = 0;

	printf("\n== live: -o trace fed samples of a 4 GiB target (%u pages, a %zu KiB bitmap each)\n",
	       PAGES, bitmap_bytes(PAGES) >> 10);
	printf("%-13s %10s %10s %10s %9s %10s %14s\n", "pattern", "sample()us", "p99 us", "max us",
	       "/10ms", "drain ms", "thread/s  /100");
	for (unsigned i = 0; i < sizeof(ps) / sizeof(ps[0]) && !err; i++) {
		uint64_t **bms = make_sets(ps[i], PAGES, 8);
		struct live_result paced, burst;
		err = live_run(bms, 8, 200, true, &paced);
		if (!err)
			err = live_run(bms, 8, 400, false, &burst);
		if (!err)
			printf("%-13s %10.1f %10.1f %10.1f %8.2f%% %10.1f %9.0f %5.0fx\n",
			       pattern_name[ps[i]], paced.med_us, paced.p99_us, paced.max_us,
			       paced.med_us / 100, paced.close_ms, 400 / burst.secs,
			       400 / burst.secs / 100);
		free_sets(bms, 8);
	}
	printf("(sample(): on the loop's thread, 200 samples at 100/s, median; drain: close() after "
	       "them, the queue left;\n thread/s: 400 samples fed as fast as taken, to close()'s "
	       "end, and how many times the 100/s of 10 ms intervals)\n");
	if (err)
		fprintf(stderr, "bench/trace: %s\n", dpt_last_error());
	return err;
}

/* ---- 4. gen ---- */

static void time_report(const char *path)
{
	const char *dpt = getenv("DPT") ? getenv("DPT") : "build/dpt";
	char cmd[8500];

	snprintf(cmd, sizeof(cmd), "'%s' report --help >/dev/null 2>&1", dpt);
	if (access(dpt, X_OK) || system(cmd)) {
		printf("dpt report: skipped (%s has no report command); time it with: time %s report "
		       "%s\n", dpt, dpt, path);
		return;
	}
	snprintf(cmd, sizeof(cmd), "'%s' report '%s' >/dev/null", dpt, path);
	double t0 = now_s();
	int rc = system(cmd);
	printf("dpt report: %.1f s (exit status %d): %s report %s\n", now_s() - t0, rc, dpt, path);
}

static int bench_gen(int argc, char **argv)
{
	char path[4200];
	uint64_t pages = 16ULL << 20, intervals = 3600, dirty = 0;
	double pct = 5, fill = 0, enc = 0;
	struct trace_header h = bench_header(1000000000);
	struct trace_writer *tw;
	struct stat st;
	int err;

	snprintf(path, sizeof(path), "%s/dpt-gen.dpt", tmpdir);
	if (argc > 0 && argv[0][0] == '-') {
		fprintf(stderr, "usage: trace gen [FILE [PAGES INTERVALS PERCENT "
				"[random|seq|clustered]]]\n");
		return 2;
	}
	if (argc > 0)
		snprintf(path, sizeof(path), "%s", argv[0]);
	if (argc > 3) {
		pages = strtoull(argv[1], NULL, 0);
		intervals = strtoull(argv[2], NULL, 0);
		pct = strtod(argv[3], NULL);
	}
	const char *pattern = argc > 4 ? argv[4] : "random";
	if (strcmp(pattern, "random") && strcmp(pattern, "seq") && strcmp(pattern, "clustered")) {
		fprintf(stderr, "bench/trace gen: pattern random, seq or clustered, not '%s'\n",
			pattern);
		return 2;
	}
	printf("== gen: %" PRIu64 " intervals of %" PRIu64 " pages (%.1f GiB), %.1f%% dirty each, "
	       "%s, zstd level %d: %s\n", intervals, pages, (double)pages / 262144, pct, pattern,
	       trace_zstd_level, path);
	uint64_t *bm = malloc(bitmap_bytes(pages));
	if ((err = trace_writer_open(&tw, path, true, &h)))
		goto out;
	for (uint64_t i = 0; i < intervals && !err; i++) {
		double t0 = now_s();
		memset(bm, 0, bitmap_bytes(pages));
		if (!strcmp(pattern, "seq")) {
			uint64_t w = (uint64_t)((double)pages * pct / 100), start = i * w % pages;
			bitmap_set_range(bm, start, start + w <= pages ? w : pages - start);
		} else if (!strcmp(pattern, "clustered")) {
			for (uint64_t sum = 0; sum < (uint64_t)((double)pages * pct / 100);) {
				uint64_t len = 1 + rnd() % 128;
				bitmap_set_range(bm, rnd_page(pages - len), len);
				sum += len;
			}
		} else {
			scatter(bm, 0, pages, pct);
		}
		struct dpt_sample s = bench_sample(i + 1, 1000000000, bm, pages);
		double t1 = now_s();
		err = trace_writer_sample(tw, &s);
		enc += now_s() - t1;
		fill += t1 - t0;
		dirty += s.dirty;
	}
	int e2 = trace_writer_close(tw, true, false);
	if ((err = err ? err : e2) || stat(path, &st))
		goto out;
	double m = (double)dirty / 1e6;
	printf("size: %.2f GiB, %.3f bytes per dirty page-interval (Qemu-DPT's bitmaps: %.1f GiB)\n",
	       (double)st.st_size / (1 << 30), (double)st.st_size / (double)dirty,
	       (double)intervals * (double)bitmap_bytes(pages) / (1 << 30));
	printf("writing: %.1f s (%.0f M dirty page-intervals/s), making the sets: %.1f s more\n", enc,
	       m / enc, fill);
	for (int runs = 0; runs < 2; runs++) {
		double t0 = now_s();
		int64_t got = read_trace(path, runs);
		if (got < 0) {
			err = (int)got;
			goto out;
		}
		double t = now_s() - t0;
		printf("full decode, sets as %s: %.1f s (%.0f M/s)\n", runs ? "runs" : "bitmaps", t,
		       (double)got / 1e6 / t);
	}
	time_report(path);
out:
	free(bm);
	if (err)
		fprintf(stderr, "bench/trace: %s\n", dpt_last_error());
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	int err = 0;

	snprintf(tmpdir, sizeof(tmpdir), "%s", tmp);
	if (argc > 1 && !strcmp(argv[1], "gen"))
		return bench_gen(argc - 2, argv + 2);
	bool all = argc < 2;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "sizes") && strcmp(argv[i], "speed") && strcmp(argv[i], "live")) {
			fprintf(stderr, "usage: trace [sizes] [speed] [live] | trace gen [FILE [PAGES "
					"INTERVALS PERCENT [random|seq|clustered]]]\n");
			return 2;
		}
	for (int i = all ? 0 : 1; i < (all ? 4 : argc) && !err; i++) {
		const char *what = all ? (const char *[]){"", "sizes", "speed", "live"}[i] : argv[i];
		if (!strcmp(what, "sizes"))
			err = bench_sizes();
		else if (!strcmp(what, "speed"))
			err = bench_speed();
		else if (!strcmp(what, "live"))
			err = bench_live();
	}
	if (all)
		printf("\n(a big synthetic trace: build/bench/trace gen; see docs/trace-format.md)\n");
	return err ? 1 : 0;
}
