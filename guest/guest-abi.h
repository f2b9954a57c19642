/* guest-abi.h - the contract between dpt's micro-VM host (src/vm/) and its freestanding guest
 * (guest/). The one header both sides include; docs/guest-abi.md explains it in prose.
 *
 * Guest-physical layout (identity-mapped with 2 MiB pages, long mode, no IDT):
 *
 *	0x0000_1000  GDT                          slot 0, not dirty-logged
 *	0x0000_2000  struct guest_params          (host writes, guest reads; per-vCPU counters)
 *	0x0001_0000  PML4, PDPT, then one PD per GiB
 *	0x0020_0000  guest image (flat binary, entry at its first byte)
 *	0x0030_0000  stacks, GUEST_STACK_SIZE per vCPU
 *	0x4000_0000  workload memory              slot 1, dirty-logged
 *
 * Every vCPU enters guest_entry with rdi = its index, rsi = &guest_params, rsp = top of its
 * stack. Loop: IN from GUEST_PORT_YIELD (the host sleeps until the next batch is due and sets
 * vcpu[i].pass), write batch_pages pages with the pattern, each page's first 64-bit word := pass,
 * add batch_pages to vcpu[i].writes, yield again.
 */
#ifndef DPT_GUEST_ABI_H
#define DPT_GUEST_ABI_H

#include <stdint.h>

#define GUEST_ABI_MAGIC	  0x31545044u /* "DPT1" */
#define GUEST_ABI_VERSION 1

#define GUEST_PAGE_SIZE	 4096ULL
#define GUEST_LARGE_PAGE 0x200000ULL /* 2 MiB: the only page size used (1 GiB faults on PVM) */

#define GUEST_GDT_GPA	   0x1000ULL
#define GUEST_PARAMS_GPA   0x2000ULL
#define GUEST_PML4_GPA	   0x10000ULL
#define GUEST_PDPT_GPA	   0x11000ULL
#define GUEST_PD_GPA	   0x12000ULL /* PD i maps [i GiB, (i+1) GiB) */
#define GUEST_CODE_GPA	   0x200000ULL
#define GUEST_CODE_MAX	   0x100000ULL
#define GUEST_STACK_GPA	   0x300000ULL
#define GUEST_STACK_SIZE   0x4000ULL
#define GUEST_SLOT0_SIZE   0x400000ULL
#define GUEST_WORKLOAD_GPA 0x40000000ULL
#define GUEST_MAX_PDS	   ((GUEST_CODE_GPA - GUEST_PD_GPA) / 4096)

#define GUEST_MAX_VCPUS 64

/* Ports. IN (32 bits) from YIELD: pace and get the next pass; the value read is 0 (go on).
 * OUT (8 bits) to CONSOLE: one character of a debug line. OUT (32 bits) to PANIC: the guest
 * found something impossible (enum guest_panic); the host stops the VM with an error. */
#define GUEST_PORT_YIELD   0x00e0
#define GUEST_PORT_CONSOLE 0x00e9
#define GUEST_PORT_PANIC   0x00ea

enum guest_pattern {
	GUEST_PATTERN_SEQ = 0,
	GUEST_PATTERN_RANDOM = 1,
	GUEST_PATTERN_HOTCOLD = 2,
	GUEST_PATTERN_STRIDE = 3,
};

enum guest_panic {
	GUEST_PANIC_MAGIC = 1,	/* guest_params.magic/version mismatch */
	GUEST_PANIC_PARAMS = 2, /* a per-vCPU part is empty or the pattern unknown */
};

/* One vCPU's part of the working set and its counters; 64 bytes. */
struct guest_vcpu {
	uint64_t base_gpa;	  /* first page of this vCPU's part */
	uint64_t pages;		  /* pages in the part (>= 1) */
	uint64_t hot_pages;	  /* hotcold: the first hot_pages pages are hot (1..pages) */
	uint64_t start;		  /* first page index (seq, stride), < pages */
	uint64_t seed;		  /* PRNG seed (random, hotcold), nonzero */
	volatile uint64_t pass;	  /* host: stamp for the coming batch, set before a yield returns */
	volatile uint64_t writes; /* guest: pages written since boot (repeats included) */
	uint64_t reserved;
};

struct guest_params {
	uint32_t magic;	  /* GUEST_ABI_MAGIC */
	uint32_t version; /* GUEST_ABI_VERSION */
	uint32_t pattern; /* enum guest_pattern */
	uint32_t nr_vcpus;
	uint32_t batch_pages; /* pages written between two yields (>= 1) */
	uint32_t hot_share;   /* hotcold: percent of writes into the hot pages (0..100) */
	uint32_t stride;      /* stride: in pages (>= 1) */
	uint32_t reserved[9];
	struct guest_vcpu vcpu[GUEST_MAX_VCPUS];
};

_Static_assert(sizeof(struct guest_vcpu) == 64, "guest_vcpu is 64 bytes");
_Static_assert(GUEST_PARAMS_GPA + sizeof(struct guest_params) <= GUEST_PML4_GPA,
	       "guest_params fits below the page tables");

#endif
