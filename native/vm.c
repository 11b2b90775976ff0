/*
 * vm.c - a KVM virtual machine, in the order the KVM API wants it:
 * open /dev/kvm, check the API, create the VM with an in-kernel irqchip,
 * then give it memory. vCPUs come next (vcpu.c).
 *
 * Destroying a VM stops its vCPUs first. A vCPU thread that cannot stop at
 * once (it is inside a slow port callback) is not waited for: it is orphaned,
 * keeps a reference to the VM, and frees its vCPU when the callback returns;
 * the last reference frees guest memory and closes the VM's fds. So nothing a
 * live thread may touch is ever freed under it, and no fd is left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

/* Guest-physical pages the host prepares for every guest. */
#define PML4_GPA   0x1000
#define PDPT_GPA   0x2000
#define PD_LOW_GPA 0x3000
#define PD_APIC_GPA 0x4000
#define APIC_GPA   0xfee00000ull

#define PTE_P   (1ull << 0)
#define PTE_RW  (1ull << 1)
#define PTE_US  (1ull << 2)
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_PS  (1ull << 7)

static int kvm__open(int *fd_out)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		int err = errno;

		if (err == ENOENT)
			return hvr_error__set(err, "/dev/kvm is missing (no KVM on this machine)");
		if (err == EACCES || err == EPERM)
			return hvr_error__set(err, "permission denied opening /dev/kvm "
					      "(join the kvm group)");
		return hvr_error__set(err, "cannot open /dev/kvm: %s", strerror(err));
	}
	*fd_out = fd;
	return 0;
}

static int kvm__check_caps(int fd)
{
	static const struct { int cap; const char *name; } caps[] = {
		{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
		{ KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI" },
		{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
		{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	};
	int version = ioctl(fd, KVM_GET_API_VERSION, 0);
	size_t i;

	if (version != KVM_API_VERSION)
		return hvr_error__set(EPROTO, "KVM API mismatch: kernel speaks %d, we need %d",
				      version, KVM_API_VERSION);
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		if (ioctl(fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0)
			return hvr_error__set(ENOTSUP, "KVM API mismatch: %s is missing",
					      caps[i].name);
	return 0;
}

int hvr_kvm__check(void)
{
	int fd = -1, ret;

	ret = kvm__open(&fd);
	if (ret)
		return ret;
	ret = kvm__check_caps(fd);
	close(fd);
	return ret;
}

static int vm__create_irqchip(struct hvr_vm *vm)
{
	/* Only VMX needs this real-mode scratch area; elsewhere it is a no-op. */
	(void)ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul);
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return hvr_error__set(errno, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
	return 0;
}

static int vm__add_memory(struct hvr_vm *vm)
{
	struct kvm_userspace_memory_region region;

	vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED) {
		vm->mem = NULL;
		return hvr_error__set(errno, "cannot map %llu bytes of guest memory: %s",
				      (unsigned long long)vm->mem_size, strerror(errno));
	}
	/* A child forked by the process (a Jupyter kernel spawning a shell) must not
	 * get a copy-on-write twin of memory KVM writes into. */
	if (madvise(vm->mem, vm->mem_size, MADV_DONTFORK) < 0)
		return hvr_error__set(errno, "madvise(MADV_DONTFORK) on guest memory: %s",
				      strerror(errno));
	memset(&region, 0, sizeof(region));
	region.slot = 0;
	region.guest_phys_addr = 0;
	region.memory_size = vm->mem_size;
	region.userspace_addr = (uintptr_t)vm->mem;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return hvr_error__set(errno, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
	return 0;
}

/*
 * Identity-map guest memory with 2 MiB pages, user-accessible so ring-3
 * guests can use it too; map the doorbell page (for every ring) and the
 * local APIC page (ring 0 only) uncached.
 */
static void vm__setup_paging(struct hvr_vm *vm)
{
	uint64_t *pml4 = (uint64_t *)(vm->mem + PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(vm->mem + PDPT_GPA);
	uint64_t *pd_low = (uint64_t *)(vm->mem + PD_LOW_GPA);
	uint64_t *pd_apic = (uint64_t *)(vm->mem + PD_APIC_GPA);
	uint64_t page;

	pml4[0] = PDPT_GPA | PTE_P | PTE_RW | PTE_US;
	pdpt[0] = PD_LOW_GPA | PTE_P | PTE_RW | PTE_US;
	pdpt[APIC_GPA >> 30] = PD_APIC_GPA | PTE_P | PTE_RW | PTE_US;
	for (page = 0; page < vm->mem_size >> 21; page++)
		pd_low[page] = (page << 21) | PTE_P | PTE_RW | PTE_US | PTE_PS;
	pd_apic[(HVR_MMIO_DOORBELL >> 21) & 511] = HVR_MMIO_DOORBELL |
		PTE_P | PTE_RW | PTE_US | PTE_PS | PTE_PCD | PTE_PWT;
	pd_apic[(APIC_GPA >> 21) & 511] = (APIC_GPA & ~0x1fffffull) |
		PTE_P | PTE_RW | PTE_PS | PTE_PCD | PTE_PWT;
}

int hvr_vm__create(struct hvr_vm **out, uint64_t mem_bytes)
{
	struct hvr_vm *vm;
	int i, ret;

	*out = NULL;
	if (mem_bytes < HVR_GUEST_MIN_MEM || mem_bytes > HVR_GUEST_MAX_MEM ||
	    (mem_bytes & 0x1fffff))
		return hvr_error__set(EINVAL, "guest memory must be a multiple of 2 MiB "
				      "between 2 MiB and 1 GiB, not %llu bytes",
				      (unsigned long long)mem_bytes);
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return hvr_error__set(ENOMEM, "out of memory");
	vm->kvm_fd = vm->vm_fd = -1;
	for (i = 0; i < HVR_MAX_VCPUS; i++)
		vm->vcpu_fd[i] = -1;
	vm->refs = 1;
	pthread_mutex_init(&vm->lock, NULL);
	vm->mem_size = mem_bytes;
	ret = kvm__open(&vm->kvm_fd);
	if (!ret)
		ret = kvm__check_caps(vm->kvm_fd);
	if (!ret) {
		vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
		if (vm->vm_fd < 0)
			ret = hvr_error__set(errno, "KVM_CREATE_VM: %s", strerror(errno));
	}
	if (!ret)
		ret = vm__create_irqchip(vm);
	if (!ret)
		ret = vm__add_memory(vm);
	if (!ret) {
		vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
		if (vm->run_size <= 0)
			ret = hvr_error__set(errno, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
	}
	if (ret) {
		hvr_vm__destroy(vm);
		return ret;
	}
	vm__setup_paging(vm);
	*out = vm;
	return 0;
}

/* Stop every vCPU for good: calls waiting on them return promptly, none runs again. */
int hvr_vm__stop(struct hvr_vm *vm)
{
	int i;

	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < vm->nvcpus; i++)
		hvr_vcpu__close(vm->vcpus[i]);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

static void vm__free(struct hvr_vm *vm)
{
	int i;

	for (i = 0; i < HVR_MAX_VCPUS; i++)
		if (vm->vcpu_fd[i] >= 0)
			close(vm->vcpu_fd[i]);
	if (vm->mem)
		munmap(vm->mem, vm->mem_size);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

/* Drop one reference; the last frees the VM. */
void hvr_vm__put(struct hvr_vm *vm)
{
	if (__atomic_sub_fetch(&vm->refs, 1, __ATOMIC_ACQ_REL) == 0)
		vm__free(vm);
}

void hvr_vm__destroy(struct hvr_vm *vm)
{
	int i;

	if (!vm)
		return;
	hvr_vm__stop(vm);       /* all at once, so their threads stop in parallel */
	for (i = 0; i < vm->nvcpus; i++)
		hvr_vcpu__destroy(vm->vcpus[i]);
	vm->nvcpus = 0;
	hvr_vm__put(vm);
}

uint64_t hvr_vm__mem_size(struct hvr_vm *vm)
{
	return vm->mem_size;
}

/* Every guest-physical range the host touches goes through this check. */
static int vm__check_range(struct hvr_vm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa > vm->mem_size || len > vm->mem_size - gpa)
		return hvr_error__set(EFAULT, "guest address 0x%llx + %llu bytes is outside "
				      "guest memory (0x0-0x%llx)", (unsigned long long)gpa,
				      (unsigned long long)len, (unsigned long long)vm->mem_size);
	return 0;
}

int hvr_vm__write(struct hvr_vm *vm, uint64_t gpa, const void *buf, uint64_t len)
{
	int ret = vm__check_range(vm, gpa, len);

	if (!ret)
		memcpy(vm->mem + gpa, buf, len);
	return ret;
}

int hvr_vm__read(struct hvr_vm *vm, uint64_t gpa, void *buf, uint64_t len)
{
	int ret = vm__check_range(vm, gpa, len);

	if (!ret)
		memcpy(buf, vm->mem + gpa, len);
	return ret;
}

int hvr_vm__load_guest(struct hvr_vm *vm, const char *name)
{
	const uint8_t *code;
	size_t len;
	int ret = hvr_guest__find(name, &code, &len);

	if (ret)
		return ret;
	if (len > HVR_GUEST_DATA - HVR_GUEST_ENTRY - 0x70000)
		return hvr_error__set(E2BIG, "guest '%s' is too big (%zu bytes)", name, len);
	return hvr_vm__write(vm, HVR_GUEST_ENTRY, code, len);
}

/* An MSI as a device would send it: fixed delivery, edge, physical destination. */
int hvr_vm__signal_msi(struct hvr_vm *vm, uint32_t apic_id, uint32_t vector)
{
	struct kvm_msi msi;

	if (vector < 16 || vector > 255)
		return hvr_error__set(EINVAL, "vector %u is not an interrupt vector (16-255)",
				      vector);
	if (apic_id > 254)
		return hvr_error__set(EINVAL, "APIC id %u is out of range (0-254)", apic_id);
	memset(&msi, 0, sizeof(msi));
	msi.address_lo = 0xfee00000u | (apic_id << 12);
	msi.data = vector;
	if (ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
		return hvr_error__set(errno, "KVM_SIGNAL_MSI: %s", strerror(errno));
	return 0;
}
