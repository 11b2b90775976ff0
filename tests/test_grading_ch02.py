"""Chapter 2's visible checks (OS-6829): wrong and broken answers fail with a reason.

Predict PPR from a seeded APIC state; strand vCPU0 by the path the chapter
did not walk; fix the notification rule with only ON in ``pending``. The
chapter's own fixes pass the fix check (and, keeping class bits, not Part C).
"""
import inspect
import random
import textwrap

import pytest
from grading_helpers import class_answer, data_answer, grade, subclass_answer

from simulator.errors import UsageError
from simulator.grading.chapters import ch02_pir as ch02
from simulator.grading.exercise import graded_seed
from simulator.models import posted
from simulator.models.vlapic import compute_ppr, prio

NARRATED = "vcpu0>vm_handle_hlt viona* vcpu0* cyclic* fire:apic_timer cyclic*"


def rule(body: str, name: str = "FixedPIR") -> dict:
    return subclass_answer("PostedInterrupts", body, name, "notify_needed(self, vector)")


# ----------------------------------------------------------------- Part A
def test_the_seeded_state_and_its_answer_come_from_the_same_vlapic():
    q = ch02.question(6829)
    assert q == ch02.question(6829) and "= ?" in str(q) and "practice question" in str(q)
    v = q.vlapic()
    assert q.answer() == {"ppr": v.ppr, "deliverable": prio(q.asked) > prio(v.ppr),
                          "delivers": v.highest_deliverable() or 0}


def test_ppr_is_tpr_when_its_class_is_at_least_the_highest_in_service():
    """The rule in three lines, against the model over many seeded states."""
    for seed in range(300):
        q = ch02.question(seed)
        top = max(q.isr, default=0)
        want = q.tpr if prio(q.tpr) >= prio(top) else prio(top)
        assert ch02.solve(q)["ppr"] == want == compute_ppr(q.tpr, q.vlapic().isr)


def test_the_questions_ask_both_ways_and_every_answer_is_consistent():
    qs = [ch02.question(s) for s in range(300)]
    answers = [ch02.solve(q) for q in qs]
    assert {a["deliverable"] for a in answers} == {True, False}
    assert {a["ppr"] == q.tpr for a, q in zip(answers, qs, strict=True)} == {True, False}
    assert {a["delivers"] == 0 for a in answers} == {True, False}
    assert all(ch02.consistent(a, q) is None for a, q in zip(answers, qs, strict=True))
    assert len({(q.tpr, q.isr, q.irr, q.asked) for q in qs}) > 250


def test_a_seed_must_be_a_whole_number_and_a_graded_one_is_not_answered():
    with pytest.raises(UsageError, match="a seed is a whole number"):
        ch02.question("6829")
    with pytest.raises(UsageError, match="is a graded question"):
        ch02.question(graded_seed("alice", "ch02_pir")).answer()


@pytest.mark.parametrize("answer, words", [
    (0x70, "should be a dict"),
    ({"ppr": 0x70}, "has no 'deliverable'"),
    ({"ppr": "0x70", "deliverable": True, "delivers": 0}, "ppr should be an integer"),
    ({"ppr": 0x70, "deliverable": 1, "delivers": 0}, "deliverable should be True or False"),
    ({"ppr": 0x70, "deliverable": True, "delivers": 7}, "delivers should be a vector, or 0"),
])
def test_a_malformed_prediction_fails_with_a_reason(answer, words):
    result = grade("ch02_pir:predict", data_answer(answer))
    assert not result and words in result.reason, result.reason


def test_values_that_contradict_the_students_own_ppr_fail_and_say_which():
    q = ch02.question(graded_seed("alice", "ch02_pir"))
    ppr = random.Random(1).choice([0x00, 0x50, 0xF0])
    right = {"ppr": ppr, "deliverable": prio(q.asked) > prio(ppr),
             "delivers": max(q.irr) if prio(max(q.irr)) > prio(ppr) else 0}
    assert grade("ch02_pir:predict", data_answer(right), "alice")
    result = grade("ch02_pir:predict", data_answer({**right, "deliverable":
                                                    not right["deliverable"]}), "alice")
    assert not result and "does not fit ppr" in result.reason


# ----------------------------------------------------------------- Part B
def test_the_narrated_path_strands_the_vcpu_too():
    """The visible check asks for a stranded vCPU; the path is the grader's to check."""
    result = grade("ch02_pir:schedule", data_answer(NARRATED))
    assert result and "vector 0xd3 is deliverable at PPR 0x70 but vCPU0 sleeps" in result.reason


@pytest.mark.parametrize("schedule, words", [
    ("finish", "the run ends ok, not stuck: vCPU0 woke and handled"),
    ("vcpu0*", "not over yet (possible next: viona, cyclic)"),
    ("cyclic", "cyclic is blocked: halted until apic.icr_timer != 0"),
    ("vcpu0>no_such_function", "vcpu0 stopped before reaching no_such_function"),
    (None, "a schedule is a string or a list of strings, not NoneType"),
])
def test_a_schedule_that_does_not_strand_the_vcpu_fails_with_a_reason(schedule, words):
    result = grade("ch02_pir:schedule", data_answer(schedule))
    assert not result and words in result.reason


# ----------------------------------------------------------------- Part C
def as_typed(cls: type) -> str:
    """The fix as a student would type it from the chapter's diffs: one class on
    the buggy ``PostedInterrupts`` with every hook the commits changed."""
    hooks = {}
    for klass in reversed(cls.__mro__[:cls.__mro__.index(posted.PostedInterrupts)]):
        for name, value in vars(klass).items():
            if inspect.isfunction(value):
                hooks[name] = textwrap.indent(textwrap.dedent(inspect.getsource(value)), "    ")
    return f"class {cls.__name__}(PostedInterrupts):\n" + "\n".join(hooks.values())


@pytest.mark.parametrize("cls, words", [
    (posted.PrioPostedInterrupts, "after posting 0x60, pending = 0x41"),
    (posted.PendingPrioPostedInterrupts, "cells the buggy one has not (pir.pending_prio)"),
])
def test_the_chapters_printed_fixes_pass_the_fix_check_but_keep_class_bits(cls, words):
    printed = class_answer(as_typed(cls))
    result = grade("ch02_pir:any-fix", printed)
    assert result and "visited every reachable state" in result.reason, result.reason
    result = grade("ch02_pir:on-only", printed)
    assert not result and words in result.reason, result.reason


# The rule compared with the PIR *including* the new vector: never higher.
INCLUDES_ITSELF = """
old = yield ops.fetch_or(self.pending, PIR_MASK_PENDING, "vmx_set_intr_ready")
if not old & PIR_MASK_PENDING:
    return True
for i in range(PIR_WORDS - 1, -1, -1):
    word = yield ops.load(self.words[i], "vmx_set_intr_ready")
    if word:
        return prio(vector) > prio(i * 64 + word.bit_length() - 1)
return True
"""
BUGGY = """
old = yield ops.cas(self.pending, 0, 1, "vmx_set_intr_ready")
return old == 0
"""


@pytest.mark.parametrize("body, words", [
    (BUGGY, "the OS-6829 race as the explorer finds it in the buggy code"),
    (INCLUDES_ITSELF, "stuck"),
    ("raise NotImplementedError()",
     "even a plain run (threads taking turns) ends violation: viona raised NotImp"),
    ("yield 'notify please'", "viona yielded 'notify please', which is not an op"),
    ("while True:\n    yield ops.load(self.pending, 'vmx_set_intr_ready')",
     "ends limit: step budget of 5000 spent (the run never ends"),
])
def test_a_wrong_or_broken_rule_fails_the_fix_check_with_a_reason(body, words):
    result = grade("ch02_pir:fix", rule(body))
    assert not result and words in result.reason, result.reason


@pytest.mark.parametrize("body, words", [
    ("raise NotImplementedError()", "the answer's code raised NotImplementedError"),
    ("yield 'notify please'", "posting 0x60: the code yielded 'notify please', which is not"),
    ("while True:\n    yield ops.load(self.pending, 'vmx_set_intr_ready')",
     "posting 0x60: more than 1000 ops for one post"),
])
def test_a_broken_rule_fails_the_first_check_with_a_reason_too(body, words):
    result = grade("ch02_pir:on-only", rule(body))
    assert not result and words in result.reason, result.reason


def test_a_rule_that_sets_class_bits_fails_part_c_at_once():
    body = """
    bit = 1 << (vector >> 4)
    old = yield ops.fetch_or(self.pending, bit | PIR_MASK_PENDING, "vmx_set_intr_ready")
    return not old & PIR_MASK_PENDING or bit > old
    """
    result = grade("ch02_pir:on-only", rule(body))
    assert not result and result.reason.startswith("after posting 0x60, pending = 0x41")
