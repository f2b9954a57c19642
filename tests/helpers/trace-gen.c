/* trace-gen: write a synthetic .dpt trace through the real trace writer, for dpt report's tests
 * and for measuring it on traces no machine here can record (an hour of a 64 GiB VM).
 *
 *	trace-gen [OPTIONS] FILE
 *
 *	--pages N          pages tracked (default 4096)
 *	--intervals N      intervals (default 10)
 *	--interval-ms N    their length (default 1000)
 *	--dirty N          random: pages drawn per interval (default pages / 20; repeats fall
 *	                   together, so a little fewer are dirty)
 *	--pattern P        random (uniform over the pages) | seq (--dirty pages an interval from
 *	                   where the last left off, wrapping) | hotcold (--dirty draws, 90 % of them
 *	                   among the first tenth of the pages)
 *	--seed N           (default 1)
 *	--counts-only      no sets (header without "has sets": as the qmp tracker)
 *	--compat           a synthetic all-dirty interval seq 0 first (header flag compat)
 *	--lost             the last interval is lost (final, no count, no set)
 *	--vcpus N          per-vCPU counts: vCPU v gets the pages p with p % N == v
 *	--procs            per-process rows: pid 100 "low" has the first half of the pages, 101
 *	                   "high" the rest
 *	--remap I          from interval I on, the numbering changes: a 64-page region "new" is
 *	                   inserted before the pages ("ram" keeps its address, and its numbering
 *	                   moves up by 64)
 *	--sessions N       N sessions (start/stop records), a pause of 5 intervals between them
 *	--message TEXT     a message record after the first interval
 *	--nonzero          non-zero records at the start (the first quarter of the pages) and at
 *	                   the end (the pages dirtied so far)
 *	--no-footer        end without a footer (as a killed recording)
 *	--torn N           then append the first N bytes of a record (a torn tail)
 * Prints "trace-gen: N intervals, D dirty page-intervals, B bytes" on stdout.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/trace.h"

static struct gen {
	uint64_t pages, intervals, interval_ns, dirty, seed, remap, sessions, vcpus;
	const char *pattern, *message, *path;
	uint64_t torn;
	int counts_only, compat, lost, procs, nonzero, no_footer;
} g = {.pages = 4096, .intervals = 10, .interval_ns = 1000000000, .pattern = "random",
       .seed = 1, .sessions = 1, .dirty = UINT64_MAX};

static uint64_t rnd(void)
{
	g.seed ^= g.seed >> 12;
	g.seed ^= g.seed << 25;
	g.seed ^= g.seed >> 27;
	return g.seed * 0x2545F4914F6CDD1DULL;
}

static uint64_t below(uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rnd() * n) >> 64);
}

static struct timespec ts(int64_t ns)
{
	return (struct timespec){ns / 1000000000, ns % 1000000000};
}

/* The dirty pages of interval i (0-based) over pages p, into bm. */
static void fill(uint64_t *bm, uint64_t p, uint64_t i)
{
	static uint64_t next;

	memset(bm, 0, bitmap_bytes(p));
	if (!strcmp(g.pattern, "seq")) {
		for (uint64_t j = 0; j < g.dirty && j < p; j++, next = (next + 1) % p)
			bitmap_set(bm, next);
	} else if (!strcmp(g.pattern, "hotcold")) {
		uint64_t hot = p / 10 ? p / 10 : 1;
		for (uint64_t j = 0; j < g.dirty; j++)
			bitmap_set(bm, below(100) < 90 || hot == p ? below(hot) : hot + below(p - hot));
	} else {
		for (uint64_t j = 0; j < g.dirty; j++)
			bitmap_set(bm, below(p));
	}
	(void)i;
}

static int usage(void)
{
	fprintf(stderr, "usage: trace-gen [--pages N] [--intervals N] [--interval-ms N] "
			"[--dirty N] [--pattern random|seq|hotcold] [--seed N] [--counts-only] "
			"[--compat] [--lost] [--vcpus N] [--procs] [--remap I] [--sessions N] "
			"[--message TEXT] [--nonzero] [--no-footer] [--torn N] FILE\n");
	return 2;
}

static int parse(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t *num = !strcmp(a, "--pages")	    ? &g.pages
				: !strcmp(a, "--intervals") ? &g.intervals
				: !strcmp(a, "--dirty")	    ? &g.dirty
				: !strcmp(a, "--seed")	    ? &g.seed
				: !strcmp(a, "--remap")	    ? &g.remap
				: !strcmp(a, "--sessions")  ? &g.sessions
				: !strcmp(a, "--vcpus")	    ? &g.vcpus
				: !strcmp(a, "--torn")	    ? &g.torn
							    : NULL;
		if (num && v) {
			*num = strtoull(v, NULL, 0);
			i++;
		} else if (!strcmp(a, "--interval-ms") && v) {
			g.interval_ns = strtoull(argv[++i], NULL, 0) * 1000000;
		} else if (!strcmp(a, "--pattern") && v) {
			g.pattern = argv[++i];
		} else if (!strcmp(a, "--message") && v) {
			g.message = argv[++i];
		} else if (!strcmp(a, "--counts-only")) {
			g.counts_only = 1;
		} else if (!strcmp(a, "--compat")) {
			g.compat = 1;
		} else if (!strcmp(a, "--lost")) {
			g.lost = 1;
		} else if (!strcmp(a, "--procs")) {
			g.procs = 1;
		} else if (!strcmp(a, "--nonzero")) {
			g.nonzero = 1;
		} else if (!strcmp(a, "--no-footer")) {
			g.no_footer = 1;
		} else if (a[0] != '-' && i == argc - 1) {
			g.path = a;
		} else {
			return -1;
		}
	}
	if (!g.path || !g.pages || !g.intervals || !g.sessions || !g.seed || g.pages > UINT32_MAX)
		return -1;
	if (g.dirty == UINT64_MAX)
		g.dirty = g.pages / 20;
	return 0;
}

/* The region table in force for interval i: "ram" alone, or "new" then "ram" once remapped. */
static unsigned regions(uint64_t i, struct dpt_region *r)
{
	struct dpt_region ram = {.start = 0x40000000, .pages = g.pages, .name = "ram"};
	struct dpt_region fresh = {.start = 0x10000000, .pages = 64, .name = "new"};

	if (!g.remap || i < g.remap) {
		r[0] = ram;
		return 1;
	}
	r[0] = fresh;
	r[1] = ram;
	r[1].first_page = 64;
	return 2;
}

static void header(struct trace_header *h, struct dpt_region *r)
{
	*h = (struct trace_header){
		.page_size = 4096, .dpt_version = "trace-gen", .kernel = "Linux synthetic",
		.cpu = "none", .hostname = "trace-gen", .tracker = g.counts_only ? "qmp" : "kvm",
		.mode = g.counts_only ? "dirty-ring" : "bitmap", .target = "a synthetic trace",
		.command = "trace-gen", .interval_ns = g.interval_ns,
		.wall_start_ns = 1700000000LL * 1000000000, .mono_start_ns = 1000LL * 1000000000,
		.nr_vcpus = (unsigned)g.vcpus, .owner_pid = 1234,
	};
	h->flags = (g.counts_only ? 0 : TRACE_HAS_SETS) | (g.compat ? TRACE_COMPAT : 0) |
		   (g.procs ? TRACE_PER_PROCESS : 0);
	h->nr_regions = regions(0, r);
	h->regions = r;
}

/* Fill the counts of s (vCPUs, processes) from its bitmap over p pages, ram at offset off. */
static void counts(struct dpt_sample *s, const uint64_t *bm, uint64_t p, uint64_t off,
		   uint64_t *vcpu, struct dpt_proc *procs)
{
	s->dirty = bitmap_weight(bm, p);
	for (unsigned v = 0; v < g.vcpus; v++)
		vcpu[v] = 0;
	procs[0] = (struct dpt_proc){.pid = 100, .ppid = 1, .comm = "low", .total = g.pages / 2};
	procs[1] = (struct dpt_proc){.pid = 101, .ppid = 1, .comm = "high"};
	procs[1].total = p - procs[0].total;
	for (uint64_t q = bitmap_next_set(bm, p, 0); q < p; q = bitmap_next_set(bm, p, q + 1)) {
		if (g.vcpus)
			vcpu[q % g.vcpus]++;
		procs[q - off < g.pages / 2 && q >= off ? 0 : 1].dirty++;
	}
	s->nr_vcpus = (unsigned)g.vcpus;
	s->vcpu_dirty = vcpu;
	s->nr_procs = g.procs ? 2 : 0;
	s->procs = procs;
}

static int nonzero(struct trace_writer *tw, const uint64_t *bm, uint64_t after, int64_t t)
{
	struct dpt_region r[2];
	struct dpt_nonzero z = {
		.after_seq = after, .mono_start = ts(t), .mono_end = ts(t + 10000000),
		.wall_start = ts(t - 1000LL * 1000000000 + 1700000000LL * 1000000000),
		.method = DPT_NZ_CONTENT, .total = g.pages, .count = bitmap_weight(bm, g.pages),
		.bytes_read = g.pages * 4096, .nr_regions = regions(0, r), .regions = r, .bitmap = bm,
	};
	z.wall_end = z.wall_start;
	z.wall_end.tv_nsec += 10000000;
	return trace_writer_nonzero(tw, &z);
}

static int torn(void)
{
	uint8_t rec[64] = {'D', 'P', 'T', 'R', TRACE_REC_INTERVAL, 0, 0, 0, 0xe8, 3, 0, 0, 0xe8, 3};
	FILE *f = fopen(g.path, "a");

	if (!f || fwrite(rec, 1, g.torn < sizeof(rec) ? g.torn : sizeof(rec), f) == 0)
		return -1;
	return fclose(f);
}

int main(int argc, char **argv)
{
	struct dpt_region r0[2], r[2];
	struct trace_header h;
	struct trace_writer *tw;
	struct dpt_proc procs[2];
	uint64_t words, sum = 0, per;
	int64_t t, step;
	int err;

	if (parse(argc, argv))
		return usage();
	words = bitmap_words(g.pages + 64);
	uint64_t *bm = calloc(words, 8), *ram = calloc(words, 8), *ever = calloc(words, 8);
	uint64_t *vcpu = calloc(g.vcpus + 1, 8);
	if (!bm || !ram || !ever || !vcpu)
		return 1;
	header(&h, r0);
	if ((err = trace_writer_open(&tw, g.path, true, &h)))
		goto fail;
	t = h.mono_start_ns;
	step = (int64_t)g.interval_ns;
	per = (g.intervals + g.sessions - 1) / g.sessions;
	if (g.nonzero) {
		bitmap_set_range(ever, 0, g.pages / 4);
		if ((err = nonzero(tw, ever, 0, t)))
			goto fail;
		memset(ever, 0, words * 8);
	}
	for (uint64_t i = 0, seq = 1; i < g.intervals; i++, seq++) {
		bool first = i % per == 0, last = (i + 1) % per == 0 || i + 1 == g.intervals;
		struct dpt_sample s = {.seq = seq, .page_size = 4096};
		struct timespec m, w;

		if (first && i)
			t += 5 * step; /* the pause between two sessions */
		m = ts(t);
		w = ts(t - h.mono_start_ns + h.wall_start_ns);
		if (first && (err = trace_writer_session(tw, true, &m, &w)))
			goto fail;
		if (g.compat && !i) {
			s = (struct dpt_sample){.seq = 0, .mono_start = m, .mono_end = m,
						.wall_start = w, .wall_end = w, .page_size = 4096,
						.flags = DPT_SAMPLE_ALL, .dirty = g.pages,
						.total = g.pages, .nr_regions = regions(0, r),
						.regions = r};
			if ((err = trace_writer_sample(tw, &s)))
				goto fail;
			s = (struct dpt_sample){.seq = seq, .page_size = 4096};
		}
		s.nr_regions = regions(i, r);
		s.regions = r;
		s.total = g.pages + (s.nr_regions == 2 ? 64 : 0);
		fill(ram, g.pages, i);
		for (uint64_t k = 0; k < bitmap_words(g.pages); k++)
			ever[k] |= ram[k];
		memset(bm, 0, words * 8);
		bitmap_copy_range(bm, s.total - g.pages, ram, 0, g.pages);
		counts(&s, bm, s.total, s.total - g.pages, vcpu, procs);
		s.mono_start = ts(t);
		s.mono_end = ts(t += step);
		s.wall_start = ts(s.mono_start.tv_sec * 1000000000LL + s.mono_start.tv_nsec -
				  h.mono_start_ns + h.wall_start_ns);
		s.wall_end = ts(s.mono_end.tv_sec * 1000000000LL + s.mono_end.tv_nsec -
				h.mono_start_ns + h.wall_start_ns);
		s.bitmap = g.counts_only ? NULL : bm;
		if (last)
			s.flags |= DPT_SAMPLE_FINAL;
		if (g.lost && i + 1 == g.intervals) {
			s.flags |= DPT_SAMPLE_PARTIAL | DPT_SAMPLE_LOST;
			s.dirty = 0;
			s.bitmap = NULL;
			s.nr_vcpus = 0;
			s.nr_procs = 0;
		}
		sum += s.dirty;
		if ((err = trace_writer_sample(tw, &s)))
			goto fail;
		if (!i && g.message && (err = trace_writer_message(tw, &s.mono_end, &s.wall_end,
								  g.message)))
			goto fail;
		if (last && (err = trace_writer_session(tw, false, &s.mono_end, &s.wall_end)))
			goto fail;
	}
	if (g.nonzero && (err = nonzero(tw, ever, g.intervals, t)))
		goto fail;
	if ((err = trace_writer_close(tw, !g.no_footer, false)))
		goto fail;
	if (g.torn && torn())
		return 1;
	printf("trace-gen: %" PRIu64 " intervals, %" PRIu64 " dirty page-intervals\n", g.intervals,
	       sum);
	return 0;
fail:
	fprintf(stderr, "trace-gen: %s\n", dpt_last_error() ? dpt_last_error() : strerror(-err));
	return 1;
}
