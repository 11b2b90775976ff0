"""Chapter 1's visible checks (OS-7613): wrong and broken answers fail with a reason.

Predict (seeded, OSTEP style), break a wrong fix, judge five barrier
placements, fix the device without mfence. The chapter's own fix passes the
fix check; answers that are correct are tested where the keys live
(``test_grading_keys.py``, instructor only).
"""
import inspect

import pytest
from grading_helpers import LOCKED_TOO_EARLY, class_answer, data_answer, grade, subclass_answer

from simulator.errors import UsageError
from simulator.grading.chapters import ch01_virtio as ch01
from simulator.grading.exercise import GRADED_FROM, graded_seed
from simulator.models import virtio

FLAGS_SCHEDULE = ("vcpu0* blkio* fire:io.req0 blkio* vcpu0>virtqueue_enable_cb_prepare "
                  "drain:cpu0 fire:io.req1 blkio>vq_endchains blkio*2 vcpu0* blkio*")


def device(methods: str, name: str = "FixedDevice") -> dict:
    return subclass_answer("VirtioDevice", methods, name)


# ----------------------------------------------------------------- Part A
def test_a_question_is_the_same_for_the_same_seed_and_hides_its_answer():
    q = ch01.question(7613)
    assert q == ch01.question(7613) and q.schedule in str(q) and "= ?" in str(q)
    assert q.answer() == ch01.solve(q)
    assert "practice question" in str(q)


def test_every_question_can_be_followed_and_agrees_with_the_chapters_rules():
    """All 18 questions (12 orders with the buggy device, 6 with the fixed one)."""
    answers = [ch01.solve(ch01.Question(0, d, o)) for d, o in ch01.QUESTIONS]
    assert len(answers) == 18 and all(ch01.consistent(a) is None for a in answers)
    assert {a["verdict"] for a in answers} == {"ok", "stuck"}
    assert {(a["flags_seen"], a["poll_reads"]) for a in answers} == {(0, 1), (0, 2), (1, 1),
                                                                     (1, 2)}


def test_a_graded_question_is_not_answered_outside_the_grader():
    seed = graded_seed("alice", "ch01_virtio")
    assert seed >= GRADED_FROM and "graded question" in str(ch01.question(seed))
    with pytest.raises(UsageError, match="is a graded question"):
        ch01.question(seed).answer()


@pytest.mark.parametrize("answer, words", [
    (None, "should be a dict"),
    ([0, 2, 1, "ok"], "should be a dict"),
    ({"flags_seen": 0}, "has no 'interrupts'"),
    ({"flags_seen": 0, "interrupts": 2, "poll_reads": 1, "verdict": "ok", "why": 1},
     "keys nobody asked for: 'why'"),
    ({"flags_seen": True, "interrupts": 2, "poll_reads": 1, "verdict": "ok"},
     "flags_seen should be 0 or 1"),
    ({"flags_seen": 0, "interrupts": "2", "poll_reads": 1, "verdict": "ok"}, "interrupts should"),
    ({"flags_seen": 0, "interrupts": 2, "poll_reads": 1, "verdict": "hung"}, "verdict should"),
    ({"flags_seen": 1, "interrupts": 2, "poll_reads": 2, "verdict": "ok"},
     "interrupts = 2 does not fit flags_seen = 1"),
    ({"flags_seen": 1, "interrupts": 1, "poll_reads": 1, "verdict": "ok"},
     "verdict = 'ok' does not fit flags_seen = 1 and poll_reads = 1"),
    ({"flags_seen": 0, "interrupts": 2, "poll_reads": 1, "verdict": "stuck"}, "does not fit"),
])
def test_a_malformed_or_self_contradicting_prediction_fails_with_a_reason(answer, words):
    result = grade("ch01_virtio:predict", data_answer(answer))
    assert not result and words in result.reason, result.reason


def test_a_consistent_prediction_passes_the_visible_check_without_being_told_the_key():
    for guess in ({"flags_seen": 0, "interrupts": 2, "poll_reads": 1, "verdict": "ok"},
                  {"flags_seen": 1, "interrupts": 1, "poll_reads": 1, "verdict": "STUCK"}):
        result = grade("ch01_virtio:predict", data_answer(guess))
        assert result and "the grader compares them with the model's run" in result.reason


# ----------------------------------------------------------------- Part B
def test_the_wrong_fix_holds_in_flags_mode_as_its_author_saw():
    from simulator.search import search

    assert search("virtio-barriers", ch01.FlagsModeFenceDevice, max_states=50_000).exhausted


def test_the_reports_two_write_schedule_does_not_fit_three_writes():
    result = grade("ch01_virtio:schedule", data_answer(FLAGS_SCHEDULE))
    assert not result and "not over yet (possible next: fire:io.req2)" in result.reason


@pytest.mark.parametrize("schedule, words", [
    ("finish", "the run ends ok, not stuck: all 3 requests completed"),
    ("vcpu0*", "not over yet (possible next: blkio)"),
    ("blkio* blkio", "'blkio' cannot run now (blkio is blocked: cv_wait on bc_cond"),
    ("drain:cpu1", "that store buffer is empty"),
    ("fire:io.req7", "no such timer is armed"),
    ("vcpu0>no_such_function", "vcpu0 stopped before reaching no_such_function"),
    ("vcpu0 ** x", "cannot read schedule word '**'"),
    (42, "a schedule is a string or a list of strings, not int"),
    (["vcpu0", None], "schedule entry None is not a string"),
])
def test_a_schedule_that_does_not_lose_the_interrupt_fails_with_a_reason(schedule, words):
    result = grade("ch01_virtio:schedule", data_answer(schedule))
    assert not result and words in result.reason, result.reason


# ----------------------------------------------------------------- Part C
def test_the_placed_devices_differ_only_in_where_the_fence_is():
    kinds = {label: [s for s in inspect.getsource(ch01.PlacedFenceDevice).splitlines()
                     if f'fence_at("{label}"' in s] for label in ch01.LABELS}
    assert all(len(lines) == 1 for lines in kinds.values())
    with pytest.raises(UsageError, match="a placement is one of A, B, C, D, E"):
        ch01.placed("F")


@pytest.mark.parametrize("answer, words", [
    ({"A": "sound"}, "one entry per place, A, B, C, D, E (got ['A'])"),
    ("sound", "one entry per place"),
    ({label: "sound" for label in "ABCDEF"}, "one entry per place"),
    ({**{label: "sound" for label in "ABCDE"}, "C": FLAGS_SCHEDULE},
     "C: the schedule does not show a lost interrupt with the fence at C"),
    ({**{label: "sound" for label in "ABCDE"}, "A": "finish"},
     "A: the schedule does not show a lost interrupt with the fence at A: the run ends ok"),
    ({**{label: "sound" for label in "ABCDE"}, "B": "unsound"},
     "B: 'unsound': 'unsound' cannot run now"),
])
def test_placements_without_evidence_fail_with_the_place_named(answer, words):
    result = grade("ch01_virtio:placements", data_answer(answer))
    assert not result and words in result.reason, result.reason


def test_calling_every_place_sound_passes_the_visible_check_and_says_the_grader_decides():
    result = grade("ch01_virtio:placements", data_answer({label: "sound" for label in "ABCDE"}))
    assert result and "the grader checks the places you call sound" in result.reason


# ----------------------------------------------------------------- Part D
def test_the_chapters_printed_fix_passes_the_fix_check_but_part_d_wants_no_mfence():
    printed = class_answer(inspect.getsource(virtio.FencedVirtioDevice))
    result = grade("ch01_virtio:any-fix", printed)
    assert result and "visited every reachable state" in result.reason, result.reason
    result = grade("ch01_virtio:fix", printed)
    assert not result and "ops.fence is not allowed here: Part D asks for a fix without mfence" \
        in result.reason


def test_a_subclass_of_the_shipped_fix_is_not_an_answer():
    result = grade("ch01_virtio:fix", class_answer("class F(FencedVirtioDevice):\n    pass\n"))
    assert not result and "should derive from VirtioDevice alone" in result.reason


BUGGY = """
def barrier_before_notify_check(self):
    return
    yield
"""
# A locked op after the loads it should have held back.
LOCKED_TOO_LATE = """
def vq_endchains(self):
    r = self.ring
    old_idx = self.vq_save_used
    new_idx = yield ops.load(r.USED_IDX, "vq_endchains")
    self.vq_save_used = new_idx
    if self.event_idx:
        intr = vring_need_event((yield ops.load(r.USED_EVENT, "vq_endchains")), new_idx, old_idx)
    else:
        flags = yield ops.load(r.AVAIL_FLAGS, "vq_endchains")
        intr = new_idx != old_idx and not flags & VRING_AVAIL_F_NO_INTERRUPT
    yield ops.fetch_add(r.USED_IDX, 0, "vq_endchains")
    if intr:
        yield from self.vq_interrupt()
"""


@pytest.mark.parametrize("methods, words", [
    (BUGGY, "the OS-7613 race as the explorer finds it in the buggy code"),
    (LOCKED_TOO_EARLY, "still ends stuck"),
    ("def vq_endchains(self):\n    raise NotImplementedError()",
     "even a plain run (threads taking turns) ends violation: blkio raised NotImp"),
    ("def vq_endchains(self):\n    yield 'mfence please'",
     "blkio yielded 'mfence please', which is not an op"),
    ("def vq_endchains(self):\n    while True:\n        yield ops.load(self.ring.USED_IDX, 'x')",
     "ends limit: step budget of 5000 spent (does a thread never stop?)"),
    ("def vq_endchains(self):\n    while True:\n        pass\n    yield",
     "more than 100,000 loop iterations without yielding an op"),
])
def test_a_wrong_or_broken_fix_fails_with_a_reason(methods, words):
    result = grade("ch01_virtio:fix", device(methods))
    assert not result and words in result.reason, result.reason


def test_a_locked_op_after_the_loads_is_no_fix_either():
    result = grade("ch01_virtio:fix", device(LOCKED_TOO_LATE))
    assert not result and "found a stuck run" in result.reason
    assert result.trace is not None and result.trace.verdict.kind == "stuck"
