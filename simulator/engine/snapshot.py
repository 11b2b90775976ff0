"""Snapshots of a machine's data, so the explorer can come back to a state
without re-running the path to it.

A snapshot holds everything a step can change — memory cells, store buffers,
each thread's op, wait, signal and received-results hash, lock owners and
waiters, armed timers, the thread each CPU ran last, the step and preemption
counts — but not the threads' generators, which cannot be copied. After
``restore`` a thread whose generator stands elsewhere is *detached*: it steps
by its memo (``Thread.memo``) until the explorer brings it back to life.

``key`` is the explorer's name for a state: the canonical parts of the
snapshot. It tells states apart exactly as ``Machine.key()`` plus the last
thread of each CPU does (a lock nobody holds or waits for counts as absent),
and doubles as the first half of the snapshot, so a state is pictured once.

``key``, ``save`` and ``restore`` are written out by hand because the explorer
calls them for every state. ``reference`` is their specification: every
attribute ``machine.LAYOUT`` declares as state, read generically (slowly).
The tests hold the fast functions to it, so state added to the engine and
declared there but forgotten here is caught.
"""
from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from simulator.engine import machine as _machine

if TYPE_CHECKING:
    from simulator.engine.machine import Machine

Key = tuple
Snapshot = tuple


def key(m: Machine) -> Key:
    """The state's canonical name: memory, buffers, threads, locks, timers, last, failure.

    Locks and timers are listed by name (sorted only when there are two or more:
    the common case is none or one)."""
    mem, mx, cvs, rws, timers = m.memory, m.mutexes, m.cvs, m.rwlocks, m.timers
    return (
        tuple(mem.cells.values()),
        tuple(mem.buffers) if mem.buffered else (),
        tuple([(t.op, t.wait, t.hist, t.signal) for t in m.threads]),
        (tuple(h) if len(h := [(k, x.owner) for k, x in mx.items() if x.owner is not None]) < 2
         else tuple(sorted(h))) if mx else (),
        (tuple(h) if len(h := [(k, tuple(cv.waiters)) for k, cv in cvs.items() if cv.waiters]) < 2
         else tuple(sorted(h))) if cvs else (),
        tuple(sorted([(k, rw.key()) for k, rw in rws.items()
                      if rw.writer or rw.readers or rw.waiting_writers])) if rws else (),
        (tuple(timers.items()) if len(timers) < 2 else tuple(sorted(timers.items())))
        if timers else (),
        tuple(m.last),
        m.failure,
    )


def save(m: Machine, k: Key) -> Snapshot:
    """A snapshot of ``m``, whose key ``k`` has just been computed."""
    return (k, m.memory.cells.copy(), tuple(m.timers.items()), m.steps, m.preemptions,
            m.failure)


def restore(m: Machine, snap: Snapshot) -> None:
    """Put ``m``'s data back as it was when ``snap`` was taken."""
    k, cells, timers, m.steps, m.preemptions, m.failure = snap
    mem = m.memory
    mem.cells = cells.copy()
    if mem.buffered:
        mem.buffers = list(k[1])
    for t, (op, wait, hist, signal) in zip(m.threads, k[2], strict=True):
        t.op, t.wait, t.hist, t.signal = op, wait, hist, signal
    if m.mutexes:
        for x in m.mutexes.values():
            x.owner = None
    for name, owner in k[3]:
        m.mutex(name).owner = owner
    if m.cvs:
        for cv in m.cvs.values():
            cv.waiters = []
    for name, waiters in k[4]:
        m.cv(name).waiters = list(waiters)
    if m.rwlocks:
        for rw in m.rwlocks.values():
            rw.writer, rw.readers, rw.waiting_writers = None, [], []
    for name, (writer, readers, waiting) in k[5]:
        rw = m.rwlock(name)
        rw.writer, rw.readers, rw.waiting_writers = writer, list(readers), list(waiting)
    m.timers = dict(timers)
    m.last = list(k[7])


_PLAIN = (int, str, float, bool, type(None))


def reference(m: Machine, kinds: tuple[str, ...] = (_machine.STATE, _machine.COUNT)) -> tuple:
    """Every attribute of ``kinds`` (state and counts by default) of the machine and
    of the engine objects it holds, read through ``machine.LAYOUT``.

    Canonical as the key is: dictionaries are compared sorted, and an engine
    object in its initial state (a lock nobody holds or waits for) counts as
    absent. A value that is neither plain data nor an object with a layout is
    an error: the layout must say what it is."""
    return _walk(m, kinds, "machine")


def _walk(v, kinds: tuple[str, ...], where: str):
    if isinstance(v, _PLAIN):
        return v
    layout = _machine.LAYOUT.get(type(v))
    if layout is not None:
        return (type(v).__name__,) + tuple(
            (name, _walk(getattr(v, name), kinds, f"{where}.{name}"))
            for name, kind in layout.items()
            if kind in kinds or kind == _machine.PARTS)
    if isinstance(v, dict):
        items = [(k, _walk(x, kinds, f"{where}[{k!r}]")) for k, x in v.items()
                 if not _initial(x)]
        return ("dict", tuple(sorted(items, key=repr)))
    if isinstance(v, (list, tuple, deque)):
        return tuple(_walk(x, kinds, f"{where}[{i}]") for i, x in enumerate(v))
    if isinstance(v, (set, frozenset)):
        return ("set", tuple(sorted((_walk(x, kinds, where) for x in v), key=repr)))
    raise TypeError(f"{where} holds a {type(v).__name__}, which machine.LAYOUT does not "
                    "describe: declare what in it is state")


def _initial(v) -> bool:
    """An engine object as freshly made (a lock never taken): the same as absent."""
    cls = type(v)
    if cls not in _machine.LAYOUT:
        return False
    try:
        fresh = cls()
    except TypeError:  # needs arguments: never a made-on-first-use object
        return False
    return _walk(v, (_machine.STATE,), "") == _walk(fresh, (_machine.STATE,), "")
