/* predict.c - the precopy replay (src/analysis/predict.c) against closed forms, on traces
 * written through the real trace writer:
 *  - an idle VM whose pages all hold data: every count exact (pages per window from the rate
 *    limit, the window where what is left drops under bandwidth x downtime-limit, the
 *    stop-and-copy at the bandwidth), and one that fits in the first window (2 syncs);
 *  - an idle VM with zero pages at the top: normal = N - Z and duplicate = Z exactly;
 *  - a hot set rewritten every interval: converges iff W x 4 KiB < the threshold, whatever
 *    the rate; a sweep over bandwidths flips exactly where the closed form says;
 *  - a sequential writer over all of RAM at r pages/s: converges iff r x 4104 B < B; the
 *    boundary found by a sweep; the passes and the time follow the geometric series;
 *  - a counts-only trace: a constant-rate forecast, said; bad options refused;
 *  - the destination's cost per 2 MiB first written (--dest-hugepage-cost): K regions
 *    receiving data add exactly K x the cost when nothing overlaps them, regions of zero pages
 *    cost nothing, a rate-limited window's sleep absorbs its stalls while the stop-and-copy's
 *    add to the downtime, a region whose data comes in several passes costs once, and each
 *    run of a sweep counts its own regions, and a 64-page word across two regions marks both.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/predict.h"
#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/trace.h"
#include "../test.h"

#define MONO0 5000000000LL
#define MiB   1048576.0

static struct timespec ts(int64_t ns)
{
	return (struct timespec){ns / 1000000000, ns % 1000000000};
}

enum pattern { IDLE, HOT, SEQ };

struct gen {
	uint64_t pages;
	unsigned intervals;
	double interval_s;
	enum pattern pattern;
	uint64_t n;	      /* HOT: the hot pages; SEQ: pages per interval */
	uint64_t nonzero;     /* non-zero record: the first this many pages (0: no record) */
	uint64_t seq_from;    /* SEQ: the first page written; HOT: the hot set's first page */
	bool counts_only;
};

static char path[64];

static int gen(const struct gen *g)
{
	static const struct dpt_region reg = {.start = 0x100000, .first_page = 0, .name = "ram"};
	struct dpt_region r = reg;
	r.pages = g->pages;
	struct trace_header h = {.page_size = 4096, .dpt_version = "test", .tracker = "pid",
				 .mode = "uffd", .interval_ns = (uint64_t)(g->interval_s * 1e9),
				 .mono_start_ns = MONO0, .wall_start_ns = MONO0,
				 .flags = g->counts_only ? 0 : TRACE_HAS_SETS, .nr_regions = 1,
				 .regions = &r};
	struct trace_writer *tw;
	uint64_t *bm = calloc(bitmap_words(g->pages), 8), pos = g->seq_from;
	int err;

	unlink(path);
	if ((err = trace_writer_open(&tw, path, false, &h)))
		return err;
	if (g->nonzero) {
		uint64_t *nz = calloc(bitmap_words(g->pages), 8);
		bitmap_set_range(nz, 0, g->nonzero);
		struct dpt_nonzero z = {.mono_start = ts(MONO0), .mono_end = ts(MONO0),
					.method = DPT_NZ_CONTENT, .total = g->pages,
					.count = g->nonzero, .nr_regions = 1, .regions = &r,
					.bitmap = nz};
		err = trace_writer_nonzero(tw, &z);
		free(nz);
	}
	for (unsigned i = 0; i < g->intervals && !err; i++) {
		int64_t t0 = MONO0 + (int64_t)(i * g->interval_s * 1e9);
		int64_t t1 = MONO0 + (int64_t)((i + 1) * g->interval_s * 1e9);
		memset(bm, 0, bitmap_bytes(g->pages));
		if (g->pattern == HOT)
			bitmap_set_range(bm, g->seq_from, g->n);
		if (g->pattern == SEQ)
			for (uint64_t k = 0; k < g->n; k++, pos = (pos + 1) % g->pages)
				bitmap_set(bm, pos);
		struct dpt_sample s = {.seq = i + 1, .mono_start = ts(t0), .mono_end = ts(t1),
				       .wall_start = ts(t0), .wall_end = ts(t1),
				       .dirty = bitmap_weight(bm, g->pages), .total = g->pages,
				       .page_size = 4096, .bitmap = g->counts_only ? NULL : bm,
				       .nr_regions = 1, .regions = &r};
		err = trace_writer_sample(tw, &s);
	}
	free(bm);
	int e2 = trace_writer_close(tw, true, false);
	return err ? err : e2;
}

static struct predict_opts opts(double bw_mib, double limit)
{
	struct predict_opts o = predict_defaults();
	o.bandwidth = bw_mib * MiB;
	o.downtime_limit = limit;
	return o;
}

/* Pages a window sends at bandwidth B (the rate limit is checked before each page: the page
 * that crosses B/10 still goes): after a 5-byte section header, while used <= B/10. */
static uint64_t per_window(double B)
{
	return (uint64_t)((floor(B / 10) - 5) / 4104) + 1;
}

/* ---- an idle VM, every page holding data: exact ---------------------------------------- */

static void t_idle(void)
{
	struct gen g = {.pages = 32768, .intervals = 100, .interval_s = 0.1, .pattern = IDLE};
	struct predict_result r;
	double B = 32 * MiB, d = 0.3;

	TEST_CHECK(gen(&g) == 0, "idle: trace written", "%s", dpt_last_error());
	struct predict_opts o = opts(32, d);
	int err = predict_run(path, &o, &r);
	/* window 0 holds the setup's 64 bytes and the first page's block name (1 + "ram");
	 * at 32 MiB/s both leave its page count as in the other windows */
	uint64_t a = per_window(B), N = g.pages;
	double thr = (5 + a * 4104.0 + 13) / 0.1 * d; /* every full window's bytes */
	uint64_t k = 1;
	while ((N - k * a) * 4096.0 >= thr)
		k++;
	uint64_t M = N - k * a;
	double down = (5 + M * 4104.0 + 13) / B;
	TEST_CHECK(!err && r.status == PREDICT_CONVERGED && r.dirty_syncs == 3 &&
			   r.normal_pages == N && r.zero_pages == 0 && r.nr_passes == 2 &&
			   r.passes[1].pending == M,
		   "idle: converges at the window the closed form says, 3 syncs",
		   "err %d status %d syncs %llu normal %llu passes %u left %llu (want %llu)", err,
		   r.status, (unsigned long long)r.dirty_syncs, (unsigned long long)r.normal_pages,
		   r.nr_passes, r.nr_passes > 1 ? (unsigned long long)r.passes[1].pending : 0ULL,
		   (unsigned long long)M);
	TEST_CHECK(fabs(r.total_time - (k * 0.1 + down)) < 1e-9 && fabs(r.downtime - down) < 1e-9,
		   "idle: total time k x 100 ms + the rest at the bandwidth",
		   "total %.6f want %.6f, downtime %.6f want %.6f", r.total_time, k * 0.1 + down,
		   r.downtime, down);
	TEST_CHECK(r.transferred == N * 4104 + 4 + 8 * k + 8,
		   "idle: transferred = pages x 4104 + block name + 8 per iteration and completion",
		   "%llu want %llu", (unsigned long long)r.transferred,
		   (unsigned long long)(N * 4104 + 4 + 8 * k + 8));
	predict_result_fini(&r);

	/* all of it fits in window 0: completes with pending 0 before any threshold exists */
	o = opts(256, d);
	g.pages = 512;
	gen(&g);
	err = predict_run(path, &o, &r);
	TEST_CHECK(!err && r.status == PREDICT_CONVERGED && r.dirty_syncs == 2 &&
			   r.total_time < 1e-5 && r.normal_pages == 512,
		   "idle: a VM that fits in the first window: 2 syncs, no wait",
		   "err %d syncs %llu total %.6f", err, (unsigned long long)r.dirty_syncs,
		   r.total_time);
	predict_result_fini(&r);
}

/* ---- zero pages ----------------------------------------------------------------------- */

static void t_zero(void)
{
	struct gen g = {.pages = 65536, .intervals = 100, .interval_s = 0.1, .pattern = IDLE,
			.nonzero = 16384};
	struct predict_result r, all;
	struct predict_opts o = opts(32, 0.3);

	gen(&g);
	int err = predict_run(path, &o, &r);
	uint64_t a = per_window(32 * MiB);
	double k = ceil(16384.0 / a);
	TEST_CHECK(!err && r.status == PREDICT_CONVERGED && r.zero_known &&
			   r.initial_zero == 65536 - 16384 && r.normal_pages == 16384 &&
			   r.zero_pages == 65536 - 16384 && r.dirty_syncs == 3,
		   "zero: normal = N - Z, duplicate = Z, 3 syncs",
		   "err %d normal %llu zero %llu syncs %llu", err,
		   (unsigned long long)r.normal_pages, (unsigned long long)r.zero_pages,
		   (unsigned long long)r.dirty_syncs);
	TEST_CHECK(fabs(r.total_time - k * 0.1) < 0.1 + 1e-9,
		   "zero: the time of the data pages alone", "total %.3f, want %.3f +- 0.1",
		   r.total_time, k * 0.1);
	o.all_nonzero = true;
	err = predict_run(path, &o, &all);
	TEST_CHECK(!err && !all.zero_known && all.normal_pages == 65536 &&
			   all.total_time > 3.5 * r.total_time,
		   "zero: --all-nonzero sends every page in full",
		   "normal %llu, %.3f s vs %.3f s", (unsigned long long)all.normal_pages,
		   all.total_time, r.total_time);
	predict_result_fini(&r);
	predict_result_fini(&all);

	/* a write turns a zero page non-zero: the seq writer's pages past 16384 */
	g.pattern = SEQ;
	g.n = 300;
	g.seq_from = 16384;
	g.intervals = 200;
	gen(&g);
	o = opts(32, 0.3);
	err = predict_run(path, &o, &r);
	TEST_CHECK(!err && r.status == PREDICT_CONVERGED && r.normal_pages > 16384 &&
			   r.zero_pages < 65536 - 16384,
		   "zero: pages written during the migration are sent as data",
		   "normal %llu zero %llu", (unsigned long long)r.normal_pages,
		   (unsigned long long)r.zero_pages);
	predict_result_fini(&r);
}

/* ---- a hot set: converges iff W x 4096 < threshold -------------------------------------- */

static void t_hot(void)
{
	const double d = 0.3;
	double bws[] = {4, 6, 8, 9, 9.5, 10, 10.5, 11, 12, 16};
	enum { NB = sizeof(bws) / sizeof(bws[0]) };
	struct gen g = {.pages = 16384, .intervals = 150, .interval_s = 0.1, .pattern = HOT,
			.n = 700};
	struct predict_opts o[NB];
	struct predict_result r[NB];

	gen(&g);
	for (unsigned i = 0; i < NB; i++)
		o[i] = opts(bws[i], d);
	int err = predict_sweep(path, o, NB, r);
	TEST_CHECK(!err, "hot: sweep runs", "%s", dpt_last_error());
	unsigned bad = 0;
	char why[512] = "";
	for (unsigned i = 0; i < NB && !err; i++) {
		double B = bws[i] * MiB, thr = (5 + per_window(B) * 4104.0 + 13) / 0.1 * d;
		bool want = g.n * 4096.0 < thr;
		bool got = r[i].status == PREDICT_CONVERGED;
		if (want != got || (!got && r[i].status != PREDICT_DIVERGES) ||
		    (got && r[i].dirty_syncs > 4)) {
			bad++;
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
				 "%.1f MiB/s: want %s, status %d syncs %llu; ", bws[i],
				 want ? "converges" : "not", r[i].status,
				 (unsigned long long)r[i].dirty_syncs);
		}
	}
	TEST_CHECK(!err && !bad,
		   "hot: converges iff the hot set < bandwidth x limit (within 2 syncs after pass "
		   "0), else 'does not converge'",
		   "%s", why);
	for (unsigned i = 0; i < NB; i++)
		predict_result_fini(&r[i]);
}

/* ---- a sequential writer over all of RAM ---------------------------------------------- */

/* The same forecast, pass by pass. */
static bool same_result(const struct predict_result *a, const struct predict_result *b)
{
	if (a->status != b->status || a->total_time != b->total_time ||
	    a->transferred != b->transferred || a->dirty_syncs != b->dirty_syncs ||
	    a->zero_pages != b->zero_pages || a->nr_passes != b->nr_passes)
		return false;
	for (unsigned k = 0; k < a->nr_passes; k++)
		if (memcmp(&a->passes[k], &b->passes[k], sizeof(a->passes[k])))
			return false;
	return true;
}

/* Each run alone (a pending bitmap), in the sweep of nb that gave r (pending bitmaps shared
 * by the runs that synced at the same interval) and in a sweep of 5 x nb, more than the
 * bitmaps are for (lw[]): the same forecasts, pass by pass. */
static void agree(const char *what, const struct predict_opts *o, unsigned nb,
		  const struct predict_result *r)
{
	unsigned same = 0, same_lw = 0, nl = 5 * nb; /* over BITMAP_SIMS (32) */
	struct predict_opts *ol = calloc(nl, sizeof(*ol));
	struct predict_result *rl = calloc(nl, sizeof(*rl));
	char name[128];

	for (unsigned i = 0; i < nb; i++) {
		struct predict_result one;
		if (predict_run(path, &o[i], &one))
			break;
		same += same_result(&one, &r[i]);
		predict_result_fini(&one);
	}
	snprintf(name, sizeof(name), "%s: a run alone and in a sweep agree", what);
	TEST_CHECK(same == nb, name, "%u of %u", same, nb);
	for (unsigned i = 0; ol && i < nl; i++)
		ol[i] = o[i % nb];
	if (ol && rl && !predict_sweep(path, ol, nl, rl))
		for (unsigned i = 0; i < nl; i++) {
			same_lw += same_result(&rl[i], &r[i % nb]);
			predict_result_fini(&rl[i]);
		}
	snprintf(name, sizeof(name), "%s: a sweep of %u runs (lw[]) agrees with one of %u", what,
		 nl, nb);
	TEST_CHECK(same_lw == nl, name, "%u of %u", same_lw, nl);
	free(ol);
	free(rl);
}

static void t_seq(void)
{
	const double d = 0.3, rate = 2048; /* pages/s: 8 MiB/s of writes */
	double f[] = {0.5, 0.8, 0.9, 0.95, 1.05, 1.1, 1.25, 2};
	enum { NB = sizeof(f) / sizeof(f[0]) };
	struct gen g = {.pages = 32768, .intervals = 600, .interval_s = 0.1, .pattern = SEQ,
			.n = (uint64_t)(rate * 0.1)};
	struct predict_opts o[NB];
	struct predict_result r[NB];

	gen(&g);
	for (unsigned i = 0; i < NB; i++) {
		/* bandwidth = rate x 4104 / f: f is the dirty rate over the bandwidth */
		o[i] = opts(rate * 4104 / f[i] / MiB, d);
		o[i].max_time = 600;
	}
	int err = predict_sweep(path, o, NB, r);
	unsigned bad = 0;
	char why[512] = "";
	for (unsigned i = 0; i < NB && !err; i++) {
		bool want = f[i] < 1, got = r[i].status == PREDICT_CONVERGED;
		if (want != got || (!got && r[i].status != PREDICT_DIVERGES)) {
			bad++;
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
				 "rho %.2f: status %d after %.1f s; ", f[i], r[i].status,
				 r[i].total_time);
		}
	}
	TEST_CHECK(!err && !bad, "seq: converges iff the dirty rate < the bandwidth (sweep)", "%s",
		   why);

	/* rho = 0.5: the passes follow the geometric series, the time its sum */
	const struct predict_result *x = &r[0];
	double B = o[0].bandwidth, a = (double)per_window(B), rho = f[0];
	double theta = (5 + a * 4104 + 13) / 0.1 * d / 4096;
	double t1 = ceil((g.pages - theta) / a) * 0.1; /* first pending sync */
	double D1 = fmin(rate * t1, (double)g.pages), e1 = D1 - theta;
	double n = 1 + ceil(log(fmax(e1 / a, 1)) / log(1 / rho)) + ceil(1 / (1 - rho));
	double t = t1 + D1 * 4104 / (B * (1 - rho));
	TEST_CHECK(!err && x->status == PREDICT_CONVERGED && fabs((double)x->nr_passes - 1 - n) <= 2,
		   "seq: passes as the geometric series says (+-2)", "%u pending syncs, want %.0f",
		   x->nr_passes - 1, n);
	TEST_CHECK(!err && fabs(x->total_time - t) / t < 0.10,
		   "seq: total time t1 + D1 x 4104 / (B (1 - rho)) within 10 %",
		   "%.3f s, want %.3f s", x->total_time, t);
	TEST_CHECK(!err && x->normal_pages > g.pages && r[NB - 1].clear_after >= 2 &&
			   r[NB - 1].clear_after < 10,
		   "seq: pages dirtied again are resent; a diverging one is clear within a few passes",
		   "normal %llu, clear after %u", (unsigned long long)x->normal_pages,
		   r[NB - 1].clear_after);
	agree("seq", o, NB, r);
	for (unsigned i = 0; i < NB; i++)
		predict_result_fini(&r[i]);

	/* the trace is replayed when the migration outlasts it */
	g.intervals = 30;
	gen(&g);
	struct predict_opts one = opts(rate * 4104 / 0.8 / MiB, d), nl;
	struct predict_result a1, a2;
	nl = one;
	nl.no_loop = true;
	err = predict_run(path, &one, &a1) || predict_run(path, &nl, &a2);
	TEST_CHECK(!err && a1.status == PREDICT_CONVERGED && a1.replays > 0 &&
			   a2.status == PREDICT_TIMEOUT && a2.total_time <= 3.0 + 1e-6,
		   "seq: a short trace is replayed (and said); --no-loop stops at its end",
		   "status %d replays %u; no-loop status %d at %.3f s", a1.status, a1.replays,
		   a2.status, a2.total_time);
	predict_result_fini(&a1);
	predict_result_fini(&a2);

	/* a sparse writer, 20 pages an interval (fewer than a quarter of the bitmap's words: a
	 * sweep's runs take its sets as lists), the same bandwidths over its rate */
	g.intervals = 600;
	g.n = 20;
	gen(&g);
	for (unsigned i = 0; i < NB; i++) {
		o[i] = opts(g.n / g.interval_s * 4104 / f[i] / MiB, d);
		o[i].max_time = 600;
	}
	err = predict_sweep(path, o, NB, r);
	TEST_CHECK(!err && r[0].status == PREDICT_CONVERGED && r[0].nr_passes > 3 &&
			   r[NB - 1].status != PREDICT_CONVERGED,
		   "seq, sparse: converges at half its rate, over passes; not at twice",
		   "statuses %d (%u passes), %d", r[0].status, r[0].nr_passes, r[NB - 1].status);
	if (!err) {
		agree("seq, sparse", o, NB, r);
		for (unsigned i = 0; i < NB; i++)
			predict_result_fini(&r[i]);
	}
}

/* ---- counts only, bad input ------------------------------------------------------------ */

static void t_counts(void)
{
	struct gen g = {.pages = 32768, .intervals = 300, .interval_s = 0.1, .pattern = SEQ,
			.n = 205, .counts_only = true};
	struct predict_result lo, hi;

	gen(&g);
	struct predict_opts o1 = opts(2050 * 4104 / 0.5 / MiB, 0.3);
	struct predict_opts o2 = opts(2050 * 4104 / 2.0 / MiB, 0.3);
	int err = predict_run(path, &o1, &lo);
	int err2 = predict_run(path, &o2, &hi);
	TEST_CHECK(!err && !err2 && lo.counts_only && lo.status == PREDICT_CONVERGED &&
			   hi.status == PREDICT_DIVERGES && lo.normal_pages > g.pages,
		   "counts only: a constant-rate forecast, converging iff rate < bandwidth",
		   "err %d/%d counts_only %d status %d / %d", err, err2, lo.counts_only, lo.status,
		   hi.status);
	predict_result_fini(&lo);
	predict_result_fini(&hi);

	struct predict_opts o = opts(0, 0.3);
	TEST_CHECK(predict_run(path, &o, &lo) == -EINVAL,
		   "bad: unlimited bandwidth without a link speed", "accepted");
	o = opts(-1, 0.3);
	TEST_CHECK(predict_run(path, &o, &lo) == -EINVAL, "bad: negative bandwidth", "accepted");
	o = opts(NAN, 0.3);
	TEST_CHECK(predict_run(path, &o, &lo) == -EINVAL, "bad: NaN bandwidth", "accepted");
	o = opts(32, 0.3);
	o.start = 1e6;
	TEST_CHECK(predict_run(path, &o, &lo) == -ERANGE, "bad: start past the trace's end",
		   "accepted: %s", dpt_last_error());
	o.start = 0;
	TEST_CHECK(predict_run("/nonexistent.dpt", &o, &lo) < 0, "bad: no such file", "accepted");
}

/* ---- the destination's huge pages ----------------------------------------------------- */

#define REGION 512 /* pages in 2 MiB */

static void t_dest(void)
{
	const double C = 0.005; /* 5 ms per 2 MiB first written */
	/* 16 regions; data in the first 6 regions and 505 pages of the 7th, zeros above */
	struct gen g = {.pages = 16 * REGION, .intervals = 100, .interval_s = 0.1, .pattern = IDLE,
			.nonzero = 7 * REGION - 7};
	struct predict_opts o[2] = {opts(256, 0.3), opts(256, 0.3)}; /* fits in window 0 */
	struct predict_result r[2], s[2];

	gen(&g);
	o[1].dest_hugepage = C;
	o[1].dest_buffer = 0; /* the sender waits for every stall */
	int err = predict_run(path, &o[0], &r[0]) || predict_run(path, &o[1], &r[1]);
	TEST_CHECK(!err && r[0].status == PREDICT_CONVERGED && r[1].status == PREDICT_CONVERGED &&
			   r[0].dirty_syncs == 2 && r[1].dirty_syncs == 2 &&
			   r[0].dest_regions == 7 && r[1].dest_regions == 7 && r[0].dest_stall == 0 &&
			   fabs(r[1].dest_stall - 7 * C) < 1e-12 &&
			   fabs(r[1].total_time - r[0].total_time - 7 * C) < 1e-9 &&
			   r[1].transferred == r[0].transferred,
		   "dest: 7 regions holding data (9 of zeros) add exactly 7 x the cost (window 0, no "
		   "socket buffer)",
		   "err %d regions %llu/%llu stall %.6f total %.6f vs %.6f", err,
		   (unsigned long long)r[0].dest_regions, (unsigned long long)r[1].dest_regions,
		   r[1].dest_stall, r[1].total_time, r[0].total_time);
	/* the same two in one sweep: each run has its own regions */
	err = predict_sweep(path, o, 2, s);
	TEST_CHECK(!err && s[0].dest_regions == 7 && s[1].dest_regions == 7 &&
			   s[0].total_time == r[0].total_time && s[1].total_time == r[1].total_time,
		   "dest: a sweep's runs each count their regions, as alone",
		   "err %d regions %llu/%llu total %.6f/%.6f", err,
		   (unsigned long long)s[0].dest_regions, (unsigned long long)s[1].dest_regions,
		   s[0].total_time, s[1].total_time);
	for (int i = 0; i < 2; i++)
		predict_result_fini(&s[i]);

	/* with socket buffers of S bytes the sender only waits for the stalls S bytes behind
	 * its last byte: region k's first page ends at 64 + 5 + 4 + (512 k + 1) x 4104 bytes of
	 * the stream (setup, section header, block name); the destination, always behind, is
	 * through with it at (k + 1) C; the sender's last byte is the stream's */
	uint64_t S = 4u << 20;
	o[1].dest_buffer = S;
	err = predict_run(path, &o[1], &s[1]);
	unsigned j = 0;
	for (unsigned k = 0; k < 7; k++)
		if (64 + 5 + 4 + (512 * k + 1) * 4104ull + S <= s[1].stream_bytes)
			j = k + 1;
	TEST_CHECK(!err && s[1].dest_regions == 7 && j > 0 && j < 7 &&
			   fabs(s[1].total_time - r[0].total_time - j * C) < 1e-9 &&
			   fabs(s[1].dest_wait - j * C) < 1e-9,
		   "dest: 4 MiB of socket buffers: the sender waits only for the stalls 4 MiB behind "
		   "its last byte",
		   "err %d: %u of 7 stalls behind, total %.6f vs %.6f, waited %.6f", err, j,
		   s[1].total_time, r[0].total_time, s[1].dest_wait);
	predict_result_fini(&s[1]);
	o[1].dest_buffer = 1ull << 40;
	err = predict_run(path, &o[1], &s[1]);
	TEST_CHECK(!err && s[1].dest_regions == 7 && s[1].total_time == r[0].total_time &&
			   s[1].dest_wait == 0 && fabs(s[1].dest_stall - 7 * C) < 1e-12,
		   "dest: stalls the socket buffers hold cost the sender nothing",
		   "err %d: total %.6f vs %.6f, waited %.6f", err, s[1].total_time, r[0].total_time,
		   s[1].dest_wait);
	predict_result_fini(&s[1]);
	for (int i = 0; i < 2; i++)
		predict_result_fini(&r[i]);

	/* rate limited, every page data (t_idle's VM): pass 0's stalls (under 2 regions a window,
	 * 10 ms) fit in the windows' sleeps; the stop-and-copy's regions add to the downtime */
	const double C2 = 0.010;
	g = (struct gen){.pages = 32768, .intervals = 100, .interval_s = 0.1, .pattern = IDLE};
	gen(&g);
	o[0] = opts(32, 0.3);
	o[1] = o[0];
	o[1].dest_hugepage = C2;
	o[1].dest_buffer = 0;
	err = predict_run(path, &o[0], &r[0]) || predict_run(path, &o[1], &r[1]);
	uint64_t left = err || r[0].nr_passes < 2 ? 0 : r[0].passes[1].pending;
	uint64_t N = g.pages, kd = N / REGION - (N - left + REGION - 1) / REGION;
	TEST_CHECK(!err && r[1].status == PREDICT_CONVERGED && r[1].dest_regions == N / REGION &&
			   r[1].nr_passes == r[0].nr_passes && left > 0 &&
			   fabs(r[1].downtime - r[0].downtime - kd * C2) < 1e-9 &&
			   fabs(r[1].total_time - r[0].total_time - kd * C2) < 1e-9,
		   "dest: pass 0's stalls overlap the windows' sleeps, the stop-and-copy's add to "
		   "the downtime",
		   "err %d regions %llu, %llu left in %llu regions: downtime %.6f vs %.6f, total "
		   "%.6f vs %.6f",
		   err, (unsigned long long)r[1].dest_regions, (unsigned long long)left,
		   (unsigned long long)kd, r[1].downtime, r[0].downtime, r[1].total_time,
		   r[0].total_time);
	predict_result_fini(&r[0]);
	predict_result_fini(&r[1]);

	/* a hot set in region 5 (zeros at the start) rewritten every interval: its data goes in
	 * every pass, region 5 costs once; region 0's data once; the other 14 regions nothing */
	g = (struct gen){.pages = 16 * REGION, .intervals = 100, .interval_s = 0.1, .pattern = HOT,
			 .n = 100, .seq_from = 5 * REGION + 10, .nonzero = REGION};
	gen(&g);
	o[0] = opts(4, 0.3);
	o[0].dest_hugepage = C;
	err = predict_run(path, &o[0], &r[0]);
	TEST_CHECK(!err && r[0].status == PREDICT_CONVERGED && r[0].nr_passes >= 2 &&
			   r[0].normal_pages >= REGION + 2 * 100 && r[0].dest_regions == 2 &&
			   fabs(r[0].dest_stall - 2 * C) < 1e-12,
		   "dest: a region whose data comes in several passes costs once",
		   "err %d status %d passes %u normal %llu regions %llu stall %.6f", err,
		   r[0].status, r[0].nr_passes, (unsigned long long)r[0].normal_pages,
		   (unsigned long long)r[0].dest_regions, r[0].dest_stall);
	predict_result_fini(&r[0]);

	/* bad costs */
	o[0] = opts(32, 0.3);
	o[0].dest_hugepage = -0.001;
	TEST_CHECK(predict_run(path, &o[0], &r[0]) == -EINVAL, "bad: negative destination cost",
		   "accepted");
	o[0].dest_hugepage = NAN;
	TEST_CHECK(predict_run(path, &o[0], &r[0]) == -EINVAL, "bad: NaN destination cost",
		   "accepted");
	o[0].dest_hugepage = 2;
	TEST_CHECK(predict_run(path, &o[0], &r[0]) == -EINVAL, "bad: 2 s per 2 MiB", "accepted");
}

/* Two blocks, the second starting at page 100 (not on a 64-page word): the word of pages
 * 576-639 holds B's pages 476-539 and spans its regions 0 and 1 (B's own numbering, 512 pages
 * each); data only in pages 600 and 620, one in each. The word path must mark both regions. */
static void t_dest_word(void)
{
	struct dpt_region reg[2] = {
		{.start = 0x100000, .pages = 100, .first_page = 0, .name = "a"},
		{.start = 0x10000000, .pages = 1024, .first_page = 100, .name = "b"}};
	uint64_t pages = 1124;
	struct trace_header h = {.page_size = 4096, .dpt_version = "test", .tracker = "pid",
				 .mode = "uffd", .interval_ns = 100000000, .mono_start_ns = MONO0,
				 .wall_start_ns = MONO0, .flags = TRACE_HAS_SETS, .nr_regions = 2,
				 .regions = reg};
	uint64_t *nz = calloc(bitmap_words(pages), 8), *bm = calloc(bitmap_words(pages), 8);
	struct trace_writer *tw;
	int err;

	unlink(path);
	bitmap_set(nz, 600);
	bitmap_set(nz, 620);
	if (!(err = trace_writer_open(&tw, path, false, &h))) {
		struct dpt_nonzero z = {.mono_start = ts(MONO0), .mono_end = ts(MONO0),
					.method = DPT_NZ_CONTENT, .total = pages, .count = 2,
					.nr_regions = 2, .regions = reg, .bitmap = nz};
		err = trace_writer_nonzero(tw, &z);
		for (unsigned i = 0; i < 20 && !err; i++) {
			int64_t t0 = MONO0 + i * 100000000LL, t1 = t0 + 100000000LL;
			struct dpt_sample smp = {.seq = i + 1, .mono_start = ts(t0), .mono_end = ts(t1),
						 .wall_start = ts(t0), .wall_end = ts(t1), .dirty = 0,
						 .total = pages, .page_size = 4096, .bitmap = bm,
						 .nr_regions = 2, .regions = reg};
			err = trace_writer_sample(tw, &smp);
		}
		int e2 = trace_writer_close(tw, true, false);
		err = err ? err : e2;
	}
	free(nz);
	free(bm);

	const double C = 0.005;
	struct predict_opts o[2] = {opts(256, 0.3), opts(256, 0.3)};
	struct predict_result r[2];
	o[1].dest_hugepage = C;
	o[1].dest_buffer = 0;
	err = err || predict_run(path, &o[0], &r[0]) || predict_run(path, &o[1], &r[1]);
	TEST_CHECK(!err && r[0].normal_pages == 2 && r[0].dest_regions == 2 &&
			   r[1].dest_regions == 2 &&
			   fabs(r[1].total_time - r[0].total_time - 2 * C) < 1e-9,
		   "dest: a 64-page word across two regions of a block marks both",
		   "err %d normal %llu regions %llu/%llu total %.6f vs %.6f", err,
		   err ? 0ULL : (unsigned long long)r[0].normal_pages,
		   err ? 0ULL : (unsigned long long)r[0].dest_regions,
		   err ? 0ULL : (unsigned long long)r[1].dest_regions, err ? 0 : r[1].total_time,
		   err ? 0 : r[0].total_time);
	if (!err)
		for (int i = 0; i < 2; i++)
			predict_result_fini(&r[i]);
}

int main(void)
{
	snprintf(path, sizeof(path), "/tmp/dpt-predict-%d.dpt", (int)getpid());
	t_idle();
	t_zero();
	t_hot();
	t_seq();
	t_counts();
	t_dest();
	t_dest_word();
	unlink(path);
	return test_done();
}
