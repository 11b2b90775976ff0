"""Grading a fix: the same three stages for every chapter's "fix it" exercise.

A student's class stands in for the buggy code (a ``VirtioDevice``, a
``PostedInterrupts``...). It passes when:

0. a plain run, the threads taking turns, ends well;
1. the report's own schedule — as the buggy code takes it — no longer ends
   badly (a replay that diverges from it counts as not breaking it);
2. the explorer finds no bad run with at most ``bound`` preemptions per CPU
   within ``max_states`` states, and says what it covered.
"""
from __future__ import annotations

from dataclasses import dataclass

from simulator import runs, scenarios
from simulator.engine.strategies import RoundRobin
from simulator.engine.verdict import BAD
from simulator.errors import UsageError
from simulator.grading.result import CheckResult, guarded
from simulator.grading.schedules import follow_all
from simulator.search import search


def covered(found, bound: int, max_states: int) -> str:
    """What a clean search covered, in words, with its bound."""
    stats = found.result.stats
    if found.exhausted:
        return (f"the explorer visited every reachable state without a bad run "
                f"({stats.states} states, exhausted at preemption bound {found.bound} "
                f"of at most {bound})")
    limit = " (stopped at the state limit)" if stats.hit_state_limit else ""
    return (f"the explorer found no bad run with at most {bound} preemption(s) per CPU in "
            f"{stats.states} states{limit}; max_states={max_states}")


@dataclass(frozen=True)
class FixExercise:
    """One chapter's fix exercise: the scenario, the class a fix must derive
    from, and the report's schedule (in shorthand) that broke the buggy code."""

    scenario: str
    base: type
    report: str  # "OS-7613"
    schedule: str
    fixed_words: str  # what the report's schedule no longer does, e.g. "no longer loses ..."
    step_budget: int = 5_000
    limit_hint: str = "does a thread never stop?"  # said when a run never ends

    def _hint(self, kind: str) -> str:
        return f" ({self.limit_hint})" if kind == "limit" else ""

    def complaint(self, cls: object) -> str | None:
        """Why ``cls`` cannot stand in for the buggy code, or None if it can."""
        name = self.base.__name__
        if not isinstance(cls, type):
            return f"expected a class derived from {name}, got {type(cls).__name__} {cls!r:.60}"
        if not issubclass(cls, self.base):
            return f"{cls.__name__} does not derive from {name}"
        return None

    def plain_run(self, cls: type, params: dict | None) -> CheckResult | None:
        """One run with the threads taking turns: a failed check if even that ends badly."""
        m, schedule = runs.execute(self.scenario, cls, params, strategy=RoundRobin(),
                                   step_budget=self.step_budget)
        verdict = m.verdict()
        if verdict is not None and verdict.kind in BAD:
            trace = runs.to_trace(m, schedule, self.scenario, cls, params, "untimed",
                                  "round-robin", None)
            return CheckResult(False, f"even a plain run (threads taking turns) ends "
                                      f"{verdict.kind}: {verdict.reason}{self._hint(verdict.kind)}",
                               trace)
        return None

    def known_counterexample(self, params: dict | None = None) -> list[str] | None:
        """The report's schedule, expanded, if it breaks the buggy code with these params."""
        m = scenarios.get(self.scenario).machine("buggy", params, step_budget=self.step_budget)
        try:
            raw = follow_all(m, self.schedule)
        except UsageError:
            return None
        verdict = m.verdict()
        return raw if verdict is not None and verdict.kind in BAD else None

    def replay_known(self, cls: type, params: dict | None) -> CheckResult | None:
        """The report's schedule on ``cls``: a failed check if it still ends badly."""
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
            trace = runs.replay(raw, self.scenario, cls, params)
            return CheckResult(False, f"the {self.report} schedule still ends {verdict.kind}: "
                                      f"{verdict.reason}", trace)
        return None

    def check(self, cls: object, params: dict | None = None, *, bound: int = 2,
              max_states: int = 50_000, seconds: float = 12) -> CheckResult:
        """All three stages, within ``seconds`` of wall clock."""
        complaint = self.complaint(cls)
        if complaint:
            return CheckResult(False, complaint)

        def body() -> CheckResult:
            for stage in (self.plain_run, self.replay_known):
                failed = stage(cls, params)
                if failed is not None:
                    return failed
            found = search(self.scenario, cls, params, strategy="dfs", bound=bound,
                           max_states=max_states, step_budget=self.step_budget,
                           time_limit=seconds * 0.9, minimise=False)
            if found.result.found is not None:
                bad = found.result.found
                return CheckResult(False, f"the explorer found a {bad.verdict.kind} run of "
                                          f"{len(bad.schedule)} steps: {bad.verdict.reason}"
                                          f"{self._hint(bad.verdict.kind)}",
                               found.counterexample)
            stats = found.result.stats
            if stats.hit_state_limit and stats.states < max_states:
                return CheckResult(False, f"the explorer ran out of time after {stats.states} "
                                          "states; is the code very slow?")
            return CheckResult(True, f"the {self.report} schedule {self.fixed_words}, and "
                                     f"{covered(found, bound, max_states)}")

        return guarded("fix", seconds, body)
