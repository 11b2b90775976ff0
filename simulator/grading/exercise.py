"""The shape every chapter's grading takes: a chapter, its checks, and what an answer is.

A ``Chapter`` names its scenario and notebook, the names an answer may use
(what the exercise notebook's first cell imports), its seeded predict
question, and its visible ``Check``s by short name. Hidden checks have the
same shape and live outside the package (``simulator.grading.instructor``).
A grade cell asks for a check as ``"<chapter>:<name>"``, e.g.
``check("ch02_pir:fix", FixedPIR)``.

A check receives the answer already rebuilt in the sandbox — plain data, or a
class made from the answer's source text — and a ``Context`` (the student,
hence the seeded question); it returns a ``CheckResult``. Its budgets are
counted in states and steps. ``cost_s`` is what it costs on the slow
reference machine (``bench/bench_grading.py``); the sandbox's hang guards are
ten times that, so they only ever stop an answer that never finishes.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.grading.result import CheckResult

# Seeds below GRADED_FROM are for practice (``python -m simulator quiz``,
# answers with ``-c``); each student's graded question has a seed at or above
# it, which ``quiz -c`` refuses to answer.
GRADED_FROM = 1_000_000
GRADED_SPAN = 9_000_000
HANG_GUARD_FACTOR = 10
MIN_GUARD_S = 60.0


@dataclass(frozen=True)
class ClassAnswer:
    """An answer that is a class: derived from ``base`` (by its name in the
    notebook), defining at least one of ``hooks`` itself, never using the
    ``ops`` constructors in ``forbid`` (the reason says why)."""

    base: type
    hooks: tuple[str, ...]
    forbid: tuple[str, ...] = ()
    why_forbidden: str = ""


@dataclass(frozen=True)
class Context:
    """Who is being graded: the student id decides the seeded question."""

    student: str = "student"

    def seed(self, chapter: str) -> int:
        """The student's graded seed for ``chapter`` (at or above GRADED_FROM)."""
        return graded_seed(self.student, chapter)


def graded_seed(student: str, chapter: str) -> int:
    """A stable seed per student and chapter, in the graded range."""
    digest = hashlib.blake2b(f"{chapter}/{student}".encode(), digest_size=8).digest()
    return GRADED_FROM + int.from_bytes(digest, "big") % GRADED_SPAN


def is_graded(seed: int) -> bool:
    return seed >= GRADED_FROM


@dataclass(frozen=True)
class Check:
    """One check a grade cell can ask for by name."""

    run: Callable[[object, Context], CheckResult]
    answer: ClassAnswer | None = None  # None: the answer is plain data
    cost_s: float = 1.0  # CPU seconds on the slow reference machine

    @property
    def guard_s(self) -> float:
        """The CPU-time hang guard: ten times the measured cost, at least a minute."""
        return max(MIN_GUARD_S, HANG_GUARD_FACTOR * self.cost_s)


@dataclass(frozen=True)
class Chapter:
    """One chapter's exercises, as the grader sees them."""

    name: str  # "ch01_virtio": the module name, and the prefix of its check ids
    scenario: str  # "virtio-barriers"
    notebook: str  # "01-Virtio-Barriers" (solutions/ and exercises/)
    namespace: Callable[[], dict]  # the names an answer may use
    question: Callable[[int], object]  # seed -> the predict question (str(q), q.answer())
    checks: dict[str, Check] = field(default_factory=dict)
