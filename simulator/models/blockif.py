"""bhyve's block_if: a queue of block requests served by blkio worker threads.

The device model hands a request to ``blockif_request`` (it goes on the
pending queue, under ``bc_mtx``, and ``bc_cond`` is signalled); a blkio thread
(``blockif_thr``) dequeues it, drops the lock, performs the blocking I/O and
calls the device's completion callback. Real bhyve runs several blkio threads
and also keeps busy and free queues; the model keeps the pending queue as a
ring of cells so that its state is part of the machine's state.
"""
from __future__ import annotations

from simulator.engine import ops


class BlockIf:
    """One block_if context (``struct blockif_ctxt``) with its pending queue."""

    def __init__(self, slots: int, io_ns: int, name: str = "bc"):
        self.slots = slots
        self.io_ns = io_ns
        self.mtx = f"{name}_mtx"
        self.cond = f"{name}_cond"
        self.head = f"{name}.pendq.head"
        self.tail = f"{name}.pendq.tail"
        self._slot = [f"{name}.pendq[{i}]" for i in range(slots)]

    def cells(self) -> dict[str, int]:
        return {self.head: 0, self.tail: 0, **{s: 0 for s in self._slot}}

    def blockif_request(self, req: int):
        """Queue request ``req`` for a blkio thread (runs on the caller's thread)."""
        yield ops.lock(self.mtx, "blockif_request")
        tail = yield ops.load(self.tail, "blockif_enqueue")
        yield ops.store(self._slot[tail % self.slots], req, "blockif_enqueue")
        yield ops.store(self.tail, tail + 1, "blockif_enqueue")
        yield ops.cv_signal(self.cond, "blockif_request")
        yield ops.unlock(self.mtx, "blockif_request")

    def blockif_dequeue(self):
        """Take the oldest pending request, or None; ``bc_mtx`` is held."""
        head = yield ops.load(self.head, "blockif_dequeue")
        tail = yield ops.load(self.tail, "blockif_dequeue")
        if head == tail:
            return None
        req = yield ops.load(self._slot[head % self.slots], "blockif_dequeue")
        yield ops.store(self.head, head + 1, "blockif_dequeue")
        return req

    def blockif_thr(self, callback):
        """A blkio worker: serve requests forever, calling ``callback(req)`` on each."""
        yield ops.lock(self.mtx, "blockif_thr")
        while True:
            req = yield from self.blockif_dequeue()
            if req is None:
                yield ops.cv_wait(self.cond, self.mtx, "blockif_thr")
                continue
            yield ops.unlock(self.mtx, "blockif_thr")
            yield ops.sleep(self.io_ns, "blockif_proc", timer=f"io.req{req}")
            yield from callback(req)
            yield ops.lock(self.mtx, "blockif_complete")
