"""Exercises are generated from solutions, exactly as nbgrader would generate them.

Only ``solutions/`` is written by hand. ``exercises/`` must be what the
generator writes (nbgrader's own ``generate_assignment`` writes the same, see
``test_nbgrader.py``); the solution must pass every grade cell in a kernel
and the stubs fail every one. A student's copy has no solutions: those tests
skip there.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from grading_helpers import needs_instructor
from nbclient import NotebookClient

from simulator.grading import chapters
from simulator.grading.generate import SOLUTIONS, plan, stale
from simulator.grading.instructor import hidden_module, instructor_dir

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIRS = ("course", "solutions", "exercises")


def notebooks(*dirs: str) -> list[Path]:
    return sorted(p for d in dirs for p in (ROOT / d).glob("*.ipynb"))


def grade_cells(nb) -> list:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def run_notebook(path: Path):
    """Execute a notebook in the repository root, carrying on past errors (the
    cell timeout is a hang guard: the checks' budgets are counted in states)."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    return nb


def failed(cell) -> bool:
    return any(out.output_type == "error" for out in cell.outputs)


@needs_instructor
def test_there_is_an_exercise_for_every_solution_and_nothing_else():
    assert notebooks("solutions")
    assert [p.name for p in plan()] == [p.name for p in notebooks("exercises")]


@needs_instructor
def test_every_chapter_with_exercises_has_a_solution_notebook():
    for chapter in chapters.all_chapters():
        assert (SOLUTIONS / f"{chapter.notebook}.ipynb").is_file(), chapter.name


@needs_instructor
def test_exercises_regenerate_without_a_diff():
    assert stale() == [], "run: python -m simulator.grading generate"


@needs_instructor
def test_the_check_flag_reports_an_out_of_date_exercise(tmp_path):
    (tmp_path / "solutions").mkdir()
    shutil.copy(notebooks("solutions")[0], tmp_path / "solutions")
    assert stale(tmp_path / "solutions", tmp_path / "exercises") != []


@pytest.mark.parametrize("path", notebooks(*NOTEBOOK_DIRS), ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.id


def hidden_check_ids() -> list[str]:
    ids = []
    for chapter in chapters.all_chapters():
        hidden = hidden_module(chapter.name, instructor_dir())
        ids += [f'"{chapter.name}:{name}"' for name in (hidden.CHECKS if hidden else ())]
    return ids


@pytest.mark.parametrize("path", notebooks("exercises"), ids=lambda p: p.name)
def test_exercises_hold_stubs_and_no_solutions_or_hidden_tests(path):
    text = path.read_text(encoding="utf-8")
    assert "# YOUR CODE HERE" in text and "raise NotImplementedError()" in text
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", *hidden_check_ids()):
        assert marker not in text


@pytest.mark.parametrize("path", notebooks("exercises"), ids=lambda p: p.name)
def test_every_grade_cell_checks_answers_the_autograder_can_find_again(path):
    from simulator.grading.nbgrader_plugin import check_calls

    nb = nbformat.read(path, as_version=4)
    for cell in grade_cells(nb):
        calls = check_calls(cell.source)
        assert calls and cell.source.count("check(") == len(calls), cell.id
        for check_id, _name in calls:
            assert chapters.find(check_id, None)[1] is not None, check_id


@pytest.mark.parametrize("path", notebooks("solutions"), ids=lambda p: p.name)
def test_grade_cells_have_a_docstring_and_points_in_their_heading(path):
    nb = nbformat.read(path, as_version=4)
    cells = grade_cells(nb)
    assert len(cells) >= 3
    for cell in cells:
        first = cell.source.splitlines()[0]
        assert first.startswith('"""') and first.endswith('"""'), cell.id
        points = cell.metadata.nbgrader["points"]
        headings = [c.source for c in nb.cells[:nb.cells.index(cell)]
                    if c.cell_type == "markdown" and c.source.startswith("## ")]
        assert f"({points:g} points)" in headings[-1].splitlines()[0]


@pytest.mark.parametrize("path", notebooks("solutions"), ids=lambda p: p.name)
def test_the_introduction_states_the_points_the_grade_cells_add_up_to(path):
    nb = nbformat.read(path, as_version=4)
    total = sum(c.metadata.nbgrader["points"] for c in grade_cells(nb))
    assert f"{total:g} points in all" in nb.cells[0].source


@pytest.mark.notebooks
@needs_instructor
@pytest.mark.parametrize("path", notebooks("solutions"), ids=lambda p: p.name)
def test_every_grade_cell_passes_on_the_solution(path):
    nb = run_notebook(path)
    errors = [(c.id, o.ename, o.evalue) for c in nb.cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert errors == []


@pytest.mark.notebooks
@pytest.mark.parametrize("path", notebooks("exercises"), ids=lambda p: p.name)
def test_every_grade_cell_fails_on_the_stub(path):
    nb = run_notebook(path)
    assert all(failed(c) for c in grade_cells(nb))


@needs_instructor
def test_the_generator_command_finds_exercises_up_to_date():
    proc = subprocess.run([sys.executable, "-m", "simulator.grading", "generate", "--check"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stderr) == (0, "")
