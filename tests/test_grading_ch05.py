"""Chapter 5's checks (OS-7622): questions that answer themselves from the model,
schedules and classes that pass or fail with a reason.

Predict how a seeded run of the write lock and the rendezvous ends; hang the
VM in the other shape (bhyvectl waiting for vCPU 3); keep the rendezvous and
lose the cycle. A rendezvous that does not wait at all passes the visible fix
check and fails the hidden one meant for it; one that waits for a vCPU it saw
RUNNING but is never told that the vCPU left for userspace fails the visible
one, on its directed run; one whose initiator does every
vCPU's part is no rendezvous; the solution passes everything. Tests that need
the solutions or the hidden checks skip in a student's copy.
"""

import pytest
from grading_helpers import RENDEZVOUS_DOES_EVERY_PART as DOES_EVERY_PART
from grading_helpers import RENDEZVOUS_NO_WAIT as NO_WAIT
from grading_helpers import (
    data_answer,
    grade,
    grade_all,
    needs_instructor,
    solution_answer,
    solution_cells,
    subclass_answer,
)

from simulator.errors import UsageError
from simulator.grading.chapters import ch05_rendezvous as ch05
from simulator.grading.exercise import Context, graded_seed
from simulator.grading.instructor import hidden_module, instructor_dir
from simulator.models.vm import RunblockVm
from simulator.scenarios.write_lock_rendezvous import report_schedule

NOTEBOOK = "05-Write-Lock-Rendezvous.ipynb"
STORY = " ".join(report_schedule({"ticks": 0}))  # the chapter's: bhyvectl waits for vCPU 1


def vm(body: str, name: str = "Mine") -> dict:
    return subclass_answer("Vm", body, name)


# ----------------------------------------------------------------- Part A
def test_the_question_hides_its_answer_and_is_the_same_every_time():
    q = ch05.question(7622)
    assert q == ch05.question(7622) and "practice question" in str(q)
    assert str(q).count("= ?") == 4 and "deadlock" not in str(q).split("predict:")[0]
    assert q.answer() == ch05.solve(q)


def test_the_questions_ask_every_outcome_and_every_answer_is_consistent():
    qs = [ch05.question(s) for s in range(300)]
    answers = [ch05.solve(q) for q in qs]
    assert {a["verdict"] for a in answers} == {"deadlock", "ok"}
    assert {a["waits_for"] for a in answers} == {None, 1, 3}
    assert {tuple(a["missing"]) for a in answers} == {(), (0,), (0, 1)}
    assert {tuple(a["level"]) for a in answers} >= {(), (1,), (3,)}
    assert all(ch05.consistent(a, q) is None for a, q in zip(answers, qs, strict=True))


def test_the_fixed_code_and_a_late_write_always_end_well():
    for seed in range(200):
        q = ch05.question(seed)
        if q.variant == "fixed" or q.when == "after":
            assert ch05.solve(q)["verdict"] == "ok", q


def test_a_seed_must_be_a_whole_number_and_a_graded_one_is_not_answered():
    with pytest.raises(UsageError, match="a seed is a whole number"):
        ch05.question("7622")
    with pytest.raises(UsageError, match="is a graded question"):
        ch05.question(graded_seed("alice", ch05.NAME)).answer()


@pytest.mark.parametrize("answer, words", [
    ("deadlock", "should be a dict"),
    ({"verdict": "deadlock"}, "has no 'waits_for', 'missing', 'level'"),
    ({"verdict": "hang", "waits_for": 1, "missing": [0], "level": []}, "verdict should be"),
    ({"verdict": "ok", "waits_for": True, "missing": [], "level": []}, "waits_for should be"),
    ({"verdict": "ok", "waits_for": None, "missing": [1, 0], "level": []}, "missing should be"),
    ({"verdict": "ok", "waits_for": None, "missing": [], "level": [2]}, "level should be"),
    ({"verdict": "ok", "waits_for": 3, "missing": [], "level": []}, "one that ends well leaves"),
    ({"verdict": "deadlock", "waits_for": 3, "missing": [], "level": []}, "a run of this"),
])
def test_a_malformed_or_impossible_prediction_fails_with_a_reason(answer, words):
    result = grade("ch05_rendezvous:predict", data_answer(answer))
    assert not result and words in result.reason, result.reason


def test_a_tmr_pin_6_cannot_reach_is_caught_by_the_visible_check():
    q = ch05.question(graded_seed("alice", ch05.NAME))
    other = next(i for i in (0, 1, 3) if i != q.dest)
    answer = {**ch05.solve(q), "level": [other]}
    result = grade("ch05_rendezvous:predict", data_answer(answer), "alice")
    assert not result and "which vCPUs can it make level-triggered" in result.reason


@needs_instructor
def test_the_solutions_worked_prediction_is_the_models_answer_for_every_question():
    for seed in range(400):
        q = ch05.question(seed)
        scope = {"my_question": lambda chapter, q=q: q}
        exec(solution_cells(NOTEBOOK)["part-a-answer"], scope)  # noqa: S102 - our own solution cell
        assert scope["prediction"] == ch05.solve(q), q


@needs_instructor
def test_the_key_is_each_students_own_question_and_ignores_the_verdicts_case():
    students = [f"s{i}" for i in range(40)]
    keys = {s: ch05.solve(ch05.question(graded_seed(s, ch05.NAME))) for s in students}
    alice, other = next((a, b) for a in students for b in students if keys[a] != keys[b])
    shouted = {**keys[alice], "verdict": keys[alice]["verdict"].upper()}
    assert grade("ch05_rendezvous:predict-key", data_answer(shouted), alice)
    result = grade("ch05_rendezvous:predict-key", data_answer(keys[alice]), other)
    assert not result and result.reason.startswith("not right yet")


@needs_instructor
def test_a_consistent_but_wrong_prediction_passes_the_visible_check_only():
    q = ch05.question(graded_seed("alice", ch05.NAME))
    key = ch05.solve(q)
    targets = [q.dest] if q.dest in (0, 1, 3) and (q.bystander or q.dest != 1) else []
    if key["verdict"] == "deadlock":
        wrong = {"verdict": "ok", "waits_for": None, "missing": [], "level": targets}
    else:
        wrong = {"verdict": "deadlock", "waits_for": 3, "missing": [0], "level": []}
    results = grade_all(["ch05_rendezvous:predict", "ch05_rendezvous:predict-key"],
                        data_answer(wrong))
    assert [r.passed for r in results] == [True, False], results
    assert results[1].reason.startswith("not right yet")


# ----------------------------------------------------------------- Part B
@pytest.mark.parametrize("schedule, words", [
    (STORY, "after 67 steps the run is not over yet"),
    (STORY + " finish", "bhyvectl does not wait for vCPU 3"),
    ("finish", "vCPU 3's IOAPIC write came under 'finish'"),
    ("bhyvectl* vcpu1* bhyvectl* vcpu3* finish", "the run ends ok, not deadlock"),
    ("vcpu3* vcpu3", "vcpu3 is blocked"),
    (17, "a schedule is a string or a list of strings"),
])
def test_a_schedule_that_misses_the_other_shape_fails_with_a_reason(schedule, words):
    result = grade("ch05_rendezvous:schedule", data_answer(schedule))
    assert not result and words in result.reason, result.reason


@needs_instructor
def test_the_solutions_schedule_passes_every_check():
    results = grade_all(["ch05_rendezvous:schedule", "ch05_rendezvous:schedule-path"],
                        solution_answer(NOTEBOOK, "schedule"))
    assert [r.passed for r in results] == [True, True], results
    assert ch05.OTHER_SHAPE in results[0].reason


# ----------------------------------------------------------------- Part C
# ec6f18e's answer in the initiator: update every TMR, no rendezvous.
NO_RENDEZVOUS = """
def vm_smp_rendezvous(self, vcpuid, dest, from_cpu):
    for i in members(dest):
        yield from self.rendezvous.func(i)
"""
# The solution's rendezvous without its wake-up from vm_handle_reqidle: a waiter
# that saw vCPU 1 RUNNING sleeps on after vCPU 1 has left for userspace.
NOT_TOLD = NO_WAIT.replace(
    """        if req == done:
            yield ops.store(rv.func_cell, 0, "vm_set_rendezvous_func")
    yield ops.unlock""",
    """        if req == done:
            yield ops.store(rv.func_cell, 0, "vm_set_rendezvous_func")
            break
        coming = False
        for i in members(req & ~done):
            state = yield ops.load(self.by_id[i].state_cell, "vm_handle_rendezvous")
            coming = coming or state in (RUNNING, SLEEPING)
        if not coming:
            break
        yield ops.cv_wait(rv.cv, rv.mtx, "vm_handle_rendezvous")
    yield ops.unlock""").replace(
    """    if (yield ops.load(rv.func_cell, "vm_handle_rendezvous")):
        req""", """    while (yield ops.load(rv.func_cell, "vm_handle_rendezvous")):
        req""").replace(
    """            yield ops.store(rv.done_cell, done, "vm_handle_rendezvous")
        if req""", """            yield ops.store(rv.done_cell, done, "vm_handle_rendezvous")
            yield ops.cv_broadcast(rv.cv, "vm_handle_rendezvous")
        if req""")
# The buggy rendezvous, restated: the explorer finds the chapter's deadlock.
RESTATED = """
def vm_handle_rendezvous(self, vcpuid):
    yield from super().vm_handle_rendezvous(vcpuid)
"""


@pytest.mark.parametrize("body, check, words", [
    (RESTATED, "keeps-rendezvous", "the write starts a rendezvous"),
    (DOES_EVERY_PART, "keeps-rendezvous", "vcpu0 wrote vcpu1.tmr"),
    (NO_RENDEZVOUS, "keeps-rendezvous", "vioapic_write no longer starts a rendezvous"),
    (NO_WAIT, "keeps-rendezvous", "every vCPU updates its own TMR"),
])
def test_keeps_rendezvous_asks_for_a_rendezvous_each_vcpu_takes_part_in(body, check, words):
    result = grade(f"ch05_rendezvous:{check}", vm(body))
    assert result.passed == words.startswith(("the write", "every")), result.reason
    assert words in result.reason, result.reason


def test_the_buggy_rendezvous_restated_deadlocks_under_the_explorer():
    result = grade("ch05_rendezvous:fix", vm(RESTATED))
    assert not result and "deadlock" in result.reason, result.reason
    assert "wait-for cycle" in result.reason and result.trace_json


def test_a_waiter_never_told_that_a_running_vcpu_left_fails_the_visible_fix():
    """The explorer's budget does not reach this deadlock (bhyvectl must get to
    vCPU 1 before the write, and vCPU 1 be caught between its reqidle check and
    going FROZEN); the visible check's directed run does."""
    assert NOT_TOLD.count("cv_wait") == 1 and "while (yield" in NOT_TOLD
    result = grade("ch05_rendezvous:fix", vm(NOT_TOLD))
    assert not result, result.reason
    assert "vCPU 1 was leaving for userspace" in result.reason, result.reason
    assert "deadlock" in result.reason and result.trace_json


def test_the_chapters_own_fix_holds_under_the_fix_check_but_drops_the_rendezvous():
    """ec6f18e, as the chapter prints it (the writer sets each TMR itself): the fix
    check's explorer finds no deadlock; Part C asks to keep the rendezvous instead."""
    ctx = Context("alice")
    result = ch05.check_fix(RunblockVm, ctx)
    assert result and "no longer deadlocks" in result.reason, result.reason
    result = ch05.check_keeps_rendezvous(RunblockVm, ctx)
    assert not result and "no longer starts a rendezvous" in result.reason, result.reason


@pytest.mark.parametrize("body, words", [
    ("x = 1", "should define vm_smp_rendezvous or vm_handle_rendezvous"),
    ("def vm_handle_rendezvous(self, vcpuid):\n    import os\n    yield ops.pause('x')",
     "import"),
    ("def vm_handle_rendezvous(self, vcpuid):\n    raise ValueError('no')\n    yield",
     "ValueError: no"),
])
def test_a_broken_class_fails_with_a_reason(body, words):
    result = grade("ch05_rendezvous:keeps-rendezvous", vm(body))
    assert not result and words in result.reason, result.reason


@needs_instructor
def test_a_rendezvous_that_never_waits_passes_the_visible_fix_and_fails_the_hidden_check():
    results = grade_all(["ch05_rendezvous:keeps-rendezvous", "ch05_rendezvous:fix",
                         "ch05_rendezvous:waits-for-running"], vm(NO_WAIT))
    assert [r.passed for r in results] == [True, True, False], results
    assert "vCPU 1 still ran its guest with the old TMR" in results[2].reason


@needs_instructor
def test_the_solutions_rendezvous_passes_every_check():
    hidden = hidden_module(ch05.NAME, instructor_dir())
    assert not set(hidden.CHECKS) & set(ch05.CHAPTER.checks)
    checks = ["keeps-rendezvous", "fix", "waits-for-running", "dest-frozen", "no-vcpu1",
              "timeouts"]
    results = grade_all([f"ch05_rendezvous:{c}" for c in checks],
                        solution_answer(NOTEBOOK, "KeepRendezvous"))
    assert [r.passed for r in results] == [True] * len(checks), results
