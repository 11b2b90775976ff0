"""Exercises are generated from solutions, exactly as nbgrader would generate them.

Only ``solutions/`` is written by hand. ``exercises/`` must be what the
generator writes; the solution must pass every grade cell and the stubs fail
every one; and nbgrader's own ``generate_assignment`` and ``autograde`` must
agree: the same student notebook, full marks for the solution, none for the stub.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from simulator.grading.generate import EXERCISES, SOLUTIONS, plan, stale, student_version

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIRS = ("course", "solutions", "exercises")
ASSIGNMENT = "ch01"


def notebooks(*dirs: str) -> list[Path]:
    return sorted(p for d in dirs for p in (ROOT / d).glob("*.ipynb"))


def grade_cells(nb) -> list:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def run_notebook(path: Path):
    """Execute a notebook in the repository root, carrying on past errors."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    return nb


def failed(cell) -> bool:
    return any(out.output_type == "error" for out in cell.outputs)


def test_there_is_an_exercise_for_every_solution_and_nothing_else():
    assert notebooks("solutions")
    assert [p.name for p in plan()] == [p.name for p in notebooks("exercises")]


def test_exercises_regenerate_without_a_diff():
    assert stale() == [], "run: python -m simulator.grading generate"


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


@pytest.mark.parametrize("path", notebooks("exercises"), ids=lambda p: p.name)
def test_exercises_hold_stubs_and_no_solutions_or_hidden_tests(path):
    text = path.read_text(encoding="utf-8")
    assert "# YOUR CODE HERE" in text and "raise NotImplementedError()" in text
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "import hidden"):
        assert marker not in text


@pytest.mark.parametrize("path", notebooks("solutions"), ids=lambda p: p.name)
def test_grade_cells_have_a_docstring_and_points_in_their_heading(path):
    nb = nbformat.read(path, as_version=4)
    cells = grade_cells(nb)
    assert len(cells) >= 3
    for cell in cells:
        first = cell.source.splitlines()[0]
        assert first.startswith('"""') and first.endswith('"""'), cell.id
        points = cell.metadata.nbgrader["points"]
        headings = [c.source for c in nb.cells[:nb.cells.index(cell)] if c.cell_type == "markdown"]
        assert f"({points:g} points)" in headings[-1].splitlines()[0]


@pytest.mark.notebooks
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


# ------------------------------------------------------ nbgrader itself
def nbgrader(course: Path, *args: str) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--force"], cwd=course,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A course directory where nbgrader released the solutions as an assignment."""
    root = tmp_path_factory.mktemp("course")
    (root / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(root)!r}\n"
        "c.CourseDirectory.course_id = 'hypervisor-races'\n")
    shutil.copytree(SOLUTIONS, root / "source" / ASSIGNMENT)
    nbgrader(root, "generate_assignment", ASSIGNMENT)
    return root


def cell_picture(nb) -> list:
    return [(c.cell_type, c.source, c.metadata.get("nbgrader")) for c in nb.cells]


@pytest.mark.notebooks
def test_nbgrader_generate_assignment_writes_the_same_student_notebooks(course):
    for solution in notebooks("solutions"):
        theirs = course / "release" / ASSIGNMENT / solution.name
        ours = nbformat.reads(student_version(solution), as_version=4)
        assert cell_picture(nbformat.read(theirs, as_version=4)) == cell_picture(ours)
        assert theirs.read_text(encoding="utf-8") == (EXERCISES / solution.name).read_text(
            encoding="utf-8")


@pytest.mark.notebooks
def test_nbgrader_autograde_gives_the_solution_full_marks_and_the_stub_none(course):
    from nbgrader.api import Gradebook

    submissions = {"solution": course / "source", "stub": course / "release"}
    for student, origin in submissions.items():
        shutil.copytree(origin / ASSIGNMENT, course / "submitted" / student / ASSIGNMENT)
    nbgrader(course, "autograde", ASSIGNMENT)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "hypervisor-races") as gb:
        scores = {s: gb.find_submission(ASSIGNMENT, s) for s in submissions}
        full = scores["solution"].max_score
        assert full >= 10
        assert (scores["solution"].score, scores["stub"].score) == (full, 0)


def test_the_generator_command_finds_exercises_up_to_date():
    proc = subprocess.run([sys.executable, "-m", "simulator.grading", "generate", "--check"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stderr) == (0, "")
