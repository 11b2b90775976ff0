"""Strategies: who chooses the next action when several are possible.

A strategy has ``choose(machine, actions) -> action`` (or None to stop).
``actions`` is never empty. In timed mode it holds only the actions due at the
same instant, so a strategy — never simpy's event order — breaks ties. The
interactive strategy, where a person picks, is ``simulator.viz.SchedulerGame``.
"""
from __future__ import annotations

import random
from collections.abc import Sequence

from simulator.engine.machine import Machine, ScheduleError
from simulator.errors import UsageError


class RoundRobin:
    """Take turns: the first possible action after the one chosen last."""

    name = "round-robin"

    def __init__(self):
        self._last: str | None = None

    def choose(self, machine: Machine, actions: Sequence[str]) -> str:
        order = [t.name for t in machine.threads]
        if self._last in order:
            i = order.index(self._last)
            rotated = order[i + 1:] + order[: i + 1]
            for name in rotated:
                if name in actions:
                    self._last = name
                    return name
        pick = actions[0]
        if pick in order:
            self._last = pick
        return pick


class SeededRandom:
    """Pick uniformly among the possible actions, from a seeded generator."""

    name = "random"

    def __init__(self, seed: int):
        self.seed = seed
        self._rng = random.Random(seed)

    def choose(self, machine: Machine, actions: Sequence[str]) -> str:
        return actions[self._rng.randrange(len(actions))]


class Replay:
    """Follow a recorded schedule exactly; an action that is not possible is an error.

    With ``then``, a run that outlives the schedule (an untimed schedule replayed
    in timed mode meets the watchdog's timer) is finished by that strategy."""

    name = "replay"

    def __init__(self, schedule: Sequence[str], then=None):
        self.schedule = list(schedule)
        self.position = 0
        self.then = then  # what chooses once the schedule is used up (None: stop)

    def choose(self, machine: Machine, actions: Sequence[str]) -> str | None:
        if self.position >= len(self.schedule):
            return None if self.then is None else self.then.choose(machine, actions)
        action = self.schedule[self.position]
        if action not in actions and action != "nudge":
            raise ScheduleError(
                f"schedule step {self.position}: {action!r} is not enabled "
                f"(enabled: {', '.join(actions)})")
        self.position += 1
        return action

    def nudge_next(self) -> bool:
        """Is the next recorded action the external nudge? (It is taken even when
        nothing else can happen — that is what a nudge is for.)"""
        return self.position < len(self.schedule) and self.schedule[self.position] == "nudge"


NAMES = ("round-robin", "random", "replay")


def make_strategy(name: str, seed: int = 0, schedule: Sequence[str] | None = None):
    """Build a strategy by its CLI name."""
    if name in ("round-robin", "rr"):
        return RoundRobin()
    if name == "random":
        return SeededRandom(seed)
    if name == "replay":
        if schedule is None:
            raise UsageError("the replay strategy needs a schedule")
        return Replay(schedule)
    raise UsageError(f"unknown strategy {name!r} (choose {', '.join(NAMES)})")
