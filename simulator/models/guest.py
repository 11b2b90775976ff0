"""Guest behaviours: Linux's virtio-blk driver on a vCPU, and its hung-task watchdog.

The driver follows ``drivers/virtio/virtio_ring.c`` (split ring) and
``drivers/block/virtio_blk.c`` of the Linux kernels in the OS-7613 report:

- submit: ``virtqueue_add`` fills a descriptor and an avail slot, then
  publishes ``avail.idx``; ``virtqueue_kick`` tells the device (a VM exit);
- complete: the MSI handler ``vring_interrupt`` calls ``virtblk_done``, which
  loops: ``virtqueue_disable_cb``; drain ``virtqueue_get_buf``; then
  ``virtqueue_enable_cb`` = ``_prepare`` (clear NO_INTERRUPT, write
  ``used_event``) + ``virtqueue_poll`` (a full barrier, then re-read
  ``used->idx``). If more arrived meanwhile, go round again; otherwise return
  and wait for the next interrupt — trusting the device to send one.
"""
from __future__ import annotations

from simulator.engine import ops
from simulator.models.virtio import U16, VRING_AVAIL_F_NO_INTERRUPT, SplitRing

HUNG_TASK_TIMEOUT_NS = 120 * 10**9


class LinuxVirtioBlk:
    """The guest driver's private state for one queue, and its code paths."""

    def __init__(self, ring: SplitRing, irr_cell: str, kick):
        self.ring = ring
        self.irr_cell = irr_cell
        self.kick = kick  # the device's notify path, run inside the VM exit
        self.avail_idx_shadow = 0
        self.last_used_idx = 0
        self.avail_flags_shadow = 0
        self.free = list(range(ring.size))
        self.in_flight: set[int] = set()
        self.submitted = 0
        self.completed = 0

    # ---- submission ----------------------------------------------------------
    def virtqueue_add(self, buf: int, length: int):
        """Put one buffer on the avail ring (not yet visible to the device's index)."""
        r = self.ring
        head = self.free.pop(0)
        yield ops.store(r.desc_addr(head), buf, "virtqueue_add")
        yield ops.store(r.desc_len(head), length, "virtqueue_add")
        yield ops.store(r.avail_ring(self.avail_idx_shadow), head, "virtqueue_add")
        self.avail_idx_shadow = (self.avail_idx_shadow + 1) & U16
        # virtio_wmb: the entries must be visible before the index (free on x86)
        yield ops.store(r.AVAIL_IDX, self.avail_idx_shadow, "virtqueue_add")
        self.in_flight.add(head)
        self.submitted += 1

    def virtqueue_kick(self):
        """``virtqueue_notify``: write the queue-notify register; bhyve runs its
        notify path on this vCPU's thread before the guest continues."""
        yield from self.kick()

    # ---- completion ----------------------------------------------------------
    def more_used(self):
        used_idx = yield ops.load(self.ring.USED_IDX, "more_used")
        return used_idx != self.last_used_idx

    def virtqueue_disable_cb(self):
        """Ask the device not to interrupt while the driver is polling."""
        if not self.avail_flags_shadow & VRING_AVAIL_F_NO_INTERRUPT:
            self.avail_flags_shadow |= VRING_AVAIL_F_NO_INTERRUPT
            yield ops.store(self.ring.AVAIL_FLAGS, self.avail_flags_shadow,
                            "virtqueue_disable_cb")

    def virtqueue_get_buf(self):
        """Take the next used entry, or None if the driver has seen them all."""
        if not (yield from self.more_used()):
            return None
        r = self.ring
        head = yield ops.load(r.used_id(self.last_used_idx), "virtqueue_get_buf")
        yield ops.load(r.used_len(self.last_used_idx), "virtqueue_get_buf")
        self.last_used_idx = (self.last_used_idx + 1) & U16
        return head

    def virtqueue_enable_cb_prepare(self):
        """Turn interrupts back on: clear NO_INTERRUPT and point ``used_event``
        at the next entry (both, whichever the device honours)."""
        self.avail_flags_shadow &= ~VRING_AVAIL_F_NO_INTERRUPT
        yield ops.store(self.ring.AVAIL_FLAGS, self.avail_flags_shadow,
                        "virtqueue_enable_cb_prepare")
        yield ops.store(self.ring.USED_EVENT, self.last_used_idx, "virtqueue_enable_cb_prepare")
        return self.last_used_idx

    def virtqueue_poll(self, last_used_idx: int):
        """Did the device publish more while interrupts were off? (full barrier first)"""
        yield ops.fence("virtqueue_poll")
        used_idx = yield ops.load(self.ring.USED_IDX, "virtqueue_poll")
        return used_idx != last_used_idx

    def virtqueue_enable_cb(self):
        """True if interrupts are on and nothing is pending; False: poll again."""
        last = yield from self.virtqueue_enable_cb_prepare()
        return not (yield from self.virtqueue_poll(last))

    def blk_mq_complete_request(self, head: int):
        self.in_flight.discard(head)
        self.free.append(head)
        self.completed += 1

    def virtblk_done(self):
        """The queue's interrupt callback: complete everything the device returned."""
        while True:
            yield from self.virtqueue_disable_cb()
            while (head := (yield from self.virtqueue_get_buf())) is not None:
                self.blk_mq_complete_request(head)
            if (yield from self.virtqueue_enable_cb()):
                return

    def vring_interrupt(self):
        """The MSI handler: ignore a spurious interrupt, else run the callback."""
        if (yield from self.more_used()):
            yield from self.virtblk_done()

    # ---- the vCPU ------------------------------------------------------------
    def wait_for_interrupt(self):
        """HLT until the queue's vector is pending, then take it (IRR -> in service)."""
        yield ops.halt(self.irr_cell, "default_idle")
        yield ops.swap(self.irr_cell, 0, "do_IRQ")  # the CPU takes the vector

    def write_requests(self, count: int):
        """A journal commit: ``count`` writes queued back to back, one kick."""
        for i in range(count):
            yield from self.virtqueue_add(0x1000 * (i + 1), 0x4000)
        yield from self.virtqueue_kick()
        while self.in_flight:
            yield from self.wait_for_interrupt()
            yield from self.vring_interrupt()

    def direct_read(self):
        """``dd iflag=direct count=1`` from a guest process: queue one read and kick.
        Its completion, like every other, is handled by the vCPU's interrupt loop."""
        yield from self.virtqueue_add(0xD000, 0x200)
        yield from self.virtqueue_kick()


def khungtaskd(driver: LinuxVirtioBlk, task: str = "jbd2/vdb-8"):
    """Linux's hung-task watchdog: complain if I/O is still stuck after 120 s."""
    yield ops.sleep(HUNG_TASK_TIMEOUT_NS, "watchdog", timer="hung_task")
    if driver.in_flight:
        yield ops.note(f"INFO: task {task} blocked for more than 120 seconds.",
                       "check_hung_task")
