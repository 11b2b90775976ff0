"""Traces: a run written down, in JSON (format 1).

The ``schedule`` — the list of actions taken — is the only ground truth:
replaying it re-creates every step. ``steps`` are derived from it, one record
per action: ``{i, t_ns, thread, cpu, func, op, detail, result, diff}``.
``pretty()`` prints them like the dtrace lines in the bug reports::

    t_ns  thread  cpuN  func(detail) = result
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from simulator.engine.verdict import ALL, Verdict
from simulator.errors import UsageError

FORMAT = 1
_REQUIRED = ("format", "scenario", "variant", "params", "memory_model", "schedule")


@dataclass
class Trace:
    """One run of a scenario: what was chosen, what happened, how it ended."""

    scenario: str
    variant: str
    params: dict
    memory_model: str
    mode: str
    strategy: str
    seed: int | None
    schedule: list[str]
    verdict: Verdict
    steps: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "format": FORMAT, "scenario": self.scenario, "variant": self.variant,
            "params": self.params, "memory_model": self.memory_model, "mode": self.mode,
            "strategy": self.strategy, "seed": self.seed, "schedule": self.schedule,
            "verdict": self.verdict.kind, "reason": self.verdict.reason,
            "waits": list(self.verdict.waits), "steps": self.steps,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.dumps() + "\n")

    @classmethod
    def from_json(cls, data: object) -> Trace:
        """Read a trace, checking its shape; a malformed one is a one-line UsageError."""
        if not isinstance(data, dict):
            raise UsageError("trace: expected a JSON object")
        missing = [k for k in _REQUIRED if k not in data]
        if missing:
            raise UsageError(f"trace: missing field(s) {', '.join(missing)}")
        if data["format"] != FORMAT:
            raise UsageError(f"trace: format {data['format']!r} is not supported (want {FORMAT})")
        sched = data["schedule"]
        if not isinstance(sched, list) or not all(isinstance(a, str) for a in sched):
            raise UsageError("trace: 'schedule' must be a list of action strings")
        if not isinstance(data["params"], dict):
            raise UsageError("trace: 'params' must be an object")
        kind = data.get("verdict", "ok")
        if kind not in ALL:
            raise UsageError(f"trace: unknown verdict {kind!r}")
        return cls(
            scenario=str(data["scenario"]), variant=str(data["variant"]),
            params=data["params"], memory_model=str(data["memory_model"]),
            mode=str(data.get("mode", "untimed")), strategy=str(data.get("strategy", "replay")),
            seed=data.get("seed"), schedule=sched,
            verdict=Verdict(kind, str(data.get("reason", "")), tuple(data.get("waits", ()))),
            steps=list(data.get("steps", [])),
        )

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise UsageError(f"cannot read trace {path}: {exc.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"trace {path} is not valid JSON (line {exc.lineno}: "
                             f"{exc.msg})") from None
        return cls.from_json(data)

    def header(self) -> str:
        params = " ".join(f"{k}={v}" for k, v in self.params.items())
        return (f"# {self.scenario} variant={self.variant} {params} memory={self.memory_model} "
                f"mode={self.mode} strategy={self.strategy} seed={self.seed}")

    def pretty(self) -> str:
        """The steps as dtrace-style lines, the parameters first and the verdict last."""
        lines = [self.header()]
        lines += [format_step(s, timed=self.mode == "timed") for s in self.steps]
        lines.append(f"# verdict: {self.verdict}")
        return "\n".join(lines)


def format_step(s: dict, timed: bool = True) -> str:
    """One step as ``t_ns thread cpuN func:op(detail) = result``; without the
    time column when ``timed`` is false (an untimed run has no clock)."""
    res = "" if s.get("result") is None else f" = {s['result']}"
    cpu = f"cpu{s['cpu']}" if s.get("cpu", -1) >= 0 else "-"
    head = f"{s.get('t_ns', 0):>12} " if timed else ""
    return f"{head}{s['thread']:<9} {cpu:<5} {s['func']}:{s['op']}({s['detail']}){res}"
