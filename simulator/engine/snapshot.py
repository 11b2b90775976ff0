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
"""
from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.engine.machine import Machine

Key = tuple
Snapshot = tuple


def key(m: Machine) -> Key:
    """The state's canonical name: memory, buffers, threads, locks, timers, last."""
    mem = m.memory
    return (
        tuple(mem.cells.values()),
        tuple(map(tuple, mem.buffers)) if mem.buffered else (),
        tuple([(t.op, t.wait, t.hist, t.signal) for t in m.threads]),
        tuple(sorted([(k, x.owner) for k, x in m.mutexes.items() if x.owner is not None]))
        if m.mutexes else (),
        tuple(sorted([(k, tuple(cv.waiters)) for k, cv in m.cvs.items() if cv.waiters]))
        if m.cvs else (),
        tuple(sorted([(k, rw.key()) for k, rw in m.rwlocks.items()
                      if rw.writer or rw.readers or rw.waiting_writers]))
        if m.rwlocks else (),
        tuple(sorted(m.timers)) if m.timers else (),
        tuple(m.last),
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
        mem.buffers = [deque(b) for b in k[1]]
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
