"""bhyve's kernel side as OS-7622 meets it (``vmm.c`` around ``vmm_sol_dev.c``).

``Vm`` extends the driver's ``Vmm`` (``models.vmm``: vCPU locks, the VM
rwlock, ``vmm_write_lock``) with what ``struct vm`` adds for this race:

- ``vm_run``, the loop of the ``VM_RUN`` ioctl: RUNNING, ``vmrun`` (the
  checks just before VM entry, then the guest until an exit), FROZEN,
  handle the exit in the kernel - or return to userspace for one it cannot
  handle (``reqidle``, port I/O);
- the vIOAPIC (``models.vioapic``) and, before ec6f18e, the rendezvous
  (``models.rendezvous``) its writes start.

ec6f18e (OS-7622) reads as four hooks, overridden in ``RunblockVm``:

- ``vioapic_update_tmrs``: a rendezvous of every active vCPU -> for each
  targeted vCPU, ``vcpu_block_run``, set its TMR, ``vcpu_unblock_run``;
- ``vm_entry_blocked`` (``vmx_run``'s ``evinfo.rptr``): ``rendezvous_func``
  set means exit RENDEZVOUS -> the vCPU's ``runblock`` set means exit RUNBLOCK;
- ``vm_handle_blocked``: ``vm_handle_rendezvous`` -> nothing, just try again;
- ``vcpu_cls``: ``Vcpu`` -> ``RunblockVcpu``, which may not go RUNNING while
  blocked and wakes its blocker when it goes FROZEN.
"""
from __future__ import annotations

from simulator.engine import ops
from simulator.models.posted import IPI_POKE
from simulator.models.rendezvous import Rendezvous, cpuset
from simulator.models.vcpu import FROZEN, IDLE, RUNNING, Vcpu
from simulator.models.vioapic import Vioapic, destinations, is_level
from simulator.models.vmm import Vmm

# Why a vCPU left the guest (or did not enter it).
EXIT_EXTINT, EXIT_INST_EMUL, EXIT_INOUT = "extint", "inst_emul", "inout"
EXIT_REQIDLE, EXIT_RENDEZVOUS, EXIT_RUNBLOCK = "reqidle", "rendezvous", "runblock"


class RunblockVcpu(Vcpu):
    """A vCPU as ec6f18e leaves it: ``runblock`` holds it out of the guest.

    ``vcpu_block_run`` counts a block and waits until the vCPU is not
    RUNNING (FROZEN, IDLE and SLEEPING all do: the guest is not executing);
    while ``runblock`` is non-zero the vCPU may not go back to RUNNING, and
    going FROZEN wakes the blocker. ``vcpu_unblock_run`` lets it run again.
    """

    def __init__(self, vcpuid: int = 0, hostcpu: int = 0):
        super().__init__(vcpuid, hostcpu)
        self.runblock_cell = f"{self.name}.runblock"

    def vcpu_set_state_locked(self, new: int, from_idle: bool = False, from_cpu: int = 0):
        if new == RUNNING:
            while (yield ops.load(self.runblock_cell, "vcpu_set_state_locked")):
                yield ops.cv_wait(self.state_cv, self.mtx, "vcpu_set_state_locked")
        yield from super().vcpu_set_state_locked(new, from_idle, from_cpu)
        if new == FROZEN and (yield ops.load(self.runblock_cell, "vcpu_set_state_locked")):
            yield ops.cv_broadcast(self.state_cv, "vcpu_set_state_locked")

    def vcpu_block_run(self, from_cpu: int):
        """Keep the vCPU out of the guest; return once it is not RUNNING."""
        yield ops.lock(self.mtx, "vcpu_block_run")
        blocks = 1 + (yield ops.load(self.runblock_cell, "vcpu_block_run"))
        yield ops.store(self.runblock_cell, blocks, "vcpu_block_run")
        state = yield ops.load(self.state_cell, "vcpu_block_run")
        if blocks == 1 and state == RUNNING:
            yield from self.vcpu_notify_event_locked(from_cpu, lapic_intr=False)
        while state == RUNNING:
            yield ops.cv_wait(self.state_cv, self.mtx, "vcpu_block_run")
            state = yield ops.load(self.state_cell, "vcpu_block_run")
        yield ops.unlock(self.mtx, "vcpu_block_run")

    def vcpu_unblock_run(self):
        yield ops.lock(self.mtx, "vcpu_unblock_run")
        blocks = (yield ops.load(self.runblock_cell, "vcpu_unblock_run")) - 1
        yield ops.store(self.runblock_cell, blocks, "vcpu_unblock_run")
        if blocks == 0:
            yield ops.cv_broadcast(self.state_cv, "vcpu_unblock_run")
        yield ops.unlock(self.mtx, "vcpu_unblock_run")


class Vm(Vmm):
    """One VM with the vCPUs ``vcpuids`` (vCPU i's thread on host CPU i), before ec6f18e.

    The rendezvous wants every one of them (``vm_active_cpus``);
    ``vmm_write_lock`` freezes them in this order. ``dest_apic`` is the APIC
    ID pin 6 is pointed at.
    """

    variant_name = "buggy"
    vcpu_cls: type[Vcpu] = Vcpu
    uses_rendezvous = True  # needs the rendezvous' one-second clock

    def __init__(self, vcpuids: tuple[int, ...], dest_apic: int):
        super().__init__([self.vcpu_cls(i, hostcpu=i) for i in vcpuids])
        self.by_id = {v.vcpuid: v for v in self.vcpus}
        self.active = tuple(vcpuids)
        self.vioapic = Vioapic(self.by_id, self.active, dest_apic)
        self.rendezvous = Rendezvous(self.vcpu_notify, self.vm_handle_rendezvous)
        self.rendezvous.func = self.vioapic.vioapic_update_tmr

    def cells(self, states: dict[int, int] | None = None) -> dict[str, int]:
        """Every vCPU's cells (IDLE unless ``states`` says otherwise), the
        rendezvous', the vIOAPIC's."""
        states = states or {}
        out: dict[str, int] = {}
        for v in self.vcpus:
            out[v.state_cell] = states.get(v.vcpuid, IDLE)
            out[v.reqidle_cell] = 0
            out[v.ipi_cell] = 0
            out[self.taken_cell(v.vcpuid)] = 0
            if isinstance(v, RunblockVcpu):
                out[v.runblock_cell] = 0
        return {**out, **self.rendezvous.cells(), **self.vioapic.cells()}

    def taken_cell(self, vcpuid: int) -> str:
        return f"vcpu{vcpuid}.taken"

    def vcpu_lock_one(self, vcpuid: int, cpu: int, own: bool = False):
        """Freeze vCPU ``vcpuid`` once it is IDLE (``models.vmm``). Another
        thread than the vCPU's own notes that it took it (``vcpuN.taken``:
        the model's record, see ``vcpu_thread``)."""
        yield from self.by_id[vcpuid].vcpu_set_state(FROZEN, from_idle=True, from_cpu=cpu)
        if not own:
            yield ops.store(self.taken_cell(vcpuid), 1, "vcpu_lock_one")

    def vcpu_unlock_one(self, vcpuid: int, own: bool = False):
        """Back to IDLE, waking whoever waits in ``vcpu_lock_one``; returns how
        many threads that woke. ``own``: the vCPU's own thread lets it go, and
        (still under the mutex, before any waiter can take the vCPU) clears
        ``vcpuN.taken`` to learn when one has."""
        vcpu = self.by_id[vcpuid]
        yield ops.lock(vcpu.mtx, "vcpu_set_state")
        yield ops.store(vcpu.state_cell, IDLE, "vcpu_set_state_locked")
        woke = yield ops.cv_broadcast(vcpu.state_cv, "vcpu_set_state_locked")
        if own and woke:
            yield ops.store(self.taken_cell(vcpuid), 0, "vcpu_unlock_one")
        yield ops.unlock(vcpu.mtx, "vcpu_set_state")
        return woke

    def vcpu_notify(self, vcpuid: int, from_cpu: int):
        yield from self.by_id[vcpuid].vcpu_notify_event(from_cpu, lapic_intr=False)

    # ---- the hooks ec6f18e changes ------------------------------------------------
    def vioapic_update_tmrs(self, vcpuid: int, old: int, new: int, cpu: int):
        """Rendezvous every active vCPU into ``vioapic_update_tmr`` (the vIOAPIC
        mutex dropped meanwhile), and wait until all have run it."""
        yield ops.unlock(self.vioapic.mtx, "vioapic_write")
        yield from self.vm_smp_rendezvous(vcpuid, cpuset(self.active), cpu)
        yield ops.lock(self.vioapic.mtx, "vioapic_write")

    def vm_entry_blocked(self, vcpu: Vcpu):
        """``vmx_run``'s check before VM entry (``evinfo.rptr``): an exit code or None."""
        if (yield ops.load(self.rendezvous.func_cell, "vcpu_rendezvous_pending")):
            return EXIT_RENDEZVOUS
        return None

    def vm_handle_blocked(self, vcpu: Vcpu):
        """``VM_EXITCODE_RENDEZVOUS``: take part."""
        yield from self.vm_handle_rendezvous(vcpu.vcpuid)

    # ---- the rendezvous -----------------------------------------------------------
    def vm_smp_rendezvous(self, vcpuid: int, dest: int, cpu: int):
        yield from self.rendezvous.vm_smp_rendezvous(vcpuid, dest, cpu)

    def vm_handle_rendezvous(self, vcpuid: int):
        yield from self.rendezvous.vm_handle_rendezvous(vcpuid)

    # ---- VM_RUN ---------------------------------------------------------------------
    def vm_run(self, vcpu: Vcpu, guest, in_guest: bool = False):
        """Run the guest until an exit that only userspace can handle; returns it.
        ``in_guest``: start with the vCPU already RUNNING, inside its guest."""
        while True:
            if not in_guest:
                yield from vcpu.vcpu_set_state(RUNNING)
            code = yield from self.vmrun(vcpu, guest, in_guest)
            in_guest = False
            yield from vcpu.vcpu_set_state(FROZEN)
            if code == EXIT_REQIDLE:
                yield from self.vm_handle_reqidle(vcpu)
                return code
            if code == EXIT_INOUT:
                return code
            if code == EXIT_INST_EMUL:
                yield from self.vioapic.vioapic_mmio_write(self, vcpu.vcpuid, guest.mmio_data,
                                                           vcpu.hostcpu)
                guest.emulated()
            else:  # EXIT_RENDEZVOUS or EXIT_RUNBLOCK
                yield from self.vm_handle_blocked(vcpu)

    def vmrun(self, vcpu: Vcpu, guest, in_guest: bool = False):
        """``vmx_run``: the last checks with interrupts off, then the guest, until
        an exit ``vmx_run`` cannot handle itself. An external interrupt - a kick -
        it handles by going round again, the vCPU still RUNNING; the checks then
        see why it was kicked. (A kick sent after the checks stays pending and
        forces an exit at once.)"""
        while True:
            if not in_guest:
                code = yield from self.vm_entry_blocked(vcpu)
                if code is not None:
                    return code
                if (yield ops.load(vcpu.reqidle_cell, "vcpu_reqidle")):
                    return EXIT_REQIDLE
            in_guest = False
            code = yield from guest.run(vcpu)
            if code != EXIT_EXTINT:
                return code

    def vm_handle_reqidle(self, vcpu: Vcpu):
        yield ops.lock(vcpu.mtx, "vm_handle_reqidle")
        yield ops.store(vcpu.reqidle_cell, 0, "vm_handle_reqidle")
        yield ops.unlock(vcpu.mtx, "vm_handle_reqidle")

    # ---- bhyve's vCPU thread ------------------------------------------------------------
    def vcpu_thread(self, vcpu: Vcpu, guest, inside: bool):
        """bhyve's vCPU thread: ``VM_RUN``, back to userspace, ``VM_RUN`` again.

        ``inside``: the thread starts in ``vm_run``, its vCPU taken from IDLE
        and RUNNING in the guest; otherwise it starts in userspace, its vCPU
        IDLE. Two facts of timing the model makes explicit, so that no
        scheduler has to be fair:

        - back in userspace because another thread asked for the vCPU, the
          thread takes longer to call ``VM_RUN`` again than the thread that
          asked takes to freeze the vCPU: it waits until that one has
          (``vcpuN.taken``);
        - the real thread then calls ``VM_RUN`` at once; the model's does so
          when it has a reason: its guest has work left, or a rendezvous is
          on. Anything else only runs a guest that the next ``reqidle`` stops.
        """
        woke = 0
        if inside:
            yield from self.vm_run(vcpu, guest, in_guest=True)
            woke = yield from self.vcpu_unlock_one(vcpu.vcpuid, own=True)
        while not guest.finished:
            if woke:
                yield ops.halt(self.taken_cell(vcpu.vcpuid), "vm_loop")
            if not guest.has_work:
                yield ops.halt(self.rendezvous.func_cell, "vm_loop")
            woke = yield from self.vm_run_ioctl(vcpu, guest)

    def vm_run_ioctl(self, vcpu: Vcpu, guest):
        """The ``VM_RUN`` ioctl: freeze the vCPU, ``vm_run``, back to IDLE.
        Returns how many threads were waiting for the vCPU."""
        yield from self.vcpu_lock_one(vcpu.vcpuid, vcpu.hostcpu, own=True)
        yield from self.vm_run(vcpu, guest)
        return (yield from self.vcpu_unlock_one(vcpu.vcpuid, own=True))


class RunblockVm(Vm):
    """ec6f18e (OS-7622): no rendezvous; the writer sets each targeted vCPU's
    TMR itself, keeping that vCPU out of the guest while it does."""

    variant_name = "fixed"
    vcpu_cls = RunblockVcpu
    uses_rendezvous = False

    def vioapic_update_tmrs(self, vcpuid: int, old: int, new: int, cpu: int):
        oldset = destinations(old, self.active) if is_level(old) else set()
        newset = destinations(new, self.active) if is_level(new) else set()
        for i in sorted(oldset | newset):
            if i != vcpuid:
                yield from self.by_id[i].vcpu_block_run(cpu)
            yield from self.vioapic.vlapic_tmr_set(i, int(i in newset), vcpuid)
            if i != vcpuid:
                yield from self.by_id[i].vcpu_unblock_run()

    def vm_entry_blocked(self, vcpu: Vcpu):
        if (yield ops.load(vcpu.runblock_cell, "vcpu_runblocked")):
            return EXIT_RUNBLOCK
        return None

    def vm_handle_blocked(self, vcpu: Vcpu):
        return
        yield


def guest_until_kicked(vcpu: Vcpu):
    """A guest busy with its own work: it leaves guest mode only when a kick
    (``ipi_cpu`` with ``vmm_ipinum``) reaches its host CPU. Returns the exit."""
    yield ops.halt(vcpu.ipi_cell, "vmx_run")
    yield ops.swap(vcpu.ipi_cell, 0, "vmx_exit")
    return EXIT_EXTINT


def guest_kicked(vcpu: Vcpu):
    """An instruction boundary: has a kick (``ipi_cpu``) arrived? It forces a VM exit."""
    ipi = yield ops.swap(vcpu.ipi_cell, 0, "vmx non-root: IPI")
    return bool(ipi & IPI_POKE)


VARIANTS = {"buggy": Vm, "fixed": RunblockVm}
