"""Verdicts: what a run came to.

- ``ok``        the run finished and the scenario's property held;
- ``deadlock``  threads are blocked and nothing can ever make progress;
- ``stuck``     nothing can run, but an external nudge (an NMI, a signal,
                another I/O) would knock the system loose — the reports' hangs;
- ``violation`` an assertion of the scenario failed (or model code crashed);
- ``limit``     the step budget ran out (e.g. a livelock that never settles).
"""
from __future__ import annotations

from dataclasses import dataclass, field

OK, DEADLOCK, STUCK, VIOLATION, LIMIT = "ok", "deadlock", "stuck", "violation", "limit"
ALL = (OK, DEADLOCK, STUCK, VIOLATION, LIMIT)
BAD = frozenset({DEADLOCK, STUCK, VIOLATION, LIMIT})


@dataclass(frozen=True)
class Verdict:
    """The verdict of a run, with the reason in words and, for a hang, who waits for what."""

    kind: str
    reason: str = ""
    waits: tuple[str, ...] = field(default=())

    @property
    def bad(self) -> bool:
        return self.kind in BAD

    def to_json(self) -> dict:
        return {"kind": self.kind, "reason": self.reason, "waits": list(self.waits)}

    @classmethod
    def from_json(cls, data: dict) -> Verdict:
        return cls(data["kind"], data.get("reason", ""), tuple(data.get("waits", ())))

    def __str__(self) -> str:
        text = self.kind + (f": {self.reason}" if self.reason else "")
        for w in self.waits:
            text += f"\n    {w}"
        return text
