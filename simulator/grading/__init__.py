"""Grading the exercises: checks out of the student's reach, budgets in states and steps.

How a grade cell is checked
===========================
A grade cell calls ``check("<chapter>:<check>", answer)``::

    from simulator.grading import check
    result = check("ch02_pir:fix", FixedPIR)
    assert result, result.reason

``check`` (``client``) turns the answer into data — a class into its source
text (``answers``), a prediction or a schedule into JSON — and hands it to a
fresh ``python -I -m simulator.grading.sandbox`` process. There the answer is
rebuilt under ``rebuild``'s rules (one class from the exercise's base class,
no imports, no dunders, loops counted) and checked; the verdict comes back
as a plain ``CheckResult``. Under ``nbgrader autograde`` configured by
``python -m simulator.grading course``, the kernel only records the answer and
``nbgrader_plugin.Recheck`` checks it again from the submitted notebook's
text, outside the student's kernel: that verdict is the grade.

Budgets are counted: explorer states and preemptions, machine steps, loop
iterations between two ops (``rebuild.MAX_ITERATIONS``). CPU time and the
wall clock are only hang guards, ten times a check's measured cost, and say
that the grader timed out.

One home per chapter (the shape chapters 3-5 follow)
====================================================
- ``simulator/grading/chapters/chNN_<short>.py`` — the visible side, shipped
  to students: a ``CHAPTER = Chapter(...)`` (``exercise``) naming the
  scenario and notebook, ``namespace()`` (the names an answer may use: what
  the exercise notebook's first cell imports), ``question(seed)`` (the seeded
  predict question; ``python -m simulator quiz SCENARIO --seed N [-c]``) and
  ``checks``: ``{"predict": Check(run, cost_s=...), "fix": Check(run,
  ClassAnswer(Base, hooks), cost_s=...)}``. A check is ``run(answer,
  Context) -> CheckResult``; class answers arrive already rebuilt.
- ``solutions/grading/chNN_<short>.py`` — the hidden side, instructor only
  (``instructor``): ``CHECKS = {"predict-key": Check(...), ...}``, the same
  shape, holding the answer keys. Grade cells call them between nbgrader's
  ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` markers.
- ``chapters/__init__.py`` lists the chapter modules (``MODULES``), in course
  order; ``find("chNN_<short>:<check>")`` looks a check up, visible first.
- ``solutions/NN-Title.ipynb`` is the exercise notebook, written with
  nbgrader's markers; ``python -m simulator.grading generate`` writes
  ``exercises/`` from it.

Shared pieces: ``fixes.FixExercise`` (a fix explored within a state budget,
the buggy code's counterexample found afresh), ``replay.check_schedule``
(a schedule replayed strictly), ``predictions`` (form and key comparison),
``schedules`` (the schedule shorthand).

Commands (``python -m simulator.grading``): ``generate`` (exercises from
solutions), ``course DIR`` (an nbgrader course, ready to grade), ``student-copy
DIR`` (the repository without solutions and hidden checks).
"""
from simulator.grading.client import check, student_id
from simulator.grading.result import CheckResult, require

__all__ = ["check", "student_id", "my_question", "CheckResult", "require"]


def my_question(chapter: str):
    """This student's graded predict question for ``chapter`` (e.g. ``"ch01_virtio"``)."""
    from simulator.grading import chapters
    from simulator.grading.exercise import graded_seed

    return chapters.get(chapter).question(graded_seed(student_id(), chapter))
