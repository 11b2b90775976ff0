"""bhyve's virtual IOAPIC (``io/vioapic.c``): redirection entries and the TMRs that follow them.

The guest programs an IOAPIC pin by writing its 64-bit redirection entry
through two registers: ``IOREGSEL`` picks a half (0x10 + 2 * pin for the
low dword, + 1 for the high one), ``IOWIN`` takes the value. Every access is
an MMIO exit that ``vioapic_mmio_rw`` emulates under the vIOAPIC's mutex.
The entry holds the vector (bits 0-7), the destination mode (bit 11: 0 =
physical), the polarity (13), the trigger mode (15: 1 = level), the mask
(16) and the destination APIC ID (bits 56-63).

A level-triggered vector must be marked in the trigger-mode register (TMR)
of every vLAPIC the pin targets, so that the guest's EOI for it is passed
back to the IOAPIC. So when a write changes more than the mask or the
polarity, ``vioapic_write`` has the TMRs recomputed - the step OS-7622 is
about:

- before ec6f18e (``Vioapic.vioapic_update_tmrs``): drop the vIOAPIC mutex
  and ``vm_smp_rendezvous`` every active vCPU into ``vioapic_update_tmr``,
  which each runs for itself, on its own vLAPIC;
- ec6f18e (``models.vm.RunblockVm``): the writer sets each targeted vCPU's
  TMR bit itself, holding that vCPU out of the guest meanwhile
  (``vcpu_block_run``) - no vCPU has to run anything.

The model keeps one pin and one vector: the report's write, pin 6's low
dword := 0x1a036 (masked, level, active low, vector 0x36). A vCPU's TMR cell
``vcpuN.tmr`` is 1 when that vector is level-triggered for it. Cells:
``vioapic.rtbl[6]``, the TMRs; the mutex ``vioapic.mtx``.
"""
from __future__ import annotations

from simulator.engine import ops
from simulator.models.vcpu import RUNNING

PIN = 6
IOREGSEL_LOW = 0x10 + 2 * PIN  # 0x1c, as in the report's vioapic_write(..., 0x1c, 0x1a036)
REPORT_LOW = 0x1A036  # masked, level, active low, vector 0x36
IOART_INTVEC = 0xFF
IOART_DELMOD = 0x700
IOART_DESTMOD = 0x800  # 1: logical destination
IOART_INTPOL = 0x2000
IOART_TRGRLVL = 0x8000
IOART_INTMASK = 0x10000
INITIAL_LOW = IOART_INTMASK  # after vioapic_init: masked, edge, vector 0


def entry(dest_apic: int, low: int) -> int:
    """A redirection entry: destination APIC ID in bits 56-63, ``low`` below."""
    return (dest_apic & 0xFF) << 56 | (low & 0xFFFFFFFF)


def is_level(reg: int) -> bool:
    """``REDIR_IS_LVLTRIG``: level-triggered, fixed or lowest-priority delivery."""
    return bool(reg & IOART_TRGRLVL) and (reg & IOART_DELMOD) in (0x000, 0x100)


def vector(reg: int) -> int:
    return reg & IOART_INTVEC


def destinations(reg: int, active: tuple[int, ...]) -> set[int]:
    """``vioapic_calcdest``: the active vCPUs an entry targets (physical mode:
    the one whose APIC ID - its vCPU id - is named; logical flat mode: a mask)."""
    dest = reg >> 56 & 0xFF
    if reg & IOART_DESTMOD:
        return {i for i in active if dest >> i & 1}
    return {dest} & set(active)


class Vioapic:
    """The vIOAPIC of one VM, reduced to the pin the guest reprograms."""

    def __init__(self, vcpus: dict, active: tuple[int, ...], dest_apic: int):
        self.vcpus = vcpus  # vcpuid -> Vcpu
        self.active = tuple(active)
        self.mtx = "vioapic.mtx"
        self.rtbl = f"vioapic.rtbl[{PIN}]"
        self.initial = entry(dest_apic, INITIAL_LOW)

    def tmr_cell(self, vcpuid: int) -> str:
        return f"vcpu{vcpuid}.tmr"

    def cells(self) -> dict[str, int]:
        return {self.rtbl: self.initial, **{self.tmr_cell(i): 0 for i in self.active}}

    def wanted_tmr(self, reg: int, vcpuid: int) -> int:
        """What vCPU ``vcpuid``'s TMR bit for the pin's vector should be."""
        return int(is_level(reg) and vcpuid in destinations(reg, self.active))

    # ---- the guest's MMIO write, emulated by the vCPU that made it -------------
    def vioapic_mmio_write(self, vm, vcpuid: int, data: int, cpu: int):
        """IOWIN := ``data`` with IOREGSEL at pin 6's low dword (``vioapic_mmio_rw``)."""
        yield ops.lock(self.mtx, "vioapic_mmio_rw")
        yield from self.vioapic_write(vm, vcpuid, data, cpu)
        yield ops.unlock(self.mtx, "vioapic_mmio_rw")

    def vioapic_write(self, vm, vcpuid: int, data: int, cpu: int):
        """Update the entry; if more than mask or polarity changed, the TMRs follow."""
        last = yield ops.load(self.rtbl, "vioapic_write")
        new = (last & ~0xFFFFFFFF) | (data & 0xFFFFFFFF)
        yield ops.store(self.rtbl, new, "vioapic_write")
        if (last ^ new) & ~(IOART_INTMASK | IOART_INTPOL):
            yield from vm.vioapic_update_tmrs(vcpuid, last, new, cpu)

    # ---- before ec6f18e: the rendezvous function ----------------------------------
    def vioapic_update_tmr(self, vcpuid: int):
        """Run by vCPU ``vcpuid`` for itself: reset its TMR from the redirection table.

        The real function clears every TMR bit (``vlapic_reset_tmr``), then sets
        the bit of each level-triggered pin that targets this vCPU
        (``vlapic_set_tmr_level``); with one pin that is one store, named after
        whichever of the two decides its value."""
        yield ops.lock(self.mtx, "vioapic_update_tmr")
        reg = yield ops.load(self.rtbl, "vioapic_update_tmr")
        level = self.wanted_tmr(reg, vcpuid)
        yield from self.vlapic_tmr_set(vcpuid, level, vcpuid,
                                       "vlapic_set_tmr_level" if level else "vlapic_reset_tmr")
        yield ops.unlock(self.mtx, "vioapic_update_tmr")

    def vlapic_tmr_set(self, target: int, level: int, by: int, func: str = "vlapic_tmr_set"):
        """Set vCPU ``target``'s TMR bit; ``by`` is the vCPU whose thread does it,
        ``func`` the real function the store stands for (ec6f18e's
        ``vlapic_tmr_set`` unless told otherwise). ec6f18e's records the bit in
        the vLAPIC, and the target copies it into its hardware state on its next
        VM entry (``vlapic_tmr_update``); the model keeps the one cell.

        A vCPU's own thread runs kernel code only while its vCPU is out of
        the guest, so it may always write its own TMR. Another thread may
        only while the target is not RUNNING. The model checks that just
        before the write: a write into a running guest's vLAPIC ends the run
        as a violation. (The check reads the state without the vCPU's mutex;
        if the target can be RUNNING at the write, some interleaving has it
        RUNNING at the check too, and the explorer tries them all.)"""
        cell = self.tmr_cell(target)
        if by != target:
            state = yield ops.load(self.vcpus[target].state_cell, "vlapic_tmr_set")
            yield ops.check(state != RUNNING, f"vCPU{target}'s TMR written by vCPU{by} "
                            f"while vCPU{target} runs its guest", "vlapic_tmr_set")
        yield ops.store(cell, level, func)
