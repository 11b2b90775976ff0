"""nbgrader 0.9.6 itself grades a class: every submission gets exactly its marks.

A course made by ``python -m simulator.grading course``; submissions made from
the released notebooks the way students fill them in: the solution, the
stub, plausible wrong answers for each chapter, a loop that never ends, an
answer that raises, one that catches ``BaseException`` around its loops (in a
hook, and at the top level of a cell, where it hangs the kernel), one that
patches the checker in its kernel, one that imports the shipped fix. Then
``nbgrader autograde`` and ``generate_feedback`` run as an instructor would,
and the gradebook must hold, part by part, the marks each answer deserves.

The full class is slow (minutes); the default run grades a representative
part of it, and ``-m slow`` the rest.
"""
import re
from pathlib import Path

import nbformat
import pytest
from grading_helpers import LOCKED_TOO_EARLY, needs_instructor, pir_rule, subclass_source

from simulator.grading.course import make_course, nbgrader
from simulator.grading.generate import EXERCISES, SOLUTIONS, student_version

pytestmark = [pytest.mark.notebooks, needs_instructor]
CH1, CH2 = "ch01_virtio", "ch02_pir"
NOTEBOOK = {CH1: "01-Virtio-Barriers", CH2: "02-PIR-Wakeups"}
FULL = {CH1: {"part-a-check": 2, "part-b-check": 2, "part-c-check": 3, "part-d-check": 3},
        CH2: {"part-a-check": 3, "part-b-check": 3, "part-c-check": 4}}
MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*\n", re.MULTILINE)

# ------------------------------------------------------------ the answers
TWO_WRITES = ("vcpu0* blkio* fire:io.req0 blkio* vcpu0>virtqueue_enable_cb_prepare drain:cpu0 "
              "fire:io.req1 blkio>vq_endchains blkio*2 vcpu0* blkio*")
PLACEMENTS = (f"verdicts = {{'A': {TWO_WRITES!r}, 'B': {TWO_WRITES!r}, 'C': 'sound', "
              f"'D': 'sound', 'E': {TWO_WRITES!r}}}")
B_CALLED_SOUND = PLACEMENTS.replace(f"'B': {TWO_WRITES!r}", "'B': 'sound'")


def device(body: str, name: str = "FixedDevice", base: str = "VirtioDevice") -> str:
    return subclass_source(base, body, name)


ALWAYS_INTERRUPTS = device('''
def vq_relchain(self, head, iolen):
    r = self.ring
    uidx = yield ops.load(r.USED_IDX, "vq_relchain")
    yield ops.store(r.used_id(uidx), head, "vq_relchain")
    yield ops.store(r.used_len(uidx), iolen, "vq_relchain")
    yield ops.swap(r.USED_IDX, (uidx + 1) & U16, "vq_relchain")

def vq_endchains(self):
    self.vq_save_used = yield ops.load(self.ring.USED_IDX, "vq_endchains")
    yield from self.vq_interrupt()
''')
DEVICE_SPINS = device("def vq_relchain(self, head, iolen):\n    while True:\n        pass\n"
                      "    yield")
DEVICE_RAISES = device("def vq_relchain(self, head, iolen):\n    raise ValueError('no idea')")
DEVICE_CATCHES_ALL = device('''
def vq_relchain(self, head, iolen):
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass
    yield
''')
BUGGY_DEVICE = device("def barrier_before_notify_check(self):\n    return\n    yield")
SUBCLASS_OF_FIX = ("from simulator.models.virtio import FencedVirtioDevice\n\n\n"
                   "class FixedDevice(FencedVirtioDevice):\n    pass\n")
PATCHES_CH1 = '''
import simulator.search
simulator.search.search = lambda *args, **kwargs: None
''' + BUGGY_DEVICE


RULE_SPINS = device('''
def notify_needed(self, vector):
    while True:
        yield ops.load(self.pending, "vmx_set_intr_ready")
''', "FixedPIR", "PostedInterrupts")
RULE_RAISES = device("def notify_needed(self, vector):\n    raise KeyError(vector)",
                     "FixedPIR", "PostedInterrupts")
BUGGY_RULE = device('''
def notify_needed(self, vector):
    old = yield ops.cas(self.pending, 0, 1, "vmx_set_intr_ready")
    return old == 0
''', "FixedPIR", "PostedInterrupts")
PATCHES_CH2 = BUGGY_RULE + '''

import simulator.grading
import simulator.grading.client
from simulator.grading.result import CheckResult

def passes(*args, **kwargs):
    return CheckResult(True, "patched")

simulator.grading.client.run_request = lambda items, *a, **k: [passes() for _ in items]
simulator.grading.check = check = passes
CheckResult.__bool__ = lambda self: True
'''
HANGS_THE_KERNEL = "\n\nwhile True:\n    try:\n        while True:\n            pass\n" \
                   "    except BaseException:\n        pass\n"
IMPORTS_THE_FIX = "from simulator.models.posted import PrioPostedInterrupts as FixedPIR\n"
NARRATED = "schedule = 'vcpu0>vm_handle_hlt viona* vcpu0* cyclic* fire:apic_timer cyclic*'"

# ------------------------------------------------------------- the class
# student -> assignment -> (answer cells replaced, marks per grade cell that differ
# from full marks); unreplaced answers are the solution's, None leaves the stub.
CLASS = {
    "solution": {CH1: ({}, FULL[CH1]), CH2: ({}, FULL[CH2])},
    "stub": {CH1: (None, {}), CH2: (None, {})},
    "importer": {CH1: ({"part-d-answer": SUBCLASS_OF_FIX}, {"part-d-check": 0}),
                 CH2: ({"part-c-answer": IMPORTS_THE_FIX}, {"part-c-check": 0})},
    "patcher": {CH1: ({"part-d-answer": PATCHES_CH1}, {"part-d-check": 0}),
                CH2: ({"part-c-answer": PATCHES_CH2}, {"part-c-check": 0})},
    "wrong-1": {CH1: ({"part-b-answer": f"schedule = {TWO_WRITES!r}",
                       "part-c-answer": PLACEMENTS, "part-d-answer": device(LOCKED_TOO_EARLY)},
                      {"part-b-check": 0, "part-d-check": 0}),
                CH2: ({"part-b-answer": NARRATED,
                       "part-c-answer": pir_rule("prio(vector) >= prio(top)")},
                      {"part-b-check": 0, "part-c-check": 0})},
}
SLOW_CLASS = {
    "wrong-2": {CH1: ({"part-c-answer": B_CALLED_SOUND, "part-d-answer": ALWAYS_INTERRUPTS},
                      {"part-c-check": 0, "part-d-check": 0}),
                CH2: ({"part-c-answer":
                       pir_rule("prio(vector) > 0x70 and prio(vector) > prio(top)")},
                      {"part-c-check": 0})},
    "loops": {CH1: ({"part-d-answer": DEVICE_SPINS}, {"part-d-check": 0}),
              CH2: ({"part-c-answer": RULE_SPINS}, {"part-c-check": 0})},
    "raises": {CH1: ({"part-d-answer": DEVICE_RAISES}, {"part-d-check": 0}),
               CH2: ({"part-c-answer": RULE_RAISES}, {"part-c-check": 0})},
    "catches-all": {CH1: ({"part-d-answer": DEVICE_CATCHES_ALL}, {"part-d-check": 0}),
                    CH2: ({"part-c-answer": "<solution>" + HANGS_THE_KERNEL}, {})},
}


def expected(marks: dict, assignment: str, stub: bool) -> dict:
    if stub:
        return {cell: 0 for cell in FULL[assignment]}
    return {**FULL[assignment], **marks}


# ------------------------------------------------------------ the course
@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("nbgrader") / "course"
    make_course(root)
    with (root / "nbgrader_config.py").open("a") as config:
        config.write("c.Execute.timeout = 20  # the hung kernel's cell gives up sooner\n")
    return root


def solution_cells(course: Path, assignment: str) -> dict[str, str]:
    nb = nbformat.read(course / "source" / assignment / f"{NOTEBOOK[assignment]}.ipynb", 4)
    return {c.id: MARKER.sub("", c.source) for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def submit(course: Path, student: str, assignment: str, answers: dict | None) -> None:
    """The released notebook, filled in: the solution's answers, then ``answers``."""
    name = f"{NOTEBOOK[assignment]}.ipynb"
    nb = nbformat.read(course / "release" / assignment / name, as_version=4)
    if answers is not None:
        filled = solution_cells(course, assignment)
        for cell_id, text in answers.items():
            filled[cell_id] = text.replace("<solution>", filled[cell_id])
        for cell in nb.cells:
            if cell.id in filled:
                cell.source = filled[cell.id]
    target = course / "submitted" / student / assignment
    target.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target / name)


def grade_class(course: Path, students: dict) -> dict:
    """Submit, autograde and give feedback; return {(student, assignment): {cell: score}}."""
    from nbgrader.api import Gradebook

    for student, work in students.items():
        for assignment, (answers, _marks) in work.items():
            submit(course, student, assignment, answers)
    for assignment in (CH1, CH2):
        for step in ("autograde", "generate_feedback"):
            proc = nbgrader(course, step, assignment, "--force")
            assert proc.returncode == 0, proc.stderr[-3000:]
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "hypervisor-races") as gb:
        for student, work in students.items():
            for assignment in work:
                nb = gb.find_submission_notebook(NOTEBOOK[assignment], assignment, student)
                scores[student, assignment] = {g.name: g.score for g in nb.grades}
    return scores


def check_marks(course: Path, students: dict) -> None:
    scores = grade_class(course, students)
    for student, work in students.items():
        for assignment, (answers, marks) in work.items():
            want = expected(marks, assignment, answers is None)
            assert scores[student, assignment] == want, (student, assignment)
            feedback = (course / "feedback" / student / assignment /
                        f"{NOTEBOOK[assignment]}.html")
            assert feedback.is_file(), feedback


def test_nbgrader_grades_the_solution_the_stub_and_hostile_answers_as_they_deserve(course):
    check_marks(course, CLASS)


@pytest.mark.slow
def test_nbgrader_grades_loops_crashes_and_hung_kernels_and_drops_no_submission(course):
    check_marks(course, SLOW_CLASS)


def test_the_feedback_says_why_a_check_failed(course):
    if not (course / "feedback" / "importer").exists():
        check_marks(course, {"importer": CLASS["importer"]})
    html = (course / "feedback" / "importer" / CH2 / f"{NOTEBOOK[CH2]}.html").read_text()
    assert "FixedPIR is imported from simulator.models.posted.PrioPostedInterrupts" in html


def test_nbgrader_generate_assignment_writes_the_exercises_we_generate(course):
    for assignment, name in NOTEBOOK.items():
        released = course / "release" / assignment / f"{name}.ipynb"
        ours = EXERCISES / f"{name}.ipynb"
        assert released.read_text(encoding="utf-8") == ours.read_text(encoding="utf-8")
        assert student_version(SOLUTIONS / f"{name}.ipynb") == ours.read_text(encoding="utf-8")


def test_the_course_keeps_hidden_checks_out_of_what_students_get(course):
    released = "".join(p.read_text() for p in (course / "release").rglob("*.ipynb"))
    assert "predict-key" not in released and "BEGIN HIDDEN TESTS" not in released
    assert (course / "grading" / "ch02_pir.py").is_file()
