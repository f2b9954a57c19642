/* guest.c - dpt's micro-VM guest: dirty pages with a pattern at the pace the host sets.
 *
 * Freestanding, no interrupts, no libc. Each vCPU runs guest_main(): it yields (IN from
 * GUEST_PORT_YIELD; the host sleeps until the next batch is due and stores the pass number in
 * its guest_vcpu), then writes batch_pages pages of its part of the working set, stamping the
 * first 64-bit word of each with the pass, counts them, and yields again. See guest-abi.h.
 */
#include <stdint.h>

#include "guest-abi.h"

struct walk {
	uint64_t idx; /* next page index (seq, stride) */
	uint64_t off; /* stride: current shift */
	uint64_t rng; /* xorshift64* state */
};

static inline uint32_t guest_inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

static inline void guest_outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static __attribute__((noreturn)) void guest_panic(uint32_t code)
{
	for (;;)
		guest_outl(GUEST_PORT_PANIC, code);
}

static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n) without a division: the high half of r * n. */
static inline uint64_t below(uint64_t r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)r * n) >> 64);
}

static inline uint64_t next_page(const struct guest_params *p, const struct guest_vcpu *v,
				 struct walk *w)
{
	uint64_t pg;

	switch (p->pattern) {
	case GUEST_PATTERN_SEQ:
		pg = w->idx;
		if (++w->idx == v->pages)
			w->idx = 0;
		return pg;
	case GUEST_PATTERN_RANDOM:
		return below(rng_next(&w->rng), v->pages);
	case GUEST_PATTERN_HOTCOLD:
		if (below(rng_next(&w->rng), 100) < p->hot_share || v->hot_pages == v->pages)
			return below(rng_next(&w->rng), v->hot_pages);
		return v->hot_pages + below(rng_next(&w->rng), v->pages - v->hot_pages);
	default: /* GUEST_PATTERN_STRIDE */
		pg = w->idx;
		w->idx += p->stride;
		if (w->idx >= v->pages) {
			if (++w->off >= p->stride || w->off >= v->pages)
				w->off = 0;
			w->idx = w->off;
		}
		return pg;
	}
}

void __attribute__((noreturn)) guest_main(uint64_t cpu, struct guest_params *p)
{
	struct guest_vcpu *v = &p->vcpu[cpu];
	struct walk w = {.idx = v->start, .rng = v->seed};
	uint32_t batch = p->batch_pages;

	if (p->magic != GUEST_ABI_MAGIC || p->version != GUEST_ABI_VERSION)
		guest_panic(GUEST_PANIC_MAGIC);
	if (!v->pages || v->start >= v->pages || !v->seed || !batch || !p->stride ||
	    p->pattern > GUEST_PATTERN_STRIDE || !v->hot_pages || v->hot_pages > v->pages)
		guest_panic(GUEST_PANIC_PARAMS);
	if (p->pattern == GUEST_PATTERN_STRIDE)
		w.off = v->start % p->stride;

	for (;;) {
		guest_inl(GUEST_PORT_YIELD);
		uint64_t pass = v->pass;

		for (uint32_t i = 0; i < batch; i++) {
			uint64_t pg = next_page(p, v, &w);

			*(volatile uint64_t *)(v->base_gpa + pg * GUEST_PAGE_SIZE) = pass;
		}
		v->writes += batch;
	}
}
