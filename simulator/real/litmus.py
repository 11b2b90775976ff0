"""Store buffering on real cores, and OS-7613 inside a real KVM guest.

Both run the same protocol (native/litmus.c): rounds of many instances, a
barrier between rounds and a light one before each instance. In
``store_buffer_litmus`` both sides are pinned host threads; in
``virtio_race`` the driver's side is ring-3 guest code in a vCPU and the
device's side a host thread, on the same guest memory. Each side has its
own mfence switch, so OS-7613's exact shape - the driver fenced, the device
not - can be run.
"""
from __future__ import annotations

from simulator.real._native import RealMachineError, ensure, native
from simulator.real.machine import Vm
from simulator.real.result import ExperimentResult

PER_ROUND = 1000


def _check(iterations: int, instances: int) -> None:
    """Refuse counts the library refuses too, before they reach C (where a number
    past 2^64 would not even convert)."""
    _, lib = native()
    top = int(lib.HVR_SB_MAX_ITERATIONS)
    if not 1 <= iterations <= top:
        raise RealMachineError(f"iterations must be between 1 and {top:,} (2^40), "
                               f"not {iterations}")
    if not 1 <= instances <= int(lib.HVR_SB_MAX_INSTANCES):
        raise RealMachineError(f"instances per round must be 1-{lib.HVR_SB_MAX_INSTANCES}, "
                               f"not {instances}")


def _counts(c) -> dict[str, int]:
    return {"none_stale": int(c.none_stale), "follower_stale": int(c.follower_stale),
            "leader_stale": int(c.leader_stale), "both_stale": int(c.both_stale)}


def _per_million(n: int, total: int) -> float:
    return round(1e6 * n / total, 1) if total else 0.0


def _verdict(forbidden: bool, both_stale: int) -> bool:
    # Fenced on both sides the outcome is forbidden; otherwise it is allowed (and usually seen).
    return both_stale == 0 if forbidden else both_stale > 0


def _lost_expectation(device_fence: bool, driver_fence: bool) -> str:
    """The claim for the virtio shape, given which side has its mfence."""
    if device_fence and driver_fence:
        return "with both barriers no notification is ever lost"
    if driver_fence:
        return ("with the driver fenced but not the device (OS-7613: Linux's virtqueue_poll "
                "has its barrier, bhyve's device had none) some notifications are still lost: "
                "the device's store to used idx waits in its store buffer while it loads "
                "NO_INTERRUPT, and the driver loads the old used idx")
    if device_fence:
        return ("with only the device fenced some notifications are still lost: one barrier "
                "cannot forbid the store-buffering outcome")
    return ("with no barrier on either side some notifications are lost (device saw "
            "NO_INTERRUPT, driver saw the old used idx)")


def store_buffer_litmus(fence: bool = False, iterations: int = 100_000, shape: str = "sb",
                        instances: int = PER_ROUND,
                        driver_fence: bool | None = None) -> ExperimentResult:
    """SB on two pinned host threads: x = 1; [mfence]; r0 = y  ||  y = 1; [mfence]; r1 = x.

    For ``shape="sb"`` ``fence`` puts the mfence on both threads.
    ``shape="virtio"`` names the same race as OS-7613: thread 0 is the device
    (store used idx; [mfence]; load avail flags), thread 1 the driver (clear
    NO_INTERRUPT; mfence; load used idx); both loading the stale value is a
    lost notification. There ``fence`` is the device's barrier only, and
    ``driver_fence`` (default True, as in Linux) the driver's.
    """
    _check(iterations, instances)
    if shape not in ("sb", "virtio"):
        raise RealMachineError(f"unknown litmus shape {shape!r} (sb or virtio)")
    if shape == "sb" and driver_fence is not None:
        raise RealMachineError("driver_fence belongs to the virtio shape; for sb, fence "
                               "covers both threads")
    follow_fence = fence if shape == "sb" else (True if driver_fence is None else driver_fence)
    ffi, lib = native()
    c = ffi.new("struct hvr_sb_counts *")
    ensure(lib.hvr_litmus__sb(int(fence), int(follow_fence), int(shape == "virtio"),
                              iterations, instances, c))
    counts = _counts(c)
    total = sum(counts.values())
    observed: dict = {"counts": counts, "total": total,
                      "elapsed_s": round(c.elapsed_ns / 1e9, 4),
                      "iterations_per_s": round(total / (c.elapsed_ns / 1e9)) if c.elapsed_ns
                      else 0}
    params: dict = {"fence": fence, "iterations": iterations, "shape": shape,
                    "instances_per_round": instances}
    if shape == "sb":
        observed["outcomes"] = {"r0=1 r1=1": counts["none_stale"],
                                "r0=1 r1=0": counts["follower_stale"],
                                "r0=0 r1=1": counts["leader_stale"],
                                "r0=0 r1=0": counts["both_stale"]}
        expected = ("with mfence on both threads r0=0 r1=0 never appears" if fence else
                    "r0=0 r1=0 (both loads miss the other's store) is allowed by x86-TSO and "
                    "shows up without mfence")
    else:
        observed["lost_notifications"] = counts["both_stale"]
        observed["lost_per_million"] = _per_million(counts["both_stale"], total)
        expected = _lost_expectation(fence, follow_fence)
        params["driver_fence"] = follow_fence
    return ExperimentResult(
        experiment="litmus", expected=expected, observed=observed,
        agrees=_verdict(fence and follow_fence, counts["both_stale"]), params=params)


def virtio_race(fence: bool = False, iterations: int = 100_000,
                instances: int = PER_ROUND, guest_fence: bool = True) -> ExperimentResult:
    """OS-7613 on real hardware: the guest driver against the host device.

    The vCPU runs ring-3 guest code (guests/virtio_race.S), the driver:
    clear avail->flags' NO_INTERRUPT; mfence; load used->idx. Linux's
    virtqueue_poll always has that barrier, so ``guest_fence`` defaults to
    True (False gives the old shape with no barrier anywhere). A host thread
    on another CPU is the device: store used->idx; [mfence]; load
    avail->flags, where ``fence`` is the barrier bhyve's device lacked.
    Counted: lost notifications, where both saw the stale value.
    """
    _check(iterations, instances)
    ffi, lib = native()
    with Vm("virtio_race") as vm:
        vcpu = vm.vcpu(ring3=True)
        c = ffi.new("struct hvr_sb_counts *")
        with vm.use() as handle:
            ensure(lib.hvr_race__virtio(handle, vcpu.handle, int(fence), int(guest_fence),
                                        iterations, instances, c))
    counts = _counts(c)
    total = sum(counts.values())
    lost = counts["both_stale"]
    return ExperimentResult(
        experiment="virtio-race",
        expected=_lost_expectation(fence, guest_fence),
        observed={"counts": counts, "total": total, "lost_notifications": lost,
                  "lost_per_million": _per_million(lost, total),
                  "elapsed_s": round(c.elapsed_ns / 1e9, 4)},
        agrees=_verdict(fence and guest_fence, lost),
        params={"fence": fence, "guest_fence": guest_fence, "iterations": iterations,
                "instances_per_round": instances, "guest_ring": 3})
