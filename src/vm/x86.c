/* x86.c - the micro-VM's x86 state: identity page tables (2 MiB pages), a flat GDT, the guest
 * parameter block and the guest image in slot 0, and the long-mode registers of each vCPU.
 *
 * No real mode, no boot loader: the host writes the page tables and sets CR0/CR3/CR4/EFER
 * and 64-bit segments directly with KVM_SET_SREGS, and RIP/RSP/RDI/RSI with KVM_SET_REGS.
 * There is no IDT: any exception triple-faults and shows up as KVM_EXIT_SHUTDOWN.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "dpt/log.h"
#include "vm/vm-priv.h"

#define PTE_P  (1ULL << 0)
#define PTE_RW (1ULL << 1)
#define PTE_PS (1ULL << 7)

#define CR0_PE	 (1ULL << 0)
#define CR0_MP	 (1ULL << 1)
#define CR0_ET	 (1ULL << 4)
#define CR0_NE	 (1ULL << 5)
#define CR0_WP	 (1ULL << 16)
#define CR0_AM	 (1ULL << 18)
#define CR0_PG	 (1ULL << 31)
#define CR4_PAE	 (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

#define SEL_CODE 0x08
#define SEL_DATA 0x10
#define SEL_TSS	 0x18

extern const unsigned char guest_blob_start[], guest_blob_end[];

static void *slot0(struct vm *vm, uint64_t gpa, uint64_t len)
{
	return vm_mem_ptr(vm, gpa, len);
}

static int setup_page_tables(struct vm *vm)
{
	uint64_t end = vm->slot[1].gpa + vm->slot[1].size;
	uint64_t nr_pds = (end + (1ULL << 30) - 1) >> 30;
	uint64_t *pml4 = slot0(vm, GUEST_PML4_GPA, 4096);
	uint64_t *pdpt = slot0(vm, GUEST_PDPT_GPA, 4096);
	uint64_t *pd = slot0(vm, GUEST_PD_GPA, nr_pds * 4096);

	if (nr_pds > GUEST_MAX_PDS || nr_pds > 512 || !pml4 || !pdpt || !pd)
		return dpt_fail(-EINVAL, "guest memory too large for the page tables");
	pml4[0] = GUEST_PDPT_GPA | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < nr_pds; i++)
		pdpt[i] = (GUEST_PD_GPA + i * 4096) | PTE_P | PTE_RW;
	/* 2 MiB identity pages; never 1 GiB pages (PVM triple-faults on them). */
	for (uint64_t i = 0; i < nr_pds * 512; i++)
		pd[i] = i * GUEST_LARGE_PAGE | PTE_P | PTE_RW | PTE_PS;
	return 0;
}

static void setup_gdt(uint64_t *gdt)
{
	gdt[0] = 0;
	gdt[1] = 0x00af9a000000ffffULL; /* 64-bit code, DPL 0 */
	gdt[2] = 0x00cf92000000ffffULL; /* data, DPL 0 */
	gdt[3] = 0x00008b0000000067ULL; /* busy 64-bit TSS at 0 (16 bytes, upper half 0) */
	gdt[4] = 0;
}

static void setup_params(struct vm *vm)
{
	const struct vm_config *c = &vm->cfg;
	struct guest_params *p = vm->params;
	uint64_t wss = c->wss_bytes / GUEST_PAGE_SIZE, n = c->nr_vcpus;

	p->magic = GUEST_ABI_MAGIC;
	p->version = GUEST_ABI_VERSION;
	p->pattern = (uint32_t)c->pattern;
	p->nr_vcpus = c->nr_vcpus;
	p->batch_pages = c->batch_pages;
	p->hot_share = c->hot_share;
	p->stride = c->stride;
	for (uint64_t i = 0; i < n; i++) {
		struct guest_vcpu *g = &p->vcpu[i];
		uint64_t first = c->shared ? 0 : i * wss / n;
		uint64_t pages = c->shared ? wss : (i + 1) * wss / n - first;
		uint64_t z = c->seed + (i + 1) * 0x9E3779B97F4A7C15ULL; /* splitmix64 */

		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
		z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
		g->base_gpa = vm->slot[1].gpa + first * GUEST_PAGE_SIZE;
		g->pages = pages;
		g->hot_pages = pages * c->hot_fraction / 100 ? pages * c->hot_fraction / 100 : 1;
		g->start = c->shared ? i * wss / n : 0;
		g->seed = (z ^ (z >> 31)) | 1;
		g->pass = 0;
		g->writes = 0;
	}
}

int vm_x86_setup_memory(struct vm *vm)
{
	size_t blob = (size_t)(guest_blob_end - guest_blob_start);
	void *code = slot0(vm, GUEST_CODE_GPA, blob);
	uint64_t *gdt = slot0(vm, GUEST_GDT_GPA, 5 * sizeof(uint64_t));
	int rc;

	if (!code || blob > GUEST_CODE_MAX || !gdt)
		return dpt_fail(-EINVAL, "guest image of %zu bytes does not fit", blob);
	memcpy(code, guest_blob_start, blob);
	setup_gdt(gdt);
	rc = setup_page_tables(vm);
	if (rc < 0)
		return rc;
	vm->params = slot0(vm, GUEST_PARAMS_GPA, sizeof(*vm->params));
	setup_params(vm);
	return 0;
}

static int setup_cpuid(struct vm *vm, struct vm_vcpu *v)
{
	for (unsigned nent = 128;; nent *= 2) {
		struct kvm_cpuid2 *cpuid =
		    calloc(1, sizeof(*cpuid) + nent * sizeof(cpuid->entries[0]));
		int rc;

		if (!cpuid)
			return dpt_fail(-ENOMEM, "out of memory");
		cpuid->nent = nent;
		rc = ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0 ? -errno : 0;
		if (rc == -E2BIG && nent < 4096) {
			free(cpuid);
			continue;
		}
		if (rc < 0)
			rc = dpt_fail(rc, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-rc));
		else
			rc = VM_IOCTL(v->fd, KVM_SET_CPUID2, cpuid);
		free(cpuid);
		return rc;
	}
}

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

static int setup_sregs(struct vm_vcpu *v)
{
	struct kvm_sregs sregs;
	int rc = VM_IOCTL(v->fd, KVM_GET_SREGS, &sregs);

	if (rc < 0)
		return rc;
	set_seg(&sregs.cs, SEL_CODE, 11, true);
	set_seg(&sregs.ds, SEL_DATA, 3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = SEL_TSS;
	sregs.tr.limit = 0x67;
	sregs.tr.type = 11;
	sregs.tr.present = 1;
	sregs.gdt.base = GUEST_GDT_GPA;
	sregs.gdt.limit = 5 * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;
	sregs.cr3 = GUEST_PML4_GPA;
	sregs.cr4 = CR4_PAE;
	sregs.efer = EFER_LME | EFER_LMA;
	return VM_IOCTL(v->fd, KVM_SET_SREGS, &sregs);
}

int vm_x86_setup_vcpu(struct vm *vm, struct vm_vcpu *v)
{
	struct kvm_regs regs = {
	    .rip = GUEST_CODE_GPA,
	    .rsp = GUEST_STACK_GPA + (v->index + 1) * GUEST_STACK_SIZE,
	    .rdi = v->index,
	    .rsi = GUEST_PARAMS_GPA,
	    .rflags = 0x2,
	};
	int rc = setup_cpuid(vm, v);

	if (rc == 0)
		rc = setup_sregs(v);
	if (rc == 0)
		rc = VM_IOCTL(v->fd, KVM_SET_REGS, &regs);
	return rc;
}
