"""Grading the exercises: checks that answer with a verdict and a reason.

Chapter 1 (OS-7613): ``checks`` holds what grade cells call (predict, find the
schedule, fix it), ``hidden`` the checks the student's copy leaves out and
``predict`` the seeded questions. Chapter 2 (OS-6829): ``pir`` and
``hidden_pir``. Shared: ``schedules`` (the schedule shorthand), ``budget``
(the wall-clock limit around student code) and ``generate``, which turns
``solutions/`` into ``exercises/`` with nbgrader's preprocessors.

Time budgets: the checks of one grade cell add up to less than the 30 s that
nbgrader gives a cell by default (the explorer-backed fix check 12 s, each
hidden check 4–6 s), so even a slow answer fails with a reason, not a timeout.
"""
