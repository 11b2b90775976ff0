"""OS-7613: a lost interrupt wedges guest I/O — bhyve's virtio needed a barrier.

Actors: ``vcpu0`` (host CPU 0) runs the Linux guest's virtio-blk driver and,
inside its VM exits, bhyve's notify path; ``blkio`` (host CPU 1) is the
block_if worker that finishes each write and runs the completion path.

The race is store buffering. The device stores ``used.idx`` and then loads
``avail.flags`` (or ``used_event``) to decide on the interrupt; the guest
clears NO_INTERRUPT, fences, and loads ``used.idx`` to see whether it missed
anything. Without a barrier on the device side, x86 lets the device's load
run ahead of its store: the device sees interrupts still off, the guest sees no
new entry, and both conclude the other will act. The request is complete in
guest memory and the guest never looks at it.
"""
from __future__ import annotations

from simulator.engine.machine import Machine, ScheduleError
from simulator.errors import UsageError
from simulator.models.blockif import BlockIf
from simulator.models.guest import LinuxVirtioBlk, khungtaskd
from simulator.models.pci_vtblk import PciVtblk
from simulator.models.virtio import U16, FencedVirtioDevice, SplitRing, VirtioDevice
from simulator.scenarios import register
from simulator.scenarios.base import Param, Scenario

DEVICES = {"buggy": VirtioDevice, "fixed": FencedVirtioDevice}
IRR_CELL = "lapic.irr[0x62]"  # the queue's MSI vector (vm_lapic_msi data 0x4062)


def _power_of_two(n: int) -> str | None:
    return None if n & (n - 1) == 0 else f"{n} is not a power of two"


@register
class VirtioBarriers(Scenario):
    name = "virtio-barriers"
    report = "OS-7613"
    title = "bhyve virtio needs barriers: a lost interrupt wedges guest I/O"
    summary = ("The device publishes used.idx and checks whether the guest wants an "
               "interrupt; the guest re-enables interrupts and re-checks used.idx. "
               "Without a full barrier on the device side, both can miss each other.")
    actors = ("vcpu0", "blkio")
    variants = {
        "buggy": "vq_endchains loads avail.flags/used_event right after the used.idx store",
        "fixed": "e393062: a full barrier (mfence) between the used.idx store and those loads, "
                 "and wmb() before the used.idx store",
    }
    params = (
        Param("requests", 2, "writes in flight at once (one journal commit)", low=1, high=4),
        Param("queue_size", 4, "entries in the virtqueue (a power of two)", low=2, high=256,
              check=_power_of_two),
        Param("mode", "flags", "how the guest suppresses interrupts",
              choices=("flags", "event_idx")),
        Param("io_ns", 20_000, "latency of one write on the host, in ns (timed mode)",
              low=1, high=10**10),
        Param("start_idx", 0, "where the free-running 16-bit ring indices start (a queue "
              "in use for a while; 65535 makes them wrap during the run)", low=0, high=U16),
    )
    property_text = "every request the guest submitted is completed in the guest"
    nudge_text = ("a later direct read (dd iflag=direct count=1) is submitted; in flags "
                  "mode its interrupt makes the guest collect the stuck request too")
    costs = {"vi_pci_write": 2_000, "vm_lapic_msi": 1_500, "default_idle": 0}
    labels = {
        "vq_relchain": "device publishes the used entry and used.idx",
        "vq_endchains": "device decides whether to interrupt",
        "virtqueue_disable_cb": "guest turns interrupts off",
        "virtqueue_enable_cb_prepare": "guest turns interrupts back on",
        "virtqueue_poll": "guest re-checks used.idx",
        "vm_lapic_msi": "the MSI is sent",
    }

    def build(self, variant, params, memory_model, *, tracing, timed, step_budget) -> Machine:
        if params["requests"] > params["queue_size"]:
            raise UsageError(f"{params['requests']} requests cannot be in flight on a queue "
                             f"of {params['queue_size']} entries")
        device_cls = self.variant_class(variant, DEVICES, VirtioDevice)
        ring = SplitRing(params["queue_size"])
        vq = device_cls(ring, params["mode"] == "event_idx", IRR_CELL)
        bc = BlockIf(slots=ring.size + 1, io_ns=params["io_ns"])
        dev = PciVtblk(vq, bc)
        driver = LinuxVirtioBlk(ring, IRR_CELL, dev.pci_vtblk_notify)
        cells = {**ring.cells(), **bc.cells(), **dev.cells(), IRR_CELL: 0}
        start = params["start_idx"]
        if start:  # both sides agree on where the indices stand, as after many requests
            cells.update({ring.AVAIL_IDX: start, ring.USED_IDX: start, ring.USED_EVENT: start})
            driver.avail_idx_shadow = driver.last_used_idx = start
            vq.vq_last_avail = vq.vq_save_used = start

        def completed(m: Machine) -> tuple[bool, str]:
            if not driver.in_flight:
                return True, f"all {driver.submitted} requests completed in the guest"
            used = m.memory.cells[ring.USED_IDX]
            return False, (f"request(s) {sorted(driver.in_flight)} still in flight in the "
                           f"guest; used.idx={used}, guest last_used_idx="
                           f"{driver.last_used_idx}, interrupts sent={vq.interrupts}")

        def nudge(m: Machine) -> None:
            if not driver.free:
                # In the guest, virtio_queue_rq gets -ENOSPC, kicks, stops its queue,
                # and the read waits for a completion to restart it: never, here.
                raise ScheduleError(
                    f"the nudge needs a free descriptor, and all {params['queue_size']} "
                    "are in flight: a later read would wait for one (virtio_blk stops its "
                    "queue on -ENOSPC), so the run stays stuck")
            m.add_thread(f"dd{m.steps}", 0, driver.direct_read())

        m = Machine(cells, cpus=2, memory_model=memory_model, tracing=tracing,
                    step_budget=step_budget, check_property=completed, nudge=nudge)
        m.model = {"ring": ring, "device": vq, "blockif": bc, "driver": driver}
        m.add_thread("vcpu0", 0, driver.write_requests(params["requests"]))
        m.add_thread("blkio", 1, bc.blockif_thr(dev.pci_vtblk_done), daemon=True)
        if timed:
            m.add_thread("khungtaskd", 0, khungtaskd(driver), daemon=True)
        return m
