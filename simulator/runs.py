"""Running scenarios: one run, a replay, or many seeded random runs.

These are the calls the CLI, the notebooks and the grader share::

    trace = run("virtio-barriers", "buggy", seed=3)
    again = replay(trace)            # the same steps, the same verdict
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from simulator import scenarios
from simulator.engine.clock import TimedDriver, drive_untimed
from simulator.engine.machine import Machine, ScheduleError
from simulator.engine.strategies import Replay, RoundRobin, make_strategy
from simulator.engine.trace import Trace
from simulator.engine.verdict import Verdict
from simulator.errors import ModelCrash, UsageError

MODES = ("timed", "untimed")


def _check_mode(mode: str) -> bool:
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r} (choose timed or untimed)")
    return mode == "timed"


def execute(scenario: str, variant="buggy", params: dict | None = None, *, strategy,
            mode: str = "untimed", memory_model: str | None = None, tracing: bool = True,
            step_budget: int = 20_000) -> tuple[Machine, list[str]]:
    """Build the scenario's machine and drive it to its end; return it and the schedule."""
    timed = _check_mode(mode)
    sc = scenarios.get(scenario)
    m = sc.machine(variant, params, memory_model=memory_model, tracing=tracing, timed=timed,
                   step_budget=step_budget)
    if timed:
        schedule = TimedDriver(m, strategy, sc.costs).run()
    else:
        schedule = drive_untimed(m, strategy)
    return m, schedule


def to_trace(m: Machine, schedule: list[str], scenario: str, variant, params: dict | None,
             mode: str, strategy: str, seed: int | None) -> Trace:
    """The trace of a finished run. A built-in variant whose model code raised is a
    ModelCrash, not a trace: its verdict would say nothing about the system."""
    sc = scenarios.get(scenario)
    if m.crash is not None and isinstance(variant, str):
        raise ModelCrash(f"{sc.name} ({variant}), step {len(schedule)}: {m.crash} - a fault "
                         "in the simulator's model, not a verdict on the system it models")
    verdict = m.verdict() or Verdict("limit", "the schedule ended before the run did")
    return Trace(scenario=scenario, variant=sc.variant_name(variant), params=sc.resolve(params),
                 memory_model=m.memory.name, mode=mode, strategy=strategy, seed=seed,
                 schedule=schedule, verdict=verdict, steps=list(m.records))


def run(scenario: str, variant="buggy", params: dict | None = None, *, seed: int = 0,
        strategy: str = "random", mode: str = "untimed", memory_model: str | None = None,
        step_budget: int = 20_000) -> Trace:
    """One run of a scenario with a seeded strategy; the trace it leaves."""
    strat = make_strategy(strategy, seed)
    m, schedule = execute(scenario, variant, params, strategy=strat, mode=mode,
                          memory_model=memory_model, step_budget=step_budget)
    return to_trace(m, schedule, scenario, variant, params, mode, strat.name, seed)


def replay(trace: Trace | list[str], scenario: str | None = None, variant="buggy",
           params: dict | None = None, *, mode: str | None = None,
           memory_model: str | None = None, step_budget: int = 20_000) -> Trace:
    """Re-run a recorded schedule exactly (strict: each action must be possible)."""
    if isinstance(trace, Trace):
        schedule, scenario, variant = trace.schedule, trace.scenario, trace.variant
        params, mode = trace.params, mode or trace.mode
        memory_model = memory_model or trace.memory_model
    else:
        schedule = list(trace)
        if scenario is None:
            raise UsageError("replay of a bare schedule needs the scenario name")
    recorded_mode = trace.mode if isinstance(trace, Trace) else "untimed"
    mode = mode or "untimed"
    then = RoundRobin() if mode != recorded_mode else None
    strategy = Replay(schedule, then)
    try:
        m, done = execute(scenario, variant, params, strategy=strategy, mode=mode,
                          memory_model=memory_model, step_budget=step_budget)
    except ScheduleError as exc:
        if str(exc).startswith("schedule step"):
            raise
        step = max(strategy.position - 1, 0)
        raise ScheduleError(f"schedule step {step}: {schedule[step]!r}: {exc}") from None
    if len(done) < len(schedule):
        if len(done) >= step_budget:
            raise UsageError(f"the schedule has {len(schedule)} actions, more than the step "
                             f"budget of {step_budget}")
        raise UsageError(f"schedule step {len(done)}: {schedule[len(done)]!r} is not enabled "
                         "(nothing is)")
    return to_trace(m, done, scenario, variant, params, mode, "replay", None)


@dataclass
class RandomSearch:
    """What many seeded random runs found: a count per verdict and the first bad run."""

    scenario: str
    variant: str
    runs: int
    seed: int
    verdicts: Counter = field(default_factory=Counter)
    counterexample: Trace | None = None

    def to_json(self) -> dict:
        return {"scenario": self.scenario, "variant": self.variant, "strategy": "random",
                "runs": self.runs, "seed": self.seed, "verdicts": dict(self.verdicts),
                "counterexample": self.counterexample.to_json() if self.counterexample else None}


def random_search(scenario: str, variant="buggy", params: dict | None = None, *,
                  runs: int = 1000, seed: int = 0, memory_model: str | None = None,
                  step_budget: int = 20_000) -> RandomSearch:
    """``runs`` seeded untimed random runs: how many ended in each verdict, and
    the first bad one as a replayable trace."""
    from simulator.search import search

    found = search(scenario, variant, params, strategy="random", runs_=runs, seed=seed,
                   memory_model=memory_model, step_budget=step_budget, minimise=False,
                   stop_at_first=False)
    return RandomSearch(found.scenario, found.variant, runs, seed,
                        Counter(found.result.verdicts), found.counterexample)
