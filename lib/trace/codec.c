/* codec.c - a set of pages (a dirty set, a non-zero set) in the fewest bytes.
 *
 * Three encodings of the same sorted page indices; the writer takes the smallest for each set:
 *  1. indices: count, then each page as its gap from the previous one (first: its index; then
 *     index - previous - 1), varints. About 1 byte a page for sets denser than 1 in 128.
 *  2. runs: run count, then per maximal run of consecutive pages its gap from the previous
 *     run's end and its length - 1, varints. A few bytes a run: sequential and clustered sets.
 *  3. bitmap: one bit a page. Never more than total / 8 bytes, whatever the set.
 * All three sizes come from one walk over the set's runs (a run of n pages costs n - 1 zero
 * bytes as indices), so planning costs a word scan plus a step per run.
 */
#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "trace/int.h"

/* The run at or after pos: its start (nbits if none) and end. */
static inline uint64_t run_next(const uint64_t *bm, uint64_t nbits, uint64_t pos, uint64_t *end)
{
	uint64_t s = bitmap_next_set(bm, nbits, pos);

	if (s >= nbits)
		return nbits;
	size_t w = s / 64, words = bitmap_words(nbits);
	uint64_t word = ~bm[w] & (~0ULL << (s % 64));
	while (!word) {
		if (++w >= words) {
			*end = nbits;
			return s;
		}
		word = ~bm[w];
	}
	uint64_t e = w * 64 + (uint64_t)__builtin_ctzll(word);
	*end = e < nbits ? e : nbits;
	return s;
}

void set_plan(const uint64_t *bm, uint64_t nbits, struct set_plan *plan)
{
	uint64_t count = 0, runs = 0, prev_end = 0, end = 0;
	size_t idx = 0, run = 0;

	for (uint64_t s = run_next(bm, nbits, 0, &end); s < nbits;
	     s = run_next(bm, nbits, end, &end)) {
		size_t g = varint_size(s - prev_end);
		idx += g + (size_t)(end - s - 1);
		run += g + varint_size(end - s - 1);
		count += end - s;
		runs++;
		prev_end = end;
	}
	plan->count = count;
	plan->runs = runs;
	plan->size[TRACE_SET_INDICES] = 1 + varint_size(count) + idx;
	plan->size[TRACE_SET_RUNS] = 1 + varint_size(runs) + run;
	plan->size[TRACE_SET_BITMAP] = 1 + (size_t)((nbits + 7) / 8);
	plan->best = TRACE_SET_RUNS;
	if (plan->size[TRACE_SET_INDICES] < plan->size[plan->best])
		plan->best = TRACE_SET_INDICES;
	if (plan->size[TRACE_SET_BITMAP] < plan->size[plan->best])
		plan->best = TRACE_SET_BITMAP;
}

void trace_set_sizes(const uint64_t *bm, uint64_t nbits, size_t sizes[3])
{
	struct set_plan plan;

	set_plan(bm, nbits, &plan);
	memcpy(sizes, plan.size, sizeof(plan.size));
}

void set_encode(struct tbuf *b, const uint64_t *bm, uint64_t nbits, const struct set_plan *plan)
{
	uint64_t prev_end = 0, end = 0;

	b->p[b->len++] = (uint8_t)plan->best;
	if (plan->best == TRACE_SET_BITMAP) {
		size_t n = (size_t)((nbits + 7) / 8);
		memcpy(b->p + b->len, bm, n);
		b->len += n;
		return;
	}
	put_varint(b, plan->best == TRACE_SET_INDICES ? plan->count : plan->runs);
	for (uint64_t s = run_next(bm, nbits, 0, &end); s < nbits;
	     s = run_next(bm, nbits, end, &end)) {
		put_varint(b, s - prev_end);
		if (plan->best == TRACE_SET_RUNS) {
			put_varint(b, end - s - 1);
		} else {
			memset(b->p + b->len, 0, (size_t)(end - s - 1));
			b->len += (size_t)(end - s - 1);
		}
		prev_end = end;
	}
}

size_t set_all_size(uint64_t nbits)
{
	return nbits ? 1 + 1 + 1 + varint_size(nbits - 1) : 1 + 1;
}

void set_encode_all(struct tbuf *b, uint64_t nbits)
{
	b->p[b->len++] = TRACE_SET_RUNS;
	put_varint(b, nbits ? 1 : 0);
	if (nbits) {
		put_varint(b, 0);
		put_varint(b, nbits - 1);
	}
}

/* ---- decoding: every length and index checked against nbits and the declared count ---- */

/* Calls fn(arg, start, len) for each run of the encoded set, in order; runs given by the
 * indices encoding are single pages (consecutive ones merged). */
struct run_sink {
	uint64_t *bm;		/* into a bitmap, or */
	struct trace_run **runs; /* appended to runs */
	size_t *nr, *cap;
};

static int sink_run(struct run_sink *k, uint64_t start, uint64_t len)
{
	if (k->bm) {
		if (len == 1)
			bitmap_set(k->bm, start);
		else
			bitmap_set_range(k->bm, start, len);
		return 0;
	}
	struct trace_run *r = *k->runs;
	if (*k->nr && r[*k->nr - 1].start + r[*k->nr - 1].len == start) {
		r[*k->nr - 1].len += len;
		return 0;
	}
	if (*k->nr == *k->cap) {
		size_t cap = *k->cap ? *k->cap * 2 : 64;
		r = realloc(r, cap * sizeof(*r));
		if (!r)
			return dpt_fail(-ENOMEM, "trace: out of memory");
		*k->runs = r;
		*k->cap = cap;
	}
	r[(*k->nr)++] = (struct trace_run){start, len};
	return 0;
}

static int bad(const char *what)
{
	return dpt_fail(-EBADMSG, "malformed page set: %s", what);
}

static int decode(const uint8_t *p, size_t len, uint64_t nbits, uint64_t count,
		  struct run_sink *k)
{
	struct tcur c = {p + 1, p + len};
	uint64_t n, pos = 0, seen = 0;
	int err;

	if (!len)
		return bad("empty");
	switch (p[0]) {
	case TRACE_SET_BITMAP: {
		if (len - 1 != (nbits + 7) / 8)
			return bad("bitmap of the wrong size");
		const uint8_t *bytes = p + 1;
		if (nbits % 8 && (bytes[nbits / 8] >> (nbits % 8)))
			return bad("bitmap bits past the last page");
		for (uint64_t i = 0; i < len - 1; i++)
			seen += (uint64_t)__builtin_popcount(bytes[i]);
		if (seen != count)
			return bad("page count differs from the record's");
		if (k->bm) {
			memcpy(k->bm, bytes, len - 1);
			return 0;
		}
		/* runs from the bitmap, a byte at a time */
		for (uint64_t i = 0; i < nbits; i++) {
			if (!(bytes[i / 8] >> (i % 8) & 1))
				continue;
			uint64_t s = i;
			while (i < nbits && (bytes[i / 8] >> (i % 8) & 1))
				i++;
			if ((err = sink_run(k, s, i - s)))
				return err;
		}
		return 0;
	}
	case TRACE_SET_RUNS:
		if (get_varint(&c, &n))
			return bad("truncated");
		if (n > count || n > (uint64_t)(c.end - c.p) / 2)
			return bad("more runs than pages or bytes");
		for (uint64_t i = 0; i < n; i++) {
			uint64_t gap, l;
			if (get_varint(&c, &gap) || get_varint(&c, &l))
				return bad("truncated");
			if (gap > nbits - pos || (i && !gap) || l >= nbits - pos - gap)
				return bad("run past the last page");
			pos += gap;
			if ((err = sink_run(k, pos, l + 1)))
				return err;
			pos += l + 1;
			seen += l + 1;
		}
		break;
	case TRACE_SET_INDICES:
		if (get_varint(&c, &n))
			return bad("truncated");
		if (n != count)
			return bad("page count differs from the record's");
		if (n > (uint64_t)(c.end - c.p))
			return bad("more pages than bytes");
		for (uint64_t i = 0; i < n; i++) {
			uint64_t gap;
			if (c.p < c.end && *c.p < 0x80) /* the common one-byte gap */
				gap = *c.p++;
			else if (get_varint(&c, &gap))
				return bad("truncated");
			if (gap >= nbits - pos)
				return bad("page past the last page");
			pos += gap;
			if (k->bm)
				bitmap_set(k->bm, pos);
			else if ((err = sink_run(k, pos, 1)))
				return err;
			pos++;
		}
		seen = n;
		break;
	default:
		return bad("unknown encoding");
	}
	if (c.p != c.end)
		return bad("bytes after the set");
	if (seen != count)
		return bad("page count differs from the record's");
	return 0;
}

int set_decode_bitmap(const uint8_t *p, size_t len, uint64_t nbits, uint64_t count,
		      uint64_t *bm)
{
	struct run_sink k = {.bm = bm};

	return decode(p, len, nbits, count, &k);
}

int set_decode_runs(const uint8_t *p, size_t len, uint64_t nbits, uint64_t count,
		    struct trace_run **runs, size_t *nr, size_t *cap)
{
	struct run_sink k = {.runs = runs, .nr = nr, .cap = cap};

	return decode(p, len, nbits, count, &k);
}
