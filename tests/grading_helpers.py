"""Helpers for the grading tests: run a check on an answer the way a grade cell does."""
from __future__ import annotations

import textwrap

import pytest

from simulator.grading.client import run_request
from simulator.grading.instructor import instructor_dir
from simulator.grading.result import CheckResult

needs_instructor = pytest.mark.skipif(
    instructor_dir() is None, reason="the instructor's hidden checks (solutions/grading) are "
                                     "not in this copy")


def class_answer(source: str, name: str | None = None) -> dict:
    source = textwrap.dedent(source).strip() + "\n"
    if name is None:
        name = source.split("class ", 1)[1].split("(", 1)[0].split(":", 1)[0].strip()
    return {"kind": "class", "name": name, "source": source}


def data_answer(value) -> dict:
    return {"kind": "data", "value": value}


def grade(check_id: str, answer: dict, student: str = "alice", **kwargs) -> CheckResult:
    """The verdict of one check on one answer, from a fresh sandbox process."""
    return run_request([{"check": check_id, "answer": answer}], {"student": student},
                       **kwargs)[0]


def grade_all(check_ids: list[str], answer: dict, student: str = "alice") -> list[CheckResult]:
    """Several checks on one answer in one sandbox, up to the first that fails."""
    return run_request([{"check": c, "answer": answer} for c in check_ids],
                       {"student": student})
