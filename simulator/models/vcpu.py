"""A bhyve vCPU (``vmm.c``): its state, the ``vm_run`` loop, HLT and notification.

A vCPU is a host thread that loops in ``vm_run``: enter the guest, take the
exit, handle it in the kernel if it can, enter again. Its state lives in
``vcpu0.state`` under the vCPU mutex:

- IDLE     no thread is working on it;
- FROZEN   its thread is in the kernel but not in the guest (handling an exit);
- RUNNING  in the guest, or about to enter it, on host CPU ``hostcpu``;
- SLEEPING blocked in ``vm_handle_hlt`` on the condition variable ``vcpu0.cv``.

``vm_handle_hlt`` emulates the guest's HLT: under the vCPU mutex it looks for
a reason to return — an NMI, or (interrupts enabled) a deliverable interrupt —
and otherwise sleeps in ``cv_wait_sig`` (as illumos does: a signal to the
bhyve process also ends the wait) and looks again when woken.

``vcpu_notify_event`` is how the rest of the host tells a vCPU that something
arrived: a RUNNING vCPU on another CPU gets an IPI with ``ipi_cpu`` (for an
interrupt, the posted-interrupt notification vector via ``vmx_post_intr``;
otherwise ``vmm_ipinum``, a kick that forces a VM exit); a SLEEPING vCPU
gets ``cv_signal``; a FROZEN or IDLE vCPU gets nothing, because it will look
at its pending state before it enters the guest again.
"""
from __future__ import annotations

from simulator.engine import ops
from simulator.models.posted import IPI_POKE, IPI_POSTED

IDLE, FROZEN, RUNNING, SLEEPING = 0, 1, 2, 3
STATE_NAMES = {IDLE: "IDLE", FROZEN: "FROZEN", RUNNING: "RUNNING", SLEEPING: "SLEEPING"}
# Why the guest left guest mode (the exits this model knows).
EXIT_HLT, EXIT_EXTINT, EXIT_DONE = "hlt", "extint", "done"


class Vcpu:
    """One vCPU: the cells and locks bhyve keeps for it, and its kernel paths."""

    def __init__(self, vcpuid: int = 0, hostcpu: int = 0):
        self.vcpuid = vcpuid
        self.hostcpu = hostcpu  # the host CPU its thread runs on
        self.name = f"vcpu{vcpuid}"
        self.state_cell = f"{self.name}.state"
        self.nmi_cell = f"{self.name}.nmi_pending"
        self.mtx = f"{self.name}.mtx"
        self.cv = f"{self.name}.cv"
        self.ipi_cell = f"cpu{hostcpu}.ipi"  # IPIs pending at its host CPU
        self.sleeps = 0  # times it went to sleep in vm_handle_hlt
        self.wakeups = 0  # times cv_signal woke it

    def cells(self) -> dict[str, int]:
        """Its cells; the ``VM_RUN`` ioctl has already taken it from IDLE to FROZEN."""
        return {self.state_cell: FROZEN, self.nmi_cell: 0, self.ipi_cell: 0}

    # ---- state ------------------------------------------------------------------
    def vcpu_set_state(self, new: int):
        """Change state under the vCPU mutex (``vcpu_require_state``)."""
        yield ops.lock(self.mtx, "vcpu_set_state")
        yield ops.store(self.state_cell, new, "vcpu_set_state_locked")
        yield ops.unlock(self.mtx, "vcpu_set_state")

    # ---- telling the vCPU ---------------------------------------------------------
    def vcpu_notify_event(self, from_cpu: int, lapic_intr: bool):
        """Make sure the vCPU notices a new event (run by the thread that posted it,
        on host CPU ``from_cpu``)."""
        yield ops.lock(self.mtx, "vcpu_notify_event")
        state = yield ops.load(self.state_cell, "vcpu_notify_event_locked")
        if state == RUNNING:
            # On its own CPU the poster interrupted the vCPU's thread, which will
            # look again before it re-enters the guest: nothing to send.
            if from_cpu != self.hostcpu:
                if lapic_intr:
                    yield ops.fetch_or(self.ipi_cell, IPI_POSTED, "vmx_post_intr")
                else:
                    yield ops.fetch_or(self.ipi_cell, IPI_POKE, "ipi_cpu")  # vmm_ipinum
        elif state == SLEEPING:
            woke = yield ops.cv_signal(self.cv, "vcpu_notify_event_locked")
            self.wakeups += woke
        yield ops.unlock(self.mtx, "vcpu_notify_event")

    def vm_inject_nmi(self, from_cpu: int):
        """``bhyvectl --inject-nmi``: mark an NMI pending and notify the vCPU."""
        yield ops.store(self.nmi_cell, 1, "vm_inject_nmi")
        yield from self.vcpu_notify_event(from_cpu, lapic_intr=False)

    # ---- the vCPU's own thread ------------------------------------------------------
    def vm_handle_hlt(self, pending_intr):
        """Sleep until an NMI or a deliverable interrupt is pending.

        ``pending_intr`` is the ``vlapic_pending_intr`` generator to ask (with
        APICv: ``vmx_pending_intr``). The guest halted with interrupts enabled.
        """
        yield ops.lock(self.mtx, "vm_handle_hlt")
        while True:
            nmi = yield ops.load(self.nmi_cell, "vm_nmi_pending")
            if nmi:
                break
            if (yield from pending_intr()):
                break
            yield ops.store(self.state_cell, SLEEPING, "vcpu_require_state_locked")
            self.sleeps += 1
            yield ops.cv_wait_sig(self.cv, self.mtx, "vm_handle_hlt")
            yield ops.store(self.state_cell, FROZEN, "vcpu_require_state_locked")
        yield ops.unlock(self.mtx, "vm_handle_hlt")

    def vm_run(self, vmx_run, pending_intr):
        """The ``VM_RUN`` ioctl's loop: enter, exit, handle, until the guest is done.

        ``vmx_run`` is a generator function for one trip into the guest that
        returns the exit reason; HLT exits are handled here in the kernel, and
        any other exit simply loops back to a new VM entry. (The ioctl that
        calls it moves the vCPU from IDLE to FROZEN before, and back after.)
        """
        while True:
            yield from self.vcpu_set_state(RUNNING)
            exitcode = yield from vmx_run()
            yield from self.vcpu_set_state(FROZEN)
            if exitcode == EXIT_DONE:
                break
            if exitcode == EXIT_HLT:
                yield from self.vm_handle_hlt(pending_intr)
