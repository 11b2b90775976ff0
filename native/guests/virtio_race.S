/*
 * virtio_race.S - the driver's half of OS-7613, as ring-3 guest code.
 *
 * Round after round (see litmus.c for the protocol), for each instance i:
 *   avail_flags[i] = FOLLOW_NEW (NO_INTERRUPT cleared);  [mfence]
 *   saw[i] = used_idx[i]        -- the driver's virtqueue_poll()
 * The mfence is there when the host sets FOLLOW_FENCE (Linux always has it).
 * The host thread does the device's half at the same time.
 */
#include "guest.inc"

#define ARENA HVR_GUEST_DATA

	.globl	_start
_start:
	mov	rbx, ARENA
	mov	r12, 1                          /* round */
	xor	r13, r13                        /* instances run so far (barrier turn) */

wait_go:
	mov	rax, qword ptr [rbx + HVR_SB_GO]
	cmp	rax, -1
	je	finish
	cmp	rax, r12
	jae	go
	pause
	jmp	wait_go

go:
	mov	r14, qword ptr [rbx + HVR_SB_INSTANCES]
	mov	r15d, dword ptr [rbx + HVR_SB_FOLLOW_NEW]
	/* preload: bring every line into this core's cache */
	xor	ecx, ecx
1:	mov	rsi, rcx
	shl	rsi, 6
	mov	eax, dword ptr [rbx + rsi + HVR_SB_FOLLOW_VAR]
	mov	eax, dword ptr [rbx + rsi + HVR_SB_LEAD_VAR]
	inc	rcx
	cmp	rcx, r14
	jb	1b

	xor	ecx, ecx
instance:
	inc	r13
	mov	qword ptr [rbx + HVR_SB_FOLLOW_TURN], r13
2:	cmp	qword ptr [rbx + HVR_SB_LEAD_TURN], r13
	jae	3f
	pause
	jmp	2b
3:	mov	rsi, rcx
	shl	rsi, 6
	cmp	qword ptr [rbx + HVR_SB_FOLLOW_FENCE], 0
	jne	fenced
	mov	dword ptr [rbx + rsi + HVR_SB_FOLLOW_VAR], r15d
	mov	eax, dword ptr [rbx + rsi + HVR_SB_LEAD_VAR]
	jmp	4f
fenced:
	mov	dword ptr [rbx + rsi + HVR_SB_FOLLOW_VAR], r15d
	mfence
	mov	eax, dword ptr [rbx + rsi + HVR_SB_LEAD_VAR]
4:	mov	dword ptr [rbx + rcx * 4 + HVR_SB_FOLLOW_SAW], eax
	inc	rcx
	cmp	rcx, r14
	jb	instance

	mov	qword ptr [rbx + HVR_SB_DONE], r12
	inc	r12
	jmp	wait_go

finish:                                 /* ring 3: say so through the doorbell */
	mov	rdi, HVR_MMIO_DOORBELL
	mov	eax, 0
	mov	dword ptr [rdi + 4 * HVR_PORT_DONE], eax
	jmp	finish
