/* numbering.c - one page numbering for a whole trace whose region tables change.
 *
 * 1. Spans: pieces of regions, each a run of trace-wide indices for a run of addresses of one
 *    region name. They never overlap within a name; by_addr keeps them sorted by name and
 *    address for lookups, spans[] is in index order.
 * 2. A new table: each region's address range is walked against the spans of its name that
 *    overlap it; the parts no span covers become new spans (new indices at the end). The
 *    pieces give the table's segments, local pages -> trace-wide pages, merged when
 *    contiguous: one segment 0 -> 0 over every page is the identity.
 * 3. Mapping a bitmap: the identity needs nothing; otherwise each segment's bits are copied
 *    to their trace-wide place, 64 at a time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/numbering.h"
#include "dpt/bitmap.h"
#include "dpt/log.h"

struct numbering_seg {
	uint64_t local, global, len;
};

int numbering_init(struct numbering *nb, uint32_t page_size)
{
	memset(nb, 0, sizeof(*nb));
	nb->page_size = page_size ? page_size : 4096;
	nb->identity = true;
	return 0;
}

void numbering_fini(struct numbering *nb)
{
	free(nb->spans);
	free(nb->by_addr);
	free(nb->segs);
	free(nb->map);
	memset(nb, 0, sizeof(*nb));
}

/* Order of spans in by_addr: name, then address. */
static int span_cmp(const struct numbering_span *s, const char *name, uint64_t start)
{
	int c = strcmp(s->name, name);

	return c ? c : s->start < start ? -1 : s->start > start;
}

/* The first position in by_addr whose span is not before (name, start). */
static unsigned lower_bound(const struct numbering *nb, const char *name, uint64_t start)
{
	unsigned lo = 0, hi = nb->nr_spans;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (span_cmp(&nb->spans[nb->by_addr[mid]], name, start) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int add_seg(struct numbering *nb, uint64_t local, uint64_t global, uint64_t len)
{
	struct numbering_seg *last = nb->nr_segs ? &nb->segs[nb->nr_segs - 1] : NULL;

	if (last && last->local + last->len == local && last->global + last->len == global) {
		last->len += len;
		return 0;
	}
	if (nb->nr_segs == nb->cap_segs) {
		unsigned cap = nb->cap_segs ? nb->cap_segs * 2 : 16;
		struct numbering_seg *s = realloc(nb->segs, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		nb->segs = s;
		nb->cap_segs = cap;
	}
	nb->segs[nb->nr_segs++] = (struct numbering_seg){local, global, len};
	return 0;
}

/* A new span of region r for addresses [start, start + pages * page size): new indices. */
static int add_span(struct numbering *nb, const struct dpt_region *r, uint64_t start,
		    uint64_t pages)
{
	if (nb->nr_spans == nb->cap_spans) {
		unsigned cap = nb->cap_spans ? nb->cap_spans * 2 : 16;
		struct numbering_span *s = realloc(nb->spans, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		nb->spans = s;
		unsigned *b = realloc(nb->by_addr, cap * sizeof(*b));
		if (!b)
			return -ENOMEM;
		nb->by_addr = b;
		nb->cap_spans = cap;
	}
	struct numbering_span *s = &nb->spans[nb->nr_spans];
	memset(s, 0, sizeof(*s));
	memcpy(s->name, r->name, sizeof(s->name) - 1);
	s->start = start;
	s->region_start = r->start;
	s->pages = pages;
	s->first = nb->pages;
	unsigned at = lower_bound(nb, s->name, start);
	memmove(nb->by_addr + at + 1, nb->by_addr + at, (nb->nr_spans - at) * sizeof(unsigned));
	nb->by_addr[at] = nb->nr_spans++;
	nb->pages += pages;
	return 0;
}

/* Map region r (its pages from r->first_page on) onto spans of its name, adding spans for
 * its addresses no span covers. Addresses in pages. */
static int map_region(struct numbering *nb, const struct dpt_region *r)
{
	uint64_t ps = nb->page_size, cur = r->start / ps, end = cur + r->pages;
	uint64_t local = r->first_page;
	unsigned pos = lower_bound(nb, r->name, cur * ps);
	int err;

	if (pos) { /* the span before may reach into the region */
		const struct numbering_span *s = &nb->spans[nb->by_addr[pos - 1]];
		if (!strcmp(s->name, r->name) && s->start / ps + s->pages > cur)
			pos--;
	}
	while (cur < end) {
		const struct numbering_span *s = NULL;
		if (pos < nb->nr_spans) {
			s = &nb->spans[nb->by_addr[pos]];
			if (strcmp(s->name, r->name) || s->start / ps >= end)
				s = NULL;
		}
		uint64_t next = s ? s->start / ps : end, len;
		if (cur < next) { /* no span here yet: it sorts right before s */
			len = next - cur;
			if ((err = add_span(nb, r, cur * ps, len)) ||
			    (err = add_seg(nb, local, nb->pages - len, len)))
				return err;
		} else {
			uint64_t upto = next + s->pages < end ? next + s->pages : end;
			len = upto - cur;
			if ((err = add_seg(nb, local, s->first + (cur - next), len)))
				return err;
		}
		local += len;
		cur += len;
		pos++;
	}
	return 0;
}

int numbering_table(struct numbering *nb, const struct dpt_region *regions, unsigned nr,
		    uint64_t total)
{
	struct dpt_region none = {.pages = total};
	int err;

	if (!nr) {
		regions = &none;
		nr = 1;
	}
	if (nb->total || nb->nr_spans)
		nb->changes++;
	nb->nr_segs = 0;
	for (unsigned i = 0; i < nr; i++)
		if (regions[i].pages && (err = map_region(nb, &regions[i])))
			return err;
	nb->total = total;
	nb->identity = !nb->nr_segs || (nb->nr_segs == 1 && !nb->segs[0].local &&
					!nb->segs[0].global && nb->segs[0].len == total);
	if (!nb->identity)
		nb->renumbered = true;
	return 0;
}

/* dst[to, to + len) |= src[from, from + len), 64 bits at a time. */
static void or_bits(uint64_t *dst, uint64_t to, const uint64_t *src, uint64_t from, uint64_t len)
{
	while (len) {
		unsigned n = len < 64 ? (unsigned)len : 64, fs = from % 64, ts = to % 64;
		uint64_t v = src[from / 64] >> fs;

		if (fs && fs + n > 64)
			v |= src[from / 64 + 1] << (64 - fs);
		if (n < 64)
			v &= (1ULL << n) - 1;
		if (v) {
			dst[to / 64] |= v << ts;
			if (ts && ts + n > 64)
				dst[to / 64 + 1] |= v >> (64 - ts);
		}
		from += n;
		to += n;
		len -= n;
	}
}

int numbering_map(struct numbering *nb, const uint64_t *bm, const uint64_t **out,
		  uint64_t *bits)
{
	size_t words = bitmap_words(nb->pages);

	if (nb->identity) {
		*out = bm;
		*bits = nb->total;
		return 0;
	}
	if (words > nb->map_words) {
		uint64_t *m = realloc(nb->map, words * sizeof(*m));
		if (!m)
			return -ENOMEM;
		nb->map = m;
		nb->map_words = words;
	}
	memset(nb->map, 0, words * sizeof(uint64_t));
	for (unsigned i = 0; i < nb->nr_segs; i++)
		or_bits(nb->map, nb->segs[i].global, bm, nb->segs[i].local, nb->segs[i].len);
	*out = nb->map;
	*bits = nb->pages;
	return 0;
}

const struct numbering_span *numbering_span_of(const struct numbering *nb, uint64_t i)
{
	unsigned lo = 0, hi = nb->nr_spans;

	while (hi - lo > 1) {
		unsigned mid = (lo + hi) / 2;
		if (nb->spans[mid].first <= i)
			lo = mid;
		else
			hi = mid;
	}
	return nb->nr_spans ? &nb->spans[lo] : NULL;
}
