"""OS-7622: the VM write lock meets the vIOAPIC's rendezvous - a deadlock found testing OS-7447.

Actors, as in the report (the VM keeps the report's vCPU numbers but not
vCPU2, which would only repeat vCPU1's part):

- ``bhyvectl`` (B): ``bhyvectl --wrlock-cycle``, the ``VM_WRLOCK_CYCLE``
  ioctl: ``vmm_write_lock`` freezes vCPU0, 1 and 3 in turn (each must first
  be IDLE: ``vcpu_lock_one`` sets ``reqidle``, kicks, and waits), takes the
  rwlock as writer, then lets everything go again.
- ``vcpu3`` (A): in the guest, about to write pin 6's redirection entry
  (IOWIN := 0x1a036 - level triggered now). The write exits to
  ``vioapic_write``, which must have every vCPU's TMR recomputed.
- ``vcpu1`` (C): running its guest, which leaves guest mode only when kicked.
- ``vcpu0`` (Z): its thread is in bhyve userspace, the vCPU IDLE. It calls
  ``VM_RUN`` again when vCPU0 is wanted in the kernel - here, by a rendezvous
  (``Vm.vcpu_thread`` says why the model's vCPU threads come back only then).
- ``callout``: the one-second timeouts of ``vm_handle_rendezvous``'s wait
  (``ticks`` of them), in the variant that has a rendezvous.

Before ec6f18e the TMRs are recomputed by a rendezvous of every active vCPU,
each running ``vioapic_update_tmr`` from inside its own ``vm_run``. If B
froze vCPU0 while its thread was in userspace, vCPU0 can never run its part:
vCPU3 and vCPU1 wait in ``vm_handle_rendezvous`` for it, B waits for vCPU1 to
go IDLE, and vCPU0's thread waits for B to let vCPU0 go. A cycle; the 1 s
timeouts only re-read the same sets. After ec6f18e the writer sets each
targeted TMR itself, holding that vCPU out of the guest (``vcpu_block_run``
waits only until it is not RUNNING): nobody waits for a vCPU to *run*.

Why a hang with the clock ticking is still called a deadlock: each timeout
makes the waiters re-read ``rendezvous_req_cpus`` and ``rendezvous_done_cpus``
and wait again, and nothing else in the cycle can move, so every round reads
what the one before read. The model lets ``ticks`` such rounds happen (the
tests check that more ticks change nothing) and then stops the clock; the
machine is left with no action possible and the wait-for cycle in place.
"""
from __future__ import annotations

from simulator.engine import ops, waitfor
from simulator.engine.machine import Machine
from simulator.models.rendezvous import members
from simulator.models.vcpu import IDLE, RUNNING
from simulator.models.vioapic import REPORT_LOW
from simulator.models.vm import (
    EXIT_EXTINT,
    EXIT_INOUT,
    EXIT_INST_EMUL,
    VARIANTS,
    Vm,
    guest_kicked,
    guest_until_kicked,
)
from simulator.scenarios import register
from simulator.scenarios.base import Param, Scenario

VCPUS = (0, 1, 3)
WRITER, BYSTANDER, IDLER = 3, 1, 0  # A, C, Z
BHYVECTL_CPU, CALLOUT_CPU = 4, 5


class BusyGuest:
    """A guest CPU busy with its own work: it leaves guest mode only when kicked."""

    finished = False
    has_work = False  # nothing that needs the vCPU back once it has been asked to leave

    def run(self, vcpu):
        return (yield from guest_until_kicked(vcpu))


class IoapicWriterGuest:
    """vCPU3's guest: program pin 6 (an MMIO write the kernel must emulate),
    then an I/O port access bhyve handles in userspace - where the model
    leaves it."""

    WRITE, OUT, DONE = range(3)

    def __init__(self):
        self.pc = self.WRITE
        self.mmio_data = REPORT_LOW
        self.finished = False
        self.has_work = True  # until its last instruction has run

    def run(self, vcpu):
        if (yield from guest_kicked(vcpu)):
            return EXIT_EXTINT
        if self.pc == self.WRITE:
            return EXIT_INST_EMUL  # mov [IOWIN], 0x1a036: pin 6 level-triggered, vector 0x36
        self.finished = True
        return EXIT_INOUT  # out: port I/O for bhyve userspace

    def emulated(self):
        """The kernel has emulated the write: the guest goes on."""
        self.pc = self.OUT


def bhyvectl(vm: Vm, cpu: int):
    """``bhyvectl --wrlock-cycle``: take the VM write lock and give it back."""
    def nothing():
        yield ops.note("VM write lock held", "vmmdev_do_ioctl")

    yield from vm.vmmdev_do_ioctl("VM_WRLOCK_CYCLE", cpu, nothing)


@register
class WriteLockRendezvous(Scenario):
    name = "write-lock-rendezvous"
    report = "OS-7622"
    title = ("the VM write lock meets the vIOAPIC rendezvous: vmm_write_lock waits for a "
             "vCPU that waits for a vCPU the write lock froze")
    summary = ("bhyvectl --wrlock-cycle freezes vCPU0 while its thread is in userspace, then "
               "waits for vCPU1 to go IDLE. vCPU3's IOAPIC write started a rendezvous that "
               "vCPU1 joined; it needs vCPU0 to run its part, which only vCPU0's thread, "
               "inside VM_RUN, can do.")
    actors = ("bhyvectl", "vcpu3", "vcpu1", "vcpu0", "callout")
    variants = {
        "buggy": "ec6f18e^: vioapic_write rendezvouses every vCPU to update its own TMR",
        "fixed": "ec6f18e: the writer sets each TMR itself under vcpu_block_run; no rendezvous",
    }
    params = (
        Param("dest", 1, "the APIC ID pin 6 is pointed at (2: a vCPU the model leaves out, "
              "so no vCPU is targeted)", low=0, high=3),
        Param("wrlock", 1, "1: bhyvectl --wrlock-cycle runs; 0: it does not", choices=(0, 1)),
        Param("bystander", 1, "1: vCPU1 runs its guest (as in the report); 0: the VM has "
              "only vCPU0 and vCPU3", choices=(0, 1)),
        Param("ticks", 1, "one-second timeouts the rendezvous waiters may see (each is a "
              "round that re-reads the same sets)", low=0, high=4),
    )
    property_text = ("bhyvectl's write-lock cycle and vCPU3's IOAPIC write both complete, "
                     "every targeted vCPU's TMR marks vector 0x36 level-triggered, and the "
                     "other vCPUs are back in their guests")
    nudge_text = ("none: a signal only ends one cv_reltimedwait_sig early, and the loop "
                  "waits again; only killing the bhyve process ends it")
    memory_model = "sc"  # every shared word here is written under a mutex: no store buffering
    # ns (timed mode): a kicked guest takes about a microsecond to leave guest mode;
    # decoding and emulating the MMIO write costs vCPU3 most of one too; bhyve's
    # vCPU thread takes a few to get from userspace back into the kernel
    costs = {"vmx_exit": 1_000, "vioapic_mmio_rw": 800, "vm_loop": 5_000,
             "vmm_write_lock": 1_000}
    labels = {
        "vmm_write_lock": "bhyvectl takes the VM write lock: every vCPU, in order",
        "vcpu_set_state_locked": "a vCPU changes state (or someone waits for it to be IDLE)",
        "vioapic_write": "the guest's redirection-entry write is emulated",
        "vm_smp_rendezvous": "every vCPU is asked to update its own TMR",
        "vm_handle_rendezvous": "a vCPU does its part, then waits for all the others",
        "vioapic_update_tmr": "a vCPU recomputes its own TMR",
        "vlapic_set_tmr_level": "a vCPU the pin targets marks the vector level-triggered",
        "vlapic_reset_tmr": "a vCPU the pin does not target leaves the vector edge-triggered",
        "vcpu_block_run": "the writer holds a vCPU out of the guest",
        "vlapic_tmr_set": "the writer sets another vCPU's TMR",
        "vmx_run": "a vCPU runs its guest until kicked",
    }

    def build(self, variant, params, memory_model, *, tracing, timed, step_budget) -> Machine:
        vm_cls = self.variant_class(variant, VARIANTS, Vm)
        ids = VCPUS if params["bystander"] else (IDLER, WRITER)
        vm = vm_cls(ids, params["dest"])
        guests = {WRITER: IoapicWriterGuest(), BYSTANDER: BusyGuest(), IDLER: BusyGuest()}
        # vCPU3 and vCPU1 are inside VM_RUN, in their guests; vCPU0's thread is in userspace
        cells = vm.cells({WRITER: RUNNING, BYSTANDER: RUNNING, IDLER: IDLE})

        def judge(m: Machine) -> tuple[bool, str]:
            return _judge(m, vm)

        m = Machine(cells, cpus=CALLOUT_CPU + 1, memory_model=memory_model, tracing=tracing,
                    step_budget=step_budget, check_property=judge)
        m.model = {"vm": vm, "guests": guests}
        if params["wrlock"]:
            m.add_thread("bhyvectl", BHYVECTL_CPU, bhyvectl(vm, BHYVECTL_CPU))
        m.add_thread("vcpu3", WRITER, vm.vcpu_thread(vm.by_id[WRITER], guests[WRITER], True))
        if params["bystander"]:
            m.add_thread("vcpu1", BYSTANDER,
                         vm.vcpu_thread(vm.by_id[BYSTANDER], guests[BYSTANDER], True),
                         daemon=True)
        m.add_thread("vcpu0", IDLER,
                     vm.vcpu_thread(vm.by_id[IDLER], guests[IDLER], False), daemon=True)
        if vm.uses_rendezvous and params["ticks"]:
            m.add_thread("callout", CALLOUT_CPU, vm.rendezvous.rendezvous_clock(params["ticks"]),
                         daemon=True)
        return m


# The report's hang, told as who runs until what (None: until it blocks). The
# tests replay it; the lesson steps through it.
REPORT_STORY = (
    ("bhyvectl", 5, "vmm_write_lock freezes vCPU0: its thread is in userspace, the vCPU IDLE"),
    ("vcpu3", None, "the guest's IOAPIC write: vioapic_write starts vm_smp_rendezvous, "
     "kicks vCPU1, runs its own part, waits for the others"),
    ("bhyvectl", None, "vcpu_lock_one(1): reqidle, a kick, wait for vCPU1 to go IDLE"),
    ("vcpu1", None, "out of the guest, the rendezvous is on: its part, then wait"),
    ("vcpu0", None, "back for the rendezvous: VM_RUN's vcpu_lock_one(0) waits for bhyvectl"),
    ("callout", None, "one second later..."),
    ("fire:rendezvous.timeout", 1, "...cv_reltimedwait_sig times out"),
    ("callout", None, "the waiters are woken"),
    ("vcpu3", None, "looks again: the same two sets; waits again"),
    ("vcpu1", None, "looks again: the same two sets; waits again"),
)


def report_schedule(params: dict | None = None) -> list[str]:
    """``REPORT_STORY`` as a schedule of the buggy variant (``ticks`` >= 1)."""
    from simulator import scenarios

    m = scenarios.get(WriteLockRendezvous.name).machine("buggy", params)
    schedule: list[str] = []
    for who, count, _ in REPORT_STORY:
        done = 0
        while (count is None or done < count) and who in m.enabled():
            m.step(who)
            schedule.append(who)
            done += 1
    return schedule


# ---------------------------------------------------------------- the judge
def bhyvectl_holds(m: Machine) -> set[int]:
    """The vCPUs bhyvectl has frozen: it freezes them in order, so while it
    waits for vCPU k it holds every vCPU below k (and none once done)."""
    t = m.by_name.get("bhyvectl")
    if t is None or t.op is None:
        return set()
    if t.wait is not None and t.wait[0] == "cv" and t.wait[1].endswith(".state_cv"):
        waiting_for = int(t.wait[1][4:t.wait[1].index(".")])
        return {i for i in VCPUS if i < waiting_for}
    return {i for i in VCPUS if m.memory.cells.get(f"vcpu{i}.state", IDLE) != IDLE}


def _holder(m: Machine, vcpuid: int) -> str | None:
    """Who must let vCPU ``vcpuid`` go: bhyvectl if it froze it, else its own thread."""
    if vcpuid in bhyvectl_holds(m):
        return "bhyvectl"
    return f"vcpu{vcpuid}" if f"vcpu{vcpuid}" in m.by_name else None


def _held(m: Machine, name: str) -> tuple[str, ...]:
    """The vCPUs thread ``name`` holds out of IDLE: those bhyvectl froze, or a
    vCPU thread's own vCPU while it is not IDLE and bhyvectl has not frozen it."""
    if name == "bhyvectl":
        return tuple(f"vCPU{i}" for i in sorted(bhyvectl_holds(m)))
    if not name[4:].isdigit():
        return ()
    n = int(name[4:])
    if n not in bhyvectl_holds(m) and m.memory.cells.get(f"vcpu{n}.state", IDLE) != IDLE:
        return (f"vCPU{n}",)
    return ()


def wait_edges(m: Machine) -> list[waitfor.Edge]:
    """Who waits for whom, in the domain's words: a thread waiting for a vCPU to
    go IDLE waits for whoever holds that vCPU; one waiting in the rendezvous
    waits for every vCPU whose part is not done (only its own thread can run
    it); one waiting for a mutex waits for its owner. Idle guests' vCPUs
    busy in their guests and the clock wait for nobody."""
    vm: Vm = m.model["vm"]
    cells = m.memory.cells

    def explain(m: Machine, t) -> list[waitfor.Edge] | None:
        if t.wait is None:  # a mutex (the machine says whose), or a guest running
            return None if t.op[0] in (ops.LOCK, ops.CV_REACQUIRE) else []
        if t.wait[0] != "cv":
            return []
        held, cv = _held(m, t.name), t.wait[1]
        if cv == vm.rendezvous.cv:
            missing = cells[vm.rendezvous.req_cell] & ~cells[vm.rendezvous.done_cell]
            return [waitfor.Edge(t.name, f"vCPU{i}'s part of the rendezvous",
                                 _holder_of_part(m, i), "vm_handle_rendezvous", "rendezvous",
                                 by="run only by", held=held)
                    for i in members(missing)]
        if not cv.endswith(".state_cv"):
            return []
        n = int(cv[4:cv.index(".")])
        if t.op[1] == "vcpu_block_run":
            return [waitfor.Edge(t.name, f"vCPU{n} to leave the guest", f"vcpu{n}",
                                 "vcpu_block_run", "vcpu", by="held by", held=held)]
        if t.name == f"vcpu{n}" and cells.get(f"vcpu{n}.runblock", 0):
            return [waitfor.Edge(t.name, f"vCPU{n}'s runblock to drop", None,
                                 "vcpu_set_state_locked", "vcpu", held=held,
                                 why="the writer drops it in vcpu_unblock_run")]
        return [waitfor.Edge(t.name, f"vCPU{n} to go IDLE", _holder(m, n), "vcpu_lock_one",
                             "vcpu", by="held by", held=held)]

    return waitfor.edges(m, explain=explain)


def _holder_of_part(m: Machine, vcpuid: int) -> str | None:
    return f"vcpu{vcpuid}" if f"vcpu{vcpuid}" in m.by_name else None


def _judge(m: Machine, vm: Vm) -> tuple[bool, str]:
    """The property, in words: what completed, or who waits for whom."""
    live = [t for t in m.threads if t.op is not None and not t.daemon]
    if live:
        edges = wait_edges(m)
        cyc = waitfor.cycle(edges)
        if cyc:
            return False, "wait-for cycle: " + waitfor.describe(cyc)
        return False, waitfor.describe(edges) or "threads are blocked"
    cells = m.memory.cells
    reg = cells[vm.vioapic.rtbl]
    wrong = [i for i in vm.active
             if cells[vm.vioapic.tmr_cell(i)] != vm.vioapic.wanted_tmr(reg, i)]
    if wrong:
        return False, ("pin 6 is level-triggered, but the TMR of "
                       + ", ".join(f"vCPU{i}" for i in wrong) + " does not say so")
    if cells[vm.rendezvous.func_cell]:
        return False, "a rendezvous is still pending"
    stuck = [t.name for t in m.threads if t.name.startswith("vcpu") and t.op is not None
             and t.op[0] != ops.HALT]
    if stuck:
        return False, ", ".join(stuck) + " never got back into its guest"
    level = [i for i in vm.active if cells[vm.vioapic.tmr_cell(i)]]
    who = ", ".join(f"vCPU{i}" for i in level) or "no vCPU"
    locked = "bhyvectl cycled the write lock; " if "bhyvectl" in m.by_name else ""
    return True, f"{locked}pin 6 reprogrammed; vector 0x36 level-triggered in the TMR of {who}"
