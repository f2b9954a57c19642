/* crc32c.c - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as iSCSI, ext4 and btrfs
 * use it: the SSE 4.2 crc32 instruction where the CPU has it (3 lanes at once on long
 * buffers), else a slice-by-8 table.
 * Check value: crc32c("123456789") = 0xE3069283.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "dpt/trace.h"

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static int use_hw;
#if defined(__x86_64__)
static void lane_init(void);
#endif

static void table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
#if defined(__x86_64__)
	__builtin_cpu_init();
	use_hw = __builtin_cpu_supports("sse4.2");
	if (use_hw)
		lane_init();
#endif
}

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		w ^= crc;
		crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^
		      table[4][(w >> 24) & 0xff] ^ table[3][(w >> 32) & 0xff] ^
		      table[2][(w >> 40) & 0xff] ^ table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return crc;
}

#if defined(__x86_64__)
/* The crc32 instruction takes 3 cycles and can start one a cycle: 3 lanes of LANE bytes run
 * side by side, then are joined: crc(A B C) = shift(shift(crc(A)) ^ crc(B)) ^ crc(C) (the
 * register without its inversions, B and C from 0), shift being LANE zero bytes more: a
 * linear map, 4 table lookups (lane_shift, from the instruction's own image of each bit). */
#define LANE 512
static uint32_t lane_shift[4][256];

static inline uint32_t shift_lane(uint32_t c)
{
	return lane_shift[0][c & 0xff] ^ lane_shift[1][c >> 8 & 0xff] ^
	       lane_shift[2][c >> 16 & 0xff] ^ lane_shift[3][c >> 24];
}

__attribute__((target("sse4.2"))) static void lane_init(void)
{
	uint32_t bit[32];

	for (int k = 0; k < 32; k++) {
		uint64_t c = 1u << k;
		for (int i = 0; i < LANE / 8; i++)
			c = __builtin_ia32_crc32di(c, 0);
		bit[k] = (uint32_t)c;
	}
	for (int j = 0; j < 4; j++)
		for (uint32_t b = 0; b < 256; b++) {
			uint32_t v = 0;
			for (int k = 0; k < 8; k++)
				if (b >> k & 1)
					v ^= bit[8 * j + k];
			lane_shift[j][b] = v;
		}
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p,
							  size_t len)
{
	uint64_t c = crc;

	for (; len >= 3 * LANE; p += 3 * LANE, len -= 3 * LANE) {
		uint64_t b = 0, d = 0, x, y, z;
		for (size_t i = 0; i < LANE; i += 8) {
			memcpy(&x, p + i, 8);
			memcpy(&y, p + LANE + i, 8);
			memcpy(&z, p + 2 * LANE + i, 8);
			c = __builtin_ia32_crc32di(c, x);
			b = __builtin_ia32_crc32di(b, y);
			d = __builtin_ia32_crc32di(d, z);
		}
		c = shift_lane(shift_lane((uint32_t)c) ^ (uint32_t)b) ^ (uint32_t)d;
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

uint32_t trace_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&table_once, table_init);
	crc = ~crc;
#if defined(__x86_64__)
	if (use_hw)
		return ~crc_hw(crc, buf, len);
#endif
	return ~crc_sw(crc, buf, len);
}
