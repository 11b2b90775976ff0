/*
 * ioapic_write.S - one guest, two vCPUs: one reprograms an IOAPIC pin, the
 * other only keeps running (OS-7622's vioapic_write, on KVM).
 *
 * Ring 0. Each vCPU reads its local APIC ID and takes its part:
 *
 * - APIC ID 0, the writer: maps the IOAPIC page (uncached, like the local
 *   APIC's), points pin 6 at the vCPUs in HVR_IOAPIC_DEST (high dword), then
 *   writes the low dword bhyve's report shows - 0x1a036: masked, level
 *   triggered, active low, vector 0x36. It reads the entry back, logs it on
 *   HVR_PORT_LOG and reports HVR_IOAPIC_WRITER_DONE on HVR_PORT_DONE.
 * - Any other ID: sets HVR_IOAPIC_STARTED (so the host knows it is in the
 *   guest), then spins until the host sets HVR_IOAPIC_GO, and reports
 *   HVR_IOAPIC_OTHER_DONE.
 *
 * The host decides whether the other vCPU spins in the guest during the
 * write or is held outside KVM_RUN by its host thread.
 */
#include "guest.inc"

#define APIC_BASE        0xfee00000
#define APIC_ID          0x20
#define IOAPIC_BASE      0xfec00000
#define IOREGSEL         0x00
#define IOWIN            0x10
#define PD_APIC_GPA      0x4000          /* the page directory of the 3-4 GiB range */
#define PDE_UNCACHED_2M  0x9b            /* present, writable, PWT, PCD, 2 MiB page */
#define PIN6_LOW         0x1c
#define PIN6_HIGH        0x1d
#define PIN6_VALUE       0x1a036

	.globl	_start
_start:
	cli
	mov	rbx, APIC_BASE
	mov	eax, dword ptr [rbx + APIC_ID]
	shr	eax, 24
	test	eax, eax
	jnz	other

writer:
	mov	rax, IOAPIC_BASE | PDE_UNCACHED_2M
	mov	rbx, PD_APIC_GPA + ((IOAPIC_BASE >> 21) & 511) * 8
	mov	qword ptr [rbx], rax
	mov	rbx, IOAPIC_BASE
	invlpg	[rbx]
	mov	dword ptr [rbx + IOREGSEL], PIN6_HIGH
	mov	eax, dword ptr [HVR_IOAPIC_DEST]
	shl	eax, 24                         /* destination field: bits 56-63 */
	mov	dword ptr [rbx + IOWIN], eax
	mov	dword ptr [rbx + IOREGSEL], PIN6_LOW
	mov	dword ptr [rbx + IOWIN], PIN6_VALUE
	mov	eax, dword ptr [rbx + IOWIN]    /* read it back */
	OUTL	HVR_PORT_LOG
1:	mov	eax, HVR_IOAPIC_WRITER_DONE
	OUTL	HVR_PORT_DONE
	jmp	1b

other:
	mov	dword ptr [HVR_IOAPIC_STARTED], 1
2:	pause
	cmp	dword ptr [HVR_IOAPIC_GO], 0
	je	2b
3:	mov	eax, HVR_IOAPIC_OTHER_DONE
	OUTL	HVR_PORT_DONE
	jmp	3b
