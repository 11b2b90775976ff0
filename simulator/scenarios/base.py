"""What every scenario declares, and how its parameters are checked.

A scenario is one real bug made small: a few actors (threads), the shared
state they race on, a buggy and a fixed variant that differ by one small
hook, the property that says what "working" means, and the nudge that knocks
a stuck run loose.
"""
from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

from simulator.engine.clock import duration
from simulator.engine.machine import Machine
from simulator.errors import UsageError


@dataclass(frozen=True)
class Param:
    """A scenario parameter: its name, default, meaning and what values are possible."""

    name: str
    default: int | str
    help: str
    choices: tuple | None = None
    low: int | None = None
    high: int | None = None
    check: Callable[[int], str | None] | None = None  # returns a complaint or None
    hex: bool = False  # shown in hex (vectors, priorities)
    duration: bool = False  # nanoseconds, shown in the largest unit that fits (35 s)

    def show(self, value: int | str) -> str:
        if isinstance(value, int) and self.hex:
            return f"{value:#04x}"
        if isinstance(value, int) and self.duration:
            return duration(value)
        return str(value)

    def parse(self, value: object) -> int | str:
        """Turn a given value (a CLI string or a Python value) into a checked one."""
        if isinstance(self.default, int):
            try:  # 2.7 or True is never silently taken as 2 or 1
                if isinstance(value, bool):
                    raise TypeError
                value = int(value, 0) if isinstance(value, str) else operator.index(value)
            except (TypeError, ValueError):
                raise UsageError(f"parameter {self.name}: {str(value)[:40]!r} is not an "
                                 "integer") from None
        else:
            value = str(value)
        if self.choices is not None and value not in self.choices:
            choices = ", ".join(map(str, self.choices))
            raise UsageError(f"parameter {self.name}: {value!r} is not one of {choices}")
        if self.low is not None and value < self.low:
            raise UsageError(f"parameter {self.name}: {value} is below the minimum {self.low}")
        if self.high is not None and value > self.high:
            raise UsageError(f"parameter {self.name}: {value} is above the maximum {self.high}")
        if self.check is not None:
            complaint = self.check(value)
            if complaint:
                raise UsageError(f"parameter {self.name}: {complaint}")
        return value


class Scenario:
    """Base class: subclasses fill in the class attributes and ``build``."""

    name: str = ""
    report: str = ""
    title: str = ""
    summary: str = ""
    actors: tuple[str, ...] = ()
    variants: dict[str, str] = {}
    params: tuple[Param, ...] = ()
    property_text: str = ""
    nudge_text: str = ""
    memory_model: str = "tso"
    costs: dict[str, int] = {}
    labels: dict[str, str] = {}  # step labels the narrative uses: func -> plain words
    # The functions whose last step in a stuck or deadlocked run is the decisive
    # one (the pictures mark it); empty: let the pictures' heuristic choose.
    fatal_funcs: tuple[str, ...] = ()

    def resolve(self, given: dict | None = None) -> dict:
        """All parameters, defaults filled in, each checked; unknown names are errors."""
        given = dict(given or {})
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise UsageError(f"scenario {self.name} has no parameter {unknown[0]!r} "
                             f"(parameters: {', '.join(known) or 'none'})")
        return {p.name: p.parse(given.get(p.name, p.default)) for p in self.params}

    def variant_name(self, variant) -> str:
        if isinstance(variant, str):
            if variant not in self.variants:
                raise UsageError(f"scenario {self.name} has no variant {variant!r} "
                                 f"(variants: {', '.join(self.variants)})")
            return variant
        own = vars(variant).get("variant_name") if isinstance(variant, type) else None
        return own or getattr(variant, "__name__", "custom")  # a student's class: its name

    def variant_class(self, variant, table: dict, base: type):
        """The class for ``variant``: a registered name, or a subclass of ``base``."""
        if isinstance(variant, str):
            return table[variant]
        if not (isinstance(variant, type) and issubclass(variant, base)):
            raise UsageError(f"a {self.name} variant must be one of {', '.join(table)} or a "
                             f"subclass of {base.__name__}, not {variant!r}")
        return variant

    def machine(self, variant="buggy", params: dict | None = None, *,
                memory_model: str | None = None, tracing: bool = False,
                timed: bool = False, step_budget: int = 20_000) -> Machine:
        """A fresh Machine holding this scenario in its initial state."""
        self.variant_name(variant)
        return self.build(variant, self.resolve(params), memory_model or self.memory_model,
                          tracing=tracing, timed=timed, step_budget=step_budget)

    def build(self, variant, params: dict, memory_model: str, *, tracing: bool,
              timed: bool, step_budget: int) -> Machine:
        raise NotImplementedError

    def describe(self) -> dict:
        """The scenario as ``list --json`` shows it."""
        return {
            "name": self.name, "report": self.report, "title": self.title,
            "summary": self.summary, "actors": list(self.actors),
            "variants": dict(self.variants), "property": self.property_text,
            "nudge": self.nudge_text, "memory_model": self.memory_model,
            "params": [{"name": p.name, "default": p.default, "help": p.help,
                        "shown": p.show(p.default),
                        **({"choices": list(p.choices)} if p.choices else {}),
                        **({"min": p.low} if p.low is not None else {}),
                        **({"max": p.high} if p.high is not None else {})}
                       for p in self.params],
        }
