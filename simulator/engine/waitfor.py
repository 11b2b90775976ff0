"""The wait-for graph of a machine: who waits for whom, what each waiter holds, the cycle.

Read-only analysis of a Machine, for verdicts' reasons and for drawings
(``simulator.viz.waitfor``). Each blocked thread waits for a *resource* that
some thread, its *holder*, could give it:

- a mutex (or the mutex a woken cv waiter must take again): its owner;
- a rwlock wanted as writer: every holder; wanted as reader: the writer
  holding it or, with none, the writers waiting (the lock prefers writers);
- a condition variable: the machine cannot know who will signal it, so the
  scenario names the one thread that does (``signallers``); with none, any
  thread could, which is why a lost wake-up is no cycle;
- a timer, or a memory cell to change (a halted CPU): nobody in particular.

A scenario may say a thread's wait in its own words (``explain``): a wait
for a vCPU to go IDLE is a wait for whoever holds that vCPU.

A deadlock shows up as a cycle — A holds what B wants while B holds what A
wants (AB-BA) — or as a chain ending at a thread that waits for something
no thread will ever do; ``why`` says what. ``cycle`` finds a cycle and
``describe`` says the edges in words.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simulator.engine import ops as O

if TYPE_CHECKING:
    from simulator.engine.machine import Machine, Thread

# What a holder does to end a wait, by the kind of resource waited for.
BY = {"mutex": "held by", "rwlock": "held by", "cv": "signalled only by"}
# A wait whose holder is not known, in words, where no reason is given.
UNNAMED = {"cv": "any thread may signal it"}


@dataclass(frozen=True)
class Edge:
    """``waiter``, in ``func``, waits for ``resource`` (a ``kind`` of thing:
    mutex, rwlock, cv, timer, cell, or a scenario's own word), which ``holder``
    can give it, as ``by`` says ("held by", "signalled only by"...). With no
    holder no thread of the model will end the wait, and ``why`` says why.
    ``held``: what the waiter holds meanwhile."""

    waiter: str
    resource: str
    holder: str | None = None
    func: str = ""
    kind: str = "mutex"
    by: str = ""
    why: str = ""
    held: tuple[str, ...] = ()

    def how(self) -> str:
        """What the holder does to end the wait: ``by``, or the kind's word."""
        return self.by or BY.get(self.kind, "ended by")

    def whom(self) -> str:
        """Who ends the wait, in words: ``held by B``, or why nobody will."""
        if self.holder is not None:
            return f"{self.how()} {self.holder}"
        return self.why or UNNAMED.get(self.kind, "no thread is named to end it")

    def __str__(self) -> str:
        where = f" in {self.func}" if self.func else ""
        held = f", holding {', '.join(self.held)}" if self.held else ""
        on = "on" if self.kind == "cv" else "for"  # one waits *on* a condition variable
        return f"{self.waiter} waits{where} {on} {self.resource} ({self.whom()}){held}"


def blocked(m: Machine, t: Thread) -> bool:
    """Is ``t`` waiting (asleep, or at an op that cannot go on yet)?"""
    return t.op is not None and (t.wait is not None or not m._ready(t, t.op))


def held_by(m: Machine, thread: str) -> tuple[str, ...]:
    """The locks ``thread`` holds, by name: mutexes, then rwlocks with the
    mode they are held in (the order they were taken is not kept)."""
    mutexes = sorted(name for name, mx in m.mutexes.items() if mx.owner == thread)
    rw = sorted(f"{name} ({O.WRITER if lock.writer == thread else O.READER})"
                for name, lock in m.rwlocks.items()
                if lock.writer == thread or thread in lock.readers)
    return tuple(mutexes + rw)


Explain = Callable[["Machine", "Thread"], "list[Edge] | None"]


def edges(m: Machine, signallers: dict[str, str | None] | None = None,
          why: dict[str, str] | None = None, by: dict[str, str] | None = None,
          explain: Explain | None = None) -> list[Edge]:
    """Every wait-for edge of the blocked threads, in thread order.

    ``signallers``: the one thread that signals each condition variable (None
    or absent: none in particular); ``why``: for a resource nobody will give,
    the reason; ``by``: for a resource, how its holder gives it, where the
    kind's word (``BY``) is not the right one; ``explain(m, t)``: the
    scenario's own edges for thread ``t`` (None: the machine's; []: none)."""
    signallers, why, by = signallers or {}, why or {}, by or {}
    out: list[Edge] = []
    for t in m.threads:
        if not blocked(m, t):
            continue
        own = explain(m, t) if explain is not None else None
        if own is None:
            own = _machine_edges(m, t, signallers, why)
        locks = held_by(m, t.name)
        for e in own:
            held = tuple(dict.fromkeys(e.held + locks))  # the scenario's words first
            out.append(Edge(e.waiter, e.resource, e.holder, e.func, e.kind,
                            e.by or by.get(e.resource, ""), e.why, held))
    return out


def _machine_edges(m: Machine, t: Thread, signallers: dict, why: dict) -> list[Edge]:
    """What the machine alone can say of ``t``'s wait."""
    op, func = t.op, t.op[1]
    if t.wait is not None and t.wait[0] == "cv":
        cv = t.wait[1]
        return [Edge(t.name, cv, signallers.get(cv), func, "cv", why=why.get(cv, ""))]
    if t.wait is not None:
        timer = t.wait[1]
        return [Edge(t.name, timer, None, func, "timer", why=why.get(timer, "only time ends it"))]
    if op[0] in (O.LOCK, O.CV_REACQUIRE):
        mutex = op[2] if op[0] == O.LOCK else op[3]
        owner = m.mutexes[mutex].owner if mutex in m.mutexes else None
        return [Edge(t.name, mutex, owner, func, "mutex", why=why.get(mutex, ""))]
    if op[0] in (O.RW_ENTER, O.RW_WRITER_WAIT):
        return _rwlock_edges(m, t, op[2], op[3])
    if op[0] == O.HALT:
        cell = str(op[2])
        return [Edge(t.name, cell, None, func, "cell",
                     why=why.get(cell, f"until {cell} != {op[3]}"))]
    return [Edge(t.name, op[0], None, func, op[0], why=why.get(op[0], ""))]


def _rwlock_edges(m: Machine, t: Thread, name: str, mode: str) -> list[Edge]:
    rw = m.rwlocks.get(name)
    if rw is None:
        return []
    if mode == O.WRITER:
        return [Edge(t.name, f"{name} as writer", h, t.op[1], "rwlock",
                     by=f"{'write' if h == rw.writer else 'read'}-held by")
                for h in rw.holders()]
    if rw.writer:
        return [Edge(t.name, f"{name} as reader", rw.writer, t.op[1], "rwlock",
                     by="write-held by")]
    return [Edge(t.name, f"{name} as reader", w, t.op[1], "rwlock",
                 by="wanted first by the writer")
            for w in rw.waiting_writers]


def cycle(found: Iterable[Edge]) -> list[Edge] | None:
    """A cycle of waiters, each waiting for the next one, or None; it starts
    at the first waiter (in the edges' order) whose waits lead round."""
    onward: dict[str, list[Edge]] = {}
    for e in found:
        if e.holder is not None:
            onward.setdefault(e.waiter, []).append(e)

    def walk(node: str, path: list[Edge]) -> list[Edge] | None:
        waiters = [p.waiter for p in path] + [node]
        for e in onward.get(node, []):
            if e.holder in waiters:
                return (path + [e])[waiters.index(e.holder):]
            further = walk(e.holder, path + [e])
            if further:
                return further
        return None

    for start in onward:
        cyc = walk(start, [])
        if cyc:
            return cyc
    return None


def describe(found: Iterable[Edge]) -> str:
    """The edges in one line: ``a waits in f for m (held by b), holding n; ...``."""
    return "; ".join(str(e) for e in found)
