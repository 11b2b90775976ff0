/*
 * io_loop.S - the simplest guest: N port writes, then done.
 * Reads N (u64) from HVR_GUEST_DATA and a port (u64) from HVR_GUEST_DATA + 8
 * (0: HVR_PORT_COUNT), writes N, N-1, ..., 1 to that port, leaves 0xc0ffee
 * in rbx and reports N on HVR_PORT_DONE. Runs in ring 0 or ring 3.
 */
#include "guest.inc"

	.globl	_start
_start:
	mov	rcx, qword ptr [HVR_GUEST_DATA]
	mov	r8, qword ptr [HVR_GUEST_DATA + 8]
	test	r8, r8
	jnz	1f
	mov	r8, HVR_PORT_COUNT
1:	test	rcx, rcx
	jz	3f
2:	mov	eax, ecx
	mov	dx, r8w
	out	dx, eax
	dec	rcx
	jnz	2b
3:	mov	ebx, 0xc0ffee           /* a known answer for the register test */
	mov	eax, dword ptr [HVR_GUEST_DATA]
	OUTL	HVR_PORT_DONE
	jmp	3b
