/* Unit tests: bitmap operations against a byte-per-bit reference. */
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "dpt/bitmap.h"

static uint64_t rng = 88172645463325252ULL;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(void)
{
	const uint64_t sizes[] = {1, 63, 64, 65, 127, 128, 1000, 4099};

	TEST_CHECK(bitmap_bytes(1050736) == 131344, "size-qemu-dpt-4g",
		   "Qemu-DPT's 4 GiB guest: %zu bytes, expected 131344", bitmap_bytes(1050736));
	for (unsigned si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		uint64_t n = sizes[si];
		uint64_t *bm = calloc(bitmap_words(n) + 1, 8);
		unsigned char *ref = calloc(n, 1);
		char name[64];
		int ok = 1;

		for (int k = 0; k < 50; k++) {
			uint64_t a = next_rand() % n, len = next_rand() % (n - a + 1);
			bitmap_set_range(bm, a, len);
			memset(ref + a, 1, len);
			uint64_t b = next_rand() % n;
			bitmap_set(bm, b);
			ref[b] = 1;
			uint64_t c = next_rand() % n;
			bitmap_clear_bit(bm, c);
			ref[c] = 0;
			if (k % 5 == 4) {
				a = next_rand() % n;
				len = next_rand() % (n - a + 1) / 2;
				bitmap_clear_range(bm, a, len);
				memset(ref + a, 0, len);
			}
		}
		uint64_t w = 0;
		for (uint64_t i = 0; i < n; i++) {
			w += ref[i];
			ok &= bitmap_test(bm, i) == ref[i];
		}
		snprintf(name, sizeof(name), "set-clear-test-%llu", (unsigned long long)n);
		TEST_CHECK(ok, name, "bits differ from the reference");
		snprintf(name, sizeof(name), "weight-%llu", (unsigned long long)n);
		TEST_CHECK(bitmap_weight(bm, n) == w, name, "weight %llu, expected %llu",
			   (unsigned long long)bitmap_weight(bm, n), (unsigned long long)w);
		uint64_t seen = 0, i = bitmap_next_set(bm, n, 0);
		ok = 1;
		for (uint64_t j = 0; j < n; j++)
			if (ref[j]) {
				ok &= i == j;
				i = bitmap_next_set(bm, n, i + 1);
				seen++;
			}
		snprintf(name, sizeof(name), "next-set-%llu", (unsigned long long)n);
		TEST_CHECK(ok && i == n && seen == w, name, "iteration differs");
		/* copy_range: a random stretch to a random place of a second bitmap, with the
		 * same or another offset within a word */
		for (int k = 0; k < 8; k++) {
			uint64_t *dst = calloc(bitmap_words(n) + 1, 8);
			uint64_t from = next_rand() % n, len = next_rand() % (n - from + 1);
			uint64_t to = k & 1 ? from : next_rand() % (n - len + 1);

			bitmap_set_range(dst, 0, n);
			bitmap_copy_range(dst, to, bm, from, len);
			ok = 1;
			for (uint64_t j = 0; j < n; j++)
				ok &= bitmap_test(dst, j) ==
				      (j >= to && j < to + len ? ref[from + j - to] : 1);
			free(dst);
			snprintf(name, sizeof(name), "copy-range-%llu-%d", (unsigned long long)n, k);
			TEST_CHECK(ok, name, "from %llu to %llu len %llu: bits differ",
				   (unsigned long long)from, (unsigned long long)to,
				   (unsigned long long)len);
		}
		/* andnot: clear what a second random bitmap has */
		uint64_t *other = calloc(bitmap_words(n) + 1, 8);
		for (uint64_t j = 0; j < n; j++)
			if (next_rand() & 1)
				bitmap_set(other, j);
		bitmap_andnot(bm, other, n);
		ok = 1;
		for (uint64_t j = 0; j < n; j++)
			ok &= bitmap_test(bm, j) == (ref[j] && !bitmap_test(other, j));
		free(other);
		snprintf(name, sizeof(name), "andnot-%llu", (unsigned long long)n);
		TEST_CHECK(ok, name, "bits differ from the reference");
		bitmap_fill(bm, n);
		snprintf(name, sizeof(name), "fill-%llu", (unsigned long long)n);
		TEST_CHECK(bitmap_weight(bm, bitmap_words(n) * 64) == n, name,
			   "fill set %llu bits past the end",
			   (unsigned long long)(bitmap_weight(bm, bitmap_words(n) * 64) - n));
		free(bm);
		free(ref);
	}
	return test_done();
}
