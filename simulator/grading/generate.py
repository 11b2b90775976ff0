"""Write ``exercises/`` from ``solutions/`` with nbgrader's own preprocessors.

Only the solution notebooks are written by hand. Each one goes through the
preprocessor chain of nbgrader's ``generate_assignment`` converter, read from
nbgrader itself — lock the grade cells, replace ``### BEGIN SOLUTION`` /
``### END SOLUTION`` regions with ``# YOUR CODE HERE`` stubs, clear outputs,
checksum, drop ``### BEGIN HIDDEN TESTS`` regions, checksum again — so an
instructor who runs ``nbgrader generate_assignment`` on ``solutions/`` gets
the same student notebook. Only ``SaveCells`` is left out: it records the
cells in nbgrader's gradebook database, which a course repository has none of.
The output carries no outputs and no timestamps, so regenerating gives no diff.
"""
from __future__ import annotations

import logging
from pathlib import Path

import nbformat
from nbconvert.exporters import NotebookExporter
from nbgrader.converters.generate_assignment import GenerateAssignment
from nbgrader.preprocessors import SaveCells
from traitlets.config import Config

from simulator.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"


def preprocessors() -> list[type]:
    """nbgrader's generate_assignment chain, in its order, without the gradebook step."""
    chain = GenerateAssignment.class_traits()["preprocessors"].default()
    return [pp for pp in chain if pp is not SaveCells]


def student_version(path: Path) -> str:
    """The student notebook for the solution notebook at ``path``, as JSON text."""
    config = Config()
    config.Exporter.default_preprocessors = []
    exporter = NotebookExporter(config=config)
    for pp in preprocessors():
        exporter.register_preprocessor(pp)
    try:
        nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    except (OSError, UnicodeDecodeError, nbformat.reader.NotJSONError,
            nbformat.ValidationError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{path.name} is not a readable notebook: {first}") from None
    resources = {"unique_key": path.stem, "nbgrader": {"notebook": path.stem}}
    # nbgrader logs its complaints with a traceback before it raises; the one line
    # below says the same, so its log stays quiet while it converts.
    log = logging.getLogger("traitlets")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        text, _ = exporter.from_notebook_node(nb, resources)
    except Exception as exc:  # a grade cell without points, a duplicate id, bad metadata...
        raise UsageError(f"{path.name}: nbgrader cannot make the student version: "
                         f"{' '.join(str(exc).split())[:300]}") from None
    finally:
        log.setLevel(level)
    return text


def plan(solutions: Path = SOLUTIONS, exercises: Path = EXERCISES) -> dict[Path, str]:
    """Every exercise file and the text it should hold."""
    return {exercises / src.name: student_version(src)
            for src in sorted(solutions.glob("*.ipynb"))}


def stale(solutions: Path = SOLUTIONS, exercises: Path = EXERCISES) -> list[Path]:
    """Exercise files that regeneration would create, change or remove."""
    wanted = plan(solutions, exercises)
    changed = [p for p, text in wanted.items()
               if not p.exists() or p.read_text(encoding="utf-8") != text]
    extra = [p for p in sorted(exercises.glob("*.ipynb")) if p not in wanted]
    return changed + extra


def generate(solutions: Path = SOLUTIONS, exercises: Path = EXERCISES) -> list[Path]:
    """Write every exercise notebook (and remove ones without a solution); return them."""
    exercises.mkdir(exist_ok=True)
    wanted = plan(solutions, exercises)
    for path, text in wanted.items():
        path.write_text(text, encoding="utf-8")
    for path in sorted(exercises.glob("*.ipynb")):
        if path not in wanted:
            path.unlink()
    return list(wanted)
