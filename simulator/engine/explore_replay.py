"""The explorer as it was first written: every branch re-executes its prefix.

Each pending branch builds a fresh machine with the factory and replays its
schedule from the initial state, because generators cannot be copied. It is
slow but has no memo and no snapshots, which makes it the oracle the
equivalence tests compare ``engine.explore`` with: ``explore(...,
engine="replay")`` runs it. Its search order, state cache, preemption bounding
and sleep sets are those of ``engine.explore``, step for step.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable

from simulator.engine.explore import (
    ExploreResult,
    Factory,
    Found,
    Stats,
    _is_preemption,
    _one_thread_per_cpu,
    _order,
    _PctChooser,
    _RandomChooser,
)
from simulator.engine.footprint import footprint, independent
from simulator.engine.machine import Machine
from simulator.errors import UsageError


def _replay(factory: Factory, prefix: list[str], stats: Stats) -> Machine:
    m = factory()
    m.replay(prefix)
    stats.steps += len(prefix)
    return m


def _state_key(m: Machine) -> tuple:
    return (m.key(), tuple(m.last))


# -------------------------------------------------------------------- dfs
def _dfs(factory: Factory, bound: int, stats: Stats, max_states: int,
         deadline: float | None, reduce: bool) -> Found | None:
    """One depth-first pass with at most ``bound`` preemptions per path.

    With ``reduce``, sleep sets (Godefroid 1996) skip orders of independent
    actions; the state cache then remembers each state's sleep set and prunes a
    revisit only if that set is no larger than the current one.
    """
    visited: dict[tuple, tuple[int, frozenset]] = {}
    pending: list[tuple[list[str], int, str, frozenset]] = [([], 0, "", frozenset())]
    while pending:
        sched_ref, depth, alt, sleep = pending.pop()
        prefix = sched_ref[:depth]
        m = _replay(factory, prefix, stats)
        schedule = list(prefix)
        if alt:
            m.step(alt)
            stats.steps += 1
            schedule.append(alt)
        stats.schedules += 1
        while True:
            key = _state_key(m)
            seen = visited.get(key)
            if seen is not None and seen[0] <= m.preemptions:
                if seen[1] <= sleep:
                    break
                sleep = sleep & seen[1]
            if seen is None:
                stats.states += 1  # distinct states; a revisit with a smaller sleep set
            visited[key] = (m.preemptions, sleep)  # is explored again but not counted
            enabled = m.enabled()
            if not enabled:
                verdict = m.verdict()
                if verdict is not None and verdict.bad:
                    return Found(schedule, verdict, m.preemptions)
                break
            if stats.states >= max_states or (deadline and time.monotonic() > deadline):
                stats.hit_state_limit = True
                return None
            ordered = [a for a in _order(m, enabled) if a not in sleep]
            if not ordered:
                break  # every action here is covered by an equivalent order elsewhere
            prints = {a: footprint(m, a) for a in (*ordered, *sleep)} if reduce else {}
            done, branches = list(sleep), []
            for i, other in enumerate(ordered):
                if i > 0:
                    extra = _is_preemption(m, other, enabled)
                    if m.preemptions + extra <= bound:
                        asleep = frozenset(b for b in done
                                           if independent(prints[b], prints[other]))
                        branches.append((schedule, len(schedule), other, asleep))
                    else:
                        stats.pruned_by_bound += 1
                if reduce:
                    done.append(other)
            pending.extend(reversed(branches))  # explored in order, after this path
            first = ordered[0]
            if _is_preemption(m, first, enabled) and m.preemptions + 1 > bound:
                stats.pruned_by_bound += 1
                break
            if reduce:
                sleep = frozenset(b for b in sleep if independent(prints[b], prints[first]))
            m.step(first)
            stats.steps += 1
            schedule.append(first)
    return None


def dfs(factory: Factory, bound: int | None = None, max_states: int = 500_000,
        time_limit: float | None = None, por: bool = True) -> ExploreResult:
    """Iterative preemption bounding: bound 0, 1, ... up to ``bound`` (None: until
    the space is exhausted), stopping at the first bad run.

    Partial-order reduction (sleep sets) is used when every CPU runs a single
    thread: then no preemption is ever possible and the reduction is sound for
    the deadlocks and end states the verdicts look at. Otherwise the search is
    plain, so the preemption bound keeps its exact meaning."""
    if bound is not None and bound < 0:
        raise UsageError(f"--bound must be 0 or more, not {bound}")
    if max_states < 1:
        raise UsageError(f"--max-states must be at least 1, not {max_states}")
    start = time.monotonic()
    deadline = start + time_limit if time_limit else None
    total = Stats()
    reduce = por and _one_thread_per_cpu(factory())
    b = 0
    while True:
        stats = Stats()
        found = _dfs(factory, b, stats, max_states - total.states, deadline, reduce)
        total.states += stats.states
        total.schedules += stats.schedules
        total.steps += stats.steps
        total.pruned_by_bound = stats.pruned_by_bound
        total.hit_state_limit = stats.hit_state_limit
        done = found is not None or stats.hit_state_limit or stats.pruned_by_bound == 0
        if done or (bound is not None and b >= bound):
            exhausted = found is None and not stats.hit_state_limit and stats.pruned_by_bound == 0
            return ExploreResult("dfs", b, exhausted, total, time.monotonic() - start, found)
        b += 1


# ------------------------------------------------------------ random, pct
def _run_with(factory: Factory, choose: Callable[[Machine, list[str]], str],
              stats: Stats) -> tuple[Machine, list[str]]:
    m = factory()
    schedule: list[str] = []
    stats.schedules += 1
    while enabled := m.enabled():
        action = choose(m, enabled)
        m.step(action)
        schedule.append(action)
    stats.steps += len(schedule)
    return m, schedule


def random_walks(factory: Factory, runs: int = 1000, seed: int = 0,
                 time_limit: float | None = None, stop_at_first: bool = True) -> ExploreResult:
    """``runs`` seeded random runs; the first bad one is the counterexample."""
    if runs < 1:
        raise UsageError(f"--runs must be at least 1, not {runs}")
    return _walks("random", factory, runs, time_limit, stop_at_first,
                  lambda i: _RandomChooser(random.Random(seed * 1_000_003 + i)))


def pct(factory: Factory, runs: int = 1000, depth: int = 3, seed: int = 0,
        time_limit: float | None = None, stop_at_first: bool = True) -> ExploreResult:
    """PCT: per run, random agent priorities and ``depth - 1`` priority change points."""
    if runs < 1 or depth < 1:
        raise UsageError("pct needs runs >= 1 and depth >= 1")
    probe, _ = _run_with(factory, lambda m, acts: acts[0], Stats())
    horizon = max(1, probe.steps)
    return _walks("pct", factory, runs, time_limit, stop_at_first,
                  lambda i: _PctChooser(random.Random(seed * 1_000_003 + i), depth, horizon))


def _walks(name: str, factory: Factory, runs: int, time_limit: float | None,
           stop_at_first: bool, chooser_for: Callable[[int], Callable]) -> ExploreResult:
    """Independent runs; every run's verdict is counted, the first bad one kept."""
    start, stats = time.monotonic(), Stats()
    result = ExploreResult(name, None, False, stats, 0.0)
    seen: set[tuple] = set()
    for i in range(runs):
        m, schedule = _run_with(factory, chooser_for(i), stats)
        seen.add(_state_key(m))
        stats.states = len(seen)
        verdict = m.verdict()
        result.verdicts[verdict.kind] = result.verdicts.get(verdict.kind, 0) + 1
        if verdict.bad and result.found is None:
            result.found = Found(schedule, verdict, m.preemptions)
            if stop_at_first:
                break
        if time_limit and time.monotonic() - start > time_limit:
            break
    result.seconds = time.monotonic() - start
    return result


def search(factory: Factory, strategy: str, bound, max_states, runs, seed, depth,
           time_limit, por, stop_at_first) -> ExploreResult:
    """``strategy`` by re-execution (``explore(..., engine="replay")`` calls this)."""
    if strategy == "dfs":
        return dfs(factory, bound, max_states, time_limit, por)
    if strategy == "random":
        return random_walks(factory, runs, seed, time_limit, stop_at_first)
    return pct(factory, runs, depth, seed, time_limit, stop_at_first)
