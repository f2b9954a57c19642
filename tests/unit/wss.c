/* wss.c - the working-set curve N(t) against brute force: random traces written with the trace
 * writer into a temporary directory, read back, fed to wss; every point's mean, max and where
 * the max is, and wss_mean() for every k, must equal a window-by-window count. Edge cases: one
 * interval, nothing dirty, everything dirty, pages dirty only in the first or last interval,
 * k = n, a growing numbering, gaps longer than the short-gap table, several batches and blocks.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/wss.h"
#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/trace.h"
#include "../test.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A case: n intervals, interval i over pages[i] pages (non-decreasing), sets in bm[i]. */
struct tcase {
	uint64_t n, maxp, *pages;
	uint64_t **bm;
};

/* Kinds of sets: 0 random at a density, 1 clustered runs, 2 all, 3 none, 4 sparse with long
 * gaps (each page dirty with probability 1/den, den large). */
static void make(struct tcase *c, uint64_t n, uint64_t p0, uint64_t p1, int kind, unsigned den)
{
	c->n = n;
	c->maxp = p1;
	c->pages = calloc(n, sizeof(*c->pages));
	c->bm = calloc(n, sizeof(*c->bm));
	for (uint64_t i = 0; i < n; i++) {
		uint64_t p = i < n / 2 ? p0 : p1;
		c->pages[i] = p;
		c->bm[i] = calloc(bitmap_words(p1) + 1, 8);
		if (kind == 2)
			bitmap_set_range(c->bm[i], 0, p);
		for (uint64_t q = 0; q < p && (kind == 0 || kind == 4); q++)
			if (rnd() % den == 0)
				bitmap_set(c->bm[i], q);
		for (uint64_t q = 0; q < p && kind == 1;) {
			uint64_t len = 1 + rnd() % 40;
			if (rnd() % den == 0)
				bitmap_set_range(c->bm[i], q, len < p - q ? len : p - q);
			q += len;
		}
	}
	/* a page dirty only in the first interval, one only in the last (when room) */
	if (kind != 2 && p0 > 2) {
		bitmap_set(c->bm[0], 0);
		bitmap_set(c->bm[n - 1], p0 - 1);
		for (uint64_t i = 1; i < n; i++)
			bitmap_clear_bit(c->bm[i], 0);
		for (uint64_t i = 0; i + 1 < n; i++)
			bitmap_clear_bit(c->bm[i], p0 - 1);
	}
}

static void drop(struct tcase *c)
{
	for (uint64_t i = 0; i < c->n; i++)
		free(c->bm[i]);
	free(c->bm);
	free(c->pages);
}

static int feed; /* sets to the wss: 0 bitmaps, 1 lists, 2 either at random */

/* Write c as a trace, read it back into a wss. 0, or -errno. */
static int through_trace(const struct tcase *c, const char *path, struct wss *w)
{
	struct dpt_region r = {.start = 0, .name = "ram"};
	struct trace_header h = {.page_size = 4096, .tracker = "kvm", .interval_ns = 1000000000,
				 .flags = TRACE_HAS_SETS};
	struct trace_writer *tw;
	struct trace_reader *rd;
	struct trace_record rec;
	int err, got;

	if ((err = trace_writer_open(&tw, path, true, &h)))
		return err;
	for (uint64_t i = 0; i < c->n && !err; i++) {
		struct dpt_sample s = {.seq = i + 1, .total = c->pages[i], .page_size = 4096,
				       .bitmap = c->bm[i], .nr_regions = 1, .regions = &r};
		s.mono_start.tv_sec = (time_t)i;
		s.mono_end.tv_sec = (time_t)i + 1;
		r.pages = c->pages[i];
		s.dirty = bitmap_weight(c->bm[i], c->pages[i]);
		err = trace_writer_sample(tw, &s);
	}
	if ((got = trace_writer_close(tw, true, false)) || err)
		return err ? err : got;
	if ((err = trace_reader_open(&rd, path)))
		return err;
	while ((got = trace_reader_next(rd, &rec)) > 0) {
		const uint64_t *bm;
		if (rec.type != TRACE_REC_INTERVAL)
			continue;
		/* as a bitmap, as a list of pages (wss_list_room, the reader's list straight into
		 * it) or either, by feed */
		if (feed == 1 || (feed == 2 && rnd() % 2)) {
			uint32_t *list;
			size_t n;
			if ((err = wss_list_room(w, rec.s.total, rec.s.dirty, &list)) ||
			    (err = trace_reader_indices(rd, 0, list, rec.s.dirty, &n)) ||
			    (err = wss_add_list(w, rec.s.total, n)))
				break;
			continue;
		}
		if ((err = trace_reader_bitmap(rd, 0, &bm)) ||
		    (err = wss_add(w, bm, rec.s.total)))
			break;
	}
	trace_reader_close(rd);
	return err ? err : got;
}

/* Brute force: sum, max and first argmax of N_k over the windows. */
static void brute(const struct tcase *c, uint64_t k, uint64_t *sum, uint64_t *max, uint64_t *at)
{
	size_t words = bitmap_words(c->maxp);
	uint64_t *u = calloc(words + 1, 8);

	*sum = *max = *at = 0;
	for (uint64_t s = 0; s + k <= c->n; s++) {
		memset(u, 0, (words + 1) * 8);
		for (uint64_t i = s; i < s + k; i++)
			for (size_t x = 0; x < words; x++)
				u[x] |= c->bm[i][x];
		uint64_t v = bitmap_weight(u, c->maxp);
		*sum += v;
		if (v > *max || s == 0) {
			*max = v;
			*at = s;
		}
	}
	free(u);
}

static char dir[] = "/tmp/dpt-wss.XXXXXX";

/* Check one case; all_k: also wss_mean() for every k. Returns the number of mismatches. */
static int check(const char *name, const struct tcase *c, bool all_k)
{
	char path[64];
	const struct wss_curve *cv;
	struct wss *w;
	int bad = 0, err;
	uint64_t sum, max, at, distinct = 0;

	dpt_clear_error();
	snprintf(path, sizeof(path), "%s/t.dpt", dir);
	if ((err = wss_init(&w)) || (err = through_trace(c, path, w)) ||
	    (err = wss_finish(w, &cv))) {
		test_report(0, name, "error %d: %s", err, dpt_last_error());
		wss_free(w);
		return 1;
	}
	brute(c, c->n, &sum, &max, &at);
	distinct = sum;
	unsigned want = 0;
	for (uint64_t k = 1; k <= c->n; k *= 2)
		want++;
	want += (c->n & (c->n - 1)) != 0;
	if (cv->intervals != c->n || cv->distinct != distinct || cv->nr_points != want) {
		test_report(0, name, "n %" PRIu64 " distinct %" PRIu64 " (want %" PRIu64 ") points %u",
			    cv->intervals, cv->distinct, distinct, cv->nr_points);
		bad++;
	}
	for (unsigned j = 0; j < cv->nr_points && !bad; j++) {
		const struct wss_point *pt = &cv->points[j];
		uint64_t k = j + 1 < want || !(c->n & (c->n - 1)) ? 1ULL << j : c->n;
		brute(c, k, &sum, &max, &at);
		if (pt->k != k || pt->windows != c->n - k + 1 ||
		    llround(pt->mean * (double)pt->windows) != (long long)sum || pt->max != max ||
		    pt->max_start != at) {
			test_report(0, name,
				    "k %" PRIu64 " (want %" PRIu64 "): mean %.3f max %" PRIu64
				    " at %" PRIu64 "; brute force: mean %.3f max %" PRIu64
				    " at %" PRIu64,
				    pt->k, k, pt->mean, pt->max, pt->max_start,
				    (double)sum / (double)(c->n - k + 1), max, at);
			bad++;
		}
	}
	for (uint64_t k = 1; all_k && !bad && k <= c->n; k++) {
		brute(c, k, &sum, &max, &at);
		double m = wss_mean(w, k), e = (double)sum / (double)(c->n - k + 1);
		if (fabs(m - e) > 1e-9 * (e > 1 ? e : 1)) {
			test_report(0, name, "wss_mean(%" PRIu64 ") %.6f, brute force %.6f", k, m, e);
			bad++;
		}
	}
	wss_free(w);
	return bad;
}

/* Many random cases of one shape; one ok/FAIL line for all of them. */
static void random_cases(const char *name, unsigned count, uint64_t nmax, uint64_t pmax,
			 bool all_k)
{
	int bad = 0;

	for (unsigned t = 0; t < count && !bad; t++) {
		struct tcase c;
		uint64_t n = 1 + rnd() % nmax, p0 = 1 + rnd() % pmax;
		uint64_t p1 = rnd() % 3 ? p0 : p0 + rnd() % pmax;
		static const unsigned dens[] = {1, 2, 3, 10, 50, 300};
		int kind = (int)(rnd() % 5);
		unsigned den = kind == 4 ? 40 + (unsigned)(rnd() % 200) : dens[rnd() % 6];
		make(&c, n, p0, p1, kind, den);
		bad += check(name, &c, all_k);
		drop(&c);
	}
	if (!bad)
		test_report(1, name, "%s", "");
}

static void edge(const char *name, uint64_t n, uint64_t p, int kind, unsigned den)
{
	struct tcase c;

	make(&c, n, p, p, kind, den);
	if (!check(name, &c, true))
		test_report(1, name, "%s", "");
	drop(&c);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	edge("wss-one-interval", 1, 100, 0, 3);
	edge("wss-one-interval-none", 1, 100, 3, 1);
	edge("wss-none-dirty", 20, 100, 3, 1);
	edge("wss-all-dirty", 33, 130, 2, 1);
	edge("wss-one-page", 17, 1, 0, 2);
	edge("wss-power-of-two-n", 64, 200, 0, 5);
	edge("wss-first-last-only", 70, 3, 3, 1);
	edge("wss-long-gaps", 300, 500, 4, 150);
	random_cases("wss-random-small", 300, 40, 300, true);
	random_cases("wss-random-long", 40, 300, 200, true);
	edge("wss-batches-blocks", 150, 70000, 0, 20);
	edge("wss-batches-blocks-sparse", 200, 40000, 4, 90);
	/* the same with the sets as lists of pages, and mixed: several stretches of blocks (a
	 * worker's first page of each sought in every list) */
	for (feed = 1; feed <= 2; feed++) {
		const char *f = feed == 1 ? "list" : "mixed";
		char name[64];
		snprintf(name, sizeof(name), "wss-%s-none-dirty", f);
		edge(name, 20, 100, 3, 1);
		snprintf(name, sizeof(name), "wss-%s-all-dirty", f);
		edge(name, 33, 130, 2, 1);
		snprintf(name, sizeof(name), "wss-%s-long-gaps", f);
		edge(name, 300, 500, 4, 150);
		snprintf(name, sizeof(name), "wss-%s-random-small", f);
		random_cases(name, 200, 40, 300, true);
		snprintf(name, sizeof(name), "wss-%s-batches-blocks", f);
		edge(name, 150, 70000, 0, 20);
		snprintf(name, sizeof(name), "wss-%s-stretches", f);
		edge(name, 90, 600000, 0, 20);
		snprintf(name, sizeof(name), "wss-%s-stretches-sparse", f);
		edge(name, 100, 700000, 4, 300);
	}
	feed = 0;
	char path[64];
	snprintf(path, sizeof(path), "%s/t.dpt", dir);
	unlink(path);
	rmdir(dir);
	return test_done();
}
