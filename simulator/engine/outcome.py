"""How a run ended: the verdict, and who waits for what when it hangs.

A run is over when no action is possible. Then:

- a thread raised, or a scenario assertion failed: ``violation``;
- the step budget ran out: ``limit``;
- every thread that matters finished: ``ok`` if the scenario's property
  holds, else ``violation``;
- threads are blocked and one of them could be woken from outside (a halted
  CPU by an interrupt or NMI, an interruptible wait by a signal), and the
  scenario has such a nudge: ``stuck``;
- otherwise: ``deadlock``.

Each blocked thread is described by one wait-for edge in words.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.engine import ops as O
from simulator.engine.verdict import DEADLOCK, LIMIT, OK, STUCK, VIOLATION, Verdict

if TYPE_CHECKING:
    from simulator.engine.machine import Machine, Thread


def verdict(m: Machine) -> Verdict | None:
    """How the run ended, or None while some action is still possible."""
    if m.failure is not None:
        return Verdict(VIOLATION, m.failure)
    if m.steps >= m.step_budget:
        return Verdict(LIMIT, f"step budget of {m.step_budget} spent")
    if m.enabled():
        return None
    live = [t for t in m.threads if t.op is not None and not t.daemon]
    if not live:
        if m.check_property is None:
            return Verdict(OK)
        held, reason = m.check_property(m)
        return Verdict(OK if held else VIOLATION, reason)
    blocked = [t for t in m.threads if t.op is not None]
    waits = tuple(wait_for(m, t, final=True) for t in blocked)
    reason = m.check_property(m)[1] if m.check_property is not None else ""
    if m.nudge_fn is not None and _nudge_helps(m, live, blocked):
        return Verdict(STUCK, reason, waits)
    return Verdict(DEADLOCK, reason, waits)


def finished_ok(m: Machine) -> Verdict | None:
    """``ok`` for an ended run whose threads that matter all finished and whose
    property the machine alone shows to hold (``Machine.property_holds``); None
    where the verdict needs the scenario's model objects: a run still blocked, a
    scenario without a machine-only test, or a property that does not hold."""
    holds = m.property_holds
    if holds is None or m.failure is not None or m.steps >= m.step_budget or m.enabled():
        return None
    if any(t.op is not None and not t.daemon for t in m.threads):
        return None
    return Verdict(OK, "the property holds (read from the machine)") if holds(m) else None


def _nudge_helps(m: Machine, live: list[Thread], blocked: list[Thread]) -> bool:
    """Would the scenario's nudge set a thread going again? The scenario may say
    precisely (``nudge_wakes``, asked of every blocked thread, daemons included:
    a signal to a process wakes the worker whose wake-up was lost, not one
    that is rightly asleep); otherwise any halted CPU or interruptible wait
    of a thread that matters counts."""
    if m.nudge_wakes is not None:
        return any(m.nudge_wakes(m, t) for t in blocked)
    return any(nudgeable(t) for t in live)


def nudgeable(t: Thread) -> bool:
    """Would an external event wake it? A halted CPU (an interrupt or NMI)
    or an interruptible wait (a signal)."""
    if t.op[0] == O.HALT:
        return True
    return t.wait is not None and t.wait[0] == "cv" and t.wait[2]


def wait_for(m: Machine, t: Thread, *, final: bool = False) -> str:
    """What a blocked thread waits for, in words (one wait-for edge). ``final``:
    the run has ended, so a sleeper on a condition variable will never be woken
    (mid-run, someone may still signal it)."""
    op = t.op
    who = f"{t.name} in {op[1]}"
    if t.wait is not None and t.wait[0] == "cv":
        kind = "cv_wait_sig" if t.wait[2] else "cv_wait"
        return f"{who}: {kind} on {t.wait[1]}" + (" (no one left to signal it)" if final else "")
    if t.wait is not None and t.wait[0] == "timer":
        return f"{who}: sleeping until timer {t.wait[1]} fires"
    if op[0] in (O.LOCK, O.CV_REACQUIRE):
        mutex = op[2] if op[0] == O.LOCK else op[3]
        return f"{who}: wants mutex {mutex}, held by {m.mutex(mutex).owner}"
    if op[0] in (O.RW_ENTER, O.RW_WRITER_WAIT):
        rw = m.rwlock(op[2])
        holders = ", ".join(rw.holders()) or "no one (a writer is waiting)"
        return f"{who}: wants {op[2]} as {op[3]}, held by {holders}"
    if op[0] == O.HALT:
        return f"{who}: halted until {op[2]} != {op[3]}"
    return f"{who}: ready to run {op[0]}"
