/*
 * race.c - OS-7613 inside a real KVM guest.
 *
 * The guest (guests/virtio_race.S, ring 3) is the driver re-enabling
 * interrupts: clear avail->flags' NO_INTERRUPT, mfence, load used->idx -
 * Linux's virtqueue_poll() always has that full barrier. The host thread is
 * the device finishing a request: store used->idx, [mfence], load
 * avail->flags; bhyve's device lacked that fence. Each fence has its own
 * switch, so the run can match the bug: driver fenced, device not. Both
 * sides run on the same guest memory, on two different host CPUs. An
 * instance where the driver saw the old used->idx (and goes to sleep) while
 * the device saw NO_INTERRUPT still set (and sends no MSI) is a lost
 * notification: the I/O that hangs in the bug report.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

int hvr_race__virtio(struct hvr_vm *vm, struct hvr_vcpu *vcpu, int device_fence,
		     int driver_fence, uint64_t iterations, uint32_t instances,
		     struct hvr_sb_counts *out)
{
	struct hvr_sb_arena a;
	int cpus[2], ncpu, ret, stop;

	ret = hvr_sb__check(iterations, instances);
	if (ret)
		return ret;
	ncpu = hvr_cpu__allowed(cpus, 2);       /* within taskset/cpuset limits */
	if (ncpu < 0)
		return ncpu;
	if (vm->mem_size < HVR_GUEST_DATA + HVR_SB_ARENA_SIZE)
		return hvr_error__set(EFAULT, "guest memory is too small for the ring arena");
	memset(&a, 0, sizeof(a));
	a.base = vm->mem + HVR_GUEST_DATA;
	a.instances = instances;
	a.lead_fence = device_fence;
	a.follow_fence = driver_fence;
	a.timeout_ms = 5000;
	a.lead_old = 0;                                 /* used->idx before the completion */
	a.lead_new = 1;
	a.follow_old = VIRTQ_AVAIL_F_NO_INTERRUPT;      /* callbacks disabled while draining */
	a.follow_new = 0;
	a.leader_cpu = ncpu >= 2 ? cpus[1] : -1;
	hvr_sb__setup(&a);
	if (ncpu >= 2) {
		ret = hvr_vcpu__pin(vcpu, cpus[0]);
		if (ret)
			return ret;
	}
	ret = hvr_vcpu__resume(vcpu);
	if (ret)
		return ret;
	ret = hvr_sb__lead(&a, (iterations + instances - 1) / instances, out);
	stop = hvr_vcpu__wait(vcpu, 2000);
	if (stop == -ETIMEDOUT)
		stop = hvr_vcpu__kick(vcpu);
	if (ret)
		return ret;
	if (stop < 0)
		return stop;
	if (stop != HVR_STOP_DONE)
		return hvr_error__set(EIO, "the guest did not finish (stop reason %d)", stop);
	return 0;
}
