"""hyperkit's AHCI controller (``pci_ahci.c``) for one port, and the guest driving it.

Every register access from the guest is a VM exit that the vCPU thread
handles in ``pci_ahci_read``/``pci_ahci_write``, under the controller's softc
lock ``sc->mtx``. Three paths matter here:

- the guest writes PxCI to issue a command: a TRIM (DATA SET MANAGEMENT) goes
  through ``ahci_handle_dsm_trim`` to ``blockif_delete``; the request joins the
  port's list of blockif requests in flight (``p->iobhd``);
- the guest clears PxCMD.ST to stop the port: ``ahci_port_stop`` calls
  ``blockif_cancel`` for every request in flight — still under ``sc->mtx``;
- when blkio finishes a request it calls ``ata_ioreq_cb``, which takes
  ``sc->mtx`` to post the completion (``ahci_write_fis_d2h`` clears the
  command's PxCI bit and interrupts the guest).

The guest is a Linux one running ``fstrim``: it issues the TRIM and waits; if
the command is still outstanding when the SCSI layer's timer fires (30 s by
default), its error handler stops the port (``ahci_stop_engine``).
"""
from __future__ import annotations

from simulator.engine import ops
from simulator.models.blockif import BlockifCtxt, SigElem

ATA_DATA_SET_MANAGEMENT = 0x06
SCSI_TIMEOUT_NS = 30 * 10**9  # Linux sd: SD_TIMEOUT, 30 s
MASK32 = 0xFFFFFFFF  # the port registers are 32 bits wide


class AhciPort:
    """Port 0 of the controller: the guest-visible PxCI, the requests in flight, the lock."""

    def __init__(self, bc: BlockifCtxt):
        self.bc = bc
        self.mtx = "sc->mtx"
        self.ci = "p.ci"  # PxCI: commands issued and not yet completed, one bit per slot
        self.iobhd = "p.iobhd"  # slots with a blockif request in flight (the aior list)

    def cells(self) -> dict[str, int]:
        return {self.ci: 0, self.iobhd: 0}

    @staticmethod
    def breq(slot: int) -> int:
        """The ``blockif_req`` of a slot's ``ahci_ioreq`` (its number in the model)."""
        return slot + 1

    # ---- VM exits on the vCPU thread ------------------------------------------
    def pci_ahci_write_ci(self, slot: int):
        """The guest writes PxCI: the command in ``slot`` (a TRIM) is handled at once."""
        yield ops.lock(self.mtx, "pci_ahci_write")
        yield ops.fetch_or(self.ci, 1 << slot, "pci_ahci_port_write")
        yield ops.fetch_or(self.iobhd, 1 << slot, "ahci_handle_dsm_trim")
        yield from self.bc.blockif_delete(self.breq(slot))
        yield ops.unlock(self.mtx, "pci_ahci_write")

    def pci_ahci_read_ci(self):
        """The guest reads PxCI."""
        yield ops.lock(self.mtx, "pci_ahci_read")
        ci = yield ops.load(self.ci, "pci_ahci_read")
        yield ops.unlock(self.mtx, "pci_ahci_read")
        return ci

    def pci_ahci_write_stop(self, bse: SigElem):
        """The guest clears PxCMD.ST: the port stops, cancelling what is in flight."""
        yield ops.lock(self.mtx, "pci_ahci_write")
        yield from self.ahci_port_stop(bse)
        yield ops.unlock(self.mtx, "pci_ahci_write")

    def ahci_port_stop(self, bse: SigElem):
        """Cancel every blockif request in flight (``sc->mtx`` held). One that had not
        started is done with here; one interrupted (EBUSY) completes in its callback."""
        inflight = yield ops.load(self.iobhd, "ahci_port_stop")
        for slot in range(inflight.bit_length()):
            if not inflight >> slot & 1:
                continue
            if (yield from self.bc.blockif_cancel(self.breq(slot), bse)):
                continue
            yield ops.fetch_and(self.ci, MASK32 ^ 1 << slot, "ahci_port_stop")
            yield ops.fetch_and(self.iobhd, MASK32 ^ 1 << slot, "ahci_port_stop")

    # ---- the blkio thread --------------------------------------------------------
    def ata_ioreq_cb(self, breq: int, err: int):
        """blockif's callback: post the completion to the guest, under ``sc->mtx``."""
        slot = breq - 1
        yield ops.lock(self.mtx, "ata_ioreq_cb")
        yield ops.fetch_and(self.iobhd, MASK32 ^ 1 << slot, "ata_ioreq_cb")
        yield ops.fetch_and(self.ci, MASK32 ^ 1 << slot, "ahci_write_fis_d2h")
        yield ops.unlock(self.mtx, "ata_ioreq_cb")


def fstrim(port: AhciPort, bse: SigElem, timeout_ns: int = SCSI_TIMEOUT_NS, slot: int = 0):
    """The guest's side, on the vCPU thread: one TRIM, a timeout, and error handling."""
    yield ops.note(f"fstrim: DATA SET MANAGEMENT (TRIM) in slot {slot}", "ata_qc_issue")
    yield from port.pci_ahci_write_ci(slot)
    yield ops.sleep(timeout_ns, "scsi_times_out", timer="scsi.timeout")
    if not (yield from port.pci_ahci_read_ci()) & 1 << slot:
        return  # completed in time
    # libata's error handling stops the port (PxCMD.ST := 0) to reset it
    yield ops.note("the TRIM timed out: error handling stops the port", "ahci_stop_engine")
    yield from port.pci_ahci_write_stop(bse)
