"""Footprints: what an action reads and writes, to tell independent actions apart.

Two actions are *independent* when neither can disable the other and running
them in either order leads to the same state. The explorer's sleep sets use
this to skip interleavings that only reorder independent actions.

Footprints are conservative (when in doubt, dependent):

- a store goes into the CPU's own buffer: it touches ``("sb", cpu, cell)``
  (and, under sequential consistency, memory itself);
- a load reads its own buffer's slot and memory: ``("sb", cpu, cell)``, ``("mem", cell)``;
- a drain writes memory and the buffer's head: ``("mem", cell)``, ``("drainq", cpu)``;
- mfence, locked ops and lock primitives flush the buffer: they write memory
  for every buffered cell and ``("drainq", cpu)``;
- locks, condition variables, rwlocks, timers and threads are objects that
  every op on them writes;
- a failed ``check`` ends the run, so a ``check`` depends on everything.
"""
from __future__ import annotations

from simulator.engine import ops as O
from simulator.engine.machine import Machine

EVERYTHING = ("everything",)
_FLUSHING = {O.FENCE, O.LOCK, O.UNLOCK, O.CV_WAIT, O.CV_WAIT_SIG, O.CV_REACQUIRE,
             O.CV_SIGNAL, O.CV_BROADCAST, O.RW_ENTER, O.RW_EXIT, O.RW_WRITER_WAIT} | O.ATOMICS


def footprint(m: Machine, action: str) -> tuple[frozenset, frozenset]:
    """(reads, writes) of ``action`` in the machine's current state."""
    if action.startswith("drain:"):
        cpu = int(action[9:])
        cell = m.memory.buffer(cpu)[0][0]
        return frozenset(), frozenset({("mem", cell), ("drainq", cpu)})
    if action.startswith("fire:"):
        tname = m.timers[action[5:]][0]
        return frozenset(), frozenset({("timer", action[5:]), ("thread", tname)})
    t = m.by_name[action]
    op = t.op
    kind, cpu = op[0], t.cpu
    reads: set = set()
    writes: set = {("thread", t.name)}
    if kind in (O.CHECK, O.SIGNAL_PROCESS):  # ends a run / wakes any sleeper
        return frozenset(), frozenset({EVERYTHING})
    if kind == O.LOAD:
        reads |= {("sb", cpu, op[2]), ("mem", op[2])}
    elif kind == O.STORE:
        writes.add(("sb", cpu, op[2]))
        if not m.memory.buffered:  # sequentially consistent: the store is in memory at once
            writes.add(("mem", op[2]))
    elif kind == O.HALT:
        reads.add(("mem", op[2]))
    elif kind == O.SEND_SIGNAL:
        writes.add(("thread", op[2]))
    elif kind == O.SLEEP:
        writes.add(("timer", op[2] or f"{t.name}.sleep"))
    if kind in _FLUSHING:
        writes.add(("drainq", cpu))
        writes |= {("mem", cell) for cell, _ in m.memory.buffer(cpu)}
        if kind in O.ATOMICS:
            writes.add(("mem", op[2]))
        else:
            writes.add(("sync", op[2]))
            if kind in (O.CV_WAIT, O.CV_WAIT_SIG, O.CV_REACQUIRE):
                writes.add(("sync", op[3]))
    return frozenset(reads), frozenset(writes)


def independent(a: tuple[frozenset, frozenset], b: tuple[frozenset, frozenset]) -> bool:
    """Neither writes what the other reads or writes."""
    (ra, wa), (rb, wb) = a, b
    if EVERYTHING in wa or EVERYTHING in wb:
        return False
    return not (wa & (rb | wb) or wb & ra)
