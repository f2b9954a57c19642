/* ring.c - the per-vCPU dirty rings (ring mode): harvest in order, reset, and the
 * KVM_EXIT_DIRTY_RING_FULL path.
 *
 * 1. KVM pushes {slot, offset} for a page the first time it is written after being protected,
 *    setting the entry's DIRTY flag last; we read flags with load-acquire, then the entry.
 * 2. A harvested entry is marked RESET with store-release; fetch moves on.
 * 3. KVM_RESET_DIRTY_RINGS (VM-wide) re-protects the pages of every entry marked RESET and
 *    hands the entries back to KVM.
 * 4. A vCPU whose ring reaches the soft limit exits with KVM_EXIT_DIRTY_RING_FULL and must not
 *    re-enter before its ring was harvested and reset: the vCPU thread calls the handler the
 *    tracker registered (which harvests into its current interval) or, without a tracker,
 *    harvests and discards.
 */
#include <errno.h>

#include "dpt/log.h"
#include "vm/vm-priv.h"

int64_t vm_ring_harvest(struct vm *vm, unsigned vcpu, vm_ring_fn *fn, void *arg)
{
	struct vm_vcpu *v;
	uint32_t mask;
	int64_t n = 0;

	if (!vm->ring_entries || vcpu >= vm->nr_vcpus_created)
		return dpt_fail(-EINVAL, "vcpu %u has no dirty ring", vcpu);
	v = &vm->vcpu[vcpu];
	mask = vm->ring_entries - 1;
	for (;;) {
		struct kvm_dirty_gfn *e = &v->ring[v->fetch & mask];
		uint32_t flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);

		if (!(flags & KVM_DIRTY_GFN_F_DIRTY))
			break;
		if (fn)
			fn(arg, vcpu, e->slot, e->offset);
		__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
		v->fetch++;
		n++;
	}
	return n;
}

int vm_ring_reset(struct vm *vm)
{
	int rc = VM_IOCTL(vm->vm_fd, KVM_RESET_DIRTY_RINGS, NULL);

	return rc < 0 ? rc : 0;
}

uint32_t vm_ring_entries(const struct vm *vm)
{
	return vm->ring_entries;
}

bool vm_ring_acq_rel(const struct vm *vm)
{
	return vm->ring_acq_rel;
}

uint64_t vm_ring_full_exits(const struct vm *vm)
{
	return __atomic_load_n(&vm->ring_full_exits, __ATOMIC_RELAXED);
}

void vm_set_ring_full_handler(struct vm *vm, int (*fn)(void *arg, unsigned vcpu), void *arg)
{
	/* Quiesced (or failed: then no vCPU thread is left), no vCPU thread is in a handler. */
	bool failed;
	int rc;

	pthread_mutex_lock(&vm->lock);
	failed = vm->failed;
	pthread_mutex_unlock(&vm->lock);
	rc = failed ? -EIO : vm_quiesce(vm);
	if (failed || rc < 0) {
		while (!vm_stopped(vm))
			vm_quiesce(vm); /* returns once the last vCPU thread has ended */
	}

	pthread_mutex_lock(&vm->lock);
	vm->ring_full = fn;
	vm->ring_full_arg = arg;
	pthread_mutex_unlock(&vm->lock);
	if (rc == 0)
		vm_resume(vm);
}

int vm_ring_full(struct vm_vcpu *v)
{
	struct vm *vm = v->vm;
	int (*fn)(void *, unsigned);
	void *arg;
	int64_t n;

	__atomic_add_fetch(&vm->ring_full_exits, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&vm->lock);
	fn = vm->ring_full;
	arg = vm->ring_full_arg;
	pthread_mutex_unlock(&vm->lock);
	if (fn) {
		int rc = fn(arg, v->index);

		return rc < 0 ? rc : VM_CONTINUE;
	}
	n = vm_ring_harvest(vm, v->index, NULL, NULL);
	if (n < 0)
		return (int)n;
	n = vm_ring_reset(vm);
	return n < 0 ? (int)n : VM_CONTINUE;
}
