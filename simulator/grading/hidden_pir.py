"""Hidden checks for the OS-6829 exercises: grade cells call them between
nbgrader's ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` markers.

They ask more than the visible checks: a stranding schedule must take the
report's path (the notification for 0x60 finds vCPU0 not yet asleep), and a
fix must also hold with two network vectors and with the clock's class below
the network's, and must not buy its safety by notifying on every post — the
ON bit exists so that a burst of packets costs one notification, not one each.
"""
from __future__ import annotations

from simulator import scenarios
from simulator.engine import direct
from simulator.grading.checks import CheckResult, guarded
from simulator.grading.pir import (
    SCENARIO,
    STEP_BUDGET,
    check_pir_fix,
    posted_complaint,
)
from simulator.grading.schedules import follow_all


def check_schedule_matches_report(schedule: object, seconds: float = 5) -> CheckResult:
    """The run takes the report's path: vCPU0 sleeps once, never woken by a
    ``cv_signal`` — the notification for 0x60 came while it was leaving the guest."""
    def body() -> CheckResult:
        m = scenarios.get(SCENARIO).machine("buggy", step_budget=STEP_BUDGET)
        follow_all(m, schedule)
        vcpu = m.model["vcpu"]
        if (vcpu.sleeps, vcpu.wakeups) != (1, 0):
            return CheckResult(False, f"vCPU0 went to sleep {vcpu.sleeps} time(s) and was "
                                      f"woken {vcpu.wakeups} time(s); in the report it slept "
                                      "once, after seeing pend:1 at PPR 0x70, and was never "
                                      "woken")
        return CheckResult(True, "the notification found vCPU0 awake; it then slept for good")

    return guarded("schedule", seconds, body)


def check_fix_two_vectors(posted_class: object, max_states: int = 30_000,
                          seconds: float = 6) -> CheckResult:
    """The fix also holds when viona posts 0x60 and then 0x61 (bounded search)."""
    result = check_pir_fix(posted_class, {"net_vectors": 2}, max_states=max_states,
                           seconds=seconds)
    return CheckResult(result.passed, f"two network vectors: {result.reason}", result.trace)


LOW_CLOCK = {"tpr": 0x00, "net_vector": 0xE0, "timer_vector": 0x30}


def check_fix_low_clock(posted_class: object, max_states: int = 40_000,
                        seconds: float = 6) -> CheckResult:
    """The fix also holds when the clock's class is below the network's, at TPR 0."""
    result = check_pir_fix(posted_class, LOW_CLOCK, max_states=max_states, seconds=seconds)
    return CheckResult(result.passed, f"clock 0x30 below network 0xe0: {result.reason}",
                       result.trace)


# (what happens, vector, notification wanted): one vCPU, nobody taking the
# posts except at "claim" (VM entry, vmx_inject_pir's claim of 'pending').
# None: either answer will do. The later upstream form resets its record of
# classes on pending 0 -> 1 without noting the first vector's class, so it
# notifies once more for a second vector of that class; that is allowed.
POSTS = (
    ("post", 0x60, True),    # pending 0 -> 1
    ("post", 0x61, None),    # class 6 again (upstream notifies once more)
    ("post", 0xD3, True),    # class 13 beats every class pending
    ("post", 0xD4, False),   # class 13 again: the vCPU already knows
    ("post", 0x65, False),   # class 6, below the best pending
    ("claim", None, None),   # VM entry claims everything
    ("post", 0x61, True),    # pending 0 -> 1 again
    ("post", 0xD5, True),    # a higher class again
    ("post", 0xD6, False),
)


def check_no_flood(posted_class: object, seconds: float = 4) -> CheckResult:
    """Posts that cannot change the vCPU's decision ask for no notification."""
    complaint = posted_complaint(posted_class)
    if complaint:
        return CheckResult(False, complaint)

    def body() -> CheckResult:
        pir = posted_class()
        cells = pir.cells()
        for i, (what, vector, want) in enumerate(POSTS):
            if what == "claim":
                direct.call(_bounded(pir.take_pending()), cells)
                continue
            got = bool(direct.call(_bounded(pir.vmx_set_intr_ready(vector)), cells))
            if want is not None and got != want:
                done = ", ".join(f"{v:#04x}" if w == "post" else "a VM entry"
                                 for w, v, _ in POSTS[:i])
                verb = "asked for a notification" if got else "asked for none"
                return CheckResult(False, f"posting {vector:#04x} after {done} {verb}")
        return CheckResult(True, f"notifies when it must, and not for posts that "
                                 f"cannot change the vCPU's decision "
                                 f"({sum(w == 'post' for w, _, _ in POSTS)} posts)")

    return guarded("notifications", seconds, body)


MOST_OPS = 1_000  # one post takes a handful of operations


def _bounded(program):
    """Pass ``program``'s operations through, but no more than ``MOST_OPS`` of them."""
    result = None
    for _ in range(MOST_OPS):
        try:
            op = program.send(result)
        except StopIteration as done:
            return done.value
        result = yield op
    raise RuntimeError(f"one post took more than {MOST_OPS} operations; does it loop?")
