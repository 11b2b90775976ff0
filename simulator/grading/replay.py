"""Grading a schedule: does it drive the scenario where the exercise asks?

The schedule (shorthand or raw, ``simulator.grading.schedules``) is expanded
on a fresh machine, must leave the run over, and is then replayed strictly;
the replay's verdict decides. Everything is counted in steps.
"""
from __future__ import annotations

from simulator import runs, scenarios
from simulator.grading.result import CheckResult, failed, passed
from simulator.grading.schedules import follow_all

STEP_BUDGET = 5_000  # a whole run of a scenario takes about a hundred steps


def check_schedule(schedule: object, scenario: str, variant="buggy",
                   params: dict | None = None, want: tuple[str, ...] = ("stuck",)
                   ) -> CheckResult:
    """Does ``schedule`` drive ``scenario`` (this variant, these params) to a ``want`` verdict?"""
    m = scenarios.get(scenario).machine(variant, params, step_budget=STEP_BUDGET)
    raw = follow_all(m, schedule)
    if m.verdict() is None:
        nxt = ", ".join(m.enabled())
        return failed(f"after {len(raw)} steps the run is not over yet (possible next: {nxt}); "
                      "add 'finish' or more steps")
    trace = runs.replay(raw, scenario, variant, params, step_budget=STEP_BUDGET)
    verdict = trace.verdict
    if verdict.kind not in want:
        return failed(f"the run ends {verdict.kind}, not {' or '.join(want)}: "
                      f"{verdict.reason}", trace)
    return passed(f"{len(raw)} steps; the run ends {verdict.kind}: {verdict.reason}", trace)


def final_machine(schedule: object, scenario: str, variant="buggy", params: dict | None = None):
    """The machine at the end of ``schedule`` (for checks that look at the model's state)."""
    m = scenarios.get(scenario).machine(variant, params, step_budget=STEP_BUDGET)
    follow_all(m, schedule)
    return m
