"""Hidden checks for chapter 2 (OS-6829): instructor only, never in a student's copy.

They ask more than the visible checks, and hold the answer keys: the
prediction is compared with the model's APIC for the student's own seeded
question; the stranding schedule must take the asked path (asleep before the
packet, woken by it, asleep again); and a fix must also hold with two network
vectors, with the clock's class below the network's and at another TPR, and
must not buy its safety by notifying on every post — the ON bit exists so
that a burst of packets costs one notification, not one each.
"""
from __future__ import annotations

from simulator.grading.chapters import ch02_pir as visible
from simulator.grading.exercise import Check, Context
from simulator.grading.predictions import compare
from simulator.grading.replay import final_machine
from simulator.grading.result import CheckResult, failed, passed
from simulator.models.vlapic import Vlapic, VlapicPage


def check_prediction_key(answer: object, ctx: Context) -> CheckResult:
    """Part A: PPR, deliverable and delivers of the student's own APIC state."""
    q = visible.question(ctx.seed(visible.NAME))
    return compare(answer, visible.solve(q))


def check_schedule_path(schedule: object, ctx: Context) -> CheckResult:
    """Part B: vCPU0 slept before the packet, 0x60 woke it, it slept again, for good."""
    vcpu = final_machine(schedule, visible.SCENARIO).model["vcpu"]
    if (vcpu.sleeps, vcpu.wakeups) != (2, 1):
        return failed(f"vCPU0 went to sleep {vcpu.sleeps} time(s) and was woken "
                      f"{vcpu.wakeups} time(s); the path asked for sleeps twice and is "
                      "woken once, by the packet")
    return passed("asleep before the packet, woken by it, asleep again for good")


def _with_params(name: str, params: dict, max_states: int):
    def run(posted: type, ctx: Context) -> CheckResult:
        result = visible.PIR_FIX.check(posted, params, max_states=max_states)
        return CheckResult(result.passed, f"{name}: {result.reason}",
                           trace_json=result.trace_json)
    return run


LOW_CLOCK = {"tpr": 0x00, "net_vector": 0xE0, "timer_vector": 0x30}
# The report's PPR is 0x70; a rule tuned to it ("only classes above 0x70 matter")
# strands a guest that waits at TPR 0x40 for its clock at 0x50.
OTHER_TPR = {"tpr": 0x40, "net_vector": 0x30, "timer_vector": 0x50}

# Posts one after the other, each alone, then a VM entry claims everything;
# (vector, notification wanted), None: either answer will do. The later
# upstream form resets its record of classes on pending 0 -> 1 without noting
# the first vector's class, so it notifies once more for a second vector of
# that class; that is allowed.
POSTS = ((0x60, True), (0x61, None), (0xD3, True), (0xD4, False), (0x65, False))
AFTER_CLAIM = ((0x61, True), (0xD5, True), (0xD6, False))


def check_no_flood(posted: type, ctx: Context) -> CheckResult:
    """Part C: posts that cannot change the vCPU's decision ask for no notification."""
    pir = posted()
    cells = pir.cells()
    done: list[str] = []
    for what in (*POSTS, "claim", *AFTER_CLAIM):
        if what == "claim":  # VM entry: vmx_inject_pir takes ON and the PIR
            visible.run_alone(pir.vmx_inject_pir(VlapicPage(Vlapic())), cells,
                              "the claim on VM entry")
            done.append("a VM entry")
            continue
        vector, want = what
        got = visible.run_alone(pir.vmx_set_intr_ready(vector), cells, f"posting {vector:#04x}")
        if want is not None and bool(got) != want:
            return _flood(vector, got, done)
        done.append(f"{vector:#04x}")
    return passed(f"notifies when it must, and not for posts that cannot change the vCPU's "
                  f"decision ({len(POSTS) + len(AFTER_CLAIM)} posts)")


def _flood(vector: int, got: object, done: list[str]) -> CheckResult:
    verb = "asked for a notification" if got else "asked for none"
    return failed(f"posting {vector:#04x} after {', '.join(done)} {verb}")


CHECKS = {
    "predict-key": Check(check_prediction_key, cost_s=0.1),
    "schedule-path": Check(check_schedule_path, cost_s=0.2),
    "no-flood": Check(check_no_flood, visible.ANY_FIX, cost_s=0.1),
    "two-vectors": Check(_with_params("two network vectors", {"net_vectors": 2}, 30_000),
                         visible.ANY_FIX, cost_s=6.0),
    "low-clock": Check(_with_params("clock 0x30 below network 0xe0", LOW_CLOCK, 40_000),
                       visible.ANY_FIX, cost_s=5.0),
    "other-tpr": Check(_with_params("TPR 0x40, network 0x30, clock 0x50", OTHER_TPR, 40_000),
                       visible.ANY_FIX, cost_s=5.0),
}
