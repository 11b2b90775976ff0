/*
 * io_loop.S - the simplest guest: N port writes, then done.
 * Reads N (u64) from HVR_GUEST_DATA, writes HVR_PORT_COUNT N times, leaves
 * 0xc0ffee in rax and reports N on HVR_PORT_DONE. Runs in ring 0 or ring 3.
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
2:	mov	eax, dword ptr [HVR_GUEST_DATA]
	mov	ebx, eax
	mov	eax, 0xc0ffee
	xchg	eax, ebx
	OUTL	HVR_PORT_DONE
	mov	eax, ebx
	OUTL	HVR_PORT_DONE
	jmp	2b
