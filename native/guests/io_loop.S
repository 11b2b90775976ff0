/*
 * io_loop.S - the simplest guest: N port writes, then done.
 * Reads N (u64) from HVR_GUEST_DATA, writes HVR_PORT_COUNT N times, leaves
 * 0xc0ffee in rbx and reports N on HVR_PORT_DONE. Runs in ring 0 or ring 3.
 */
#include "guest.inc"

	.globl	_start
_start:
	mov	rcx, qword ptr [HVR_GUEST_DATA]
	test	rcx, rcx
	jz	2f
1:	mov	eax, ecx
	OUTL	HVR_PORT_COUNT
	dec	rcx
	jnz	1b
2:	mov	ebx, 0xc0ffee           /* a known answer for the register test */
	mov	eax, dword ptr [HVR_GUEST_DATA]
	OUTL	HVR_PORT_DONE
	jmp	2b
