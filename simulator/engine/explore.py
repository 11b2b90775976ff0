"""The explorer: search the interleavings of an untimed Machine for a bad run.

Three strategies, all seeded and reproducible:

- ``dfs``: depth-first search with a cache of visited states and *iterative
  preemption bounding*: bound 0, then 1, 2, ... so the first counterexample
  found needs the fewest preemptions.
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

How a branch gets back to its state: snapshots and a memo of threads.
A thread is a generator, which cannot be copied; but a thread is deterministic:
its next op is a function of the results it has received, whose running hash
the machine keeps (``Thread.hist``, already part of the state). So:

1. The search keeps, per thread, a memo ``{hist: (next op, failure)}``. Every
   op a live generator yields is recorded there (and checked against what is
   already there: a thread that asks for something else after the same results
   reads state another thread writes, and the search falls back to the
   re-executing explorer, ``engine.explore_replay``).
2. The machine's *data* (memory, store buffers, each thread's op, wait, signal
   and hist, locks, timers, the last thread per CPU, counters) is snapshotted
   at each branching node (``engine.snapshot``) and restored for each branch.
   After a restore a thread whose generator stands at another point is
   *detached* and steps by the memo alone; one whose generator stands exactly
   there (same hist) is still live. No generator runs for a detached thread.
3. On a memo miss the threads are *revived*: a fresh machine from the
   factory, each generator fed again the results its thread received (read
   back along the memo's chain, no machine steps), the data copied over, and
   the search goes on with it live. ``Stats.rebuilds`` counts these.
4. A scenario's property reads Python model objects, which only live threads
   keep up to date. At an end state where some thread is detached, the
   verdict comes from a rebuilt machine, and is remembered by state key for
   the next visit (the model objects are a function of the thread histories,
   the same assumption the state key makes). Except where every thread that
   matters finished and the scenario can tell from the machine alone that its
   property holds (``Machine.property_holds``): that end state is ``ok``
   without a rebuild (``outcome.finished_ok``).

The search order, the state cache, preemption bounding and the sleep sets are
unchanged, so counts and counterexamples equal the re-executing explorer's
(``explore(..., engine="replay")``), which the equivalence tests use as the
oracle. Partial-order reduction stays where it was sound before: sleep sets
when every CPU runs one thread (then no preemption is possible). With several
threads on a CPU, plain sleep sets could lose states reachable within the
preemption bound (Coons, Musuvathi and McKinley, "Bounded partial-order
reduction", OOPSLA 2013), so the search is plain there.

Random and PCT runs restore the initial state instead of building a machine
for each run, and step by the memo the same way.

Cheaper per state: the state key (``engine.snapshot.key``) is built once and
is also the core of the snapshot; a visited state costs one hash; footprints
are cached by what they depend on; with one thread per CPU the preemption
checks are skipped (nothing can be preempted); a state with one enabled
action steps without branching bookkeeping; actions ``enabled()`` offered are
taken without asking again (``Machine.take``); and Python's cyclic garbage
collector is kept off the state cache while a search runs (``_quiet_gc``):
machines hold no reference cycles, so a discarded one is freed at once and
the young garbage is collected only after many rebuilds.

Compiled: where the install could, Cython compiles this module and the ones
every step goes through (the machine, memory, snapshots, footprints) from
these same files; the ``.pxd`` file beside each makes the machine, its threads
and its memory extension types with C fields, and types the search loop's
machine and counts (``engine.compiled`` says how, and guards against a build
older than its sources). The code is written so that it means the same
either way, and a test runs every scenario variant both ways.

Not made incremental: the state key. Pieces of it cached between steps would
have to be invalidated by every op that changes them, and an op added later
that forgets to would make the search silently unsound; the key is rebuilt
whole for each state (about a fifth of a search's time).

Both cores: ``workers=`` spreads random and PCT runs, or each pass of the
dfs, over forked processes (``engine.parallel``, which says what stays the
same and what is counted differently).

Not done: partial-order reduction with several threads per CPU (bounded POR).
"""
from __future__ import annotations

import contextlib
import gc
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.engine import outcome, snapshot
from simulator.engine.footprint import _FLUSHING, depends, footprint, independent
from simulator.engine.machine import Machine, NeedsLiveThread, NondeterministicThread, ScheduleError
from simulator.engine.ops import SEND_SIGNAL
from simulator.engine.verdict import Verdict
from simulator.errors import UsageError

Factory = Callable[[], Machine]
STRATEGIES = ("dfs", "random", "pct")
ENGINES = ("memo", "replay")


@dataclass
class Stats:
    """What a search covered."""

    states: int = 0  # distinct states visited (dfs) or distinct end states (random, pct)
    schedules: int = 0  # runs started (each a path from the initial state)
    steps: int = 0  # machine steps taken, replays of rebuilt machines included
    pruned_by_bound: int = 0  # branches not taken because of the preemption bound
    hit_state_limit: bool = False
    rebuilds: int = 0  # machines rebuilt by the factory and revived (memo misses, verdicts)
    memo: int = 0  # thread transitions in the memo at the end


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
    engine: str = "memo"  # "memo" (snapshots + thread memo) or "replay" (re-execution)
    note: str = ""  # why the search fell back to re-execution, or ran in one process
    # Processes the search ran in. A dfs over several counts each worker's states
    # (a state reached by two workers counts twice); walks count exactly as one.
    workers: int = 1

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
    costly = [a for a in enabled if _is_preemption(m, a, enabled)]
    if not costly:
        return enabled
    return [a for a in enabled if a not in costly] + costly


def _costly(m: Machine, enabled: list[str]) -> frozenset | set:
    """The enabled actions that would preempt a thread (one pass; threads come
    first in ``enabled``, then drains and timers, which never preempt)."""
    last, by_name, out = m.last, m.by_name, set()
    for a in enabled:
        t = by_name.get(a)
        if t is None:
            break
        other = last[t.cpu]
        if other is not None and other != a and other in enabled:
            out.add(a)
    return out


_NONE = frozenset()


@contextlib.contextmanager
def _quiet_gc():
    """Keep Python's cyclic collector off the visited states while a search runs.

    The state cache is millions of tuples that never form cycles, yet every full
    collection would walk them all (a third of a search's time). So collection
    is paused, and ``_Runner.tidy`` now and then collects the young objects and
    freezes the survivors, which later collections then skip."""
    was_enabled, own = gc.isenabled(), gc.get_freeze_count() == 0
    gc.disable()
    try:
        yield own
    finally:
        if own:
            gc.unfreeze()
        if was_enabled:
            gc.enable()


def _one_thread_per_cpu(m: Machine) -> bool:
    cpus = [t.cpu for t in m.threads]
    return len(cpus) == len(set(cpus))


class _Runner:
    """The machine a search steps, its threads' memos, and the way back to a live
    machine (``revive``) when the memo does not know what a thread does."""

    def __init__(self, factory: Factory):
        self.factory = factory
        self.memos: dict[str, dict] = {}
        self.verdicts: dict[tuple, Verdict] = {}  # end states' verdicts, by state key
        self.stats = Stats()
        self.m = self._build()
        self.root = snapshot.save(self.m, snapshot.key(self.m))
        self.single = _one_thread_per_cpu(self.m)  # then nothing can ever be preempted
        self.prints: dict[tuple, tuple] = {}  # footprints by (action, op, store buffer)
        self.freeze = False  # may freeze survivors (set by the search under _quiet_gc)
        self.tidied = 0  # rebuilds at the last tidy

    def footprints(self, m: Machine, k: tuple, actions) -> dict[str, tuple]:
        """Each action's footprint, looked up by what it depends on
        (``footprint.depends``, written out here for speed: the thread's op and, for
        ops that flush, its CPU's store buffer, for a signal its target's wait; a
        drain's oldest store; the thread a timer wakes)."""
        cache, out, by_name = self.prints, {}, m.by_name
        for a in actions:
            t = by_name.get(a)
            if t is not None:
                op = t.op
                kind = op[0]
                if kind == SEND_SIGNAL:
                    fk = depends(m, a)
                else:
                    fk = (a, op, k[1][t.cpu] if k[1] and kind in _FLUSHING else None)
            elif a[0] == "d":
                fk = (a, m.memory.buffers[int(a[9:])][0][0])
            elif a[0] == "f":
                fk = (a, m.timers[a[5:]][0])
            else:
                fk = depends(m, a)
            fp = cache.get(fk)
            if fp is None:
                fp = cache[fk] = footprint(m, a)
            out[a] = fp
        return out

    def _build(self) -> Machine:
        m = self.factory()
        for t in m.threads:
            t.memo = self.memos.setdefault(t.name, {})
        return m

    def tidy(self) -> None:
        """Now and then: freeze what survives, so that no later collection walks the
        visited states again; first collect the young garbage once a thousand machines
        have been rebuilt since the last collection. A machine holds no reference
        cycle of its own, so one discarded is freed at once; a model's objects
        might hold cycles, which this frees. (Collecting walks every object made
        since the last freeze, most of them state keys: a tenth of a long search's
        time when it was done every time.)"""
        rebuilt = self.stats.rebuilds - self.tidied
        if rebuilt >= 1000 or rebuilt < 0:  # < 0: a new pass counts afresh
            gc.collect(0)
            self.tidied = self.stats.rebuilds
        if self.freeze:
            gc.freeze()

    def revive(self, miss: NeedsLiveThread | None = None) -> Machine:
        """A fresh machine in the current machine's state with every thread live.

        Each new generator is fed the results its thread received, read back
        along the memo's chain (no machine steps: threads share nothing but ops,
        so the order they are fed in does not matter); then the data is copied
        over. After a memo miss, the missing thread is fed its new result last,
        live, and what it asks for next goes into the memo."""
        old = self.m
        picture = snapshot.save(old, snapshot.key(old))
        m = self._build()
        for t, was in zip(m.threads, old.threads, strict=True):
            target = miss.prev if miss is not None and t.name == miss.thread else was.hist
            self._feed(m, t, target)
        snapshot.restore(m, picture)
        if miss is not None:
            t = m.by_name[miss.thread]
            t.hist = miss.prev
            m._resume(t, miss.result)
        self.stats.rebuilds += 1
        self.m = m
        return m

    @staticmethod
    def _feed(m: Machine, t, target: int) -> None:
        """Bring ``t``'s fresh generator to ``target`` by sending it its results again,
        checking that it asks for the ops the memo recorded."""
        path, memo, h = [], t.memo, target
        while h != 0:  # the hist of a thread that has received nothing
            entry = memo[h]
            path.append(entry)
            h = entry[2]
        if not path:
            return
        send = t.gen.send
        for entry in reversed(path[1:]):
            if send(entry[3]) != entry[0]:
                raise NondeterministicThread(
                    f"thread {t.name} asked for another op after the same results: its code "
                    "reads state another thread writes")
        t.hist = t.gen_hist = path[0][2]
        m._resume(t, path[0][3])  # the last one the ordinary way: done, crashed or asking
    def restore(self, snap: snapshot.Snapshot) -> Machine:
        snapshot.restore(self.m, snap)
        return self.m

    def step(self, action: str) -> Machine:
        """Take ``action`` (one ``enabled()`` offers now); bring the threads to life if
        a detached one needs it."""
        self.m = _take(self, self.m, action)
        return self.m

    def verdict(self, m: Machine, k: tuple) -> Verdict | None:
        """How the run at this end state ended: from live model objects, or, where the
        scenario can tell from the machine alone that a finished run is fine
        (``outcome.finished_ok``), without bringing them back to life."""
        if m.failure is not None or m.steps >= m.step_budget:
            return m.verdict()  # neither needs the property
        if all(t.gen_hist == t.hist for t in m.threads):
            v = m.verdict()
        else:
            v = self.verdicts.get(k)
            if v is None:
                v = outcome.finished_ok(m) or self.revive().verdict()
        self.verdicts[k] = v
        return v

    def memo_size(self) -> int:
        return sum(len(memo) for memo in self.memos.values())


# -------------------------------------------------------------------- dfs
def _dfs(run: _Runner, bound: int, stats: Stats, max_states: int,
         deadline: float | None, reduce: bool, pending: list[tuple] | None = None,
         visited: dict | None = None, split: bool = False) -> Found | None:
    """One depth-first pass with at most ``bound`` preemptions per path.

    With ``reduce``, sleep sets (Godefroid 1996) skip orders of independent
    actions; the state cache then remembers each state's sleep set and prunes a
    revisit only if that set is no larger than the current one.

    For a search spread over processes (``engine.parallel``): the pass may start
    from given ``pending`` branches and a ``visited`` cache kept across calls; with
    ``split``, it stops at the first state with more than one branch to take and
    leaves every branch from there in ``pending``, the path's own continuation last.
    """
    run.stats = stats
    key_of, save, restore, single = snapshot.key, snapshot.save, snapshot.restore, run.single
    if visited is None:
        visited = {}
    visit, fresh = visited.setdefault, [0, _NONE]
    if pending is None:
        pending = [(run.root, [], 0, "", _NONE)]
    # The counts live in locals while the pass runs, and go back into ``stats`` when it
    # ends, however it ends.
    states, steps, schedules, pruned = (stats.states, stats.steps, stats.schedules,
                                         stats.pruned_by_bound)
    try:
        while pending:
            snap, sched_ref, depth, alt, sleep = pending.pop()
            schedule = sched_ref[:depth]
            m = run.m
            restore(m, snap)
            if alt:
                m = _take(run, m, alt)
                steps += 1
                schedule.append(alt)
            schedules += 1
            if not schedules & 0x7FFF:
                run.tidy()
            while True:
                k = key_of(m)
                seen = visit(k, fresh)  # [preemptions, sleep set] when last explored
                if seen is fresh:
                    states += 1  # distinct states; a revisit with a smaller sleep set
                    fresh = [0, _NONE]  # is explored again but not counted
                elif seen[0] <= m.preemptions:
                    if seen[1] <= sleep:
                        break
                    sleep = sleep & seen[1]
                seen[0], seen[1] = m.preemptions, sleep
                enabled = m.enabled()
                if not enabled:
                    verdict = run.verdict(m, k)
                    if verdict is not None and verdict.bad:
                        return Found(schedule, verdict, m.preemptions)
                    break
                if states >= max_states or (deadline and time.monotonic() > deadline):
                    stats.hit_state_limit = True
                    return None
                if len(enabled) == 1 and not sleep:
                    # One thing can happen: nothing to branch on, and it preempts nobody
                    # (a switch preempts only a thread that could still run).
                    first = enabled[0]
                    m = _take(run, m, first)
                    steps += 1
                    schedule.append(first)
                    continue
                costly = _NONE if single else _costly(m, enabled)
                ordered = enabled
                if costly:
                    ordered = [a for a in enabled if a not in costly] + [
                        a for a in enabled if a in costly]
                if sleep:
                    ordered = [a for a in ordered if a not in sleep]
                    if not ordered:
                        break  # every action here is covered by an equivalent order elsewhere
                if len(ordered) > 1 or sleep:
                    if reduce:
                        prints = run.footprints(m, k, (*ordered, *sleep))
                        done, branches = list(sleep), []
                        for i, other in enumerate(ordered):
                            if i > 0:
                                if m.preemptions + (other in costly) <= bound:
                                    if done:
                                        fp = prints[other]
                                        asleep = frozenset([b for b in done
                                                            if independent(prints[b], fp)])
                                    else:
                                        asleep = _NONE
                                    branches.append((other, asleep))
                                else:
                                    pruned += 1
                            done.append(other)
                    else:  # no sleep sets: every later action is a branch, within the bound
                        room = bound - m.preemptions
                        branches = [(other, _NONE) for other in ordered[1:]
                                    if (other in costly) <= room]
                        pruned += len(ordered) - 1 - len(branches)
                    if branches:  # explored in order, after this path
                        snap, depth = save(m, k), len(schedule)
                        pending += [(snap, schedule, depth, other, asleep)
                                    for other, asleep in reversed(branches)]
                        if split:
                            pruned += _continuation(pending, snap, schedule, depth, m,
                                                    ordered[0], costly, bound, sleep,
                                                    prints if reduce else None)
                            return None
                first = ordered[0]
                if first in costly and m.preemptions + 1 > bound:
                    pruned += 1
                    break
                if reduce and sleep:
                    fp = prints[first]
                    sleep = frozenset([b for b in sleep if independent(prints[b], fp)])
                m = _take(run, m, first)
                steps += 1
                schedule.append(first)
    finally:
        stats.states, stats.steps, stats.schedules, stats.pruned_by_bound = (
            states, steps, schedules, pruned)
    return None


def _take(run: _Runner, m: Machine, action: str) -> Machine:
    """Take ``action`` (one ``enabled()`` offers now) on ``m``; the machine to go on
    with: ``m``, or a revived one if a detached thread had to run code its memo has
    not seen."""
    try:
        m.take(action)
    except NeedsLiveThread as miss:
        return run.revive(miss)
    return m


def _continuation(pending: list, snap, schedule: list[str], depth: int, m: Machine, first: str,
                  costly, bound: int, sleep, prints: dict | None) -> int:
    """The path's own next step as a pending branch, as ``_dfs`` would take it; 1 if
    the bound prunes it instead (counted by the caller), else 0."""
    if first in costly and m.preemptions + 1 > bound:
        return 1
    if prints is not None and sleep:
        fp = prints[first]
        sleep = frozenset([b for b in sleep if independent(prints[b], fp)])
    pending.append((snap, schedule, depth, first, sleep))
    return 0


def dfs(factory: Factory, bound: int | None = None, max_states: int = 500_000,
        time_limit: float | None = None, por: bool = True, workers: int = 1) -> ExploreResult:
    """Iterative preemption bounding: bound 0, 1, ... up to ``bound`` (None: until
    the space is exhausted), stopping at the first bad run.

    Partial-order reduction (sleep sets) is used when every CPU runs a single
    thread: then no preemption is ever possible and the reduction is sound for
    the deadlocks and end states the verdicts look at. Otherwise the search is
    plain, so the preemption bound keeps its exact meaning. ``time_limit`` is
    only a guard against a search that would not end: the budget is
    ``max_states``. With ``workers`` > 1 each pass is split over that many
    processes (``engine.parallel``)."""
    _check_dfs_args(bound, max_states)
    start = time.monotonic()
    deadline = start + time_limit if time_limit else None
    with _quiet_gc() as freeze:
        run = _Runner(factory)
        run.freeze = freeze
        return _bounding(run, bound, max_states, start, deadline, por, workers)


def _bounding(run: _Runner, bound: int | None, max_states: int, start: float,
              deadline: float | None, por: bool, workers: int = 1) -> ExploreResult:
    total = Stats()
    reduce = por and run.single
    b = 0
    while True:
        stats = Stats()
        if workers > 1:
            from simulator.engine import parallel

            found = parallel.dfs_pass(run, b, stats, max_states - total.states, deadline,
                                      reduce, workers)
        else:
            found = _dfs(run, b, stats, max_states - total.states, deadline, reduce)
        total.states += stats.states
        total.schedules += stats.schedules
        total.steps += stats.steps
        total.rebuilds += stats.rebuilds
        total.pruned_by_bound = stats.pruned_by_bound
        total.hit_state_limit = stats.hit_state_limit
        done = found is not None or stats.hit_state_limit or stats.pruned_by_bound == 0
        if done or (bound is not None and b >= bound):
            total.memo = run.memo_size()
            exhausted = found is None and not stats.hit_state_limit and stats.pruned_by_bound == 0
            return ExploreResult("dfs", b, exhausted, total, time.monotonic() - start, found,
                                 workers=workers)
        b += 1


def _check_dfs_args(bound: int | None, max_states: int) -> None:
    if bound is not None and bound < 0:
        raise UsageError(f"--bound must be 0 or more, not {bound}")
    if max_states < 1:
        raise UsageError(f"--max-states must be at least 1, not {max_states}")


# ------------------------------------------------------------ random, pct
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
                 time_limit: float | None = None, stop_at_first: bool = True,
                 workers: int = 1) -> ExploreResult:
    """``runs`` seeded random runs; the first bad one is the counterexample."""
    if runs < 1:
        raise UsageError(f"--runs must be at least 1, not {runs}")
    return _walks("random", factory, range(runs), time_limit, stop_at_first,
                  _random_chooser(seed), workers)


def pct(factory: Factory, runs: int = 1000, depth: int = 3, seed: int = 0,
        time_limit: float | None = None, stop_at_first: bool = True,
        workers: int = 1) -> ExploreResult:
    """PCT: per run, random agent priorities and ``depth - 1`` priority change points."""
    if runs < 1 or depth < 1:
        raise UsageError("pct needs runs >= 1 and depth >= 1")
    return _walks("pct", factory, range(runs), time_limit, stop_at_first,
                  _pct_chooser(seed, depth, pct_horizon(factory)), workers)


def pct_horizon(factory: Factory) -> int:
    """PCT's horizon: the length of the run that always takes the first action."""
    m = factory()
    while enabled := m.enabled():
        m.step(enabled[0])
    return max(1, m.steps)


class _random_chooser:  # noqa: N801 - a picklable factory of choosers
    def __init__(self, seed: int):
        self.seed = seed

    def __call__(self, i: int) -> _RandomChooser:
        return _RandomChooser(random.Random(self.seed * 1_000_003 + i))


class _pct_chooser:  # noqa: N801 - a picklable factory of choosers
    def __init__(self, seed: int, depth: int, horizon: int):
        self.seed, self.depth, self.horizon = seed, depth, horizon

    def __call__(self, i: int) -> _PctChooser:
        return _PctChooser(random.Random(self.seed * 1_000_003 + i), self.depth, self.horizon)


def _walks(name: str, factory: Factory, indices, time_limit: float | None,
           stop_at_first: bool, chooser_for: Callable[[int], Callable],
           workers: int = 1) -> ExploreResult:
    """Independent runs from the initial state; every run's verdict is counted, the
    first bad one kept. Run ``i`` is chosen by ``chooser_for(i)`` alone, so runs can
    be shared out among ``workers`` processes and give the same result."""
    start = time.monotonic()
    with _quiet_gc() as freeze:
        run = _Runner(factory)
        run.freeze = freeze
        if workers > 1:
            from simulator.engine import parallel

            result = parallel.walks(run, name, indices, start, time_limit, stop_at_first,
                                    chooser_for, workers)
        else:
            result = _walk_all(run, name, indices, start, time_limit, stop_at_first,
                               chooser_for)
    result.seconds = time.monotonic() - start
    return result


def _walk_one(run: _Runner, choose: Callable) -> tuple[list[str], Verdict, tuple, int]:
    """One run from the initial state: its schedule, verdict, end state and preemptions."""
    m = run.restore(run.root)
    schedule: list[str] = []
    run.stats.schedules += 1
    if not run.stats.schedules & 0x3FFF:
        run.tidy()
    while enabled := m.enabled():
        action = choose(m, enabled)
        m = run.step(action)
        schedule.append(action)
    k = snapshot.key(m)
    return schedule, run.verdict(m, k), k, m.preemptions


def _walk_all(run: _Runner, name: str, indices, start: float, time_limit: float | None,
              stop_at_first: bool, chooser_for: Callable[[int], Callable]) -> ExploreResult:
    stats = run.stats
    result = ExploreResult(name, None, False, stats, 0.0)
    seen: set[tuple] = set()
    for i in indices:
        schedule, verdict, k, preemptions = _walk_one(run, chooser_for(i))
        stats.steps += len(schedule)
        seen.add(k)
        stats.states = len(seen)
        result.verdicts[verdict.kind] = result.verdicts.get(verdict.kind, 0) + 1
        if verdict.bad and result.found is None:
            result.found = Found(schedule, verdict, preemptions)
            if stop_at_first:
                break
        if time_limit and time.monotonic() - start > time_limit:
            break
    stats.memo = run.memo_size()
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


def _lenient(factory: Factory, wish: list[str],
             budget: int) -> tuple[list[str], Verdict | None, int]:
    """Follow ``wish`` where possible (skip actions not enabled), then complete.
    Returns the schedule taken, its verdict (None if ``budget`` steps ran out
    first) and the machine steps spent."""
    m = factory()
    schedule: list[str] = []
    for action in wish:
        if len(schedule) >= budget:
            return schedule, None, len(schedule)
        if action in m.enabled():
            m.step(action)
            schedule.append(action)
    while enabled := m.enabled():
        if len(schedule) >= budget:
            return schedule, None, len(schedule)
        action = _sticky_completion(m, enabled)
        m.step(action)
        schedule.append(action)
    return schedule, m.verdict(), len(schedule)


def switches(schedule: list[str]) -> int:
    """Context switches: adjacent thread actions by different threads."""
    threads = [a for a in schedule if ":" not in a and a != "nudge"]
    return sum(1 for x, y in zip(threads, threads[1:], strict=False) if x != y)


MINIMISE_TRIES = 2000
MINIMISE_STEPS = 1_000_000


def minimise(factory: Factory, schedule: list[str], kind: str,
             max_tries: int = MINIMISE_TRIES, max_steps: int = MINIMISE_STEPS) -> list[str]:
    """Shrink a bad schedule while it keeps ending in ``kind``: drop chunks and
    single actions (needless drains, steps the completion would take anyway).

    Deterministic: the budget is ``max_tries`` replays and ``max_steps`` machine
    steps in all (each replay also stops at the machine's own step budget), never
    time, so the same counterexample comes out on any machine. When the budget
    is spent the best schedule found so far is kept. A run that only ran out of
    steps (``limit``) is left as it is."""
    best = list(schedule)
    if kind == "limit":
        return best
    tries = steps = 0

    def attempt(wish: list[str]) -> bool:
        nonlocal best, tries, steps
        tries += 1
        try:
            got, verdict, spent = _lenient(factory, wish, max_steps - steps)
        except ScheduleError:
            return False
        steps += spent
        better = (len(got), switches(got)) < (len(best), switches(best))
        if verdict is not None and verdict.kind == kind and better:
            best = got
            return True
        return False

    def more() -> bool:
        return tries < max_tries and steps < max_steps

    chunk = max(1, len(best) // 2)
    while chunk >= 1 and more():
        i = 0
        while i < len(best) and more():
            if not attempt(best[:i] + best[i + chunk:]):
                i += chunk
        chunk //= 2
    return best


def explore(factory: Factory, strategy: str = "dfs", *, bound: int | None = None,
            max_states: int = 500_000, runs: int = 1000, seed: int = 0, depth: int = 3,
            time_limit: float | None = None, minimise_found: bool = True,
            por: bool = True, stop_at_first: bool = True,
            engine: str = "memo", workers: int | str = 1) -> ExploreResult:
    """Search ``factory``'s machine with ``strategy``; minimise any bad run found.

    ``engine="replay"`` runs the re-executing explorer instead (the oracle of
    the equivalence tests); the memo engine falls back to it by itself when a
    thread turns out not to be a function of the results it received.

    ``workers`` (a number, or ``"auto"``: the CPUs this process may use) spreads
    the search over processes (``engine.parallel``): random and PCT runs give
    the same runs and counts as in one process; a dfs gives the same verdict,
    with state counts that include what two workers both visited. Inside a
    Jupyter kernel, or where processes cannot be forked, the search stays in
    one process and ``note`` says so."""
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown search strategy {strategy!r} (choose {', '.join(STRATEGIES)})")
    if engine not in ENGINES:
        raise UsageError(f"unknown explorer engine {engine!r} (choose {', '.join(ENGINES)})")
    if type(workers) is int and workers == 1:  # one process: multiprocessing stays unloaded
        why_one = ""
    else:
        from simulator.engine import parallel

        workers, why_one = parallel.resolve_workers(workers)
    result = None
    if engine == "memo":
        try:
            result = _search(factory, strategy, bound, max_states, runs, seed, depth,
                             time_limit, por, stop_at_first, workers)
            result.note = why_one
        except NondeterministicThread as exc:
            note = f"re-executing every branch: {exc}"
    if result is None:
        from simulator.engine import explore_replay

        result = explore_replay.search(factory, strategy, bound, max_states, runs, seed,
                                       depth, time_limit, por, stop_at_first)
        result.engine = "replay"
        if engine == "memo":
            result.note = note
    if result.found is not None and minimise_found:
        before = result.found.schedule
        after = minimise(factory, before, result.found.verdict.kind)
        if len(after) < len(before) or switches(after) < switches(before):
            m = factory()
            m.replay(after)
            result.found = Found(after, m.verdict() or result.found.verdict, m.preemptions)
        result.minimised_from = len(before)
    return result


def _search(factory: Factory, strategy: str, bound, max_states, runs, seed, depth,
            time_limit, por, stop_at_first, workers) -> ExploreResult:
    if strategy == "dfs":
        return dfs(factory, bound, max_states, time_limit, por, workers)
    if strategy == "random":
        return random_walks(factory, runs, seed, time_limit, stop_at_first, workers)
    return pct(factory, runs, depth, seed, time_limit, stop_at_first, workers)
