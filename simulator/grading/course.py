"""``python -m simulator.grading course DIR``: an nbgrader course, ready to release and grade.

The directory gets what nbgrader expects — ``nbgrader_config.py``, one
assignment per chapter under ``source/`` (the solution notebooks, hidden tests
included), ``release/`` generated — and ``grading/``, a copy of the
instructor's hidden checks. The configuration puts this course's two
preprocessors in nbgrader's autograde chain (``nbgrader_plugin``), so answers
are checked outside the students' kernels. Keep the directory private: it
holds the solutions.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from simulator.errors import UsageError
from simulator.grading import chapters
from simulator.grading.generate import SOLUTIONS
from simulator.grading.instructor import instructor_dir

COURSE_ID = "hypervisor-races"
CELL_TIMEOUT_S = 120  # a hang guard for one notebook cell; answers are checked in Recheck
AUTOGRADE_CHAIN = (
    "simulator.grading.nbgrader_plugin.RobustExecute",
    "simulator.grading.nbgrader_plugin.Recheck",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
)


def config_text(root: Path, course_id: str, hidden: Path) -> str:
    chain = "".join(f"    {name!r},\n" for name in AUTOGRADE_CHAIN)
    return (f"# Written by `python -m simulator.grading course`.\n"
            f"c = get_config()  # noqa: F821\n"
            f"c.CourseDirectory.root = {str(root)!r}\n"
            f"c.CourseDirectory.course_id = {course_id!r}\n"
            f"# Answers are checked again outside the students' kernels (Recheck);\n"
            f"# a kernel that will not stop is restarted, not fatal (RobustExecute).\n"
            f"c.Autograde.autograde_preprocessors = [\n{chain}]\n"
            f"c.Recheck.instructor = {str(hidden)!r}\n"
            f"c.Recheck.workers = {min(2, os.cpu_count() or 1)}\n"
            f"c.Execute.timeout = {CELL_TIMEOUT_S}\n")


def assignments() -> dict[str, Path]:
    """Assignment id -> solution notebook, one per chapter with exercises."""
    out = {}
    for chapter in chapters.all_chapters():
        path = SOLUTIONS / f"{chapter.notebook}.ipynb"
        if path.is_file():
            out[chapter.name] = path
    return out


def nbgrader(course: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in ``course``, with this environment's tools on PATH
    (nbgrader runs ``alembic`` for its database)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}"
                                f"{os.environ.get('PATH', '')}")
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=timeout)


def make_course(root: Path, course_id: str = COURSE_ID, force: bool = False) -> list[str]:
    """Write the course into ``root``; return the assignment ids."""
    root = root.resolve()
    hidden_from = instructor_dir()
    if hidden_from is None:
        raise UsageError("the instructor's hidden checks (solutions/grading/) are not here: "
                         "run this from the instructor's copy of the repository")
    found = assignments()
    if not found:
        raise UsageError(f"no solution notebooks in {SOLUTIONS}")
    if root.exists() and any(root.iterdir()) and not force:
        raise UsageError(f"{root} is not empty (--force to write into it)")
    root.mkdir(parents=True, exist_ok=True)
    hidden = root / "grading"
    shutil.copytree(hidden_from, hidden, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "test_*"))
    (root / "nbgrader_config.py").write_text(config_text(root, course_id, hidden))
    for assignment, notebook in found.items():
        source = root / "source" / assignment
        source.mkdir(parents=True, exist_ok=True)
        shutil.copy(notebook, source / notebook.name)
        proc = nbgrader(root, "generate_assignment", assignment, "--force")
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
            raise UsageError(f"nbgrader generate_assignment {assignment} failed: {tail[0]}")
    return list(found)
