"""bhyve's virtual local APIC (``vlapic.c``): IRR, ISR, TMR, TPR, PPR, EOI, the LVT timer.

Two layers, so that the same register logic runs with or without the engine:

- ``Vlapic`` is plain Python: the registers of one local APIC and the rules
  the Intel SDM gives them (vol. 3, "Interrupt, Task and Processor
  Priority"). It can be driven step by step next to KVM's in-kernel LAPIC.
- ``VlapicPage`` keeps a ``Vlapic`` as a vCPU's virtual-APIC page in machine
  cells, and ``lapic_set_intr`` / ``vlapic_fire_lvt`` are the engine-op paths
  by which an interrupt source posts a vector to a vCPU.

The priority rules, in the words of ``vlapic_update_ppr``:

- a vector's *priority class* is its high nibble (``vector & 0xf0``);
- PPR is TPR when TPR's class is at least the class of the highest vector in
  service, otherwise it is that vector's class (low nibble zero);
- the highest requested vector is delivered only if its class is above
  PPR's class. A lower vector never overtakes it.
"""
from __future__ import annotations

from simulator.engine import ops
from simulator.errors import UsageError

APIC_TPR_INT = 0xF0  # the priority-class bits of a vector, TPR or PPR
VECTOR_MIN, VECTOR_MAX = 16, 255  # vectors 0-15 are illegal on the local APIC
APIC_LVT_VECTOR = 0xFF
APIC_LVT_DM = 0x700  # delivery mode: 0 fixed, 0x400 NMI, 0x700 ExtINT
APIC_LVT_DM_FIXED = 0x000
APIC_LVT_DM_NMI = 0x400
APIC_LVT_M = 1 << 16  # masked
APIC_LVTT_TM_PERIODIC = 1 << 17
VLAPIC_BUS_FREQ = 128 * 1024 * 1024  # bhyve's APIC timer clock, in Hz
MSI_DATA_LEVEL = 1 << 15  # trigger mode bit of an MSI's data word
MSI_DATA_DM = 0x700


def prio(value: int) -> int:
    """The priority class of a vector, TPR or PPR (``PRIO()`` in vlapic.c)."""
    return value & APIC_TPR_INT


def check_vector(vector: int, what: str = "vector") -> int:
    """A vector the local APIC accepts (16..255), or a one-line UsageError."""
    if type(vector) is not int or not VECTOR_MIN <= vector <= VECTOR_MAX:
        raise UsageError(f"{what} {vector!r} is not a valid interrupt vector "
                         f"({VECTOR_MIN}..{VECTOR_MAX}, 0x10..0xff)")
    return vector


def check_tpr(tpr: int) -> int:
    """A value for the 8-bit task-priority register, or a one-line UsageError."""
    if type(tpr) is not int or not 0 <= tpr <= 0xFF:
        raise UsageError(f"TPR {tpr!r} does not fit the 8-bit task-priority register (0..0xff)")
    return tpr


def highest(bitmap: int) -> int | None:
    """The highest vector set in a 256-bit register, or None (``flsl`` - 1)."""
    return bitmap.bit_length() - 1 if bitmap else None


def compute_ppr(tpr: int, isr: int) -> int:
    """PPR from TPR and the in-service register, as ``vlapic_update_ppr`` does."""
    isrvec = highest(isr) or 0
    if isrvec < VECTOR_MIN:  # illegal low vectors count as nothing in service
        isrvec = 0
    return tpr if prio(tpr) >= prio(isrvec) else prio(isrvec)


def deliverable(vector: int, ppr: int) -> bool:
    """Would the APIC deliver ``vector`` now? Only if its class is above PPR's."""
    return prio(vector) > prio(ppr)


def timer_count(period_ns: int, divisor: int = 1) -> int:
    """The initial-count value that makes the APIC timer expire after ``period_ns``."""
    return period_ns * (VLAPIC_BUS_FREQ // divisor) // 10**9


def vectors(bitmap: int) -> list[int]:
    """The vectors set in a 256-bit register, lowest first."""
    return [v for v in range(256) if bitmap >> v & 1]


class Vlapic:
    """One local APIC's interrupt registers (the ``struct LAPIC`` page, in part).

    ``irr``, ``isr`` and ``tmr`` are 256-bit integers, bit *v* for vector *v*.
    Every method keeps PPR up to date, as the hardware (or bhyve) does.
    """

    def __init__(self, tpr: int = 0):
        self.irr = 0
        self.isr = 0
        self.tmr = 0
        self.tpr = check_tpr(tpr)
        self.ppr = compute_ppr(self.tpr, self.isr)
        self.lvt_timer = APIC_LVT_M  # masked until the guest programs it

    # ---- the guest's side ------------------------------------------------
    def set_tpr(self, tpr: int) -> None:
        """The guest writes TPR (CR8 << 4, or the TPR register); PPR follows."""
        self.tpr = check_tpr(tpr)
        self.update_ppr()

    def eoi(self) -> int | None:
        """End of interrupt: retire the highest in-service vector; returns it.

        A gratuitous EOI (nothing in service) changes nothing and returns None.
        """
        vec = highest(self.isr)
        if vec is None:
            return None
        self.isr &= ~(1 << vec)
        self.update_ppr()
        return vec

    def set_lvt_timer(self, vector: int, periodic: bool = True, masked: bool = False) -> None:
        """Program the LVT timer entry: fixed delivery of ``vector``."""
        check_vector(vector, "LVT timer vector")
        self.lvt_timer = (vector | (APIC_LVTT_TM_PERIODIC if periodic else 0)
                          | (APIC_LVT_M if masked else 0))

    # ---- interrupt sources ------------------------------------------------
    def set_intr_ready(self, vector: int, level: bool = False) -> None:
        """Request ``vector``: set it in IRR (and TMR for level-triggered)."""
        check_vector(vector)
        bit = 1 << vector
        self.tmr = self.tmr | bit if level else self.tmr & ~bit
        self.irr |= bit

    def accept_msi(self, vector: int, level: bool = False) -> None:
        """A fixed-delivery MSI (or IPI) aimed at this APIC."""
        self.set_intr_ready(vector, level)

    def deliver_msi(self, data: int) -> int | None:
        """Decode an MSI data word (vector, delivery mode, trigger) and deliver it.

        Returns the vector requested, or None for a delivery mode not modelled.
        """
        if data & MSI_DATA_DM != APIC_LVT_DM_FIXED:
            return None
        vector = data & APIC_LVT_VECTOR
        self.accept_msi(vector, bool(data & MSI_DATA_LEVEL))
        return vector

    def fire_timer(self) -> int | None:
        """The timer expired: request the LVT timer vector unless masked; returns it."""
        if self.lvt_timer & APIC_LVT_M or self.lvt_timer & APIC_LVT_DM != APIC_LVT_DM_FIXED:
            return None
        vector = self.lvt_timer & APIC_LVT_VECTOR
        self.set_intr_ready(vector)
        return vector

    # ---- priority ---------------------------------------------------------
    def update_ppr(self) -> int:
        self.ppr = compute_ppr(self.tpr, self.isr)
        return self.ppr

    def highest_irr(self) -> int | None:
        return highest(self.irr)

    def highest_deliverable(self) -> int | None:
        """The vector the APIC would deliver now: the highest in IRR, if its class
        is above PPR's; else None (lower requests wait behind it)."""
        vec = highest(self.irr)
        return vec if vec is not None and deliverable(vec, self.ppr) else None

    def pending_intr(self) -> bool:
        """Is an interrupt deliverable (what ``vlapic_pending_intr`` answers)?"""
        return self.highest_deliverable() is not None

    def intr_accepted(self, vector: int) -> None:
        """The CPU takes ``vector``: IRR to ISR, PPR rises to its class."""
        bit = 1 << check_vector(vector)
        if not self.irr & bit:
            raise UsageError(f"vector {vector:#04x} is not requested, so it cannot be accepted")
        self.irr &= ~bit
        self.isr |= bit
        self.update_ppr()

    def take(self) -> int | None:
        """Deliver the highest deliverable vector, if any; returns it."""
        vec = self.highest_deliverable()
        if vec is not None:
            self.intr_accepted(vec)
        return vec

    def registers(self) -> dict[str, int]:
        return {"tpr": self.tpr, "ppr": self.ppr, "irr": self.irr, "isr": self.isr,
                "tmr": self.tmr, "lvt_timer": self.lvt_timer}

    def __repr__(self) -> str:
        return (f"Vlapic(tpr={self.tpr:#04x}, ppr={self.ppr:#04x}, "
                f"irr={[hex(v) for v in vectors(self.irr)]}, "
                f"isr={[hex(v) for v in vectors(self.isr)]})")


class VlapicPage:
    """A vCPU's virtual-APIC page as the machine shows it: ``apic.tpr``,
    ``apic.ppr``, ``apic.lvt_timer`` and ``apic.icr_timer`` are cells.

    Only the vCPU's own thread (and the CPU acting for it) touches the page,
    so the ``Vlapic`` it wraps is the authority: IRR and ISR live there, and
    every change of TPR or PPR is stored into its cell, where traces show it.
    """

    def __init__(self, vlapic: Vlapic | None = None, prefix: str = "apic"):
        self.vlapic = vlapic or Vlapic()
        self.tpr_cell = f"{prefix}.tpr"
        self.ppr_cell = f"{prefix}.ppr"
        self.lvt_timer_cell = f"{prefix}.lvt_timer"
        self.icr_timer_cell = f"{prefix}.icr_timer"

    def cells(self) -> dict[str, int]:
        """The page's cells; the timer's initial count starts at 0 (not armed)."""
        v = self.vlapic
        return {self.tpr_cell: v.tpr, self.ppr_cell: v.ppr, self.lvt_timer_cell: v.lvt_timer,
                self.icr_timer_cell: 0}

    def _store_changes(self, tpr: int, ppr: int, func: str):
        if self.vlapic.tpr != tpr:
            yield ops.store(self.tpr_cell, self.vlapic.tpr, func)
        if self.vlapic.ppr != ppr:
            yield ops.store(self.ppr_cell, self.vlapic.ppr, func)

    def write_tpr(self, tpr: int, func: str):
        """The guest raises or lowers its task priority (PPR follows)."""
        before = self.vlapic.tpr, self.vlapic.ppr
        self.vlapic.set_tpr(tpr)
        yield from self._store_changes(*before, func)

    def or_irr(self, bits: int) -> None:
        """Merge posted requests into IRR (``vmx_inject_pir``, posted-interrupt
        processing): the page itself, no shared memory."""
        self.vlapic.irr |= bits

    def take(self, func: str = "vlapic_intr_accepted"):
        """Deliver the highest deliverable vector to the guest; returns it or None."""
        before = self.vlapic.tpr, self.vlapic.ppr
        vec = self.vlapic.take()
        yield from self._store_changes(*before, func)
        return vec

    def eoi(self, func: str = "vlapic_process_eoi"):
        before = self.vlapic.tpr, self.vlapic.ppr
        vec = self.vlapic.eoi()
        yield from self._store_changes(*before, func)
        return vec


# ---- how interrupt sources reach a vCPU (engine ops) --------------------------
def lapic_set_intr(vcpu, apicv, vector: int, cpu: int, level: bool = False):
    """Post ``vector`` to ``vcpu`` from a thread on host CPU ``cpu`` (an MSI from
    viona, an IPI): set it ready and notify the vCPU only if told to."""
    check_vector(vector)
    notify = yield from apicv.vmx_set_intr_ready(vector, level)
    if notify:
        yield from vcpu.vcpu_notify_event(cpu, lapic_intr=True)
    return notify


def vlapic_fire_lvt(page: VlapicPage, vcpu, apicv, cpu: int):
    """An LVT fires (the APIC timer's cyclic): read the entry, post its vector.

    Returns True if an interrupt was posted. Like ``lapic_set_intr``, the vCPU
    is notified only when ``vmx_set_intr_ready`` asks for it.
    """
    reg = yield ops.load(page.lvt_timer_cell, "vlapic_fire_lvt")
    if reg & APIC_LVT_M or reg & APIC_LVT_DM != APIC_LVT_DM_FIXED:
        return False
    vec = reg & APIC_LVT_VECTOR
    if vec < VECTOR_MIN:  # bhyve sets the send-illegal-vector error instead
        return False
    notify = yield from apicv.vmx_set_intr_ready(vec, False)
    if notify:
        yield from vcpu.vcpu_notify_event(cpu, lapic_intr=True)
    return True
