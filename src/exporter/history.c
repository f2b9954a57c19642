/* history.c - a target's last intervals: their dirty sets (for the forecast) and the exact
 * working set over the last short_k and long_k intervals (10 s and 60 s), kept incrementally.
 *
 * 1. Each interval's set is stored as sorted page indices or as a bitmap, whichever is smaller,
 *    in a ring of the last cap intervals.
 * 2. last[p] holds the interval number (mod EXP_NEVER) that last dirtied page p, while that is
 *    within the long window, else EXP_NEVER. When an interval leaves a window, the pages of its
 *    set whose last[] is still that interval leave the window's count (and last[] is cleared
 *    when it leaves the long one); then the new interval's pages enter what they were not in.
 * So a page costs two bytes, and an interval costs a walk over three sets, never over memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "exporter/exporter.h"

#define EXP_NEVER 0xffffu

int exp_hist_init(struct exp_hist *h, unsigned short_k, unsigned long_k, unsigned cap)
{
	memset(h, 0, sizeof(*h));
	h->short_k = short_k ? short_k : 1;
	h->long_k = long_k > h->short_k ? long_k : h->short_k;
	h->cap = cap > h->long_k ? cap : h->long_k;
	if (h->long_k >= EXP_NEVER / 2)
		return dpt_fail(-EINVAL, "working-set window of %u intervals: too many", long_k);
	h->ring = calloc(h->cap, sizeof(*h->ring));
	return h->ring ? 0 : dpt_fail(-ENOMEM, "out of memory");
}

static void set_free(struct exp_set *s)
{
	free(s->idx);
	free(s->bitmap);
	memset(s, 0, sizeof(*s));
}

void exp_hist_reset(struct exp_hist *h)
{
	for (unsigned i = 0; h->ring && i < h->cap; i++)
		set_free(&h->ring[i]);
	free(h->last);
	free(h->regions);
	h->last = NULL;
	h->regions = NULL;
	h->nr_regions = 0;
	h->total = 0;
	h->n = 0;
	h->distinct_short = h->distinct_long = 0;
}

void exp_hist_fini(struct exp_hist *h)
{
	exp_hist_reset(h);
	free(h->ring);
	h->ring = NULL;
}

const struct exp_set *exp_hist_get(const struct exp_hist *h, unsigned i)
{
	return &h->ring[(h->n - 1 - i) % h->cap];
}

void exp_set_foreach(const struct exp_set *s, uint64_t total, void (*fn)(void *arg, uint64_t page),
		     void *arg)
{
	if (s->idx) {
		for (uint64_t i = 0; i < s->count; i++)
			fn(arg, s->idx[i]);
		return;
	}
	for (uint64_t p = s->bitmap ? bitmap_next_set(s->bitmap, total, 0) : total; p < total;
	     p = bitmap_next_set(s->bitmap, total, p + 1))
		fn(arg, p);
}

/* A copy of the sample's set in the smaller form. */
static int set_store(struct exp_set *d, const struct dpt_sample *s)
{
	uint64_t count = s->bitmap ? bitmap_weight(s->bitmap, s->total) : 0;

	d->count = count;
	d->mono_start = s->mono_start;
	d->mono_end = s->mono_end;
	d->wall_start = s->wall_start;
	d->wall_end = s->wall_end;
	if (!count)
		return 0;
	if (count * sizeof(uint32_t) < bitmap_bytes(s->total) && s->total <= UINT32_MAX) {
		uint64_t k = 0;
		if (!(d->idx = malloc(count * sizeof(uint32_t))))
			return -ENOMEM;
		for (uint64_t p = bitmap_next_set(s->bitmap, s->total, 0); p < s->total;
		     p = bitmap_next_set(s->bitmap, s->total, p + 1))
			d->idx[k++] = (uint32_t)p;
		return 0;
	}
	if (!(d->bitmap = malloc(bitmap_bytes(s->total))))
		return -ENOMEM;
	memcpy(d->bitmap, s->bitmap, bitmap_bytes(s->total));
	return 0;
}

struct walk {
	struct exp_hist *h;
	uint16_t seq; /* the interval being added or leaving */
	int leave;    /* 0: entering; 1: leaving the short window; 2: leaving the long one */
};

static void page_leave(void *arg, uint64_t p)
{
	struct walk *w = arg;

	if (w->h->last[p] != w->seq)
		return; /* dirtied again since: still in */
	if (w->leave == 1) {
		w->h->distinct_short--;
	} else {
		w->h->distinct_long--;
		w->h->last[p] = EXP_NEVER;
	}
}

static void page_enter(void *arg, uint64_t p)
{
	struct walk *w = arg;
	struct exp_hist *h = w->h;
	uint16_t l = h->last[p];

	if (l == EXP_NEVER) {
		h->distinct_long++;
		h->distinct_short++;
	} else if ((uint16_t)((w->seq + EXP_NEVER - l) % EXP_NEVER) >= h->short_k) {
		h->distinct_short++;
	}
	h->last[p] = w->seq;
}

static uint16_t seq_of(uint64_t n)
{
	return (uint16_t)(n % EXP_NEVER);
}

static bool same_layout(const struct exp_hist *h, const struct dpt_sample *s)
{
	if (h->total != s->total || s->regions_changed || h->nr_regions != s->nr_regions)
		return false;
	return !memcmp(h->regions, s->regions, s->nr_regions * sizeof(*s->regions));
}

static int new_layout(struct exp_hist *h, const struct dpt_sample *s)
{
	exp_hist_reset(h);
	h->total = s->total;
	h->last = malloc((s->total + 1) * sizeof(*h->last));
	h->regions = malloc((s->nr_regions + 1) * sizeof(*h->regions));
	if (!h->last || !h->regions)
		return -ENOMEM;
	memset(h->last, 0xff, (s->total + 1) * sizeof(*h->last));
	memcpy(h->regions, s->regions, s->nr_regions * sizeof(*s->regions));
	h->nr_regions = s->nr_regions;
	return 0;
}

int exp_hist_add(struct exp_hist *h, const struct dpt_sample *s)
{
	struct walk w = {.h = h};
	int err = 0;

	if (!h->last || !same_layout(h, s))
		err = new_layout(h, s);
	/* the intervals that leave the windows now, while their sets are still in the ring */
	if (!err && h->n >= h->short_k) {
		w.leave = 1;
		w.seq = seq_of(h->n - h->short_k);
		exp_set_foreach(exp_hist_get(h, h->short_k - 1), h->total, page_leave, &w);
	}
	if (!err && h->n >= h->long_k) {
		w.leave = 2;
		w.seq = seq_of(h->n - h->long_k);
		exp_set_foreach(exp_hist_get(h, h->long_k - 1), h->total, page_leave, &w);
	}
	struct exp_set *slot = &h->ring[h->n % h->cap];
	if (!err) {
		set_free(slot);
		err = set_store(slot, s);
	}
	if (err) {
		exp_hist_reset(h);
		return dpt_fail(-ENOMEM, "out of memory");
	}
	w.leave = 0;
	w.seq = seq_of(h->n);
	exp_set_foreach(slot, h->total, page_enter, &w);
	h->n++;
	return 0;
}
