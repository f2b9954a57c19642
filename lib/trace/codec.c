/* codec.c - a set of pages (a dirty set, a non-zero set) in the fewest bytes.
 *
 * Three encodings of the same sorted page indices; the writer takes the smallest for each set:
 *  1. indices: count, then each page as its gap from the previous one (first: its index; then
 *     index - previous - 1), varints. About 1 byte a page for sets denser than 1 in 128.
 *  2. runs: run count, then per maximal run of consecutive pages its gap from the previous
 *     run's end and its length - 1, varints. A few bytes a run: sequential and clustered sets.
 *  3. bitmap: one bit a page. Never more than total / 8 bytes, whatever the set.
 * All three sizes come from one walk over the set's runs (a run of n pages costs n - 1 zero
 * bytes as indices): set_plan() gives them. The writer's set_put() writes the smallest in one
 * pass over the bitmap where it can: a sample of one word in 16 guesses the set's shape; a
 * sparse set of short runs is written as indices straight away, a chunk of 32 words at a
 * time (its set bits flattened without a branch a bit, then the gaps), counted and its runs'
 * size summed on the way. Else a popcount scan gives the pages and runs; a set so dense that
 * the bitmap must win needs nothing more; a set of short runs is written as indices while the
 * runs' size is summed; a set of long runs is written as runs (a step a run: a word's
 * transitions are x ^ (x << 1)) while the indices' size is summed. Only when that guess
 * loses is the set walked again.
 * Decoding checks every length and index against the record's pages and count, into a
 * bitmap, runs, or (set_decode_list) a list of 32-bit page indices: an indices encoding is
 * then written straight into the list, a page a store (no bit set, nothing to extract again).
 */
#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "trace/int.h"

/* ---- the runs of a set, a word at a time ---- */

/* Set bits of p[0 .. n) (bytes: a bitmap's words, or an encoded bitmap), with the CPU's
 * popcount where it has one. */
#if defined(__x86_64__)
__attribute__((target_clones("popcnt", "default")))
#endif
static uint64_t bytes_weight(const uint8_t *p, size_t n)
{
	uint64_t c = 0, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		c += (uint64_t)__builtin_popcountll(w);
	}
	for (; i < n; i++)
		c += (uint64_t)__builtin_popcount(p[i]);
	return c;
}

/* Maximal runs of a bitmap of nbits pages held as bytes (a bitmap's words, little-endian, or
 * an encoded bitmap): each word's transitions, x ^ (x << 1 | the previous word's top bit), are
 * the runs' starts and ends in turn, taken with ctz. A step per run, none per page. */
struct runs {
	const uint8_t *p;
	uint64_t nbits;
	size_t w, words;
	uint64_t ev;	/* transitions of word w not yet taken */
	uint64_t carry; /* the top bit of word w */
};

static inline void runs_init(struct runs *it, const void *p, uint64_t nbits)
{
	*it = (struct runs){.p = p, .nbits = nbits, .words = bitmap_words(nbits), .w = (size_t)-1};
}

static inline uint64_t runs_word(const struct runs *it, size_t w)
{
	uint64_t x = 0;

	if (w + 1 < it->words) {
		memcpy(&x, it->p + w * 8, 8);
		return x;
	}
	/* the last word: its bytes only, its bits below nbits only */
	memcpy(&x, it->p + w * 8, (size_t)((it->nbits + 7) / 8) - w * 8);
	if (it->nbits % 64)
		x &= (1ULL << (it->nbits % 64)) - 1;
	return x;
}

/* The next transition, or nbits when there is none (a run open then ends at nbits). */
static inline uint64_t runs_event(struct runs *it)
{
	while (!it->ev) {
		if (++it->w >= it->words)
			return it->nbits;
		uint64_t x = runs_word(it, it->w);
		it->ev = x ^ (x << 1 | it->carry);
		it->carry = x >> 63;
	}
	uint64_t at = it->w * 64 + (uint64_t)__builtin_ctzll(it->ev);
	it->ev &= it->ev - 1;
	return at;
}

/* The next run [*s, *e): false after the last. */
static inline bool runs_next(struct runs *it, uint64_t *s, uint64_t *e)
{
	*s = runs_event(it);
	if (*s >= it->nbits)
		return false;
	*e = runs_event(it);
	return true;
}

/* Pages and runs of a bitmap (a run starts at a set bit whose lower neighbour is clear); the
 * last word, masked to nbits, out of the loop. */
#if defined(__x86_64__)
__attribute__((target_clones("popcnt", "default")))
#endif
static void weigh(const uint64_t *bm, uint64_t nbits, uint64_t *count, uint64_t *runs)
{
	uint64_t c = 0, r = 0, carry = 0;
	size_t words = bitmap_words(nbits);

	if (!words) {
		*count = *runs = 0;
		return;
	}
	for (size_t i = 0; i < words - 1; i++) {
		uint64_t x = bm[i];
		c += (uint64_t)__builtin_popcountll(x);
		r += (uint64_t)__builtin_popcountll(x & ~(x << 1 | carry));
		carry = x >> 63;
	}
	uint64_t x = bm[words - 1];
	if (nbits % 64)
		x &= (1ULL << (nbits % 64)) - 1;
	c += (uint64_t)__builtin_popcountll(x);
	r += (uint64_t)__builtin_popcountll(x & ~(x << 1 | carry));
	*count = c;
	*runs = r;
}

void set_plan(const uint64_t *bm, uint64_t nbits, struct set_plan *plan)
{
	uint64_t count, runs, prev_end = 0, s, e;
	size_t idx = 0, run = 0, bitmap = 1 + (size_t)((nbits + 7) / 8);
	struct runs it;

	weigh(bm, nbits, &count, &runs);
	plan->count = count;
	plan->runs = runs;
	plan->size[TRACE_SET_BITMAP] = bitmap;
	for (runs_init(&it, bm, nbits); runs_next(&it, &s, &e);) {
		size_t g = varint_size(s - prev_end);
		idx += g + (size_t)(e - s - 1);
		run += g + varint_size(e - s - 1);
		prev_end = e;
	}
	plan->size[TRACE_SET_INDICES] = 1 + varint_size(count) + idx;
	plan->size[TRACE_SET_RUNS] = 1 + varint_size(runs) + run;
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
	uint64_t prev_end = 0, s, e;
	struct runs it;

	b->p[b->len++] = (uint8_t)plan->best;
	if (plan->best == TRACE_SET_BITMAP) {
		size_t n = (size_t)((nbits + 7) / 8);
		memcpy(b->p + b->len, bm, n);
		b->len += n;
		return;
	}
	put_varint(b, plan->best == TRACE_SET_INDICES ? plan->count : plan->runs);
	for (runs_init(&it, bm, nbits); runs_next(&it, &s, &e);) {
		put_varint(b, s - prev_end);
		if (plan->best == TRACE_SET_RUNS) {
			put_varint(b, e - s - 1);
		} else if (e - s > 1) {
			memset(b->p + b->len, 0, (size_t)(e - s - 1));
			b->len += (size_t)(e - s - 1);
		}
		prev_end = e;
	}
}

/* Write the set as indices or runs (kind) after its kind byte and n (its pages, or runs), and
 * return the size the other of the two would take (without its kind byte and count). */
static size_t walk_put(struct tbuf *b, const uint64_t *bm, uint64_t nbits, int kind, uint64_t n)
{
	uint64_t prev_end = 0, s, e;
	size_t other = 0;
	struct runs it;

	b->p[b->len++] = (uint8_t)kind;
	put_varint(b, n);
	for (runs_init(&it, bm, nbits); runs_next(&it, &s, &e);) {
		uint64_t g = s - prev_end, l = e - s - 1;
		put_varint(b, g);
		if (kind == TRACE_SET_RUNS) {
			put_varint(b, l);
			other += varint_size(g) + (size_t)l;
		} else {
			if (l) {
				memset(b->p + b->len, 0, (size_t)l);
				b->len += (size_t)l;
			}
			other += varint_size(g) + varint_size(l);
		}
		prev_end = e;
	}
	return other;
}

/* ---- the writer's indices, a chunk of the bitmap at a time ---- */

#define CHUNK_WORDS 32 /* words flattened at a time: at most 2048 pages, 16 KiB of positions */

/* The set pages of src[0 .. nw) (page numbers from base), in order, into pos (room for their
 * count + K): per word, K ctz's written whether or not the word has that many bits (no
 * branch on a word's bits: at a few percent dirty, whether a word has any is a coin flip),
 * then the rest. K is 2 for a set under a page a word (a third is rare then), else 4.
 * Returns how many. */
static inline __attribute__((always_inline)) size_t
flatten_k(const uint64_t *src, size_t nw, uint64_t base, uint64_t *pos, const int K)
{
	size_t n = 0;

	for (size_t w = 0; w < nw; w++, base += 64) {
		uint64_t x = src[w];
		size_t c = (size_t)__builtin_popcountll(x);
		/* ctz of x with its top bit set: x's own when x has a bit, 63 (written, not
		 * counted) when it has none */
		uint64_t *o = pos + n;
		for (int k = 0; k < K; k++) {
			o[k] = base + (unsigned)__builtin_ctzll(x | 1ULL << 63);
			x &= x - 1;
		}
		if (__builtin_expect(c > (size_t)K, 0)) {
			for (size_t k = K; k < c; k++) {
				o[k] = base + (unsigned)__builtin_ctzll(x);
				x &= x - 1;
			}
		}
		n += c;
	}
	return n;
}

#if defined(__x86_64__)
__attribute__((target_clones("popcnt", "default")))
#endif
static size_t flatten2(const uint64_t *src, size_t nw, uint64_t base, uint64_t *pos)
{
	return flatten_k(src, nw, base, pos, 2);
}

#if defined(__x86_64__)
__attribute__((target_clones("popcnt", "default")))
#endif
static size_t flatten4(const uint64_t *src, size_t nw, uint64_t base, uint64_t *pos)
{
	return flatten_k(src, nw, base, pos, 4);
}

/* What the indices of a set written so far have said: the last page, the length of the run
 * it ends (0 before the first page), the runs, and what the runs encoding would take beyond
 * a byte a length (runs above 128 pages). */
struct scatter {
	uint64_t prev, len, runs;
	size_t n, extra;
};

/* The gaps of the n pages pos[] appended at p (room for 10 + 2 n + 1 bytes: gaps under 2^14,
 * all but a chunk's first, are written as 2 bytes of which the second counts only when
 * needed); the runs they make followed. Returns the end. */
static inline uint8_t *put_gaps(uint8_t *p, const uint64_t *pos, size_t n, struct scatter *st)
{
	uint64_t prev = st->prev, len = st->len, runs = st->runs;
	size_t extra = st->extra, i = 0;

	if (n && !len) {
		/* the first page: its index */
		prev = pos[i++];
		uint64_t v = prev;
		while (v >= 0x80) {
			*p++ = (uint8_t)(v | 0x80);
			v >>= 7;
		}
		*p++ = (uint8_t)v;
		len = runs = 1;
	}
	for (; i < n; i++) {
		uint64_t gap = pos[i] - prev - 1;
		prev = pos[i];
		if (__builtin_expect(gap < (1u << 14), 1)) {
			size_t two = gap >= 0x80;
			p[0] = (uint8_t)(gap | two << 7);
			p[1] = (uint8_t)(gap >> 7);
			p += 1 + two;
		} else {
			while (gap >= 0x80) {
				*p++ = (uint8_t)(gap | 0x80);
				gap >>= 7;
			}
			*p++ = (uint8_t)gap;
		}
		if (gap) {
			if (__builtin_expect(len > 0x80, 0))
				extra += varint_size(len - 1) - 1;
			len = 0;
			runs++;
		}
		len++;
	}
	st->prev = prev;
	st->len = len;
	st->runs = runs;
	st->extra = extra;
	st->n += n;
	return p;
}

/* The set as indices, a chunk of CHUNK_WORDS words flattened and its gaps written at a time
 * (no pass to count first: the count, needed first, goes in once known, the gaps moved up to
 * it); dense: a page a word or more is likely (4 ctz's a word, else 2). 1 with sizes[] of
 * indices and runs, *n and *runs; 0 as soon as the indices are above limit bytes (nothing
 * kept); -ENOMEM. */
static int put_scattered(struct tbuf *b, const uint64_t *bm, uint64_t nbits, bool dense,
			 size_t limit, size_t sizes[3], uint64_t *n, uint64_t *runs)
{
	uint64_t pos[CHUNK_WORDS * 64 + 4];
	size_t words = bitmap_words(nbits), start = b->len, data;
	struct scatter st = {.prev = (uint64_t)-1};

	if (tbuf_reserve(b, 11))
		return -ENOMEM;
	b->p[b->len] = TRACE_SET_INDICES;
	b->len += 11;
	data = b->len;
	for (size_t w = 0; w < words; w += CHUNK_WORDS) {
		size_t nw = words - w < CHUNK_WORDS ? words - w : CHUNK_WORDS, c;
		const uint64_t *src = bm + w;
		uint64_t tail[CHUNK_WORDS];
		if (w + nw == words && nbits % 64) {
			/* the last word masked to nbits */
			memcpy(tail, src, nw * 8);
			tail[nw - 1] &= (1ULL << (nbits % 64)) - 1;
			src = tail;
		}
		if (tbuf_reserve(b, 10 + 2 * (size_t)nw * 64 + 1))
			return -ENOMEM;
		c = dense ? flatten4(src, nw, (uint64_t)w * 64, pos)
			  : flatten2(src, nw, (uint64_t)w * 64, pos);
		b->len = (size_t)(put_gaps(b->p + b->len, pos, c, &st) - b->p);
		if (b->len - data > limit) {
			b->len = start;
			return 0;
		}
	}
	/* the count before the gaps */
	size_t len = b->len - data, vs = varint_size(st.n);
	memmove(b->p + start + 1 + vs, b->p + data, len);
	b->len = start + 1;
	put_varint(b, st.n);
	b->len += len;
	sizes[TRACE_SET_INDICES] = 1 + vs + len;
	/* as runs: the same gaps before each run, less the zero gaps inside runs, plus a length
	 * a run (a byte, more for runs above 128 pages) */
	if (st.len > 0x80)
		st.extra += varint_size(st.len - 1) - 1;
	sizes[TRACE_SET_RUNS] = 1 + varint_size(st.runs) + len - (st.n - st.runs) + st.runs + st.extra;
	*n = st.n;
	*runs = st.runs;
	return 1;
}

/* Pages and runs of every 16th of the first words - 1 words of bm. */
#if defined(__x86_64__)
__attribute__((target_clones("popcnt", "default")))
#endif
static void sample(const uint64_t *bm, size_t words, uint64_t *sn, uint64_t *sr)
{
	uint64_t n = 0, r = 0;

	for (size_t w = 0; w + 1 < words; w += 16) {
		uint64_t x = bm[w], below = w ? bm[w - 1] >> 63 : 0;
		n += (uint64_t)__builtin_popcountll(x);
		r += (uint64_t)__builtin_popcountll(x & ~(x << 1 | below));
	}
	*sn = n;
	*sr = r;
}

/* The best of the three, ties going to runs, then indices, as set_plan() takes them. */
static int set_best(const size_t sizes[3])
{
	int best = TRACE_SET_RUNS;

	if (sizes[TRACE_SET_INDICES] < sizes[best])
		best = TRACE_SET_INDICES;
	if (sizes[TRACE_SET_BITMAP] < sizes[best])
		best = TRACE_SET_BITMAP;
	return best;
}

int set_put(struct tbuf *b, const uint64_t *bm, uint64_t nbits, uint64_t *count)
{
	uint64_t n, runs, sn, sr;
	size_t sizes[3], vs = varint_size(nbits), words = bitmap_words(nbits), start = b->len;
	int kind;

	sizes[TRACE_SET_BITMAP] = 1 + (size_t)((nbits + 7) / 8);
	/* A guess at the set's shape from a sample of its words (one in 16): scattered pages
	 * (more than a page in 4 starts a run) under half the bitmap's size are written as
	 * indices straight away, counted on the way, the runs encoding's size summed; the
	 * guess costs time only, never bytes. */
	sample(bm, words, &sn, &sr);
	if (sr * 4 > sn && sn * 16 < sizes[TRACE_SET_BITMAP] / 2) {
		int got = put_scattered(b, bm, nbits, sn * 16 >= words, sizes[TRACE_SET_BITMAP],
					sizes, &n, &runs);
		if (got < 0)
			return got;
		if (got) {
			*count = n;
			kind = set_best(sizes);
			if (kind == TRACE_SET_INDICES)
				return 0;
			b->len = start;
			goto rewrite;
		}
	}
	weigh(bm, nbits, &n, &runs);
	*count = n;
	/* A page costs at least a byte as an index, a run two: when both floors are above the
	 * bitmap's size, it is the bitmap, without a walk over the runs. Else the encoding the
	 * set's shape makes likelier, the other's size summed on the way. */
	kind = n >= sizes[TRACE_SET_BITMAP] && 2 * runs >= sizes[TRACE_SET_BITMAP]
		       ? TRACE_SET_BITMAP
	       : runs * 4 > n ? TRACE_SET_INDICES
			      : TRACE_SET_RUNS;
	if (kind != TRACE_SET_BITMAP) {
		int other = kind == TRACE_SET_INDICES ? TRACE_SET_RUNS : TRACE_SET_INDICES;
		if (tbuf_reserve(b, 11 + (kind == TRACE_SET_RUNS ? runs * 2 * vs
								  : runs * vs + (n - runs) + 1)))
			return -ENOMEM;
		sizes[other] = 1 + varint_size(kind == TRACE_SET_RUNS ? n : runs) +
			       walk_put(b, bm, nbits, kind, kind == TRACE_SET_RUNS ? runs : n);
		sizes[kind] = b->len - start;
		int best = set_best(sizes);
		if (best == kind)
			return 0;
		b->len = start;
		kind = best;
	}
rewrite:
	if (kind != TRACE_SET_BITMAP) {
		if (tbuf_reserve(b, sizes[kind]))
			return -ENOMEM;
		walk_put(b, bm, nbits, kind, kind == TRACE_SET_INDICES ? n : runs);
		return 0;
	}
	if (tbuf_reserve(b, sizes[TRACE_SET_BITMAP]))
		return -ENOMEM;
	b->p[b->len++] = TRACE_SET_BITMAP;
	memcpy(b->p + b->len, bm, sizes[TRACE_SET_BITMAP] - 1);
	b->len += sizes[TRACE_SET_BITMAP] - 1;
	return 0;
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

/* Where decoded runs go: into a bitmap, or appended to runs (consecutive pages of the
 * indices encoding merged). The runs' sink keeps its last run in registers (start, len), and
 * whether a page starts a run is known from its gap, not from a test on the last run. */
struct run_sink {
	uint64_t *bm;		/* into a bitmap, or */
	uint32_t *list;		/* into a list of page indices (indices encoding only), or */
	struct trace_run **runs; /* appended to runs */
	size_t *nr, *cap;
};

struct runs_out {
	struct trace_run *r;
	size_t nr, cap;
	uint64_t s, l; /* the last run, when nr > 0 */
};

/* Room for more runs after nr in *k->runs (grown by doubling). */
static __attribute__((noinline)) int runs_grow(struct run_sink *k, size_t nr, size_t more)
{
	size_t cap = *k->cap ? *k->cap : 64;

	while (cap - nr < more)
		cap *= 2;
	struct trace_run *r = realloc(*k->runs, cap * sizeof(*r));
	if (!r)
		return dpt_fail(-ENOMEM, "trace: out of memory");
	*k->runs = r;
	*k->cap = cap;
	return 0;
}

/* (o's address is never taken, its fields stay in registers.) */
static inline int runs_room(struct run_sink *k, struct runs_out *o, size_t more)
{
	if (__builtin_expect(o->cap - o->nr >= more, 1))
		return 0;
	int err = runs_grow(k, o->nr, more);
	o->r = *k->runs;
	o->cap = *k->cap;
	return err;
}

static inline void runs_open(const struct run_sink *k, struct runs_out *o)
{
	o->r = *k->runs;
	o->nr = *k->nr;
	o->cap = *k->cap;
	o->s = o->nr ? o->r[o->nr - 1].start : 0;
	o->l = o->nr ? o->r[o->nr - 1].len : 0;
}

static inline void runs_close(struct run_sink *k, const struct runs_out *o)
{
	*k->nr = o->nr;
}

/* Page pos after a gap (fresh: not 0; room made), not the first page: a run of its own or
 * the last run one page longer. A branch: a set sparse enough to be written as indices has
 * few zero gaps (at 5 % dirty, 1 in 20), so it is rarely mispredicted. */
static inline void runs_gap(struct runs_out *o, uint64_t pos, bool fresh)
{
	if (fresh) {
		o->s = pos;
		o->l = 1;
		o->r[o->nr++] = (struct trace_run){pos, 1};
	} else {
		o->r[o->nr - 1].len = ++o->l;
	}
}

/* Page pos, whatever came before (the first page: runs may hold some already). */
static inline void runs_page(struct runs_out *o, uint64_t pos)
{
	runs_gap(o, pos, !o->nr || pos != o->s + o->l);
}

/* A maximal run after the last one (room made). */
static inline void runs_run(struct runs_out *o, uint64_t start, uint64_t len)
{
	if (o->nr && start == o->s + o->l) {
		o->l += len;
		o->r[o->nr - 1].len = o->l;
		return;
	}
	o->s = start;
	o->l = len;
	o->r[o->nr++] = (struct trace_run){start, len};
}

static int bad(const char *what)
{
	return dpt_fail(-EBADMSG, "malformed page set: %s", what);
}

/* The sum of the 8 bytes of w, each below 128: pairs in 16-bit lanes (at most 254 each),
 * then the lanes added by a multiply into the top lane (at most 1016). */
static inline uint64_t gaps_sum8(uint64_t w)
{
	uint64_t pairs = (w & 0x00ff00ff00ff00ffULL) + (w >> 8 & 0x00ff00ff00ff00ffULL);

	return (pairs * 0x0001000100010001ULL) >> 48;
}

#define HI8 0x8080808080808080ULL

/*
 * The n gaps of an indices encoding at c (count read), into a bitmap (to_bm) or runs. 8 gaps
 * of one byte each (a set of a few percent), or 4 of 1 or 2 bytes (a sparser one: 1 % dirty
 * has a gap of 2 bytes in 4), are checked against the bitmap's end at once, by their sum,
 * before any is set; else a gap of 1 or 2 bytes is read without a branch on which, a longer
 * one as any varint. Every page is checked below nbits before it is set.
 */
static inline __attribute__((always_inline)) int
decode_indices(struct tcur *c, uint64_t n, uint64_t nbits, struct run_sink *k, const bool to_bm,
	       const bool to_list)
{
	uint64_t pos = 0, i = 0, *bm = k->bm;
	uint32_t *list = k->list;
	struct runs_out o = {0};
	int err = 0;

	if (!to_bm && !to_list)
		runs_open(k, &o);
	while (i < n) {
		uint64_t w, gap;
		if (!to_bm && !to_list && (err = runs_room(k, &o, 8)))
			break;
		if (n - i >= 8 && c->end - c->p >= 8) {
			memcpy(&w, c->p, 8);
			uint64_t cont = w & HI8;
			if (!cont) {
				/* 8 gaps of a byte: one bounds check for all */
				if (gaps_sum8(w) + 8 > nbits - pos) {
					err = bad("page past the last page");
					break;
				}
				for (int b = 0; b < 8; b++, w >>= 8) {
					pos += w & 0xff;
					if (to_list)
						list[i + b] = (uint32_t)pos;
					else if (to_bm)
						bitmap_set(bm, pos);
					else if (i || b)
						runs_gap(&o, pos, (w & 0xff) != 0);
					else
						runs_page(&o, pos);
					pos++;
				}
				c->p += 8;
				i += 8;
				continue;
			}
			if (!(cont & cont << 8)) {
				/* 4 gaps of 1 or 2 bytes (8 bytes hold them): each one's length
				 * from its first byte's top bit, the next one's place a shift of
				 * the word (no load in the chain from one gap to the next); their
				 * sum checked against the bitmap's end before any is set */
				uint64_t g[4], x = w, adv = 0;
#pragma GCC unroll 4
				for (int j = 0; j < 4; j++) {
					uint64_t two = x >> 7 & 1;
					g[j] = (x & 0x7f) | (x >> 1 & 0x3f80 & (0 - two));
					adv += 1 + two;
					x = two ? x >> 16 : x >> 8;
				}
				if (g[0] + g[1] + g[2] + g[3] + 4 > nbits - pos) {
					err = bad("page past the last page");
					break;
				}
				c->p += adv;
#pragma GCC unroll 4
				for (int j = 0; j < 4; j++) {
					pos += g[j];
					if (to_list)
						list[i + j] = (uint32_t)pos;
					else if (to_bm)
						bitmap_set(bm, pos);
					else if (i || j)
						runs_gap(&o, pos, g[j] != 0);
					else
						runs_page(&o, pos);
					pos++;
				}
				i += 4;
				continue;
			}
		}
		/* one gap: of 1 or 2 bytes without a branch on which */
		if (c->end - c->p >= 2 && !(c->p[0] & c->p[1] & 0x80)) {
			uint64_t two = c->p[0] >> 7;
			gap = (c->p[0] & 0x7fu) | (uint64_t)(c->p[1] & (0u - two)) << 7;
			c->p += 1 + two;
		} else if (get_varint(c, &gap)) {
			err = bad("truncated");
			break;
		}
		if (gap >= nbits - pos) {
			err = bad("page past the last page");
			break;
		}
		pos += gap;
		if (to_list)
			list[i] = (uint32_t)pos;
		else if (to_bm)
			bitmap_set(bm, pos);
		else if (i)
			runs_gap(&o, pos, gap != 0);
		else
			runs_page(&o, pos);
		pos++;
		i++;
	}
	if (!to_bm && !to_list)
		runs_close(k, &o);
	return err;
}

/* The n runs of a runs encoding at c (count read). */
static inline __attribute__((always_inline)) int
decode_runs(struct tcur *c, uint64_t n, uint64_t nbits, uint64_t *seen, struct run_sink *k,
	    const bool to_bm)
{
	uint64_t pos = 0, total = 0;
	struct runs_out o = {0};
	int err = 0;

	if (!to_bm)
		runs_open(k, &o);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t gap, l;
		if (get_varint(c, &gap) || get_varint(c, &l)) {
			err = bad("truncated");
			break;
		}
		if (gap > nbits - pos || (i && !gap) || l >= nbits - pos - gap) {
			err = bad("run past the last page");
			break;
		}
		pos += gap;
		if (to_bm) {
			if (l)
				bitmap_set_range(k->bm, pos, l + 1);
			else
				bitmap_set(k->bm, pos);
		} else {
			if ((err = runs_room(k, &o, 1)))
				break;
			runs_run(&o, pos, l + 1);
		}
		pos += l + 1;
		total += l + 1;
	}
	if (!to_bm)
		runs_close(k, &o);
	*seen = total;
	return err;
}

/* The runs of a bitmap encoding (checked) into runs: each word's transitions, a start and an
 * end in turn. */
static int bitmap_runs(const uint8_t *bytes, uint64_t nbits, struct run_sink *k)
{
	struct runs_out o;
	struct runs it;
	uint64_t s, e;
	int err = 0;

	runs_open(k, &o);
	for (runs_init(&it, bytes, nbits); runs_next(&it, &s, &e);) {
		if ((err = runs_room(k, &o, 1)))
			break;
		runs_run(&o, s, e - s);
	}
	runs_close(k, &o);
	return err;
}

static inline __attribute__((always_inline)) int
decode(const uint8_t *p, size_t len, uint64_t nbits, uint64_t count, struct run_sink *k,
       const bool to_bm, const bool to_list)
{
	struct tcur c = {p + 1, p + len};
	uint64_t n, seen = 0;
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
		if (bytes_weight(bytes, len - 1) != count)
			return bad("page count differs from the record's");
		if (to_bm) {
			memcpy(k->bm, bytes, len - 1);
			return 0;
		}
		return bitmap_runs(bytes, nbits, k);
	}
	case TRACE_SET_RUNS:
		if (get_varint(&c, &n))
			return bad("truncated");
		if (n > count || n > (uint64_t)(c.end - c.p) / 2)
			return bad("more runs than pages or bytes");
		if ((err = decode_runs(&c, n, nbits, &seen, k, to_bm)))
			return err;
		break;
	case TRACE_SET_INDICES:
		if (get_varint(&c, &n))
			return bad("truncated");
		if (n != count)
			return bad("page count differs from the record's");
		if (n > (uint64_t)(c.end - c.p))
			return bad("more pages than bytes");
		if ((err = decode_indices(&c, n, nbits, k, to_bm, to_list)))
			return err;
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

	return decode(p, len, nbits, count, &k, true, false);
}

int set_decode_runs(const uint8_t *p, size_t len, uint64_t nbits, uint64_t count,
		    struct trace_run **runs, size_t *nr, size_t *cap)
{
	struct run_sink k = {.runs = runs, .nr = nr, .cap = cap};

	return decode(p, len, nbits, count, &k, false, false);
}

int set_decode_list(const uint8_t *p, size_t len, uint64_t nbits, uint64_t count,
		    uint32_t *list, struct trace_run **runs, size_t *nr, size_t *cap)
{
	int err;

	if (nbits > (1ULL << 32))
		return dpt_fail(-EOVERFLOW, "page set: %llu pages, too many for 32-bit indices",
				(unsigned long long)nbits);
	if (len && p[0] == TRACE_SET_INDICES) {
		struct run_sink k = {.list = list};
		return decode(p, len, nbits, count, &k, false, true);
	}
	/* runs or a bitmap: checked and merged into runs (their pages add up to count) */
	*nr = 0;
	if ((err = set_decode_runs(p, len, nbits, count, runs, nr, cap)))
		return err;
	for (size_t i = 0, o = 0; i < *nr; i++)
		for (uint64_t q = 0; q < (*runs)[i].len; q++)
			list[o++] = (uint32_t)((*runs)[i].start + q);
	return 0;
}
