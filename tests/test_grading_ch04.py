"""Chapter 4's checks (illumos #14026): keys that hold, wrong answers that fail with a reason.

Predict what a seeded run of the wake-up handshake does; lose the TX worker's
wake-up and deadlock the naive fix with schedules; write a ring worker that
does neither. The chapter's 6703a0e ring passes the asleep check and fails
the awake one; the solution's ring passes both, and the hidden ones.
"""
import inspect
from collections import Counter

import pytest
from grading_helpers import (
    RING_SIGNS_UNLOCKED,
    data_answer,
    grade,
    grade_all,
    needs_instructor,
    solution_answer,
    solution_cells,
    subclass_answer,
)

from simulator.errors import UsageError
from simulator.grading.chapters import ch04_lease as ch04
from simulator.grading.exercise import graded_seed
from simulator.models.viona import LockedExpireRing, VionaRing

NOTEBOOK = "04-Lease-Livelock.ipynb"


def ring(body: str, name: str = "Mine") -> dict:
    return subclass_answer("VionaRing", body, name)


# ----------------------------------------------------------------- Part A
def test_the_question_and_its_answer_come_from_the_same_run():
    q = ch04.question(14026)
    assert q == ch04.question(14026) and "= ?" in str(q) and "practice question" in str(q)
    steps = q.steps()
    assert q.answer()["checked"] == next(s["result"] for s in steps if s["op"] == "load")


def test_the_question_shows_whose_turn_it_was_and_nothing_the_steps_did():
    """The printed run is the order of turns up to the broadcast: no loaded value,
    no wake-up, no sleep to read the answer off. Those turns decide the answer:
    however the two threads finish, the run ends as ``solve`` says."""
    for seed in range(60):
        q = ch04.question(seed)
        text = str(q)
        shown = text.split("up to the writer's cv_broadcast:\n#   ")[1].split("\n")[0]
        assert shown.split() == list(q.turns()) and set(shown.split()) <= {"worker", "writer"}
        assert "woken:" not in text and "re-takes" not in text
        for finish in (("worker", "writer"), ("writer", "worker")):
            m = ch04.handshake(q.locked)
            m.replay(list(q.turns()))
            while m.enabled():  # finish with one thread first, then the other
                m.step(next(a for a in finish if a in m.enabled()))
            load = next(s["result"] for s in m.records if s["op"] == "load")
            woken = next(s["result"] for s in m.records if s["op"] == "cv_broadcast")
            asleep = any(s["op"] == "cv_wait" for s in m.records) and not woken
            assert {"checked": load, "woken": woken, "stuck": asleep} == ch04.solve(q), seed


def test_the_questions_ask_every_outcome_both_ways():
    """The lost wake-up is asked about about as often as the runs that end well."""
    seen = Counter((q.locked, tuple(sorted(ch04.solve(q).items())))
                   for q in map(ch04.question, range(200)))
    assert {locked for locked, _ in seen} == {True, False}
    stuck = sum(n for (_, key), n in seen.items() if dict(key)["stuck"])
    assert 20 < stuck < 120
    assert not any(locked and dict(key)["stuck"] for locked, key in seen)
    assert all(ch04.consistent(ch04.solve(ch04.question(s))) is None for s in range(200))


@needs_instructor
def test_the_solutions_worked_prediction_is_the_runs_answer_for_every_question():
    for seed in range(300):
        q = ch04.question(seed)
        scope = {"my_question": lambda chapter, q=q: q}
        exec(solution_cells(NOTEBOOK)["part-a-answer"], scope)  # noqa: S102 - our own solution cell
        assert scope["prediction"] == ch04.solve(q), seed


def test_a_seed_must_be_a_whole_number_and_a_graded_one_is_not_answered():
    with pytest.raises(UsageError, match="a seed is a whole number"):
        ch04.question(-1)
    with pytest.raises(UsageError, match="is a graded question"):
        ch04.question(graded_seed("alice", "ch04_lease")).answer()


@pytest.mark.parametrize("answer, words", [
    ([0, 1, False], "should be a dict"),
    ({"checked": 0, "woken": 1}, "has no 'stuck'"),
    ({"checked": 2, "woken": 0, "stuck": False}, "checked should be 0 or 1"),
    ({"checked": 0, "woken": 1, "stuck": "no"}, "stuck should be True or False"),
    ({"checked": 1, "woken": 1, "stuck": False}, "never sleeps"),
    ({"checked": 0, "woken": 1, "stuck": True}, "exactly when the broadcast woke nobody"),
])
def test_a_malformed_or_impossible_prediction_fails_with_a_reason(answer, words):
    result = grade("ch04_lease:predict", data_answer(answer))
    assert not result and words in result.reason, result.reason


@needs_instructor
def test_a_possible_but_wrong_prediction_passes_the_visible_check_only():
    key = ch04.solve(ch04.question(graded_seed("alice", "ch04_lease")))
    wrong = ({"checked": 1, "woken": 0, "stuck": False} if key["checked"] == 0
             else {"checked": 0, "woken": 0, "stuck": True})
    results = grade_all(["ch04_lease:predict", "ch04_lease:predict-key"], data_answer(wrong))
    assert [r.passed for r in results] == [True, False]
    assert results[1].reason.startswith("not right yet")


# ----------------------------------------------------------------- Part B
@needs_instructor
def test_the_solutions_schedules_pass_every_check():
    lost, abba = solution_answer(NOTEBOOK, "lost"), solution_answer(NOTEBOOK, "abba")
    assert all(grade_all(["ch04_lease:lost", "ch04_lease:lost-report"], lost))
    assert grade("ch04_lease:abba", abba)


@pytest.mark.parametrize("check, schedule, words", [
    ("lost", "finish", "the run ends ok, not stuck"),
    ("lost", "vcpu0*", "not over yet"),
    ("lost", "tx", "tx is blocked: cv_wait_sig on tx.vr_cv"),
    ("abba", "finish", "the run ends ok, not deadlock"),
    ("abba", None, "a schedule is a string or a list of strings"),
])
def test_a_schedule_that_misses_fails_with_a_reason(check, schedule, words):
    result = grade(f"ch04_lease:{check}", data_answer(schedule))
    assert not result and words in result.reason, result.reason


@needs_instructor
def test_a_lost_wakeup_without_vcpu1_in_the_picture_fails_the_hidden_check():
    """The visible check asks for the lost wake-up; the report's picture, vCPU 1
    frozen out in vcpu_lock_one, is the grader's to ask for."""
    early = ("vcpu1* vcpu0* tx* vcpu0>vmm_lease_unblock vcpu0>vmm_write_unlock vcpu0 "
             "tx>viona_worker vcpu0* tx*")
    results = grade_all(["ch04_lease:lost", "ch04_lease:lost-report"], data_answer(early))
    assert [r.passed for r in results] == [True, False], results


# ----------------------------------------------------------------- Part C
@needs_instructor
def test_the_solutions_ring_passes_every_check():
    checks = ["fix", "fix-awake", "fix-capped", "fix-capped-awake", "fix-rx"]
    results = grade_all([f"ch04_lease:{c}" for c in checks], solution_answer(NOTEBOOK, "SafeRing"))
    assert all(results), results
    assert "visited every reachable state" in results[0].reason
    # the awake check is about the deadlock as much as the lost wake-up: it says both
    assert "neither loses the TX worker's wake-up nor deadlocks" in results[1].reason


def test_6703a0e_ring_closes_the_window_but_hangs_with_the_worker_awake():
    printed = ring(inspect.getsource(LockedExpireRing.viona_ring_lease_expire_cb))
    results = grade_all(["ch04_lease:fix", "ch04_lease:fix-awake"], printed)
    assert [r.passed for r in results] == [True, False], results
    assert "a cycle through vmm_lease_cv" in results[1].reason



@pytest.mark.parametrize("body, check, words", [
    (inspect.getsource(VionaRing.viona_ring_lease_expire_cb), "fix",
     "the explorer found a stuck run"),
    ("def viona_ring_lease_expire_cb(self):\n    return False\n    yield", "fix",
     "even a plain run (threads taking turns) ends stuck"),
    (RING_SIGNS_UNLOCKED, "fix", "stuck"),
    ("def keep_lease_fresh(self):\n    raise NotImplementedError()", "fix",
     "raised NotImplementedError"),
    ("def keep_lease_fresh(self):\n    yield 'renew please'", "fix-awake",
     "yielded 'renew please', which is not an op"),
])
def test_a_wrong_or_broken_ring_fails_with_a_reason(body, check, words):
    result = grade(f"ch04_lease:{check}", ring(body))
    assert not result and words in result.reason, result.reason
