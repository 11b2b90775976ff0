"""Running one thread's ops straight away, outside any interleaving.

Model code is written as generators of ops so that the Machine can interleave
it. Sometimes one wants the same code as a plain function call — to drive a
model one operation at a time next to a real machine, say. ``call`` runs a
generator to its end against a dict of cells, each op taking effect at once
(sequentially consistent, one thread): loads, stores, fences and atomics.
Ops that would wait for another thread (locks, condition variables, halts,
sleeps) have no meaning here and are refused.
"""
from __future__ import annotations

from collections.abc import Generator
from typing import Any

from simulator.engine import ops as O
from simulator.engine.memory import ModelError

_NO_EFFECT = {O.FENCE, O.NOTE}


def call(program: Generator[tuple, Any, Any], cells: dict[str, int],
         max_ops: int = 100_000) -> Any:
    """Run ``program`` to its end on ``cells``; return what it returns.

    A program still yielding after ``max_ops`` ops is refused (a loop that
    never ends), with a ModelError rather than a hang."""
    result = None
    try:
        for _ in range(max_ops):
            op = program.send(result)
            result = _apply(op, cells)
    except StopIteration as done:
        return done.value
    program.close()
    raise ModelError(f"still running after {max_ops} ops: does it loop forever?")


def _apply(op: tuple, cells: dict[str, int]) -> int | None:
    kind, _func, addr, arg, arg2 = op
    if kind in _NO_EFFECT:
        return None
    if kind == O.CHECK:
        if not addr:
            raise ModelError(f"{op[1]}: {arg}")
        return None
    if kind not in (O.LOAD, O.STORE) and kind not in O.ATOMICS:
        raise ModelError(f"{kind} in {op[1]} needs other threads; it cannot run directly")
    if addr not in cells:
        raise ModelError(f"unknown memory cell {addr!r}")
    old = cells[addr]
    if kind == O.LOAD:
        return old
    if kind == O.STORE:
        cells[addr] = arg
        return None
    if kind == O.CAS:
        cells[addr] = arg2 if old == arg else old
    elif kind == O.SWAP:
        cells[addr] = arg
    elif kind == O.FETCH_OR:
        cells[addr] = old | arg
    elif kind == O.FETCH_AND:
        cells[addr] = old & arg
    else:
        cells[addr] = old + arg
    return old
