"""hyperkit #94: blockif_cancel waits forever for a SIGCONT — a TRIM hangs the VM.

Actors, as the report names them:

- ``ioemu`` (host CPU 0): the vCPU thread. It runs the guest — a Linux
  ``fstrim`` that issues one TRIM and, when the SCSI timer fires after 30 s,
  stops the AHCI port — and the AHCI emulation those register writes reach.
- ``blkio`` (host CPU 1): block_if's worker. The TRIM takes it 35 s.
- ``mevent`` (host CPU 2): the process's main thread, asleep in ``kevent``
  until a SIGCONT is reported, when it runs ``blockif_sigcont_handler``.
- ``blkio.sig`` (illumos only, host CPU 3): blkio running its signal handler.

Stopping the port cancels the TRIM in flight: ``blockif_cancel``, called with
``sc->mtx`` held and holding ``bc_mtx`` itself, pushes a sig elem, sends the
blkio thread SIGCONT with ``pthread_kill`` and waits on ``bse_cond`` until the
handler clears ``bse_pending``; it goes round again while the request is BUSY.
On FreeBSD every SIGCONT reaches the main thread's kqueue, so the handler runs
each round and the loop polls until blkio finishes. On macOS a signal sent to
one thread never reaches a kqueue: the handler never runs, ioemu waits
forever, and blkio, done with the TRIM, blocks in ``ata_ioreq_cb`` on the
``sc->mtx`` ioemu holds. bhyve's illumos port catches SIGCONT with a real
handler instead, which runs on the blkio thread itself.

No nudge is offered: nothing the three threads do can end the macOS hang, so
it is a deadlock. (An operator's ``kill -CONT`` to the process would: a
process-directed signal does reach macOS's kqueue.)
"""
from __future__ import annotations

from simulator.engine import waitfor
from simulator.engine.machine import Machine
from simulator.errors import UsageError
from simulator.models.ahci import SCSI_TIMEOUT_NS, AhciPort, fstrim
from simulator.models.blockif import BST_FREE, VARIANTS, BlockifCtxt
from simulator.models.host import SIGCONT, Process
from simulator.models.mevent import Kqueue, Mevent
from simulator.scenarios import register
from simulator.scenarios.base import Param, Scenario

MEVENT_TID, IOEMU_TID, BLKIO_TID = 1, 2, 3  # pthread ids (the main thread is first)
IOEMU_CPU, BLKIO_CPU, MEVENT_CPU, HANDLER_CPU = 0, 1, 2, 3
ALIASES = {"buggy": "macos", "fixed": "illumos"}


@register
class BlockifCancel(Scenario):
    name = "blockif-cancel"
    report = "hyperkit #94"
    title = "blockif_cancel waits forever for a SIGCONT: a guest's TRIM hangs the VM"
    summary = ("The guest times out a 35 s TRIM and stops the AHCI port. blockif_cancel, "
               "holding the AHCI lock and bc_mtx, sends the blkio thread SIGCONT and waits "
               "for the main thread's kqueue handler — which macOS never runs for a signal "
               "sent to one thread. blkio then blocks on the AHCI lock in its callback.")
    actors = ("ioemu", "blkio", "mevent", "blkio.sig")
    variants = {
        "freebsd": "bhyve on FreeBSD: every SIGCONT reaches the kqueue; blockif_cancel polls",
        "macos": "hyperkit: the same code on macOS, whose kqueue only hears of signals sent "
                 "to the process (also 'buggy')",
        "illumos": "bhyve's illumos port: sigset() installs a real handler, run on the blkio "
                   "thread (also 'fixed')",
    }
    params = (
        Param("io_ns", 35 * 10**9, "how long the TRIM takes on the host, in ns (timed mode)",
              low=1, high=10**12),
        Param("timeout_ns", SCSI_TIMEOUT_NS, "the guest's command timeout, in ns (timed mode)",
              low=1, high=10**12),
        Param("polls", 2, "SIGCONT rounds modelled one by one; later identical rounds are "
              "folded into one wait for be_status to change", low=1, high=4),
        Param("maxreq", 2, "blockif elements (BLOCKIF_MAXREQ; 129 in hyperkit)", low=1, high=4),
    )
    property_text = ("the guest's error handling completes (the port stops) and the TRIM's "
                     "blockif element is free again")
    nudge_text = ""
    memory_model = "sc"
    costs = {"pthread_kill": 1_500, "ata_qc_issue": 0, "ata_eh": 0}
    labels = {
        "ata_qc_issue": "the guest issues the TRIM",
        "pci_ahci_write": "a guest register write (VM exit): sc->mtx is taken",
        "blockif_request": "the TRIM is queued for blkio",
        "blockif_dequeue": "blkio takes it: BUSY, be_tid = blkio",
        "block_delete": "the TRIM itself, 35 s, no lock held",
        "scsi_times_out": "the guest's 30 s command timer",
        "ahci_port_stop": "the guest stops the port: cancel what is in flight",
        "blockif_cancel": "push a sig elem, SIGCONT to be_tid, wait for bse_pending = 0",
        "pthread_kill": "SIGCONT to one thread",
        "knote": "the kernel reports the signal to the kqueue",
        "kqueue_scan": "mevent sleeps in kevent until a signal is reported",
        "blockif_sigcont_handler": "pop every sig elem, clear bse_pending, wake its waiter",
        "blockif_proc": "the TRIM is done: be_status = DONE, then the callback",
        "ata_ioreq_cb": "the completion, under sc->mtx",
        "blockif_complete": "the element goes back to the free queue",
    }

    def variant_name(self, variant) -> str:
        if isinstance(variant, str):
            return super().variant_name(ALIASES.get(variant, variant))
        return super().variant_name(variant)

    def build(self, variant, params, memory_model, *, tracing, timed, step_budget) -> Machine:
        cls = self.variant_class(ALIASES.get(variant, variant) if isinstance(variant, str)
                                 else variant, VARIANTS, BlockifCtxt)
        bc = cls(maxreq=params["maxreq"], io_ns=params["io_ns"], polls=params["polls"])
        process = Process(cls.host, {MEVENT_TID: "mevent", IOEMU_TID: "ioemu",
                                     BLKIO_TID: "blkio"})
        kq = Kqueue(signals={SIGCONT: "SIGCONT"})
        mevent = Mevent(kq, process)
        try:
            bc.blockif_init(process, mevent)
        except ValueError as exc:  # e.g. a kqueue asked of a host without one
            raise UsageError(f"{self.variant_name(variant)}: {exc}") from None
        bse = bc.sig_elem(IOEMU_TID)  # on ioemu's stack
        port = AhciPort(bc)
        cells = {**bc.cells(), **port.cells(), **kq.cells()}

        def property_(m: Machine) -> tuple[bool, str]:
            return _check(m, bc, port, _signallers(process, mevent))

        m = Machine(cells, cpus=4, memory_model=memory_model, tracing=tracing,
                    step_budget=step_budget, check_property=property_)
        m.model = {"blockif": bc, "port": port, "process": process, "kqueue": kq,
                   "sig_elem": bse, "signallers": _signallers(process, mevent)}
        m.add_thread("ioemu", IOEMU_CPU, fstrim(port, bse, params["timeout_ns"]))
        m.add_thread("blkio", BLKIO_CPU, bc.blockif_thr(BLKIO_TID, port.ata_ioreq_cb),
                     daemon=True)
        if mevent.handlers:  # without them, the main thread plays no part here
            m.add_thread("mevent", MEVENT_CPU, mevent.mevent_dispatch(), daemon=True)
        if process.catchers:
            name, program = process.signal_context("blkio")
            m.add_thread(name, HANDLER_CPU, program, daemon=True)
        return m


def _signallers(process: Process, mevent: Mevent) -> tuple[dict, dict]:
    """Who signals each condition variable, and why nobody will signal the
    others, for the wait-for graph."""
    handler = "blkio.sig" if process.catchers else ("mevent" if mevent.handlers else None)
    kq_why = ("no SIGCONT reaches the kqueue: "
              + ("macOS reports only signals sent to the process"
                 if not process.host.kqueue_sees_thread_signals else "none was sent"))
    return ({"bse_cond": handler, "kq": None, "bc_cond": "ioemu", "blkio.sig": None},
            {"kq": kq_why, "blkio.sig": "no SIGCONT sent to blkio",
             "bse_cond": "no thread runs blockif_sigcont_handler"})


def _check(m: Machine, bc: BlockifCtxt, port: AhciPort, who: tuple[dict, dict]
           ) -> tuple[bool, str]:
    """The property in words: done and tidy, or who waits for whom."""
    cells = m.memory.cells
    if not m.by_name["ioemu"].done:
        return False, waitfor.describe(waitfor.edges(m, *who))
    busy = [f"be{n}" for n, e in bc.elems.items() if cells[e.status] != BST_FREE]
    if busy or cells[port.ci] or cells[port.iobhd]:
        return False, (f"the guest went on, but PxCI={cells[port.ci]}, "
                       f"iobhd={cells[port.iobhd]}, busy elements: {busy or 'none'}")
    if cells[bc.freeq.cell] and len(str(cells[bc.freeq.cell])) == len(bc.elems):
        return True, "the guest's TRIM is over and every blockif element is free"
    return False, f"the free queue holds {cells[bc.freeq.cell]}"
