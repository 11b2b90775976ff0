"""``python -m simulator.grading generate | course DIR | student-copy DIR``.

- ``generate [--check]``: write ``exercises/`` from ``solutions/``;
- ``course DIR``: an nbgrader course directory, ready to release and autograde;
- ``student-copy DIR``: the repository without solutions and hidden checks.

Bad input is one line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simulator.errors import UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # noqa: D401 - argparse hook
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m simulator.grading", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    gen = sub.add_parser("generate", help="write exercises/*.ipynb from solutions/*.ipynb")
    gen.add_argument("--check", action="store_true",
                     help="write nothing; exit 1 if exercises/ is out of date")
    course = sub.add_parser("course", help="set up an nbgrader course from solutions/")
    course.add_argument("dir", type=Path)
    course.add_argument("--course-id", default="hypervisor-races")
    course.add_argument("--force", action="store_true", help="write into a non-empty DIR")
    copy = sub.add_parser("student-copy",
                          help="copy the repository without solutions and hidden checks")
    copy.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    try:
        return {"generate": _generate, "course": _course, "student-copy": _copy}[
            args.command](args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _generate(args) -> int:
    from simulator.grading.generate import EXERCISES, ROOT, generate, stale

    if args.check:
        out = stale()
        for path in out:
            print(f"out of date: {path.relative_to(ROOT)}", file=sys.stderr)
        if out:
            print("run: python -m simulator.grading generate", file=sys.stderr)
        return 1 if out else 0
    for path in generate():
        print(f"wrote {path.relative_to(ROOT)}")
    if not any(EXERCISES.glob("*.ipynb")):
        print("no solutions/*.ipynb to generate from", file=sys.stderr)
    return 0


def _course(args) -> int:
    from simulator.grading.course import make_course

    made = make_course(args.dir, args.course_id, args.force)
    root = args.dir.resolve()
    print(f"course {args.course_id} in {root}: assignments {', '.join(made)}")
    print("next (see course/Instructors.md): cd there, then nbgrader release_assignment "
          "NAME; nbgrader collect NAME; nbgrader autograde NAME; nbgrader generate_feedback "
          "NAME")
    return 0


def _copy(args) -> int:
    from simulator.grading.copies import INSTRUCTOR_ONLY, student_copy

    copied = student_copy(args.dir)
    print(f"copied {len(copied)} files to {args.dir.resolve()}; left out: "
          f"{', '.join(INSTRUCTOR_ONLY)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
