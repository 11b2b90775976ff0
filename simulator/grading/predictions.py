"""Predictions: the form of an answer, and its comparison with the computed one.

A visible check looks at the form of a prediction and at whether its values
agree with each other under the chapter's rules — feedback that does not give
the answer away. The hidden check compares it with the model's answer, key by
key, and names the wrong keys (not their right values).
"""
from __future__ import annotations

from collections.abc import Callable

from simulator.grading.result import CheckResult, failed, passed

# key -> (accepts the value?, what the value should be, in words)
Form = dict[str, tuple[Callable[[object], bool], str]]


def is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_bool(v: object) -> bool:
    return isinstance(v, bool)


def one_of(*choices: str) -> Callable[[object], bool]:
    return lambda v: isinstance(v, str) and v.strip().lower() in choices


def check_form(answer: object, form: Form) -> CheckResult | None:
    """A failed check if ``answer`` is not a dict of the right keys and kinds of value."""
    if not isinstance(answer, dict):
        return failed(f"the answer should be a dict with keys {', '.join(form)}, not "
                      f"{type(answer).__name__}")
    missing = [k for k in form if k not in answer]
    if missing:
        return failed(f"the answer has no {', '.join(map(repr, missing))}")
    extra = [k for k in answer if k not in form]
    if extra:
        return failed(f"the answer has keys nobody asked for: {', '.join(map(repr, extra))}")
    for key, (accepts, words) in form.items():
        if not accepts(answer[key]):
            return failed(f"{key} should be {words}, not {answer[key]!r}")
    return None


def check_consistent(answer: object, form: Form, why_not: Callable[[dict], str | None],
                     agreed: str) -> CheckResult:
    """Part A's visible check: ``answer`` has ``form``, and ``why_not`` (the chapter's
    rules) finds no reason its values cannot go together; ``agreed`` says so."""
    bad = check_form(answer, form)
    if bad is not None:
        return bad
    why = why_not(answer)
    return passed(agreed) if why is None else failed(why)


def compare(answer: object, expected: dict) -> CheckResult:
    """Compare a predicted outcome with the computed one, key by key.

    The reason names the wrong keys, not their right values.
    """
    if not isinstance(answer, dict):
        return failed(f"the answer should be a dict with keys {', '.join(expected)}, not "
                      f"{type(answer).__name__}")
    missing = [k for k in expected if k not in answer]
    if missing:
        return failed(f"the answer has no {', '.join(map(repr, missing))}")
    wrong = [k for k, v in expected.items() if not same(answer[k], v)]
    if wrong:
        right = [k for k in expected if k not in wrong]
        tail = f" ({', '.join(right)} right)" if right else ""
        return failed(f"not right yet: {', '.join(wrong)}{tail}")
    return passed(f"all {len(expected)} predictions are right")


def same(given: object, want: object) -> bool:
    if want is None or isinstance(want, list):  # "nobody", or a set of ids written sorted
        return given == want
    if isinstance(want, str):
        return isinstance(given, str) and given.strip().lower() == want
    if isinstance(want, bool) or isinstance(given, bool):
        return given is want
    return is_int(given) and given == want
