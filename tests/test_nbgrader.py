"""nbgrader 0.9.6 itself grades a class: every submission gets exactly its marks.

A course made by ``python -m simulator.grading course``, with all five
chapters' assignments; submissions made from the released notebooks the way
students fill them in: the solution, the stub, plausible wrong answers for
each chapter, a loop that never ends, an answer that raises, one that catches
``BaseException`` around its loops (in a hook, and at the top level of a
cell, where it hangs the kernel), one that patches the checker in its kernel,
one that imports the shipped fix. Then ``nbgrader autograde`` and
``generate_feedback`` run as an instructor would, and the gradebook must
hold, part by part, the marks each answer deserves.

The full class is slow (minutes); the default run grades a representative
part of it — the solution, the stub and a wrong answer in every chapter, an
importer (chapters 2 and 3) and a patcher (chapters 1 and 5), in one
``autograde`` and one ``generate_feedback`` run — and ``-m slow`` the rest.
"""
import inspect
import itertools
import re
from pathlib import Path

import nbformat
import pytest
from grading_helpers import (
    LOCKED_TOO_EARLY,
    RENDEZVOUS_DOES_EVERY_PART,
    RENDEZVOUS_NO_WAIT,
    RING_SIGNS_UNLOCKED,
    needs_instructor,
    pir_rule,
    subclass_source,
)

from simulator.grading import chapters
from simulator.grading.chapters import ch03_blockif, ch04_lease, ch05_rendezvous
from simulator.grading.course import make_course, nbgrader
from simulator.grading.exercise import Context, graded_seed
from simulator.grading.generate import EXERCISES, SOLUTIONS, student_version
from simulator.models.viona import LockedExpireRing

pytestmark = [pytest.mark.notebooks, needs_instructor]
CH1, CH2, CH3, CH4, CH5 = ("ch01_virtio", "ch02_pir", "ch03_blockif", "ch04_lease",
                           "ch05_rendezvous")
NOTEBOOK = {CH1: "01-Virtio-Barriers", CH2: "02-PIR-Wakeups", CH3: "03-Blockif-Cancel",
            CH4: "04-Lease-Livelock", CH5: "05-Write-Lock-Rendezvous"}
TEN = {"part-a-check": 3, "part-b-check": 3, "part-c-check": 4}
FULL = {CH1: {"part-a-check": 2, "part-b-check": 2, "part-c-check": 3, "part-d-check": 3},
        CH2: TEN, CH3: TEN, CH4: TEN, CH5: TEN}
MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*\n", re.MULTILINE)
HANG_GUARD_S = 40  # a notebook cell's timeout for the classes whose kernels hang

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
PATCH = '''

import simulator.grading
import simulator.grading.client
from simulator.grading.result import CheckResult

def passes(*args, **kwargs):
    return CheckResult(True, "patched")

simulator.grading.client.run_request = lambda items, *a, **k: [passes() for _ in items]
simulator.grading.check = check = passes
CheckResult.__bool__ = lambda self: True
'''
PATCHES_CH2 = BUGGY_RULE + PATCH
HANGS_THE_KERNEL = "\n\nwhile True:\n    try:\n        while True:\n            pass\n" \
                   "    except BaseException:\n        pass\n"
IMPORTS_THE_FIX = "from simulator.models.posted import PrioPostedInterrupts as FixedPIR\n"
NARRATED = "schedule = 'vcpu0>vm_handle_hlt viona* vcpu0* cyclic* fire:apic_timer cyclic*'"


def wrong_prediction(chapter, student: str, values: list[tuple]) -> str:
    """A Part A answer for ``student`` that the visible check passes and the key does
    not: values that fit together, for their own question, but are not its run's."""
    q = chapter.question(graded_seed(student, chapter.NAME))
    key, visible = chapter.solve(q), chapter.CHAPTER.checks["predict"]
    for combo in itertools.product(*values):
        answer = dict(zip(key, combo, strict=True))
        if answer != key and visible.run(answer, Context(student)):
            return f"prediction = {answer!r}"
    raise AssertionError(f"every consistent prediction is the key for {student}")


# chapter 3: hyperkit's block_if, one round of blockif_cancel while be1 is BUSY
def blockif(body: str) -> str:
    return subclass_source("HyperkitBlockif", body, "FixedBlockif",
                           "blockif_cancel_wait(self, be, bse)")


CH3_VALUES = [("mevent", "blkio", "nobody"), (True, False), ("sc->mtx", "bc_mtx", "nothing")]
# blkio done before the SIGCONT is the path asked for; the chapter's own path hangs too
CH3_NARRATED = ("schedule = 'ioemu* blkio* mevent* fire:scsi.timeout ioemu* fire:io.be1 "
                "finish'")
CH3_TRIM_ENDS = "schedule = 'ioemu* blkio* fire:io.be1 finish'"  # no timeout, no hang
# bc_mtx let go while waiting: ioemu still holds sc->mtx, which blkio needs
LETS_GO_OF_BC_MTX = blockif('''yield ops.unlock(self.mtx, "blockif_cancel")
yield from HyperkitBlockif.blockif_cancel_wait(self, be, bse)
yield ops.lock(self.mtx, "blockif_cancel")''')
# ring, nap, ring again: fine on macOS, a cycle of sig elems on FreeBSD
RING_AND_NAP = blockif('''yield ops.store(bse.pending, 1, "blockif_cancel")
yield from self.blockif_bse_push(bse)
tid = yield ops.load(be.tid, "blockif_cancel")
yield from self.process.pthread_kill(tid, SIGCONT)
yield ops.sleep(1_000_000, "usleep", timer="cancel.poll")''')
ROUND_SPINS = blockif("while True:\n    pass\nyield")
IMPORTS_ILLUMOS = "from simulator.models.blockif import IllumosBlockif as FixedBlockif\n"

# chapter 4: viona's ring against 6703a0e's leases
def ring(body: str) -> str:
    return device(body, "SafeRing", "VionaRing")


CH4_VALUES = [(0, 1), (0, 1), (True, False)]
# the lost wake-up with vCPU 1 already through: not the report's picture
LOST_EARLY = ("<solution>\nlost = ('vcpu1* vcpu0* tx* vcpu0>vmm_lease_unblock "
              "vcpu0>vmm_write_unlock vcpu0 tx>viona_worker vcpu0* tx*')")
ABBA_ENDS_WELL = "<solution>\nabba = 'finish'"
# the chapter's 6703a0e ring: no lost wake-up, a deadlock with the worker awake
RING_6703A0E = ring(inspect.getsource(LockedExpireRing.viona_ring_lease_expire_cb))
# the renewal signs without vr_lock, and does not look again before sleeping
SIGNS_UNLOCKED = ring(RING_SIGNS_UNLOCKED)
RING_RAISES = ring("def keep_lease_fresh(self):\n    raise RuntimeError('lease gone')\n    yield")
RING_CATCHES_ALL = ring('''
def keep_lease_fresh(self):
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass
    yield
''')

# chapter 5: the VM's rendezvous, kept
def vm(body: str) -> str:
    return device(body, "KeepRendezvous", "Vm")


CH5_VALUES = [("deadlock", "ok"), (None, 0, 1, 3),
              *[[[], [0], [1], [3], [0, 1], [0, 3], [1, 3], [0, 1, 3]]] * 2]
CH5_ENDS_WELL = "schedule = 'bhyvectl* vcpu1* bhyvectl* vcpu3* finish'"
# each vCPU does its own part and never waits for the others: no rendezvous at all
NO_WAIT = vm(RENDEZVOUS_NO_WAIT)
# whoever comes first does every vCPU's part: TMRs written under running guests
DOES_EVERY_PART = vm(RENDEZVOUS_DOES_EVERY_PART)
RESTATED = vm("def vm_handle_rendezvous(self, vcpuid):\n"
              "    yield from super().vm_handle_rendezvous(vcpuid)")
PATCHES_CH5 = RESTATED + PATCH

# ------------------------------------------------------------- the class
# student -> assignment -> (answer cells replaced, marks per grade cell that differ
# from full marks); unreplaced answers are the solution's, None leaves the stub.
CLASS = {
    "solution": {a: ({}, {}) for a in NOTEBOOK},
    "stub": {a: (None, {}) for a in NOTEBOOK},
    "importer": {CH2: ({"part-c-answer": IMPORTS_THE_FIX}, {"part-c-check": 0}),
                 CH3: ({"part-c-answer": IMPORTS_ILLUMOS}, {"part-c-check": 0})},
    "patcher": {CH1: ({"part-d-answer": PATCHES_CH1}, {"part-d-check": 0}),
                CH5: ({"part-c-answer": PATCHES_CH5}, {"part-c-check": 0})},
    "wrong-1": {CH1: ({"part-b-answer": f"schedule = {TWO_WRITES!r}",
                       "part-c-answer": PLACEMENTS, "part-d-answer": device(LOCKED_TOO_EARLY)},
                      {"part-b-check": 0, "part-d-check": 0}),
                CH2: ({"part-b-answer": NARRATED,
                       "part-c-answer": pir_rule("prio(vector) >= prio(top)")},
                      {"part-b-check": 0, "part-c-check": 0}),
                CH3: ({"part-b-answer": CH3_NARRATED, "part-c-answer": LETS_GO_OF_BC_MTX},
                      {"part-b-check": 0, "part-c-check": 0}),
                CH4: ({"part-b-answer": LOST_EARLY, "part-c-answer": RING_6703A0E},
                      {"part-b-check": 0, "part-c-check": 0}),
                CH5: ({"part-a-answer": wrong_prediction(ch05_rendezvous, "wrong-1",
                                                         CH5_VALUES),
                       "part-c-answer": NO_WAIT},
                      {"part-a-check": 0, "part-c-check": 0})},
}
SLOW_CLASS = {
    "importer-2": {CH1: ({"part-d-answer": SUBCLASS_OF_FIX}, {"part-d-check": 0})},
    "patcher-2": {CH2: ({"part-c-answer": PATCHES_CH2}, {"part-c-check": 0})},
    "wrong-2": {CH1: ({"part-c-answer": B_CALLED_SOUND, "part-d-answer": ALWAYS_INTERRUPTS},
                      {"part-c-check": 0, "part-d-check": 0}),
                CH2: ({"part-c-answer":
                       pir_rule("prio(vector) > 0x70 and prio(vector) > prio(top)")},
                      {"part-c-check": 0}),
                CH3: ({"part-a-answer": wrong_prediction(ch03_blockif, "wrong-2", CH3_VALUES),
                       "part-b-answer": CH3_TRIM_ENDS, "part-c-answer": RING_AND_NAP},
                      {"part-a-check": 0, "part-b-check": 0, "part-c-check": 0}),
                CH4: ({"part-a-answer": wrong_prediction(ch04_lease, "wrong-2", CH4_VALUES),
                       "part-b-answer": ABBA_ENDS_WELL, "part-c-answer": SIGNS_UNLOCKED},
                      {"part-a-check": 0, "part-b-check": 0, "part-c-check": 0}),
                CH5: ({"part-b-answer": CH5_ENDS_WELL, "part-c-answer": DOES_EVERY_PART},
                      {"part-b-check": 0, "part-c-check": 0})},
    "raises": {CH1: ({"part-d-answer": DEVICE_RAISES}, {"part-d-check": 0}),
               CH2: ({"part-c-answer": RULE_RAISES}, {"part-c-check": 0}),
               CH4: ({"part-c-answer": RING_RAISES}, {"part-c-check": 0})},
}
# Their kernels hang (a cell that never ends, some ignoring the interrupt): graded with
# a shorter cell timeout, a hang guard that costs every hung cell its whole length.
HANGING_CLASS = {
    "loops": {CH1: ({"part-d-answer": DEVICE_SPINS}, {"part-d-check": 0}),
              CH2: ({"part-c-answer": RULE_SPINS}, {"part-c-check": 0}),
              CH3: ({"part-c-answer": ROUND_SPINS}, {"part-c-check": 0})},
    "catches-all": {CH1: ({"part-d-answer": DEVICE_CATCHES_ALL}, {"part-d-check": 0}),
                    CH2: ({"part-c-answer": "<solution>" + HANGS_THE_KERNEL}, {}),
                    CH4: ({"part-c-answer": RING_CATCHES_ALL}, {"part-c-check": 0}),
                    CH5: ({"part-c-answer": "<solution>" + HANGS_THE_KERNEL}, {})},
}


def expected(marks: dict, assignment: str, stub: bool) -> dict:
    if stub:
        return {cell: 0 for cell in FULL[assignment]}
    return {**FULL[assignment], **marks}


# ------------------------------------------------------------ the course
@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("nbgrader") / "course"
    assert make_course(root) == list(NOTEBOOK)
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


def grade_class(course: Path, students: dict, cell_timeout: int | None = None) -> dict:
    """Submit, autograde and give feedback (these students only: others who submitted
    earlier are left as they were); return {(student, assignment): {cell: score}}."""
    from nbgrader.api import Gradebook

    for student, work in students.items():
        for assignment, (answers, _marks) in work.items():
            submit(course, student, assignment, answers)
    others = sorted(p.name for p in (course / "submitted").iterdir() if p.name not in students)
    args = ["--force"] + ([f"--CourseDirectory.student_id_exclude={','.join(others)}"]
                          if others else [])
    if cell_timeout:
        args.append(f"--Execute.timeout={cell_timeout}")
    # "*": every assignment these students submitted, in one nbgrader run per step
    # (nbgrader's start-up is much of a small class's cost)
    for step in ("autograde", "generate_feedback"):
        proc = nbgrader(course, step, "*", *args)
        assert proc.returncode == 0, proc.stderr[-3000:]
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "hypervisor-races") as gb:
        for student, work in students.items():
            for assignment in work:
                nb = gb.find_submission_notebook(NOTEBOOK[assignment], assignment, student)
                scores[student, assignment] = {g.name: g.score for g in nb.grades}
    return scores


def check_marks(course: Path, students: dict, cell_timeout: int | None = None) -> None:
    scores = grade_class(course, students, cell_timeout)
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
def test_nbgrader_grades_more_wrong_answers_crashes_and_copies(course):
    check_marks(course, SLOW_CLASS)


@pytest.mark.slow
def test_nbgrader_grades_loops_and_hung_kernels_and_drops_no_submission(course):
    check_marks(course, HANGING_CLASS, cell_timeout=HANG_GUARD_S)


def feedback(course: Path, student: str, assignment: str) -> str:
    if not (course / "feedback" / student / assignment).exists():
        check_marks(course, {student: CLASS[student]})
    return (course / "feedback" / student / assignment /
            f"{NOTEBOOK[assignment]}.html").read_text()


def test_the_feedback_says_why_a_check_failed(course):
    assert ("FixedPIR is imported from simulator.models.posted.PrioPostedInterrupts"
            in feedback(course, "importer", CH2))
    # a hidden check's reason, after the deadline
    assert "still ran its guest with the old TMR" in feedback(course, "wrong-1", CH5)


def test_the_classes_cover_every_chapter_and_every_hostile_kind():
    """Each chapter gets its solution, stub and a wrong answer by default, and the
    hostile answers reach chapters 3-5 too."""
    default = {a for work in CLASS.values() for a in work}
    assert default == set(NOTEBOOK) == set(CLASS["wrong-1"]) == set(chapters.MODULES)
    hostile = {**CLASS, **SLOW_CLASS, **HANGING_CLASS}
    for kind in ("importer", "patcher", "loops", "raises", "catches-all"):
        assert {a for a in hostile[kind]} & {CH3, CH4, CH5}, kind


def test_nbgrader_generate_assignment_writes_the_exercises_we_generate(course):
    for assignment, name in NOTEBOOK.items():
        released = course / "release" / assignment / f"{name}.ipynb"
        ours = EXERCISES / f"{name}.ipynb"
        assert released.read_text(encoding="utf-8") == ours.read_text(encoding="utf-8")
        assert student_version(SOLUTIONS / f"{name}.ipynb") == ours.read_text(encoding="utf-8")


def test_the_course_keeps_hidden_checks_out_of_what_students_get(course):
    released = "".join(p.read_text() for p in (course / "release").rglob("*.ipynb"))
    assert "predict-key" not in released and "BEGIN HIDDEN TESTS" not in released
    for assignment in NOTEBOOK:
        assert (course / "grading" / f"{assignment}.py").is_file()
