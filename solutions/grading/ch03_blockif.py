"""Hidden checks for chapter 3 (hyperkit #94): instructor only, never in a student's copy.

They ask more than the visible checks, and hold the answer keys: the
prediction is compared with the model's run of the student's own seeded
setting; the hanging schedule must take the path asked for (blkio's TRIM DONE
before ioemu's SIGCONT); and a fix must hold on FreeBSD too — where the kqueue
hears every SIGCONT, so a fix that still pushes sig elems must keep the stack
sound (pushing the same sig elem twice makes it a cycle the handler never
leaves) — and with a single modelled round.
"""
from __future__ import annotations

from simulator.grading.chapters import ch03_blockif as visible
from simulator.grading.exercise import Check, Context
from simulator.grading.predictions import compare
from simulator.grading.replay import check_schedule
from simulator.grading.result import CheckResult, failed, passed
from simulator.models.host import FREEBSD


def check_prediction_key(answer: object, ctx: Context) -> CheckResult:
    """Part A: the three values of the student's own setting, from the model's run."""
    q = visible.question(ctx.seed(visible.NAME))
    return compare(answer, visible.solve(q))


def check_schedule_path(schedule: object, ctx: Context) -> CheckResult:
    """Part B: the hang, with blkio's DONE before ioemu's pthread_kill."""
    result = check_schedule(schedule, visible.SCENARIO, "macos", None, ("deadlock",))
    if not result:
        return result
    steps = result.trace.steps
    done = next((s["i"] for s in steps if s["func"] == "blockif_proc" and s["op"] == "store"),
                None)
    kill = next((s["i"] for s in steps if s["func"] == "pthread_kill"), None)
    if done is None or kill is None or done > kill:
        return failed("the VM hangs, but blkio's TRIM was not yet DONE when ioemu sent its "
                      "SIGCONT: the path asked for has blkio finish in between ioemu's look "
                      "at be_status and its pthread_kill", result.trace_json)
    return passed(f"blkio was DONE at step {done}, the SIGCONT went at step {kill}, and the "
                  "VM hangs all the same", result.trace_json)


def _on_freebsd(cls: type, ctx: Context) -> CheckResult:
    """The same class on FreeBSD, whose kqueue hears every SIGCONT."""
    moved = type(f"{cls.__name__}OnFreeBSD", (cls,), {"host": FREEBSD})
    result = visible.FIX.check(moved)
    return CheckResult(result.passed, f"on FreeBSD: {result.reason}",
                       trace_json=result.trace_json)


def _one_round(cls: type, ctx: Context) -> CheckResult:
    result = visible.FIX.check(cls, {"polls": 1})
    return CheckResult(result.passed, f"one modelled round: {result.reason}",
                       trace_json=result.trace_json)


CHECKS = {
    "predict-key": Check(check_prediction_key, cost_s=0.2),
    "schedule-path": Check(check_schedule_path, cost_s=0.2),
    "freebsd-too": Check(_on_freebsd, visible.FIXED, cost_s=2.0),
    "one-round": Check(_one_round, visible.FIXED, cost_s=1.0),
}
