"""The grading commands: ``quiz`` (ask and answer), ``student-copy`` and ``course``.

The quiz answers practice seeds and refuses graded ones; the student copy
leaves out every file that holds a solution, a hidden check or an answer key;
the course puts the recheck into nbgrader's autograde chain.
"""
import json
import subprocess
import sys

import pytest
from grading_helpers import needs_instructor

from simulator.grading import course
from simulator.grading.copies import INSTRUCTOR_ONLY, ROOT, private, student_copy
from simulator.grading.exercise import GRADED_FROM, graded_seed


# ------------------------------------------------------------------- quiz
@pytest.mark.parametrize("scenario, keys", [
    ("virtio-barriers", ("flags_seen", "interrupts", "poll_reads", "verdict")),
    ("pir-wakeup", ("ppr", "deliverable", "delivers")),
])
def test_quiz_asks_with_question_marks_and_answers_with_c(run_cli, scenario, keys):
    code, asked, _ = run_cli("quiz", scenario, "--seed", "42")
    assert code == 0 and "seed 42 (practice question)" in asked
    assert all(f"{k:<11} = ?" in asked for k in keys)
    code, answered, _ = run_cli("quiz", scenario, "--seed", "42", "-c")
    assert code == 0 and "= ?" not in answered
    assert len(answered.splitlines()) == len(asked.splitlines())


def test_quiz_json_carries_the_same_answer_as_the_text(run_cli):
    code, out, _ = run_cli("quiz", "pir-wakeup", "--seed", "7", "-c", "--json")
    data = json.loads(out)
    assert code == 0 and set(data["answer"]) == {"ppr", "deliverable", "delivers"}
    assert data["graded"] is False and data["question"].startswith("# seed 7")
    _, text, _ = run_cli("quiz", "pir-wakeup", "--seed", "7", "-c")
    assert f"ppr         = {data['answer']['ppr']:#04x}" in text


def test_quiz_shows_a_graded_question_but_never_its_answer(run_cli):
    seed = str(graded_seed("alice", "ch02_pir"))
    code, out, _ = run_cli("quiz", "pir-wakeup", "--seed", seed)
    assert code == 0 and "(graded question)" in out
    code, out, err = run_cli("quiz", "pir-wakeup", "--seed", seed, "-c")
    assert (code, out) == (2, "") and err == f"error: seed {seed} is a graded question: the " \
                                             "grader answers it\n"


@pytest.mark.parametrize("args, words", [
    (("quiz", "no-such-scenario"), "no quiz for scenario 'no-such-scenario'"),
    (("quiz", "pir-wakeup", "--seed", "-3"), "a seed is a whole number, 0 or more"),
    (("quiz", "pir-wakeup", "--seed", "x"), "invalid int value: 'x'"),
])
def test_quiz_bad_input_is_one_line_and_exit_2(run_cli, args, words):
    code, out, err = run_cli(*args)
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and words in err


def test_practice_and_graded_seeds_do_not_overlap():
    assert all(graded_seed(f"s{i}", "ch01_virtio") >= GRADED_FROM for i in range(200))


# ---------------------------------------------------------- student copy
KEY_MARKS = ("SOUND = " + "frozenset({", "def " + "check_prediction_key")


def test_the_student_copy_leaves_out_solutions_hidden_checks_and_keys(tmp_path):
    copied = student_copy(tmp_path / "copy")
    assert copied and not any(private(p) for p in copied)
    assert not (tmp_path / "copy" / "solutions").exists()
    assert (tmp_path / "copy" / "exercises" / "02-PIR-Wakeups.ipynb").is_file()
    assert (tmp_path / "copy" / "simulator" / "grading" / "chapters" / "ch02_pir.py").is_file()
    for path in (tmp_path / "copy").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not any(mark in text for mark in KEY_MARKS), path
    if (ROOT / "solutions" / "grading").is_dir():  # the marks do find the keys where they are
        hidden = (ROOT / "solutions" / "grading" / "ch01_virtio.py").read_text(encoding="utf-8")
        assert all(mark in hidden for mark in KEY_MARKS)


def test_the_package_holds_no_hidden_check():
    """Hidden checks and keys live only in the files the student copy leaves out."""
    for path in (ROOT / "simulator").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not any(mark in text for mark in KEY_MARKS), path
    assert "solutions/" in INSTRUCTOR_ONLY and "tests/test_grading_keys.py" in INSTRUCTOR_ONLY


def test_a_student_copy_collects_its_tests_without_the_private_ones(tmp_path):
    student_copy(tmp_path / "copy")
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p",
                           "no:cacheprovider", "tests/test_grading.py",
                           "tests/test_grading_ch02.py", "tests/test_exercises.py"],
                          cwd=tmp_path / "copy", capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "error" not in proc.stdout.splitlines()[-1]


@pytest.mark.parametrize("args, words", [
    (["student-copy", str(ROOT / "inside")], "must go outside the repository"),
    (["course", str(ROOT)], "is not empty"),
])
def test_grading_commands_refuse_bad_places_in_one_line(args, words):
    proc = subprocess.run([sys.executable, "-m", "simulator.grading", *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and words in proc.stderr and len(proc.stderr.splitlines()) == 1


# ---------------------------------------------------------------- course
@needs_instructor
def test_the_course_configuration_puts_the_recheck_in_nbgraders_autograde_chain(tmp_path):
    text = course.config_text(tmp_path, "c", tmp_path / "grading")
    scope = {"get_config": lambda: Config()}
    exec(text, scope)  # noqa: S102 - the configuration file we write
    chain = scope["c"].Autograde.autograde_preprocessors
    assert chain[:2] == ["simulator.grading.nbgrader_plugin.RobustExecute",
                         "simulator.grading.nbgrader_plugin.Recheck"]
    assert "nbgrader.preprocessors.SaveAutoGrades" in chain
    assert scope["c"].Recheck.instructor == str(tmp_path / "grading")
    assert set(course.assignments()) == {"ch01_virtio", "ch02_pir", "ch03_blockif",
                                         "ch04_lease", "ch05_rendezvous"}


class Config(dict):
    """Just enough of traitlets' Config to read our configuration file back."""

    def __getattr__(self, name):
        return self.setdefault(name, Config())

    def __setattr__(self, name, value):
        self[name] = value


@pytest.mark.parametrize("content, words", [
    (b'{"cells": [', "is not a readable notebook"),
    (b"\xff\xfe", "is not a readable notebook"),
    (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": "a", "metadata": {"nbgrader": {
            "grade": True, "solution": False, "locked": True, "grade_id": "g",
            "schema_version": 3}}, "source": "assert True", "outputs": [],
         "execution_count": None}]}).encode(),
     "nbgrader cannot make the student version"),
])
def test_a_broken_solution_notebook_is_one_line_not_a_traceback(tmp_path, content, words):
    """An instructor's hand-edited solution (a merge gone wrong, a grade cell without
    points) stops ``generate`` with the file's name and what is wrong, in one line."""
    from simulator.errors import UsageError
    from simulator.grading.generate import plan

    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "09-Broken.ipynb").write_bytes(content)
    with pytest.raises(UsageError, match=words) as caught:
        plan(tmp_path / "solutions", tmp_path / "exercises")
    assert "09-Broken.ipynb" in str(caught.value) and "\n" not in str(caught.value)
