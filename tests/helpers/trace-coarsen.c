/* trace-coarsen: a trace as if recorded at an interval N times longer, for measuring what a
 * coarser recording costs a forecast (make validate; docs/validation.md).
 *
 *	trace-coarsen N IN.dpt OUT.dpt
 *
 * Every N consecutive interval records of IN become one in OUT: its dirty set the union of
 * theirs, its times from the first one's start to the last one's end, its counts those of the
 * union; the region table of the first. Non-zero records are copied as they are, in order;
 * session and message records are left out. The header is IN's with the interval x N. Needs
 * a trace with sets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/trace.h"

static int die(const char *what)
{
	fprintf(stderr, "trace-coarsen: %s: %s\n", what, dpt_last_error() ? dpt_last_error() : "");
	return 1;
}

/* One merged interval: the union acc of bits pages, numbered seq. */
static int emit(struct trace_writer *w, struct dpt_sample *s, uint64_t *acc, uint64_t bits,
		uint64_t seq)
{
	s->seq = seq;
	s->bitmap = acc;
	s->dirty = bitmap_weight(acc, bits);
	s->nr_vcpus = 0;
	s->nr_procs = 0;
	s->discarded_bitmap = NULL;
	s->discarded = 0;
	s->regions_changed = seq == 1;
	return trace_writer_sample(w, s);
}

int main(int argc, char **argv)
{
	struct trace_reader *r;
	struct trace_writer *w;
	struct trace_record rec;
	long n = argc == 4 ? strtol(argv[1], NULL, 10) : 0;

	if (n < 1) {
		fprintf(stderr, "usage: trace-coarsen N IN.dpt OUT.dpt\n");
		return 2;
	}
	if (trace_reader_open(&r, argv[2]))
		return die(argv[2]);
	const struct trace_info *in = trace_reader_info(r);
	if (!(in->h.flags & TRACE_HAS_SETS)) {
		fprintf(stderr, "trace-coarsen: %s: a trace of counts only\n", argv[2]);
		return 1;
	}
	struct trace_header h = in->h;
	h.interval_ns *= (uint64_t)n;
	if (trace_writer_open(&w, argv[3], true, &h))
		return die(argv[3]);
	uint64_t *acc = NULL, bits = 0, seq = 0;
	struct dpt_sample first = {0};
	struct dpt_region *regions = NULL;
	long k = 0;
	int err;
	while ((err = trace_reader_next(r, &rec)) > 0) {
		if (rec.type == TRACE_REC_NONZERO) {
			const uint64_t *bm;
			struct dpt_nonzero z = rec.nz;
			if (trace_reader_bitmap(r, 0, &bm))
				return die("a non-zero record");
			z.bitmap = bm;
			if (trace_writer_nonzero(w, &z))
				return die(argv[3]);
			continue;
		}
		if (rec.type != TRACE_REC_INTERVAL || (rec.s.flags & DPT_SAMPLE_ALL))
			continue;
		const uint64_t *bm = NULL;
		if (rec.has_set && trace_reader_bitmap(r, 0, &bm))
			return die("an interval's set");
		if (k == 0) {
			first = rec.s;
			free(regions);
			regions = malloc(rec.s.nr_regions * sizeof(*regions) + 1);
			memcpy(regions, rec.s.regions, rec.s.nr_regions * sizeof(*regions));
			first.regions = regions;
			bits = rec.s.total;
			free(acc);
			acc = calloc(bitmap_words(bits) + 1, 8);
		}
		for (size_t i = 0; bm && i < bitmap_words(bits < rec.s.total ? bits : rec.s.total); i++)
			acc[i] |= bm[i];
		first.mono_end = rec.s.mono_end;
		first.wall_end = rec.s.wall_end;
		first.flags |= rec.s.flags & (DPT_SAMPLE_FINAL | DPT_SAMPLE_PARTIAL);
		if (++k == n) {
			if (emit(w, &first, acc, bits, ++seq))
				return die(argv[3]);
			k = 0;
		}
	}
	if (err < 0)
		return die(argv[2]);
	if (k && emit(w, &first, acc, bits, ++seq)) /* the last, shorter one */
		return die(argv[3]);
	if (trace_writer_close(w, true, false))
		return die(argv[3]);
	trace_reader_close(r);
	free(acc);
	free(regions);
	printf("trace-coarsen: %llu intervals\n", (unsigned long long)seq);
	return 0;
}
