/* vcpu.c - one thread per vCPU: KVM_RUN in a loop, dispatching exits.
 *
 * Port I/O goes to the port table (pio.c), KVM_EXIT_DIRTY_RING_FULL to the ring-full handler
 * (ring.c), HLT and SHUTDOWN end the VM with a reason, and any other exit stops the VM with an
 * error naming the exit reason and the guest's rip. A stop is recorded for vm_error() and
 * signalled on vm_event_fd(). The thread keeps the signal mask it inherited from the thread
 * that called vm_start() (the CLI blocks SIGINT and friends there).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "dpt/log.h"
#include "vm/vm-priv.h"

static const char *const exit_names[] = {
    [KVM_EXIT_UNKNOWN] = "UNKNOWN",
    [KVM_EXIT_EXCEPTION] = "EXCEPTION",
    [KVM_EXIT_IO] = "IO",
    [KVM_EXIT_HYPERCALL] = "HYPERCALL",
    [KVM_EXIT_DEBUG] = "DEBUG",
    [KVM_EXIT_HLT] = "HLT",
    [KVM_EXIT_MMIO] = "MMIO",
    [KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
    [KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
    [KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
    [KVM_EXIT_INTR] = "INTR",
    [KVM_EXIT_SET_TPR] = "SET_TPR",
    [KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
    [KVM_EXIT_S390_SIEIC] = "S390_SIEIC",
    [KVM_EXIT_S390_RESET] = "S390_RESET",
    [KVM_EXIT_DCR] = "DCR",
    [KVM_EXIT_NMI] = "NMI",
    [KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
    [KVM_EXIT_OSI] = "OSI",
    [KVM_EXIT_PAPR_HCALL] = "PAPR_HCALL",
    [KVM_EXIT_S390_UCONTROL] = "S390_UCONTROL",
    [KVM_EXIT_WATCHDOG] = "WATCHDOG",
    [KVM_EXIT_S390_TSCH] = "S390_TSCH",
    [KVM_EXIT_EPR] = "EPR",
    [KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
    [KVM_EXIT_S390_STSI] = "S390_STSI",
    [KVM_EXIT_IOAPIC_EOI] = "IOAPIC_EOI",
    [KVM_EXIT_HYPERV] = "HYPERV",
    [KVM_EXIT_ARM_NISV] = "ARM_NISV",
    [KVM_EXIT_X86_RDMSR] = "X86_RDMSR",
    [KVM_EXIT_X86_WRMSR] = "X86_WRMSR",
    [KVM_EXIT_DIRTY_RING_FULL] = "DIRTY_RING_FULL",
    [KVM_EXIT_AP_RESET_HOLD] = "AP_RESET_HOLD",
    [KVM_EXIT_X86_BUS_LOCK] = "X86_BUS_LOCK",
    [KVM_EXIT_XEN] = "XEN",
    [KVM_EXIT_RISCV_SBI] = "RISCV_SBI",
    [KVM_EXIT_RISCV_CSR] = "RISCV_CSR",
    [KVM_EXIT_NOTIFY] = "NOTIFY",
};

const char *vm_exit_name(uint32_t reason)
{
	if (reason < sizeof(exit_names) / sizeof(exit_names[0]) && exit_names[reason])
		return exit_names[reason];
	return "(unnamed)";
}

static uint64_t guest_rip(struct vm_vcpu *v)
{
	struct kvm_regs regs;

	return ioctl(v->fd, KVM_GET_REGS, &regs) == 0 ? regs.rip : 0;
}

/* Handle one exit: VM_CONTINUE, VM_STOP (quietly), or -errno with a reason recorded. */
static int handle_exit(struct vm_vcpu *v)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return vm_pio_dispatch(v);
	case KVM_EXIT_DIRTY_RING_FULL:
		return vm_ring_full(v);
	case KVM_EXIT_INTR:
		return VM_CONTINUE;
	case KVM_EXIT_HLT:
		return dpt_fail(-EPIPE, "guest halted");
	case KVM_EXIT_SHUTDOWN:
		return dpt_fail(-EFAULT, "guest shut down (triple fault)");
	case KVM_EXIT_FAIL_ENTRY:
		return dpt_fail(-EIO, "unexpected exit FAIL_ENTRY (hardware reason 0x%llx)",
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
	case KVM_EXIT_INTERNAL_ERROR:
		return dpt_fail(-EIO, "unexpected exit INTERNAL_ERROR (suberror %u)",
				run->internal.suberror);
	default:
		return dpt_fail(-EIO, "unexpected exit %s (%u)", vm_exit_name(run->exit_reason),
				run->exit_reason);
	}
}

void *vm_vcpu_thread(void *arg)
{
	struct vm_vcpu *v = arg;
	struct vm *vm = v->vm;
	int rc;

	dpt_clear_error();
	for (;;) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			rc = dpt_fail(-errno, "KVM_RUN: %s", strerror(errno));
		} else {
			rc = handle_exit(v);
		}
		if (rc == VM_CONTINUE)
			continue;
		if (rc < 0)
			vm_set_failed(vm, "vcpu %u: %s at rip 0x%llx", v->index, dpt_last_error(),
				      (unsigned long long)guest_rip(v));
		break;
	}
	pthread_mutex_lock(&vm->lock);
	vm->running--;
	pthread_cond_broadcast(&vm->parked_cond);
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}
