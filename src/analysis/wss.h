/* wss.h - the working-set curve N(t): how many distinct pages are dirtied within a window of
 * k consecutive intervals.
 *
 * For every window length k = 1, 2, 4, ... 2^m <= n and k = n (n: intervals added), over the
 * n - k + 1 sliding windows [s, s + k): the mean and the largest number of distinct pages
 * dirtied in a window. Exact, from one pass over the intervals (mechanism in wss.c). Windows
 * count intervals, not seconds: the caller decides which intervals make the sequence (dpt
 * report adds the recorded ones in order, sessions one after another).
 *
 *	struct wss *w;
 *	const struct wss_curve *c;
 *
 *	wss_init(&w);
 *	for each interval: wss_add(w, bitmap, pages);
 *	    or wss_list_room(w, pages, n, &list), n pages into list, wss_add_list(w, pages, n);
 *	wss_finish(w, &c);          c->points[j]: k, mean, max; wss_mean(w, k) for any k
 *	wss_free(w);
 *
 * Library code: 0 or -errno with the reason recorded (dpt_fail), never exits.
 */
#ifndef DPT_ANALYSIS_WSS_H
#define DPT_ANALYSIS_WSS_H

#include <stdint.h>

struct wss;

/* N(t) for one window length. */
struct wss_point {
	uint64_t k;	    /* window length, in intervals */
	uint64_t windows;   /* sliding windows of that length: n - k + 1 */
	double mean;	    /* distinct pages dirtied in a window, mean over the windows */
	uint64_t max;	    /* the most distinct pages dirtied in one window */
	uint64_t max_start; /* first interval (0-based) of the first window holding max */
};

struct wss_curve {
	uint64_t intervals; /* n: intervals added */
	uint64_t pages;	    /* pages in the numbering (the largest seen) */
	uint64_t distinct;  /* pages dirtied at least once (N for k = n) */
	uint64_t dirty;	    /* dirty page-intervals: the sum of every interval's dirty pages */
	unsigned nr_points; /* k = 1, 2, 4, ..., 2^m <= n, then n if it is not a power of 2 */
	const struct wss_point *points; /* increasing k; owned by the wss */
};

/* A new, empty curve. */
int wss_init(struct wss **wp);

/* Add the next interval: its dirty pages as a bitmap of pages bits (bits past pages zero).
 * The numbering may grow from one interval to the next, never shrink (pass the largest
 * numbering so far: pages no longer tracked are simply never dirty). At most 2^32 - 1 pages
 * and 2^31 intervals. The bitmap is copied; it may be reused at once. */
int wss_add(struct wss *w, const uint64_t *bitmap, uint64_t pages);

/* The same with the interval's dirty pages as a list of n page indices in increasing order,
 * each below pages: wss_list_room() makes room for n of them in the pass's own memory
 * (*list), the caller writes them there, then wss_add_list() adds them (n no more than
 * asked for; nothing else may come in between). A set listed this way is not copied. */
int wss_list_room(struct wss *w, uint64_t pages, size_t n, uint32_t **list);
int wss_add_list(struct wss *w, uint64_t pages, size_t n);

/* After the last wss_add(): compute the curve. *curve stays valid until wss_free(). With no
 * interval added, the curve has no points. */
int wss_finish(struct wss *w, const struct wss_curve **curve);

/* After wss_finish(): the mean of N over the n - k + 1 windows of k intervals, for any
 * 1 <= k <= n (0 outside). Exact up to the division. */
double wss_mean(const struct wss *w, uint64_t k);

/* After wss_finish(): per page, the number of intervals it was dirty in (pages entries). */
const uint32_t *wss_page_counts(const struct wss *w);

/* Free everything (NULL is fine). */
void wss_free(struct wss *w);

#endif
