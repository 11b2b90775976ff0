"""What every real-machine experiment returns: the claim, what was seen, and whether they agree."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ExperimentResult:
    """One run of an experiment on this machine.

    ``expected`` is what the course claims, in words; ``observed`` holds the
    counts or states actually seen; ``agrees`` says whether they match.
    """

    experiment: str
    expected: str
    observed: dict[str, Any]
    agrees: bool
    params: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def summary(self) -> str:
        verdict = "agrees" if self.agrees else "DISAGREES"
        return f"{self.experiment}: {verdict} with the course's claim"
