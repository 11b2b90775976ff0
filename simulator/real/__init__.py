"""The real machine: the course's claims checked on KVM and on real cores.

Layers, bottom up: ``_native`` (the cffi extension and ``ensure``), then
``machine`` (``Vm``, ``Vcpu``), then the experiments: ``apic`` (OS-6829's
wake-up rule on KVM's LAPIC, and ``ApicLab``), ``litmus`` (store buffering
on host threads, and OS-7613 inside a guest) and ``signals`` (hyperkit #94's
signal delivery). Only this package imports the native extension.
"""
from __future__ import annotations

from dataclasses import dataclass

from simulator.real._native import RealMachineError, kvm_problem
from simulator.real.result import ExperimentResult


@dataclass(frozen=True)
class Availability:
    """Whether KVM can be used here, and if not, why (missing, permission, API mismatch)."""

    ok: bool
    reason: str

    def __bool__(self) -> bool:
        return self.ok


def available() -> Availability:
    """Can the KVM experiments run on this machine? ``HVRACES_NO_KVM=1`` says no."""
    problem = kvm_problem()
    if problem:
        return Availability(False, problem)
    return Availability(True, "KVM is usable: /dev/kvm opens, API 12, in-kernel irqchip, "
                              "KVM_SIGNAL_MSI and immediate_exit are supported")


def isr_observable() -> bool:
    """Does this machine's LAPIC keep a delivered vector in ISR until its EOI?

    Probed once per process (see ``simulator.real.apic.isr_observable``);
    False on hosts such as PVM that acknowledge interrupts without setting
    ISR. Raises RealMachineError when KVM cannot be used.
    """
    from simulator.real.apic import isr_observable as probe

    return probe()


def native_available() -> Availability:
    """Is the C extension built (the litmus and signal experiments need only this)?"""
    from simulator.real import _native

    if _native.lib is None:
        return Availability(False, _native.IMPORT_ERROR or "not built")
    return Availability(True, "the native extension is built")


__all__ = ["Availability", "ExperimentResult", "RealMachineError", "available",
           "isr_observable", "native_available"]
