/* int.h - what the trace writer, reader and set codec share: the framing constants, a growable
 * byte buffer, varints, and the field tags of docs/trace-format.md.
 */
#ifndef DPT_TRACE_INT_H
#define DPT_TRACE_INT_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/trace.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the trace code assumes a little-endian host (bitmaps are copied as bytes)"
#endif

#define TRACE_PREFIX_MAGIC "\x89" "DPT\r\n\x1a\n"
#define TRACE_PREFIX_SIZE  16
#define TRACE_REC_MAGIC	   "DPTR"
#define TRACE_FRAME_SIZE   16 /* magic, type, flags, reserved, stored length, raw length */
#define TRACE_CRC_SIZE	   4
#define TRACE_TRAILER_MAGIC "DPTINDEX"
#define TRACE_TRAILER_SIZE 16 /* footer offset (u64) + magic */

#define TRACE_FRAME_ZSTD 0x01 /* frame flag: the payload is one zstd frame */

/* Field tags, per record type (docs/trace-format.md). */
enum {
	HF_PAGE_SIZE = 1, HF_DPT_VERSION, HF_KERNEL, HF_CPU, HF_HOSTNAME, HF_TRACKER, HF_MODE,
	HF_TARGET, HF_COMMAND, HF_INTERVAL, HF_ZERO_SCAN, HF_WALL_START, HF_MONO_START, HF_FLAGS,
	HF_NR_VCPUS, HF_OWNER_PID, HF_REGIONS,
};
enum {
	IF_SEQ = 1, IF_MONO_START, IF_MONO_END, IF_WALL_START, IF_WALL_END, IF_FLAGS, IF_DIRTY,
	IF_TOTAL, IF_DISCARDED, IF_VCPUS, IF_REGIONS, IF_SET, IF_DISCARDED_SET, IF_PROCS,
};
enum {
	ZF_AFTER_SEQ = 1, ZF_MONO_START, ZF_MONO_END, ZF_WALL_START, ZF_WALL_END, ZF_METHOD,
	ZF_TOTAL, ZF_COUNT, ZF_UNKNOWN, ZF_BYTES_READ, ZF_REGIONS, ZF_SET,
};
enum { EF_MONO = 1, EF_WALL, EF_TEXT }; /* start, stop, message */
enum { FF_INTERVALS = 1, FF_INDEX, FF_NONZERO }; /* footer */

/* ---- a growable byte buffer ---- */

struct tbuf {
	uint8_t *p;
	size_t len, cap;
};

static inline int tbuf_reserve(struct tbuf *b, size_t n)
{
	if (b->len + n <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + n)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static inline void tbuf_free(struct tbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Unchecked appends: reserve first. */
static inline size_t varint_size(uint64_t v)
{
	return v < 0x80 ? 1 : (size_t)(63 - __builtin_clzll(v)) / 7 + 1;
}

static inline void put_varint(struct tbuf *b, uint64_t v)
{
	uint8_t *p = b->p + b->len;
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	b->len = (size_t)(p - b->p);
}

static inline uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* ---- a bounded reading cursor ---- */

struct tcur {
	const uint8_t *p, *end;
};

/* 0, or -EBADMSG if the varint runs past the end or past 64 bits. */
static inline int get_varint(struct tcur *c, uint64_t *v)
{
	uint64_t x = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (c->p >= c->end)
			return -EBADMSG;
		uint8_t byte = *c->p++;
		if (shift == 63 && byte > 1)
			return -EBADMSG;
		x |= (uint64_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -EBADMSG;
}

/* ---- the set codec (codec.c) ---- */

/* Encoded size of a set in the given kind (kind byte included), and its page count. */
struct set_plan {
	uint64_t count, runs;
	size_t size[3];
	int best;
};
void set_plan(const uint64_t *bm, uint64_t nbits, struct set_plan *plan);
/* Append the set in plan->best's encoding (plan->size[best] bytes, reserved by the caller). */
void set_encode(struct tbuf *b, const uint64_t *bm, uint64_t nbits, const struct set_plan *plan);
/* Append the set in its smallest encoding (as set_plan() would choose it, the same bytes
 * as set_encode() then writes) in one walk over its runs; *count gets its pages. 0 or
 * -ENOMEM. */
int set_put(struct tbuf *b, const uint64_t *bm, uint64_t nbits, uint64_t *count);
/* Encode the whole range [0, nbits) (an all-dirty sample without a bitmap). */
size_t set_all_size(uint64_t nbits);
void set_encode_all(struct tbuf *b, uint64_t nbits);

/* Decode an encoded set of nbits pages that must hold exactly count pages: into a zeroed
 * bitmap of bitmap_words(nbits) words, or appended to runs (realloc'd, *nr and *cap
 * updated). 0 or -EBADMSG (reason recorded). */
int set_decode_bitmap(const uint8_t *p, size_t len, uint64_t nbits, uint64_t count,
		      uint64_t *bm);
int set_decode_runs(const uint8_t *p, size_t len, uint64_t nbits, uint64_t count,
		    struct trace_run **runs, size_t *nr, size_t *cap);
/* The same set as its count page indices in increasing order, into list (room for count;
 * nbits at most 2^32). The indices encoding is decoded straight into list (no bitmap, no
 * runs); runs and bitmap encodings go through *runs (as set_decode_runs, from *nr = 0).
 * 0, -EBADMSG (malformed) or -EOVERFLOW (nbits above 2^32), reason recorded. */
int set_decode_list(const uint8_t *p, size_t len, uint64_t nbits, uint64_t count,
		    uint32_t *list, struct trace_run **runs, size_t *nr, size_t *cap);

#endif
