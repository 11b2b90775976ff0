"""Every final state a small machine can reach: exhaustive search by re-execution.

A thread is a Python generator, which cannot be copied, so a state is reached
again by building a fresh machine and replaying the schedule that led to it.
The search walks one schedule forward in place and rebuilds only where it
branches; a state already seen (the machine's ``key()`` plus whatever the
caller adds, such as litmus registers) is not explored twice. Litmus tests and
the benchmark models are tiny, so this is plenty.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

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


def _replay(build: Build, schedule: list[str]) -> tuple[Machine, Any]:
    m, ctx = build()
    for action in schedule:
        m.step(action)
    return m, ctx


def reach_all(build: Build, outcome: Callable[[Machine, Any], Hashable], *,
              extra_key: Callable[[Any], Hashable] | None = None,
              stop_at_bad: bool = False, max_states: int = 200_000) -> Reach:
    """Explore every schedule of ``build()``'s machine (depth first) and collect
    ``outcome(machine, ctx)`` at each end. With ``stop_at_bad`` the search ends
    at the first bad verdict (deadlock, violation...)."""
    started = time.perf_counter()
    found = Reach()
    seen: set = set()
    pending: list[list[str]] = [[]]
    while pending:
        schedule = pending.pop()
        m, ctx = _replay(build, schedule)
        while True:
            key = (m.key(), extra_key(ctx) if extra_key else None)
            if key in seen:
                break
            seen.add(key)
            found.states += 1
            actions = m.enabled()
            if not actions:
                _finish(found, m, ctx, schedule, outcome)
                if stop_at_bad and found.first_bad is not None:
                    found.seconds = time.perf_counter() - started
                    return found
                break
            if found.states >= max_states:
                found.seconds = time.perf_counter() - started
                return found
            for action in reversed(actions[1:]):
                pending.append(schedule + [action])
            m.step(actions[0])
            schedule = schedule + [actions[0]]
    found.exhausted = True
    found.seconds = time.perf_counter() - started
    return found


def _finish(found: Reach, m: Machine, ctx: Any, schedule: list[str], outcome) -> None:
    verdict = m.verdict()
    found.verdicts[verdict.kind] += 1
    if verdict.bad and found.first_bad is None:
        found.first_bad = (verdict, list(schedule))
    found.outcomes.setdefault(outcome(m, ctx), list(schedule))
