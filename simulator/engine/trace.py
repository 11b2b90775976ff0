"""Traces: a run written down, in JSON (format 1).

The ``schedule`` — the list of actions taken — is the only ground truth:
replaying it re-creates every step. ``steps`` are derived from it, one record
per action: ``{i, t_ns, thread, cpu, func, op, detail, result, diff}``.
``pretty()`` prints them like the dtrace lines in the bug reports::

    t_ns  thread  cpuN  func(detail) = result
"""
from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from simulator import inputs
from simulator.engine import trace_schema
from simulator.engine.trace_schema import FORMAT
from simulator.engine.verdict import Verdict
from simulator.errors import UsageError

MAX_BYTES = 64 << 20  # a full step budget (20,000 steps) is about 6 MB as saved


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
        """Write the trace as JSON to ``path``; a path that cannot be written is a
        one-line UsageError (a directory, no such folder, no permission, a full disk)."""
        write_text(path, self.dumps() + "\n", "trace")

    @classmethod
    def from_json(cls, data: object, where: str = "trace") -> Trace:
        """Read a trace, checking its shape (``trace_schema``); a malformed one is a
        one-line UsageError."""
        trace_schema.check(data, where)
        return cls(
            scenario=data["scenario"], variant=data["variant"], params=data["params"],
            memory_model=data["memory_model"], mode=data.get("mode", "untimed"),
            strategy=data.get("strategy", "replay"), seed=data.get("seed"),
            schedule=data["schedule"],
            verdict=Verdict(data.get("verdict", "ok"), data.get("reason", ""),
                            tuple(data.get("waits", ()))),
            steps=data.get("steps", []),
        )

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        """Read a trace file: a regular file of at most ``MAX_BYTES``, UTF-8, strict JSON
        (``simulator.inputs``), of the trace format (``trace_schema``)."""
        data = inputs.load_json(path, "trace", MAX_BYTES)
        return cls.from_json(data, f"trace {os.fspath(path)}")

    def header(self, params: str | None = None) -> str:
        """The run's parameters as a ``#`` line; ``params`` replaces the raw
        ``k=v`` list (a picture writes a duration as ``35 s``)."""
        if params is None:
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


def write_text(path: str | Path, text: str, what: str) -> None:
    """Write ``text`` to the file ``path``; any failure is a one-line UsageError.

    Opened non-blocking, so a FIFO nobody reads is refused instead of hanging."""
    name = os.fspath(path)
    if not name:
        raise UsageError(f"cannot write {what}: the file name is empty")
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK | os.O_CLOEXEC,
                     0o666)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
            f.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {what} {name}: {exc.strerror or exc}") from None
    except ValueError:  # a NUL byte in the name
        raise UsageError(f"cannot write {what} {name!r}: not a valid file name") from None
