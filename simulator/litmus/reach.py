"""Every final state a small machine can reach: an exhaustive depth-first search.

The search uses the explorer's machinery (``engine.explore``): each branch
restores a snapshot of the machine's data, threads step by their memo, and a
machine is rebuilt only when a thread must run code not seen yet or when an
end state's outcome needs the threads' own Python state (litmus registers).
A state already seen is not explored twice; the threads' received-results
hashes are part of the state, so their registers need not be.

The search is budgeted in states (``max_states``): when the budget is spent it
stops and says so (``exhausted`` stays false), whatever the machine's speed.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from simulator.engine import snapshot
from simulator.engine.explore import _quiet_gc, _Runner
from simulator.engine.machine import Machine
from simulator.engine.verdict import Verdict

Build = Callable[[], tuple[Machine, Any]]


@dataclass
class Reach:
    """What the search found: each final outcome with the first schedule reaching it."""

    outcomes: dict[Hashable, list[str]] = field(default_factory=dict)
    verdicts: Counter = field(default_factory=Counter)
    states: int = 0
    first_bad: tuple[Verdict, list[str]] | None = None
    exhausted: bool = False
    seconds: float = 0.0


def reach_all(build: Build, outcome: Callable[[Machine, Any], Hashable], *,
              stop_at_bad: bool = False, max_states: int = 200_000) -> Reach:
    """Explore every schedule of ``build()``'s machine (depth first) and collect
    ``outcome(machine, ctx)`` at each end. With ``stop_at_bad`` the search ends
    at the first bad verdict (deadlock, violation...). At most ``max_states``
    states are visited; a search stopped there is not ``exhausted``."""
    started = time.perf_counter()

    def factory() -> Machine:
        m, ctx = build()
        m.reach_ctx = ctx
        return m

    with _quiet_gc() as freeze:
        run = _Runner(factory)
        run.freeze = freeze
        found = _search(run, outcome, stop_at_bad, max_states)
    found.seconds = time.perf_counter() - started
    return found


def _search(run: _Runner, outcome, stop_at_bad: bool, max_states: int) -> Reach:
    found = Reach()
    seen: set = set()
    pending: list[tuple] = [(run.root, [], 0, "")]
    while pending:
        snap, sched_ref, depth, alt = pending.pop()
        schedule = sched_ref[:depth]
        m = run.restore(snap)
        if alt:
            m = run.step(alt)
            schedule.append(alt)
        while True:
            k = snapshot.key(m)
            if k in seen:
                break
            seen.add(k)
            found.states += 1
            actions = m.enabled()
            if not actions:
                _finish(found, run, m, schedule, outcome)
                if stop_at_bad and found.first_bad is not None:
                    return found
                break
            if found.states >= max_states:
                return found
            if len(actions) > 1:
                snap, depth = snapshot.save(m, k), len(schedule)
                pending.extend((snap, schedule, depth, a) for a in reversed(actions[1:]))
            m = run.step(actions[0])
            schedule.append(actions[0])
    found.exhausted = True
    return found


def _finish(found: Reach, run: _Runner, m: Machine, schedule: list[str], outcome) -> None:
    """Judge an end state and read its outcome, on live threads (revived if need be)."""
    if not all(t.gen_hist == t.hist for t in m.threads):
        m = run.revive()
    verdict = m.verdict()
    found.verdicts[verdict.kind] += 1
    if verdict.bad and found.first_bad is None:
        found.first_bad = (verdict, list(schedule))
    found.outcomes.setdefault(outcome(m, m.reach_ctx), list(schedule))
