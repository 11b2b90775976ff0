"""Checks for the OS-6829 exercises (chapter 2, pir-wakeup): predict, strand, fix.

- **Predict** (seeded, as OSTEP's homework): a local APIC in a random state —
  TPR, the vectors in service (ISR), the vectors requested (IRR). What is
  PPR, is a given requested vector deliverable, and which vector would the
  CPU take next? ``ppr_question(seed)`` asks, ``ppr_expected(seed)`` answers,
  both from the same ``Vlapic`` code the scenario runs.
- **Find the schedule** that strands vCPU0: asleep in ``vm_handle_hlt`` while
  the clock's vector, deliverable at its PPR, sits posted.
- **Fix it**: a ``PostedInterrupts`` subclass is explored over every
  interleaving the bound allows, after the known counterexample is replayed.

Every check answers with a ``CheckResult`` and never crashes or hangs
(``checks.guarded`` with ``budget.time_limit`` around student code).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from simulator.errors import UsageError
from simulator.grading.checks import check_prediction, check_schedule
from simulator.grading.fixes import FixExercise
from simulator.grading.result import CheckResult
from simulator.models.posted import PostedInterrupts
from simulator.models.vlapic import Vlapic, deliverable

SCENARIO = "pir-wakeup"
STEP_BUDGET = 5_000  # a whole run of the scenario takes fewer than a hundred steps
# OS-6829 as the report's dtrace shows it, in schedule shorthand: vCPU0 raises
# TPR to 0x70, arms its clock and exits on HLT; viona posts 0x60 (pending 0 -> 1)
# and notifies a vCPU that is not asleep yet; vm_handle_hlt sees pend:1 at PPR
# 0x70 and sleeps; the timer posts 0xd3 and finds pending already 1.
OS6829_SCHEDULE = "vcpu0>vm_handle_hlt viona* vcpu0* cyclic* fire:apic_timer cyclic*"
STRANDED = "is deliverable at PPR"  # the words of the stuck verdict that matters


# ------------------------------------------------------------------ predict
TPRS = (0x00, 0x20, 0x45, 0x60, 0x70, 0x72, 0x90, 0xB3)
VECTORS = (0x31, 0x41, 0x52, 0x60, 0x61, 0x75, 0x7E, 0x83, 0xA4, 0xB1, 0xD3, 0xEF)
PPR_KEYS = {
    "ppr": "the processor priority, an integer such as 0x70",
    "deliverable": "True or False: is the asked vector deliverable at that PPR?",
    "delivers": "the vector the CPU takes next, interrupts enabled; 0 if none",
}


@dataclass(frozen=True)
class PprQuestion:
    """One seeded APIC state: TPR, vectors in service, vectors requested, one asked about."""

    seed: int
    tpr: int
    isr: tuple[int, ...]
    irr: tuple[int, ...]
    asked: int

    def vlapic(self) -> Vlapic:
        """The state as a ``Vlapic`` (the model the pir-wakeup scenario runs)."""
        v = Vlapic(self.tpr)
        for vec in self.isr:
            v.isr |= 1 << vec
        for vec in self.irr:
            v.accept_msi(vec)
        v.update_ppr()
        return v

    def answer(self) -> dict:
        """The right answer, computed by the model."""
        v = self.vlapic()
        return {"ppr": v.ppr, "deliverable": deliverable(self.asked, v.ppr),
                "delivers": v.highest_deliverable() or 0}

    def __str__(self) -> str:
        def hexes(vs):
            return ", ".join(f"{x:#04x}" for x in vs) or "none"

        lines = [f"# seed {self.seed}: one local APIC, interrupts enabled",
                 f"#   TPR = {self.tpr:#04x}",
                 f"#   in service (ISR): {hexes(self.isr)}",
                 f"#   requested (IRR):  {hexes(self.irr)}", "#", "# predict:"]
        lines += [f"#   {key:<11} = ?   ({text})".replace("the asked vector",
                                                           f"vector {self.asked:#04x}")
                  for key, text in PPR_KEYS.items()]
        return "\n".join(lines)


def ppr_question(seed: int) -> PprQuestion:
    """The APIC state for ``seed`` (any integer)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UsageError(f"a seed is an integer, not {seed!r}")
    rng = random.Random(seed)
    isr = tuple(sorted(rng.sample(VECTORS, rng.choice((0, 1, 1, 2)))))
    irr = tuple(sorted(rng.sample([v for v in VECTORS if v not in isr], rng.choice((1, 2, 3)))))
    return PprQuestion(seed, rng.choice(TPRS), isr, irr, rng.choice(irr))


def ppr_expected(seed: int) -> dict:
    """The right answer to ``ppr_question(seed)``."""
    return ppr_question(seed).answer()


def check_ppr_prediction(answer: object, seed: int) -> CheckResult:
    """Compare a predicted ``{"ppr", "deliverable", "delivers"}`` with the model's."""
    return check_prediction(answer, ppr_expected(seed))


# ------------------------------------------------------- find the schedule
def check_stranding_schedule(schedule: object, seconds: float = 10) -> CheckResult:
    """Does ``schedule`` leave vCPU0 asleep with a deliverable vector posted (buggy)?"""
    result = check_schedule(schedule, SCENARIO, "buggy", want=("stuck",), seconds=seconds)
    if result and STRANDED not in result.reason:
        return CheckResult(False, f"stuck, but not stranded with a deliverable vector: "
                                  f"{result.reason}", result.trace)
    return result


# ------------------------------------------------------------------- fix it
PIR_FIX = FixExercise(SCENARIO, PostedInterrupts, "OS-6829", OS6829_SCHEDULE,
                      "no longer strands the vCPU", STEP_BUDGET,
                      "the run never ends: does the vCPU keep waking up for nothing, or does "
                      "some code never stop yielding?")
posted_complaint = PIR_FIX.complaint


def check_pir_fix(posted_class: object, params: dict | None = None, *, bound: int = 2,
                  max_states: int = 150_000, seconds: float = 12) -> CheckResult:
    """Does vCPU0 always wake for its clock with ``posted_class`` posting interrupts?

    (0) a plain run with the threads taking turns must end well; (1) the
    OS-6829 schedule must no longer strand the vCPU (a replay that diverges
    from it counts as not breaking it); (2) the explorer must find no bad run
    with at most ``bound`` preemptions per CPU within ``max_states`` states.
    """
    return PIR_FIX.check(posted_class, params, bound=bound, max_states=max_states,
                         seconds=seconds)
