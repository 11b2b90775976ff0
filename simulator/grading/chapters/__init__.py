"""The chapters' grading, one module each, found by name.

``get("ch02_pir")`` is chapter 2's ``Chapter``; ``find("ch02_pir:fix")`` the
check a grade cell asks for, looked up among the chapter's visible checks and
then among the instructor's hidden ones. A new chapter adds its module here,
in course order.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from simulator.errors import UsageError
from simulator.grading.exercise import Chapter, Check
from simulator.grading.instructor import hidden_module

MODULES = ("ch01_virtio", "ch02_pir", "ch03_blockif")  # in course order


def get(name: str) -> Chapter:
    """The chapter called ``name``."""
    if name not in MODULES:
        raise UsageError(f"no exercises for chapter {name!r} (chapters: {', '.join(MODULES)})")
    return importlib.import_module(f"simulator.grading.chapters.{name}").CHAPTER


def all_chapters() -> list[Chapter]:
    return [get(name) for name in MODULES]


def for_scenario(scenario: str) -> Chapter:
    """The chapter whose exercises are about ``scenario``."""
    for chapter in all_chapters():
        if chapter.scenario == scenario:
            return chapter
    known = ", ".join(c.scenario for c in all_chapters())
    raise UsageError(f"no quiz for scenario {scenario!r} (quizzes: {known})")


def split(check_id: object) -> tuple[str, str]:
    """``"ch02_pir:fix"`` -> ``("ch02_pir", "fix")``."""
    if not isinstance(check_id, str) or check_id.count(":") != 1:
        raise UsageError(f"a check is named 'chapter:check', not {check_id!r}")
    chapter, name = check_id.split(":")
    return chapter, name


def find(check_id: str, instructor: Path | str | None) -> tuple[Chapter, Check | None, str]:
    """The chapter and check for ``check_id``; the check is None (with the reason
    why) when it is a hidden check this machine does not have."""
    name, short = split(check_id)
    chapter = get(name)
    if short in chapter.checks:
        return chapter, chapter.checks[short], ""
    hidden = hidden_module(name, instructor)
    if hidden is not None and short in hidden.CHECKS:
        return chapter, hidden.CHECKS[short], ""
    if hidden is None:
        return chapter, None, (f"{check_id} is a hidden check: it runs when the instructor "
                               "grades, not on this machine")
    known = ", ".join([*chapter.checks, *hidden.CHECKS])
    raise UsageError(f"{name} has no check {short!r} (checks: {known})")
