"""One check on one answer, inside the sandbox: find the check, rebuild the answer, run it.

Every way an answer can go wrong ends here as a failed ``CheckResult`` with a
reason — a rule it breaks, an exception its code raises, a budget it spends.
"""
from __future__ import annotations

from simulator.errors import UsageError
from simulator.grading import chapters
from simulator.grading.exercise import Context
from simulator.grading.rebuild import AnswerError, LoopGuard, build_class
from simulator.grading.result import CheckResult, failed

KINDS = ("class", "data", "refused")


def grade_item(item: object, context: dict, instructor: str | None, session) -> CheckResult:
    """The verdict of one ``{"check": ..., "answer": ...}`` item."""
    try:
        if not isinstance(item, dict):
            raise UsageError(f"an item is a dict, not {type(item).__name__}")
        chapter, check, why = chapters.find(item.get("check"), instructor)
        if check is None:
            return failed(why)
        student = context.get("student") if isinstance(context, dict) else None
        ctx = Context(student if isinstance(student, str) and student else "student")
        answer = rebuild(item.get("answer"), chapter, check, session)
        if isinstance(answer, CheckResult):
            return answer
        return check.run(answer, ctx)
    except (AnswerError, UsageError) as exc:
        return failed(str(exc))
    except MemoryError:
        return failed("the grader stopped the check: it needed more memory than the sandbox "
                      "allows (does some code build ever larger lists?)")
    except RecursionError:
        return failed("the answer's code recursed too deeply")
    except Exception as exc:  # the answer's code raised (outside a simulated thread)
        text = f": {exc}" if str(exc) else ""
        return failed(f"the answer's code raised {type(exc).__name__}{text}")
    except BaseException as exc:  # SystemExit, KeyboardInterrupt, GeneratorExit from an answer
        return failed(f"the answer's code raised {type(exc).__name__}")


def rebuild(answer: object, chapter, check, session):
    """The answer as the check takes it: data, a class built from source, or a refusal."""
    if not isinstance(answer, dict) or answer.get("kind") not in KINDS:
        return failed("no answer was sent with this check")
    kind = answer["kind"]
    if kind == "refused":
        return failed(str(answer.get("reason", "the answer was refused")))
    spec = check.answer
    if kind == "data":
        if spec is not None:
            return failed(f"this check wants a class derived from {spec.base.__name__}, "
                          f"not {describe(answer.get('value'))}")
        return answer.get("value")
    if spec is None:
        return failed(f"this check wants plain data, not the class {answer.get('name')}")
    guard = LoopGuard(session.stop)
    return build_class(answer.get("source", ""), spec, chapter.namespace(), guard,
                       session.printer)


def describe(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"
