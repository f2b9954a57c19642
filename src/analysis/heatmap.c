/* heatmap.c - a page × time heat map of dirty sets, in one pass and bounded memory.
 *
 * 1. Bins. Row r holds pages [r * P, (r + 1) * P), column c intervals [c * W, (c + 1) * W).
 *    P is set by the first interval that tracks pages, to fit them in rows_max rows; W starts at 1, or at
 *    what fits the hinted number of intervals in cols_max columns.
 * 2. Growth. When an interval tracks more pages than rows_max * P, P doubles and rows 2r and
 *    2r + 1 are summed into row r; when interval i would land in column cols_max, W doubles
 *    and columns are merged in pairs likewise. Both keep every bin a whole number of the new
 *    size, so the counts stay exact: merging is the same as having binned so from the start.
 * 3. Counting. Per interval, every row its total reaches gets the pages it tracks (a partial
 *    last row fewer), and the dirty ones: from a bitmap, a popcount of each row's bit range;
 *    from runs, each run split at row boundaries (a division only when a run jumps rows).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/heatmap.h"
#include "dpt/log.h"

int heatmap_init(struct heatmap *hm, unsigned rows_max, unsigned cols_max,
		 uint64_t intervals_hint)
{
	size_t cells = (size_t)rows_max * cols_max;

	memset(hm, 0, sizeof(*hm));
	if (rows_max < 2 || cols_max < 2)
		return dpt_fail(-EINVAL, "heat map: at least 2 rows and 2 columns, not %u x %u",
				rows_max, cols_max);
	hm->rows_max = rows_max;
	hm->cols_max = cols_max;
	hm->intervals_per_col = intervals_hint ? (intervals_hint + cols_max - 1) / cols_max : 1;
	hm->dirty = calloc(cells, sizeof(*hm->dirty));
	hm->tracked = calloc(cells, sizeof(*hm->tracked));
	hm->col = calloc(cols_max, sizeof(*hm->col));
	if (!hm->dirty || !hm->tracked || !hm->col) {
		heatmap_fini(hm);
		return dpt_fail(-ENOMEM, "heat map: no memory for %u x %u cells", rows_max, cols_max);
	}
	return 0;
}

void heatmap_fini(struct heatmap *hm)
{
	free(hm->dirty);
	free(hm->tracked);
	free(hm->col);
	memset(hm, 0, sizeof(*hm));
}

uint64_t heatmap_row_first(const struct heatmap *hm, unsigned r)
{
	return r * hm->pages_per_row;
}

uint64_t heatmap_row_pages(const struct heatmap *hm, unsigned r)
{
	uint64_t first = heatmap_row_first(hm, r);

	if (first >= hm->pages)
		return 0;
	return hm->pages - first < hm->pages_per_row ? hm->pages - first : hm->pages_per_row;
}

double heatmap_share(const struct heatmap *hm, unsigned r, unsigned c)
{
	uint64_t t = heatmap_tracked(hm, r, c);

	return t ? (double)heatmap_dirty(hm, r, c) / (double)t : NAN;
}

/* Rows 2r and 2r + 1 become row r: P doubles. */
static void heatmap_merge_rows(struct heatmap *hm)
{
	size_t w = hm->cols_max;
	unsigned rows = (hm->rows + 1) / 2;

	for (unsigned r = 0; r < rows; r++) {
		for (unsigned c = 0; c < hm->cols; c++) {
			uint64_t d = hm->dirty[2 * r * w + c], t = hm->tracked[2 * r * w + c];
			if (2 * r + 1 < hm->rows) {
				d += hm->dirty[(2 * r + 1) * w + c];
				t += hm->tracked[(2 * r + 1) * w + c];
			}
			hm->dirty[r * w + c] = d;
			hm->tracked[r * w + c] = t;
		}
	}
	for (unsigned r = rows; r < hm->rows; r++) {
		memset(hm->dirty + r * w, 0, w * sizeof(uint64_t));
		memset(hm->tracked + r * w, 0, w * sizeof(uint64_t));
	}
	hm->rows = rows;
	hm->pages_per_row *= 2;
}

/* Columns 2c and 2c + 1 become column c: W doubles. */
static void heatmap_merge_cols(struct heatmap *hm)
{
	unsigned cols = (hm->cols + 1) / 2;

	for (unsigned r = 0; r < hm->rows; r++) {
		uint64_t *d = hm->dirty + (size_t)r * hm->cols_max;
		uint64_t *t = hm->tracked + (size_t)r * hm->cols_max;
		for (unsigned c = 0; c < cols; c++) {
			bool pair = 2 * c + 1 < hm->cols;
			d[c] = d[2 * c] + (pair ? d[2 * c + 1] : 0);
			t[c] = t[2 * c] + (pair ? t[2 * c + 1] : 0);
		}
		memset(d + cols, 0, (hm->cols - cols) * sizeof(uint64_t));
		memset(t + cols, 0, (hm->cols - cols) * sizeof(uint64_t));
	}
	for (unsigned c = 0; c < cols; c++) {
		struct heatmap_col a = hm->col[2 * c];
		if (2 * c + 1 < hm->cols) {
			a.t_end = hm->col[2 * c + 1].t_end;
			a.intervals += hm->col[2 * c + 1].intervals;
		}
		hm->col[c] = a;
	}
	memset(hm->col + cols, 0, (hm->cols - cols) * sizeof(*hm->col));
	hm->cols = cols;
	hm->intervals_per_col *= 2;
}

/* Bits set in [from, to) of bm. */
static inline __attribute__((always_inline)) uint64_t
heatmap_weight_range(const uint64_t *bm, uint64_t from, uint64_t to)
{
	uint64_t n = 0, a = from / 64, b = to / 64;

	if (from >= to)
		return 0;
	if (a == b)
		return (uint64_t)__builtin_popcountll(bm[a] >> (from % 64) &
						      ((1ULL << (to - from)) - 1));
	n = (uint64_t)__builtin_popcountll(bm[a] >> (from % 64));
	for (uint64_t i = a + 1; i < b; i++)
		n += (uint64_t)__builtin_popcountll(bm[i]);
	if (to % 64)
		n += (uint64_t)__builtin_popcountll(bm[b] & ((1ULL << (to % 64)) - 1));
	return n;
}

static int heatmap_count_runs(struct heatmap *hm, const struct heatmap_set *set, unsigned c)
{
	uint64_t P = hm->pages_per_row, end = 0, row_end = 0;
	uint64_t *d = hm->dirty + c;
	size_t w = hm->cols_max;
	unsigned r = 0;

	for (size_t i = 0; i < set->nr_runs; i++) {
		uint64_t s = set->runs[i].start, len = set->runs[i].len;
		if (!len || s < end || len > set->total || s > set->total - len)
			return dpt_fail(-EINVAL, "heat map: runs unsorted or past the %llu pages",
					(unsigned long long)set->total);
		end = s + len;
		while (s < end) {
			if (s >= row_end) {
				r = (unsigned)(s / P);
				row_end = (r + 1) * P;
			}
			uint64_t n = (end < row_end ? end : row_end) - s;
			d[r * w] += n;
			s += n;
		}
	}
	return 0;
}

/* The popcount instruction where the CPU has it (the default x86-64 target has not, and
 * libgcc's popcount took a sixth of a large heat map's time). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HEATMAP_CLONES __attribute__((target_clones("popcnt", "default")))
#else
#define HEATMAP_CLONES
#endif

HEATMAP_CLONES
static void heatmap_count(struct heatmap *hm, const struct heatmap_set *set, unsigned c)
{
	uint64_t P = hm->pages_per_row;
	size_t w = hm->cols_max;

	for (unsigned r = 0; (uint64_t)r * P < set->total; r++) {
		uint64_t a = r * P, b = set->total - a < P ? set->total : a + P;
		hm->tracked[r * w + c] += b - a;
		if (set->bitmap)
			hm->dirty[r * w + c] += heatmap_weight_range(set->bitmap, a, b);
	}
}

/* Make room for the interval's pages and for the next interval; returns its column. */
static unsigned heatmap_grow(struct heatmap *hm, uint64_t total, double t_start)
{
	if (!hm->pages_per_row && total) /* sized by the first interval that tracks pages */
		hm->pages_per_row = (total + hm->rows_max - 1) / hm->rows_max;
	if (total > hm->pages) {
		while ((total + hm->pages_per_row - 1) / hm->pages_per_row > hm->rows_max)
			heatmap_merge_rows(hm);
		hm->pages = total;
		hm->rows = (unsigned)((total + hm->pages_per_row - 1) / hm->pages_per_row);
	}

	while (hm->intervals / hm->intervals_per_col >= hm->cols_max)
		heatmap_merge_cols(hm);
	unsigned c = (unsigned)(hm->intervals / hm->intervals_per_col);
	if (c >= hm->cols) {
		hm->col[c] = (struct heatmap_col){.t_start = t_start, .first = hm->intervals};
		hm->cols = c + 1;
	}
	return c;
}

int heatmap_add(struct heatmap *hm, const struct heatmap_set *set, double t_start, double t_end)
{
	if (!set->lost && set->bitmap && set->runs)
		return dpt_fail(-EINVAL, "heat map: a set is a bitmap or runs, not both");
	unsigned c = heatmap_grow(hm, set->lost ? 0 : set->total, t_start);
	if (!set->lost) {
		if (set->runs) {
			int err = heatmap_count_runs(hm, set, c);
			if (err)
				return err;
		}
		heatmap_count(hm, set, c);
	}
	hm->col[c].t_end = t_end;
	hm->col[c].intervals++;
	hm->intervals++;
	return 0;
}
