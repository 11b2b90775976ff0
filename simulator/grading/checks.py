"""The checks grade cells call: each returns a verdict with a reason, never a crash.

A check runs student code — a prediction, a schedule, a device class — under
the Machine's step budget and a wall-clock limit (``budget.time_limit``). An
answer that raises, loops forever or is not what was asked for is a failed
check whose reason says what went wrong; grading itself never crashes or
hangs. Grade cells use them as::

    require(check_schedule(my_schedule))     # AssertionError(reason) if failed
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from simulator import runs, scenarios
from simulator.engine.strategies import RoundRobin
from simulator.engine.verdict import BAD
from simulator.errors import UsageError
from simulator.grading.budget import OutOfTime, time_limit
from simulator.grading.schedules import follow_all
from simulator.models.virtio import VirtioDevice
from simulator.search import search

SCENARIO = "virtio-barriers"
STEP_BUDGET = 5_000  # a whole run of the scenario takes about a hundred steps
# The lost interrupt of the OS-7613 report, in schedule shorthand: the device
# publishes used.idx = 2 (buffered) and reads avail.flags while the guest's
# NO_INTERRUPT is visible; the guest then re-enables and reads the old used.idx.
OS7613_SCHEDULE = ("vcpu0* blkio* fire:io.req0 blkio* vcpu0>virtqueue_enable_cb_prepare "
                   "drain:cpu0 fire:io.req1 blkio>vq_endchains blkio*2 vcpu0* blkio*")


@dataclass(frozen=True)
class CheckResult:
    """A check's verdict: passed or not, and why, in one readable line or two.

    ``trace`` holds a run worth looking at (a counterexample), when there is one.
    """

    passed: bool
    reason: str
    trace: object = field(default=None, compare=False, repr=False)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return ("passed: " if self.passed else "failed: ") + self.reason


def require(result: CheckResult) -> CheckResult:
    """Turn a failed check into an ``AssertionError`` carrying its reason."""
    if not isinstance(result, CheckResult):
        raise AssertionError(f"expected a CheckResult, got {type(result).__name__}")
    if not result.passed:
        raise AssertionError(result.reason)
    return result


def guarded(what: str, seconds: float, body: Callable[[], CheckResult]) -> CheckResult:
    """Run ``body`` within ``seconds``; any failure of student code is a failed check."""
    try:
        with time_limit(seconds):
            return body()
    except OutOfTime:
        return CheckResult(False, f"{what}: gave up after {seconds:g} s — does some code "
                                  "loop forever without yielding an op?")
    except UsageError as exc:
        return CheckResult(False, f"{what}: {exc}")
    except RecursionError:
        return CheckResult(False, f"{what}: the code recursed too deeply")
    except Exception as exc:  # student code raised: a failed check, not a crash
        return CheckResult(False, f"{what}: {type(exc).__name__}: {exc}")


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
def check_fix(device_class: object, params: dict | None = None, *, bound: int = 2,
              max_states: int = 50_000, seconds: float = 12) -> CheckResult:
    """Is ``device_class`` (a ``VirtioDevice`` subclass) free of lost interrupts?

    (0) a plain run with the threads taking turns must end well; (1) the known
    OS-7613 schedule must no longer end badly (a replay that diverges from it
    counts as not breaking it); (2) the explorer must find no bad run with at
    most ``bound`` preemptions per CPU within ``max_states`` states.
    """
    complaint = device_complaint(device_class)
    if complaint:
        return CheckResult(False, complaint)

    def body() -> CheckResult:
        plain = plain_run(device_class, params)
        if plain is not None:
            return plain
        replayed = replay_counterexample(device_class, params)
        if replayed is not None:
            return replayed
        found = search(SCENARIO, device_class, params, strategy="dfs", bound=bound,
                       max_states=max_states, step_budget=STEP_BUDGET,
                       time_limit=seconds * 0.9, minimise=False)
        if found.result.found is not None:
            bad = found.result.found
            hint = " (does a thread never stop?)" if bad.verdict.kind == "limit" else ""
            return CheckResult(False, f"the explorer found a {bad.verdict.kind} run of "
                                      f"{len(bad.schedule)} steps: {bad.verdict.reason}{hint}",
                               found.counterexample)
        stats = found.result.stats
        if stats.hit_state_limit and stats.states < max_states:
            return CheckResult(False, f"the explorer ran out of time after {stats.states} "
                                      "states; is the device very slow?")
        return CheckResult(True, f"the OS-7613 schedule no longer loses the interrupt, and "
                                 f"{_covered(found, bound, max_states)}")

    return guarded("fix", seconds, body)


def device_complaint(device_class: object) -> str | None:
    """Why ``device_class`` cannot be a device, or None if it can."""
    if not isinstance(device_class, type):
        return (f"expected a class derived from VirtioDevice, got "
                f"{type(device_class).__name__} {device_class!r:.60}")
    if not issubclass(device_class, VirtioDevice):
        return f"{device_class.__name__} does not derive from VirtioDevice"
    return None


def plain_run(device_class: type, params: dict | None) -> CheckResult | None:
    """One run with the threads taking turns: a failed check if even that ends badly."""
    m, schedule = runs.execute(SCENARIO, device_class, params, strategy=RoundRobin(),
                               step_budget=STEP_BUDGET)
    verdict = m.verdict()
    if verdict is not None and verdict.kind in BAD:
        hint = " (does a thread never stop?)" if verdict.kind == "limit" else ""
        trace = runs.to_trace(m, schedule, SCENARIO, device_class, params, "untimed",
                              "round-robin", None)
        return CheckResult(False, f"even a plain run (threads taking turns) ends "
                                  f"{verdict.kind}: {verdict.reason}{hint}", trace)
    return None


def replay_counterexample(device_class: type, params: dict | None) -> CheckResult | None:
    """Replay the OS-7613 schedule (as the buggy device takes it) on the student's
    device: a failed check if it still ends badly, else None (also when the
    schedule does not break the buggy device with these parameters)."""
    raw = known_counterexample(params)
    if raw is None:
        return None
    m = scenarios.get(SCENARIO).machine(device_class, params, step_budget=STEP_BUDGET)
    for action in raw:
        if action not in m.enabled():
            return None  # the device behaves differently: the schedule no longer applies
        m.step(action)
    verdict = m.verdict()
    if verdict is not None and verdict.kind in BAD:
        trace = runs.replay(raw, SCENARIO, device_class, params)
        return CheckResult(False, f"the OS-7613 schedule still ends {verdict.kind}: "
                                  f"{verdict.reason}", trace)
    return None


def known_counterexample(params: dict | None = None) -> list[str] | None:
    """The raw OS-7613 schedule for these parameters, if it breaks the buggy device."""
    sc = scenarios.get(SCENARIO)
    m = sc.machine("buggy", params, step_budget=STEP_BUDGET)
    try:
        raw = follow_all(m, OS7613_SCHEDULE)
    except UsageError:
        return None
    verdict = m.verdict()
    return raw if verdict is not None and verdict.kind in BAD else None


def _covered(found, bound: int, max_states: int) -> str:
    """What a clean search covered, in words, with its bound."""
    stats = found.result.stats
    if found.exhausted:
        return (f"the explorer visited every reachable state without a bad run "
                f"({stats.states} states, exhausted at preemption bound {found.bound} "
                f"of at most {bound})")
    limit = " (stopped at the state limit)" if stats.hit_state_limit else ""
    return (f"the explorer found no bad run with at most {bound} preemption(s) per CPU in "
            f"{stats.states} states{limit}; max_states={max_states}")
