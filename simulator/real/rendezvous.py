"""OS-7622's question put to KVM: must an IOAPIC write wait for every vCPU?

In bhyve before ec6f18e, a guest write that changed an IOAPIC redirection
entry started ``vm_smp_rendezvous``: every active vCPU had to run
``vioapic_update_tmr`` from inside its own ``vm_run``, and the writer waited
until all had. A vCPU held outside ``vm_run`` - frozen by the VM write lock -
could never run its part, and the write never returned.

KVM answers the same write (``ioapic_write_indirect``, under the IOAPIC's
spinlock, so it cannot sleep at all) with a request: ``KVM_REQ_SCAN_IOAPIC``
is set on each vCPU the entry targets and the ones in guest mode are kicked.
The request carries ``KVM_REQUEST_WAIT``, which waits only until those vCPUs
have left guest mode (the IPI is acknowledged) - never for a vCPU to do the
work; each rescans the IOAPIC in ``vcpu_enter_guest`` before its next entry.
A vCPU whose thread is out of ``KVM_RUN`` is not waited for at all. ec6f18e
gave bhyve the same rule: ``vcpu_block_run`` waits only until a vCPU is not
RUNNING.

The experiment (guests/ioapic_write.S): vCPU0's guest writes the report's
entry - pin 6, low dword 0x1a036 (masked, level, active low, vector 0x36),
destination APIC ID 1 - while vCPU1, the vCPU the entry targets, is either
*parked* (its host thread holds it outside ``KVM_RUN``, as bhyvectl held the
frozen vCPU0) or *running* (spinning in the guest). Claim: the write
completes every time in both cases, KVM's IOAPIC holds the new entry, and
vCPU1, released afterwards, runs on and finishes. Every wait is bounded; a
write that has not completed by the timeout counts as one that waited.
"""
from __future__ import annotations

import os
import struct
import time

from simulator.real._native import RealMachineError, ensure
from simulator.real.machine import Vm
from simulator.real.result import ExperimentResult

PIN = 6
PIN_LOW = 0x1A036  # the low dword of the report's vioapic_write(..., 0x1c, 0x1a036)
TARGET = 1  # the entry's destination APIC ID: vCPU1
CASES = ("parked", "running")
MAX_ROUNDS = 1000


def _u32(vm: Vm, gpa: int) -> int:
    return struct.unpack("<I", vm.read(gpa, 4))[0]


def _pin_threads(*vcpus) -> None:
    """One host CPU each when there are enough, so the two really run at once."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) >= len(vcpus):
        for vcpu, cpu in zip(vcpus, allowed, strict=False):
            vcpu.pin(cpu)


def _wait_started(vm: Vm, lib, timeout_ms: int) -> bool:
    """Until vCPU1's guest says it runs (a hang guard bounds the wait)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while _u32(vm, lib.HVR_IOAPIC_STARTED) == 0:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def one_round(case: str, timeout_ms: int = 2000, runnable: bool = True) -> dict:
    """One VM: vCPU0 writes pin 6 while vCPU1 is ``parked`` or ``running``.

    Returns what was seen: did the write complete (vCPU0's guest reported
    done before the timeout), the entry in KVM's IOAPIC, whether vCPU1 was
    still in its guest right after, and whether it finished once released.
    ``runnable=False`` leaves vCPU1 waiting for an INIT/SIPI that never
    comes - a vCPU that cannot run, which the harness must see as such."""
    if case not in CASES:
        raise RealMachineError(f"unknown case {case!r} (choose {', '.join(CASES)})")
    with Vm("ioapic_write") as vm:
        ffi, lib = vm._ffi, vm._lib
        writer, other = vm.vcpu(), vm.vcpu()
        if runnable:
            ensure(lib.hvr_vcpu__make_runnable(other.handle))
        _pin_threads(writer, other)
        vm.write(lib.HVR_IOAPIC_DEST, struct.pack("<I", TARGET))
        started = None
        if case == "running":
            other.resume()
            started = _wait_started(vm, lib, timeout_ms)
        stop = writer.run(timeout_ms)
        completed = stop == "done" and writer.done_value == lib.HVR_IOAPIC_WRITER_DONE
        entry = ffi.new("uint64_t *")
        ensure(lib.hvr_vm__ioapic_entry(vm.handle, PIN, entry))
        # vCPU1 must not have been stopped by the write: still in its guest
        still_running = other.wait(0) is None if case == "running" else None
        vm.write(lib.HVR_IOAPIC_GO, struct.pack("<I", 1))
        after = other.wait(timeout_ms) if case == "running" else other.run(timeout_ms)
        if after is None:
            after = other.kick()
        return {
            "case": case, "write_completed": completed, "writer_stop": stop,
            "read_back": writer.log()[:1], "entry": int(entry[0]),
            "other_started": started, "other_still_running": still_running,
            "other_finished": after == "done" and other.done_value == lib.HVR_IOAPIC_OTHER_DONE,
        }


def ioapic_request(rounds: int = 10, timeout_ms: int = 2000) -> ExperimentResult:
    """``rounds`` writes with vCPU1 parked and ``rounds`` with it running."""
    if not 1 <= rounds <= MAX_ROUNDS:
        raise RealMachineError(f"--rounds must be between 1 and {MAX_ROUNDS}, not {rounds}")
    want = (TARGET << 56) | PIN_LOW
    observed: dict[str, dict] = {}
    ok = True
    for case in CASES:
        seen = [one_round(case, timeout_ms) for _ in range(rounds)]
        summary = {
            "rounds": rounds,
            "writes_completed": sum(s["write_completed"] for s in seen),
            "entries_as_written": sum(s["entry"] == want and s["read_back"] == [PIN_LOW]
                                      for s in seen),
            "vcpu1_finished_after": sum(s["other_finished"] for s in seen),
        }
        if case == "running":
            summary["vcpu1_in_guest_before"] = sum(bool(s["other_started"]) for s in seen)
            summary["vcpu1_still_in_guest_after"] = sum(bool(s["other_still_running"])
                                                        for s in seen)
        observed[case] = summary
        ok = ok and all(v == rounds for k, v in summary.items() if k != "rounds")
    return ExperimentResult(
        experiment="rendezvous",
        expected=("vCPU0's IOAPIC write (pin 6 := 0x1a036, to APIC ID 1) completes every "
                  "time, whether vCPU1 is parked outside KVM_RUN or spinning in the guest: "
                  "KVM sets KVM_REQ_SCAN_IOAPIC on vCPU1 and waits at most for it to leave "
                  "guest mode, never for it to run; released, vCPU1 finishes"),
        observed=observed, agrees=ok,
        params={"rounds": rounds, "timeout_ms": timeout_ms, "pin": PIN,
                "entry": f"{want:#018x}"},
        notes=["bhyve before ec6f18e waited in vm_handle_rendezvous until every vCPU had "
               "run vioapic_update_tmr; a vCPU frozen by the write lock never would",
               "a write that has not completed within timeout_ms counts as one that waited"],
    )
