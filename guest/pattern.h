/* pattern.h - the page-writing patterns, shared by dpt's freestanding guests: the micro-VM guest
 * (guest/guest.c) and the multiboot kernel (guest/multiboot/). Header only, freestanding.
 *
 * A walk is one working set of `pages` pages starting at `base`, a pattern and its state.
 * guest_walk_write(w, n, stamp) writes n pages in the pattern's order, storing `stamp` in the
 * first 64-bit word of each: one store per page, nothing else touched. The order for a given
 * start and seed is part of the micro-VM's ground truth (docs/guest-abi.md): keep it.
 *
 *	seq      start, start + 1, ... wrapping at pages
 *	random   uniform: the high half of a xorshift64* draw times pages (no division)
 *	hotcold  with probability hot_share % a uniform page among the first hot_pages, else a
 *	         uniform page among the rest
 *	stride   off, off + stride, ... then off + 1, ... (off starts at start mod stride)
 */
#ifndef DPT_GUEST_PATTERN_H
#define DPT_GUEST_PATTERN_H

#include <stdint.h>

#include "guest-abi.h"

struct guest_walk {
	uint64_t base;	    /* address of page 0 */
	uint64_t pages;	    /* pages in the working set (>= 1) */
	uint64_t hot_pages; /* hotcold: the first hot_pages pages are hot (1..pages) */
	uint64_t stride;    /* stride: in pages (>= 1) */
	uint32_t kind;	    /* enum guest_pattern */
	uint32_t hot_share; /* hotcold: percent of writes into the hot pages (0..100) */
	uint64_t idx;	    /* next page index (seq, stride) */
	uint64_t off;	    /* stride: current shift */
	uint64_t rng;	    /* xorshift64* state (random, hotcold), nonzero */
};

/* Set up a walk; returns 0, or -1 if the parameters are impossible (see the field comments;
 * start must be < pages, seed nonzero). */
static inline int guest_walk_init(struct guest_walk *w, uint32_t kind, uint64_t base,
				  uint64_t pages, uint64_t start, uint64_t seed, uint64_t hot_pages,
				  uint32_t hot_share, uint64_t stride)
{
	w->base = base;
	w->pages = pages;
	w->hot_pages = hot_pages;
	w->stride = stride;
	w->kind = kind;
	w->hot_share = hot_share;
	w->idx = start;
	w->off = stride ? start % stride : 0;
	w->rng = seed;
	if (!pages || start >= pages || !seed || !stride || kind > GUEST_PATTERN_STRIDE ||
	    !hot_pages || hot_pages > pages || hot_share > 100)
		return -1;
	return 0;
}

static inline uint64_t guest_rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n) without a division: the high half of r * n. */
static inline uint64_t guest_below(uint64_t r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)r * n) >> 64);
}

static inline void guest_page_store(const struct guest_walk *w, uint64_t pg, uint64_t stamp)
{
	*(volatile uint64_t *)(w->base + pg * GUEST_PAGE_SIZE) = stamp;
}

/* Write n pages of the walk, each stamped with `stamp`. The pattern is chosen once per call,
 * so the inner loops stay short (each guest instruction costs ~1 us under emulation). */
static inline __attribute__((always_inline)) void guest_walk_write(struct guest_walk *w, uint64_t n,
								   uint64_t stamp)
{
	uint64_t i = w->idx, pages = w->pages;

	switch (w->kind) {
	case GUEST_PATTERN_SEQ:
		while (n--) {
			guest_page_store(w, i, stamp);
			if (++i == pages)
				i = 0;
		}
		w->idx = i;
		return;
	case GUEST_PATTERN_RANDOM:
		while (n--)
			guest_page_store(w, guest_below(guest_rng_next(&w->rng), pages), stamp);
		return;
	case GUEST_PATTERN_HOTCOLD:
		while (n--) {
			uint64_t pg;
			if (guest_below(guest_rng_next(&w->rng), 100) < w->hot_share ||
			    w->hot_pages == pages)
				pg = guest_below(guest_rng_next(&w->rng), w->hot_pages);
			else
				pg = w->hot_pages +
				     guest_below(guest_rng_next(&w->rng), pages - w->hot_pages);
			guest_page_store(w, pg, stamp);
		}
		return;
	default: /* GUEST_PATTERN_STRIDE */
		while (n--) {
			guest_page_store(w, i, stamp);
			i += w->stride;
			if (i >= pages) {
				if (++w->off >= w->stride || w->off >= pages)
					w->off = 0;
				i = w->off;
			}
		}
		w->idx = i;
		return;
	}
}

#endif
