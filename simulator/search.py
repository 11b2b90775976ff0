"""Searching a scenario: the explorer applied to a named scenario and variant.

``search("virtio-barriers", "buggy")`` returns a ``SearchResult`` holding
either a replayable counterexample trace or a statement of what was verified
and within which bounds.
"""
from __future__ import annotations

from dataclasses import dataclass

from simulator import runs, scenarios
from simulator.engine.explore import STRATEGIES, ExploreResult, explore, switches
from simulator.engine.trace import Trace
from simulator.errors import UsageError


@dataclass
class SearchResult:
    """A search of one scenario variant: what was found or verified, and at what cost."""

    scenario: str
    variant: str
    params: dict
    result: ExploreResult
    counterexample: Trace | None

    @property
    def found(self) -> str | None:
        return self.result.found.verdict.kind if self.result.found else None

    @property
    def exhausted(self) -> bool:
        return self.result.exhausted

    @property
    def bound(self) -> int | None:
        return self.result.bound

    @property
    def states(self) -> int:
        return self.result.stats.states

    @property
    def schedules(self) -> int:
        return self.result.stats.schedules

    @property
    def steps(self) -> int:
        return self.result.stats.steps

    @property
    def seconds(self) -> float:
        return self.result.seconds

    def summary(self) -> str:
        """One line in words: what was found, or what was verified and how far."""
        r = self.result
        where = f"{self.scenario} ({self.variant})"
        states = f"{r.stats.states} states"
        if r.workers > 1 and r.strategy == "dfs":
            states += f" (counted by each of {r.workers} workers, overlap included)"
        elif r.workers > 1:
            states += f" ({r.workers} workers)"
        cost = (f"{states}, {r.stats.schedules} schedules, "
                f"{r.stats.steps} steps, {r.seconds:.2f} s")
        if r.found is not None:
            pre = r.found.preemptions
            return (f"{where}: found a {r.found.verdict.kind} run with {pre} preemption(s), "
                    f"{len(r.found.schedule)} steps ({cost})")
        if r.strategy == "dfs":
            scope = (f"every interleaving (state space exhausted at preemption bound "
                     f"{r.bound})" if r.exhausted else
                     f"interleavings with at most {r.bound} preemption(s) per CPU"
                     + (", stopped at the state limit" if r.stats.hit_state_limit else ""))
            word = "verified" if r.exhausted else "no bad run within bounds"
            return f"{where}: {word}: {scope} ({cost})"
        return f"{where}: no bad run in {r.stats.schedules} {r.strategy} runs ({cost})"

    def counts(self) -> str:
        """Random/PCT: how many runs ended in each verdict, in words."""
        return ", ".join(f"{n} {kind}" for kind, n in sorted(self.result.verdicts.items()))

    def to_json(self) -> dict:
        r = self.result
        out = {
            "scenario": self.scenario, "variant": self.variant, "params": self.params,
            "strategy": r.strategy, "verdict": r.label, "exhausted": r.exhausted,
            "bound": r.bound if r.strategy == "dfs" else None,
            "states": r.stats.states, "schedules": r.stats.schedules, "steps": r.stats.steps,
            "seconds": round(r.seconds, 4), "workers": r.workers, "summary": self.summary(),
            "counterexample": self.counterexample.to_json() if self.counterexample else None,
        }
        if r.verdicts:
            out["verdicts"] = dict(r.verdicts)
        if r.found is not None:
            out["preemptions"] = r.found.preemptions
            out["minimised"] = {"before": r.minimised_from, "after": len(r.found.schedule),
                                "switches": switches(r.found.schedule)}
        return out


def search(scenario: str, variant="buggy", params: dict | None = None, *,
           strategy: str = "dfs", bound: int | None = None, max_states: int = 500_000,
           runs_: int = 1000, seed: int = 0, memory_model: str | None = None,
           step_budget: int = 20_000, time_limit: float | None = None,
           minimise: bool = True, stop_at_first: bool = True,
           workers: int | str = 1) -> SearchResult:
    """Search one variant of a scenario for a bad run (untimed); ``workers``
    processes (or "auto") share the search (see ``engine.parallel``)."""
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown search strategy {strategy!r} (choose {', '.join(STRATEGIES)})")
    sc = scenarios.get(scenario)
    resolved = sc.resolve(params)
    sc.machine(variant, resolved, memory_model=memory_model)  # fail fast on bad input

    def factory():
        return sc.machine(variant, resolved, memory_model=memory_model,
                          step_budget=step_budget)

    result = explore(factory, strategy, bound=bound, max_states=max_states, runs=runs_,
                     seed=seed, time_limit=time_limit, minimise_found=minimise,
                     stop_at_first=stop_at_first, workers=workers)
    trace = None
    if result.found is not None:
        trace = runs.replay(result.found.schedule, scenario, variant, resolved,
                            memory_model=memory_model)
        trace.strategy, trace.seed = f"explore-{strategy}", seed
    return SearchResult(sc.name, sc.variant_name(variant), resolved, result, trace)
