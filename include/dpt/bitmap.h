/* bitmap.h - dirty bitmaps in Qemu-DPT's layout.
 *
 * Native 64-bit words, least significant bit first: bit i of word j is page 64*j + i. A bitmap
 * of n pages takes bitmap_words(n) words; bits past n are always zero.
 */
#ifndef DPT_BITMAP_H
#define DPT_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline size_t bitmap_words(uint64_t nbits)
{
	return (size_t)((nbits + 63) / 64);
}

static inline size_t bitmap_bytes(uint64_t nbits)
{
	return bitmap_words(nbits) * sizeof(uint64_t);
}

static inline void bitmap_set(uint64_t *bm, uint64_t bit)
{
	bm[bit / 64] |= 1ULL << (bit % 64);
}

static inline void bitmap_clear_bit(uint64_t *bm, uint64_t bit)
{
	bm[bit / 64] &= ~(1ULL << (bit % 64));
}

static inline bool bitmap_test(const uint64_t *bm, uint64_t bit)
{
	return (bm[bit / 64] >> (bit % 64)) & 1;
}

/* Set bits [start, start + len). */
void bitmap_set_range(uint64_t *bm, uint64_t start, uint64_t len);

/* Clear bits [start, start + len). */
void bitmap_clear_range(uint64_t *bm, uint64_t start, uint64_t len);

/* Copy len bits of src from bit from to dst at bit to (the two may not overlap). */
void bitmap_copy_range(uint64_t *dst, uint64_t to, const uint64_t *src, uint64_t from,
		       uint64_t len);

/* dst &= ~src over the first nbits (whole words). */
void bitmap_andnot(uint64_t *dst, const uint64_t *src, uint64_t nbits);

/* Number of set bits among the first nbits. */
uint64_t bitmap_weight(const uint64_t *bm, uint64_t nbits);

/* Index of the first set bit at or after from, or nbits if none. */
uint64_t bitmap_next_set(const uint64_t *bm, uint64_t nbits, uint64_t from);

/* Set every bit of the first nbits (bits past nbits stay zero). */
void bitmap_fill(uint64_t *bm, uint64_t nbits);

#endif
