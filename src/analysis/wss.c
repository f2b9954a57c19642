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
 * 3. The pass (wss-pass.c): per page its last interval and its count (8 bytes), one event
 *    per dirty page of each interval, batches of up to 64 intervals applied a block of pages
 *    at a time. An interval is a bitmap (wss_add(), copied) or a sorted list of its pages,
 *    written by the caller into room made in the batch (wss_list_room(), wss_add_list()):
 *    4 bytes a dirty page, smaller and cheaper than a bitmap for a set of a few percent. Two
 *    worker threads apply a batch, taking stretches of blocks as they go, while the caller
 *    fills the next one (reading and decoding the trace), then takes stretches too.
 * Bounds: memory 8 bytes per page, two batches of at most 128 MiB (or one interval's set),
 * and per interval 8 bytes
 * per gap bucket in use (at most 33) and 8 of gap histogram, for each of the three that count
 * (two workers, the caller) and for their sum; time one event per dirty page-interval, plus
 * O(n log n).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/wss-int.h"
#include "dpt/bitmap.h"
#include "dpt/log.h"

static unsigned ilog2(uint64_t v)
{
	return 63 - (unsigned)__builtin_clzll(v);
}

/* ---- handing batches to the workers ---- */

/* Wait until no worker is applying a batch, taking blocks of it meanwhile; the first error
 * of any. */
static int drain(struct wss *w)
{
	int err = 0;

	if (w->nr_workers) {
		pthread_mutex_lock(&w->lock);
		struct wss_batch *b = w->busy ? w->todo : NULL;
		pthread_mutex_unlock(&w->lock);
		if (b) /* the caller is one more worker, rather than idle */
			wss_pass_batch(&w->wk[WSS_CALLER], b);
		pthread_mutex_lock(&w->lock);
		while (w->busy)
			pthread_cond_wait(&w->cond, &w->lock);
		pthread_mutex_unlock(&w->lock);
	}
	for (unsigned i = 0; i <= WSS_MAX_WORKERS && !err; i++)
		err = w->wk[i].err;
	return err;
}

/* Hand the batch being filled to the workers (or apply it here without them), and start
 * filling the other one. */
static int submit(struct wss *w)
{
	struct wss_batch *b = &w->b[w->cur];
	int err;

	if (!b->n)
		return drain(w);
	if ((err = drain(w)))
		return err;
	w->next_block = 0;
	for (unsigned i = 0; i <= WSS_MAX_WORKERS; i++)
		memset(w->wk[i].cur, 0, sizeof(w->wk[i].cur));
	if (!w->nr_workers) {
		err = wss_pass_batch(&w->wk[WSS_CALLER], b);
	} else {
		pthread_mutex_lock(&w->lock);
		w->todo = b;
		w->busy = w->nr_workers;
		w->gen++;
		pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->lock);
		w->cur ^= 1;
	}
	w->b[w->cur].n = 0;
	w->b[w->cur].used = 0;
	w->b[w->cur].base = w->n;
	return err;
}

static void stop_workers(struct wss *w)
{
	drain(w);
	pthread_mutex_lock(&w->lock);
	w->quit = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (unsigned i = 0; i < WSS_MAX_WORKERS; i++)
		if (w->wk[i].started) {
			pthread_join(w->wk[i].thread, NULL);
			w->wk[i].started = false;
		}
	w->nr_workers = 0;
}

/* Room for a numbering of pages: the workers idle, state reallocated. Bitmap slots are an odd
 * number of cache lines long (see wss-pass.c). */
static int grow(struct wss *w, uint64_t pages)
{
	uint64_t cap = w->cap_pages + w->cap_pages / 4, words, lines;
	int err;

	if (pages > UINT32_MAX)
		return dpt_fail(-EFBIG, "working set: %llu pages (at most 2^32 - 1)",
				(unsigned long long)pages);
	if ((err = submit(w)) || (err = drain(w)))
		return err;
	cap = cap > pages ? cap : pages;
	cap = cap < UINT32_MAX ? cap : UINT32_MAX;
	words = bitmap_words(cap);
	lines = (words + 7) / 8;
	lines += !(lines & 1);
	uint64_t *state = realloc(w->state, cap * sizeof(*state) + 1);
	if (!state)
		return -ENOMEM;
	w->state = state;
	memset(w->state + w->cap_pages, 0, (cap - w->cap_pages) * sizeof(*state));
	w->cap_pages = cap;
	w->words = words;
	w->stride = lines * 8;
	return 0;
}

/* Room for a slot of words (a multiple of 8) in the batch being filled: the batch handed on
 * first when it is full, its memory (WSS_BATCH_MEM bytes, or one slot when that is more)
 * made when it has none or too little for one slot. */
static int room(struct wss *w, uint64_t words, uint64_t **slot)
{
	struct wss_batch *b = &w->b[w->cur];
	int err;

	if (b->n && (b->n == WSS_MAX_BATCH || b->used + words > b->cap)) {
		if ((err = submit(w)))
			return err;
		b = &w->b[w->cur];
	}
	if (!b->mem || words > b->cap) { /* b->n is 0 */
		uint64_t cap = words > WSS_BATCH_MEM / 8 ? words : WSS_BATCH_MEM / 8;
		free(b->mem);
		b->cap = 0;
		if (!(b->mem = aligned_alloc(64, cap * 8)))
			return -ENOMEM;
		b->cap = cap;
	}
	*slot = b->mem + b->used;
	return 0;
}

/* The slot of words made by room() holds the next interval: hand the batch on when another
 * as large would not fit. */
static int commit(struct wss *w, uint64_t words, bool list, size_t n)
{
	struct wss_batch *b = &w->b[w->cur];

	b->s[b->n++] = (struct wss_slot){.off = b->used, .n = (uint32_t)n, .list = list};
	b->used += words;
	w->n++;
	if (b->n == WSS_MAX_BATCH || b->used + words > b->cap)
		return submit(w);
	return 0;
}

int wss_init(struct wss **wp)
{
	struct wss *w = calloc(1, sizeof(*w));

	*wp = NULL;
	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	*wp = w;
	for (unsigned i = 0; i <= WSS_MAX_WORKERS; i++) {
		w->wk[i].w = w;
		if (!(w->wk[i].near = calloc(WSS_MAX_BATCH, sizeof(*w->wk[i].near))) ||
		    !(w->wk[i].idx = malloc((WSS_BLOCK + 4) * sizeof(uint32_t))) ||
		    !(w->wk[i].far = malloc(WSS_BLOCK * sizeof(uint32_t))))
			return -ENOMEM;
	}
	for (unsigned i = 0; i < WSS_MAX_WORKERS; i++) {
		if (pthread_create(&w->wk[i].thread, NULL, wss_pass_worker, &w->wk[i]))
			break;
		w->wk[i].started = true;
		w->nr_workers++;
	}
	return grow(w, 0);
}

/* The checks and the numbering's growth before an interval is added. */
static int begin(struct wss *w, uint64_t pages)
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
	w->room = false;
	return 0;
}

int wss_add(struct wss *w, const uint64_t *bitmap, uint64_t pages)
{
	uint64_t *slot;
	int err;

	if ((err = begin(w, pages)) || (err = room(w, w->stride, &slot)))
		return err;
	size_t used = bitmap ? bitmap_words(pages) : 0;
	if (used)
		memcpy(slot, bitmap, used * sizeof(uint64_t));
	memset(slot + used, 0, (w->stride - used) * sizeof(uint64_t));
	return commit(w, w->stride, false, 0);
}

/* Words a list of n pages takes in a batch: whole cache lines. */
static uint64_t list_words(size_t n)
{
	return ((n + 1) / 2 + 7) & ~(uint64_t)7;
}

int wss_list_room(struct wss *w, uint64_t pages, size_t n, uint32_t **list)
{
	uint64_t *slot;
	int err;

	*list = NULL;
	if (n > pages)
		return dpt_fail(-EINVAL, "working set: %zu pages listed of %llu", n,
				(unsigned long long)pages);
	if ((err = begin(w, pages)) || (err = room(w, list_words(n), &slot)))
		return err;
	*list = (uint32_t *)(void *)slot;
	w->room_n = n;
	w->room = true;
	return 0;
}

int wss_add_list(struct wss *w, uint64_t pages, size_t n)
{
	const uint32_t *list = (const uint32_t *)(const void *)(w->b[w->cur].mem + w->b[w->cur].used);

	if (!w->room || n > w->room_n || pages > w->pages)
		return dpt_fail(-EINVAL, "working set: a list added without room made for it");
	if (n && list[n - 1] >= pages)
		return dpt_fail(-EINVAL, "working set: a listed page past the numbering");
	w->room = false;
	return commit(w, list_words(w->room_n), true, n);
}

/* The trailing gaps and last occurrences (forward gap infinite), the distinct pages, and the
 * suffix sums of G for the means. */
static int tails(struct wss *w)
{
	uint64_t n = w->n;
	uint32_t *leave = wss_column(&w->c, 1, WSS_INF);

	if (!leave)
		return -ENOMEM;
	for (uint64_t p = 0; p < w->pages; p++) {
		uint64_t st = w->state[p];
		if (!st)
			continue;
		uint64_t i = (uint32_t)st - WSS_OFF;
		if (n - 1 - i)
			w->c.gaps[n - 1 - i]++;
		leave[i]++;
		w->distinct++;
		w->dirty += st >> 32;
	}
	/* the counts, in place: page p's 4 bytes at 4 p, read from 8 p already */
	for (uint64_t p = 0; p < w->pages; p++) {
		uint32_t c = (uint32_t)(w->state[p] >> 32);
		memcpy((char *)w->state + 4 * p, &c, sizeof(c));
	}
	w->count = (const uint32_t *)(const void *)w->state;
	if (!(w->s0 = calloc(n + 2, sizeof(uint64_t))) || !(w->s1 = calloc(n + 2, sizeof(uint64_t))))
		return -ENOMEM;
	for (uint64_t g = n; g >= 1; g--) {
		uint64_t c = g < n ? w->c.gaps[g] : 0;
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
	const uint32_t *first = w->c.col[0][WSS_INF];
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
		const uint32_t *e = w->c.col[0][b], *l = w->c.col[1][b];
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
	err = submit(w);
	stop_workers(w);
	if (err || (err = drain(w)))
		return err;
	for (unsigned i = 0; i <= WSS_MAX_WORKERS; i++)
		if ((err = wss_counts_add(&w->c, &w->wk[i].c)))
			return err;
	if ((err = wss_counts_reserve(&w->c, w->n + 1)) || (err = tails(w)))
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
	stop_workers(w);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	for (unsigned i = 0; i <= WSS_MAX_WORKERS; i++) {
		wss_counts_free(&w->wk[i].c);
		free(w->wk[i].near);
		free(w->wk[i].idx);
		free(w->wk[i].far);
	}
	wss_counts_free(&w->c);
	free(w->b[0].mem);
	free(w->b[1].mem);
	free(w->state);
	free(w->s0);
	free(w->s1);
	free(w->points);
	free(w);
}
