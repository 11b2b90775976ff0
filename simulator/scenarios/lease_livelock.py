"""illumos #14026: a lease's wake-up is lost and the VM write lock waits for ever.

Actors, as in the report's kernel stacks (one bhyve process, booting):

- ``vcpu0`` (L): the vCPU 0 thread, in userspace, changes the guest memory map
  twice in a row (``VM_MMAP_MEMSEG``, then the report's ``VM_MUNMAP_MEMSEG``).
  Each change needs the VM write lock: ``vmm_write_lock`` freezes every vCPU,
  expires every ``vmm_drv`` lease, and waits as writer on ``vmm_rwlock`` for
  the leases' read holds to go.
- ``tx`` (W): the viona TX ring worker, waiting for the guest to start its
  ring, holding a lease. It looks at its lease only when it wakes, and it
  wakes only when its ring's ``vr_cv`` is broadcast — which is how the
  expire callback tells it to renew.
- ``vcpu1`` (a bystander): the vCPU 1 thread entering ``VM_RUN``; it must
  freeze vCPU 1 (``vcpu_lock_one``), which L holds frozen while it works.
- ``rx`` (a bystander, ``rx=1``): the RX ring worker, renewing its own lease.

The race: the first write lock wakes W, which breaks its lease and signs a
new one — and must wait to sign until L lets go. Between getting the new
lease and going back to sleep, W is awake and holds ``vr_lock``. If L's
second write lock expires the new lease right then, before 6703a0e the
callback broadcasts ``vr_cv`` without ``vr_lock``, finds nobody waiting, and
the wake-up is lost: W sleeps on holding its read hold, L waits for it for
ever, vCPU 1 waits for L (and RX, having renewed, waits to sign). A signal to
the process ends W's ``cv_wait_sig``: W looks again, renews, and everything
moves — "knocked loose".

Variants differ by which lease table (``models.lease``) and which ring
(``models.viona``) they use: the naive fix makes the callback take ``vr_lock``
while ``vmm_write_lock`` still holds ``vmm_lease_lock`` — a lock-order
deadlock with a worker that is renewing, which needs the worker awake when
its lease expires (``tx=awake``); 6703a0e also drops ``vmm_lease_lock``
around each callback.
"""
from __future__ import annotations

from simulator.engine import ops, waitfor
from simulator.engine.machine import Machine, Thread
from simulator.models.lease import BlockingLeases, Leases, lease_ids
from simulator.models.vcpu import Vcpu
from simulator.models.viona import LockedExpireRing, VionaRing
from simulator.models.vmm import Vmm
from simulator.scenarios import register
from simulator.scenarios.base import Param, Scenario


class BeforeFix:
    """illumos before 6703a0e: callbacks run under ``vmm_lease_lock``; viona's
    callback broadcasts without ``vr_lock``."""

    variant_name = "buggy"
    leases = Leases
    ring = VionaRing


class NaiveFix(BeforeFix):
    """The obvious fix alone: the callback takes ``vr_lock``."""

    variant_name = "naive-fix"
    ring = LockedExpireRing


class Fix6703a0e(BeforeFix):
    """6703a0e: the callback takes ``vr_lock`` and ``vmm_lease_block`` drops
    ``vmm_lease_lock`` around it (breaks meanwhile are deferred to the blocker)."""

    variant_name = "fixed"
    leases = BlockingLeases
    ring = LockedExpireRing


VARIANTS = {"buggy": BeforeFix, "naive-fix": NaiveFix, "fixed": Fix6703a0e}
ACTORS = ("vcpu0", "tx", "vcpu1", "rx")  # CPUs are dealt out in this order


class LeaseVm:
    """The scenario's objects: two vCPUs, the VM, its lease table, two rings."""

    def __init__(self, variant: type, rx: bool):
        self.vcpus = [Vcpu(0), Vcpu(1)]
        self.vmm = Vmm(self.vcpus, lease_cls=variant.leases)
        self.tx = variant.ring("tx", "tx", self.vmm.leases)
        self.rings = [self.tx]
        if rx:
            self.rings.append(variant.ring("rx", "rx", self.vmm.leases))

    def cells(self) -> dict[str, int]:
        out = self.vmm.cells()
        for ring in self.rings:
            out.update(ring.cells())
        # Both rings signed their leases when they were set up (TX's first).
        out.update(self.vmm.leases.signed(*(r.lease for r in self.rings)))
        return out

    def asleep_expired(self, m: Machine, t: Thread) -> bool:
        """Is ``t`` a ring worker asleep in ``cv_wait_sig`` though its lease has
        expired? Then its wake-up was lost: a signal would set it going."""
        for ring in self.rings:
            if t.name == ring.worker and t.wait == ("cv", ring.vr_cv, True):
                return m.memory.cells[ring.lease.expired] == 1
        return False


def memory_map_change(cmd: str):
    """The work of a memory-map ioctl, done under the write lock."""
    def work():
        yield ops.note(f"{cmd}: the guest memory map changes", cmd.lower())
    return work


def vm_run_once(vcpu: Vcpu):
    """``VM_RUN`` shortened to one trip: if someone asked for the vCPU
    (``reqidle``), return to userspace at once, else run the guest a while."""
    if (yield ops.load(vcpu.reqidle_cell, "vm_run")):
        yield ops.store(vcpu.reqidle_cell, 0, "vm_run")
    else:
        yield ops.note(f"vCPU {vcpu.vcpuid} runs the guest until its next exit", "vm_run")


def map_changes(n: int) -> list[str]:
    """vCPU 0's memory-map ioctls in a row; the last is the report's VM_MUNMAP_MEMSEG."""
    return ["VM_MMAP_MEMSEG"] * (n - 1) + ["VM_MUNMAP_MEMSEG"]


def _l_thread(vm: LeaseVm, cpu: int, n: int, gap_ns: int | None):
    for i, cmd in enumerate(map_changes(n)):
        if i and gap_ns is not None:  # timed: back in userspace between the ioctls
            yield ops.sleep(gap_ns, "userspace", timer="vcpu0.userspace")
        yield from vm.vmm.vmmdev_do_ioctl(cmd, cpu, memory_map_change(cmd))


def _vcpu1_thread(vm: LeaseVm, cpu: int):
    yield from vm.vmm.vmmdev_do_ioctl("VM_RUN", cpu, lambda: vm_run_once(vm.vcpus[1]), 1)


def _start_asleep(m: Machine, name: str) -> None:
    """Run thread ``name`` alone until it sleeps on its condition variable: the
    story starts with that ring worker idle. These steps are the set-up, part
    of no schedule: the counters and the trace start after them, and so does
    the thread's history of results (the explorer rebuilds a thread by feeding
    it the results it received since its start; a fresh machine from this
    factory is already here)."""
    t = m.by_name[name]
    while t.wait is None and name in m.enabled():  # stops early if its code fails
        m.step(name)
    t.hist = t.gen_hist = 0
    m.steps = m.preemptions = 0
    m.last = [None] * m.cpus
    m.records.clear()


@register
class LeaseLivelock(Scenario):
    name = "lease-livelock"
    report = "illumos #14026"
    title = "livelock in the vmm_drv interface: a lease's wake-up is lost"
    summary = ("vCPU 0 wants the VM write lock; it expires the viona TX worker's lease and "
               "broadcasts its condition variable without the worker's lock. If that lands "
               "between the worker's check and its sleep, the worker sleeps on with its read "
               "hold and the write lock never comes.")
    actors = ACTORS
    variants = {
        "buggy": "before 6703a0e: viona_ring_lease_expire_cb broadcasts without vr_lock",
        "naive-fix": "the callback takes vr_lock, but vmm_write_lock still holds "
                     "vmm_lease_lock around it: a lock-order deadlock",
        "fixed": "6703a0e: the callback takes vr_lock and vmm_lease_block drops "
                 "vmm_lease_lock around it; breaks meanwhile are deferred",
    }
    params = (
        Param("host_cpus", 4, "host CPUs the four threads share, dealt out in the order "
              "vcpu0, tx, vcpu1, rx (1: one tightly capped CPU)", low=1, high=4),
        Param("ioctls", 2, "memory-map ioctls vCPU 0 issues in a row, each taking the "
              "write lock (the last is VM_MUNMAP_MEMSEG)", low=1, high=3),
        Param("rx", 0, "the RX worker, a second lease holder, as in the report's stacks "
              "(it makes the fixed variant's state space some ten times larger)",
              choices=(0, 1)),
        Param("vcpu1", 1, "vCPU 1's thread, a bystander entering VM_RUN (0: leave it out)",
              choices=(0, 1)),
        Param("tx", "asleep", "where the TX worker is when the story starts: asleep in "
              "cv_wait_sig, as in the report, or awake and about to look at its lease "
              "(just started, or just woken by something else)", choices=("asleep", "awake")),
        Param("gap_ns", 100, "vCPU 0's time in userspace between two ioctls (timed mode)",
              low=0, high=10**9),
        Param("preempt_ns", 0, "how long a loaded host keeps a ring worker off its CPU "
              "right after it renews its lease (timed mode; 0: an idle host)",
              low=0, high=10**9),
    )
    property_text = ("vCPU 0's memory-map ioctl gets the write lock and finishes, and every "
                     "ring worker ends up holding a fresh lease")
    nudge_text = ("a signal to the bhyve process: every thread asleep in cv_wait_sig wakes; "
                  "the TX worker looks at its lease again and renews it")
    memory_model = "sc"  # every shared write here is followed by a locked op
    # The worker's sleep with an expired lease (stuck), or its look at a lease
    # that has just expired, before the callback could run (the deadlocks).
    fatal_funcs = ("viona_worker", "vmm_drv_lease_expired")
    labels = {
        "vmm_write_lock": "vCPU 0 takes the VM write lock",
        "vcpu_set_state_locked": "freeze a vCPU: wait until it is IDLE",
        "vmm_lease_block": "expire every lease (after the fix)",
        "vmm_drv_lease_expired": "the worker checks its lease (no lock)",
        "viona_ring_lease_expire_cb": "the expire callback wakes the worker",
        "viona_worker": "the TX worker sleeps until its ring starts",
        "viona_worker_rx": "the RX worker sleeps until woken",
        "vmm_drv_lease_break": "the worker gives its lease back",
        "vmm_drv_lease_sign": "the worker signs a new lease",
        "vmm_lease_unblock": "the write lock goes: leases may be signed again",
        "sigtoproc": "a signal to the process",
    }

    def build(self, variant, params, memory_model, *, tracing, timed, step_budget) -> Machine:
        var = self.variant_class(variant, VARIANTS, BeforeFix)
        vm = LeaseVm(var, rx=bool(params["rx"]))
        ncpu = params["host_cpus"]
        cpu = {name: i % ncpu for i, name in enumerate(ACTORS)}
        if timed:
            for ring in vm.rings:
                ring.preempt_ns = params["preempt_ns"]

        def healthy(m: Machine) -> tuple[bool, str]:
            return _check(m, vm)

        def nudge(m: Machine) -> None:
            m.add_thread(f"kill{m.steps}", 0, _kill())

        m = Machine(vm.cells(), cpus=ncpu, memory_model=memory_model, tracing=tracing,
                    step_budget=step_budget, check_property=healthy, nudge=nudge,
                    nudge_wakes=vm.asleep_expired)
        m.model = {"vm": vm, "vmm": vm.vmm, "leases": vm.vmm.leases, "rings": vm.rings}
        # The signed leases' read holds, taken before the story starts.
        m.rwlock(vm.vmm.rwlock).readers.extend(r.worker for r in vm.rings)
        m.add_thread("vcpu0", cpu["vcpu0"], _l_thread(vm, cpu["vcpu0"], params["ioctls"],
                                                      params["gap_ns"] if timed else None))
        m.add_thread("tx", cpu["tx"], vm.tx.viona_worker(), daemon=True)
        if params["vcpu1"]:
            m.add_thread("vcpu1", cpu["vcpu1"], _vcpu1_thread(vm, cpu["vcpu1"]))
        if params["rx"]:
            m.add_thread("rx", cpu["rx"], vm.rings[1].viona_worker_rx(), daemon=True)
            _start_asleep(m, "rx")
        if params["tx"] == "asleep":
            _start_asleep(m, "tx")
        return m


def _kill():
    """``kill`` from outside: a signal to the bhyve process."""
    yield ops.signal_process("sigtoproc")


def _check(m: Machine, vm: LeaseVm) -> tuple[bool, str]:
    """The property, in words: did the ioctl finish with fresh leases, or who hangs?"""
    if m.by_name["vcpu0"].done:
        stale = [r.name for r in vm.rings if not _fresh(m, vm, r)]
        if stale:
            return False, (f"vCPU 0 finished, but {', '.join(stale)} holds no fresh lease")
        names = " and ".join(r.name for r in vm.rings)
        holds = "hold fresh leases" if len(vm.rings) > 1 else "holds a fresh lease"
        return True, f"vCPU 0 got the write lock and finished; {names} {holds}"
    cyc = waitfor.cycle(waitfor.edges(m))  # locks alone
    if cyc is not None:
        return False, "lock-order deadlock (AB-BA): " + waitfor.describe(cyc)
    lost = [r.name for r in vm.rings if vm.asleep_expired(m, m.by_name[r.worker])]
    if lost:
        who = " and ".join(lost)
        return False, (f"vCPU 0 waits in vmm_write_lock for the read hold of {who}; {who} "
                       f"{'sleep' if len(lost) > 1 else 'sleeps'} in cv_wait_sig with an "
                       "expired lease: the wake-up was lost")
    cyc = waitfor.cycle(wait_edges(m))  # a signer waits for the write locker too
    if cyc is not None:
        return False, f"a cycle through {vm.vmm.leases.cv}: " + waitfor.describe(cyc)
    return False, "vCPU 0 never got the write lock"


WRITE_LOCKER = "vcpu0"  # the one thread here that takes the VM write lock


def wait_edges(m: Machine) -> list[waitfor.Edge]:
    """Who waits for whom: the machine's wait-for graph, told what it cannot
    see. A worker waiting in ``vmm_drv_lease_sign`` waits for the write
    locker, whose ``vmm_lease_unblock`` alone broadcasts ``vmm_lease_cv``
    once the write lock goes; a worker asleep with an expired lease waits
    for a wake-up that has come and gone."""
    vm: LeaseVm = m.model["vm"]
    leases = vm.vmm.leases

    def explain(m: Machine, t: Thread) -> list[waitfor.Edge] | None:
        if t.wait is not None and t.wait[1] == leases.cv and t.op[1] == "vmm_drv_lease_sign":
            return [waitfor.Edge(t.name, leases.cv, WRITE_LOCKER, t.op[1], "cv",
                                 by="broadcast, after the write lock, by")]
        if vm.asleep_expired(m, t):
            return [waitfor.Edge(t.name, t.wait[1], None, t.op[1], "cv",
                                 why="its lease expired, and the broadcast that said so "
                                     "came before it slept: the wake-up was lost")]
        return None

    return waitfor.edges(m, explain=explain)


def _fresh(m: Machine, vm: LeaseVm, ring: VionaRing) -> bool:
    listed = ring.lease.lid in lease_ids(m.memory.cells[vm.vmm.leases.list_cell])
    holds = ring.worker in m.rwlock(vm.vmm.rwlock).readers
    return listed and holds and m.memory.cells[ring.lease.expired] == 0
