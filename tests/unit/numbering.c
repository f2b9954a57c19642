/* numbering.c - one page numbering across region table changes: pages known by region name and
 * address keep their index when a region is inserted before them, when their region grows,
 * shrinks or moves its start; another name at the same address is other pages; a table
 * without regions numbers pages as they come; unaligned segments copy bit for bit.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/numbering.h"
#include "dpt/bitmap.h"
#include "../test.h"

static struct numbering nb;

/* Map the local pages (a -1 terminated list) of a table of total pages; the trace-wide
 * pages set, as "i,j,k". */
static const char *map(uint64_t total, const int *local)
{
	static char out[512];
	uint64_t bm[16] = {0}, bits;
	const uint64_t *g;
	size_t n = 0;

	for (; *local >= 0; local++)
		bitmap_set(bm, (uint64_t)*local);
	if (numbering_map(&nb, bm, &g, &bits))
		return "error";
	out[0] = 0;
	for (uint64_t i = 0; i < bits && i < 16 * 64; i++)
		if (bitmap_test(g, i))
			n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%" PRIu64, n ? "," : "", i);
	(void)total;
	return out;
}

static void table(const char *name, const struct dpt_region *r, unsigned nr, uint64_t total)
{
	if (numbering_table(&nb, r, nr, total))
		test_report(0, name, "numbering_table failed");
}

#define R(n, a, len, first) {.name = n, .start = a, .pages = len, .first_page = first}

int main(void)
{
	numbering_init(&nb, 4096);
	struct dpt_region t1[] = {R("ram", 0x10000, 10, 0)};
	table("numbering-first", t1, 1, 10);
	TEST_CHECK(nb.identity && nb.pages == 10 && !nb.changes, "numbering-first",
		   "identity %d pages %" PRIu64, nb.identity, nb.pages);
	TEST_CHECK(!strcmp(map(10, (int[]){0, 3, 9, -1}), "0,3,9"), "numbering-identity", "%s",
		   map(10, (int[]){0, 3, 9, -1}));

	/* a region inserted before: ram keeps 0..9, the new one gets 10 */
	struct dpt_region t2[] = {R("new", 0x0, 1, 0), R("ram", 0x10000, 10, 1)};
	table("numbering-insert", t2, 2, 11);
	const char *m = map(11, (int[]){0, 1, 10, -1});
	TEST_CHECK(!nb.identity && nb.renumbered && !strcmp(m, "0,9,10"), "numbering-insert",
		   "identity %d, mapped %s", nb.identity, m);

	/* ram grows by 2 pages: they get 11, 12 */
	struct dpt_region t3[] = {R("ram", 0x10000, 12, 0)};
	table("numbering-grow", t3, 1, 12);
	m = map(12, (int[]){0, 9, 10, 11, -1});
	TEST_CHECK(!strcmp(m, "0,9,11,12") && nb.pages == 13, "numbering-grow", "mapped %s, pages %"
		   PRIu64, m, nb.pages);

	/* ram shrinks to its pages 2..5 (its start moves): they keep 2..5 */
	struct dpt_region t4[] = {R("ram", 0x12000, 4, 0)};
	table("numbering-shrink", t4, 1, 4);
	m = map(4, (int[]){0, 3, -1});
	TEST_CHECK(!strcmp(m, "2,5") && nb.pages == 13, "numbering-shrink", "mapped %s", m);

	/* another name at ram's address: other pages */
	struct dpt_region t5[] = {R("other", 0x10000, 2, 0), R("ram", 0x12000, 1, 2)};
	table("numbering-other-name", t5, 2, 3);
	m = map(3, (int[]){0, 1, 2, -1});
	TEST_CHECK(!strcmp(m, "2,13,14") && nb.pages == 15, "numbering-other-name", "mapped %s", m);
	const struct numbering_span *s = numbering_span_of(&nb, 14);
	TEST_CHECK(s && !strcmp(s->name, "other") && s->first == 13, "numbering-span-of",
		   "%s first %" PRIu64, s ? s->name : "none", s ? s->first : 0);
	s = numbering_span_of(&nb, 12);
	TEST_CHECK(s && !strcmp(s->name, "ram") && s->start == 0x1a000 && s->region_start == 0x10000,
		   "numbering-span-grown", "%s start %#" PRIx64, s ? s->name : "none",
		   s ? s->start : 0);
	TEST_CHECK(nb.changes == 4, "numbering-changes", "%u", nb.changes);
	numbering_fini(&nb);

	/* no regions: pages as they come; growing keeps the identity */
	numbering_init(&nb, 4096);
	table("numbering-anonymous", NULL, 0, 100);
	table("numbering-anonymous", NULL, 0, 130);
	TEST_CHECK(nb.identity && nb.pages == 130 && !nb.renumbered, "numbering-anonymous",
		   "identity %d pages %" PRIu64, nb.identity, nb.pages);
	numbering_fini(&nb);

	/* unaligned segments: a 3-page region before a long one, bits crossing words */
	numbering_init(&nb, 4096);
	struct dpt_region u1[] = {R("a", 0x100000, 700, 0)};
	struct dpt_region u2[] = {R("b", 0x0, 3, 0), R("a", 0x100000, 700, 3)};
	table("numbering-unaligned", u1, 1, 700);
	table("numbering-unaligned", u2, 2, 703);
	uint64_t bm[16] = {0}, bits;
	const uint64_t *g;
	int bad = 0;
	for (uint64_t i = 0; i < 703; i += 7)
		bitmap_set(bm, i);
	numbering_map(&nb, bm, &g, &bits);
	for (uint64_t i = 0; i < 703; i++) {
		uint64_t to = i < 3 ? 700 + i : i - 3;
		bad += bitmap_test(bm, i) != bitmap_test(g, to);
	}
	TEST_CHECK(!bad && bits == 703, "numbering-unaligned", "%d bits wrong", bad);
	numbering_fini(&nb);
	return test_done();
}
