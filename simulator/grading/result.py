"""What a check answers: passed or not, and why — and the guard around student code."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.errors import UsageError
from simulator.grading.budget import OutOfTime, time_limit


@dataclass(frozen=True)
class CheckResult:
    """A check's verdict: passed or not, and why, in one readable line or two.

    ``trace`` holds a run worth looking at (a counterexample), when there is one.
    """

    passed: bool
    reason: str
    trace: object = field(default=None, compare=False, repr=False)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return ("passed: " if self.passed else "failed: ") + self.reason


def require(result: CheckResult) -> CheckResult:
    """Turn a failed check into an ``AssertionError`` carrying its reason."""
    if not isinstance(result, CheckResult):
        raise AssertionError(f"expected a CheckResult, got {type(result).__name__}")
    if not result.passed:
        raise AssertionError(result.reason)
    return result


def guarded(what: str, seconds: float, body: Callable[[], CheckResult]) -> CheckResult:
    """Run ``body`` within ``seconds``; any failure of student code is a failed check."""
    try:
        with time_limit(seconds):
            return body()
    except OutOfTime:
        return CheckResult(False, f"{what}: gave up after {seconds:g} s — does some code "
                                  "loop forever without yielding an op?")
    except UsageError as exc:
        return CheckResult(False, f"{what}: {exc}")
    except RecursionError:
        return CheckResult(False, f"{what}: the code recursed too deeply")
    except Exception as exc:  # student code raised: a failed check, not a crash
        return CheckResult(False, f"{what}: {type(exc).__name__}: {exc}")
