/* guest.c - dpt's micro-VM guest: dirty pages with a pattern at the pace the host sets.
 *
 * Freestanding, no interrupts, no libc. Each vCPU runs guest_main(): it yields (IN from
 * GUEST_PORT_YIELD; the host sleeps until the next batch is due and stores the pass number in
 * its guest_vcpu), then writes batch_pages pages of its part of the working set, stamping the
 * first 64-bit word of each with the pass, counts them, and yields again. See guest-abi.h.
 * The patterns are in pattern.h, shared with the multiboot kernel (guest/multiboot/).
 */
#include <stdint.h>

#include "guest-abi.h"
#include "io.h"
#include "pattern.h"

static __attribute__((noreturn)) void guest_panic(uint32_t code)
{
	for (;;)
		guest_outl(GUEST_PORT_PANIC, code);
}

void __attribute__((noreturn)) guest_main(uint64_t cpu, struct guest_params *p)
{
	struct guest_vcpu *v = &p->vcpu[cpu];
	struct guest_walk w;
	uint32_t batch = p->batch_pages;

	if (p->magic != GUEST_ABI_MAGIC || p->version != GUEST_ABI_VERSION)
		guest_panic(GUEST_PANIC_MAGIC);
	if (guest_walk_init(&w, p->pattern, v->base_gpa, v->pages, v->start, v->seed, v->hot_pages,
			    p->hot_share, p->stride) ||
	    !batch)
		guest_panic(GUEST_PANIC_PARAMS);

	for (;;) {
		guest_inl(GUEST_PORT_YIELD);
		guest_walk_write(&w, batch, v->pass);
		v->writes += batch;
	}
}
