/* bitmap.c - operations on Qemu-DPT-layout bitmaps (see include/dpt/bitmap.h). */
#include "dpt/bitmap.h"

void bitmap_set_range(uint64_t *bm, uint64_t start, uint64_t len)
{
	uint64_t end = start + len;

	while (start < end && start % 64)
		bitmap_set(bm, start++);
	while (start + 64 <= end) {
		bm[start / 64] = ~0ULL;
		start += 64;
	}
	while (start < end)
		bitmap_set(bm, start++);
}

void bitmap_clear_range(uint64_t *bm, uint64_t start, uint64_t len)
{
	uint64_t end = start + len;

	while (start < end && start % 64)
		bitmap_clear_bit(bm, start++);
	while (start + 64 <= end) {
		bm[start / 64] = 0;
		start += 64;
	}
	while (start < end)
		bitmap_clear_bit(bm, start++);
}

void bitmap_copy_range(uint64_t *dst, uint64_t to, const uint64_t *src, uint64_t from,
		       uint64_t len)
{
	uint64_t end = from + len;

	if (to % 64 == from % 64) { /* whole words in between */
		for (; from < end && from % 64; from++, to++)
			bitmap_test(src, from) ? bitmap_set(dst, to) : bitmap_clear_bit(dst, to);
		for (; from + 64 <= end; from += 64, to += 64)
			dst[to / 64] = src[from / 64];
	}
	for (; from < end; from++, to++)
		bitmap_test(src, from) ? bitmap_set(dst, to) : bitmap_clear_bit(dst, to);
}

void bitmap_andnot(uint64_t *dst, const uint64_t *src, uint64_t nbits)
{
	for (size_t i = 0; i < bitmap_words(nbits); i++)
		dst[i] &= ~src[i];
}

uint64_t bitmap_weight(const uint64_t *bm, uint64_t nbits)
{
	uint64_t n = 0, full = nbits / 64;

	for (uint64_t i = 0; i < full; i++)
		n += (uint64_t)__builtin_popcountll(bm[i]);
	if (nbits % 64)
		n += (uint64_t)__builtin_popcountll(bm[full] & ((1ULL << (nbits % 64)) - 1));
	return n;
}

uint64_t bitmap_next_set(const uint64_t *bm, uint64_t nbits, uint64_t from)
{
	if (from >= nbits)
		return nbits;
	uint64_t w = from / 64;
	uint64_t word = bm[w] & (~0ULL << (from % 64));

	for (;;) {
		if (word) {
			uint64_t bit = w * 64 + (uint64_t)__builtin_ctzll(word);
			return bit < nbits ? bit : nbits;
		}
		if (++w >= bitmap_words(nbits))
			return nbits;
		word = bm[w];
	}
}

void bitmap_fill(uint64_t *bm, uint64_t nbits)
{
	size_t full = nbits / 64;

	for (size_t i = 0; i < full; i++)
		bm[i] = ~0ULL;
	if (nbits % 64)
		bm[full] = (1ULL << (nbits % 64)) - 1;
}
