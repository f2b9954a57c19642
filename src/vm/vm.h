/* vm.h - dpt's built-in micro-VM: KVM, no device model, a freestanding guest that dirties
 * memory with a known pattern and writes the current pass number into every page it writes.
 *
 * Memory: slot 0 holds code, stack, page tables and parameters and is not dirty-logged; slot 1
 * is the workload memory and is dirty-logged. Guest memory is reached only through
 * vm_mem_ptr(), which checks bounds.
 *
 * Pacing: the guest writes a batch of pages, then yields through a port; the vCPU thread
 * sleeps until the batch is due, so the whole VM writes rate_pages pages per second.
 *
 * Passes: the guest stamps each page it writes with the pass number it read at its last
 * yield. vm_quiesce() stops every vCPU at its next yield, so a tracker that collects and then
 * bumps the pass while quiesced cuts intervals exactly at batch boundaries, and a page is dirty
 * in interval k exactly when it holds pass k's stamp.
 */
#ifndef DPT_VM_H
#define DPT_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum vm_pattern {
	VM_PATTERN_SEQ,     /* pages in order, wrapping around the working set */
	VM_PATTERN_RANDOM,  /* uniform random page of the working set */
	VM_PATTERN_HOTCOLD, /* hot_share % of writes go to the first hot_fraction % of the set */
	VM_PATTERN_STRIDE,  /* every stride-th page, then shift by one */
};

enum vm_log_mode {
	VM_LOG_NONE,
	VM_LOG_BITMAP, /* memslot dirty logging (GET/CLEAR) */
	VM_LOG_RING,   /* per-vCPU dirty rings; chosen before vCPUs are created */
};

struct vm_config {
	const char *kvm_device; /* NULL = "/dev/kvm" */
	unsigned nr_vcpus;      /* 1 .. VM_MAX_VCPUS */
	uint64_t mem_bytes;     /* workload memory, multiple of 2 MiB */
	uint64_t wss_bytes;     /* working set, 4 KiB multiple, <= mem_bytes */
	enum vm_pattern pattern;
	unsigned hot_share;     /* hotcold: percent of writes to the hot part (default 90) */
	unsigned hot_fraction;  /* hotcold: percent of the working set that is hot (default 10) */
	unsigned stride;        /* stride: in pages (default 16) */
	bool shared;            /* vCPUs share the whole working set (default: split it) */
	double rate_pages;      /* pages per second over all vCPUs; 0 = as fast as possible */
	unsigned batch_pages;   /* pages per yield (default 16) */
	enum vm_log_mode log_mode;
	uint32_t ring_entries;  /* dirty ring entries per vCPU (power of two), 0 = default */
	uint64_t seed;
};

#define VM_MAX_VCPUS 64

struct vm; /* defined in vm.c's private header; callers hold a pointer */

/* Validate cfg (dpt_fail reasons name the option), create the VM, its memory and vCPUs (not
 * yet running). *out is set on success. */
int vm_create(struct vm **out, const struct vm_config *cfg);
/* Start one thread per vCPU. */
int vm_start(struct vm *vm);
/* Stop every vCPU at its next yield and wait until all are stopped. Nests. Returns -errno
 * (with a reason) if the VM has failed. */
int vm_quiesce(struct vm *vm);
void vm_resume(struct vm *vm);
/* Stop and join the vCPU threads, free everything. Safe on a half-created VM and NULL. */
void vm_destroy(struct vm *vm);

/* An eventfd that becomes readable when a vCPU stopped with an error; vm_error() says why
 * (e.g. "vcpu 0: unexpected exit MMIO at rip 0x1234"). */
int vm_event_fd(const struct vm *vm);
const char *vm_error(const struct vm *vm);

/* Current pass stamp, and the next one (call while quiesced). */
uint64_t vm_pass(const struct vm *vm);
void vm_next_pass(struct vm *vm);

/* Workload memory: pages, guest-physical base. */
uint64_t vm_workload_pages(const struct vm *vm);
uint64_t vm_workload_gpa(const struct vm *vm);
/* The stamp a workload page holds (0 if never written); only meaningful while quiesced. */
uint64_t vm_page_stamp(const struct vm *vm, uint64_t page);
/* Per-vCPU count of page writes since the VM started (including repeats); read while quiesced. */
uint64_t vm_vcpu_writes(const struct vm *vm, unsigned vcpu);
unsigned vm_nr_vcpus(const struct vm *vm);
const struct vm_config *vm_config(const struct vm *vm);

/* Bounds-checked access to guest-physical memory: NULL unless [gpa, gpa+len) lies in one slot. */
void *vm_mem_ptr(struct vm *vm, uint64_t gpa, uint64_t len);

#endif
