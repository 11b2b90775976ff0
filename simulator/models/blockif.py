"""bhyve's and hyperkit's block_if (``block_if.c``): block requests served by blkio threads.

A device model (AHCI, virtio-block) hands a request to ``blockif_request``; a
blkio worker thread (``blockif_thr``) takes it, performs the blocking I/O with
no lock held (``blockif_proc``), calls the device's completion callback and
frees the element (``blockif_complete``). Two forms live here:

- ``BlockIf``: the request path alone — a pending queue and one worker — which
  is all the virtio-block device of chapter 1 needs;
- ``BlockifCtxt``: the whole ``struct blockif_ctxt`` of hyperkit #94, with the
  free, pending and busy queues, each element's ``be_status`` and ``be_tid``,
  and ``blockif_cancel``, which interrupts a request in flight by sending the
  blkio thread SIGCONT and waiting, on a ``blockif_sig_elem`` pushed onto the
  lock-free ``blockif_bse_head`` stack, until ``blockif_sigcont_handler`` says
  the signal was seen. Its variants (one class per host OS) are at the end.
"""
from __future__ import annotations

from simulator.engine import ops
from simulator.models.host import FREEBSD, ILLUMOS, MACOS, SIG_IGN, SIGCONT, HostOS

BST_FREE, BST_BLOCK, BST_PEND, BST_BUSY, BST_DONE = range(5)  # enum blockstat
BST_NAMES = ("FREE", "BLOCK", "PEND", "BUSY", "DONE")
BOP_READ, BOP_WRITE, BOP_FLUSH, BOP_DELETE = range(4)  # enum blockop
E2BIG, EBUSY, EINVAL = 7, 16, 22
NULL = 0


class BlockIf:
    """The request path alone: a pending queue as a ring of cells, one worker."""

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


# ---------------------------------------------------------------- the whole thing
def tailq_items(value: int) -> list[int]:
    """A queue cell's elements, head first: ``21`` is be2, then be1; ``0`` is empty."""
    return [int(d) for d in str(value)] if value else []


def tailq_value(items: list[int]) -> int:
    return int("".join(map(str, items))) if items else 0


class TailQ:
    """A ``TAILQ`` of blockif elements kept in one cell (see ``tailq_items``).
    Every change is a load and a store: callers hold ``bc_mtx``."""

    def __init__(self, cell: str):
        self.cell = cell

    def items(self, func: str):
        return tailq_items((yield ops.load(self.cell, func)))

    def insert_tail(self, be: int, func: str):
        items = yield from self.items(func)
        yield ops.store(self.cell, tailq_value(items + [be]), func)

    def remove(self, be: int, func: str):
        items = yield from self.items(func)
        items.remove(be)
        yield ops.store(self.cell, tailq_value(items), func)


class BlockifElem:
    """``struct blockif_elem`` number ``n``: the cells that name its request and state."""

    def __init__(self, n: int):
        self.n = n
        self.status, self.tid = f"be{n}.status", f"be{n}.tid"
        self.req, self.op = f"be{n}.req", f"be{n}.op"

    def cells(self) -> dict[str, int]:
        return {self.status: BST_FREE, self.tid: 0, self.req: 0, self.op: 0}


class SigElem:
    """``struct blockif_sig_elem``: lives on a canceller's stack; ``ptr`` is its address."""

    def __init__(self, ptr: int, name: str = "bse"):
        self.ptr = ptr
        self.pending, self.next = f"{name}.pending", f"{name}.next"
        self.mtx, self.cond = f"{name}_mtx", f"{name}_cond"

    def cells(self) -> dict[str, int]:
        return {self.pending: 0, self.next: NULL}


class BlockifCtxt:
    """One ``struct blockif_ctxt`` and its code, as hyperkit (and FreeBSD) have it.

    ``polls`` bounds the model, not the code: ``blockif_cancel`` signals and
    waits again for as long as the request is BUSY — on FreeBSD some hundred
    thousand identical rounds while a TRIM runs on. The first ``polls`` rounds
    are modelled step by step; after them the canceller just waits for
    ``be_status`` to change (``halt`` on the cell), which is what the rounds
    that follow amount to.
    """

    variant_name = "hyperkit"
    host: HostOS = MACOS

    def __init__(self, maxreq: int = 2, io_ns: int = 35 * 10**9, polls: int = 2):
        self.io_ns = io_ns
        self.polls = polls
        self.mtx, self.cond = "bc_mtx", "bc_cond"
        self.freeq, self.pendq, self.busyq = TailQ("bc_freeq"), TailQ("bc_pendq"), TailQ("bc_busyq")
        self.elems = {n: BlockifElem(n) for n in range(1, maxreq + 1)}
        self.head = "blockif_bse_head"
        self.sig_elems: dict[int, SigElem] = {}
        self.process = None  # the host.Process, once blockif_init has run

    def cells(self) -> dict[str, int]:
        cells = {self.freeq.cell: tailq_value(list(self.elems)), self.pendq.cell: 0,
                 self.busyq.cell: 0, self.head: NULL}
        for e in self.elems.values():
            cells.update(e.cells())
        for bse in self.sig_elems.values():
            cells.update(bse.cells())
        return cells

    def sig_elem(self, ptr: int, name: str = "bse") -> SigElem:
        """The ``blockif_sig_elem`` in the frame of the canceller whose stack is at
        ``ptr`` (set-up: its cells are the context's). ``name`` tells apart the
        elems of several cancellers."""
        return self.sig_elems.setdefault(ptr, SigElem(ptr, name))

    # ---- set-up ---------------------------------------------------------------
    def blockif_init(self, process, mevent) -> None:
        """Who hears of SIGCONT: the main thread's kqueue; the signal itself is ignored."""
        self.process = process
        mevent.mevent_add(SIGCONT, self.blockif_sigcont_handler)
        process.signal(SIGCONT, SIG_IGN)

    # ---- the device model's side (a vCPU thread) --------------------------------
    def blockif_request(self, breq: int, op: int):
        """Queue request ``breq`` and wake a blkio thread; E2BIG if no element is free."""
        yield ops.lock(self.mtx, "blockif_request")
        free = yield from self.freeq.items("blockif_request")
        if free:
            yield from self.blockif_enqueue(free, breq, op)
            yield ops.cv_signal(self.cond, "blockif_request")
        yield ops.unlock(self.mtx, "blockif_request")
        return 0 if free else E2BIG

    def blockif_enqueue(self, free: list[int], breq: int, op: int):
        # An element whose block range overlaps one in flight would wait as BLOCK;
        # the guest here has one request out, so every request is PEND at once.
        be = self.elems[free[0]]
        yield ops.store(self.freeq.cell, tailq_value(free[1:]), "blockif_enqueue")
        yield ops.store(be.req, breq, "blockif_enqueue")
        yield ops.store(be.op, op, "blockif_enqueue")
        yield ops.store(be.status, BST_PEND, "blockif_enqueue")
        yield from self.pendq.insert_tail(be.n, "blockif_enqueue")

    def blockif_delete(self, breq: int):
        """A TRIM (``BOP_DELETE``), as ``ahci_handle_dsm_trim`` asks for one."""
        return (yield from self.blockif_request(breq, BOP_DELETE))

    # ---- the blkio thread ----------------------------------------------------------
    def blockif_thr(self, tid: int, callback):
        """A blkio thread, forever: take a pending request, run it, complete it."""
        yield ops.lock(self.mtx, "blockif_thr")
        while True:
            while (be := (yield from self.blockif_dequeue(tid))) is not None:
                yield ops.unlock(self.mtx, "blockif_thr")
                yield from self.blockif_proc(be, callback)
                yield ops.lock(self.mtx, "blockif_thr")
                yield from self.blockif_complete(be)
            yield ops.cv_wait(self.cond, self.mtx, "blockif_thr")

    def blockif_dequeue(self, tid: int):
        """The first PEND element moves to the busy queue, BUSY, with ``be_tid`` = us."""
        pend = yield from self.pendq.items("blockif_dequeue")
        for n in pend:
            if (yield ops.load(self.elems[n].status, "blockif_dequeue")) == BST_PEND:
                break
        else:
            return None
        be = self.elems[n]
        yield ops.store(self.pendq.cell, tailq_value([m for m in pend if m != n]),
                        "blockif_dequeue")
        yield ops.store(be.status, BST_BUSY, "blockif_dequeue")
        yield ops.store(be.tid, tid, "blockif_dequeue")
        yield from self.busyq.insert_tail(n, "blockif_dequeue")
        return be

    def blockif_proc(self, be: BlockifElem, callback):
        """The blocking I/O, with no lock held; then DONE (still unlocked) and the callback."""
        yield ops.load(be.op, "blockif_proc")
        breq = yield ops.load(be.req, "blockif_proc")
        err = yield from self.block_io(be)
        yield ops.store(be.status, BST_DONE, "blockif_proc")
        yield from callback(breq, err)

    def block_io(self, be: BlockifElem):
        """The system call that does the work (``block_delete`` for a TRIM); returns errno.
        No signal cuts it short on the hosts modelled (``HostOS.handler_interrupts_disk_io``),
        so it is a plain sleep until the disk is done."""
        yield ops.sleep(self.io_ns, "block_delete", timer=f"io.be{be.n}")
        return 0

    def blockif_complete(self, be: BlockifElem):
        """Back to the free queue (``bc_mtx`` held)."""
        status = yield ops.load(be.status, "blockif_complete")
        q = self.busyq if status in (BST_DONE, BST_BUSY) else self.pendq
        yield from q.remove(be.n, "blockif_complete")
        yield ops.store(be.tid, 0, "blockif_complete")
        yield ops.store(be.status, BST_FREE, "blockif_complete")
        yield ops.store(be.req, 0, "blockif_complete")
        yield from self.freeq.insert_tail(be.n, "blockif_complete")

    # ---- cancelling ----------------------------------------------------------------
    def blockif_cancel(self, breq: int, bse: SigElem):
        """Take ``breq`` back: 0 if it had not started, EBUSY once a request in
        flight has been interrupted, EINVAL if unknown. ``bc_mtx`` is held
        throughout — also while waiting for the blkio thread."""
        yield ops.lock(self.mtx, "blockif_cancel")
        for n in (yield from self.pendq.items("blockif_cancel")):
            if (yield ops.load(self.elems[n].req, "blockif_cancel")) == breq:
                yield from self.blockif_complete(self.elems[n])
                yield ops.unlock(self.mtx, "blockif_cancel")
                return 0
        for n in (yield from self.busyq.items("blockif_cancel")):
            if (yield ops.load(self.elems[n].req, "blockif_cancel")) == breq:
                break
        else:
            yield ops.unlock(self.mtx, "blockif_cancel")
            return EINVAL
        be, rounds = self.elems[n], 0
        while (yield ops.load(be.status, "blockif_cancel")) == BST_BUSY:
            if rounds < self.polls:
                yield from self.blockif_cancel_wait(be, bse)
                rounds += 1
            else:  # the rounds to come are like the ones before: wait for their end
                yield ops.note(f"be{be.n} still BUSY after {rounds} rounds: the rounds "
                               "that follow are folded into one wait", "blockif_cancel")
                yield ops.halt(be.status, "blockif_cancel", busy=BST_BUSY)
        yield ops.unlock(self.mtx, "blockif_cancel")
        return EBUSY

    def blockif_cancel_wait(self, be: BlockifElem, bse: SigElem):
        """One round: ask the blkio thread to return, wait until the handler says so."""
        yield ops.store(bse.pending, 1, "blockif_cancel")
        yield from self.blockif_bse_push(bse)
        tid = yield ops.load(be.tid, "blockif_cancel")
        yield from self.process.pthread_kill(tid, SIGCONT)
        yield ops.lock(bse.mtx, "blockif_cancel")
        while (yield ops.load(bse.pending, "blockif_cancel")):
            yield ops.cv_wait(bse.cond, bse.mtx, "blockif_cancel")
        yield ops.unlock(bse.mtx, "blockif_cancel")

    def blockif_bse_push(self, bse: SigElem):
        """Push onto ``blockif_bse_head`` (``atomic_cmpset_ptr`` until it sticks)."""
        while True:
            old = yield ops.load(self.head, "blockif_cancel")
            yield ops.store(bse.next, old, "blockif_cancel")
            if (yield ops.cas(self.head, old, bse.ptr, "blockif_cancel")) == old:
                return

    def blockif_sigcont_handler(self):
        """Pop every sig elem, mark it seen and wake its canceller — whoever the
        SIGCONT was meant for, and whatever the blkio thread is doing."""
        while True:
            while True:
                ptr = yield ops.load(self.head, "blockif_sigcont_handler")
                if ptr == NULL:
                    return
                nxt = yield ops.load(self.sig_elems[ptr].next, "blockif_sigcont_handler")
                if (yield ops.cas(self.head, ptr, nxt, "blockif_sigcont_handler")) == ptr:
                    break
            bse = self.sig_elems[ptr]
            yield ops.lock(bse.mtx, "blockif_sigcont_handler")
            yield ops.store(bse.pending, 0, "blockif_sigcont_handler")
            yield ops.cv_signal(bse.cond, "blockif_sigcont_handler")
            yield ops.unlock(bse.mtx, "blockif_sigcont_handler")


# ------------------------------------------------------------------- the variants
class HyperkitBlockif(BlockifCtxt):
    """hyperkit on macOS: FreeBSD's code, on a kernel whose kqueue never hears of
    a signal sent to one thread."""

    variant_name = "macos"
    host = MACOS


class FreebsdBlockif(BlockifCtxt):
    """bhyve on FreeBSD: the same code; every SIGCONT reaches the kqueue."""

    variant_name = "freebsd"
    host = FREEBSD


class IllumosBlockif(BlockifCtxt):
    """bhyve's illumos port: a real SIGCONT handler, run on the blkio thread itself."""

    variant_name = "illumos"
    host = ILLUMOS

    def blockif_init(self, process, mevent) -> None:
        """Who hears of SIGCONT: a real handler, on the thread it is sent to."""
        self.process = process
        process.sigset(SIGCONT, self.blockif_sigcont_handler)


VARIANTS = {cls.variant_name: cls for cls in (FreebsdBlockif, HyperkitBlockif, IllumosBlockif)}
