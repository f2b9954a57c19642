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
#include <stddef.h>
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

/* Fields marked "0 = default" may be left zero. */
struct vm_config {
	const char *kvm_device; /* NULL = "/dev/kvm" */
	unsigned nr_vcpus;      /* 1 .. VM_MAX_VCPUS */
	uint64_t mem_bytes;     /* workload memory, multiple of 2 MiB */
	uint64_t wss_bytes;     /* working set, 4 KiB multiple, <= mem_bytes; 0 = mem_bytes */
	enum vm_pattern pattern;
	unsigned hot_share;     /* hotcold: percent of writes to the hot part (0 = 90) */
	unsigned hot_fraction;  /* hotcold: percent of the working set that is hot (0 = 10) */
	unsigned stride;        /* stride: in pages (0 = 16) */
	bool shared;            /* vCPUs share the whole working set (default: split it) */
	double rate_pages;      /* pages per second over all vCPUs; 0 = as fast as possible */
	unsigned batch_pages;   /* pages per yield (0 = 16) */
	enum vm_log_mode log_mode;
	uint32_t ring_entries;  /* dirty ring entries per vCPU (power of two), 0 = 16384 or the
				   largest KVM offers */
	uint64_t seed;
};

#define VM_MAX_VCPUS 64
#define VM_MAX_MEM   (256ULL << 30) /* workload memory */

struct vm; /* defined in vm.c's private header; callers hold a pointer */

/* Validate cfg (dpt_fail reasons name the option), create the VM, its memory and vCPUs (not
 * yet running). *out is set on success. */
int vm_create(struct vm **out, const struct vm_config *cfg);
/* Start one thread per vCPU. The threads inherit the caller's signal mask. */
int vm_start(struct vm *vm);
/* Stop every vCPU at its next yield and wait until all are stopped. Nests: each successful
 * call needs one vm_resume(). Returns -EIO (with vm_error() as the reason) if the VM has
 * failed; then it is not quiesced (do not resume it) but stopped for good: every vCPU thread
 * has ended, so memory and dirty logs can still be read. Works before vm_start(). */
int vm_quiesce(struct vm *vm);
void vm_resume(struct vm *vm);
/* Change the write rate (pages/s over all vCPUs; 0 = as fast as possible) from now on: a new
 * schedule starts now, batches already due under the old one are forgiven. Any time, also
 * while running; call it while quiesced to place the change exactly at an interval boundary. */
int vm_set_rate(struct vm *vm, double rate_pages);
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
/* The workload pages vCPU vcpu writes: [first_page, first_page + pages) (all of the working
 * set when cfg.shared; else the working set is cut into nr_vcpus nearly equal parts). */
void vm_vcpu_part(const struct vm *vm, unsigned vcpu, uint64_t *first_page, uint64_t *pages);
const struct vm_config *vm_config(const struct vm *vm);

/* Bounds-checked access to guest-physical memory: NULL unless [gpa, gpa+len) lies in one slot. */
void *vm_mem_ptr(struct vm *vm, uint64_t gpa, uint64_t len);

/* True once the VM failed and every vCPU thread has ended. */
bool vm_stopped(struct vm *vm);

/* --- Dirty logging, for the kvm tracker --------------------------------------------------- */

#define VM_WORKLOAD_SLOT 1 /* the dirty-logged memory slot */

/* The KVM VM fd (dirty-log ioctls on VM_WORKLOAD_SLOT). */
int vm_fd(const struct vm *vm);
/* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 flags in force (0: GET_DIRTY_LOG gets and clears).
 * vm_create enables MANUAL_PROTECT_ENABLE | INITIALLY_SET in bitmap mode when offered;
 * vm_set_manual_protect changes them (KVM allows it at any time; 0 turns it off). */
uint32_t vm_manual_protect(const struct vm *vm);
int vm_set_manual_protect(struct vm *vm, uint32_t flags);

/* Ring mode: entries per vCPU (0 when the VM has no rings), whether the ACQ_REL flavour is
 * in use, and how many KVM_EXIT_DIRTY_RING_FULL exits the vCPUs took. */
uint32_t vm_ring_entries(const struct vm *vm);
bool vm_ring_acq_rel(const struct vm *vm);
uint64_t vm_ring_full_exits(const struct vm *vm);

/* Harvest vCPU vcpu's ring in order: fn (may be NULL) sees each dirty entry's slot
 * ((address space << 16) | slot id) and page offset in that slot; entries are then marked for
 * reset. Returns the number harvested or -errno. Call while the vCPU is parked (quiesced) or
 * from its own ring-full handler. Pages are re-protected only by vm_ring_reset(). */
typedef void vm_ring_fn(void *arg, unsigned vcpu, uint32_t slot, uint64_t offset);
int64_t vm_ring_harvest(struct vm *vm, unsigned vcpu, vm_ring_fn *fn, void *arg);
/* KVM_RESET_DIRTY_RINGS: re-protect the pages of every harvested entry, VM-wide. */
int vm_ring_reset(struct vm *vm);
/* The function vCPU threads call on KVM_EXIT_DIRTY_RING_FULL (it must harvest that vCPU's
 * ring and reset; return 0 or -errno with a reason, which stops the VM). NULL restores the
 * default: harvest and discard. Quiesces the VM around the change. */
void vm_set_ring_full_handler(struct vm *vm, int (*fn)(void *arg, unsigned vcpu), void *arg);

/* --- What a KVM device offers (for vm_create, the tracker's probe and `dpt check`) -------- */

#define KVM_RING_MIN_ENTRIES 256 /* one 4 KiB page of struct kvm_dirty_gfn */
#ifndef KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP
#define KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP 225
#endif

struct kvm_caps {
	int api_version;
	int max_vcpus;
	int nr_memslots;
	uint32_t manual_protect;   /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 flags offered (0: none) */
	uint32_t ring_min_entries; /* dirty ring sizes offered per vCPU; 0/0: no dirty ring */
	uint32_t ring_max_entries;
	bool ring_acq_rel;         /* KVM_CAP_DIRTY_LOG_RING_ACQ_REL */
	bool ring_with_bitmap;     /* KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP */
};

/* The kvm tracker's opts->extra (optional): which device probe() checks. */
struct kvm_tracker_extra {
	const char *kvm_device; /* NULL = /dev/kvm */
};

struct dpt_tracker;

/* Create the micro-VM for cfg, open the kvm tracker on it in mode (NULL = bitmap) and start the
 * vCPUs: what `dpt vm`, `dpt check` and the tests do. 0, or -errno with a reason and nothing left
 * (*vm NULL, t closed). Undo with kvm_vm_stop(). */
int kvm_vm_start(const struct vm_config *cfg, const char *mode, struct vm **vm,
		 struct dpt_tracker *t);
/* Close the tracker, then destroy the VM (in that order: ring mode takes its ring-full handler
 * back from the VM). Safe after a failed kvm_vm_start(). */
void kvm_vm_stop(struct vm *vm, struct dpt_tracker *t);

/* Open dev (NULL = /dev/kvm), create a scratch VM and read its caps. 0, or -errno with a
 * reason ("/dev/kvm: No such file or directory", "/dev/null: not a KVM device"). */
int kvm_query_caps(const char *dev, struct kvm_caps *out);

#endif
