/* trace.c - the .dpt trace: set codec, writer and reader round trips, torn tails, hostile
 * input (truncation at every byte, bit flips, wrong magic and version, absurd sizes).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/trace.h"
#include "../test.h"
#include "trace/int.h"

static uint64_t rng = 88172645463325252ULL;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A set of nbits pages: kind 0 random at density 1/den, 1 clustered runs, 2 all, 3 none,
 * 4 pairs and triples at density 1/den and a run of 300 (runs of 2 or 3 pages cost fewer
 * bytes as runs than as indices: the writer's first guess loses), 5 a shape the writer's
 * sample (one word in 16) misjudges: a lone page in each sampled word, the others full (den
 * 1: runs win over the bitmap), half full (den 10: the bitmap wins), a run of 6 (den 1000:
 * runs win over indices) or at density 1/den (indices). */
static void make_set(uint64_t *bm, uint64_t nbits, int kind, unsigned den)
{
	memset(bm, 0, bitmap_bytes(nbits));
	if (kind == 5) {
		for (uint64_t i = 0; i < nbits; i++)
			if (i / 64 % 16 ? den == 1 || (den == 1000 ? i % 64 - 10 < 6
								  : rnd() % (den == 10 ? 2 : den) == 0)
					: i % 64 == 5)
				bitmap_set(bm, i);
	}
	if (kind == 4) {
		for (uint64_t i = 0; i + 3 < nbits; i += 4)
			if (rnd() % den == 0)
				bitmap_set_range(bm, i, 2 + rnd() % 2);
		if (nbits > 600)
			bitmap_set_range(bm, nbits / 2, 300);
	}
	if (kind == 2)
		bitmap_fill(bm, nbits);
	if (kind == 0)
		for (uint64_t i = 0; i < nbits; i++)
			if (rnd() % den == 0)
				bitmap_set(bm, i);
	if (kind == 1)
		for (uint64_t i = 0; i < nbits;) {
			uint64_t len = 1 + rnd() % 200;
			if (rnd() % den == 0)
				bitmap_set_range(bm, i, len < nbits - i ? len : nbits - i);
			i += len;
		}
}

static void test_crc(void)
{
	uint32_t c = trace_crc32c(0, "123456789", 9);
	TEST_CHECK(c == 0xE3069283u, "crc32c-check-value", "got %08x", c);
	uint32_t a = trace_crc32c(0, "1234", 4);
	a = trace_crc32c(a, "56789", 5);
	TEST_CHECK(a == c, "crc32c-continues", "got %08x", a);
	/* long buffers (3 lanes at once, joined) against the same bytes a few at a time */
	int wrong = 0;
	uint8_t *buf = malloc(20000);
	for (int i = 0; i < 20000; i++)
		buf[i] = (uint8_t)rnd();
	for (size_t len = 0; len < 20000; len = len * 3 / 2 + 1 + (size_t)(rnd() % 7)) {
		uint32_t whole = trace_crc32c(0, buf, len), bits = 0;
		for (size_t at = 0; at < len; at += 1000)
			bits = trace_crc32c(bits, buf + at, len - at < 1000 ? len - at : 1000);
		wrong += whole != bits;
	}
	free(buf);
	TEST_CHECK(!wrong, "crc32c-long-buffers", "%d lengths wrong", wrong);
}

/* Every encoding of every kind of set decodes back to the same set, as a bitmap and as runs. */
static void test_codec(void)
{
	static const uint64_t sizes[] = {1, 63, 64, 65, 1000, 2047, 2048, 2049, 4096, 100003};
	int bad = 0, bad_put = 0, checked = 0;

	for (unsigned si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		uint64_t n = sizes[si];
		uint64_t *bm = calloc(bitmap_words(n), 8), *back = calloc(bitmap_words(n), 8);
		for (int kind = 0; kind < 6; kind++) {
			for (unsigned den = 1; den <= 1000; den *= 10) {
				make_set(bm, n, kind, den);
				struct set_plan plan;
				set_plan(bm, n, &plan);
				uint64_t count = bitmap_weight(bm, n), put_count;
				if (plan.count != count)
					bad++;
				/* the writer's one-walk encoder: the plan's choice, byte for byte */
				struct tbuf best = {0}, put = {0};
				tbuf_reserve(&best, plan.size[plan.best]);
				set_encode(&best, bm, n, &plan);
				if (set_put(&put, bm, n, &put_count) || put_count != count ||
				    put.len != best.len || memcmp(put.p, best.p, best.len))
					bad_put++;
				tbuf_free(&best);
				tbuf_free(&put);
				for (int enc = 0; enc < 3; enc++) {
					struct tbuf b = {0};
					plan.best = enc;
					tbuf_reserve(&b, plan.size[enc]);
					set_encode(&b, bm, n, &plan);
					if (b.len != plan.size[enc])
						bad++;
					memset(back, 0, bitmap_bytes(n));
					if (set_decode_bitmap(b.p, b.len, n, count, back) ||
					    memcmp(bm, back, bitmap_bytes(n)))
						bad++;
					struct trace_run *runs = NULL;
					size_t nr = 0, cap = 0;
					memset(back, 0, bitmap_bytes(n));
					if (set_decode_runs(b.p, b.len, n, count, &runs, &nr, &cap))
						bad++;
					uint64_t prev_end = 0;
					for (size_t i = 0; i < nr; i++) {
						if (i && runs[i].start <= prev_end)
							bad++; /* not maximal, or unsorted */
						bitmap_set_range(back, runs[i].start, runs[i].len);
						prev_end = runs[i].start + runs[i].len;
					}
					if (memcmp(bm, back, bitmap_bytes(n)))
						bad++;
					/* as a list of indices: the set's pages in order, nothing
					 * written past count (a guard entry) */
					uint32_t *list = malloc((count + 1) * sizeof(*list));
					list[count] = 0xdeadbeef;
					nr = 0;
					if (set_decode_list(b.p, b.len, n, count, list, &runs, &nr, &cap) ||
					    list[count] != 0xdeadbeef)
						bad++;
					memset(back, 0, bitmap_bytes(n));
					for (uint64_t i = 0; i < count; i++) {
						if (list[i] >= n || (i && list[i] <= list[i - 1]))
							bad++;
						else
							bitmap_set(back, list[i]);
					}
					if (memcmp(bm, back, bitmap_bytes(n)))
						bad++;
					/* a wrong count is refused, as a list too (room for it) */
					uint32_t *more = malloc((count + 2) * sizeof(*more));
					if (!set_decode_list(b.p, b.len, n, count + 1, more, &runs, &nr, &cap) ||
					    (count && !set_decode_list(b.p, b.len, n, count - 1, more, &runs,
								       &nr, &cap)))
						bad++;
					free(more);
					free(list);
					if (!set_decode_bitmap(b.p, b.len, n, count + 1, back))
						bad++;
					/* every truncation is refused, never read past */
					for (size_t cut = 0; cut < b.len && cut < 300; cut++) {
						uint8_t *t = malloc(cut ? cut : 1);
						memcpy(t, b.p, cut);
						memset(back, 0, bitmap_bytes(n));
						if (!set_decode_bitmap(t, cut, n, count, back) && cut != b.len)
							bad++;
						uint32_t *l = malloc((count + 1) * sizeof(*l));
						size_t lnr = 0, lcap = 0;
						struct trace_run *lr = NULL;
						if (!set_decode_list(t, cut, n, count, l, &lr, &lnr, &lcap) &&
						    cut != b.len)
							bad++;
						free(l);
						free(lr);
						free(t);
					}
					free(runs);
					tbuf_free(&b);
					checked++;
				}
				if (kind == 2 || kind == 3)
					break;
			}
		}
		free(bm);
		free(back);
	}
	dpt_clear_error();
	TEST_CHECK(!bad, "codec-round-trips", "%d of %d encodings wrong", bad, checked);
	TEST_CHECK(!bad_put, "codec-writer-takes-the-smallest", "%d of %d sets differ", bad_put,
		   checked / 3);
}

/* The sizes the benchmark targets are about: uniform random at 1% about 1.3 bytes a page as
 * indices; long runs a small fraction of that; never more than the bitmap. */
static void test_codec_sizes(void)
{
	uint64_t n = 1 << 20, *bm = calloc(bitmap_words(n), 8);
	size_t sz[3];

	make_set(bm, n, 0, 100);
	trace_set_sizes(bm, n, sz);
	double per = (double)sz[TRACE_SET_INDICES] / (double)bitmap_weight(bm, n);
	TEST_CHECK(per < 1.35 && per > 1.0, "codec-random-1pct-indices", "%.3f bytes a page", per);
	make_set(bm, n, 1, 2);
	trace_set_sizes(bm, n, sz);
	per = (double)sz[TRACE_SET_RUNS] / (double)bitmap_weight(bm, n);
	TEST_CHECK(per < 0.1, "codec-runs-small", "%.3f bytes a page", per);
	make_set(bm, n, 0, 2);
	trace_set_sizes(bm, n, sz);
	TEST_CHECK(sz[TRACE_SET_BITMAP] == 1 + n / 8 && sz[TRACE_SET_BITMAP] < sz[0] &&
			   sz[TRACE_SET_BITMAP] < sz[1],
		   "codec-dense-bitmap", "sizes %zu %zu %zu", sz[0], sz[1], sz[2]);
	free(bm);
}

/* ---- a synthetic run written and read back ---- */

#define NS 40
static struct {
	struct dpt_sample s;
	uint64_t *bm, *disc;
	uint64_t vcpu[3];
	struct dpt_region regions[3];
	struct dpt_proc procs[2];
} run[NS];

static const struct dpt_region base_regions[3] = {
	{.start = 0x100000, .pages = 1000, .first_page = 0, .name = "ram"},
	{.start = 0x7f0000000000, .pages = 2000, .first_page = 1000, .granule = 2 << 20,
	 .name = "huge"},
	{.start = 0x900000, .pages = 37, .first_page = 3000, .name = "[heap]"},
};

static struct trace_header header(void)
{
	return (struct trace_header){
		.page_size = 4096, .dpt_version = "test", .kernel = "Linux 6.18", .cpu = "cpu",
		.hostname = "host", .tracker = "pid", .mode = "uffd", .target = "pid 1 (x)",
		.command = "dpt track --pid 1", .interval_ns = 100000000, .zero_scan_ns = 1,
		.wall_start_ns = 1795920000123456789LL, .mono_start_ns = 5000000000LL,
		.flags = TRACE_HAS_SETS | TRACE_COUNTS_DISCARDED | TRACE_PER_PROCESS,
		.nr_vcpus = 3, .owner_pid = 4242, .nr_regions = 2, .regions = base_regions};
}

static struct timespec ts(int64_t ns)
{
	return (struct timespec){ns / 1000000000, ns % 1000000000};
}

static void make_run(void)
{
	for (int i = 0; i < NS; i++) {
		struct dpt_sample *s = &run[i].s;
		unsigned nr = i < 20 ? 2 : 3; /* a region appears at 20 */
		uint64_t total = nr == 2 ? 3000 : 3037;
		memcpy(run[i].regions, base_regions, sizeof(base_regions));
		run[i].bm = calloc(bitmap_words(total), 8);
		run[i].disc = calloc(bitmap_words(total), 8);
		make_set(run[i].bm, total, i % 3 == 2 ? 1 : 0, 1 + (unsigned)(rnd() % 50));
		make_set(run[i].disc, total, 0, 97);
		bitmap_andnot(run[i].disc, run[i].bm, total);
		int64_t t0 = 5000000000LL + (int64_t)i * 100000000;
		*s = (struct dpt_sample){
			.seq = (uint64_t)i + 1, .mono_start = ts(t0), .mono_end = ts(t0 + 100000000),
			.wall_start = ts(1795920000123456789LL + t0 - 5000000000LL),
			.wall_end = ts(1795920000123456789LL + t0 + 100000000 - 5000000000LL),
			.dirty = bitmap_weight(run[i].bm, total),
			.discarded = bitmap_weight(run[i].disc, total), .total = total,
			.page_size = 4096, .flags = i == 7 ? DPT_SAMPLE_HUGE : 0, .nr_vcpus = 3,
			.vcpu_dirty = run[i].vcpu, .bitmap = run[i].bm,
			.discarded_bitmap = run[i].disc, .nr_procs = 2, .procs = run[i].procs,
			.nr_regions = nr, .regions = run[i].regions, .regions_changed = i == 20};
		run[i].vcpu[0] = s->dirty / 2;
		run[i].vcpu[1] = s->dirty - s->dirty / 2;
		run[i].procs[0] = (struct dpt_proc){.pid = 100, .ppid = 1, .comm = "sh",
						    .dirty = s->dirty, .total = total - 10,
						    .discarded = s->discarded, .flags = 0};
		run[i].procs[1] = (struct dpt_proc){.pid = 101 + i, .ppid = 100, .comm = "w",
						    .total = 10, .flags = DPT_PROC_BORN};
	}
	/* the last one was lost with the target */
	run[NS - 1].s.flags = DPT_SAMPLE_FINAL | DPT_SAMPLE_PARTIAL | DPT_SAMPLE_LOST;
	run[NS - 1].s.dirty = run[NS - 1].s.discarded = 0;
	run[NS - 1].s.bitmap = run[NS - 1].s.discarded_bitmap = NULL;
}

/* Write the run to path; what is written where: a start, the samples, a non-zero record after
 * sample 10, a message, a stop. Returns 0 or -errno. */
static int write_run(const char *path, bool footer, int level)
{
	struct trace_header h = header();
	struct trace_writer *tw;
	int err;

	trace_zstd_level = level;
	unlink(path);
	if ((err = trace_writer_open(&tw, path, false, &h)))
		return err;
	struct timespec m = ts(5000000000LL), w = ts(1795920000123456789LL);
	err = trace_writer_session(tw, true, &m, &w);
	for (int i = 0; i < NS && !err; i++) {
		err = trace_writer_sample(tw, &run[i].s);
		if (!err && i == 10) {
			struct dpt_nonzero z = {
				.after_seq = 11, .mono_start = run[i].s.mono_end,
				.mono_end = run[i].s.mono_end, .wall_start = run[i].s.wall_end,
				.wall_end = run[i].s.wall_end, .method = DPT_NZ_CONTENT,
				.total = 3000, .count = run[3].s.dirty, .unknown = 2,
				.bytes_read = 12345, .nr_regions = 2, .regions = base_regions,
				.bitmap = run[3].bm};
			err = trace_writer_nonzero(tw, &z);
		}
		if (!err && i == 20)
			err = trace_writer_message(tw, &run[i].s.mono_end, &run[i].s.wall_end,
						   "a region appeared");
	}
	if (!err)
		err = trace_writer_session(tw, false, &run[NS - 1].s.mono_end,
					   &run[NS - 1].s.wall_end);
	int e2 = trace_writer_close(tw, footer, false);
	trace_zstd_level = 1;
	return err ? err : e2;
}

static bool same_sample(const struct dpt_sample *a, const struct dpt_sample *b)
{
	if (a->seq != b->seq || a->dirty != b->dirty || a->total != b->total ||
	    a->discarded != b->discarded || a->flags != b->flags ||
	    a->mono_start.tv_sec != b->mono_start.tv_sec ||
	    a->mono_start.tv_nsec != b->mono_start.tv_nsec ||
	    a->wall_end.tv_sec != b->wall_end.tv_sec || a->wall_end.tv_nsec != b->wall_end.tv_nsec ||
	    a->nr_vcpus != b->nr_vcpus || a->nr_procs != b->nr_procs ||
	    a->nr_regions != b->nr_regions)
		return false;
	for (unsigned i = 0; i < a->nr_vcpus; i++)
		if (a->vcpu_dirty[i] != b->vcpu_dirty[i])
			return false;
	for (unsigned i = 0; i < a->nr_procs; i++)
		if (a->procs[i].pid != b->procs[i].pid || a->procs[i].dirty != b->procs[i].dirty ||
		    a->procs[i].total != b->procs[i].total || a->procs[i].flags != b->procs[i].flags ||
		    strcmp(a->procs[i].comm, b->procs[i].comm))
			return false;
	for (unsigned i = 0; i < a->nr_regions; i++)
		if (memcmp(&a->regions[i], &b->regions[i], sizeof(a->regions[i])))
			return false;
	return true;
}

/* Read a whole trace: intervals matching run[] in order; returns the intervals read, or
 * -errno (or -1000 on a mismatch). *nz, *ev count the other records. */
static int read_all(struct trace_reader *r, int *nz, int *ev, char *why, size_t whylen)
{
	struct trace_record rec;
	int n = 0, got;

	*nz = *ev = 0;
	while ((got = trace_reader_next(r, &rec)) > 0) {
		if (rec.type == TRACE_REC_NONZERO) {
			const uint64_t *bm;
			if (trace_reader_bitmap(r, 0, &bm))
				return -EBADMSG;
			if (rec.nz.count != run[3].s.dirty || rec.nz.unknown != 2 ||
			    rec.nz.after_seq != 11 || rec.nz.nr_regions != 2 ||
			    memcmp(bm, run[3].bm, bitmap_bytes(3000))) {
				snprintf(why, whylen, "non-zero record differs");
				return -1000;
			}
			(*nz)++;
			continue;
		}
		if (rec.type != TRACE_REC_INTERVAL) {
			(*ev)++;
			if (rec.type == TRACE_REC_MESSAGE && strcmp(rec.text, "a region appeared")) {
				snprintf(why, whylen, "message '%s'", rec.text);
				return -1000;
			}
			continue;
		}
		if (n >= NS || !same_sample(&rec.s, &run[n].s)) {
			snprintf(why, whylen, "interval %d differs", n);
			return -1000;
		}
		const uint64_t *bm;
		const struct trace_run *runs;
		size_t nr;
		if (run[n].s.bitmap) {
			if (trace_reader_bitmap(r, 0, &bm) ||
			    memcmp(bm, run[n].bm, bitmap_bytes(rec.s.total)) ||
			    trace_reader_runs(r, 0, &runs, &nr)) {
				snprintf(why, whylen, "interval %d: set differs", n);
				return -1000;
			}
			uint64_t sum = 0;
			for (size_t i = 0; i < nr; i++)
				sum += runs[i].len;
			if (sum != rec.s.dirty || trace_reader_bitmap(r, 1, &bm) ||
			    memcmp(bm, run[n].disc, bitmap_bytes(rec.s.total))) {
				snprintf(why, whylen, "interval %d: runs or discarded differ", n);
				return -1000;
			}
			/* as a list: too little room refused (the count given), then the pages
			 * of the bitmap in order; the runs read after it still right */
			size_t cnt = 0, cnt2 = 0;
			uint32_t *list = malloc((rec.s.dirty + 1) * sizeof(*list));
			int e0 = rec.s.dirty ? trace_reader_indices(r, 0, list, rec.s.dirty - 1, &cnt)
					     : -ENOSPC;
			int e1 = trace_reader_indices(r, 0, list, rec.s.dirty, &cnt2);
			bool same = e0 == -ENOSPC && (!rec.s.dirty || cnt == rec.s.dirty) && !e1 &&
				    cnt2 == rec.s.dirty;
			for (size_t i = 0; same && i < cnt2; i++)
				same = bitmap_test(run[n].bm, list[i]) && (!i || list[i] > list[i - 1]);
			free(list);
			uint64_t sum2 = 0;
			if (trace_reader_runs(r, 0, &runs, &nr))
				same = false;
			for (size_t i = 0; same && i < nr; i++)
				sum2 += runs[i].len;
			dpt_clear_error();
			if (!same || sum2 != rec.s.dirty) {
				snprintf(why, whylen, "interval %d: list differs", n);
				return -1000;
			}
		} else if (rec.has_set || trace_reader_bitmap(r, 0, &bm) != -ENOENT) {
			snprintf(why, whylen, "interval %d: a set where none was written", n);
			return -1000;
		}
		n++;
	}
	return got < 0 ? got : n;
}

static void test_round_trip(const char *dir)
{
	char path[4096], why[200] = "";
	int nz, ev;

	for (int level = 0; level <= 3; level += 3) {
		for (int footer = 0; footer < 2; footer++) {
			char name[64];
			snprintf(path, sizeof(path), "%s/run-%d-%d.dpt", dir, level, footer);
			int err = write_run(path, footer, level);
			snprintf(name, sizeof(name), "round-trip-zstd%d-footer%d-write", level, footer);
			TEST_CHECK(!err, name, "%s", dpt_last_error());
			struct trace_reader *r;
			err = trace_reader_open(&r, path);
			snprintf(name, sizeof(name), "round-trip-zstd%d-footer%d-open", level, footer);
			if (!TEST_CHECK(!err, name, "%s", dpt_last_error()))
				continue;
			const struct trace_info *in = trace_reader_info(r);
			snprintf(name, sizeof(name), "round-trip-zstd%d-footer%d-header", level, footer);
			TEST_CHECK(in->major == 1 && in->h.page_size == 4096 &&
					   !strcmp(in->h.tracker, "pid") &&
					   !strcmp(in->h.command, "dpt track --pid 1") &&
					   in->h.wall_start_ns == 1795920000123456789LL &&
					   in->h.owner_pid == 4242 && in->h.nr_vcpus == 3 &&
					   in->h.nr_regions == 2 && in->h.regions[1].granule == 2 << 20 &&
					   !strcmp(in->h.regions[1].name, "huge") &&
					   in->has_footer == footer &&
					   in->nr_intervals == (footer ? NS : 0),
				   name, "header or footer differs");
			int n = read_all(r, &nz, &ev, why, sizeof(why));
			snprintf(name, sizeof(name), "round-trip-zstd%d-footer%d-records", level, footer);
			TEST_CHECK(n == NS && nz == 1 && ev == 3 && trace_reader_tail(r) == 0, name,
				   "%d intervals, %d non-zero, %d events, tail %llu: %s %s", n, nz, ev,
				   (unsigned long long)trace_reader_tail(r), why,
				   n < 0 ? dpt_last_error() : "");
			trace_reader_rewind(r);
			n = read_all(r, &nz, &ev, why, sizeof(why));
			snprintf(name, sizeof(name), "round-trip-zstd%d-footer%d-rewind", level, footer);
			TEST_CHECK(n == NS, name, "%d after rewind", n);
			trace_reader_close(r);
		}
	}
	snprintf(path, sizeof(path), "%s/run-3-1.dpt", dir);
	TEST_CHECK(write_run(path, true, 1) == -EEXIST || (unlink(path), 1), "writer-o-excl",
		   "an existing trace overwritten");
}

/* Cut the trace at every byte: the reader never errs, and returns exactly the intervals
 * whose records end at or before the cut. */
static void test_truncation(const char *dir)
{
	char path[4096], why[200];
	size_t len;
	int nz, ev, bad = 0, opened = 0;

	snprintf(path, sizeof(path), "%s/cut.dpt", dir);
	write_run(path, true, 1);
	uint8_t *full = test_slurp(path, &len);
	/* where each record starts; the last one ends where the footer starts (the trailer
	 * says where) */
	struct trace_reader *r;
	struct trace_record rec;
	uint64_t off[NS + 8], footer = 0;
	int type[NS + 8], nrec = 0;
	for (int i = 0; i < 8; i++)
		footer |= (uint64_t)full[len - 16 + i] << (8 * i);
	trace_reader_open_mem(&r, full, len);
	while (trace_reader_next(r, &rec) > 0 && nrec < NS + 7) {
		off[nrec] = rec.offset;
		type[nrec++] = rec.type;
	}
	trace_reader_close(r);
	off[nrec] = footer;
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *t = malloc(cut ? cut : 1);
		memcpy(t, full, cut);
		if (trace_reader_open_mem(&r, t, cut)) {
			free(t);
			continue; /* the header is cut: a clear error */
		}
		opened++;
		int n = read_all(r, &nz, &ev, why, sizeof(why)), want = 0;
		for (int i = 0; i < nrec; i++)
			want += type[i] == TRACE_REC_INTERVAL && off[i + 1] <= cut;
		if (n != want && bad++ < 3)
			printf("# cut at %zu: %d intervals, want %d: %s\n", cut, n, want,
			       n < 0 ? dpt_last_error() : why);
		trace_reader_close(r);
		free(t);
	}
	dpt_clear_error();
	TEST_CHECK(!bad && opened > 0 && nrec == NS + 4, "truncation-every-byte",
		   "%d of %zu cuts read wrong (%d opened, %d records)", bad, len, opened, nrec);
	free(full);
}

/* Random single-bit flips and byte overwrites: an error or fewer records, never a crash. */
static void test_flips(const char *dir)
{
	char path[4096], why[200];
	size_t len;
	int nz, ev, errors = 0, clean = 0;

	snprintf(path, sizeof(path), "%s/flip.dpt", dir);
	write_run(path, false, 1);
	uint8_t *full = test_slurp(path, &len), *t = malloc(len);
	for (int i = 0; i < 3000; i++) {
		memcpy(t, full, len);
		size_t at = rnd() % len;
		if (i % 2)
			t[at] ^= (uint8_t)(1u << (rnd() % 8));
		else
			t[at] = (uint8_t)rnd();
		struct trace_reader *r;
		if (trace_reader_open_mem(&r, t, len)) {
			errors++;
			continue;
		}
		int n = read_all(r, &nz, &ev, why, sizeof(why));
		n < 0 ? errors++ : clean++;
		trace_reader_close(r);
	}
	dpt_clear_error();
	/* a flip anywhere but in the trailing slack is caught by a checksum */
	TEST_CHECK(errors > 2900, "flips-caught", "%d errors, %d clean reads", errors, clean);
	free(full);
	free(t);
}

/* Frames with absurd fields: refused with a message, nothing allocated from them. */
static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void refit_crc(uint8_t *rec)
{
	uint32_t stored = (uint32_t)rec[8] | (uint32_t)rec[9] << 8 | (uint32_t)rec[10] << 16 |
			  (uint32_t)rec[11] << 24;
	put32(rec + 16 + stored, trace_crc32c(0, rec, 16 + stored));
}

static void test_hostile(const char *dir)
{
	char path[4096];
	size_t len;
	struct trace_reader *r;
	struct trace_record rec;
	int err;

	snprintf(path, sizeof(path), "%s/hostile.dpt", dir);
	write_run(path, false, 0);
	uint8_t *full = test_slurp(path, &len), *t = malloc(len + 64);

	memcpy(t, full, len);
	t[1] = 'X';
	err = trace_reader_open_mem(&r, t, len);
	TEST_CHECK(err == -EBADMSG && strstr(dpt_last_error(), "not a dpt trace"), "bad-magic",
		   "%d %s", err, dpt_last_error());
	dpt_clear_error();

	memcpy(t, full, len);
	t[8] = 2;
	err = trace_reader_open_mem(&r, t, len);
	TEST_CHECK(err == -EPROTONOSUPPORT && strstr(dpt_last_error(), "version 2.0"),
		   "bad-version", "%d %s", err, dpt_last_error());
	dpt_clear_error();

	/* a minor version above ours reads */
	memcpy(t, full, len);
	t[10] = 9;
	err = trace_reader_open_mem(&r, t, len);
	TEST_CHECK(!err, "later-minor-reads", "%s", dpt_last_error());
	if (!err)
		trace_reader_close(r);

	/* the header's stored length absurd (CRC refitted cannot cover it: the file is too short) */
	memcpy(t, full, len);
	put32(t + 16 + 8, 0xfffffff0u);
	err = trace_reader_open_mem(&r, t, len);
	TEST_CHECK(err == -EBADMSG && strstr(dpt_last_error(), "limit"), "absurd-length",
		   "%d %s", err, dpt_last_error());
	dpt_clear_error();

	/* a first interval declaring 2^40 pages, every one dirty, with a valid checksum */
	{
		struct trace_header h = header();
		struct trace_writer *tw;
		char p2[4096];
		snprintf(p2, sizeof(p2), "%s/huge.dpt", dir);
		unlink(p2);
		h.nr_regions = 0;
		trace_writer_open(&tw, p2, true, &h);
		struct dpt_sample s = {.seq = 1, .total = 1ULL << 40, .dirty = 1ULL << 40,
				       .flags = DPT_SAMPLE_ALL, .page_size = 4096};
		err = trace_writer_sample(tw, &s);
		trace_writer_close(tw, true, false);
		err = err ? err : trace_reader_open(&r, p2);
		if (!err) {
			int got = trace_reader_next(r, &rec);
			TEST_CHECK(got == -EBADMSG && strstr(dpt_last_error(), "limit"),
				   "huge-page-count", "%d %s", got, dpt_last_error());
			trace_reader_close(r);
		} else {
			TEST_CHECK(0, "huge-page-count", "%s", dpt_last_error());
		}
		dpt_clear_error();
		/* under a lower limit, a merely large count is refused the same way */
	}

	/* an interval record whose set says more pages than the count: refused when read */
	{
		struct tbuf b = {0};
		tbuf_reserve(&b, 64);
		b.p[b.len++] = TRACE_SET_RUNS;
		put_varint(&b, 1);
		put_varint(&b, 0);
		put_varint(&b, 1000000); /* a run far past the record's 3000 pages */
		uint64_t *bm = calloc(bitmap_words(3000), 8);
		err = set_decode_bitmap(b.p, b.len, 3000, 1000001, bm);
		TEST_CHECK(err == -EBADMSG, "run-past-the-end", "%d", err);
		dpt_clear_error();
		free(bm);
		tbuf_free(&b);
	}

	/* 8 gaps of 127 pages in a set of 64: past the last page (a sum of the 8 bytes that
	 * wrapped at 256 once let them through, and wrote far past the bitmap) */
	{
		struct tbuf b = {0};
		uint64_t bm[1] = {0};
		tbuf_reserve(&b, 16);
		b.p[b.len++] = TRACE_SET_INDICES;
		put_varint(&b, 8);
		memset(b.p + b.len, 127, 8);
		b.len += 8;
		err = set_decode_bitmap(b.p, b.len, 64, 8, bm);
		TEST_CHECK(err == -EBADMSG && !bm[0], "indices-8-gaps-past-the-end", "%d", err);
		dpt_clear_error();
		/* as a list: refused too; and a record of more than 2^32 pages has no 32-bit list */
		uint32_t list[9] = {0};
		struct trace_run *runs = NULL;
		size_t nr = 0, cap = 0;
		err = set_decode_list(b.p, b.len, 64, 8, list, &runs, &nr, &cap);
		int e2 = set_decode_list(b.p, b.len, (1ULL << 32) + 1, 8, list, &runs, &nr, &cap);
		TEST_CHECK(err == -EBADMSG && e2 == -EOVERFLOW, "indices-list-past-the-end", "%d %d",
			   err, e2);
		dpt_clear_error();
		free(runs);
		tbuf_free(&b);
	}

	/* indices whose gaps mix 1, 2 and 3 bytes (each decoding path: 8 gaps of a byte, 4 of 1
	 * or 2 bytes, one gap of 1 or 2 bytes, any varint), the last page at nbits - 1: read
	 * back as a bitmap and as runs; one more page in any gap, a gap of nbits anywhere, or a
	 * page landing on nbits anywhere: refused both ways, nothing written past the bitmap's
	 * last page (a guard word after it) */
	{
		int wrong = 0;
		for (int t = 0; t < 300; t++) {
			enum { K = 200 };
			uint64_t gaps[K], nbits = 0;
			unsigned k = 1 + (unsigned)(rnd() % K);
			for (unsigned i = 0; i < k; i++) {
				unsigned r = (unsigned)(rnd() % 100);
				gaps[i] = r < (unsigned)(t % 3 ? 70 : 98) ? rnd() % 128
					  : r < 99 ? 128 + rnd() % 16256 : 16384 + rnd() % 100000;
				nbits += gaps[i] + 1;
			}
			size_t words = bitmap_words(nbits);
			uint64_t *want = calloc(words, 8), *got = calloc(words + 1, 8);
			for (unsigned i = 0, pg = 0; i < k; i++) {
				pg += (unsigned)gaps[i];
				bitmap_set(want, pg++);
			}
			for (int bad_at = -1; bad_at < (int)k; bad_at++) {
				/* one page more (the last one lands on nbits), a gap of nbits, or
				 * a page landing on nbits exactly, pages after it */
				int how = t / 3 % 3;
				struct tbuf b = {0};
				tbuf_reserve(&b, 11 + 20 * (size_t)k);
				b.p[b.len++] = TRACE_SET_INDICES;
				put_varint(&b, k);
				for (unsigned i = 0, pg = 0; i < k; i++) {
					pg += (unsigned)gaps[i];
					uint64_t extra = (int)i != bad_at ? 0
							 : how == 0	  ? 1
							 : how == 1	  ? nbits
									  : nbits - pg;
					put_varint(&b, gaps[i] + extra);
					pg++;
				}
				memset(got, 0, (words + 1) * 8);
				int e1 = set_decode_bitmap(b.p, b.len, nbits, k, got);
				struct trace_run *runs = NULL;
				size_t nr = 0, cap = 0;
				int e2 = set_decode_runs(b.p, b.len, nbits, k, &runs, &nr, &cap);
				if (got[words] || (nbits % 64 && got[words - 1] >> (nbits % 64)))
					wrong++;
				/* as a list (k entries and a guard): the same pages, or refused */
				uint32_t *list = malloc((k + 1) * sizeof(*list));
				size_t lnr = 0;
				list[k] = 0xdeadbeef;
				int e3 = set_decode_list(b.p, b.len, nbits, k, list, &runs, &lnr, &cap);
				if (list[k] != 0xdeadbeef || (bad_at < 0) != !e3 ||
				    (e3 && e3 != -EBADMSG))
					wrong++;
				for (unsigned i = 0; !e3 && i < k; i++)
					if (list[i] >= nbits || !bitmap_test(want, list[i]) ||
					    (i && list[i] <= list[i - 1]))
						wrong++;
				free(list);
				if (bad_at < 0) {
					uint64_t *back = calloc(words, 8), prev_end = 0;
					for (size_t i = 0; i < nr; i++) {
						if (i && runs[i].start <= prev_end)
							wrong++;
						bitmap_set_range(back, runs[i].start, runs[i].len);
						prev_end = runs[i].start + runs[i].len;
					}
					if (e1 || e2 || memcmp(got, want, words * 8) ||
					    memcmp(back, want, words * 8))
						wrong++;
					free(back);
				} else if (e1 != -EBADMSG || e2 != -EBADMSG) {
					wrong++;
				}
				free(runs);
				tbuf_free(&b);
				if (bad_at >= 0 && t % 10)
					bad_at += (int)(rnd() % 16); /* a sample of the places */
			}
			free(want);
			free(got);
		}
		dpt_clear_error();
		TEST_CHECK(!wrong, "indices-every-path-to-the-last-page", "%d wrong", wrong);
	}

	/* garbage after the last record of a trace without a footer: a tail, or an error */
	memcpy(t, full, len);
	memset(t + len, 0, 64);
	err = trace_reader_open_mem(&r, t, len + 10);
	if (!err) {
		int n = 0, got;
		while ((got = trace_reader_next(r, &rec)) > 0)
			n += rec.type == TRACE_REC_INTERVAL;
		TEST_CHECK(got == 0 && n == NS && trace_reader_tail(r) == 10, "short-garbage-tail",
			   "%d, %d intervals, tail %llu", got, n,
			   (unsigned long long)trace_reader_tail(r));
		trace_reader_close(r);
	}
	memcpy(t + len, "DPTR\x02\0\0\0\xff\xff\0\0\xff\xff\0\0", 16);
	/* declared far past the end: a torn record (its CRC would be past the end too) */
	err = trace_reader_open_mem(&r, t, len + 40);
	if (!err) {
		int n = 0, got;
		while ((got = trace_reader_next(r, &rec)) > 0)
			n += rec.type == TRACE_REC_INTERVAL;
		TEST_CHECK(got == 0 && n == NS && trace_reader_tail(r) == 40, "torn-tail-counted",
			   "%d, %d intervals, tail %llu", got, n,
			   (unsigned long long)trace_reader_tail(r));
		trace_reader_close(r);
	}
	dpt_clear_error();
	free(full);
	free(t);
}

/* ---- regressions: inputs the fuzz test (trace-fuzz.c) found wrong ---- */

/* Append a record framed by hand (type, payload, right CRC) at t + *len. */
static void append_record(uint8_t *t, size_t *len, unsigned type, const struct tbuf *payload)
{
	uint8_t *rec = t + *len;

	memcpy(rec, "DPTR", 4);
	rec[4] = (uint8_t)type;
	rec[5] = rec[6] = rec[7] = 0;
	put32(rec + 8, (uint32_t)payload->len);
	put32(rec + 12, (uint32_t)payload->len);
	memcpy(rec + 16, payload->p, payload->len);
	refit_crc(rec);
	*len += 16 + payload->len + 4;
}

static void put_field(struct tbuf *b, unsigned tag, uint64_t v)
{
	tbuf_reserve(b, 21);
	put_varint(b, tag);
	put_varint(b, varint_size(v));
	put_varint(b, v);
}

/* A trace of one session with these samples and messages (NULL: none), no footer. */
static int write_small(const char *path, const struct dpt_sample *s, unsigned n,
		       const char *const *msgs, unsigned nmsgs)
{
	struct trace_header h = header();
	struct trace_writer *tw;
	struct timespec m = ts(5000000000LL), w = ts(1795920000123456789LL);
	int err;

	h.nr_regions = 0;
	unlink(path);
	if ((err = trace_writer_open(&tw, path, false, &h)))
		return err;
	for (unsigned i = 0; i < n && !err; i++)
		err = trace_writer_sample(tw, &s[i]);
	for (unsigned i = 0; i < nmsgs && !err; i++)
		err = trace_writer_message(tw, &m, &w, msgs[i]);
	int e2 = trace_writer_close(tw, false, false);
	return err ? err : e2;
}

/* A set of zero pages asked for as a bitmap: nothing to copy, and no NULL handed to memset
 * (UBSan in make sanitize). */
static void test_zero_pages(const char *dir)
{
	char path[4096];
	uint64_t word = 0;
	struct dpt_sample s = {.seq = 1, .total = 0, .page_size = 4096, .bitmap = &word};
	struct trace_reader *r;
	struct trace_record rec;
	const uint64_t *bm;
	const struct trace_run *runs;
	size_t nr = 1;
	int err;

	snprintf(path, sizeof(path), "%s/zero.dpt", dir);
	err = write_small(path, &s, 1, NULL, 0);
	if (!err)
		err = trace_reader_open(&r, path);
	if (!err) {
		int got = trace_reader_next(r, &rec);
		int e1 = trace_reader_bitmap(r, 0, &bm), e2 = trace_reader_runs(r, 0, &runs, &nr);
		TEST_CHECK(got == 1 && rec.has_set && !e1 && !e2 && !nr, "zero-page-set",
			   "%d %d %d %zu: %s", got, e1, e2, nr, dpt_last_error());
		size_t count = 1;
		int e3 = trace_reader_indices(r, 0, NULL, 0, &count);
		TEST_CHECK(!e3 && !count, "zero-page-set-list", "%d %zu", e3, count);
		trace_reader_close(r);
	} else {
		TEST_CHECK(0, "zero-page-set", "%s", dpt_last_error());
	}
	dpt_clear_error();
}

/* The writer stores a payload uncompressed where zstd cannot save a sixth of it (a sparse
 * random set's indices: near-random bytes), compressed where it can (5 %: small gaps), and
 * both read back page for page. */
static void test_zstd_choice(const char *dir)
{
	enum { N = 1 << 20 };
	static const unsigned den[3] = {100, 20, 1000};
	static const int want[3] = {0, 1, 0};
	char path[4096];
	uint64_t *bm[3];
	struct dpt_sample s[3];
	struct trace_reader *r;
	struct trace_record rec;
	size_t len = 0;
	int err, ok = 1;

	for (int i = 0; i < 3; i++) {
		bm[i] = malloc(bitmap_bytes(N));
		make_set(bm[i], N, 0, den[i]);
		s[i] = (struct dpt_sample){.seq = (uint64_t)i + 1, .mono_start = ts(i * 1000000LL),
					   .mono_end = ts((i + 1) * 1000000LL), .total = N,
					   .dirty = bitmap_weight(bm[i], N), .page_size = 4096,
					   .bitmap = bm[i]};
	}
	snprintf(path, sizeof(path), "%s/zstd-choice.dpt", dir);
	err = write_small(path, s, 3, NULL, 0);
	uint8_t *t = err ? NULL : test_slurp(path, &len);
	/* the interval records' flags, in order */
	int k = 0;
	for (size_t off = 16; t && off + 20 <= len && k < 4;) {
		uint32_t stored = (uint32_t)t[off + 8] | (uint32_t)t[off + 9] << 8 |
				  (uint32_t)t[off + 10] << 16 | (uint32_t)t[off + 11] << 24;
		if (t[off + 4] == TRACE_REC_INTERVAL) {
			if (k > 2 || (t[off + 5] & 1) != want[k])
				ok = 0;
			k++;
		}
		off += 16 + stored + 4;
	}
	free(t);
	if (!err && !(err = trace_reader_open(&r, path))) {
		for (int i = 0; i < 3; i++) {
			const uint64_t *got;
			if (trace_reader_next(r, &rec) != 1 || trace_reader_bitmap(r, 0, &got) ||
			    memcmp(got, bm[i], bitmap_bytes(N)))
				ok = 0;
		}
		trace_reader_close(r);
	}
	TEST_CHECK(!err && ok && k == 3, "zstd-only-where-it-wins", "%d records, %s", k,
		   err ? dpt_last_error() : "flags or sets wrong");
	for (int i = 0; i < 3; i++)
		free(bm[i]);
}

/* A message without its text field says nothing, not the previous message's text. */
static void test_message_without_text(const char *dir)
{
	static const char *const msgs[] = {"first", NULL};
	char path[4096], text[2][64] = {"?", "?"};
	struct trace_reader *r;
	struct trace_record rec;
	int n = 0;

	snprintf(path, sizeof(path), "%s/msg.dpt", dir);
	if (write_small(path, NULL, 0, msgs, 2) || trace_reader_open(&r, path)) {
		TEST_CHECK(0, "message-without-text", "%s", dpt_last_error());
		return;
	}
	for (int pass = 0; pass < 2; pass++) { /* and after a rewind */
		while (trace_reader_next(r, &rec) > 0)
			if (rec.type == TRACE_REC_MESSAGE && n < 2)
				snprintf(text[n++], sizeof(text[0]), "%s", rec.text);
		TEST_CHECK(n == 2 && !strcmp(text[0], "first") && !text[1][0],
			   pass ? "message-without-text-rewind" : "message-without-text",
			   "%d messages: '%s', '%s'", n, text[0], text[1]);
		trace_reader_rewind(r);
		n = 0;
	}
	trace_reader_close(r);
}

/* The smallest per-process row (pid 0, no comm, zeros) is 7 bytes: the writer writes it, the
 * reader reads it. */
static void test_small_proc_row(const char *dir)
{
	char path[4096];
	struct dpt_proc p = {.pid = 0, .ppid = 0, .comm = ""};
	struct dpt_sample s = {.seq = 1, .total = 10, .page_size = 4096, .nr_procs = 1, .procs = &p};
	struct trace_reader *r;
	struct trace_record rec;
	int got = -1;
	bool same = false;

	snprintf(path, sizeof(path), "%s/proc.dpt", dir);
	if (!write_small(path, &s, 1, NULL, 0) && !trace_reader_open(&r, path)) {
		got = trace_reader_next(r, &rec);
		same = got == 1 && rec.s.nr_procs == 1 && !rec.s.procs[0].comm[0] &&
		       !rec.s.procs[0].pid && !rec.s.procs[0].total;
		trace_reader_close(r);
	}
	TEST_CHECK(same, "proc-row-7-bytes", "%d: %s", got, dpt_last_error());
	dpt_clear_error();
}

/* A time whose sum with the header's start (positive here) leaves int64 is refused, with no
 * signed overflow on the way (UBSan in make sanitize). */
static void test_time_overflow(const char *dir)
{
	char path[4096];
	size_t len;
	struct tbuf b = {0};
	struct trace_reader *r;
	struct trace_record rec;
	int refused = 0;

	snprintf(path, sizeof(path), "%s/time.dpt", dir);
	write_small(path, NULL, 0, NULL, 0); /* header: mono_start_ns 5 s, wall 2026 */
	uint8_t *full = test_slurp(path, &len), *t = malloc(len + 256);
	for (int i = 0; i < 4; i++) {
		memcpy(t, full, len);
		size_t n = len;
		b.len = 0;
		put_field(&b, IF_SEQ, 1);
		for (unsigned tag = IF_MONO_START; tag <= IF_WALL_END; tag++)
			put_field(&b, tag, zigzag(tag - IF_MONO_START == (unsigned)i ? INT64_MAX : 0));
		put_field(&b, IF_TOTAL, 0);
		append_record(t, &n, TRACE_REC_INTERVAL, &b);
		int got = -1;
		if (!trace_reader_open_mem(&r, t, n)) {
			got = trace_reader_next(r, &rec);
			trace_reader_close(r);
		}
		refused += got == -EBADMSG && strstr(dpt_last_error(), "time");
		dpt_clear_error();
	}
	TEST_CHECK(refused == 4, "time-out-of-range", "%d of 4 refused", refused);
	tbuf_free(&b);
	free(full);
	free(t);
}

int main(void)
{
	char dir[] = "/tmp/dpt-trace-test.XXXXXX";

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	make_run();
	test_crc();
	test_codec();
	test_codec_sizes();
	test_round_trip(dir);
	test_truncation(dir);
	test_flips(dir);
	test_hostile(dir);
	test_zero_pages(dir);
	test_zstd_choice(dir);
	test_message_without_text(dir);
	test_small_proc_row(dir);
	test_time_overflow(dir);
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd)) {
	}
	return test_done();
}
