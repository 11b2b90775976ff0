"""The split virtqueue (virtio 1.0 §2.6) in guest memory, and bhyve's device side.

Guest memory holds three areas, written by different sides:

- the descriptor table ``desc[i]`` (addr, len) — written by the driver;
- the avail ring: ``avail.flags`` (bit NO_INTERRUPT), ``avail.idx``,
  ``avail.ring[]`` and, after it, ``used_event`` — written by the driver;
- the used ring: ``used.flags``, ``used.idx``, ``used.ring[]`` of {id, len}
  and, after it, ``avail_event`` — written by the device.

Indices are free-running 16-bit counters; a slot is ``idx % size``.

The device side is bhyve's ``usr.sbin/bhyve/virtio.c``: ``vq_getchain`` takes
the next available chain, ``vq_relchain`` publishes a used entry and then
``used.idx``, and ``vq_endchains`` decides whether to interrupt the guest. The
decision reads driver-written memory (``avail.flags`` or ``used_event``) right
after the device stored ``used.idx`` — a store followed by a load of another
cell, which x86 may reorder unless a full barrier sits between them. That
barrier is the OS-7613 fix; it is the one hook the two device classes differ in.
"""
from __future__ import annotations

import functools

from simulator.engine import ops

VRING_AVAIL_F_NO_INTERRUPT = 1
U16 = 0xFFFF


def vring_need_event(event_idx: int, new_idx: int, old_idx: int) -> bool:
    """With EVENT_IDX: interrupt iff the driver's ``used_event`` lies in [old, new)."""
    return ((new_idx - event_idx - 1) & U16) < ((new_idx - old_idx) & U16)


class SplitRing:
    """The layout of one split virtqueue of ``size`` entries: the names of its cells."""

    AVAIL_FLAGS = "avail.flags"
    AVAIL_IDX = "avail.idx"
    USED_EVENT = "used_event"
    USED_FLAGS = "used.flags"
    USED_IDX = "used.idx"
    AVAIL_EVENT = "avail_event"

    def __init__(self, size: int):
        if size < 2 or size > 256 or size & (size - 1):
            raise ValueError(f"queue size {size} is not a power of two in 2..256")
        self.size = size

    def desc_addr(self, i: int) -> str:
        return f"desc[{i}].addr"

    def desc_len(self, i: int) -> str:
        return f"desc[{i}].len"

    def avail_ring(self, idx: int) -> str:
        return f"avail.ring[{idx % self.size}]"

    def used_id(self, idx: int) -> str:
        return f"used.ring[{idx % self.size}].id"

    def used_len(self, idx: int) -> str:
        return f"used.ring[{idx % self.size}].len"

    def cells(self) -> dict[str, int]:
        """Every cell of the queue, zeroed, in layout order."""
        return dict(_ring_cells(self.size))


@functools.cache
def _ring_cells(size: int) -> tuple[tuple[str, int], ...]:
    """The layout of a ring of ``size`` entries (worked out once per size)."""
    r = SplitRing(size)
    cells: dict[str, int] = {}
    for i in range(size):
        cells[r.desc_addr(i)] = 0
        cells[r.desc_len(i)] = 0
    cells[r.AVAIL_FLAGS] = 0
    cells[r.AVAIL_IDX] = 0
    for i in range(size):
        cells[r.avail_ring(i)] = 0
    cells[r.USED_EVENT] = 0
    cells[r.USED_FLAGS] = 0
    cells[r.USED_IDX] = 0
    for i in range(size):
        cells[r.used_id(i)] = 0
        cells[r.used_len(i)] = 0
    cells[r.AVAIL_EVENT] = 0
    return tuple(cells.items())


class VirtioDevice:
    """bhyve's view of one virtqueue (``struct vqueue_info``), device side.

    ``vq_last_avail`` (the next avail slot to take) is touched only by the
    thread that runs the notify path; ``vq_save_used`` (used.idx at the last
    interrupt decision) only by the thread that completes requests.
    """

    def __init__(self, ring: SplitRing, event_idx: bool, msi_cell: str):
        self.ring = ring
        self.event_idx = event_idx
        self.msi_cell = msi_cell
        self.vq_last_avail = 0
        self.vq_save_used = 0
        self.interrupts = 0

    def vq_has_descs(self):
        """Is there an available chain the device has not taken yet?"""
        avail_idx = yield ops.load(self.ring.AVAIL_IDX, "vq_has_descs")
        return avail_idx != self.vq_last_avail

    def vq_getchain(self):
        """Take the next available chain; returns (head, addr, len)."""
        r = self.ring
        head = yield ops.load(r.avail_ring(self.vq_last_avail), "vq_getchain")
        self.vq_last_avail = (self.vq_last_avail + 1) & U16
        addr = yield ops.load(r.desc_addr(head), "vq_getchain")
        length = yield ops.load(r.desc_len(head), "vq_getchain")
        return head, addr, length

    def vq_relchain(self, head: int, iolen: int):
        """Return a chain to the guest: fill the used entry, then publish used.idx."""
        r = self.ring
        uidx = yield ops.load(r.USED_IDX, "vq_relchain")
        yield ops.store(r.used_id(uidx), head, "vq_relchain")
        yield ops.store(r.used_len(uidx), iolen, "vq_relchain")
        yield from self.barrier_before_used_idx()
        yield ops.store(r.USED_IDX, (uidx + 1) & U16, "vq_relchain")

    def vq_endchains(self):
        """Decide whether the guest must be interrupted for what was just published."""
        r = self.ring
        old_idx = self.vq_save_used
        new_idx = yield ops.load(r.USED_IDX, "vq_endchains")
        self.vq_save_used = new_idx
        yield from self.barrier_before_notify_check()
        if self.event_idx:
            event_idx = yield ops.load(r.USED_EVENT, "vq_endchains")
            intr = vring_need_event(event_idx, new_idx, old_idx)
        else:
            flags = yield ops.load(r.AVAIL_FLAGS, "vq_endchains")
            intr = new_idx != old_idx and not flags & VRING_AVAIL_F_NO_INTERRUPT
        if intr:
            yield from self.vq_interrupt()

    def vq_interrupt(self):
        """Raise the queue's MSI: ``vm_lapic_msi`` sets the vector in the vCPU's IRR.

        It is an ioctl whose kernel side sets the bit with a locked instruction,
        so it also drains this CPU's store buffer.
        """
        self.interrupts += 1
        yield ops.fetch_or(self.msi_cell, 1, "vm_lapic_msi")

    # ---- the hooks the fix changes ------------------------------------------
    def barrier_before_used_idx(self):
        """Before OS-7613: nothing between the used entry and the used.idx store.
        Harmless on x86, which never reorders a store with an older store."""
        return
        yield

    def barrier_before_notify_check(self):
        """Before OS-7613: nothing separates the used.idx store from the loads below."""
        return
        yield


class FencedVirtioDevice(VirtioDevice):
    """After OS-7613 (illumos e393062): ``wmb()`` before publishing used.idx, and
    a full barrier (``mb()``, an mfence) between publishing used.idx and reading
    the driver's flags or ``used_event``.

    The ``wmb()`` is for CPUs weaker than x86: stores already leave an x86 store
    buffer in order, so the model shows it as a step that orders nothing more.
    The ``mb()`` is the one that fixes the hang.
    """

    def barrier_before_used_idx(self):
        yield ops.note("wmb(): the used entry before used.idx (x86 keeps stores in order)",
                       "vq_relchain")

    def barrier_before_notify_check(self):
        yield ops.fence("vq_endchains")
