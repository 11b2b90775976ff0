"""Grading a fix: the same three stages for every chapter's "fix it" exercise.

A student's class stands in for the buggy code (a ``VirtioDevice``, a
``PostedInterrupts``...). It passes when:

0. a plain run, the threads taking turns, ends well;
1. the explorer's own counterexample against the buggy code — found afresh,
   never stored — no longer ends badly on it (a replay that diverges from it
   counts as not breaking it);
2. the explorer finds no bad run with at most ``bound`` preemptions per CPU
   within ``max_states`` states, and says what it covered.

Every budget is counted — states, steps, preemptions — so the same class gets
the same verdict on any machine, however fast or busy.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from simulator import runs, scenarios
from simulator.engine.strategies import RoundRobin
from simulator.engine.verdict import BAD
from simulator.grading.result import CheckResult, failed, passed
from simulator.search import search


def covered(found, bound: int, max_states: int) -> str:
    """What a clean search covered, in words, with its bound."""
    stats = found.result.stats
    if found.exhausted:
        return (f"the explorer visited every reachable state without a bad run "
                f"({stats.states} states, exhausted at preemption bound {found.bound} "
                f"of at most {bound})")
    limit = f" (bounded: stopped at its limit of {max_states:,} states)" \
        if stats.hit_state_limit else ""
    return (f"the explorer found no bad run with at most {bound} preemption(s) per CPU in "
            f"{stats.states:,} states{limit}")


@functools.lru_cache(maxsize=16)
def _buggy_counterexample(scenario: str, params_json: str, bound: int, max_states: int,
                          step_budget: int) -> tuple[str, ...] | None:
    found = search(scenario, "buggy", json.loads(params_json), bound=bound,
                   max_states=max_states, step_budget=step_budget, minimise=False)
    return tuple(found.result.found.schedule) if found.result.found is not None else None


@dataclass(frozen=True)
class FixExercise:
    """One chapter's fix exercise: the scenario, the report, and its budgets."""

    scenario: str
    report: str  # "OS-7613"
    fixed_words: str  # e.g. "no longer loses the interrupt"
    step_budget: int = 5_000
    bound: int = 2
    max_states: int = 50_000
    limit_hint: str = "does a thread never stop?"  # said when a run never ends

    def _hint(self, kind: str) -> str:
        return f" ({self.limit_hint})" if kind == "limit" else ""

    def plain_run(self, cls: type, params: dict | None) -> CheckResult | None:
        """One run with the threads taking turns: a failed check if even that ends badly."""
        m, schedule = runs.execute(self.scenario, cls, params, strategy=RoundRobin(),
                                   step_budget=self.step_budget)
        verdict = m.verdict()
        if verdict is not None and verdict.kind in BAD:
            trace = runs.to_trace(m, schedule, self.scenario, cls, params, "untimed",
                                  "round-robin", None)
            return failed(f"even a plain run (threads taking turns) ends {verdict.kind}: "
                          f"{verdict.reason}{self._hint(verdict.kind)}", trace)
        return None

    def known_counterexample(self, params: dict | None = None) -> list[str] | None:
        """The explorer's first bad run of the buggy code with these params."""
        resolved = scenarios.get(self.scenario).resolve(params)
        found = _buggy_counterexample(self.scenario, json.dumps(resolved, sort_keys=True),
                                      self.bound, self.max_states, self.step_budget)
        return list(found) if found is not None else None

    def replay_known(self, cls: type, params: dict | None) -> CheckResult | None:
        """The buggy code's counterexample on ``cls``: a failed check if it still ends badly."""
        raw = self.known_counterexample(params)
        if raw is None:
            return None
        m = scenarios.get(self.scenario).machine(cls, params, step_budget=self.step_budget)
        for action in raw:
            if action not in m.enabled():
                return None  # the code behaves differently: the schedule no longer applies
            m.step(action)
        verdict = m.verdict()
        if verdict is not None and verdict.kind in BAD:
            trace = runs.replay(raw, self.scenario, cls, params, step_budget=self.step_budget)
            return failed(f"the {self.report} race as the explorer finds it in the buggy code "
                          f"({len(raw)} steps) still ends {verdict.kind}: {verdict.reason}",
                          trace)
        return None

    def check(self, cls: type, params: dict | None = None, *,
              max_states: int | None = None) -> CheckResult:
        """All three stages, within the state budget."""
        budget = max_states or self.max_states
        for stage in (self.plain_run, self.replay_known):
            verdict = stage(cls, params)
            if verdict is not None:
                return verdict
        found = search(self.scenario, cls, params, strategy="dfs", bound=self.bound,
                       max_states=budget, step_budget=self.step_budget, minimise=False)
        if found.result.found is not None:
            bad = found.result.found
            return failed(f"the explorer found a {bad.verdict.kind} run of "
                          f"{len(bad.schedule)} steps: {bad.verdict.reason}"
                          f"{self._hint(bad.verdict.kind)}", found.counterexample)
        return passed(f"the {self.report} race {self.fixed_words}, and "
                      f"{covered(found, self.bound, budget)}")
