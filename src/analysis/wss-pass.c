/* wss-pass.c - the working-set pass: applying a batch of intervals to the per-page state.
 *
 * 1. Per page one word: its last interval (low 4 bytes, + WSS_OFF, 0 = never dirty) and the
 *    number of intervals it was dirty in (high 4 bytes), read and written once per event.
 *    Dirtied pages touch that state all over memory, so the caller gathers up to 64
 *    intervals in a batch, and a batch is applied a block of 4 K pages at a time: the
 *    block's 32 KiB of state stays in cache while each interval of the batch walks its pages
 *    in the block. Bitmap slots are an odd number of cache lines long, so the intervals'
 *    words for one block do not fight for the same cache sets.
 * 2. An interval is a bitmap or a sorted list of its pages. A bitmap's dirty pages in a block
 *    are listed first (extract: four bits of a word without a branch on how many it has); a
 *    list is followed from where the previous block ended (per worker and interval, cur[j];
 *    sought by doubling then halving steps at the start of each stretch of 64 blocks a
 *    worker takes), so a sparse set is read once, 4 bytes a page, and never turned into bits
 *    and back. Then each page's distance d to its previous occurrence is taken in a loop
 *    without branches but its end: below WSS_NEAR it only counts in the interval's small
 *    table (four copies, by page, so that a run of equal distances does not wait on its own
 *    increments), folded after the batch into the entering and leaving columns and the gap
 *    histogram; longer ones and first occurrences are listed and go there after the block
 *    (far_event). Gaps of 0 (dirty in consecutive intervals) count nowhere: such a page
 *    neither enters nor leaves any window.
 * 3. Whoever is free takes the next stretch of a batch (an atomic counter): the two worker
 *    threads, and the caller too once it has filled the next batch and would otherwise wait
 *    (it shares the two cores with them: a fixed half each left one worker waiting for the
 *    other). Each counts into its own columns and histogram, added up at the end: they share
 *    nothing they write; the blocks of one batch are disjoint pages.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/wss-int.h"

static unsigned ilog2(uint64_t v)
{
	return 63 - (unsigned)__builtin_clzll(v);
}

uint32_t *wss_column(struct wss_counts *c, int side, unsigned b)
{
	if (!c->col[side][b])
		c->col[side][b] = calloc(c->cap ? c->cap : 1, sizeof(uint32_t));
	return c->col[side][b];
}

int wss_counts_reserve(struct wss_counts *c, uint64_t upto)
{
	uint64_t cap = c->cap ? c->cap : 256;

	if (upto <= c->cap && c->gaps)
		return 0;
	while (cap < upto)
		cap *= 2;
	for (int side = 0; side < 2; side++)
		for (unsigned b = 0; b < WSS_NB; b++) {
			uint32_t *p = c->col[side][b];
			if (!p)
				continue;
			if (!(p = realloc(p, cap * sizeof(*p))))
				return -ENOMEM;
			memset(p + c->cap, 0, (cap - c->cap) * sizeof(*p));
			c->col[side][b] = p;
		}
	uint64_t *g = realloc(c->gaps, (cap + 1) * sizeof(*g)), from = c->gaps ? c->cap + 1 : 0;
	if (!g)
		return -ENOMEM;
	memset(g + from, 0, (cap + 1 - from) * sizeof(*g));
	c->gaps = g;
	c->cap = cap;
	return 0;
}

int wss_counts_add(struct wss_counts *dst, const struct wss_counts *src)
{
	int err;

	if ((err = wss_counts_reserve(dst, src->cap)))
		return err;
	for (int side = 0; side < 2; side++)
		for (unsigned b = 0; b < WSS_NB; b++) {
			const uint32_t *s = src->col[side][b];
			uint32_t *d = s ? wss_column(dst, side, b) : NULL;
			if (s && !d)
				return -ENOMEM;
			for (uint64_t i = 0; s && i < src->cap; i++)
				d[i] += s[i];
		}
	for (uint64_t g = 0; src->gaps && g <= src->cap; g++)
		dst->gaps[g] += src->gaps[g];
	return 0;
}

void wss_counts_free(struct wss_counts *c)
{
	for (int side = 0; side < 2; side++)
		for (unsigned b = 0; b < WSS_NB; b++)
			free(c->col[side][b]);
	free(c->gaps);
	memset(c, 0, sizeof(*c));
}

/* A first occurrence (prev 0) or a long gap, at interval i. */
static void far_event(struct wss_worker *k, uint64_t i, uint32_t prev)
{
	struct wss_counts *c = &k->c;
	uint32_t *e, *l;

	if (!prev) {
		if (!(e = wss_column(c, 0, WSS_INF)))
			k->err = -ENOMEM;
		else
			e[i]++;
		if (i)
			c->gaps[i]++; /* the leading gap */
		return;
	}
	uint64_t p = prev - WSS_OFF, g = i - p - 1;
	unsigned b = ilog2(g);
	if (!(e = wss_column(c, 0, b)) || !(l = wss_column(c, 1, b))) {
		k->err = -ENOMEM;
		return;
	}
	e[i]++;
	l[p]++;
	c->gaps[g]++;
}

/* The pages of the set bits of words [x0, x1) into idx (room for 4 more than the bits, which
 * it may scribble on); how many. Four bits of a word are taken without a branch on their
 * number (one past the last gives an index in the word, written and not counted): a word of
 * a few dirty pages costs no mispredicted exit of a loop. */
static size_t extract(const uint64_t *bm, size_t x0, size_t x1, uint32_t *idx)
{
	size_t n = 0;

	for (size_t x = x0; x < x1; x++) {
		uint32_t base = (uint32_t)(x * 64), *o = idx + n;
		uint64_t w0 = bm[x], w1 = w0 & (w0 - 1), w2 = w1 & (w1 - 1), w3 = w2 & (w2 - 1);
		uint64_t rest = w3 & (w3 - 1);
		/* | the top bit: the lowest bit of a non-zero word, 63 for a spent one */
		o[0] = base + (uint32_t)__builtin_ctzll(w0 | (1ULL << 63));
		o[1] = base + (uint32_t)__builtin_ctzll(w1 | (1ULL << 63));
		o[2] = base + (uint32_t)__builtin_ctzll(w2 | (1ULL << 63));
		o[3] = base + (uint32_t)__builtin_ctzll(w3 | (1ULL << 63));
		n += (size_t)(w0 != 0) + (w1 != 0) + (w2 != 0) + (w3 != 0);
		for (; rest; rest &= rest - 1)
			idx[n++] = base + (uint32_t)__builtin_ctzll(rest);
	}
	return n;
}

/* The events of interval i (now = i + WSS_OFF) at the pages idx[0 .. n), of one block (at
 * most WSS_BLOCK), stopping at the first page lim or more (bounded: a list running on past
 * the block): in a loop without branches but that end (the loads of many pages overlap);
 * the rare long distances are listed on the way and handled after. How many were taken. */
static inline __attribute__((always_inline)) size_t
events(struct wss_worker *k, uint64_t i, uint32_t (*near)[WSS_NEAR], const uint32_t *idx,
       size_t n, uint64_t lim, const bool bounded)
{
	uint32_t now = (uint32_t)(i + WSS_OFF), *far = k->far;
	uint64_t *state = k->w->state;
	size_t nf = 0, e;

	for (e = 0; e < n && (!bounded || idx[e] < lim); e++) {
		uint32_t p = idx[e];
		uint64_t st = state[p];
		uint32_t prev = (uint32_t)st, d = now - prev;
		state[p] = (st | UINT32_MAX) + 1 + now; /* count + 1, last = now */
		near[p & 3][d < WSS_NEAR ? d : 0]++;
		far[nf] = prev;
		nf += d >= WSS_NEAR;
	}
	for (size_t f = 0; f < nf; f++)
		far_event(k, i, far[f]);
	return e;
}

/* The first of the n entries of l from c on that is v or more (n if none), the ones before c
 * below v: doubling steps from c, then halving. */
static size_t seek(const uint32_t *l, size_t c, size_t n, uint64_t v)
{
	size_t hi = c, step = 1;

	while (hi < n && l[hi] < v) {
		c = hi + 1;
		hi += step;
		step *= 2;
	}
	hi = hi < n ? hi : n;
	while (c < hi) {
		size_t m = c + (hi - c) / 2;
		if (l[m] < v)
			c = m + 1;
		else
			hi = m;
	}
	return c;
}

/* Interval j of batch b over the words [x0, x1) of the pages: a bitmap's pages extracted
 * first; a list's taken from where the previous block of the stretch ended (k->cur[j]) up to
 * the first page past the block. */
static void block_run(struct wss_worker *k, const struct wss_batch *b, unsigned j, size_t x0,
		      size_t x1)
{
	const struct wss_slot *sl = &b->s[j];
	const uint64_t *mem = b->mem + sl->off;
	uint64_t i = b->base + j;

	if (!sl->list) {
		events(k, i, k->near[j], k->idx, extract(mem, x0, x1, k->idx), 0, false);
		return;
	}
	const uint32_t *l = (const uint32_t *)(const void *)mem;
	size_t c = k->cur[j], got;
	do { /* once but for a list with repeats (not sorted): at most WSS_BLOCK at a time */
		size_t n = sl->n - c < WSS_BLOCK ? sl->n - c : WSS_BLOCK;
		got = events(k, i, k->near[j], l + c, n, (uint64_t)x1 * 64, true);
		c += got;
	} while (got == WSS_BLOCK);
	k->cur[j] = c;
}

/* Fold the tallies of short distances into the columns and G. */
static int fold(struct wss_worker *k, const struct wss_batch *b)
{
	struct wss_counts *c = &k->c;

	for (unsigned j = 0; j < b->n; j++) {
		uint64_t i = b->base + j;
		for (unsigned d = 2; d < WSS_NEAR; d++) {
			uint32_t (*t)[WSS_NEAR] = k->near[j], *e, *l;
			uint32_t n = t[0][d] + t[1][d] + t[2][d] + t[3][d];
			if (!n)
				continue;
			unsigned bk = ilog2(d - 1);
			if (!(e = wss_column(c, 0, bk)) || !(l = wss_column(c, 1, bk)))
				return -ENOMEM;
			e[i] += n;
			l[i - d] += n;
			c->gaps[d - 1] += n;
		}
		memset(k->near[j], 0, sizeof(k->near[j])); /* [.][0]: the long ones, counted apart */
	}
	return 0;
}

int wss_pass_batch(struct wss_worker *k, const struct wss_batch *b)
{
	struct wss *w = k->w;
	size_t step = WSS_BLOCK / 64, blocks = (w->words + step - 1) / step, sb;
	size_t stretches = (blocks + WSS_STRETCH - 1) / WSS_STRETCH;

	if (k->err || (k->err = wss_counts_reserve(&k->c, b->base + b->n)))
		return k->err;
	while ((sb = __atomic_fetch_add(&w->next_block, 1, __ATOMIC_RELAXED)) < stretches) {
		size_t blk = sb * WSS_STRETCH, end = blk + WSS_STRETCH < blocks ? blk + WSS_STRETCH
										 : blocks;
		for (unsigned j = 0; j < b->n; j++) /* each list's first page in the stretch */
			if (b->s[j].list)
				k->cur[j] = seek((const uint32_t *)(const void *)(b->mem + b->s[j].off),
						 k->cur[j], b->s[j].n, (uint64_t)blk * WSS_BLOCK);
		for (; blk < end; blk++) {
			size_t x0 = blk * step, x1 = x0 + step < w->words ? x0 + step : w->words;
			for (unsigned j = 0; j < b->n; j++)
				block_run(k, b, j, x0, x1);
		}
	}
	if (!k->err)
		k->err = fold(k, b);
	return k->err;
}

void *wss_pass_worker(void *arg)
{
	struct wss_worker *k = arg;
	struct wss *w = k->w;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (k->seen == w->gen && !w->quit)
			pthread_cond_wait(&w->cond, &w->lock);
		if (k->seen == w->gen)
			break;
		k->seen = w->gen;
		const struct wss_batch *b = w->todo;
		pthread_mutex_unlock(&w->lock);
		wss_pass_batch(k, b);
		pthread_mutex_lock(&w->lock);
		if (!--w->busy)
			pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}
