"""A shorthand for schedules, so a person can write one by hand.

A raw schedule names every action: ``vcpu0``, ``blkio``, ``drain:cpu1``,
``fire:io.req1`` — some sixty to a hundred of them for one run of OS-7613.
The shorthand says the same in a dozen words, separated by spaces or commas:

- ``vcpu0``             one step of thread vcpu0 (any raw action works as itself);
- ``vcpu0*3``           three steps of vcpu0;
- ``vcpu0*``            run vcpu0 until it cannot run (it halts, waits or ends);
- ``blkio>vq_endchains`` run blkio at least one step, then on until its next op
                        belongs to ``vq_endchains`` (it stops just before it);
- ``drain:cpu1*``       drain CPU 1's store buffer until it is empty;
- ``finish``            every thread in turn (round robin) until nothing can run.

Expanding needs the machine, because "until it cannot run" depends on the
state; ``expand`` steps a fresh machine as it reads, so the same words always
give the same raw schedule, which is then replayed strictly like any other.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from simulator import scenarios
from simulator.engine.machine import Machine
from simulator.engine.strategies import RoundRobin
from simulator.errors import UsageError

_TOKEN = re.compile(r"^(?P<name>[A-Za-z_][\w.:\[\]-]*?)"
                    r"(?:\*(?P<count>\d+)?|>(?P<func>[A-Za-z_]\w*))?$")
MAX_REPEAT = 10_000


class ShorthandError(UsageError):
    """A word of the shorthand that does not parse, or cannot be followed now."""


def words(schedule: str | Iterable[str]) -> list[str]:
    """The words of a schedule given as one string or as a list of strings."""
    if isinstance(schedule, str):
        items = [schedule]
    else:
        try:
            items = list(schedule)
        except TypeError:
            raise ShorthandError(f"a schedule is a string or a list of strings, "
                                 f"not {type(schedule).__name__}") from None
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ShorthandError(f"schedule entry {item!r} is not a string")
        out += [w for w in re.split(r"[\s,]+", item) if w]
    return out


def expand(schedule: str | Iterable[str], scenario: str = "virtio-barriers",
           variant="buggy", params: dict | None = None, *,
           memory_model: str | None = None, step_budget: int = 5_000) -> list[str]:
    """The raw schedule that ``schedule`` (shorthand) stands for, on a fresh machine."""
    m = scenarios.get(scenario).machine(variant, params, memory_model=memory_model,
                                        step_budget=step_budget)
    return follow_all(m, schedule)


def follow_all(m: Machine, schedule: str | Iterable[str]) -> list[str]:
    """Follow every word of ``schedule`` on ``m``; return the raw actions taken."""
    raw: list[str] = []
    for word in words(schedule):
        raw += follow(m, word)
    return raw


def follow(m: Machine, word: str) -> list[str]:
    """Take the actions one shorthand word stands for on ``m``; return them."""
    if word == "finish":
        return _finish(m)
    match = _TOKEN.match(word)
    if match is None:
        raise ShorthandError(f"cannot read schedule word {word!r}")
    name, count, func = match["name"], match["count"], match["func"]
    star = "*" in word
    if not star and func is None:
        return [_one(m, name, word)]
    if count is not None:
        return [_one(m, name, word) for _ in range(min(int(count), MAX_REPEAT))]
    if func is not None:
        return _until_func(m, name, func, word)
    return _while_enabled(m, name, word)


def _one(m: Machine, action: str, word: str) -> str:
    enabled = m.enabled()
    if action not in enabled:
        raise ShorthandError(f"{word!r}: {action!r} cannot run now "
                             f"({_why(m, action)}; possible: {', '.join(enabled) or 'nothing'})")
    m.step(action)
    return action


def _while_enabled(m: Machine, action: str, word: str) -> list[str]:
    taken = [_one(m, action, word)]
    while action in m.enabled() and len(taken) < MAX_REPEAT:
        m.step(action)
        taken.append(action)
    return taken


def _until_func(m: Machine, action: str, func: str, word: str) -> list[str]:
    t = m.by_name.get(action)
    if t is None:
        raise ShorthandError(f"{word!r}: '>' follows a thread, and {action!r} is not one")
    taken = [_one(m, action, word)]
    while t.op is not None and t.op[1] != func:
        if action not in m.enabled() or len(taken) >= MAX_REPEAT:
            raise ShorthandError(f"{word!r}: {action} stopped before reaching {func} "
                                 f"({_why(m, action)})")
        m.step(action)
        taken.append(action)
    if t.op is None:
        raise ShorthandError(f"{word!r}: {action} finished without reaching {func}")
    return taken


def _finish(m: Machine) -> list[str]:
    rr, taken = RoundRobin(), []
    while (enabled := m.enabled()) and len(taken) < MAX_REPEAT:
        action = rr.choose(m, enabled)
        m.step(action)
        taken.append(action)
    return taken


def _why(m: Machine, action: str) -> str:
    """Why an action is not possible, in words."""
    if m.verdict() is not None:
        return f"the run is over: {m.verdict().kind}"
    t = m.by_name.get(action)
    if t is not None:
        return f"{action} is {m.snapshot()['threads'][action]}"
    if action.startswith("drain:"):
        return "that store buffer is empty" if action.startswith("drain:cpu") else "no such CPU"
    if action.startswith("fire:"):
        return "no such timer is armed"
    return "no thread, store buffer or timer has that name"
