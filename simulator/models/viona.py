"""viona's ring workers (``viona_ring.c``, ``viona_rx.c``) and their leases.

viona is the in-kernel virtio-net device. Each ring (``viona_vring_t``) has a
worker thread — an LWP of the bhyve process — that uses guest memory under a
``vmm_drv`` lease (``models.lease``). A worker's wait loops, all under the
ring's mutex ``vr_lock``, have one shape:

    while (nothing to do) {
        if (vmm_drv_lease_expired(lease))        -- an unlocked read
            viona_ring_lease_renew(ring);        -- break, then sign again
        cv_wait_sig(&vr_cv, &vr_lock);           -- sleep until woken or signalled
    }

so a worker renews its lease only when something wakes it. The write locker
wakes it through the lease's expire callback, ``viona_ring_lease_expire_cb``:
``cv_broadcast(&vr_cv)``. The check and the sleep happen under ``vr_lock``;
before 6703a0e the broadcast did not take ``vr_lock`` — so it could fall
between a worker's check and its sleep, and wake nobody.

Lock order: a worker renewing holds ``vr_lock`` and takes ``vmm_lease_lock``
(inside ``vmm_drv_lease_break``/``_sign``).

- ``VionaRing`` — before 6703a0e: the callback broadcasts without ``vr_lock``;
- ``LockedExpireRing`` — the callback takes ``vr_lock`` around its broadcast
  (6703a0e's change to viona, and the naive fix on its own).

The model leaves out what the story does not need: the ring's mapping of
guest pages (``viona_ring_map``), the RX worker's ``mac_rx_barrier`` and
``VRSF_RENEW`` flag around its renewal, and the bail-out checks
(``VRING_NEED_BAIL``) after each wake-up.
"""
from __future__ import annotations

from simulator.engine import ops
from simulator.models.lease import Leases


class VionaRing:
    """One ring and the lease its worker holds, before 6703a0e."""

    def __init__(self, name: str, worker: str, leases: Leases):
        self.name = name
        self.worker = worker  # the worker thread's name: the lease's read hold is its
        self.vr_lock = f"{name}.vr_lock"
        self.vr_cv = f"{name}.vr_cv"
        self.flags_cell = f"{name}.vr_state_flags"
        self.leases = leases
        self.lease = leases.lease(f"{name}.lease", worker, self.viona_ring_lease_expire_cb)
        self.renewals = 0  # written by the worker only
        self.preempt_ns = 0  # timed runs: how long a loaded host takes the CPU away

    def cells(self) -> dict[str, int]:
        return {self.flags_cell: 0}

    # ---- run by the write locker, through the lease ------------------------------
    def viona_ring_lease_expire_cb(self):
        """Wake the worker so it renews; the lease is broken asynchronously."""
        yield ops.cv_broadcast(self.vr_cv, "viona_ring_lease_expire_cb")
        return False

    # ---- run by the worker, vr_lock held -----------------------------------------
    def viona_ring_lease_renew(self):
        """Break the lease (``viona_ring_lease_drop``) and sign a new one."""
        yield from self.leases.vmm_drv_lease_break(self.lease)
        yield from self.leases.vmm_drv_lease_sign(self.lease)
        self.renewals += 1

    def keep_lease_fresh(self):
        """The check at the top of every wait loop."""
        if (yield from self.leases.vmm_drv_lease_expired(self.lease)):
            yield from self.viona_ring_lease_renew()
            if self.preempt_ns:
                # Timed runs on a loaded host: the scheduler takes the CPU
                # away right here, between the new lease and the sleep.
                yield ops.sleep(self.preempt_ns, "preempt", timer=f"{self.worker}.preempted")

    def viona_worker(self):
        """A ring in VRS_INIT: wait for the guest to start it, keeping the lease
        fresh meanwhile (the TX worker of the report). Nobody starts the ring
        here, so the worker waits for ever — as the report's did."""
        yield ops.lock(self.vr_lock, "viona_worker")
        while (yield ops.load(self.flags_cell, "viona_worker")) == 0:
            yield from self.keep_lease_fresh()
            yield ops.cv_wait_sig(self.vr_cv, self.vr_lock, "viona_worker")
        yield ops.unlock(self.vr_lock, "viona_worker")

    def viona_worker_rx(self):
        """A running RX ring: frames arrive through MAC callbacks, so the worker
        only sleeps, renewing its lease whenever it wakes to find it expired."""
        yield ops.lock(self.vr_lock, "viona_worker_rx")
        while True:
            yield from self.keep_lease_fresh()
            yield ops.cv_wait_sig(self.vr_cv, self.vr_lock, "viona_worker_rx")


class LockedExpireRing(VionaRing):
    """The callback takes ``vr_lock``: its broadcast can no longer fall between
    the worker's check and its sleep."""

    def viona_ring_lease_expire_cb(self):
        yield ops.lock(self.vr_lock, "viona_ring_lease_expire_cb")
        yield ops.cv_broadcast(self.vr_cv, "viona_ring_lease_expire_cb")
        yield ops.unlock(self.vr_lock, "viona_ring_lease_expire_cb")
        return False
