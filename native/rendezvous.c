/*
 * rendezvous.c - what the OS-7622 experiment needs beyond vm.c and vcpu.c.
 *
 * The experiment (simulator/real/rendezvous.py) has the guest on vCPU0
 * reprogram an IOAPIC pin while vCPU1 is either spinning in the guest or
 * held outside KVM_RUN by its host thread. bhyve before ec6f18e answered
 * such a write with a rendezvous that waits until every vCPU has run its
 * part; KVM answers it with a request per vCPU (KVM_REQ_SCAN_IOAPIC) and, at
 * most, a wait for vCPUs that are in guest mode to leave it. Two things are
 * needed for that here: a second vCPU that may run at all (with the in-kernel
 * irqchip an application processor waits for INIT/SIPI until told it is
 * runnable), and the IOAPIC's redirection table as KVM keeps it.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "internal.h"

static int vcpu__parked(struct hvr_vcpu *vcpu)
{
	int busy;

	pthread_mutex_lock(&vcpu->lock);
	busy = vcpu->want_run || vcpu->running;
	pthread_mutex_unlock(&vcpu->lock);
	return busy ? hvr_error__set(EBUSY, "the vCPU is running; kick it first") : 0;
}

/* Mark an application processor runnable, as if INIT and SIPI had come. */
int hvr_vcpu__make_runnable(struct hvr_vcpu *vcpu)
{
	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };
	int ret = vcpu__parked(vcpu);

	if (ret)
		return ret;
	if (ioctl(vcpu->fd, KVM_SET_MP_STATE, &mp) < 0)
		return hvr_error__set(errno, "KVM_SET_MP_STATE: %s", strerror(errno));
	return 0;
}

/* One 64-bit redirection entry of the in-kernel IOAPIC. */
int hvr_vm__ioapic_entry(struct hvr_vm *vm, uint32_t pin, uint64_t *entry)
{
	struct kvm_irqchip chip;

	if (pin >= HVR_IOAPIC_PINS)
		return hvr_error__set(EINVAL, "the IOAPIC has pins 0-%d, not %u",
				      HVR_IOAPIC_PINS - 1, pin);
	memset(&chip, 0, sizeof(chip));
	chip.chip_id = KVM_IRQCHIP_IOAPIC;
	if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
		return hvr_error__set(errno, "KVM_GET_IRQCHIP: %s", strerror(errno));
	*entry = chip.chip.ioapic.redirtbl[pin].bits;
	return 0;
}
