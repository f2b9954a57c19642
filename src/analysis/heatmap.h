/* heatmap.h - a page × time heat map of dirty sets, in memory bounded by its bins.
 *
 * Rows are bins of pages_per_row consecutive pages, columns bins of intervals_per_col
 * consecutive intervals (in the order they are added). A cell counts the page-intervals of its
 * bin that were dirty and those that were tracked (a page beyond an interval's total, or a lost
 * interval, is not tracked); its share is dirty / tracked. When the pages or the intervals
 * outgrow rows_max or cols_max, two neighbouring bins are merged into one (the bin size
 * doubles), so one pass over a trace of any size fills at most rows_max × cols_max cells.
 * A hint of the number of intervals (a trace's index) sizes the columns from the start.
 *
 *	struct heatmap hm;
 *
 *	heatmap_init(&hm, 1000, 2000, nr_intervals_or_0);
 *	for each interval: heatmap_add(&hm, &set, t_start, t_end);
 *	heatmap_share(&hm, row, col) ...
 *	heatmap_fini(&hm);
 *
 * Library code: 0 or -errno with the reason recorded (dpt_fail), never exits.
 */
#ifndef DPT_ANALYSIS_HEATMAP_H
#define DPT_ANALYSIS_HEATMAP_H

#include <stddef.h>
#include <stdint.h>

#include "dpt/trace.h"

/* One interval's dirty pages: a bitmap of total bits, or sorted runs (not both); neither for a
 * lost interval (no page counted as tracked). */
struct heatmap_set {
	uint64_t total; /* pages tracked in the interval */
	const uint64_t *bitmap;
	const struct trace_run *runs;
	size_t nr_runs;
	int lost; /* its pages are unknown */
};

/* A column's time span: the first interval's start and the last one's end (seconds). */
struct heatmap_col {
	double t_start, t_end;
	uint64_t first; /* index of its first interval */
	uint64_t intervals;
};

struct heatmap {
	unsigned rows_max, cols_max;
	uint64_t pages_per_row;	    /* 0 until the first interval */
	uint64_t intervals_per_col; /* >= 1 */
	unsigned rows, cols;	    /* in use */
	uint64_t pages;		    /* the largest total seen */
	uint64_t intervals;	    /* added */
	uint64_t *dirty, *tracked;  /* cell (r, c) at r * cols_max + c */
	struct heatmap_col *col;
};

/* An empty heat map of at most rows_max × cols_max cells (both >= 2). intervals_hint, when
 * not 0, is how many intervals are coming: the columns are sized for it at once. */
int heatmap_init(struct heatmap *hm, unsigned rows_max, unsigned cols_max,
		 uint64_t intervals_hint);

/* Add the next interval, spanning [t_start, t_end] seconds. */
int heatmap_add(struct heatmap *hm, const struct heatmap_set *set, double t_start, double t_end);

/* The cell's counts, and its share dirty (NaN when it tracked no page). */
static inline uint64_t heatmap_dirty(const struct heatmap *hm, unsigned r, unsigned c)
{
	return hm->dirty[(size_t)r * hm->cols_max + c];
}

static inline uint64_t heatmap_tracked(const struct heatmap *hm, unsigned r, unsigned c)
{
	return hm->tracked[(size_t)r * hm->cols_max + c];
}

double heatmap_share(const struct heatmap *hm, unsigned r, unsigned c);

/* The page numbers a row covers: [first, first + count). */
uint64_t heatmap_row_first(const struct heatmap *hm, unsigned r);
uint64_t heatmap_row_pages(const struct heatmap *hm, unsigned r);

/* Free the cells (safe on a zeroed or half-built heat map). */
void heatmap_fini(struct heatmap *hm);

#endif
