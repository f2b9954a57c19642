/* numbering.h - one page numbering for a whole trace whose region tables change.
 *
 * A trace numbers its pages by the region table in force, and the table may change within a
 * trace (memory hot-added to a VM, a process mapping or unmapping memory): page 5 may then be
 * another page. Analyses that follow pages over time (the working set, hot pages) need one
 * numbering for the whole trace: here a page is known by its region's name and its address,
 * and keeps its trace-wide index from its first appearance on. A region that grows gets new
 * indices for its new pages; one that shrinks or goes away keeps its indices, never dirty
 * again. Pages of a table without regions are numbered as they come (one unnamed region).
 *
 * Library code: 0 or -errno with the reason recorded, never exits.
 */
#ifndef DPT_ANALYSIS_NUMBERING_H
#define DPT_ANALYSIS_NUMBERING_H

#include <stdbool.h>
#include <stdint.h>

#include "dpt/sample.h"

/* Pages [first, first + pages) of the trace-wide numbering: one region's pages at
 * [start, start + pages * page size). */
struct numbering_span {
	char name[64];
	uint64_t start;	       /* address of its first page */
	uint64_t region_start; /* address of the region it was first seen in */
	uint64_t pages;
	uint64_t first; /* its first trace-wide index */
};

struct numbering_seg; /* a piece of the table in force: local pages -> trace-wide ones */

struct numbering {
	uint32_t page_size;
	uint64_t pages; /* trace-wide pages so far */
	struct numbering_span *spans; /* in index order */
	unsigned nr_spans, cap_spans;
	unsigned *by_addr; /* span numbers sorted by name, then address */
	struct numbering_seg *segs; /* the table in force, in local order */
	unsigned nr_segs, cap_segs;
	uint64_t total;	      /* pages of the table in force */
	bool identity;	      /* the table in force numbers pages as the trace does */
	bool renumbered;      /* some table did not */
	unsigned changes;     /* tables taken after the first */
	uint64_t *map;	      /* the last bitmap mapped */
	uint64_t map_words;
};

int numbering_init(struct numbering *nb, uint32_t page_size);
void numbering_fini(struct numbering *nb);

/* The table in force becomes regions[0 .. nr) over total pages (nr = 0: total unnamed pages).
 * New pages get new trace-wide indices. */
int numbering_table(struct numbering *nb, const struct dpt_region *regions, unsigned nr,
		    uint64_t total);

/* A bitmap of the table in force, in the trace-wide numbering, and its number of bits: bm
 * itself when the table numbers pages as the trace does, else a copy of nb->pages bits valid
 * until the next call. */
int numbering_map(struct numbering *nb, const uint64_t *bm, const uint64_t **out,
		  uint64_t *bits);

/* The span holding trace-wide page i (i < nb->pages). */
const struct numbering_span *numbering_span_of(const struct numbering *nb, uint64_t i);

#endif
