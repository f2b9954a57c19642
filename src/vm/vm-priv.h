/* vm-priv.h - the micro-VM's private state, shared by the files of src/vm/ only.
 *
 * Locking: vm->lock guards the quiesce/park counters, the stop and failure state and the
 * error text; vCPU threads wait on vm->wake, vm_quiesce() waits on vm->parked_cond. The pass
 * number is written only while every vCPU is parked, and read by vCPU threads under vm->lock.
 */
#ifndef DPT_VM_PRIV_H
#define DPT_VM_PRIV_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vm/vm.h"
#include "../../guest/guest-abi.h"

struct vm_slot {
	uint32_t id;
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

struct vm_vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool thread_started;

	/* Pacing: the next batch is due at vm->t0_ns + batches * vm->batch_ns. */
	uint64_t batches;

	/* Dirty ring (ring mode): mapped from the vCPU fd; fetch is the next entry to harvest. */
	struct kvm_dirty_gfn *ring;
	size_t ring_bytes;
	uint32_t fetch;
};

struct vm {
	struct vm_config cfg;
	int kvm_fd, vm_fd, event_fd;
	struct vm_slot slot[2]; /* 0: code, tables, params; 1: workload (dirty-logged) */
	struct vm_vcpu vcpu[VM_MAX_VCPUS];
	unsigned nr_vcpus_created;
	struct guest_params *params;

	uint32_t manual_protect; /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 flags now enabled */
	uint32_t ring_entries;	 /* ring mode: entries per vCPU */
	bool ring_acq_rel;	 /* ring mode: enabled through KVM_CAP_DIRTY_LOG_RING_ACQ_REL */
	uint64_t ring_full_exits;
	int (*ring_full)(void *arg, unsigned vcpu); /* ring-full handler (tracker), or NULL */
	void *ring_full_arg;

	double batch_ns; /* time per batch of one vCPU; 0 = unpaced */
	uint64_t t0_ns;	 /* CLOCK_MONOTONIC at vm_start */

	pthread_mutex_t lock;
	pthread_cond_t wake;	    /* vCPU threads: resume, stop, or the sleep is over */
	pthread_cond_t parked_cond; /* vm_quiesce(): one more vCPU parked or stopped */
	unsigned quiesce;	    /* nesting count */
	unsigned parked;	    /* vCPU threads waiting at a yield while quiesced */
	unsigned running;	    /* vCPU threads alive */
	bool stopping;		    /* vm_destroy or a failure: threads end at their next yield */
	bool failed;
	char error[256];
	uint64_t pass;
};

/* Why a vCPU thread stops: keep running, stop quietly (vm_destroy), or stop with an error. */
enum vm_exit_action {
	VM_CONTINUE = 0,
	VM_STOP = 1,
};

/* x86.c: page tables, GDT and parameters in slot 0; long-mode registers of one vCPU. */
int vm_x86_setup_memory(struct vm *vm);
int vm_x86_setup_vcpu(struct vm *vm, struct vm_vcpu *v);

/* pio.c: handle a KVM_EXIT_IO. Returns VM_CONTINUE, VM_STOP, or -errno with a reason. */
int vm_pio_dispatch(struct vm_vcpu *v);

/* ring.c: KVM_EXIT_DIRTY_RING_FULL on vCPU v: VM_CONTINUE or -errno with a reason. */
int vm_ring_full(struct vm_vcpu *v);

/* config.c: check cfg and fill its defaults (0 = default for the optional fields). */
int vm_config_check(struct vm_config *cfg);

/* kvm-caps.c: open a KVM device (reasons: "PATH: No such file...", "PATH: not a KVM device"),
 * and read the dirty-log caps of a VM fd. */
int kvm_open_device(const char *path);
void kvm_caps_from_vm(int vm_fd, struct kvm_caps *out);

/* vcpu.c: the vCPU thread. */
void *vm_vcpu_thread(void *arg);
const char *vm_exit_name(uint32_t reason);

/* vm.c: stop the VM with an error (first one wins), from a vCPU thread. */
void vm_set_failed(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t vm_now_ns(void);

/* ioctl wrapper that records "NAME: strerror" and returns -errno. */
int vm_ioctl(int fd, unsigned long req, void *arg, const char *name);
#define VM_IOCTL(fd, req, arg) vm_ioctl((fd), (req), (arg), #req)

#endif
