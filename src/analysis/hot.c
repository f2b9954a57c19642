/* hot.c - hot pages: ranges of adjacent pages by the number of intervals they were dirty in,
 * and what each region's pages did.
 *
 * 1. The working-set pass leaves, per trace-wide page, the number of counted intervals it was
 *    dirty in (its count). Pages are walked in numbering order, one span (a piece of one
 *    region) at a time, so a range never mixes two regions.
 * 2. A range grows while the next page was dirtied at all and its count is within a factor
 *    of two of the range's mean count so far: the pages of a hot part, whose counts scatter
 *    around one value, stay together; a page dirtied much less or much more starts a new one.
 *    Never-dirtied pages end ranges and are in none.
 * 3. Ranges rank by mean count (hottest first), then size, then position; the top N are kept
 *    in a sorted array, so the walk is O(pages + ranges * N) in the worst case and one
 *    comparison per range in the common one.
 * 4. The same walk adds up each region name's pages, pages dirtied at least once, and dirty
 *    page-intervals (the sum of counts).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/report.h"

/* a ranks before b */
static bool hotter(const struct report_hot *a, const struct report_hot *b)
{
	if (a->mean != b->mean)
		return a->mean > b->mean;
	if (a->pages != b->pages)
		return a->pages > b->pages;
	return a->first < b->first;
}

static void keep(struct report *rp, struct report_hot *h, unsigned top)
{
	unsigned i;

	rp->nr_ranges++;
	h->mean = (double)h->sum / (double)h->pages;
	if (rp->nr_hot == top && !hotter(h, &rp->hot[top - 1]))
		return;
	i = rp->nr_hot < top ? rp->nr_hot++ : top - 1;
	for (; i && hotter(h, &rp->hot[i - 1]); i--)
		rp->hot[i] = rp->hot[i - 1];
	rp->hot[i] = *h;
}

static struct report_region *region_of(struct report *rp, const char *name)
{
	for (unsigned i = 0; i < rp->nr_regions; i++)
		if (!strcmp(rp->regions[i].name, name))
			return &rp->regions[i];
	struct report_region *r = &rp->regions[rp->nr_regions++];
	memset(r, 0, sizeof(*r));
	strcpy(r->name, name);
	return r;
}

/* Walk the pages of span s. */
static void walk_span(struct report *rp, const struct numbering_span *s, const uint32_t *count,
		      uint64_t counted_pages, unsigned top)
{
	struct report_region *reg = region_of(rp, s->name);
	struct report_hot h = {0};
	uint32_t ps = rp->nb.page_size;

	reg->pages += s->pages;
	for (uint64_t p = s->first; p < s->first + s->pages; p++) {
		uint32_t c = p < counted_pages ? count[p] : 0;
		if (c) {
			reg->distinct++;
			reg->dirty += c;
		}
		if (h.pages && (!c || 2 * (uint64_t)c * h.pages < h.sum ||
				(uint64_t)c * h.pages > 2 * h.sum)) {
			keep(rp, &h, top);
			h.pages = 0;
		}
		if (!c)
			continue;
		if (!h.pages) {
			h = (struct report_hot){.span = s, .first = p, .min = c, .max = c};
			h.address = s->start + (p - s->first) * ps;
			h.offset = h.address - s->region_start;
		}
		h.pages++;
		h.sum += c;
		h.min = c < h.min ? c : h.min;
		h.max = c > h.max ? c : h.max;
	}
	if (h.pages)
		keep(rp, &h, top);
}

int report_hot_compute(struct report *rp, unsigned top)
{
	const uint32_t *count = wss_page_counts(rp->wss);

	top = top ? top : 10;
	if (!(rp->hot = calloc(top, sizeof(*rp->hot))) ||
	    !(rp->regions = calloc(rp->nb.nr_spans + 1, sizeof(*rp->regions))))
		return -ENOMEM;
	for (unsigned i = 0; i < rp->nb.nr_spans; i++)
		walk_span(rp, &rp->nb.spans[i], count, rp->curve->pages, top);
	return 0;
}
