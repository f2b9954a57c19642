/* entry.S - the multiboot kernel's header, 32-bit entry and switch to long mode.
 *
 * A multiboot (v1) loader (QEMU's -kernel, GRUB) enters mb_entry in 32-bit protected mode,
 * paging off, with EAX = 0x2BADB002 and EBX = the multiboot information. We load our own GDT,
 * identity-map the first 4 GiB with 2 MiB pages (1 GiB pages triple-fault under PVM), enable
 * PAE, long mode and paging, and call mb_main(magic, info) on the stack in the hot page.
 *
 * Nothing here is written once the kernel runs: the page-table entries and the GDT descriptors
 * have their accessed (and, for the 2 MiB pages, dirty) bits preset, so the CPU never writes
 * them back, and the guest's own footprint in a dirty-page count is the hot page alone (see
 * main.c).
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000002 /* bit 1: we want the memory fields of the info */

#define PTE_P	0x001
#define PTE_RW	0x002
#define PTE_A	0x020
#define PTE_D	0x040
#define PTE_PS	0x080
#define PT_LINK (PTE_P | PTE_RW | PTE_A)
#define PD_2M	(PTE_P | PTE_RW | PTE_A | PTE_D | PTE_PS)

#define CR0_PE	   0x00000001
#define CR0_PG	   0x80000000
#define CR4_PAE	   0x00000020
#define MSR_EFER   0xC0000080
#define EFER_LME   0x00000100
#define SEL_CODE64 0x08
#define SEL_DATA   0x10
#define HOT_SIZE   4096

	.section .multiboot, "a"
	.balign 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.section .text.entry, "ax"
	.code32
	.globl mb_entry
	.type mb_entry, @function
mb_entry:
	cli
	cld
	movl %eax, %edi			/* magic and info: mb_main's arguments */
	movl %ebx, %esi
	lgdt gdt_desc
	movw $SEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	movl $mb_hot + HOT_SIZE, %esp
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_PE), %eax
	movl %eax, %cr0
	ljmp $SEL_CODE64, $long_mode
	.size mb_entry, . - mb_entry

	.code64
long_mode:
	movl $mb_hot + HOT_SIZE, %esp
	movl %edi, %edi			/* zero-extend: the upper halves are undefined here */
	movl %esi, %esi
	call mb_main
1:	cli
	hlt
	jmp 1b

	.section .rodata.gdt, "a"
	.balign 16
gdt:
	.quad 0
	.quad 0x00af9b000000ffff	/* 0x08: 64-bit code, DPL 0, accessed */
	.quad 0x00cf93000000ffff	/* 0x10: flat data, accessed */
gdt_end:
	.balign 8
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt

	.section .rodata.pt, "a"
	.balign 4096
pml4:
	.quad pdpt + PT_LINK
	.fill 511, 8, 0
pdpt:
	.quad pd + PT_LINK, pd + 0x1000 + PT_LINK, pd + 0x2000 + PT_LINK, pd + 0x3000 + PT_LINK
	.fill 508, 8, 0
pd:					/* 4 PDs: 2048 x 2 MiB = the first 4 GiB */
	.set i, 0
	.rept 2048
	.quad (i << 21) | PD_2M
	.set i, i + 1
	.endr

	.section .note.GNU-stack, "", @progbits
