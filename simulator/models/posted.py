"""The VMX posted-interrupt descriptor and bhyve's APICv paths (``intel/vmx.c``).

With APICv, bhyve may not touch a running vCPU's virtual-APIC page, so an
interrupt for it is *posted*: a bit in ``pir[4]`` (256 bits, one per vector)
and the ``pending`` word, whose bit 0 (ON, "outstanding notification") says
the descriptor holds something. Then:

- ``vmx_set_intr_ready`` (any host thread) sets the PIR bit with a locked OR
  and answers whether the vCPU must be *notified* (kicked or woken);
- ``vmx_pending_intr`` (the vCPU in ``vm_handle_hlt``) asks whether a posted
  vector would be delivered at the guest's PPR;
- ``vmx_inject_pir`` (the vCPU on VM entry) claims ``pending`` and moves the
  PIR into the page's IRR;
- ``posted_intr_processing`` is what the CPU itself does when the
  notification IPI reaches a vCPU in guest mode: clear ON, move PIR to IRR.

The notification rule is the OS-6829 bug. Before the fix, only the 0 -> 1
transition of ``pending`` notified. A vCPU halted at a high PPR that was woken
for an undeliverable vector goes back to sleep with ``pending`` still 1, and
``pending`` is cleared only on VM entry — so a later, deliverable vector finds
``pending`` at 1 and notifies nobody. The fix took three commits in
illumos-joyent; each is a class here, differing from its parent in small hooks:

- ``PostedInterrupts`` (``buggy``) — before OS-6829: notify on 0 -> 1 only;
- ``C713610PostedInterrupts`` (``c713610``, OS-6829) — keep the priority
  classes posted in the high bits of ``pending`` (which the SDM leaves to
  software) and notify also when a higher class arrives; claim ``pending``
  on VM entry with one atomic swap, class bits included;
- ``PrioPostedInterrupts`` (``21e2c66``, OS-6930) — the CPU
  clears only ON when it takes posted interrupts in guest mode, so class bits
  can outlive the vectors they stood for; drop them in ``vmx_flush_pir_prio``
  before leaving ``vmx_run``;
- ``PendingPrioPostedInterrupts`` (``ce6a764``, OS-7354, aliases ``fixed``
  and ``pending-prio``) — the classes move out of the descriptor into a per-vCPU
  ``pending_prio`` word, reset on each 0 -> 1 of ON and trimmed in
  ``vmx_pending_intr`` when the vCPU decides to keep sleeping; the flush goes.
"""
from __future__ import annotations

from simulator.engine import ops
from simulator.models.vlapic import VlapicPage, check_vector, prio

PIR_WORDS = 4
PIR_MASK_PENDING = 0x1  # bit 0 of 'pending': the ON bit
# The two kinds of IPI a vCPU's host CPU can be sent (bits of its IPI cell).
IPI_POSTED = 0x1  # the posted-interrupt notification vector: no VM exit
IPI_POKE = 0x2  # vmm_ipinum, sent with ipi_cpu: forces a VM exit


class PostedInterrupts:
    """One vCPU's ``struct pir_desc`` and the vmx_* code around it, before OS-6829."""

    variant_name = "buggy"

    def __init__(self, name: str = "pir"):
        self.words = [f"{name}[{i}]" for i in range(PIR_WORDS)]
        self.pending = f"{name}.pending"

    def cells(self) -> dict[str, int]:
        return {**{w: 0 for w in self.words}, self.pending: 0}

    # ---- any host thread ----------------------------------------------------
    def vmx_set_intr_ready(self, vector: int, level: bool = False):
        """Post ``vector``; returns True if the vCPU must be notified."""
        check_vector(vector)
        idx, bit = divmod(vector, 64)
        yield ops.fetch_or(self.words[idx], 1 << bit, "vmx_set_intr_ready")  # atomic_set_long
        return (yield from self.notify_needed(vector))

    def notify_needed(self, vector: int):
        """Before OS-6829: notify only if ``pending`` went from 0 to 1."""
        old = yield ops.cas(self.pending, 0, 1, "vmx_set_intr_ready")
        return old == 0

    # ---- the vCPU thread -------------------------------------------------------
    def vmx_pending_intr(self, page: VlapicPage):
        """Would the guest take an interrupt now? (called from ``vm_handle_hlt``)

        With nothing posted, look at what the CPU already moved into the page
        (RVI, saved at the HLT exit). Otherwise compare the highest posted
        vector's class with PPR's.
        """
        pending = yield ops.load(self.pending, "vmx_pending_intr")
        ppr = prio(page.vlapic.ppr)
        if not pending & PIR_MASK_PENDING:
            rvi = page.vlapic.highest_irr() or 0
            return prio(rvi) > ppr
        if ppr == 0:
            return True
        vpr = 0
        for i in range(PIR_WORDS - 1, -1, -1):
            pirval = yield ops.load(self.words[i], "vmx_pending_intr")
            if pirval:
                vpr = prio(i * 64 + pirval.bit_length() - 1)
                break
        if vpr <= ppr:
            yield from self.trim_stale_prio(vpr)
            return False
        return True

    def vmx_inject_pir(self, page: VlapicPage):
        """On VM entry: claim ``pending`` and move every posted vector into IRR."""
        pending = yield from self.take_pending()
        if not pending & PIR_MASK_PENDING:
            return
        bits = 0
        for i, word in enumerate(self.words):
            val = yield ops.swap(word, 0, "vmx_inject_pir")  # atomic_readandclear_long
            bits |= val << (64 * i)
        page.or_irr(bits)

    def posted_intr_processing(self, page: VlapicPage):
        """The CPU got the notification IPI in guest mode: it clears ON (and only
        ON), then moves the PIR into the virtual IRR — no VM exit, no bhyve code."""
        yield ops.fetch_and(self.pending, ~PIR_MASK_PENDING, "posted-interrupt processing")
        bits = 0
        for i, word in enumerate(self.words):
            val = yield ops.swap(word, 0, "posted-interrupt processing")
            bits |= val << (64 * i)
        page.or_irr(bits)

    # ---- the hooks the variants override -----------------------------------------
    def take_pending(self):
        """``vmx_inject_pir``: claim the ON bit (``atomic_cmpset_long(pending, 1, 0)``)."""
        old = yield ops.cas(self.pending, 1, 0, "vmx_inject_pir")
        return old

    def vmx_flush_pir_prio(self):
        """Leaving ``vmx_run``: nothing to tidy before OS-6829."""
        return
        yield

    def trim_stale_prio(self, vpr: int):
        """``vmx_pending_intr`` decided the vCPU may sleep: nothing to trim here."""
        return
        yield

    def pending_vectors(self, cells: dict[str, int]) -> int:
        """All posted vectors as one 256-bit int, read from a memory picture."""
        return sum(cells[w] << (64 * i) for i, w in enumerate(self.words))


class C713610PostedInterrupts(PostedInterrupts):
    """OS-6829 (illumos-joyent c713610): the classes already posted ride in
    ``pending`` above the ON bit, and a higher class notifies even when ON is set.

    Its comment calls the class bits the CPU leaves behind (it clears only ON
    when it takes posted interrupts in guest mode) stale but acceptable: they
    are cleared by the swap on the next VM entry. A halted vCPU is not entered
    again until it wakes, and OS-6930 showed that is too late.
    """

    variant_name = "c713610"

    def notify_needed(self, vector: int):
        prio_mask = (1 << (vector >> 4)) | PIR_MASK_PENDING
        old = yield ops.load(self.pending, "vmx_set_intr_ready")
        seen = yield ops.cas(self.pending, old, old | prio_mask, "vmx_set_intr_ready")
        if seen == old:
            # Notify on 0 -> 1 of ON, or when this class beats every class recorded.
            return not old & PIR_MASK_PENDING or prio_mask > old
        # Lost a race on 'pending': set our bits and notify unconditionally.
        yield ops.fetch_or(self.pending, prio_mask, "vmx_set_intr_ready")
        return True

    def take_pending(self):
        """Read-and-clear (``atomic_swap_long``): the class bits go with the ON bit."""
        old = yield ops.swap(self.pending, 0, "vmx_inject_pir")
        return old


class PrioPostedInterrupts(C713610PostedInterrupts):
    """OS-6930 (illumos-joyent 21e2c66), "bhyve PIR can still miss PIR wake-ups":
    c713610 plus the flush of stale class bits before leaving ``vmx_run``."""

    variant_name = "21e2c66"

    def vmx_flush_pir_prio(self):
        """The CPU clears only ON when it takes posted interrupts in guest mode;
        class bits it leaves behind are stale and would hide a later wake-up."""
        yield ops.fetch_and(self.pending, PIR_MASK_PENDING, "vmx_flush_pir_prio")


class PendingPrioPostedInterrupts(PostedInterrupts):
    """OS-7354 (illumos-joyent ce6a764), the form FreeBSD and illumos-gate kept:
    the classes in a per-vCPU ``pending_prio``, reset on each 0 -> 1 of
    ``pending``, trimmed when the vCPU keeps sleeping; ``pending`` is ON alone
    again, claimed with ``cas(pending, 1, 0)``, and nothing needs flushing."""

    variant_name = "ce6a764"

    def __init__(self, name: str = "pir"):
        super().__init__(name)
        self.pending_prio = f"{name}.pending_prio"

    def cells(self) -> dict[str, int]:
        return {**super().cells(), self.pending_prio: 0}

    def notify_needed(self, vector: int):
        old = yield ops.cas(self.pending, 0, 1, "vmx_set_intr_ready")
        if old == 0:
            yield ops.store(self.pending_prio, 0, "vmx_set_intr_ready")
            return True
        prio_bit = 1 << (vector >> 4)  # VPR_PRIO_BIT
        old_prio = yield ops.load(self.pending_prio, "vmx_set_intr_ready")
        if not old_prio & prio_bit and prio_bit > old_prio:
            yield ops.fetch_or(self.pending_prio, prio_bit, "vmx_set_intr_ready")
            return True
        return False

    def trim_stale_prio(self, vpr: int):
        prio_bit = 1 << (vpr >> 4)
        old = yield ops.load(self.pending_prio, "vmx_pending_intr")
        if old > prio_bit and not old & prio_bit:
            yield ops.store(self.pending_prio, prio_bit, "vmx_pending_intr")


VARIANTS = {cls.variant_name: cls for cls in
            (PostedInterrupts, C713610PostedInterrupts, PrioPostedInterrupts,
             PendingPrioPostedInterrupts)}
# Other names for the same classes: the ticket ids, and the names the course
# and the graded exercises have always used.
ALIASES = {"os-6829": "c713610", "os-6930": "21e2c66", "os-7354": "ce6a764",
           "fixed": "ce6a764", "pending-prio": "ce6a764"}
VARIANTS.update({alias: VARIANTS[name] for alias, name in ALIASES.items()})


def vmx_run(vcpu, apicv: PostedInterrupts, page: VlapicPage, guest):
    """One trip into the guest and back (the part of ``vmx_run`` that matters here).

    On entry, ``vmx_inject_interrupts``: a pending NMI is injected, then the
    posted vectors (``vmx_inject_pir``). The guest runs until it exits; once
    out of guest mode the host takes any notification IPI still pending (its
    handler does nothing), and the fixed variant drops stale class bits.
    Returns the guest's exit reason.
    """
    nmi = yield ops.load(vcpu.nmi_cell, "vm_nmi_pending")
    if nmi:
        yield ops.store(vcpu.nmi_cell, 0, "vm_nmi_clear")  # vmx_inject_nmi
    yield from apicv.vmx_inject_pir(page)
    exitcode = yield from guest.run(nmi=bool(nmi))
    yield ops.swap(vcpu.ipi_cell, 0, "vmx_exit_process")
    yield from apicv.vmx_flush_pir_prio()
    return exitcode
