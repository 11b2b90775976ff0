"""bhyve's virtio-block device (``pci_virtio_block.c``): the glue between the
virtqueue and block_if.

- ``pci_vtblk_notify`` runs on the vCPU thread, inside the VM exit the
  guest's kick caused, with the device lock ``vsc_mtx`` held: it takes every
  available chain (``pci_vtblk_proc``) and hands each to block_if.
- ``pci_vtblk_done`` runs on a blkio thread when the I/O finishes: under
  ``vsc_mtx`` it writes the status byte, returns the chain (``vq_relchain``)
  and decides on the interrupt (``vq_endchains``).
"""
from __future__ import annotations

from simulator.engine import ops
from simulator.models.blockif import BlockIf
from simulator.models.virtio import VirtioDevice

VTBLK_S_OK = 0


class PciVtblk:
    """One virtio-block device: its virtqueue, its block_if and its lock."""

    def __init__(self, vq: VirtioDevice, bc: BlockIf):
        self.vq = vq
        self.bc = bc
        self.vsc_mtx = "vsc_mtx"
        self.status = [f"req[{i}].status" for i in range(vq.ring.size)]

    def cells(self) -> dict[str, int]:
        return {s: 0xFF for s in self.status}

    def pci_vtblk_notify(self):
        """The guest kicked the queue (a VM exit on the vCPU thread)."""
        yield ops.lock(self.vsc_mtx, "vi_pci_write")
        while (yield from self.vq.vq_has_descs()):
            yield from self.pci_vtblk_proc()
        yield ops.unlock(self.vsc_mtx, "vi_pci_write")

    def pci_vtblk_proc(self):
        """Take one chain and start its write (``blockif_write``)."""
        head, _addr, _len = yield from self.vq.vq_getchain()
        yield from self.bc.blockif_request(head)

    def pci_vtblk_done(self, head: int):
        """The block_if callback: complete chain ``head`` back to the guest."""
        yield ops.lock(self.vsc_mtx, "pci_vtblk_done")
        yield from self.pci_vtblk_done_locked(head)
        yield ops.unlock(self.vsc_mtx, "pci_vtblk_done")

    def pci_vtblk_done_locked(self, head: int):
        yield ops.store(self.status[head], VTBLK_S_OK, "pci_vtblk_done_locked")
        yield from self.vq.vq_relchain(head, 1)
        yield from self.vq.vq_endchains()
