"""Where the instructor's private grading lives, and how the sandbox loads it.

Hidden checks and answer keys are not part of the ``simulator`` package a
student installs. They live in the instructor's directory — by default
``solutions/grading/`` of the course repository, or wherever
``HYPERVISOR_RACES_INSTRUCTOR`` points — one module per chapter, named like
the chapter (``ch01_virtio.py``), each defining ``CHECKS``: a dict of
``Check`` by short name, exactly like a chapter's visible checks. The student
copy of the repository (``python -m simulator.grading student-copy``) leaves
the directory out; where it is missing, a hidden check answers that it runs
when the instructor grades.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
ENV = "HYPERVISOR_RACES_INSTRUCTOR"
DEFAULT = ROOT / "solutions" / "grading"
PACKAGE = "hypervisor_races_instructor"


def instructor_dir() -> Path | None:
    """The instructor's grading directory, if this machine has one."""
    given = os.environ.get(ENV)
    path = Path(given) if given else DEFAULT
    return path if path.is_dir() else None


def hidden_module(chapter: str, where: Path | str | None) -> ModuleType | None:
    """The hidden checks of ``chapter`` from ``where`` (None if there are none)."""
    if where is None:
        return None
    path = Path(where) / f"{chapter}.py"
    if not path.is_file():
        return None
    name = f"{PACKAGE}.{chapter}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
