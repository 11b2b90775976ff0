"""The wait-for graph of a machine: who waits for whom, and the cycle if there is one.

Each blocked thread contributes edges to the threads that could let it go on:

- a mutex (or the mutex a woken cv waiter must re-take): its owner;
- a rwlock wanted as writer: every holder; wanted as reader: the writer
  holding it or, with none, the writers waiting (the lock prefers writers);
- a condition variable: nobody in particular (``holder`` is None) — any
  thread could signal it, which is why a lost wake-up is no cycle.

A deadlock of locks shows up as a cycle: A holds what B wants while B holds
what A wants (AB-BA). ``cycle`` finds one and ``describe`` says it in words.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from simulator.engine import ops as O

if TYPE_CHECKING:
    from simulator.engine.machine import Machine, Thread


@dataclass(frozen=True)
class Edge:
    """``waiter`` waits in ``func`` for ``resource``, which ``holder`` holds."""

    waiter: str
    func: str
    resource: str
    holder: str | None


def _blocked(m: Machine, t: Thread) -> bool:
    return t.op is not None and (t.wait is not None or not m._ready(t, t.op))


def edges(m: Machine) -> list[Edge]:
    """Every wait-for edge of the blocked threads, in thread order."""
    out: list[Edge] = []
    for t in m.threads:
        if not _blocked(m, t):
            continue
        op, func = t.op, t.op[1]
        if t.wait is not None and t.wait[0] == "cv":
            out.append(Edge(t.name, func, t.wait[1], None))
        elif t.wait is not None:
            out.append(Edge(t.name, func, f"timer {t.wait[1]}", None))
        elif op[0] in (O.LOCK, O.CV_REACQUIRE):
            mutex = op[2] if op[0] == O.LOCK else op[3]
            out.append(Edge(t.name, func, mutex, m.mutex(mutex).owner))
        elif op[0] in (O.RW_ENTER, O.RW_WRITER_WAIT):
            rw = m.rwlock(op[2])
            if op[3] == O.WRITER:
                holders = rw.holders()
            else:
                holders = [rw.writer] if rw.writer else list(rw.waiting_writers)
            for h in holders:
                out.append(Edge(t.name, func, f"{op[2]} ({op[3]})", h))
        elif op[0] == O.HALT:
            out.append(Edge(t.name, func, f"{op[2]} != 0", None))
    return out


def cycle(m: Machine) -> list[Edge] | None:
    """A cycle of threads each waiting for a lock the next one holds, or None."""
    by_waiter: dict[str, list[Edge]] = {}
    for e in edges(m):
        if e.holder is not None:
            by_waiter.setdefault(e.waiter, []).append(e)

    def walk(path: list[Edge], seen: list[str]) -> list[Edge] | None:
        for e in by_waiter.get(seen[-1], []):
            if e.holder in seen:
                return path[seen.index(e.holder):] + [e]
            found = walk(path + [e], seen + [e.holder])
            if found:
                return found
        return None

    for start in by_waiter:
        found = walk([], [start])
        if found:
            return found
    return None


def describe(cyc: list[Edge]) -> str:
    """The cycle in words: who holds what and wants what."""
    wants = {e.waiter: e for e in cyc}
    parts = []
    for e in cyc:
        held = [w.resource for w in cyc if w.holder == e.waiter]
        parts.append(f"{e.waiter} holds {', '.join(held)} and wants {e.resource} "
                     f"(in {wants[e.waiter].func})")
    return "; ".join(parts)
