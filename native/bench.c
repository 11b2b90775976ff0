/*
 * bench.c - the cost of a port-I/O exit with nothing around it: the calling
 * thread runs KVM_RUN itself and handles each exit inline, as
 * kvm-hello-world does. The figure the other paths are compared with.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "internal.h"

static int bench__loop(struct hvr_vcpu *vcpu, uint64_t exits)
{
	struct kvm_run *run = vcpu->run;
	uint64_t seen = 0;

	for (;;) {
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0)
			return hvr_error__set(errno, "KVM_RUN: %s", strerror(errno));
		if (run->exit_reason != KVM_EXIT_IO)
			return hvr_error__set(EIO, "unexpected exit reason %u", run->exit_reason);
		switch (run->io.port) {
		case HVR_PORT_COUNT:
			seen++;
			break;
		case HVR_PORT_DONE:
			return seen == exits ? 0 : hvr_error__set(EIO, "saw %llu exits, not %llu",
					(unsigned long long)seen, (unsigned long long)exits);
		default:
			return hvr_error__set(EIO, "unexpected port 0x%x", run->io.port);
		}
	}
}

int hvr_bench__io_loop(uint64_t exits, uint64_t *elapsed_ns)
{
	struct hvr_vm *vm;
	struct hvr_vcpu *vcpu;
	uint64_t start;
	int ret;

	ret = hvr_vm__create(&vm, HVR_GUEST_MIN_MEM);
	if (ret)
		return ret;
	ret = hvr_vm__load_guest(vm, "io_loop");
	if (!ret)
		ret = hvr_vm__write(vm, HVR_GUEST_DATA, &exits, sizeof(exits));
	if (!ret)
		ret = hvr_vcpu__create(vm, &vcpu, 0);
	if (!ret) {
		/* The vCPU's own thread stays parked; this thread drives KVM_RUN directly. */
		start = hvr_clock__ns();
		ret = bench__loop(vcpu, exits);
		*elapsed_ns = hvr_clock__ns() - start;
	}
	hvr_vm__destroy(vm);
	return ret;
}
