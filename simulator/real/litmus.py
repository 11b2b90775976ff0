"""Store buffering on real cores, and OS-7613 inside a real KVM guest.

Both run the same protocol (native/litmus.c): rounds of many instances, a
barrier between rounds and a light one before each instance. In
``store_buffer_litmus`` both sides are pinned host threads; in
``virtio_race`` the driver's side is ring-3 guest code in a vCPU and the
device's side a host thread, on the same guest memory.
"""
from __future__ import annotations

from simulator.real._native import RealMachineError, ensure, native
from simulator.real.machine import Vm
from simulator.real.result import ExperimentResult

PER_ROUND = 1000


def _check(iterations: int, instances: int) -> None:
    if iterations <= 0:
        raise RealMachineError(f"iterations must be positive, not {iterations}")
    if not 1 <= instances <= 4096:
        raise RealMachineError(f"instances per round must be 1-4096, not {instances}")


def _counts(c) -> dict[str, int]:
    return {"none_stale": int(c.none_stale), "follower_stale": int(c.follower_stale),
            "leader_stale": int(c.leader_stale), "both_stale": int(c.both_stale)}


def _per_million(n: int, total: int) -> float:
    return round(1e6 * n / total, 1) if total else 0.0


def _verdict(fence: bool, both_stale: int) -> bool:
    # With the fence the outcome is forbidden; without it, it is allowed (and usually seen).
    return both_stale == 0 if fence else both_stale > 0


def store_buffer_litmus(fence: bool = False, iterations: int = 100_000, shape: str = "sb",
                        instances: int = PER_ROUND) -> ExperimentResult:
    """SB on two pinned host threads: x = 1; [mfence]; r0 = y  ||  y = 1; [mfence]; r1 = x.

    ``shape="virtio"`` names the same race as OS-7613: the device stores used
    idx and loads avail flags, the driver clears NO_INTERRUPT and loads used
    idx; both loading the stale value is a lost notification.
    """
    _check(iterations, instances)
    if shape not in ("sb", "virtio"):
        raise RealMachineError(f"unknown litmus shape {shape!r} (sb or virtio)")
    ffi, lib = native()
    c = ffi.new("struct hvr_sb_counts *")
    ensure(lib.hvr_litmus__sb(int(fence), int(shape == "virtio"), iterations, instances, c))
    counts = _counts(c)
    total = sum(counts.values())
    observed: dict = {"counts": counts, "total": total,
                      "elapsed_s": round(c.elapsed_ns / 1e9, 4),
                      "iterations_per_s": round(total / (c.elapsed_ns / 1e9)) if c.elapsed_ns
                      else 0}
    if shape == "sb":
        observed["outcomes"] = {"r0=1 r1=1": counts["none_stale"],
                                "r0=1 r1=0": counts["follower_stale"],
                                "r0=0 r1=1": counts["leader_stale"],
                                "r0=0 r1=0": counts["both_stale"]}
        expected = ("r0=0 r1=0 (both loads miss the other's store) is allowed by x86-TSO and "
                    "shows up without mfence; with mfence it never appears")
    else:
        observed["lost_notifications"] = counts["both_stale"]
        observed["lost_per_million"] = _per_million(counts["both_stale"], total)
        expected = ("without the fence some completions lose their notification (device saw "
                    "NO_INTERRUPT, driver saw the old used idx); with the fence none do")
    if fence:
        expected = expected.split(";")[-1].strip()
    return ExperimentResult(
        experiment="litmus", expected=expected, observed=observed,
        agrees=_verdict(fence, counts["both_stale"]),
        params={"fence": fence, "iterations": iterations, "shape": shape,
                "instances_per_round": instances})


def virtio_race(fence: bool = False, iterations: int = 100_000,
                instances: int = PER_ROUND) -> ExperimentResult:
    """OS-7613 on real hardware: the guest driver against the host device.

    The vCPU runs ring-3 guest code (guests/virtio_race.S): clear
    avail->flags' NO_INTERRUPT; [mfence]; load used->idx. A host thread on
    another CPU stores used->idx; [mfence]; loads avail->flags. Counted: lost
    notifications, where both saw the stale value.
    """
    _check(iterations, instances)
    ffi, lib = native()
    with Vm("virtio_race") as vm:
        vcpu = vm.vcpu(ring3=True)
        c = ffi.new("struct hvr_sb_counts *")
        ensure(lib.hvr_race__virtio(vm.handle, vcpu.handle, int(fence), iterations,
                                    instances, c))
    counts = _counts(c)
    total = sum(counts.values())
    lost = counts["both_stale"]
    return ExperimentResult(
        experiment="virtio-race",
        expected=("with the fence, no notification is ever lost" if fence else
                  "without the fence, some notifications are lost (device saw NO_INTERRUPT "
                  "while the driver saw the old used idx)"),
        observed={"counts": counts, "total": total, "lost_notifications": lost,
                  "lost_per_million": _per_million(lost, total),
                  "elapsed_s": round(c.elapsed_ns / 1e9, 4)},
        agrees=_verdict(fence, lost),
        params={"fence": fence, "iterations": iterations, "instances_per_round": instances,
                "guest_ring": 3})
