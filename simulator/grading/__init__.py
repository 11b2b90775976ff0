"""Grading the exercises: checks that answer with a verdict and a reason.

``checks`` holds what grade cells call (predict, find the schedule, fix it),
``hidden`` the checks the student's copy leaves out, ``schedules`` the
schedule shorthand, ``predict`` the seeded questions, and ``generate`` turns
``solutions/`` into ``exercises/`` with nbgrader's preprocessors.
"""
