"""What a check answers: passed or not, and why, as plain data.

A verdict is made in the grading sandbox (a separate process) and travels
back as JSON; ``CheckResult`` is that JSON with a truth value, so a grade
cell can say ``assert result, result.reason``. Nothing in it refers back to
the code that made it: patching classes in the notebook's kernel changes
what the kernel prints, never what the autograder records (it checks every
answer again, outside the kernel: ``simulator.grading.nbgrader_plugin``).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CheckResult:
    """A check's verdict: passed or not, and why, in one readable line or two.

    ``check`` names the check (``"ch01_virtio:fix"``); ``output`` is what the
    answer's own code printed while it was checked (cut short if long);
    ``trace_json`` holds a run worth looking at (a counterexample), if any.
    """

    passed: bool
    reason: str
    check: str = ""
    output: str = ""
    trace_json: dict | None = field(default=None, compare=False, repr=False)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return ("passed: " if self.passed else "failed: ") + self.reason

    @property
    def trace(self):
        """The counterexample as a ``Trace`` (for ``timeline``, ``Stepper``), or None."""
        if self.trace_json is None:
            return None
        from simulator.engine.trace import Trace

        return Trace.from_json(self.trace_json)

    def to_json(self) -> dict:
        out = {"check": self.check, "passed": self.passed, "reason": self.reason}
        if self.output:
            out["output"] = self.output
        if self.trace_json is not None:
            out["trace"] = self.trace_json
        return out

    @classmethod
    def from_json(cls, data: object) -> CheckResult:
        """A result from the sandbox's JSON; anything malformed is a failed check."""
        if not isinstance(data, dict) or not isinstance(data.get("passed"), bool):
            return cls(False, f"the grader's answer could not be read: {str(data)[:200]}")
        trace = data.get("trace")
        return cls(data["passed"], str(data.get("reason", "")), str(data.get("check", "")),
                   str(data.get("output", "")), trace if isinstance(trace, dict) else None)


def passed(reason: str, trace=None) -> CheckResult:
    return CheckResult(True, reason, trace_json=_trace_json(trace))


def failed(reason: str, trace=None) -> CheckResult:
    return CheckResult(False, reason, trace_json=_trace_json(trace))


def _trace_json(trace) -> dict | None:
    if trace is None or isinstance(trace, dict):
        return trace
    return trace.to_json()


def require(result: CheckResult) -> CheckResult:
    """Turn a failed check into an ``AssertionError`` carrying its reason."""
    if not isinstance(result, CheckResult):
        raise AssertionError(f"expected a CheckResult, got {type(result).__name__}")
    if not result.passed:
        raise AssertionError(result.reason)
    return result
