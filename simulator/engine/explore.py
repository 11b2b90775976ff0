"""The explorer: search the interleavings of an untimed Machine for a bad run.

Three strategies, all seeded and reproducible:

- ``dfs``: stateless depth-first search with re-execution (each branch re-runs
  its prefix on a fresh machine, because generators cannot be copied), a
  cache of visited states (``Machine.key()``), and *iterative preemption
  bounding*: bound 0, then 1, 2, ... so the first counterexample found needs
  the fewest preemptions.
- ``random``: independent runs choosing uniformly among enabled actions.
- ``pct``: probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010):
  random priorities, the highest-priority enabled agent runs, and ``depth - 1``
  random change points lower the running agent's priority.

What counts as a preemption. CPUs run in parallel: interleaving threads that
sit on different CPUs preempts nobody. A *preemption* is a CPU switching away
from a thread that could still run to another thread on that same CPU (as a
kernel's scheduler would). Store-buffer drains and timer firings are never
preemptions. So a race between two CPUs and a store buffer — OS-7613 — shows
up at bound 0, exactly as it happened on real hardware with nobody preempted.

A search that was cut short (by the bound or by ``max_states``) says so: its
result is *bounded*, never called exhaustive.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.engine.footprint import footprint, independent
from simulator.engine.machine import Machine, ScheduleError
from simulator.engine.verdict import Verdict
from simulator.errors import UsageError

Factory = Callable[[], Machine]
STRATEGIES = ("dfs", "random", "pct")


@dataclass
class Stats:
    """What a search covered."""

    states: int = 0  # distinct states visited (dfs) or distinct end states (random, pct)
    schedules: int = 0  # runs started (each a path from the initial state)
    steps: int = 0  # machine steps taken, re-execution included
    pruned_by_bound: int = 0  # branches not taken because of the preemption bound
    hit_state_limit: bool = False


@dataclass
class Found:
    """A bad run: its schedule, how it ended, and how many preemptions it needed."""

    schedule: list[str]
    verdict: Verdict
    preemptions: int


@dataclass
class ExploreResult:
    """The outcome of a search, stating exactly what was covered."""

    strategy: str
    bound: int | None  # the largest preemption bound searched (None: not bounded)
    exhausted: bool  # every reachable state was visited
    stats: Stats
    seconds: float
    found: Found | None = None
    minimised_from: int | None = None  # schedule length before minimisation
    verdicts: dict[str, int] = field(default_factory=dict)  # random/pct: runs per verdict

    @property
    def label(self) -> str:
        """``stuck``/``deadlock``/... if a bad run was found, else verified or bounded."""
        if self.found is not None:
            return self.found.verdict.kind
        return "verified" if self.exhausted else "bounded"


# ---------------------------------------------------------------- helpers
def _is_preemption(m: Machine, action: str, enabled: list[str]) -> bool:
    t = m.by_name.get(action)
    if t is None:
        return False
    last = m.last[t.cpu]
    return last is not None and last != action and last in enabled


def _order(m: Machine, enabled: list[str]) -> list[str]:
    """Enabled actions, the ones that preempt nobody first (stable otherwise)."""
    free = [a for a in enabled if not _is_preemption(m, a, enabled)]
    costly = [a for a in enabled if a not in free]
    return free + costly


def _replay(factory: Factory, prefix: list[str], stats: Stats) -> Machine:
    m = factory()
    m.replay(prefix)
    stats.steps += len(prefix)
    return m


def _state_key(m: Machine) -> tuple:
    return (m.key(), tuple(m.last))


# -------------------------------------------------------------------- dfs
def _one_thread_per_cpu(m: Machine) -> bool:
    cpus = [t.cpu for t in m.threads]
    return len(cpus) == len(set(cpus))


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


class _RandomChooser:
    """Uniform choice among the enabled actions."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def __call__(self, m: Machine, acts: list[str]) -> str:
        return acts[self.rng.randrange(len(acts))]


class _PctChooser:
    """PCT's scheduler for one run: every agent (a thread, a CPU's store buffer,
    a timer) gets a random priority; at each change point the running agent's
    priority drops below all others."""

    def __init__(self, rng: random.Random, depth: int, horizon: int):
        self.rng = rng
        self.depth = depth
        self.prio: dict[str, float] = {}
        self.changes = {rng.randrange(horizon): -k for k in range(1, depth)}
        self.step = 0

    def __call__(self, m: Machine, acts: list[str]) -> str:
        for a in acts:
            self.prio.setdefault(a, self.rng.random() + self.depth)
        best = max(acts, key=self.prio.__getitem__)
        if self.step in self.changes:
            self.prio[best] = self.changes[self.step]
            best = max(acts, key=self.prio.__getitem__)
        self.step += 1
        return best


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


# ----------------------------------------------------------- minimisation
def _sticky_completion(m: Machine, enabled: list[str]) -> str:
    """Finish a run with as few switches as possible: keep the last thread going,
    drain store buffers only when nothing else can happen."""
    threads = [a for a in enabled if a in m.by_name]
    for a in threads:
        if a in m.last:
            return a
    if threads:
        return threads[0]
    return enabled[0]


def _lenient(factory: Factory, wish: list[str]) -> tuple[list[str], Verdict | None]:
    """Follow ``wish`` where possible (skip actions not enabled), then complete."""
    m = factory()
    schedule: list[str] = []
    for action in wish:
        if action in m.enabled():
            m.step(action)
            schedule.append(action)
    while enabled := m.enabled():
        action = _sticky_completion(m, enabled)
        m.step(action)
        schedule.append(action)
    return schedule, m.verdict()


def switches(schedule: list[str]) -> int:
    """Context switches: adjacent thread actions by different threads."""
    threads = [a for a in schedule if ":" not in a and a != "nudge"]
    return sum(1 for x, y in zip(threads, threads[1:], strict=False) if x != y)


def minimise(factory: Factory, schedule: list[str], kind: str,
             max_tries: int = 2000, time_limit: float = 10.0) -> list[str]:
    """Shrink a bad schedule while it keeps ending in ``kind``: drop chunks and
    single actions (needless drains, steps the completion would take anyway).
    Stops after ``max_tries`` replays or ``time_limit`` seconds, keeping the best
    found so far; a run that only ran out of steps (``limit``) is left as it is."""
    best = list(schedule)
    if kind == "limit":
        return best
    tries = 0
    deadline = time.monotonic() + time_limit

    def attempt(wish: list[str]) -> bool:
        nonlocal best, tries
        tries += 1
        if time.monotonic() > deadline:
            tries = max_tries
            return False
        try:
            got, verdict = _lenient(factory, wish)
        except ScheduleError:
            return False
        better = (len(got), switches(got)) < (len(best), switches(best))
        if verdict is not None and verdict.kind == kind and better:
            best = got
            return True
        return False

    chunk = max(1, len(best) // 2)
    while chunk >= 1 and tries < max_tries:
        i = 0
        while i < len(best) and tries < max_tries:
            if not attempt(best[:i] + best[i + chunk:]):
                i += chunk
        chunk //= 2
    return best


def explore(factory: Factory, strategy: str = "dfs", *, bound: int | None = None,
            max_states: int = 500_000, runs: int = 1000, seed: int = 0, depth: int = 3,
            time_limit: float | None = None, minimise_found: bool = True,
            por: bool = True, stop_at_first: bool = True) -> ExploreResult:
    """Search ``factory``'s machine with ``strategy``; minimise any bad run found."""
    if strategy == "dfs":
        result = dfs(factory, bound, max_states, time_limit, por)
    elif strategy == "random":
        result = random_walks(factory, runs, seed, time_limit, stop_at_first)
    elif strategy == "pct":
        result = pct(factory, runs, depth, seed, time_limit, stop_at_first)
    else:
        raise UsageError(f"unknown search strategy {strategy!r} (choose {', '.join(STRATEGIES)})")
    if result.found is not None and minimise_found:
        before = result.found.schedule
        after = minimise(factory, before, result.found.verdict.kind)
        if len(after) < len(before) or switches(after) < switches(before):
            m = _replay(factory, after, Stats())
            result.found = Found(after, m.verdict() or result.found.verdict, m.preemptions)
        result.minimised_from = len(before)
    return result
