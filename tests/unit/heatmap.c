/* Unit tests: the heat map's bins against a brute-force binning of every stored set.
 *
 * Random sets (dense and sparse, given as bitmaps or as runs), totals that grow (rows merge),
 * more intervals than columns without a hint (columns merge), lost intervals; every cell's
 * dirty and tracked counts must equal the count over its pages and intervals, recomputed from
 * the final bin sizes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "analysis/heatmap.h"
#include "dpt/bitmap.h"

static uint64_t rng = 88172645463325252ULL;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct iv {
	uint64_t total;
	uint64_t *bm;
	int lost;
};

/* Sorted maximal runs of bm. */
static size_t to_runs(const uint64_t *bm, uint64_t n, struct trace_run *runs)
{
	size_t nr = 0;

	for (uint64_t i = 0; i < n; i++) {
		if (!bitmap_test(bm, i))
			continue;
		uint64_t s = i;
		while (i < n && bitmap_test(bm, i))
			i++;
		runs[nr++] = (struct trace_run){s, i - s};
	}
	return nr;
}

/* A random set of total pages: dense, sparse or clustered. */
static uint64_t *random_set(uint64_t total)
{
	uint64_t *bm = calloc(bitmap_words(total) + 1, 8);
	unsigned kind = next_rand() % 3;

	for (uint64_t p = 0; p < total; p++) {
		if (kind == 0 && next_rand() % 2)
			bitmap_set(bm, p);
		else if (kind == 1 && next_rand() % 97 == 0)
			bitmap_set(bm, p);
	}
	if (kind == 2 && total) {
		uint64_t a = next_rand() % total;
		bitmap_set_range(bm, a, next_rand() % (total - a) + 1);
	}
	return bm;
}

/* Every cell against the brute force; 1 if all agree. */
static int check_cells(const struct heatmap *hm, const struct iv *iv, uint64_t n)
{
	uint64_t P = hm->pages_per_row, W = hm->intervals_per_col;

	for (unsigned r = 0; r < hm->rows; r++) {
		for (unsigned c = 0; c < hm->cols; c++) {
			uint64_t d = 0, t = 0;
			for (uint64_t i = c * W; i < (c + 1) * W && i < n; i++) {
				for (uint64_t p = r * P; p < (r + 1) * P; p++) {
					if (iv[i].lost || p >= iv[i].total)
						continue;
					t++;
					d += bitmap_test(iv[i].bm, p);
				}
			}
			if (d != heatmap_dirty(hm, r, c) || t != heatmap_tracked(hm, r, c)) {
				printf("# cell %u,%u: %llu/%llu, expected %llu/%llu\n", r, c,
				       (unsigned long long)heatmap_dirty(hm, r, c),
				       (unsigned long long)heatmap_tracked(hm, r, c),
				       (unsigned long long)d, (unsigned long long)t);
				return 0;
			}
		}
	}
	return 1;
}

/* n intervals of totals growing from total0 to total1; hint: tell the heat map n. */
static void run_case(const char *name, unsigned rows_max, unsigned cols_max, uint64_t n,
		     uint64_t total0, uint64_t total1, int hint, int use_runs)
{
	struct iv *iv = calloc(n, sizeof(*iv));
	struct trace_run *runs = calloc(total1 + 1, sizeof(*runs));
	struct heatmap hm;
	int ok = 1;

	if (heatmap_init(&hm, rows_max, cols_max, hint ? n : 0)) {
		TEST_CHECK(0, name, "init failed");
		return;
	}
	for (uint64_t i = 0; i < n; i++) {
		iv[i].total = total0 + (total1 - total0) * i / (n > 1 ? n - 1 : 1);
		iv[i].bm = random_set(iv[i].total);
		iv[i].lost = next_rand() % 17 == 0;
		struct heatmap_set s = {.total = iv[i].total, .lost = iv[i].lost};
		if (use_runs == 1 || (use_runs == 2 && i % 2)) {
			s.runs = runs;
			s.nr_runs = to_runs(iv[i].bm, iv[i].total, runs);
		} else {
			s.bitmap = iv[i].bm;
		}
		ok &= heatmap_add(&hm, &s, (double)i, (double)i + 1) == 0;
	}
	ok &= check_cells(&hm, iv, n);
	ok &= hm.rows <= rows_max && hm.cols <= cols_max;
	ok &= hm.cols == (n + hm.intervals_per_col - 1) / hm.intervals_per_col;
	uint64_t seen = 0;
	for (unsigned c = 0; c < hm.cols; c++) {
		ok &= hm.col[c].first == seen && hm.col[c].t_start == (double)seen;
		seen += hm.col[c].intervals;
		ok &= hm.col[c].t_end == (double)seen;
	}
	ok &= seen == n;
	TEST_CHECK(ok, name, "bins differ (P=%llu W=%llu rows=%u cols=%u)",
		   (unsigned long long)hm.pages_per_row, (unsigned long long)hm.intervals_per_col,
		   hm.rows, hm.cols);
	heatmap_fini(&hm);
	for (uint64_t i = 0; i < n; i++)
		free(iv[i].bm);
	free(iv);
	free(runs);
}

int main(void)
{
	run_case("heatmap-small-bitmap", 8, 8, 5, 20, 20, 0, 0);
	run_case("heatmap-small-runs", 8, 8, 5, 20, 20, 0, 1);
	run_case("heatmap-fits-hint", 10, 7, 50, 1000, 1000, 1, 2);
	run_case("heatmap-cols-merge", 10, 7, 50, 1000, 1000, 0, 2);
	run_case("heatmap-rows-merge", 6, 9, 40, 100, 5000, 0, 2);
	run_case("heatmap-rows-merge-runs", 6, 9, 40, 63, 4097, 0, 1);
	run_case("heatmap-unaligned-rows", 13, 16, 31, 4099, 4099, 1, 0);
	run_case("heatmap-one-page", 4, 4, 9, 1, 1, 0, 2);

	/* a lost first interval does not size the rows */
	struct heatmap hm;
	uint64_t bm[16] = {~0ULL};
	struct heatmap_set lost = {.lost = 1}, s = {.total = 1000, .bitmap = bm};
	heatmap_init(&hm, 10, 10, 0);
	heatmap_add(&hm, &lost, 0, 1);
	heatmap_add(&hm, &s, 1, 2);
	TEST_CHECK(hm.pages_per_row == 100 && hm.rows == 10 && heatmap_dirty(&hm, 0, 1) == 64 &&
			   heatmap_tracked(&hm, 0, 0) == 0 && isnan(heatmap_share(&hm, 0, 0)) &&
			   heatmap_share(&hm, 0, 1) == 0.64,
		   "heatmap-lost-first", "P=%llu rows=%u", (unsigned long long)hm.pages_per_row,
		   hm.rows);
	heatmap_fini(&hm);

	struct trace_run bad[2] = {{10, 5}, {12, 1}};
	s = (struct heatmap_set){.total = 1000, .runs = bad, .nr_runs = 2};
	heatmap_init(&hm, 10, 10, 0);
	TEST_CHECK(heatmap_add(&hm, &s, 0, 1) < 0, "heatmap-refuses-unsorted-runs",
		   "accepted overlapping runs");
	heatmap_fini(&hm);
	return test_done();
}
