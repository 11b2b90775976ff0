"""Pictures of a machine's state: the canonical key, the fingerprint, the
snapshot a person reads, and the step records and diffs of a trace."""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from simulator.engine import ops as O
from simulator.engine.outcome import wait_for

if TYPE_CHECKING:
    from simulator.engine.machine import Machine, Thread


def key(m: Machine) -> tuple:
    """A canonical, hashable picture of the whole state.

    A thread is its op and wait, its signal and the hash of the results it has
    received (its local state). A lock nobody holds or waits for is left out, so
    a lock never touched and one released are the same state."""
    return (
        m.memory.key(),
        tuple((t.op, t.wait, t.hist, t.signal) for t in m.threads),
        tuple(sorted((k, mx.owner) for k, mx in m.mutexes.items() if mx.owner is not None)),
        tuple(sorted((k, cv.key()) for k, cv in m.cvs.items() if cv.waiters)),
        tuple(sorted((k, rw.key()) for k, rw in m.rwlocks.items()
                     if rw.writer or rw.readers or rw.waiting_writers)),
        tuple(sorted(m.timers)),
    )


def fingerprint(m: Machine) -> str:
    """A stable name for the state: blake2b over its canonical encoding."""
    return hashlib.blake2b(repr(key(m)).encode(), digest_size=16).hexdigest()


def snapshot(m: Machine) -> dict:
    """The state as a person reads it: memory, each CPU's view, locks, threads."""
    mem = m.memory
    return {
        "memory": dict(mem.cells),
        "buffered": mem.buffered,  # False: sequential consistency, every CPU sees memory
        "store_buffers": {f"cpu{c}": mem.buffer(c) for c in range(m.cpus)},
        "views": {f"cpu{c}": {a: mem.visible(c, a) for a, _ in mem.buffer(c)}
                  for c in range(m.cpus)},
        "mutexes": {k: mx.owner for k, mx in sorted(m.mutexes.items())},
        "cv_waiters": {k: list(cv.waiters) for k, cv in sorted(m.cvs.items())},
        "rwlocks": {k: rw.holders() for k, rw in sorted(m.rwlocks.items())},
        "threads": {t.name: thread_state(m, t) for t in m.threads},
        "timers": sorted(m.timers),
    }


def picture(m: Machine) -> dict:
    """Everything a step can change, flat: cells, buffers, lock holders (for diffs)."""
    mem = m.memory
    pic = dict(mem.cells)
    for c in range(m.cpus):
        pic[f"sb.cpu{c}"] = tuple(mem.buffer(c))
    for k, mx in m.mutexes.items():
        pic[f"mutex.{k}"] = mx.owner
    for k, rw in m.rwlocks.items():
        pic[f"rwlock.{k}"] = tuple(rw.holders())
    return pic


def thread_state(m: Machine, t: Thread) -> str:
    if t.op is None:
        return "done"
    if t.wait is not None or not m._ready(t, t.op):
        return "blocked: " + wait_for(m, t).split(": ", 1)[1]
    return f"ready: next {t.op[1]} ({t.op[0]})"


def detail(op: tuple) -> str:
    """An op's arguments as a trace line shows them."""
    kind, a, b = op[0], op[2], op[3]
    if kind == O.STORE:
        return f"{a}, {b}"
    if kind == O.CAS:
        return f"{a}, {b}, {op[4]}"
    if kind in O.ATOMICS:
        return f"{a}, {hex(b) if kind in (O.FETCH_OR, O.FETCH_AND) else b}"
    if kind in (O.CV_WAIT, O.CV_WAIT_SIG, O.CV_REACQUIRE, O.RW_ENTER, O.RW_WRITER_WAIT):
        return f"{a}, {b}"
    if kind == O.SLEEP:
        return f"{b} ns"
    if kind == O.CHECK:
        return b
    if kind == O.HALT and b:
        return f"{a} != {b}"
    if kind == O.RW_EXIT and b is not None:
        return f"{a}, for {b}"
    return "" if a is None else str(a)


def record(t: Thread, op: tuple, result: Any) -> dict:
    """The step record of a thread's op (the rest is filled in by the machine)."""
    return {"thread": t.name, "cpu": t.cpu, "func": op[1], "op": op[0],
            "detail": detail(op), "result": result if type(result) is int else None}


def diff(before: dict, after: dict) -> dict:
    """What changed between two pictures: {name: [old, new]}."""
    out = {}
    for k in after.keys() | before.keys():
        old, new = before.get(k), after.get(k)
        if old != new:
            out[k] = [_jsonable(old), _jsonable(new)]
    return dict(sorted(out.items()))


def _jsonable(v):
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    return v
