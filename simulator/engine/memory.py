"""Memory models: sequentially consistent and x86-TSO, behind one interface.

Memory is a set of named cells (``"used.idx"``, ``"avail.flags"``...) holding
integers. Under x86-TSO every CPU has a FIFO store buffer: a store goes into
the buffer, a load first looks for the newest buffered store to the same cell
(store forwarding) and otherwise reads memory, and the oldest buffered store
reaches memory only when the machine *drains* that CPU — a separate action,
and therefore a scheduling choice. ``flush`` empties the buffer at once; the
machine calls it for ``mfence`` and every locked op, as x86 does.

This gives exactly x86's one relaxation: a load may pass an older store to a
different cell (Intel SDM vol. 3, 8.2.3.4), which is the store-buffering
shape behind OS-7613.
"""
from __future__ import annotations

from simulator.errors import UsageError


class ModelError(UsageError):
    """A model used memory wrongly (an unknown cell, a non-integer value)."""


class SequentialMemory:
    """Every store is visible to every CPU at once; nothing is ever buffered."""

    name = "sc"

    def __init__(self, cells: dict[str, int], cpus: int):
        self.cells = dict(cells)
        self.cpus = cpus
        self.buffered = False  # stores reach memory at once

    def load(self, cpu: int, addr: str) -> int:
        try:
            return self.cells[addr]
        except KeyError:
            raise ModelError(f"load from unknown memory cell {addr!r}") from None

    def store(self, cpu: int, addr: str, value: int) -> None:
        if addr not in self.cells:
            raise ModelError(f"store to unknown memory cell {addr!r}")
        self.cells[addr] = value

    def flush(self, cpu: int) -> None:
        """Make every store of ``cpu`` visible (mfence, locked ops)."""

    def buffered_cpus(self) -> list[int]:
        """CPUs whose store buffer holds something (a drain is possible)."""
        return []

    def drain(self, cpu: int) -> tuple[str, int]:
        raise ModelError("sequentially consistent memory has no store buffers")

    def buffer(self, cpu: int) -> list[tuple[str, int]]:
        """The stores waiting in ``cpu``'s buffer, oldest first."""
        return []

    def visible(self, cpu: int, addr: str) -> int:
        """What ``cpu`` would read from ``addr`` now (without taking a step)."""
        return self.load(cpu, addr)

    def key(self) -> tuple:
        """A canonical, hashable picture of the memory state."""
        return tuple(self.cells.values())


class TsoMemory(SequentialMemory):
    """x86-TSO: a FIFO store buffer per CPU with store-to-load forwarding.

    A buffer is a tuple of ``(cell, value)`` stores, oldest first, replaced whole
    when it changes: the state key and a snapshot then take it as it is."""

    name = "tso"

    def __init__(self, cells: dict[str, int], cpus: int):
        super().__init__(cells, cpus)
        self.buffered = True
        self.buffers: list[tuple[tuple[str, int], ...]] = [()] * cpus

    def load(self, cpu: int, addr: str) -> int:
        buf = self.buffers[cpu]
        if buf:
            for a, v in reversed(buf):
                if a == addr:
                    return v
        return SequentialMemory.load(self, cpu, addr)  # (compiled, super() needs the class)

    def store(self, cpu: int, addr: str, value: int) -> None:
        if addr not in self.cells:
            raise ModelError(f"store to unknown memory cell {addr!r}")
        self.buffers[cpu] += ((addr, value),)

    def flush(self, cpu: int) -> None:
        buf = self.buffers[cpu]
        if buf:
            cells = self.cells
            for a, v in buf:
                cells[a] = v
            self.buffers[cpu] = ()

    def buffered_cpus(self) -> list[int]:
        return [c for c, buf in enumerate(self.buffers) if buf]

    def drain(self, cpu: int) -> tuple[str, int]:
        """Move the oldest store of ``cpu``'s buffer to memory."""
        buf = self.buffers[cpu]
        if not buf:
            raise ModelError(f"cpu{cpu}'s store buffer is empty")
        a, v = buf[0]
        self.buffers[cpu] = buf[1:]
        self.cells[a] = v
        return a, v

    def buffer(self, cpu: int) -> list[tuple[str, int]]:
        return list(self.buffers[cpu])

    def key(self) -> tuple:
        return (tuple(self.cells.values()), tuple(self.buffers))


MODELS = {"sc": SequentialMemory, "tso": TsoMemory}


def make_memory(model: str, cells: dict[str, int], cpus: int) -> SequentialMemory:
    """Build the memory model named ``model`` ("sc" or "tso")."""
    try:
        return MODELS[model](cells, cpus)
    except KeyError:
        raise UsageError(f"unknown memory model {model!r} (choose sc or tso)") from None
