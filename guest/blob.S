/* blob.S - embeds the guest's flat binary (GUEST_BIN, set by guest/guest.mk) in the host
 * library as guest_blob_start .. guest_blob_end (read-only data). */
	.section .rodata.guest_blob, "a"
	.balign 4096
	.globl guest_blob_start
	.globl guest_blob_end
guest_blob_start:
	.incbin GUEST_BIN
guest_blob_end:
	.section .note.GNU-stack, "", @progbits
