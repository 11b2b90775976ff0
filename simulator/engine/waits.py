"""Who waits for whom: the wait-for graph of a machine's blocked threads.

Read-only analysis of a Machine, for verdicts' reasons and for drawings. A
blocked thread waits for a *resource*: a mutex (whose owner it waits for), a
condition variable (whose signaller it waits for — the machine cannot know
who that is, so the caller names it), a timer or a memory cell. A deadlock
shows up as a cycle, or as a chain ending at a thread that waits for something
no thread will ever do.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from simulator.engine import ops as O

if TYPE_CHECKING:
    from simulator.engine.machine import Machine


@dataclass(frozen=True)
class WaitEdge:
    """``waiter`` (in ``func``, holding ``held``) waits on ``resource`` for ``holder``
    (None: no thread of the model; ``why`` says what would be needed)."""

    waiter: str
    func: str
    kind: str  # "mutex" | "cv" | "timer" | "cell"
    resource: str
    holder: str | None
    held: tuple[str, ...]
    why: str = ""

    def __str__(self) -> str:
        held = f", holding {', '.join(self.held)}" if self.held else ""
        if self.kind == "mutex":
            return f"{self.waiter} waits for {self.resource}, held by {self.holder}{held}"
        whom = f"for {self.holder}" if self.holder else f"({self.why or 'nobody will'})"
        return f"{self.waiter} waits on {self.resource} {whom}{held}"


def held_by(m: Machine, thread: str) -> tuple[str, ...]:
    """The mutexes ``thread`` owns, by name (the order they were taken is not kept)."""
    return tuple(sorted(name for name, mx in m.mutexes.items() if mx.owner == thread))


def edges(m: Machine, signallers: dict[str, str | None] | None = None,
          why: dict[str, str] | None = None) -> list[WaitEdge]:
    """One edge per blocked thread. ``signallers`` names who signals each
    condition variable (None: no thread will); ``why`` explains those."""
    signallers, why = signallers or {}, why or {}
    out = []
    for t in m.threads:
        if t.op is None or (t.wait is None and m._ready(t, t.op)):
            continue
        held, op = held_by(m, t.name), t.op
        if t.wait is not None and t.wait[0] == "cv":
            cv = t.wait[1]
            out.append(WaitEdge(t.name, op[1], "cv", cv, signallers.get(cv), held,
                                why.get(cv, "")))
        elif t.wait is not None:
            out.append(WaitEdge(t.name, op[1], "timer", t.wait[1], None, held, "time"))
        elif op[0] in (O.LOCK, O.CV_REACQUIRE):
            mutex = op[2] if op[0] == O.LOCK else op[3]
            out.append(WaitEdge(t.name, op[1], "mutex", mutex, m.mutex(mutex).owner, held))
        else:
            out.append(WaitEdge(t.name, op[1], "cell", str(op[2]), None, held,
                                why.get(str(op[2]), "")))
    return out


def describe(found: list[WaitEdge]) -> str:
    """The graph in one line: ``a waits for ...; b waits on ...``."""
    return "; ".join(str(e) for e in found)
