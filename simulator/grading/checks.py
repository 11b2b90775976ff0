"""The checks grade cells call: each returns a verdict with a reason, never a crash.

A check runs student code — a prediction, a schedule, a device class — under
the Machine's step budget and a wall-clock limit (``budget.time_limit``). An
answer that raises, loops forever or is not what was asked for is a failed
check whose reason says what went wrong; grading itself never crashes or
hangs. Grade cells use them as::

    require(check_schedule(my_schedule))     # AssertionError(reason) if failed
"""
from __future__ import annotations

from simulator import runs, scenarios
from simulator.grading.fixes import FixExercise
from simulator.grading.result import CheckResult, guarded, require  # noqa: F401 (re-exported)
from simulator.grading.schedules import follow_all
from simulator.models.virtio import VirtioDevice

SCENARIO = "virtio-barriers"
STEP_BUDGET = 5_000  # a whole run of the scenario takes about a hundred steps
# The lost interrupt of the OS-7613 report, in schedule shorthand: the device
# publishes used.idx = 2 (buffered) and reads avail.flags while the guest's
# NO_INTERRUPT is visible; the guest then re-enables and reads the old used.idx.
OS7613_SCHEDULE = ("vcpu0* blkio* fire:io.req0 blkio* vcpu0>virtqueue_enable_cb_prepare "
                   "drain:cpu0 fire:io.req1 blkio>vq_endchains blkio*2 vcpu0* blkio*")


# ------------------------------------------------------------------ predict
def check_prediction(answer: object, expected: dict) -> CheckResult:
    """Compare a predicted outcome (a dict) with the computed one, key by key.

    The reason names the wrong keys, not their right values.
    """
    if not isinstance(answer, dict):
        return CheckResult(False, f"the answer should be a dict with keys "
                                  f"{', '.join(expected)}, not {type(answer).__name__}")
    missing = [k for k in expected if k not in answer]
    if missing:
        return CheckResult(False, f"the answer has no {', '.join(map(repr, missing))}")
    wrong = [k for k, v in expected.items() if not _same(answer[k], v)]
    if wrong:
        right = [k for k in expected if k not in wrong]
        tail = f" ({', '.join(right)} right)" if right else ""
        return CheckResult(False, f"not right yet: {', '.join(wrong)}{tail}")
    return CheckResult(True, f"all {len(expected)} predictions are right")


def _same(given: object, want: object) -> bool:
    if isinstance(want, str):
        return isinstance(given, str) and given.strip().lower() == want
    if isinstance(want, bool) or isinstance(given, bool):
        return given is want
    return isinstance(given, int) and given == want


# ------------------------------------------------------- find the schedule
def check_schedule(schedule: object, scenario: str = SCENARIO, variant="buggy",
                   params: dict | None = None, want: tuple[str, ...] = ("stuck",),
                   seconds: float = 10) -> CheckResult:
    """Does ``schedule`` (shorthand or raw) drive the scenario to a ``want`` verdict?

    The schedule is expanded on a fresh machine, must leave the run over, and is
    then replayed strictly; the replay's verdict decides.
    """
    def body() -> CheckResult:
        sc = scenarios.get(scenario)
        m = sc.machine(variant, params, step_budget=STEP_BUDGET)
        raw = follow_all(m, schedule)
        if m.verdict() is None:
            nxt = ", ".join(m.enabled())
            return CheckResult(False, f"after {len(raw)} steps the run is not over yet "
                                      f"(possible next: {nxt}); add 'finish' or more steps")
        trace = runs.replay(raw, scenario, variant, params)
        verdict = trace.verdict
        if verdict.kind not in want:
            return CheckResult(False, f"the run ends {verdict.kind}, not "
                                      f"{' or '.join(want)}: {verdict.reason}", trace)
        return CheckResult(True, f"{len(raw)} steps; the run ends {verdict.kind}: "
                                 f"{verdict.reason}", trace)

    return guarded("schedule", seconds, body)


# ------------------------------------------------------------------- fix it
VIRTIO_FIX = FixExercise(SCENARIO, VirtioDevice, "OS-7613", OS7613_SCHEDULE,
                         "no longer loses the interrupt", STEP_BUDGET)
device_complaint = VIRTIO_FIX.complaint


def check_fix(device_class: object, params: dict | None = None, *, bound: int = 2,
              max_states: int = 50_000, seconds: float = 12) -> CheckResult:
    """Is ``device_class`` (a ``VirtioDevice`` subclass) free of lost interrupts?

    (0) a plain run with the threads taking turns must end well; (1) the known
    OS-7613 schedule must no longer end badly (a replay that diverges from it
    counts as not breaking it); (2) the explorer must find no bad run with at
    most ``bound`` preemptions per CPU within ``max_states`` states.
    """
    return VIRTIO_FIX.check(device_class, params, bound=bound, max_states=max_states,
                            seconds=seconds)
