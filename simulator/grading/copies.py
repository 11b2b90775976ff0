"""``python -m simulator.grading student-copy DIR``: the repository minus what is private.

Left out: ``solutions/`` (the solution notebooks and ``solutions/grading/``,
the hidden checks and answer keys) and the tests and benchmark that use them.
Everything else a student needs — the package, the course, the exercises, the
other tests — is copied as tracked by git (or, outside a git checkout, as it
is on disk, minus build products). Publish the copy as a fresh repository:
the instructor's history holds the solutions.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from simulator.errors import UsageError
from simulator.grading.instructor import ROOT

INSTRUCTOR_ONLY = (
    "solutions/",
    "tests/test_grading_keys.py",
    "tests/test_nbgrader.py",
    "bench/bench_grading.py",
)
NEVER = (".git/", ".venv/", "build/", "native/build/", ".pytest_cache/", ".ruff_cache/",
         ".hypothesis/", ".ipynb_checkpoints/")


def private(path: str) -> bool:
    return any(path == p.rstrip("/") or path.startswith(p) for p in INSTRUCTOR_ONLY)


def tracked(root: Path) -> list[str]:
    """The repository's files, as git knows them (or as found on disk)."""
    try:
        proc = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True,
                              timeout=60, check=True)
        return [p for p in proc.stdout.decode().split("\0") if p]
    except (OSError, subprocess.SubprocessError):
        files = []
        for path in root.rglob("*"):
            rel = path.relative_to(root).as_posix()
            if path.is_file() and "__pycache__" not in rel and not any(
                    rel.startswith(n) for n in NEVER) and not rel.endswith((".pyc", ".so")):
                files.append(rel)
        return sorted(files)


def student_copy(dest: Path, root: Path = ROOT) -> list[str]:
    """Copy the student's part of ``root`` into ``dest``; return the files copied."""
    dest = dest.resolve()
    if dest == root.resolve() or root.resolve() in dest.parents:
        raise UsageError("the student copy must go outside the repository")
    if dest.exists() and any(dest.iterdir()):
        raise UsageError(f"{dest} is not empty")
    copied = []
    for rel in tracked(root):
        if private(rel) or not (root / rel).is_file():
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
        copied.append(rel)
    return copied
