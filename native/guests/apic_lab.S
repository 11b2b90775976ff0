/*
 * apic_lab.S - a ring-0 guest that does what the host tells it, one command
 * at a time, so the host can drive the local APIC step by step.
 *
 * Every vector has a stub that logs the vector on HVR_PORT_LOG and returns
 * with iretq - without an EOI, so the vector stays in service (ISR) until
 * the host sends the EOI command. Exceptions (vectors 0-31) are reported on
 * HVR_PORT_FAULT. The command loop runs with interrupts disabled; only HALT
 * (sti; hlt) and WINDOW (sti; one port read; cli) let interrupts in. The
 * window holds an exit because some hypervisors inject only on VM entry.
 */
#include "guest.inc"

#define IDT_GPA    0x8000
#define APIC_BASE  0xfee00000
#define APIC_TPR   0x80
#define APIC_EOI   0xb0
#define APIC_SVR   0xf0
#define STUB_SIZE  16

#define CMD_PING    1
#define CMD_SET_TPR 2
#define CMD_EOI     3
#define CMD_HALT    4
#define CMD_WINDOW  5
#define CMD_DONE    6

	.globl	_start
_start:
	cli
	call	idt_build
	lidt	[rip + idtr]
	mov	rbx, APIC_BASE
	mov	dword ptr [rbx + APIC_SVR], 0x1ff       /* software-enable, spurious 0xff */

command:
	INL	HVR_PORT_CMD
	mov	ecx, eax
	INL	HVR_PORT_ARG
	cmp	ecx, CMD_SET_TPR
	je	set_tpr
	cmp	ecx, CMD_EOI
	je	eoi
	cmp	ecx, CMD_HALT
	je	halt
	cmp	ecx, CMD_WINDOW
	je	window
	cmp	ecx, CMD_DONE
	je	done
	jmp	command                                 /* PING and unknown: no-op */

set_tpr:
	mov	dword ptr [rbx + APIC_TPR], eax
	jmp	command
eoi:
	mov	dword ptr [rbx + APIC_EOI], 0
	jmp	command
halt:
	sti
	hlt                     /* sleeps until a deliverable interrupt arrives */
	cli
	jmp	command
window:
	sti
	INL	HVR_PORT_ARG    /* an exit inside the window: the host may inject here */
	cli
	jmp	command
done:
	OUTL	HVR_PORT_DONE
	jmp	done

/* Fill the 256 interrupt gates: selector 0x08, present, DPL 0, 64-bit interrupt gate. */
idt_build:
	lea	rsi, [rip + stubs]
	mov	edi, IDT_GPA
	mov	ecx, 256
1:	mov	eax, esi
	mov	word ptr [rdi], ax
	mov	word ptr [rdi + 2], 0x08
	mov	word ptr [rdi + 4], 0x8e00
	shr	eax, 16
	mov	word ptr [rdi + 6], ax
	mov	qword ptr [rdi + 8], 0
	add	rsi, STUB_SIZE
	add	rdi, 16
	dec	ecx
	jnz	1b
	ret

/* Every stub pushes its vector (imm32 form, so each stub has the same size). */
	.balign	STUB_SIZE
stubs:
	.set	vec, 0
	.rept	256
	.balign	STUB_SIZE
	.byte	0x68            /* push imm32 */
	.long	vec
	jmp	common
	.set	vec, vec + 1
	.endr

common:
	push	rax
	push	rdx
	mov	rax, qword ptr [rsp + 16]
	cmp	eax, 32
	jb	fault
	OUTL	HVR_PORT_LOG    /* the handler ran; no EOI: that is the host's call */
	pop	rdx
	pop	rax
	add	rsp, 8
	iretq
fault:
	OUTL	HVR_PORT_FAULT
	jmp	fault

	.balign	8
idtr:
	.word	256 * 16 - 1
	.quad	IDT_GPA
