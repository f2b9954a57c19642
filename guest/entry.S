/* entry.S - the guest's first instruction. The host starts every vCPU here in long mode with
 * rdi = vCPU index, rsi = &guest_params and rsp = the top of the vCPU's stack (16-aligned).
 * guest_main never returns; if it did, the vCPU halts and the host reports it. */
	.section .text.entry, "ax"
	.globl guest_entry
	.type guest_entry, @function
guest_entry:
	call guest_main
1:	hlt
	jmp 1b
	.size guest_entry, . - guest_entry
	.section .note.GNU-stack, "", @progbits
