"""Hidden checks for chapter 4 (illumos #14026): instructor only, never in a student's copy.

They hold the answer key to the student's own seeded handshake; ask that the
lost wake-up leave the report's picture behind (vCPU 1 waiting for its
vCPU); and judge a fixed ring on a tightly capped CPU (every thread on one
host CPU, preemptions bounded at two), with the worker asleep and awake, and
with the RX worker holding a lease of its own (a bounded search).
"""
from __future__ import annotations

from simulator.grading.chapters import ch04_lease as visible
from simulator.grading.exercise import Check, Context
from simulator.grading.predictions import compare
from simulator.grading.replay import final_machine
from simulator.grading.result import CheckResult, failed, passed


def check_prediction_key(answer: object, ctx: Context) -> CheckResult:
    """Part A: the three values of the student's own run."""
    q = visible.question(ctx.seed(visible.NAME))
    return compare(answer, visible.solve(q))


def check_lost_report(schedule: object, ctx: Context) -> CheckResult:
    """Part B: the hang as the report shows it: vCPU 1 waits in vcpu_lock_one."""
    m = final_machine(schedule, visible.SCENARIO)
    t = m.by_name["vcpu1"]
    if t.done or not m.wait_for(t).startswith("vcpu1 in vcpu_set_state_locked"):
        return failed("vCPU 1 is not waiting for its vCPU at the end: in the report it sat in "
                      "vcpu_lock_one, frozen out by vCPU 0's write lock")
    return passed("vCPU 1 waits in vcpu_lock_one, as in the report")


CAPPED = {"host_cpus": 1}
CHECKS = {
    "predict-key": Check(check_prediction_key, cost_s=0.1),
    "lost-report": Check(check_lost_report, cost_s=0.3),
    "fix-capped": Check(visible.check_ring(CAPPED, "one capped CPU, the worker asleep"),
                        visible.RING, cost_s=1.0),
    "fix-capped-awake": Check(visible.check_ring({**CAPPED, "tx": "awake"},
                                                 "one capped CPU, the worker awake"),
                              visible.RING, cost_s=1.0),
    "fix-rx": Check(visible.check_ring({"rx": 1, "tx": "awake"},
                                       "the RX worker too, the TX worker awake", 60_000),
                    visible.RING, cost_s=5.0),
}
