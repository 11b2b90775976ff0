"""OS-6829: bhyve can miss PIR wake-ups — a halted vCPU sleeps through its clock.

Actors, as in the report's dtrace (pcpu 32 and 33):

- ``vcpu0`` (host CPU 0) runs an illumos guest. A vioif receive interrupt
  thread holds IPL 6 while it blocks on a mutex, so the guest CPU idles in
  HLT with its TPR, hence PPR, at 0x70. bhyve emulates the HLT in
  ``vm_handle_hlt``, sleeping until something deliverable is posted.
- ``viona`` (host CPU 1) posts the virtio-net vectors 0x60/0x61 with
  ``lapic_set_intr``. At PPR 0x70 the guest will not take them yet.
- ``cyclic`` (host CPU 0 by default, like the report's pcpu 33) is the vCPU's
  APIC timer: when it expires, ``vlapic_fire_lvt`` posts vector 0xd3 — class
  0xd0, deliverable at PPR 0x70. Once the guest takes that clock tick, the
  mutex owner runs, the waiter drops its IPL, and the guest takes 0x60/0x61.

The race: the first 0x60 sets ``pending`` 0 -> 1 and wakes (or finds) the
vCPU, which looks, sees nothing deliverable at PPR 0x70 and sleeps again —
with ``pending`` still 1, because only VM entry clears it. When the timer
posts 0xd3, ``pending`` is already 1, so ``vmx_set_intr_ready`` says "no
notification needed" and the vCPU sleeps on with a deliverable vector posted.
Nothing more will come; an NMI (``bhyvectl --inject-nmi``) knocks it loose.

With ``early_tick`` the guest first takes one clock tick while it runs, before
it raises its priority: the notification IPI reaches a vCPU in guest mode and
the CPU itself takes 0xd3, clearing ON and nothing else. That is the
interleaving OS-6930 fixed: c713610's class bit for 0xd0 is left behind in
``pending``, and after the vCPU halts, 0x60 sets ON again (notify: the vCPU
looks and sleeps) and the next 0xd3 is "no higher than any class pending".
"""
from __future__ import annotations

from simulator.engine import ops
from simulator.engine.machine import Machine
from simulator.errors import UsageError
from simulator.models.posted import (
    IPI_POKE,
    IPI_POSTED,
    VARIANTS,
    PostedInterrupts,
    vmx_run,
)
from simulator.models.vcpu import (
    EXIT_DONE,
    EXIT_EXTINT,
    EXIT_HLT,
    SLEEPING,
    STATE_NAMES,
    Vcpu,
)
from simulator.models.vlapic import (
    Vlapic,
    VlapicPage,
    deliverable,
    highest,
    lapic_set_intr,
    prio,
    timer_count,
    vlapic_fire_lvt,
)
from simulator.scenarios import register
from simulator.scenarios.base import Param, Scenario

VCPU_CPU, VIONA_CPU, TIMER_CPU = 0, 1, 2


class IllumosGuest:
    """vCPU0's guest: an illumos kernel whose receive thread holds IPL 6 while it waits.

    Its program, one guest instruction at a time (the CPU checks for pending
    IPIs and deliverable virtual interrupts between instructions):

    0. (``early_tick`` only) arm the one-shot APIC timer and keep running —
       the receive path (``mac_rx``) — until that clock tick has been taken;
    1. ``setspl``: TPR := ``tpr`` — the vioif interrupt thread keeps its
       priority level while it blocks on a mutex;
    2. the clock programs its next one-shot APIC timer interrupt
       (``vlapic_icrtmr_write_handler``), as the report shows shortly before
       the HLT;
    3. idle in ``mach_cpu_idle`` (HLT) until the clock interrupt is taken: the
       tick lets the runnable waiter run, and the guest is lively again.

    The run ends there — what the guest does next is not part of the race.
    A virtio-net vector is taken whenever it is deliverable (never at PPR 0x70).
    """

    EARLY_ARM, BUSY, RAISE, ARM, HELD = range(5)

    def __init__(self, vcpu: Vcpu, apicv: PostedInterrupts, page: VlapicPage, tpr: int,
                 timer_vector: int, icr_count: int, early_tick: bool = False):
        self.vcpu = vcpu
        self.apicv = apicv
        self.page = page
        self.tpr = tpr
        self.timer_vector = timer_vector
        self.icr_count = icr_count
        self.ticks = 2 if early_tick else 1  # clock ticks the run needs
        self.pc = self.EARLY_ARM if early_tick else self.RAISE
        self.handled: list[int] = []
        self.nmis = 0

    def run(self, nmi: bool = False):
        """Guest mode from a VM entry to the next exit; returns the exit reason."""
        if nmi:
            self.nmis += 1
            yield ops.note("NMI received", "av_dispatch_nmivect")
        while True:
            if (yield from self.instruction_boundary()):
                return EXIT_EXTINT
            if self.pc in (self.EARLY_ARM, self.ARM):
                yield ops.store(self.page.icr_timer_cell, self.icr_count,
                                "vlapic_icrtmr_write_handler")
                self.pc = self.BUSY if self.pc == self.EARLY_ARM else self.HELD
            elif self.pc == self.BUSY:
                if self.handled.count(self.timer_vector):
                    self.pc = self.RAISE
                else:  # guest code that touches nothing here, until an IPI arrives
                    yield ops.halt(self.vcpu.ipi_cell, "mac_rx")
            elif self.pc == self.RAISE:
                yield from self.page.write_tpr(self.tpr, "setspl")
                self.pc = self.ARM
            elif self.handled.count(self.timer_vector) >= self.ticks:
                return EXIT_DONE
            else:
                return EXIT_HLT

    def instruction_boundary(self):
        """What the CPU does between two guest instructions. Returns True for a VM exit.

        A notification IPI is taken in guest mode (posted-interrupt processing);
        a kick forces an exit. Then every deliverable virtual interrupt is
        delivered, handled and EOI'd (virtual-interrupt delivery, no exits).
        """
        ipi = yield ops.swap(self.vcpu.ipi_cell, 0, "vmx non-root: IPI")
        if ipi & IPI_POSTED:
            yield from self.apicv.posted_intr_processing(self.page)
        if ipi & IPI_POKE:
            return True
        while (vec := (yield from self.page.take("virtual-interrupt delivery"))) is not None:
            yield ops.note(self.handler_text(vec), self.handler_func(vec))
            yield from self.page.eoi("virtual EOI")
            self.handled.append(vec)
        return False

    def handler_func(self, vec: int) -> str:
        return "cbe_fire" if vec == self.timer_vector else "vioif_rx_handler"

    def handler_text(self, vec: int) -> str:
        if vec == self.timer_vector:
            return f"clock tick (vector {vec:#04x}): the runnable waiter gets the CPU"
        return f"virtio-net interrupt (vector {vec:#04x})"


def viona_intr(vcpu: Vcpu, apicv: PostedInterrupts, vectors: list[int], gap_ns: int,
               timed: bool):
    """The viona ring worker: one MSI per batch of packets, via ``lapic_set_intr``."""
    for vec in vectors:
        if timed:
            yield ops.sleep(gap_ns, "viona_recv", timer="viona.rx")
        yield from lapic_set_intr(vcpu, apicv, vec, VIONA_CPU)


def apic_timer(vcpu: Vcpu, apicv: PostedInterrupts, page: VlapicPage, cpu: int,
               period_ns: int, ticks: int = 1):
    """The vCPU's APIC timer callout: each time the guest arms the one-shot
    timer, it expires ``period_ns`` later and ``vlapic_fire_lvt`` posts the LVT
    timer vector.

    One-shot: an expired count reads 0 and the timer stays quiet until the
    guest writes a new initial count. When more ticks follow, the callout marks
    the count spent (``icr_timer`` := 0) *before* posting the vector, so the
    guest can only re-arm it after the tick, never be overwritten by it.
    """
    for k in range(ticks):
        yield ops.halt(page.icr_timer_cell, "callout_reset")
        yield ops.sleep(period_ns, "vlapic_callout_handler", timer="apic_timer")
        if k + 1 < ticks:
            yield ops.swap(page.icr_timer_cell, 0, "vlapic_callout_handler")
        yield from vlapic_fire_lvt(page, vcpu, apicv, cpu)


def _net_vectors(base: int, count: int) -> list[int]:
    """The viona posts in order: rx and tx queue vectors alternately (0x60, 0x61, ...)."""
    return [base + (i % 2) for i in range(count)]


@register
class PirWakeup(Scenario):
    name = "pir-wakeup"
    report = "OS-6829"
    title = "bhyve can miss PIR wake-ups: a halted vCPU sleeps through a deliverable interrupt"
    summary = ("vCPU0 halts at PPR 0x70. Low-priority virtio-net vectors are posted and "
               "leave the posted-interrupt descriptor's 'pending' bit set; when the APIC "
               "timer posts a deliverable vector, 'pending' is already set, so nobody wakes "
               "the sleeping vCPU.")
    actors = ("vcpu0", "viona", "cyclic")
    variants = {
        "buggy": "vmx_set_intr_ready notifies only when 'pending' goes from 0 to 1",
        "c713610": "OS-6829: the classes posted ride in 'pending'; a higher class notifies "
                   "too; VM entry swaps 'pending' to 0 (stale classes survive a halt)",
        "21e2c66": "OS-6930: c713610 plus vmx_flush_pir_prio, which drops stale class bits "
                   "before leaving vmx_run",
        "ce6a764": "OS-7354: classes in a per-vCPU 'pending_prio', trimmed while the vCPU "
                   "sleeps; 'pending' is ON alone again",
        "fixed": "the complete fix, where the three commits ended: the same as ce6a764",
        "pending-prio": "the same as ce6a764 (the form FreeBSD and illumos-gate kept)",
        "os-6829": "the same as c713610",
        "os-6930": "the same as 21e2c66",
        "os-7354": "the same as ce6a764",
    }
    params = (
        Param("tpr", 0x70, "the guest's task priority while it waits (PPR follows)", hex=True,
              low=0, high=0xFF),
        Param("net_vector", 0x60, "virtio-net rx vector (tx is the next one)", low=16, high=255,
              hex=True),
        Param("net_vectors", 1, "interrupts viona posts, rx and tx alternately (one is "
              "enough for the race; each more multiplies the explorer's work)", low=1, high=4),
        Param("timer_vector", 0xD3, "the APIC timer's LVT vector", low=16, high=255, hex=True),
        Param("timer_hz", 100, "the guest's clock rate: one tick per 1/timer_hz s (timed mode)",
              low=1, high=100_000),
        Param("timer_cpu", TIMER_CPU, "host CPU the timer's cyclic fires on (0: vcpu0's, "
              "as in the report)", choices=(0, 1, 2)),
        Param("packet_gap_ns", 2_000, "time between viona's interrupts (timed mode)",
              low=1, high=10**9),
        Param("early_tick", 0, "1: the guest first takes a clock tick while it runs, "
              "before it raises its priority (the OS-6930 interleaving)", choices=(0, 1)),
    )
    property_text = "a halted vCPU with a deliverable interrupt pending wakes and takes it"
    nudge_text = ("bhyvectl --inject-nmi: an NMI is pending and the vCPU is notified; it "
                  "wakes, re-enters the guest, and the posted vectors are injected")
    costs = {"setspl": 50, "av_dispatch_nmivect": 2_000}
    fatal_funcs = ("vmx_set_intr_ready",)  # the post that asked for no notification
    labels = {
        "setspl": "the guest raises (or drops) its priority level: TPR, hence PPR",
        "lapic_set_intr": "an interrupt is posted to the vCPU",
        "vmx_set_intr_ready": "the vector goes into the PIR; notify the vCPU?",
        "vcpu_notify_event": "kick a running vCPU, wake a sleeping one",
        "vm_handle_hlt": "the vCPU emulates HLT: sleep unless something is deliverable",
        "vmx_pending_intr": "is the highest posted vector above PPR?",
        "vmx_inject_pir": "VM entry: posted vectors move into IRR",
        "vlapic_fire_lvt": "the APIC timer expires",
        "cbe_fire": "the guest takes its clock tick",
    }

    def build(self, variant, params, memory_model, *, tracing, timed, step_budget) -> Machine:
        tpr, timer_vector = params["tpr"], params["timer_vector"]
        if prio(timer_vector) <= prio(tpr):
            raise UsageError(f"timer vector {timer_vector:#04x} is not deliverable at TPR "
                             f"{tpr:#04x}: the guest could never take its clock tick")
        if params["early_tick"] and params["timer_cpu"] == VCPU_CPU:
            raise UsageError("early_tick needs timer_cpu 1 or 2: a tick firing on vcpu0's own "
                             "CPU while the guest runs forces a VM exit, which the model "
                             "does not show")
        net = _net_vectors(params["net_vector"], params["net_vectors"])
        if max(net) > 255:
            raise UsageError(f"net_vector {params['net_vector']:#04x} leaves no room for the "
                             "tx vector above it (at most 0xfe)")
        apicv_cls = self.variant_class(variant, VARIANTS, PostedInterrupts)
        vcpu = Vcpu(0, hostcpu=VCPU_CPU)
        vlapic = Vlapic()
        vlapic.set_lvt_timer(timer_vector, periodic=False)  # one-shot, as illumos's cbe uses it
        page = VlapicPage(vlapic)
        apicv = apicv_cls()
        period_ns = 10**9 // params["timer_hz"]
        guest = IllumosGuest(vcpu, apicv, page, tpr, timer_vector, timer_count(period_ns),
                             early_tick=bool(params["early_tick"]))
        cells = {**vcpu.cells(), **apicv.cells(), **page.cells()}

        def woke(m: Machine) -> tuple[bool, str]:
            return _check_woke(m, vcpu, apicv, page, guest)

        def nudge(m: Machine) -> None:
            m.add_thread(f"bhyvectl{m.steps}", VIONA_CPU, vcpu.vm_inject_nmi(VIONA_CPU))

        m = Machine(cells, cpus=3, memory_model=memory_model, tracing=tracing,
                    step_budget=step_budget, check_property=woke,
                    property_holds=_vcpu0_done, nudge=nudge)
        m.model = {"vcpu": vcpu, "vlapic": vlapic, "page": page, "apicv": apicv,
                   "guest": guest}
        m.add_thread("vcpu0", VCPU_CPU, vcpu.vm_run(
            lambda: vmx_run(vcpu, apicv, page, guest),
            lambda: apicv.vmx_pending_intr(page)))
        m.add_thread("viona", VIONA_CPU,
                     viona_intr(vcpu, apicv, net, params["packet_gap_ns"], timed))
        m.add_thread("cyclic", params["timer_cpu"],
                     apic_timer(vcpu, apicv, page, params["timer_cpu"], period_ns,
                                guest.ticks))
        return m


def _vcpu0_done(m: Machine) -> bool:
    """The property's truth, from the machine alone: vCPU0 finished (it woke)."""
    return m.by_name["vcpu0"].done


def _check_woke(m: Machine, vcpu: Vcpu, apicv: PostedInterrupts, page: VlapicPage,
                guest: IllumosGuest) -> tuple[bool, str]:
    """The property, in words: did vCPU0 finish, or what is it sleeping through?"""
    handled = ", ".join(f"{v:#04x}" for v in guest.handled) or "nothing"
    if _vcpu0_done(m):
        return True, f"vCPU0 woke and handled {handled}"
    ppr = page.vlapic.ppr
    posted = apicv.pending_vectors(m.memory.cells) | page.vlapic.irr
    top = highest(posted)
    state = m.memory.cells[vcpu.state_cell]
    where = ("sleeps in vm_handle_hlt" if state == SLEEPING
             else f"is left {STATE_NAMES.get(state, state)}")
    if top is not None and deliverable(top, ppr):
        return False, f"vector {top:#04x} is deliverable at PPR {ppr:#04x} but vCPU0 {where}"
    return False, f"vCPU0 {where} at PPR {ppr:#04x} with nothing deliverable pending"
