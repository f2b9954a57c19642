/* trace-fuzz.c - the trace reader against hostile files: a structure-aware random mutator.
 *
 * No libFuzzer needed: each input is one of a few small valid traces (written with
 * trace_writer_*: every record type, field and set encoding, zstd levels 0, 1 and 3, with and
 * without a footer) under 1 to 4 stacked mutations:
 *  - records (the trace parsed into frames and payloads, then framed again with right
 *    CRC-32Cs, so the parsers behind the checksum are reached): a varint anywhere in a field
 *    rewritten (huge lengths, counts, page totals), a field dropped, duplicated, retagged or
 *    given a lying length, a set replaced by a crafted one (with its count made to agree, or
 *    not), payload bytes changed; records dropped, duplicated, swapped, retyped, spliced from
 *    another trace; frames with lying lengths, flags, CRCs, or a zstd frame declaring another
 *    content size;
 *  - changes that keep the trace valid (the reader must then read it all, as before): another
 *    zstd level or none, fields reordered, unknown fields and record types added, a set
 *    re-encoded in another kind, a later minor version;
 *  - bytes of the whole file: bit flips, byte sets, truncation, insertion, deletion,
 *    duplication of a range, a range of another trace spliced in.
 * Every input is read from memory and, one in eight, from a file: open, every record, the
 * bitmap and runs of every set, rewind, all again. Checked: no crash (and under make sanitize
 * no ASan or UBSan report), bounded work (at most one record per 20 bytes; an alarm for
 * hangs), no allocation above 32 MiB (the reader's mallocs are seen through --wrap: nothing
 * sized from a declared length), sets that agree with their counts and between bitmap and
 * runs, the same answers after a rewind and from the file, and a one-line reason for every
 * error. One input in 16 also fails one of the reader's allocations on purpose; one in 8 reads
 * under lowered reader limits. After the passes, seeks by time and a time window
 * (trace_reader_seek(), trace_window_dirty()): where the passes read the whole trace in time
 * order, each seek must land on the interval they say, whatever the footer's index claims. Before the random inputs: every allocation of reading each seed
 * failed in turn, and records declaring 200 MiB in a few bytes.
 *
 *	trace-fuzz              DPT_FUZZ_ITERS inputs (default 10000, a few seconds), or as
 *	                        many as DPT_FUZZ_SECONDS allow (e.g. 600 for a long run);
 *	                        DPT_FUZZ_SEED (default 1): the same seed, the same inputs;
 *	                        DPT_FUZZ_FIRST: start at this input (to replay one)
 *	trace-fuzz FILE...      read these files as inputs (e.g. a failing input, kept)
 * The input being read is also in $TMPDIR/dpt-fuzz-PID.dpt: after a crash, that file is it.
 * Other failing inputs are saved as $TMPDIR/dpt-fuzz-SEED-ITER.dpt.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/trace.h"
#include "../test.h"
#include "trace/int.h"

#define ALLOC_LIMIT   (32u << 20) /* no single allocation above this, whatever the input */
#define BITMAP_PAGES  (1u << 24)  /* ask for bitmaps of sets up to this many pages */
#define MAX_FIELDS    64
#define ALARM_SECONDS 20

/* ---- the reader's allocations, seen through ld --wrap ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);

static struct {
	bool armed;   /* count (and fail) allocations now */
	size_t max;   /* the largest seen while armed */
	long fail_at; /* fail the allocation with this number (-1: none) */
	long count;
	bool failed; /* one was failed */
} al = {.fail_at = -1};

static bool alloc_ok(size_t n)
{
	if (!al.armed)
		return true;
	if (n > al.max)
		al.max = n;
	if (al.count++ == al.fail_at) {
		al.failed = true;
		return false;
	}
	return true;
}

void *__wrap_malloc(size_t n)
{
	return alloc_ok(n) ? __real_malloc(n) : NULL;
}

void *__wrap_calloc(size_t n, size_t size)
{
	return alloc_ok(n * size) ? __real_calloc(n, size) : NULL;
}

void *__wrap_realloc(void *p, size_t n)
{
	return alloc_ok(n) ? __real_realloc(p, n) : NULL;
}

/* ---- randomness: one stream per input, from (seed, iteration) ---- */

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void rng_seed(uint64_t seed, uint64_t iter)
{
	uint64_t z = seed * 0x9E3779B97F4A7C15ULL + iter + 1;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	rng = (z ^ (z >> 31)) | 1;
}

/* clang-format off */
static const uint64_t interesting[] = {
	0, 1, 2, 7, 8, 63, 64, 65, 127, 128, 255, 256, 4095, 4096, 65535, 65536, 1u << 20,
	1u << 24, (256u << 20) - 1, 256u << 20, (256u << 20) + 1, UINT32_MAX - 1, UINT32_MAX,
	1ULL << 32, (1ULL << 32) + 1, 1ULL << 40, INT64_MAX, 1ULL << 63, UINT64_MAX - 1,
	UINT64_MAX,
};
/* clang-format on */

static uint64_t pick_value(uint64_t old)
{
	switch (below(4)) {
	case 0:
		return old + 1;
	case 1:
		return old ? old - 1 : UINT64_MAX;
	case 2:
		return below(300);
	default:
		return interesting[below(sizeof(interesting) / sizeof(interesting[0]))];
	}
}

/* ---- a trace as frames and decompressed payloads ---- */

struct frec {
	uint8_t type;
	int level;	 /* zstd level when framed; 0: stored */
	struct tbuf raw; /* the payload, decompressed */
	int lie;	 /* a lie in its frame (enum lie), 0 none */
	uint64_t lie_val;
};

struct ftrace {
	uint8_t prefix[TRACE_PREFIX_SIZE];
	struct frec *rec;
	size_t n, cap;
	bool trailer;
	uint64_t trailer_at; /* 0: the footer's offset */
};

enum lie {
	LIE_NONE,
	LIE_CRC,
	LIE_RAW,
	LIE_STORED,
	LIE_FLAGS,
	LIE_RESERVED,
	LIE_ZSTD_FLAG,
	LIE_ZSTD_SIZE,
	NR_LIES
};

static int tbuf_put(struct tbuf *b, const void *p, size_t n)
{
	if (tbuf_reserve(b, n))
		return -ENOMEM;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static void tbuf_varint(struct tbuf *b, uint64_t v)
{
	tbuf_reserve(b, 10);
	put_varint(b, v);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static struct frec *ftrace_add(struct ftrace *t, size_t at)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->rec = realloc(t->rec, t->cap * sizeof(*t->rec));
	}
	memmove(t->rec + at + 1, t->rec + at, (t->n - at) * sizeof(*t->rec));
	t->n++;
	memset(&t->rec[at], 0, sizeof(t->rec[at]));
	return &t->rec[at];
}

static void ftrace_free(struct ftrace *t)
{
	for (size_t i = 0; i < t->n; i++)
		tbuf_free(&t->rec[i].raw);
	free(t->rec);
	memset(t, 0, sizeof(*t));
}

static void ftrace_copy(struct ftrace *dst, const struct ftrace *src)
{
	*dst = *src;
	dst->rec = malloc(src->cap * sizeof(*dst->rec));
	for (size_t i = 0; i < src->n; i++) {
		dst->rec[i] = src->rec[i];
		memset(&dst->rec[i].raw, 0, sizeof(struct tbuf));
		tbuf_put(&dst->rec[i].raw, src->rec[i].raw.p, src->rec[i].raw.len);
	}
}

/* Parse a valid trace (a seed) into frames and payloads. */
static int ftrace_parse(const uint8_t *p, size_t len, struct ftrace *t)
{
	size_t off = TRACE_PREFIX_SIZE;

	memset(t, 0, sizeof(*t));
	memcpy(t->prefix, p, TRACE_PREFIX_SIZE);
	while (off + TRACE_FRAME_SIZE + TRACE_CRC_SIZE <= len) {
		const uint8_t *h = p + off;
		uint32_t stored = rd32(h + 8), raw = rd32(h + 12);
		struct frec *r = ftrace_add(t, t->n);
		r->type = h[4];
		r->level = h[5] & TRACE_FRAME_ZSTD ? 1 : 0;
		tbuf_reserve(&r->raw, raw ? raw : 1);
		if (r->level) {
			if (ZSTD_decompress(r->raw.p, raw, h + TRACE_FRAME_SIZE, stored) != raw)
				return -1;
		} else {
			memcpy(r->raw.p, h + TRACE_FRAME_SIZE, raw);
		}
		r->raw.len = raw;
		off += TRACE_FRAME_SIZE + stored + TRACE_CRC_SIZE;
		if (r->type == TRACE_REC_FOOTER) {
			t->trailer = len - off == TRACE_TRAILER_SIZE;
			break;
		}
	}
	return 0;
}

/* A zstd frame of src with its content size field rewritten to say size (single segment, so
 * its window is that size too). */
static void zstd_lie(struct tbuf *out, const uint8_t *src, size_t n, uint64_t size)
{
	static const size_t dict_size[] = {0, 1, 2, 4};
	uint8_t fhd = src[4], single = fhd >> 5 & 1, fcs = fhd >> 6;
	size_t fcs_size = fcs == 0 ? single : fcs == 1 ? 2 : fcs == 2 ? 4 : 8;
	size_t hdr = 5 + !single + dict_size[fhd & 3] + fcs_size;
	uint8_t head[13];

	memcpy(head, src, 4);
	head[4] = (uint8_t)(3 << 6 | 1 << 5 | (fhd & 4));
	for (int i = 0; i < 8; i++)
		head[5 + i] = (uint8_t)(size >> (8 * i));
	tbuf_put(out, head, sizeof(head));
	if (hdr < n)
		tbuf_put(out, src + hdr, n - hdr);
}

/* zstd at this level; LEVEL_SMALL_WINDOW: a 1 KiB window, so that frames of more than 1 KiB
 * are not single-segment and carry a window descriptor. */
#define LEVEL_SMALL_WINDOW 100

static size_t compress(uint8_t *dst, size_t cap, const struct tbuf *src, int level)
{
	static ZSTD_CCtx *cctx;

	if (level != LEVEL_SMALL_WINDOW)
		return ZSTD_compress(dst, cap, src->p, src->len, level);
	if (!cctx && !(cctx = ZSTD_createCCtx()))
		return (size_t)-1;
	ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, 10);
	return ZSTD_compress2(cctx, dst, cap, src->p, src->len);
}

/* Frame one record into out, with its lie. */
static void frame_rec(struct tbuf *out, const struct frec *r)
{
	size_t start = out->len, bound = ZSTD_compressBound(r->raw.len);
	uint8_t hdr[TRACE_FRAME_SIZE] = "DPTR";
	struct tbuf z = {0};
	const uint8_t *payload = r->raw.p;
	size_t stored = r->raw.len;
	uint64_t raw = r->raw.len;

	hdr[4] = r->type;
	if (r->level) {
		tbuf_reserve(&z, bound);
		size_t n = compress(z.p, bound, &r->raw, r->level);
		if (!ZSTD_isError(n)) {
			z.len = n;
			hdr[5] = TRACE_FRAME_ZSTD;
		}
		if (r->lie == LIE_ZSTD_SIZE && !ZSTD_isError(n) && n > 5) {
			struct tbuf l = {0};
			zstd_lie(&l, z.p, z.len, r->lie_val);
			tbuf_free(&z);
			z = l;
			raw = r->lie_val;
		}
		payload = z.p;
		stored = z.len;
	}
	if (r->lie == LIE_RAW)
		raw = r->lie_val;
	if (r->lie == LIE_FLAGS)
		hdr[5] ^= (uint8_t)(1 + below(255));
	if (r->lie == LIE_RESERVED)
		hdr[6 + below(2)] = (uint8_t)(1 + below(255));
	if (r->lie == LIE_ZSTD_FLAG)
		hdr[5] ^= TRACE_FRAME_ZSTD;
	wr32(hdr + 8, r->lie == LIE_STORED ? (uint32_t)r->lie_val : (uint32_t)stored);
	wr32(hdr + 12, (uint32_t)raw);
	tbuf_put(out, hdr, sizeof(hdr));
	tbuf_put(out, payload, stored);
	uint8_t crc[4];
	wr32(crc, trace_crc32c(0, out->p + start, TRACE_FRAME_SIZE + stored) ^
		      (r->lie == LIE_CRC ? 1u << below(32) : 0));
	tbuf_put(out, crc, 4);
	tbuf_free(&z);
}

static void ftrace_build(const struct ftrace *t, struct tbuf *out)
{
	uint64_t footer = 0;

	out->len = 0;
	tbuf_put(out, t->prefix, TRACE_PREFIX_SIZE);
	for (size_t i = 0; i < t->n; i++) {
		if (t->rec[i].type == TRACE_REC_FOOTER)
			footer = out->len;
		frame_rec(out, &t->rec[i]);
	}
	if (t->trailer) {
		uint8_t tr[TRACE_TRAILER_SIZE];
		uint64_t at = t->trailer_at ? t->trailer_at : footer;
		for (int i = 0; i < 8; i++)
			tr[i] = (uint8_t)(at >> (8 * i));
		memcpy(tr + 8, TRACE_TRAILER_MAGIC, 8);
		tbuf_put(out, tr, sizeof(tr));
	}
}

/* ---- fields of a payload ---- */

struct field {
	uint64_t tag;
	struct tbuf v;
	bool lie; /* write len_lie as its length */
	uint64_t len_lie;
};

struct fields {
	size_t n;
	struct field f[MAX_FIELDS];
	struct tbuf rest; /* bytes that do not parse as fields */
};

static void fields_parse(const struct tbuf *raw, struct fields *fs)
{
	struct tcur c = {raw->p, raw->p + raw->len};

	memset(fs, 0, sizeof(*fs));
	while (c.p < c.end && fs->n < MAX_FIELDS) {
		const uint8_t *at = c.p;
		uint64_t tag, len;
		if (get_varint(&c, &tag) || get_varint(&c, &len) || len > (uint64_t)(c.end - c.p)) {
			c.p = at;
			break;
		}
		struct field *f = &fs->f[fs->n++];
		f->tag = tag;
		tbuf_put(&f->v, c.p, len);
		c.p += len;
	}
	tbuf_put(&fs->rest, c.p, (size_t)(c.end - c.p));
}

static void fields_build(struct fields *fs, struct tbuf *raw)
{
	raw->len = 0;
	for (size_t i = 0; i < fs->n; i++) {
		struct field *f = &fs->f[i];
		tbuf_varint(raw, f->tag);
		tbuf_varint(raw, f->lie ? f->len_lie : f->v.len);
		tbuf_put(raw, f->v.p, f->v.len);
	}
	tbuf_put(raw, fs->rest.p, fs->rest.len);
}

static void fields_free(struct fields *fs)
{
	for (size_t i = 0; i < fs->n; i++)
		tbuf_free(&fs->f[i].v);
	tbuf_free(&fs->rest);
}

static struct field *field_find(struct fields *fs, uint64_t tag)
{
	for (size_t i = 0; i < fs->n; i++)
		if (fs->f[i].tag == tag)
			return &fs->f[i];
	return NULL;
}

static uint64_t field_uint_or(struct fields *fs, uint64_t tag, uint64_t def)
{
	struct field *f = field_find(fs, tag);
	struct tcur c;
	uint64_t v;

	if (!f)
		return def;
	c = (struct tcur){f->v.p, f->v.p + f->v.len};
	return get_varint(&c, &v) ? def : v;
}

static void field_set_uint(struct fields *fs, uint64_t tag, uint64_t v)
{
	struct field *f = field_find(fs, tag);

	if (!f)
		return;
	f->v.len = 0;
	tbuf_varint(&f->v, v);
}

/* ---- byte mutations, of a payload, a value or the whole file ---- */

static void mutate_bytes(struct tbuf *b, const struct tbuf *other)
{
	size_t at = below(b->len + 1), n = 1 + below(below(4) ? 8 : 256);

	switch (below(7)) {
	case 0: /* flip a bit */
		if (b->len)
			b->p[below(b->len)] ^= (uint8_t)(1u << below(8));
		break;
	case 1: /* set a byte */
		if (b->len)
			b->p[below(b->len)] = (uint8_t)(below(2) ? rnd() : interesting[below(12)]);
		break;
	case 2: /* truncate */
		b->len = below(b->len + 1);
		break;
	case 3: /* insert random bytes */
		tbuf_reserve(b, n);
		memmove(b->p + at + n, b->p + at, b->len - at);
		for (size_t i = 0; i < n; i++)
			b->p[at + i] = (uint8_t)rnd();
		b->len += n;
		break;
	case 4: /* delete a range */
		if (!b->len)
			break;
		n = at + n > b->len ? b->len - at : n;
		memmove(b->p + at, b->p + at + n, b->len - at - n);
		b->len -= n;
		break;
	case 5: { /* duplicate a range */
		if (!b->len)
			break;
		size_t from = below(b->len);
		n = from + n > b->len ? b->len - from : n;
		tbuf_reserve(b, n);
		memmove(b->p + at + n, b->p + at, b->len - at);
		memmove(b->p + at, b->p + (from < at ? from : from + n), n);
		b->len += n;
		break;
	}
	default: /* splice a range of another buffer */
		if (!other || !other->len)
			break;
		size_t from = below(other->len);
		n = from + n > other->len ? other->len - from : n;
		tbuf_reserve(b, n);
		memmove(b->p + at + n, b->p + at, b->len - at);
		memcpy(b->p + at, other->p + from, n);
		b->len += n;
		break;
	}
}

/* Rewrite one varint of b (at a varint boundary as a greedy parse sees them). */
static void rewrite_varint(struct tbuf *b)
{
	size_t starts[256], ns = 0, i = 0;

	while (i < b->len && ns < 256) {
		starts[ns++] = i;
		while (i < b->len && (b->p[i] & 0x80))
			i++;
		i++;
	}
	if (!ns) {
		tbuf_varint(b, pick_value(0));
		return;
	}
	size_t k = below(ns), s = starts[k], e = k + 1 < ns ? starts[k + 1] : b->len;
	struct tcur c = {b->p + s, b->p + e};
	uint64_t old = 0;
	get_varint(&c, &old);
	uint8_t tmp[10];
	struct tbuf t = {tmp, 0, sizeof(tmp)};
	put_varint(&t, pick_value(old));
	tbuf_reserve(b, t.len);
	memmove(b->p + s + t.len, b->p + e, b->len - e);
	memcpy(b->p + s, tmp, t.len);
	b->len = b->len - (e - s) + t.len;
}

/* ---- sets: the tags that hold one, and their counts ---- */

static bool set_tags(uint8_t type, uint64_t tag, uint64_t *count_tag, uint64_t *total_tag)
{
	if (type == TRACE_REC_INTERVAL && (tag == IF_SET || tag == IF_DISCARDED_SET)) {
		*count_tag = tag == IF_SET ? IF_DIRTY : IF_DISCARDED;
		*total_tag = IF_TOTAL;
		return true;
	}
	if (type == TRACE_REC_NONZERO && tag == ZF_SET) {
		*count_tag = ZF_COUNT;
		*total_tag = ZF_TOTAL;
		return true;
	}
	return false;
}

/* A crafted set for nbits pages: a kind byte and fields as varints, often wrong. *count
 * gets the pages it claims. */
static void craft_set(struct tbuf *v, uint64_t nbits, uint64_t *count)
{
	uint64_t n = below(3) ? below(40) : pick_value(nbits), kind = below(8);

	v->len = 0;
	*count = 0;
	tbuf_varint(v, kind < 7 ? kind % 3 : below(256));
	if (kind % 3 == TRACE_SET_BITMAP && kind < 7) {
		size_t bytes = (size_t)((nbits + 7) / 8);
		if (bytes > (1u << 20) || !below(8))
			bytes = below(64);
		tbuf_reserve(v, bytes);
		for (size_t i = 0; i < bytes; i++) {
			uint8_t x = (uint8_t)(below(2) ? rnd() : 0);
			v->p[v->len++] = x;
			*count += (uint64_t)__builtin_popcount(x);
		}
		return;
	}
	tbuf_varint(v, n);
	for (uint64_t i = 0; i < n && i < 64; i++) {
		uint64_t gap = below(4) ? below(nbits / 8 + 2) : pick_value(nbits);
		tbuf_varint(v, gap);
		if (kind % 3 == TRACE_SET_RUNS) {
			uint64_t len = below(4) ? below(16) : pick_value(nbits);
			tbuf_varint(v, len);
			*count += len + 1;
		} else {
			*count += 1;
		}
	}
}

/* The same set in another encoding (keeps the trace valid). */
static bool reencode_set(struct tbuf *v, uint64_t nbits, uint64_t count)
{
	if (nbits > (1u << 22))
		return false;
	uint64_t *bm = calloc(bitmap_words(nbits) + 1, 8);
	struct set_plan plan;
	bool ok = !set_decode_bitmap(v->p, v->len, nbits, count, bm);

	dpt_clear_error();
	if (ok) {
		set_plan(bm, nbits, &plan);
		plan.best = (int)below(3);
		v->len = 0;
		tbuf_reserve(v, plan.size[plan.best]);
		set_encode(v, bm, nbits, &plan);
	}
	free(bm);
	return ok;
}

/* ---- mutations of a parsed trace ---- */

struct input {
	struct ftrace t;
	const struct ftrace *other; /* another seed, for splicing */
	bool valid;		    /* only changes that keep a trace valid so far */
};

/* A record: mostly not the header (index 0). */
static size_t pick_rec(const struct ftrace *t)
{
	return t->n > 1 && below(8) ? 1 + below(t->n - 1) : 0;
}

/* Changes that keep the trace valid. */
static void mutate_valid(struct input *in)
{
	struct ftrace *t = &in->t;
	size_t i = pick_rec(t);
	struct frec *r = &t->rec[i];
	struct fields fs;

	switch (below(6)) {
	case 0: { /* another zstd level, or none */
		static const int levels[] = {0, 1, 3, 9, -5, LEVEL_SMALL_WINDOW};
		r->level = levels[below(6)];
		return;
	}
	case 1: /* a later minor version */
		t->prefix[10] = (uint8_t)(1 + below(255));
		return;
	case 2: { /* a record of a type this version does not know, before the footer */
		size_t at = 1 + below(t->n - (t->rec[t->n - 1].type == TRACE_REC_FOOTER));
		struct frec *u = ftrace_add(t, at);
		u->type = (uint8_t)(8 + below(248));
		u->level = (int)below(2);
		for (unsigned k = below(40); k; k--)
			tbuf_varint(&u->raw, rnd() & 0xff);
		return;
	}
	default:
		break;
	}
	if (r->type == TRACE_REC_FOOTER)
		return;
	fields_parse(&r->raw, &fs);
	switch (below(3)) {
	case 0: /* fields in another order */
		for (size_t k = fs.n; k > 1; k--) {
			size_t j = below(k);
			struct field f = fs.f[k - 1];
			fs.f[k - 1] = fs.f[j];
			fs.f[j] = f;
		}
		break;
	case 1: /* an unknown field */
		if (fs.n < MAX_FIELDS) {
			struct field *f = &fs.f[fs.n++];
			memset(f, 0, sizeof(*f));
			f->tag = 20 + below(1000);
			for (unsigned k = below(30); k; k--)
				tbuf_varint(&f->v, rnd() & 0xffff);
		}
		break;
	default: /* a set in another encoding */
		for (size_t k = 0; k < fs.n; k++) {
			uint64_t ct, tt;
			if (set_tags(r->type, fs.f[k].tag, &ct, &tt))
				reencode_set(&fs.f[k].v, field_uint_or(&fs, tt, 0),
					     field_uint_or(&fs, ct, 0));
		}
		break;
	}
	fields_build(&fs, &r->raw);
	fields_free(&fs);
}

/* Field-level changes behind a right checksum. */
static void mutate_fields(struct input *in, struct frec *r)
{
	struct fields fs;

	fields_parse(&r->raw, &fs);
	if (!fs.n) {
		mutate_bytes(&r->raw, NULL);
		fields_free(&fs);
		return;
	}
	struct field *f = &fs.f[below(fs.n)];
	uint64_t ct, tt;
	switch (below(9)) {
	case 0: /* a varint inside the value */
	case 1:
		rewrite_varint(&f->v);
		break;
	case 2: /* the value: one interesting varint */
		f->v.len = 0;
		tbuf_varint(&f->v, pick_value(field_uint_or(&fs, f->tag, 0)));
		break;
	case 3: /* a lying length */
		f->lie = true;
		f->len_lie = pick_value(f->v.len);
		break;
	case 4: /* dropped */
		tbuf_free(&f->v);
		*f = fs.f[--fs.n];
		break;
	case 5: /* duplicated, or retagged */
		if (below(2) && fs.n < MAX_FIELDS) {
			fs.f[fs.n] = *f;
			memset(&fs.f[fs.n].v, 0, sizeof(struct tbuf));
			tbuf_put(&fs.f[fs.n++].v, f->v.p, f->v.len);
		} else {
			f->tag = below(4) ? 1 + below(17) : pick_value(f->tag);
		}
		break;
	case 6: /* a crafted set, its count made to agree (or not) */
		for (size_t k = 0; k < fs.n; k++) {
			if (!set_tags(r->type, fs.f[k].tag, &ct, &tt))
				continue;
			uint64_t count, total = field_uint_or(&fs, tt, 0);
			craft_set(&fs.f[k].v, total, &count);
			if (below(4))
				field_set_uint(&fs, ct, count);
			break;
		}
		break;
	case 7: /* the page total changed, and maybe the count */
		if (r->type == TRACE_REC_INTERVAL || r->type == TRACE_REC_NONZERO) {
			tt = r->type == TRACE_REC_INTERVAL ? IF_TOTAL : ZF_TOTAL;
			field_set_uint(&fs, tt, pick_value(field_uint_or(&fs, tt, 0)));
			if (below(2))
				field_set_uint(&fs,
					       r->type == TRACE_REC_INTERVAL ? IF_DIRTY : ZF_COUNT,
					       pick_value(0));
		}
		break;
	default: /* bytes of the value */
		mutate_bytes(&f->v, in->other->n > 1 ? &in->other->rec[1].raw : NULL);
		break;
	}
	fields_build(&fs, &r->raw);
	fields_free(&fs);
}

/* Record-level changes. */
static void mutate_records(struct input *in)
{
	struct ftrace *t = &in->t;
	size_t i = pick_rec(t), j = pick_rec(t);

	switch (below(6)) {
	case 0: /* dropped */
		if (i) {
			tbuf_free(&t->rec[i].raw);
			memmove(t->rec + i, t->rec + i + 1, (t->n - i - 1) * sizeof(*t->rec));
			t->n--;
		}
		break;
	case 1: { /* duplicated */
		struct frec copy = t->rec[i];
		struct frec *d = ftrace_add(t, j);
		*d = copy;
		memset(&d->raw, 0, sizeof(d->raw));
		tbuf_put(&d->raw, copy.raw.p, copy.raw.len);
		break;
	}
	case 2: { /* swapped */
		struct frec x = t->rec[i];
		t->rec[i] = t->rec[j];
		t->rec[j] = x;
		break;
	}
	case 3: { /* spliced from another trace */
		const struct frec *o = &in->other->rec[below(in->other->n)];
		struct frec *d = ftrace_add(t, j ? j : 1);
		d->type = o->type;
		d->level = o->level;
		tbuf_put(&d->raw, o->raw.p, o->raw.len);
		break;
	}
	case 4: /* retyped */
		t->rec[i].type = (uint8_t)(below(2) ? below(9) : rnd());
		break;
	default: /* the trailer dropped, or pointing elsewhere */
		if (below(2))
			t->trailer = !t->trailer;
		else
			t->trailer_at = below(2) ? pick_value(0) : TRACE_PREFIX_SIZE + below(4096);
		break;
	}
}

static void mutate_frame(struct input *in)
{
	struct frec *r = &in->t.rec[below(in->t.n)];

	r->lie = (int)(1 + below(NR_LIES - 1));
	if (r->lie == LIE_ZSTD_SIZE) {
		if (!r->level)
			r->level = 1;
		r->lie_val = below(2) ? pick_value(r->raw.len) : (1 + below(256)) << 20;
	} else {
		r->lie_val = pick_value(r->raw.len);
	}
}

/* One mutation of the parsed trace; false if it should be done on the built file instead. */
static bool mutate_one(struct input *in)
{
	unsigned k = (unsigned)below(16);

	if (k < 4) {
		mutate_valid(in);
		return true;
	}
	in->valid = false;
	if (k < 10) {
		size_t i = pick_rec(&in->t);
		mutate_fields(in, &in->t.rec[i]);
	} else if (k < 12) {
		mutate_records(in);
	} else if (k < 13) {
		mutate_frame(in);
	} else if (k < 14) {
		mutate_bytes(&in->t.rec[pick_rec(&in->t)].raw, NULL);
	} else {
		return false;
	}
	return true;
}

/* ---- reading an input, and what is checked ---- */

struct stats {
	uint64_t inputs, files, opened, clean, errors, records, sets, injected, valid;
	size_t max_alloc;
};

static struct stats st;
static uint64_t seed, iter;
static char *fail_name; /* a name for the check that failed, else NULL */
static char fail_why[300];

static void failed(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failed(const char *name, const char *fmt, ...)
{
	va_list ap;

	if (fail_name)
		return;
	fail_name = (char *)name;
	va_start(ap, fmt);
	vsnprintf(fail_why, sizeof(fail_why), fmt, ap);
	va_end(ap);
}

/* An error must come with one line saying why. */
static void check_reason(int err, const char *what)
{
	const char *e = dpt_last_error();

	if (err >= 0)
		return;
	if (!e || !*e)
		failed("fuzz-error-has-reason", "%s returned %d without a reason", what, err);
	else if (strchr(e, '\n'))
		failed("fuzz-error-one-line", "%s: a reason on several lines: %s", what, e);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	return (h ^ v) * 0x100000001B3ULL;
}

/* Ask for one set as runs and (small enough) as a bitmap: they agree with each other and
 * with the count. Returns a digest. */
static uint64_t check_set(struct trace_reader *r, int which, uint64_t total, uint64_t count)
{
	const struct trace_run *runs;
	const uint64_t *bm;
	size_t nr;
	uint64_t h = 0, sum = 0, prev_end = 0;

	dpt_clear_error();
	int err = trace_reader_runs(r, which, &runs, &nr);
	check_reason(err, "trace_reader_runs");
	for (size_t i = 0; !err && i < nr; i++) {
		if ((i && runs[i].start <= prev_end) || !runs[i].len || runs[i].start >= total ||
		    runs[i].len > total - runs[i].start)
			failed("fuzz-runs-sane",
			       "run %zu [%" PRIu64 "+%" PRIu64 ") of %" PRIu64 " pages", i,
			       runs[i].start, runs[i].len, total);
		sum += runs[i].len;
		prev_end = runs[i].start + runs[i].len;
		h = mix(mix(h, runs[i].start), runs[i].len);
	}
	if (!err && sum != count)
		failed("fuzz-runs-count", "runs hold %" PRIu64 " pages, count %" PRIu64, sum,
		       count);
	if (total > BITMAP_PAGES)
		return mix(h, (uint64_t)err);
	dpt_clear_error();
	int err2 = trace_reader_bitmap(r, which, &bm);
	check_reason(err2, "trace_reader_bitmap");
	if ((err < 0) != (err2 < 0) && !al.failed)
		failed("fuzz-bitmap-runs-agree", "runs %d, bitmap %d", err, err2);
	if (!err && !err2) {
		/* the test's own: neither counted nor failed (and not calloc(): the compiler
		 * knows it reads no global, and would move al.armed's stores across it) */
		uint64_t *want = __real_calloc(bitmap_words(total) + 1, 8);
		for (size_t i = 0; i < nr; i++)
			bitmap_set_range(want, runs[i].start, runs[i].len);
		if (memcmp(want, bm, bitmap_bytes(total)))
			failed("fuzz-bitmap-runs-agree",
			       "bitmap and runs differ (%" PRIu64 " pages)", total);
		free(want);
	}
	st.sets++;
	return mix(h, (uint64_t)err);
}

#define SEEK_KEEP 256

struct pass {
	uint64_t digest, intervals, nonzero;
	int end; /* what the last trace_reader_next returned */
	/* the first intervals' offsets and middles (as dpt report and trace_reader_seek() take
	 * them), and whether all are in time order without overlapping */
	size_t kept;
	uint64_t off[SEEK_KEEP];
	__int128 mid[SEEK_KEEP];
	bool ordered;
	__int128 last_end;
	uint64_t max_total;
};

static __int128 ts_ns(const struct timespec *t)
{
	return (__int128)t->tv_sec * 1000000000 + t->tv_nsec; /* hostile times: past int64 */
}

static void read_pass(struct trace_reader *r, size_t len, struct pass *p)
{
	struct trace_record rec;
	uint64_t n = 0;
	int got;

	memset(p, 0, sizeof(*p));
	p->ordered = true;
	p->last_end = INT64_MIN;
	for (;;) {
		dpt_clear_error();
		got = trace_reader_next(r, &rec);
		check_reason(got, "trace_reader_next");
		if (got <= 0)
			break;
		if (++n > len / (TRACE_FRAME_SIZE + TRACE_CRC_SIZE) + 1) {
			failed("fuzz-bounded-records", "more records than %zu bytes can hold", len);
			break;
		}
		p->digest = mix(mix(p->digest, rec.type), rec.offset);
		if (rec.type == TRACE_REC_INTERVAL) {
			const struct dpt_sample *s = &rec.s;
			p->intervals++;
			p->digest = mix(mix(mix(p->digest, s->seq), s->dirty), s->total);
			__int128 t0 = ts_ns(&s->mono_start), t1 = ts_ns(&s->mono_end);
			if (t0 < p->last_end || t1 < t0)
				p->ordered = false;
			p->last_end = t1;
			p->max_total = s->total > p->max_total ? s->total : p->max_total;
			if (p->kept < SEEK_KEEP) {
				p->off[p->kept] = rec.offset;
				p->mid[p->kept++] = (t0 + t1) / 2 -
						    trace_reader_info(r)->h.mono_start_ns;
			}
			if (s->dirty > s->total || s->discarded > s->total)
				failed("fuzz-counts-sane", "dirty %" PRIu64 " of %" PRIu64,
				       s->dirty, s->total);
			if (rec.has_set)
				p->digest = mix(p->digest, check_set(r, 0, s->total, s->dirty));
			if (rec.has_discarded_set)
				p->digest = mix(p->digest, check_set(r, 1, s->total, s->discarded));
		} else if (rec.type == TRACE_REC_NONZERO) {
			p->nonzero++;
			p->digest = mix(p->digest, check_set(r, 0, rec.nz.total, rec.nz.count));
		} else if (rec.type == TRACE_REC_MESSAGE) {
			p->digest = mix(p->digest, strlen(rec.text));
		}
	}
	st.records += n;
	p->end = got;
	if (got == 0) {
		uint64_t tail = trace_reader_tail(r);
		if (tail > len)
			failed("fuzz-tail-sane", "a tail of %" PRIu64 " bytes in %zu", tail, len);
		p->digest = mix(p->digest, tail);
	}
	p->digest = mix(p->digest, (uint64_t)got);
}

/* Seeks and a window (lib/trace/window.c) on the input a read pass: no crash, a reason for
 * every error; where the pass read the whole trace cleanly, in time order, each seek must
 * succeed and land where the pass says (the first interval whose middle is at or after). */
static void seek_checks(struct trace_reader *r, const struct pass *a, uint64_t max_pages)
{
	struct trace_record rec;
	bool exact = a->end == 0 && a->ordered && a->intervals <= SEEK_KEEP;
	int64_t from = 0;
	int err, got;

	for (int i = 0; i < 4; i++) {
		if (a->kept && below(4)) {
			__int128 m = a->mid[below(a->kept)] + (int64_t)below(3) - 1;
			from = m < INT64_MIN ? INT64_MIN : m > INT64_MAX ? INT64_MAX : (int64_t)m;
		} else
			from = (int64_t)rnd() >> below(64);
		dpt_clear_error();
		err = trace_reader_seek(r, from);
		check_reason(err, "trace_reader_seek");
		if (err) {
			if (exact && !al.failed)
				failed("fuzz-seek-succeeds", "seek %" PRId64 " on a trace read whole: %s",
				       from, dpt_last_error());
			continue;
		}
		do
			got = trace_reader_next(r, &rec);
		while (got > 0 && rec.type != TRACE_REC_INTERVAL);
		check_reason(got, "trace_reader_next after a seek");
		if (!exact || al.failed)
			continue;
		size_t k = 0;
		while (k < a->kept && a->mid[k] < from)
			k++;
		if (k < a->kept ? got != 1 || rec.offset != a->off[k] : got != 0)
			failed("fuzz-seek-lands", "seek %" PRId64 ": got %d at %" PRIu64
			       ", want interval %zu of %zu", from, got, got > 0 ? rec.offset : 0,
			       k, a->kept);
	}
	uint64_t *bm, nbits;
	struct trace_window w;
	/* the window's bitmap is as large as its largest record: keep it under the fuzz's
	 * allocation bound where the passes did not see every record */
	if ((a->end != 0 || a->max_total > BITMAP_PAGES) && (!max_pages || max_pages > BITMAP_PAGES))
		trace_reader_limits(r, BITMAP_PAGES, 0);
	int64_t to = below(8) ? from + 1 + (int64_t)below(1ULL << 36) : INT64_MAX;
	dpt_clear_error();
	err = from < to ? trace_window_dirty(r, from, to, &bm, &nbits, &w) : 0;
	check_reason(err, "trace_window_dirty");
	if (from < to && !err) {
		if (!bm || !w.intervals || w.no_set > w.intervals)
			failed("fuzz-window-sane", "a window of %" PRIu64 " intervals", w.intervals);
		free(bm);
	}
}

/* Open (from memory, or the file), read twice with a rewind in between. *a gets the first
 * pass; returns the open's result. */
static int read_input(const uint8_t *buf, size_t len, const char *path, struct pass *a,
		      uint64_t max_pages, uint64_t max_record)
{
	struct trace_reader *r;
	struct pass b;
	int err;

	dpt_clear_error();
	err = path ? trace_reader_open(&r, path) : trace_reader_open_mem(&r, buf, len);
	check_reason(err, "trace_reader_open");
	memset(a, 0, sizeof(*a));
	if (err)
		return err;
	trace_reader_limits(r, max_pages, max_record);
	read_pass(r, len, a);
	dpt_clear_error();
	err = trace_reader_rewind(r);
	check_reason(err, "trace_reader_rewind");
	if (!err) {
		read_pass(r, len, &b);
		if (!al.failed && (b.digest != a->digest || b.end != a->end))
			failed("fuzz-rewind-same", "another reading after a rewind (%d, then %d)",
			       a->end, b.end);
	}
	seek_checks(r, a, max_pages);
	trace_reader_close(r);
	return 0;
}

static int cur_fd = -1;
static char cur_path[4096];

/* Read one input every way; the first failed check is in fail_name. */
static void run_input(const uint8_t *buf, size_t len, const struct ftrace *seed_t, bool valid,
		      bool use_file, long fail_at, bool low_limits)
{
	bool inject = fail_at >= 0;
	uint64_t max_pages = 0, max_record = 0;
	struct pass a, f;
	int err;

	if (cur_fd >= 0 && (ftruncate(cur_fd, 0) || pwrite(cur_fd, buf, len, 0) != (ssize_t)len))
		use_file = false;
	if (low_limits) {
		max_pages = 1 + below(1u << 20);
		max_record = 1 + below(1u << 20);
		valid = false;
	}
	al.max = 0;
	al.count = 0;
	al.failed = false;
	al.fail_at = fail_at;
	al.armed = true;
	err = read_input(buf, len, NULL, &a, max_pages, max_record);
	al.armed = false;
	if (al.max > ALLOC_LIMIT)
		failed("fuzz-no-huge-allocation", "an allocation of %zu bytes for a %zu-byte input",
		       al.max, len);
	if (al.max > st.max_alloc)
		st.max_alloc = al.max;
	st.injected += al.failed;
	st.opened += !err;
	st.clean += !err && a.end == 0;
	st.errors += err || a.end < 0;
	if (valid && !al.failed && seed_t) {
		uint64_t want = 0;
		for (size_t i = 0; i < seed_t->n; i++)
			want += seed_t->rec[i].type == TRACE_REC_INTERVAL;
		if (err || a.end != 0 || a.intervals != want)
			failed("fuzz-valid-reads",
			       "a valid change: open %d, end %d, %" PRIu64 " of %" PRIu64
			       " intervals: %s",
			       err, a.end, a.intervals, want,
			       dpt_last_error() ? dpt_last_error() : "");
	}
	if (use_file && !inject && cur_fd >= 0) {
		al.armed = true;
		int ferr = read_input(buf, len, cur_path, &f, max_pages, max_record);
		al.armed = false;
		st.files++;
		if ((ferr < 0) != (err < 0) || f.digest != a.digest || f.end != a.end)
			failed("fuzz-file-same",
			       "from a file: open %d, end %d; from memory: %d, %d", ferr, f.end,
			       err, a.end);
	}
}

/* ---- the seed corpus ---- */

#define NSEEDS 6

static struct ftrace seeds[NSEEDS];
static struct tbuf seed_bytes[NSEEDS];

static struct timespec ts(int64_t ns)
{
	return (struct timespec){ns / 1000000000, ns % 1000000000};
}

static void random_set(uint64_t *bm, uint64_t nbits, int kind)
{
	memset(bm, 0, bitmap_bytes(nbits));
	for (uint64_t i = 0; i < nbits; i++) {
		if (kind == 0 && !below(50)) /* scattered: indices */
			bitmap_set(bm, i);
		if (kind == 1 && i % 700 < 90) /* clustered: runs */
			bitmap_set(bm, i);
		if (kind == 2 && below(2)) /* dense: bitmap */
			bitmap_set(bm, i);
	}
}

struct seed_opts {
	int level;
	bool footer, sets, procs, regions, small, big;
};

static const struct dpt_region regions3[] = {
    {.start = 0x100000, .pages = 1000, .first_page = 0, .name = "pc.ram"},
    {.start = 0x7f0000000000, .pages = 2000, .first_page = 1000, .granule = 2 << 20, .name = ""},
    {.start = 0x900000, .pages = 37, .first_page = 3000, .name = "[heap]"},
};

/* One interval of a seed: which set (kind, or -1 none), its total and regions. */
static int seed_sample(struct trace_writer *tw, const struct seed_opts *o, uint64_t seq,
		       uint64_t total, int kind, unsigned nr_regions, const struct dpt_region *reg,
		       unsigned flags)
{
	uint64_t *bm = calloc(bitmap_words(total) + 1, 8),
		 *disc = calloc(bitmap_words(total) + 1, 8);
	uint64_t vcpu[2];
	struct dpt_proc procs[2] = {
	    {.pid = 0, .ppid = 0, .comm = "", .dirty = 0, .total = 1},
	    {.pid = -7,
	     .ppid = 1 << 30,
	     .comm = "fifteen-chars..",
	     .total = 1ULL << 40,
	     .flags = DPT_PROC_EXITED | DPT_PROC_LOST},
	};
	int64_t t0 = 1000000 * (int64_t)seq;

	if (kind >= 0)
		random_set(bm, total, kind);
	if (kind == 0 && total > 64)
		bitmap_set_range(disc, total - 64, 64);
	bitmap_andnot(disc, bm, total);
	struct dpt_sample s = {.seq = seq,
			       .mono_start = ts(t0),
			       .mono_end = ts(t0 + 1000000),
			       .wall_start = ts(1795920000000000000LL + t0),
			       .wall_end = ts(1795920000000000000LL + t0 + 1000000),
			       .total = total,
			       .dirty = kind >= 0		 ? bitmap_weight(bm, total)
					: flags & DPT_SAMPLE_ALL ? total
								 : 3,
			       .page_size = 4096,
			       .flags = flags,
			       .nr_vcpus = o->procs ? 2 : 0,
			       .vcpu_dirty = vcpu,
			       .bitmap = kind >= 0 ? bm : NULL,
			       .nr_regions = nr_regions,
			       .regions = reg,
			       .nr_procs = o->procs ? (o->small ? 1 : 2) : 0,
			       .procs = procs};
	if (flags & DPT_SAMPLE_LOST)
		s.dirty = 0;
	if (kind >= 0 && o->procs) {
		s.discarded_bitmap = disc;
		s.discarded = bitmap_weight(disc, total);
	}
	vcpu[0] = s.dirty / 3;
	vcpu[1] = s.dirty - vcpu[0];
	int err = trace_writer_sample(tw, &s);
	free(bm);
	free(disc);
	return err;
}

static int seed_nonzero(struct trace_writer *tw, uint64_t after, uint64_t total, unsigned nr,
			const struct dpt_region *reg)
{
	uint64_t *bm = calloc(bitmap_words(total) + 1, 8);
	random_set(bm, total, (int)(after % 3));
	struct dpt_nonzero z = {.after_seq = after,
				.mono_start = ts(5),
				.mono_end = ts(900000),
				.wall_start = ts(-5),
				.wall_end = ts(1),
				.method = DPT_NZ_CONTENT,
				.total = total,
				.count = bitmap_weight(bm, total),
				.unknown = 1,
				.bytes_read = total * 4096,
				.nr_regions = nr,
				.regions = reg,
				.bitmap = bm};
	if (!z.count)
		z.unknown = 0;
	int err = trace_writer_nonzero(tw, &z);
	free(bm);
	return err;
}

static int seed_write(const char *path, const struct seed_opts *o)
{
	struct trace_header h = {.page_size = 4096,
				 .dpt_version = "fuzz",
				 .kernel = "Linux",
				 .cpu = "",
				 .hostname = NULL,
				 .tracker = "pid",
				 .mode = "uffd",
				 .target = "a target",
				 .command = "dpt track",
				 .interval_ns = 1000000,
				 .zero_scan_ns = 0,
				 .wall_start_ns = 1795920000000000000LL,
				 .mono_start_ns = 0,
				 .flags = TRACE_HAS_SETS | TRACE_COUNTS_DISCARDED |
					  (o->procs ? TRACE_PER_PROCESS : 0),
				 .nr_vcpus = o->procs ? 2 : 0,
				 .owner_pid = -1,
				 .nr_regions = o->regions ? 2 : 0,
				 .regions = regions3};
	struct timespec m = ts(0), w = ts(1795920000000000000LL);
	struct trace_writer *tw;
	uint64_t seq = 1;
	int err;

	trace_zstd_level = o->level;
	unlink(path);
	if ((err = trace_writer_open(&tw, path, false, &h)))
		return err;
	err = trace_writer_session(tw, true, &m, &w);
	if (o->small) { /* tiny page counts, full and empty sets */
		static const uint64_t totals[] = {0, 1, 63, 64, 65, 127, 8};
		for (unsigned i = 0; i < 7 && !err; i++)
			err = seed_sample(tw, o, seq++, totals[i], (int)(i % 3), 0, NULL, 0);
		if (!err)
			err = seed_sample(tw, o, seq++, 70, -1, 0, NULL, DPT_SAMPLE_ALL);
	} else if (o->big) { /* 32768 pages, every kind */
		for (int i = 0; i < 6 && !err; i++)
			err = seed_sample(tw, o, seq++, 32768, i % 3, 0, NULL, 0);
		if (!err)
			err = seed_nonzero(tw, 6, 32768, 0, NULL);
	} else {
		for (int i = 0; i < 9 && !err; i++) {
			unsigned nr = i < 5 ? 2 : i < 7 ? 3 : 0; /* a region appears, all go */
			uint64_t total = i < 5 ? 3000 : i < 7 ? 3037 : 100;
			int kind = o->sets ? i % 3 : -1;
			err = seed_sample(tw, o, seq++, total, kind, o->regions ? nr : 0, regions3,
					  i == 4 ? DPT_SAMPLE_HUGE : 0);
			if (!err && i == 3)
				err = seed_nonzero(tw, seq - 1, 3000, 2, regions3);
			if (!err && i == 5)
				err = trace_writer_message(tw, &m, &w,
							   i == 5 ? "a region appeared" : "");
		}
		if (!err)
			err = seed_sample(tw, o, seq++, 100, -1, 0, NULL,
					  DPT_SAMPLE_FINAL | DPT_SAMPLE_PARTIAL | DPT_SAMPLE_LOST);
		if (!err)
			err = trace_writer_message(tw, &m, &w, "");
	}
	if (!err)
		err = trace_writer_session(tw, false, &m, &w);
	int e2 = trace_writer_close(tw, o->footer, false);
	trace_zstd_level = 1;
	return err ? err : e2;
}

static int make_seeds(const char *dir)
{
	static const struct seed_opts opts[NSEEDS] = {
	    {.level = 1, .footer = true, .sets = true, .procs = true, .regions = true},
	    {.level = 0, .footer = false, .sets = true, .procs = true, .regions = true},
	    {.level = 3, .footer = true, .sets = true, .small = true},
	    {.level = 1, .footer = true, .sets = false, .regions = true},
	    {.level = 1, .footer = false, .sets = true, .big = true},
	    {.level = 0, .footer = true, .sets = true, .procs = true, .small = true},
	};
	char path[4096];

	for (int i = 0; i < NSEEDS; i++) {
		snprintf(path, sizeof(path), "%s/seed-%d.dpt", dir, i);
		int err = seed_write(path, &opts[i]);
		if (err) {
			printf("FAIL fuzz-seeds: seed %d: %s\n", i, dpt_last_error());
			return err;
		}
		FILE *f = fopen(path, "rb");
		struct tbuf *b = &seed_bytes[i];
		tbuf_reserve(b, 1 << 20);
		b->len = fread(b->p, 1, b->cap, f);
		fclose(f);
		unlink(path);
		if (ftrace_parse(b->p, b->len, &seeds[i])) {
			printf("FAIL fuzz-seeds: seed %d does not parse\n", i);
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- the loop ---- */

static const uint8_t *cur_buf;
static size_t cur_len;

static void save_input(const char *why)
{
	char path[4096];
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(path, sizeof(path), "%s/dpt-fuzz-%" PRIu64 "-%" PRIu64 ".dpt", tmp, seed, iter);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0 && write(fd, cur_buf, cur_len) == (ssize_t)cur_len)
		printf("# %s: input saved as %s (replay: trace-fuzz %s)\n", why, path, path);
	if (fd >= 0)
		close(fd);
}

static void on_alarm(int sig)
{
	printf("FAIL fuzz-no-hang: input %" PRIu64 " of seed %" PRIu64 " still read after %d s\n",
	       iter, seed, ALARM_SECONDS);
	save_input("hang");
	fflush(stdout);
	_exit(1);
}

/* One input: a seed, mutated. */
static void fuzz_one(struct tbuf *out)
{
	struct input in = {.valid = true};
	unsigned s = (unsigned)below(NSEEDS), n = 1 + (unsigned)below(4);
	bool bytes_left = false;

	ftrace_copy(&in.t, &seeds[s]);
	in.other = &seeds[below(NSEEDS)];
	for (unsigned k = 0; k < n; k++)
		if (!mutate_one(&in))
			bytes_left = true;
	ftrace_build(&in.t, out);
	if (bytes_left) {
		in.valid = false;
		for (unsigned k = 1 + (unsigned)below(3); k; k--)
			mutate_bytes(out, &seed_bytes[below(NSEEDS)]);
	}
	cur_buf = out->p;
	cur_len = out->len;
	st.valid += in.valid;
	run_input(out->p, out->len, &seeds[s], in.valid, !below(8),
		  below(16) ? -1 : (long)below(40), !below(8));
	ftrace_free(&in.t);
}

/* Every allocation of the reader failed in turn, reading each seed: each failure is an error
 * with its reason (and, under make sanitize, leaks nothing). */
static void check_enomem(void)
{
	unsigned failures = 0, inputs = 0;

	for (int i = 0; i < NSEEDS; i++) {
		for (long k = 0;; k++) {
			fail_name = NULL;
			cur_buf = seed_bytes[i].p;
			cur_len = seed_bytes[i].len;
			run_input(cur_buf, cur_len, NULL, false, false, k, false);
			inputs++;
			if (fail_name && failures++ < 3)
				printf("# seed %d, allocation %ld failed: %s: %s\n", i, k,
				       fail_name, fail_why);
			if (!al.failed)
				break; /* read with fewer allocations than k */
		}
	}
	TEST_CHECK(!failures, "fuzz-out-of-memory-said", "%u of %u readings", failures, inputs);
}

/* Records declaring 200 MiB and more (a zstd frame's content size, or the frame's raw length
 * of a stored payload) in a few KiB: refused before anything that size is allocated. */
static void check_declared_sizes(void)
{
	static const int lies[] = {LIE_ZSTD_SIZE, LIE_RAW};
	static const uint64_t sizes[] = {200u << 20, 256u << 20};
	unsigned failures = 0, inputs = 0;
	struct tbuf out = {0};

	for (unsigned l = 0; l < 2; l++) {
		for (unsigned z = 0; z < 2; z++) {
			for (size_t at = 0; at < 3; at++) {
				struct ftrace t;
				ftrace_copy(&t, &seeds[0]);
				t.rec[at].lie = lies[l];
				t.rec[at].lie_val = sizes[z];
				t.rec[at].level = lies[l] == LIE_ZSTD_SIZE;
				ftrace_build(&t, &out);
				fail_name = NULL;
				run_input(out.p, out.len, NULL, false, true, -1, false);
				inputs++;
				if (fail_name && failures++ < 3)
					printf("# record %zu declaring %" PRIu64 " bytes: %s: %s\n",
					       at, sizes[z], fail_name, fail_why);
				ftrace_free(&t);
			}
		}
	}
	tbuf_free(&out);
	TEST_CHECK(!failures, "fuzz-declared-size-not-allocated", "%u of %u inputs", failures,
		   inputs);
}

static double elapsed(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static int replay(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		struct tbuf b = {0};
		FILE *f = fopen(argv[i], "rb");
		size_t n;
		if (!f) {
			perror(argv[i]);
			return 1;
		}
		tbuf_reserve(&b, 4096);
		while ((n = fread(b.p + b.len, 1, b.cap - b.len, f)) > 0) {
			b.len += n;
			tbuf_reserve(&b, 4096);
		}
		fclose(f);
		fail_name = NULL;
		run_input(b.p, b.len, NULL, false, true, -1, false);
		TEST_CHECK(!fail_name, fail_name ? fail_name : "fuzz-replay", "%s: %s", argv[i],
			   fail_why);
		tbuf_free(&b);
	}
	return test_done();
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	const char *secs_env = getenv("DPT_FUZZ_SECONDS"), *iters_env = getenv("DPT_FUZZ_ITERS");
	double limit = secs_env ? strtod(secs_env, NULL) : 0;
	uint64_t iters = iters_env ? strtoull(iters_env, NULL, 0) : limit > 0 ? UINT64_MAX : 10000;
	char dir[2048];
	struct tbuf out = {0};
	struct timespec t0;

	seed = getenv("DPT_FUZZ_SEED") ? strtoull(getenv("DPT_FUZZ_SEED"), NULL, 0) : 1;
	snprintf(cur_path, sizeof(cur_path), "%s/dpt-fuzz-%d.dpt", tmp, (int)getpid());
	cur_fd = open(cur_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (argc > 1) {
		int rc = replay(argc, argv);
		unlink(cur_path);
		return rc;
	}
	snprintf(dir, sizeof(dir), "%s/dpt-fuzz-seeds.XXXXXX", tmp);
	rng_seed(seed, UINT64_MAX);
	if (!mkdtemp(dir) || make_seeds(dir))
		return 1;
	rmdir(dir);
	/* the seeds themselves read whole */
	for (int i = 0; i < NSEEDS; i++) {
		fail_name = NULL;
		cur_buf = seed_bytes[i].p;
		cur_len = seed_bytes[i].len;
		run_input(cur_buf, cur_len, &seeds[i], true, true, -1, false);
		char name[64];
		snprintf(name, sizeof(name), "fuzz-seed-%d-reads", i);
		TEST_CHECK(!fail_name, name, "%s: %s", fail_name, fail_why);
	}
	check_enomem();
	check_declared_sizes();
	signal(SIGALRM, on_alarm);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	unsigned failures = 0;
	iter = getenv("DPT_FUZZ_FIRST") ? strtoull(getenv("DPT_FUZZ_FIRST"), NULL, 0) : 0;
	for (; iter < iters; iter++) {
		if (limit > 0 && !(iter % 256) && elapsed(&t0) > limit)
			break;
		rng_seed(seed, iter);
		fail_name = NULL;
		alarm(ALARM_SECONDS);
		fuzz_one(&out);
		alarm(0);
		if (fail_name && failures++ < 10) {
			printf("FAIL %s: input %" PRIu64 " of seed %" PRIu64 ": %s\n", fail_name,
			       iter, seed, fail_why);
			save_input(fail_name);
		}
	}
	double secs = elapsed(&t0);
	iters = iter;
	printf("# seed %" PRIu64 ": %" PRIu64 " inputs in %.1f s (%" PRIu64
	       " also from a file, %" PRIu64 " valid changes): %" PRIu64 " opened, %" PRIu64
	       " read to their end, %" PRIu64 " refused; %" PRIu64 " records, %" PRIu64
	       " sets; %" PRIu64 " allocations failed on purpose; largest allocation %zu bytes\n",
	       seed, st.inputs = iters, secs, st.files, st.valid, st.opened, st.clean, st.errors,
	       st.records, st.sets, st.injected, st.max_alloc);
	TEST_CHECK(!failures, "fuzz-reader", "%u of %" PRIu64 " inputs failed a check", failures,
		   iters);
	for (int i = 0; i < NSEEDS; i++) {
		ftrace_free(&seeds[i]);
		tbuf_free(&seed_bytes[i]);
	}
	tbuf_free(&out);
	close(cur_fd);
	unlink(cur_path);
	return test_done();
}
