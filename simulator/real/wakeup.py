"""A lost wake-up on real threads: illumos #14026's broadcast, with and without the lock.

Two host threads, pinned to two CPUs this process may use, run a handshake
many times. The waiter takes a mutex, checks a flag and, finding it clear,
sleeps on a condition variable; the waker sets the flag and broadcasts —
either without the mutex (viona's expire callback before 6703a0e) or holding
it (after). Every sleep is bounded by a timeout: a sleep that times out after
the broadcast returned is a wake-up lost. The course claims that the first
loses some and the second none. Outcomes are counted, never timed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from simulator.real._native import RealMachineError, ensure, native
from simulator.real.result import ExperimentResult


@dataclass(frozen=True)
class WakeupCounts:
    """What happened to the waiter's sleeps in one batch of handshakes."""

    rounds: int
    waited: int  # found the flag clear and slept
    woken: int  # ...and the broadcast woke it
    lost: int  # ...and slept on after the broadcast had returned
    late: int  # ...and its deadline came before the broadcast returned (not counted as lost)
    waiter_cpu: int
    waker_cpu: int


def handshakes(locked: bool, rounds: int = 1_000, window: int = 0,
               timeout_us: int = 2_000) -> WakeupCounts:
    """Run ``rounds`` handshakes; ``window`` steps of a busy loop sit between the
    waiter's check and its sleep (a loaded host taking the CPU away there)."""
    if not 1 <= rounds <= 1_000_000:
        raise RealMachineError(f"rounds must be 1-1000000, not {rounds}")
    if not 0 <= window <= 100_000:
        raise RealMachineError(f"window must be 0-100000 steps, not {window}")
    if not 100 <= timeout_us <= 1_000_000:
        raise RealMachineError(f"timeout must be 100-1000000 us, not {timeout_us}")
    ffi, lib = native()
    out = ffi.new("struct hvr_wakeup_counts *")
    ensure(lib.hvr_wakeup__run(int(locked), rounds, window, timeout_us, out))
    return WakeupCounts(int(out.rounds), int(out.waited), int(out.woken), int(out.lost),
                        int(out.late), int(out.waiter_cpu), int(out.waker_cpu))


def lost_wakeup(rounds: int = 1_000, window: int = 0, attempts: int = 5,
                timeout_us: int = 2_000) -> ExperimentResult:
    """Both versions of the handshake, compared with the course's claim.

    A loss is a matter of chance, so the unlocked version gets up to
    ``attempts`` batches to show one; the locked version runs as many rounds
    and must lose none in any of them.
    """
    if not 1 <= attempts <= 20:
        raise RealMachineError(f"attempts must be 1-20, not {attempts}")
    unlocked, locked = [], []
    for _ in range(attempts):
        unlocked.append(handshakes(False, rounds, window, timeout_us))
        locked.append(handshakes(True, rounds, window, timeout_us))
        if unlocked[-1].lost:
            break
    lost_unlocked = sum(c.lost for c in unlocked)
    lost_locked = sum(c.lost for c in locked)
    observed = {
        "unlocked": _total(unlocked), "locked": _total(locked),
        "lost_unlocked": lost_unlocked, "lost_locked": lost_locked,
        "batches": len(unlocked),
    }
    notes = [f"threads pinned to CPUs {unlocked[0].waiter_cpu} (waiter) and "
             f"{unlocked[0].waker_cpu} (waker), from this process's affinity mask"]
    if any(c.late for c in unlocked + locked):
        notes.append("some sleeps timed out before the waker's broadcast had returned (a busy "
                     "host, or a broadcast that waited for the sleeper to give up); they are "
                     "counted as late, not lost")
    return ExperimentResult(
        experiment="lost-wakeup",
        expected=("a broadcast without the waiter's mutex is lost now and then (the waiter "
                  "sleeps on although the flag is set); with the mutex, never"),
        observed=observed, agrees=lost_unlocked > 0 and lost_locked == 0,
        params={"rounds": rounds, "window": window, "attempts": attempts,
                "timeout_us": timeout_us},
        notes=notes)


def _total(batches: list[WakeupCounts]) -> dict[str, int]:
    keys = ("rounds", "waited", "woken", "lost", "late")
    return {k: sum(asdict(c)[k] for c in batches) for k in keys}
