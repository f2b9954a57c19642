/* wss.c - the working-set curve N(t), exact, in one pass over the intervals.
 *
 * Intervals are numbered 0 .. n-1, D_i is the set of pages dirty in interval i, and a page's
 * gap at an occurrence i is the number of intervals since its previous one (i - prev - 1;
 * infinite at its first); its forward gap likewise up to its next one (infinite at its last).
 *
 * 1. Mean. A page dirtied at all misses a window of k intervals exactly when the window lies
 *    in one of its gaps, the leading (before its first occurrence) and trailing ones included.
 *    A gap of g intervals holds max(0, g - k + 1) windows of k, so the histogram G of all
 *    gaps gives every k at once:
 *        sum over s of N_k(s) = distinct * (n - k + 1) - sum over g of G[g] * max(0, g - k + 1)
 * 2. Max. Sliding the window [s, s + k) by one interval, a page enters when it is dirty at
 *    s + k with a gap of k or more, and leaves when it is dirty at s with a forward gap of k
 *    or more:   N_k(s + 1) = N_k(s) + #{D_{s+k}: gap >= k} - #{D_s: forward gap >= k}.
 *    For k = 2^j, "gap >= k" is "floor(log2 gap) >= j", so per interval it is enough to count
 *    its pages by floor(log2) of their gap (entering) and of their forward gap (leaving): 33
 *    buckets each, a column per bucket, allocated when first used. A forward gap is the gap of
 *    the next occurrence, so both counts come from the same event, seen when a page is dirtied
 *    again. N_k(0) is the pages first dirtied in [0, k); then each N_k(s) follows in O(1).
 *    Exact for every power of two; memory 8 bytes per interval per bucket used (about
 *    log2(n) + 2 buckets), time O(n log n) after the pass. Each k's sum of N_k(s) is checked
 *    against the mean of step 1: two independent computations that must agree.
 * 3. The pass. Per page, 4 bytes for its last interval and 4 for its count (the hot pages
 *    read them). Dirtied pages touch that state all over memory, so intervals are copied into
 *    batches of up to 64, and a batch is applied a block of 16 K pages at a time: the block's
 *    state stays in cache while every interval of the batch walks its bits. A gap below 63 is
 *    only counted in a small per-interval table, folded into the columns and G after the
 *    batch; longer ones and first occurrences go there directly. A worker thread applies a
 *    batch while the caller fills the next one (reading and decoding the trace).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/wss.h"
#include "dpt/bitmap.h"
#include "dpt/log.h"

#define WSS_OFF	      64	 /* last[p] = interval + WSS_OFF; 0 = never dirty */
#define WSS_NEAR      64	 /* distances below this are tallied per interval, then folded */
#define WSS_INF	      32	 /* the bucket of infinite gaps; finite ones are 0 .. 31 */
#define WSS_NB	      (WSS_INF + 1)
#define WSS_BLOCK     16384 	 /* pages per block: 128 KiB of state, kept in cache */
#define WSS_MAX_BATCH 64	 /* intervals per batch */
#define WSS_BATCH_MEM (64 << 20) /* bytes per batch at most (but one interval) */

struct wss_batch {
	uint64_t *bits; /* slots of w->words words each */
	unsigned n;	/* intervals in it */
	uint64_t base;	/* index of its first interval */
};

struct wss {
	uint64_t pages, cap_pages, words; /* largest numbering; capacity; words per slot */
	uint32_t *last, *count;
	unsigned batch_cap;
	struct wss_batch b[2];
	unsigned cur; /* the batch being filled */
	uint64_t n;   /* intervals added */
	/* worker side: counts per interval */
	uint32_t (*near)[4][WSS_NEAR];
	uint32_t *idx; /* the pages of one block's dirty bits */
	uint32_t *col[2][WSS_NB]; /* [0] entering, [1] leaving, per gap bucket; NULL: all 0 */
	uint64_t cap;		  /* intervals the columns and gaps hold */
	uint64_t *gaps;		  /* G[g] */
	int err;
	/* the worker */
	pthread_t thread;
	bool threaded, quit;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct wss_batch *todo; /* handed to the worker; NULL when it is idle */
	/* results */
	bool finished;
	uint64_t distinct, dirty;
	uint64_t *s0, *s1; /* suffix sums of G[g] and g * G[g] */
	struct wss_point *points;
	struct wss_curve curve;
};

static unsigned ilog2(uint64_t v)
{
	return 63 - (unsigned)__builtin_clzll(v);
}

/* ---- the worker's side: applying a batch ---- */

static uint32_t *column(struct wss *w, int side, unsigned b)
{
	if (!w->col[side][b] && !(w->col[side][b] = calloc(w->cap, sizeof(uint32_t))))
		w->err = -ENOMEM;
	return w->col[side][b];
}

/* Room in the columns and G for intervals [0, upto). */
static int reserve_intervals(struct wss *w, uint64_t upto)
{
	uint64_t cap = w->cap ? w->cap : 256;

	if (upto <= w->cap)
		return 0;
	while (cap < upto)
		cap *= 2;
	for (int side = 0; side < 2; side++)
		for (unsigned b = 0; b < WSS_NB; b++) {
			uint32_t *c = w->col[side][b];
			if (!c)
				continue;
			if (!(c = realloc(c, cap * sizeof(*c))))
				return -ENOMEM;
			memset(c + w->cap, 0, (cap - w->cap) * sizeof(*c));
			w->col[side][b] = c;
		}
	uint64_t *g = realloc(w->gaps, (cap + 1) * sizeof(*g));
	if (!g)
		return -ENOMEM;
	memset(g + (w->gaps ? w->cap + 1 : 0), 0, (cap - w->cap + (w->gaps ? 0 : 1)) * sizeof(*g));
	w->gaps = g;
	w->cap = cap;
	return 0;
}

/* A first occurrence (prev 0) or a long gap, at interval i. */
static void far_event(struct wss *w, uint64_t i, uint32_t prev)
{
	uint32_t *c;

	if (!prev) {
		if ((c = column(w, 0, WSS_INF)))
			c[i]++;
		if (i)
			w->gaps[i]++; /* the leading gap */
		return;
	}
	uint64_t p = prev - WSS_OFF, g = i - p - 1;
	unsigned b = ilog2(g);
	if ((c = column(w, 0, b)))
		c[i]++;
	if ((c = column(w, 1, b)))
		c[p]++;
	w->gaps[g]++;
}

static inline unsigned popcount64(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555ULL);
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
	return (unsigned)((x * 0x0101010101010101ULL) >> 56);
}

/* The pages of the set bits of words [x0, x1) into idx (room for 8 more than the bits);
 * returns how many. Eight bits of a word are taken without a branch, more in a loop: at the
 * densities that cost, a word rarely holds more, so the CPU rarely mispredicts. */
static size_t extract(const uint64_t *bm, size_t x0, size_t x1, uint32_t *idx)
{
	size_t n = 0;

	for (size_t x = x0; x < x1; x++) {
		uint64_t word = bm[x];
		uint32_t base = (uint32_t)(x * 64), *o = idx + n;

		if (!word)
			continue;
		n += popcount64(word);
		for (int i = 0; i < 8; i++, word &= word - 1)
			o[i] = base + (uint32_t)__builtin_ctzll(word | 1ULL << 63);
		for (o += 8; word; word &= word - 1)
			*o++ = base + (uint32_t)__builtin_ctzll(word);
	}
	return n;
}

/* Interval j of batch b over the words [x0, x1) of the pages: each dirty page's distance to
 * its previous occurrence, tallied in four copies of the table (a run of equal distances
 * would otherwise wait on its own increments). */
static void block_run(struct wss *w, const struct wss_batch *b, unsigned j, size_t x0, size_t x1)
{
	uint32_t now = (uint32_t)(b->base + j + WSS_OFF), (*near)[WSS_NEAR] = w->near[j];
	uint32_t *last = w->last, *count = w->count, *idx = w->idx;
	size_t n = extract(b->bits + (size_t)j * w->words, x0, x1, idx);

	for (size_t e = 0; e < n; e++) {
		uint32_t p = idx[e], prev = last[p], d = now - prev;
		last[p] = now;
		count[p]++;
		if (__builtin_expect(d < WSS_NEAR, 1))
			near[e & 3][d]++;
		else
			far_event(w, b->base + j, prev);
	}
}

/* Fold the per-interval tallies of short distances into the columns and G. */
static void fold(struct wss *w, const struct wss_batch *b)
{
	for (unsigned j = 0; j < b->n; j++) {
		uint64_t i = b->base + j;
		for (unsigned d = 2; d < WSS_NEAR; d++) {
			uint32_t c = w->near[j][0][d] + w->near[j][1][d] + w->near[j][2][d] +
				     w->near[j][3][d], *e, *l;
			if (!c)
				continue;
			unsigned bk = ilog2(d - 1);
			if ((e = column(w, 0, bk)))
				e[i] += c;
			if ((l = column(w, 1, bk)))
				l[i - d] += c;
			w->gaps[d - 1] += c;
		}
		memset(w->near[j], 0, sizeof(w->near[j]));
	}
}

#include <stdio.h>
#include <time.h>
static double busy;
static double tnow(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static void batch_run(struct wss *w, struct wss_batch *b)
{
	size_t step = WSS_BLOCK / 64;
	int err;
	double t0 = tnow();

	if (w->err)
		return;
	if ((err = reserve_intervals(w, b->base + b->n))) {
		w->err = err;
		return;
	}
	for (size_t x0 = 0; x0 < w->words; x0 += step) {
		size_t x1 = x0 + step < w->words ? x0 + step : w->words;
		for (unsigned j = 0; j < b->n; j++)
			block_run(w, b, j, x0, x1);
	}
	fold(w, b);
	busy += tnow() - t0;
}

static void *worker(void *arg)
{
	struct wss *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->todo && !w->quit)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->todo)
			break;
		pthread_mutex_unlock(&w->lock);
		batch_run(w, w->todo);
		pthread_mutex_lock(&w->lock);
		w->todo = NULL;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* ---- the caller's side ---- */

/* Hand the batch being filled to the worker (or apply it here without one). */
static int submit(struct wss *w)
{
	struct wss_batch *b = &w->b[w->cur];

	if (!b->n)
		return w->err;
	if (!w->threaded) {
		batch_run(w, b);
	} else {
		pthread_mutex_lock(&w->lock);
		while (w->todo)
			pthread_cond_wait(&w->cond, &w->lock);
		w->todo = b;
		pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->lock);
		w->cur ^= 1;
	}
	w->b[w->cur].n = 0;
	w->b[w->cur].base = w->n;
	return w->err;
}

/* Wait until the worker is idle. */
static int drain(struct wss *w)
{
	if (w->threaded) {
		pthread_mutex_lock(&w->lock);
		while (w->todo)
			pthread_cond_wait(&w->cond, &w->lock);
		pthread_mutex_unlock(&w->lock);
	}
	return w->err;
}

/* Make room for a numbering of pages: both batches idle, state and slots reallocated. */
static int grow(struct wss *w, uint64_t pages)
{
	uint64_t cap = w->cap_pages + w->cap_pages / 4, words;
	int err;

	if (pages > UINT32_MAX)
		return dpt_fail(-EFBIG, "working set: %llu pages (at most 2^32 - 1)",
				(unsigned long long)pages);
	if ((err = submit(w)) || (err = drain(w)))
		return err;
	cap = cap > pages ? cap : pages;
	cap = cap < UINT32_MAX ? cap : UINT32_MAX;
	words = bitmap_words(cap);
	uint32_t *last = realloc(w->last, cap * sizeof(*last) + 1);
	if (last)
		w->last = last;
	uint32_t *count = realloc(w->count, cap * sizeof(*count) + 1);
	if (count)
		w->count = count;
	if (!last || !count)
		return -ENOMEM;
	memset(w->last + w->cap_pages, 0, (cap - w->cap_pages) * sizeof(*last));
	memset(w->count + w->cap_pages, 0, (cap - w->cap_pages) * sizeof(*count));
	size_t slot = words * sizeof(uint64_t);
	unsigned bc = slot ? (unsigned)(WSS_BATCH_MEM / slot) : WSS_MAX_BATCH;
	bc = bc < 1 ? 1 : bc > WSS_MAX_BATCH ? WSS_MAX_BATCH : bc;
	for (int i = 0; i < 2; i++) {
		free(w->b[i].bits);
		if (!(w->b[i].bits = malloc(bc * slot + 1)))
			return -ENOMEM;
	}
	w->cap_pages = cap;
	w->words = words;
	w->batch_cap = bc;
	return 0;
}

int wss_init(struct wss **wp)
{
	struct wss *w = calloc(1, sizeof(*w));

	*wp = NULL;
	if (!w || !(w->near = calloc(WSS_MAX_BATCH, sizeof(*w->near))) ||
	    !(w->idx = malloc((WSS_BLOCK + 8) * sizeof(*w->idx)))) {
		if (w)
			free(w->near);
		free(w);
		return -ENOMEM;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->threaded = !pthread_create(&w->thread, NULL, worker, w);
	*wp = w;
	return grow(w, 0);
}

int wss_add(struct wss *w, const uint64_t *bitmap, uint64_t pages)
{
	int err;

	if (w->finished)
		return dpt_fail(-EINVAL, "working set: interval added after the end");
	if (w->n >= (1ULL << 31))
		return dpt_fail(-EFBIG, "working set: more than 2^31 intervals");
	if (pages > w->cap_pages && (err = grow(w, pages)))
		return err;
	if (pages > w->pages)
		w->pages = pages;
	struct wss_batch *b = &w->b[w->cur];
	uint64_t *slot = b->bits + (size_t)b->n * w->words;
	size_t used = bitmap ? bitmap_words(pages) : 0;
	if (used)
		memcpy(slot, bitmap, used * sizeof(uint64_t));
	memset(slot + used, 0, (w->words - used) * sizeof(uint64_t));
	b->n++;
	w->n++;
	if (b->n == w->batch_cap)
		return submit(w);
	return w->err;
}

/* The trailing gaps and last occurrences (forward gap infinite), the distinct pages, and the
 * suffix sums of G for the means. */
static int tails(struct wss *w)
{
	uint64_t n = w->n;
	uint32_t *leave = column(w, 1, WSS_INF);

	if (!leave)
		return -ENOMEM;
	for (uint64_t p = 0; p < w->pages; p++) {
		if (!w->last[p])
			continue;
		uint64_t i = w->last[p] - WSS_OFF;
		if (n - 1 - i)
			w->gaps[n - 1 - i]++;
		leave[i]++;
		w->distinct++;
		w->dirty += w->count[p];
	}
	if (!(w->s0 = calloc(n + 2, sizeof(uint64_t))) || !(w->s1 = calloc(n + 2, sizeof(uint64_t))))
		return -ENOMEM;
	for (uint64_t g = n; g >= 1; g--) {
		uint64_t c = g < n ? w->gaps[g] : 0;
		w->s0[g] = w->s0[g + 1] + c;
		w->s1[g] = w->s1[g + 1] + g * c;
	}
	return 0;
}

/* Sum over windows of N_k from the gap histogram. */
static uint64_t window_sum(const struct wss *w, uint64_t k)
{
	uint64_t misses = w->s1[k] - (k - 1) * w->s0[k];

	return w->distinct * (w->n - k + 1) - misses;
}

/* Slide windows of k intervals, given enter[i] and leave[i] for that k. */
static int slide(struct wss *w, uint64_t k, const uint64_t *enter, const uint64_t *leave,
		 struct wss_point *pt)
{
	const uint32_t *first = w->col[0][WSS_INF];
	uint64_t nk = 0, sum;

	for (uint64_t i = 0; i < k; i++)
		nk += first ? first[i] : 0;
	*pt = (struct wss_point){.k = k, .windows = w->n - k + 1, .max = nk};
	sum = nk;
	for (uint64_t s = 0; s + k < w->n; s++) {
		nk = nk + enter[s + k] - leave[s];
		sum += nk;
		if (nk > pt->max) {
			pt->max = nk;
			pt->max_start = s + 1;
		}
	}
	if (sum != window_sum(w, k))
		return dpt_fail(-EPROTO, "working set: the two computations of N(%llu) differ "
					 "(%llu, %llu): a bug",
				(unsigned long long)k, (unsigned long long)sum,
				(unsigned long long)window_sum(w, k));
	pt->mean = (double)sum / (double)pt->windows;
	return 0;
}

/* The points: for j = 31 .. 0, add bucket j to the running counts of buckets >= j, and slide
 * k = 2^j when it fits; then k = n. */
static int points(struct wss *w)
{
	uint64_t n = w->n, *enter = calloc(n, 8), *leave = calloc(n, 8);
	unsigned m = ilog2(n), np = m + 1 + ((n & (n - 1)) != 0);
	int err = -ENOMEM;

	if (!enter || !leave || !(w->points = calloc(np, sizeof(*w->points))))
		goto out;
	for (int b = WSS_INF; b >= 0; b--) {
		const uint32_t *e = w->col[0][b], *l = w->col[1][b];
		for (uint64_t i = 0; i < n; i++) {
			enter[i] += e ? e[i] : 0;
			leave[i] += l ? l[i] : 0;
		}
		if (b < WSS_INF && (unsigned)b <= m &&
		    (err = slide(w, 1ULL << b, enter, leave, &w->points[b])))
			goto out;
	}
	if (np > m + 1)
		w->points[m + 1] = (struct wss_point){.k = n, .windows = 1, .mean = (double)w->distinct,
						      .max = w->distinct};
	w->curve.nr_points = np;
	err = 0;
out:
	free(enter);
	free(leave);
	return err;
}

int wss_finish(struct wss *w, const struct wss_curve **curve)
{
	int err;

	if (w->finished)
		return dpt_fail(-EINVAL, "working set: finished twice");
	w->finished = true;
	if ((err = submit(w)) || (err = drain(w)))
		return err;
	if (w->threaded) {
		pthread_mutex_lock(&w->lock);
		w->quit = true;
		pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
		w->threaded = false;
	}
	if (getenv("WSS_DEBUG")) fprintf(stderr, "worker busy %.2f s\n", busy);
	if ((err = reserve_intervals(w, w->n + 1)) || (err = tails(w)))
		return err;
	if (w->n && (err = points(w)))
		return err;
	w->curve.intervals = w->n;
	w->curve.pages = w->pages;
	w->curve.distinct = w->distinct;
	w->curve.dirty = w->dirty;
	w->curve.points = w->points;
	*curve = &w->curve;
	return 0;
}

double wss_mean(const struct wss *w, uint64_t k)
{
	if (!w->s0 || k < 1 || k > w->n)
		return 0;
	return (double)window_sum(w, k) / (double)(w->n - k + 1);
}

const uint32_t *wss_page_counts(const struct wss *w)
{
	return w->count;
}

void wss_free(struct wss *w)
{
	if (!w)
		return;
	if (w->threaded) {
		pthread_mutex_lock(&w->lock);
		while (w->todo)
			pthread_cond_wait(&w->cond, &w->lock);
		w->quit = true;
		pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
	}
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	for (int side = 0; side < 2; side++)
		for (unsigned b = 0; b < WSS_NB; b++)
			free(w->col[side][b]);
	free(w->b[0].bits);
	free(w->b[1].bits);
	free(w->last);
	free(w->count);
	free(w->near);
	free(w->idx);
	free(w->gaps);
	free(w->s0);
	free(w->s1);
	free(w->points);
	free(w);
}
