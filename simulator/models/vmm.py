"""One VM's resource exclusion in bhyve's driver (``vmm_sol_dev.c``).

Parts of a VM — its memory map above all — must not change under a thread
that is using them. bhyve on illumos guards them three ways (OS-7447):

- **vCPU locks.** An ioctl about one vCPU (``VM_RUN``, ``VM_SET_REGISTER``...)
  first *freezes* that vCPU: ``vcpu_lock_one`` waits until the vCPU is IDLE
  (asking with ``reqidle`` and a kick, sleeping on its ``state_cv``) and moves
  it to FROZEN; ``vcpu_unlock_one`` moves it back to IDLE.
- **The VM rwlock** ``vmm_rwlock``, an illumos ``krwlock``: readers share it,
  a writer excludes everyone, and a *waiting* writer already shuts out new
  readers. Ioctls that only look at VM-wide state (``VM_LAPIC_MSI``,
  ``VM_GET_MEMSEG``...) take it as reader.
- **The write lock** ``vmm_write_lock`` for ioctls that change the VM
  (``VM_MMAP_MEMSEG``, ``VM_MUNMAP_MEMSEG``, ``VM_WRLOCK_CYCLE``...): freeze
  every vCPU in order, expire every ``vmm_drv`` lease (``models.lease``), then
  take the rwlock as writer — which waits until every reader has left.

Leases are the read holds of threads outside any vCPU (viona's ring workers):
long-lived, so the write lock must ask their holders to let go, through an
expire callback. That request is where illumos #14026 lost its wake-up.

Cells: each vCPU's ``state`` and ``reqidle``; the vCPU mutex and ``state_cv``
are the ones ``models.vcpu`` names.
"""
from __future__ import annotations

from collections.abc import Callable

from simulator.engine import ops
from simulator.models.vcpu import FROZEN, IDLE, Vcpu

LOCK_VCPU, LOCK_READ_HOLD, LOCK_WRITE_HOLD = "vcpu", "read", "write"
# How vmmdev_do_ioctl classes the ioctls this course meets (a few of each).
LOCK_CLASS = {
    "VM_RUN": LOCK_VCPU, "VM_SET_REGISTER": LOCK_VCPU, "VM_GET_REGISTER": LOCK_VCPU,
    "VM_MMAP_MEMSEG": LOCK_WRITE_HOLD, "VM_MUNMAP_MEMSEG": LOCK_WRITE_HOLD,
    "VM_WRLOCK_CYCLE": LOCK_WRITE_HOLD, "VM_REINIT": LOCK_WRITE_HOLD,
    "VM_LAPIC_MSI": LOCK_READ_HOLD, "VM_IOAPIC_ASSERT_IRQ": LOCK_READ_HOLD,
    "VM_GET_MEMSEG": LOCK_READ_HOLD,
}


class Vmm:
    """One VM instance (``vmm_softc_t``): its vCPUs, its rwlock, its leases.

    ``lease_cls`` is the ``vmm_drv`` lease table to use (``models.lease``),
    or None for a VM without in-kernel consumers.
    """

    def __init__(self, vcpus: list[Vcpu], lease_cls: type | None = None):
        self.vcpus = list(vcpus)
        self.vcpu = {v.vcpuid: v for v in self.vcpus}
        self.rwlock = "vmm_rwlock"
        self.leases = lease_cls(self) if lease_cls is not None else None

    def cells(self) -> dict[str, int]:
        """Every vCPU starts IDLE: its thread is in userspace, between ioctls."""
        out: dict[str, int] = {}
        for v in self.vcpus:
            out[v.state_cell] = IDLE
            out[v.reqidle_cell] = 0
        if self.leases is not None:
            out.update(self.leases.cells())
        return out

    # ---- vCPU locks -----------------------------------------------------------
    def vcpu_lock_one(self, vcpuid: int, cpu: int):
        """Freeze vCPU ``vcpuid`` for an ioctl; the caller runs on host CPU ``cpu``."""
        yield from self.vcpu[vcpuid].vcpu_set_state(FROZEN, from_idle=True, from_cpu=cpu)

    def vcpu_unlock_one(self, vcpuid: int):
        """Back to IDLE; that wakes anyone waiting in ``vcpu_lock_one``."""
        yield from self.vcpu[vcpuid].vcpu_set_state(IDLE)

    # ---- the VM rwlock ----------------------------------------------------------
    def vmm_read_lock(self):
        yield ops.rw_enter(self.rwlock, ops.READER, "vmm_read_lock")

    def vmm_read_unlock(self, holder: str | None = None):
        """Drop a read hold — the caller's, or ``holder``'s (a broken lease's)."""
        yield ops.rw_exit(self.rwlock, "vmm_read_unlock", holder)

    def vmm_write_lock(self, cpu: int):
        """Freeze every vCPU in order, expire the leases, then wait for the readers."""
        for v in self.vcpus:
            yield from self.vcpu_lock_one(v.vcpuid, cpu)
        yield from self.vmm_lease_block()
        yield ops.rw_enter(self.rwlock, ops.WRITER, "vmm_write_lock")

    def vmm_write_unlock(self):
        """Let leases be signed again, leave the rwlock, unfreeze the vCPUs."""
        yield from self.vmm_lease_unblock()
        yield ops.rw_exit(self.rwlock, "vmm_write_unlock")
        for v in self.vcpus:
            yield from self.vcpu_unlock_one(v.vcpuid)

    def vmm_lease_block(self):
        if self.leases is not None:
            yield from self.leases.vmm_lease_block()

    def vmm_lease_unblock(self):
        if self.leases is not None:
            yield from self.leases.vmm_lease_unblock()

    # ---- an ioctl, start to end ---------------------------------------------------
    def vmmdev_do_ioctl(self, cmd: str, cpu: int, work: Callable, vcpuid: int | None = None):
        """Take what ``cmd``'s class needs, do ``work()`` (a generator function),
        release it again. ``cpu`` is the host CPU of the calling thread."""
        kind = LOCK_CLASS[cmd]
        if kind == LOCK_VCPU:
            yield from self.vcpu_lock_one(vcpuid, cpu)
        elif kind == LOCK_WRITE_HOLD:
            yield from self.vmm_write_lock(cpu)
        else:
            yield from self.vmm_read_lock()
        yield from work()
        if kind == LOCK_VCPU:
            yield from self.vcpu_unlock_one(vcpuid)
        elif kind == LOCK_WRITE_HOLD:
            yield from self.vmm_write_unlock()
        else:
            yield from self.vmm_read_unlock()
