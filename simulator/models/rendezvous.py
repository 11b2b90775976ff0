"""bhyve's vCPU rendezvous (``vmm.c`` before ec6f18e): make every vCPU run a function.

Something that must touch state only a vCPU itself may touch - its vLAPIC's
trigger-mode register, for one - asks all the vCPUs to do it for it:

- ``vm_smp_rendezvous(vcpuid, dest, func)`` (the initiator, a vCPU thread):
  under ``rendezvous_mtx`` set ``rendezvous_req_cpus`` = ``dest``, clear
  ``rendezvous_done_cpus``, publish ``rendezvous_func``; kick or wake every
  vCPU in ``dest`` (``vcpu_notify_event``); then take part itself.
- ``vm_handle_rendezvous(vcpuid)`` (every vCPU, from inside its own
  ``vm_run``: on VM entry ``vmx_run`` finds ``rendezvous_func`` set and exits,
  and ``vm_handle_hlt`` will not sleep while it is set): run the function for
  itself if it is wanted and not done, set its bit in ``rendezvous_done_cpus``;
  whoever finds every wanted bit done clears ``rendezvous_func`` and wakes the
  others. Everyone else waits.

The wait is ``cv_reltimedwait_sig(..., 1 s)`` in a loop (the report's stack:
``vm_handle_rendezvous`` -> ``cv_reltimedwait_sig``). The timeout is there so
that the threads of a bhyve process being killed can leave (the loop breaks
when the process is ``SEXITING``); otherwise a timeout or a signal only
re-reads the same two sets and waits again. The model has no process exit. The model waits on
``rendezvous_cv`` and lets ``rendezvous_clock`` stand for the timeouts: once
a rendezvous is published, it wakes the waiters ``ticks`` times, one second
apart. A wake-up with nothing
changed is a round that reads what the last one read; the scenario counts on
that to call a hang with the clock still ticking a deadlock (see
``write_lock_rendezvous``).

A vCPU's part can only be run by its own thread, inside ``vm_run``. A vCPU
whose thread cannot get into ``vm_run`` - frozen by someone else's
``vcpu_lock_one`` - holds the whole rendezvous, and everyone in it, forever.

Cells: ``vm.rendezvous_func`` (0 or 1: a function is published),
``vm.rendezvous_req_cpus`` and ``vm.rendezvous_done_cpus`` (bit i = vCPU i).
"""
from __future__ import annotations

from collections.abc import Callable

from simulator.engine import ops

NS_PER_S = 1_000_000_000
TIMEOUT_NS = NS_PER_S  # cv_reltimedwait_sig(..., hz): one second


def cpuset(ids) -> int:
    """A ``cpuset_t`` as a bit mask: bit i for vCPU i."""
    mask = 0
    for i in ids:
        mask |= 1 << i
    return mask


def members(mask: int) -> list[int]:
    """The vCPU ids in a bit mask, lowest first."""
    return [i for i in range(mask.bit_length()) if mask >> i & 1]


class Rendezvous:
    """The VM's one rendezvous slot: ``rendezvous_func``, the two cpusets, the lock."""

    def __init__(self, notify: Callable[[int, int], object],
                 handle: Callable[[int], object] | None = None):
        """``notify(vcpuid, from_cpu)`` is ``vcpu_notify_event`` for one vCPU;
        ``handle(vcpuid)`` is the ``vm_handle_rendezvous`` the initiator takes
        part through (by default this object's own)."""
        self.notify = notify
        self.handle = handle or self.vm_handle_rendezvous
        self.mtx = "vm.rendezvous_mtx"
        self.cv = "vm.rendezvous_cv"
        self.func_cell = "vm.rendezvous_func"
        self.req_cell = "vm.rendezvous_req_cpus"
        self.done_cell = "vm.rendezvous_done_cpus"
        self.func: Callable | None = None  # what rendezvous_func points at (set once, by build)

    def cells(self) -> dict[str, int]:
        return {self.func_cell: 0, self.req_cell: 0, self.done_cell: 0}

    def vm_smp_rendezvous(self, vcpuid: int, dest: int, from_cpu: int):
        """vCPU ``vcpuid`` makes every vCPU in ``dest`` run ``self.func``, and waits."""
        while True:
            yield ops.lock(self.mtx, "vm_smp_rendezvous")
            busy = yield ops.load(self.func_cell, "vm_smp_rendezvous")
            if not busy:
                break
            # someone else's rendezvous first: take part in it, then try again
            yield ops.unlock(self.mtx, "vm_smp_rendezvous")
            yield from self.handle(vcpuid)
        yield ops.store(self.req_cell, dest, "vm_smp_rendezvous")
        yield ops.store(self.done_cell, 0, "vm_smp_rendezvous")
        yield ops.store(self.func_cell, 1, "vm_set_rendezvous_func")
        yield ops.unlock(self.mtx, "vm_smp_rendezvous")
        # wake sleeping vCPUs and kick running ones out of the guest
        for i in members(dest):
            yield from self.notify(i, from_cpu)
        yield from self.handle(vcpuid)

    def vm_handle_rendezvous(self, vcpuid: int):
        """Take part: run the function for ``vcpuid`` if wanted, then wait for all."""
        yield ops.lock(self.mtx, "vm_handle_rendezvous")
        while (yield ops.load(self.func_cell, "vm_handle_rendezvous")):
            req = yield ops.load(self.req_cell, "vm_handle_rendezvous")
            done = yield ops.load(self.done_cell, "vm_handle_rendezvous")
            if req >> vcpuid & 1 and not done >> vcpuid & 1:
                yield from self.func(vcpuid)
                done |= 1 << vcpuid
                yield ops.store(self.done_cell, done, "vm_handle_rendezvous")
            if req == done:
                yield ops.store(self.func_cell, 0, "vm_set_rendezvous_func")
                yield ops.cv_broadcast(self.cv, "vm_handle_rendezvous")
                break
            # cv_reltimedwait_sig(&rendezvous_cv, 1 s): woken by the last vCPU
            # in or by rendezvous_clock; either way, look again
            yield ops.cv_wait(self.cv, self.mtx, "vm_handle_rendezvous")
        yield ops.unlock(self.mtx, "vm_handle_rendezvous")

    def rendezvous_clock(self, ticks: int):
        """The one-second timeouts of the waiters in ``vm_handle_rendezvous``,
        ``ticks`` of them once a rendezvous is on: each wakes whoever waits,
        and they look again."""
        yield ops.halt(self.func_cell, "cv_reltimedwait_sig")
        for _ in range(ticks):
            yield ops.sleep(TIMEOUT_NS, "cv_reltimedwait_sig", timer="rendezvous.timeout")
            yield ops.cv_broadcast(self.cv, "cv_reltimedwait_sig")
