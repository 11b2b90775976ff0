"""Grading the OS-6829 exercises: right answers pass, wrong ones fail with a reason.

Predict PPR from a seeded APIC state; find the schedule that strands vCPU0
asleep with its clock interrupt posted; fix ``vmx_set_intr_ready``'s
notification rule. A check never crashes and never hangs.
"""
import pytest

from simulator.engine import ops
from simulator.errors import UsageError
from simulator.grading import hidden_pir, pir
from simulator.grading.budget import alarm_available
from simulator.grading.checks import require
from simulator.models.posted import (
    PIR_MASK_PENDING,
    PendingPrioPostedInterrupts,
    PostedInterrupts,
    PrioPostedInterrupts,
)
from simulator.models.vlapic import compute_ppr, prio


# ------------------------------------------------------------- posted codes
class ClaimsWithTheFix(PostedInterrupts):
    """The two hooks the exercise gives: claim 'pending' whole, flush stale classes."""

    take_pending = PrioPostedInterrupts.take_pending
    vmx_flush_pir_prio = PrioPostedInterrupts.vmx_flush_pir_prio


class OneAtomicOr(ClaimsWithTheFix):
    """A student's rule: record the class with one locked OR, then decide."""

    def notify_needed(self, vector):
        bit = 1 << (vector >> 4)
        old = yield ops.fetch_or(self.pending, bit | PIR_MASK_PENDING, "vmx_set_intr_ready")
        return not old & PIR_MASK_PENDING or bit > old


class NotifiesAlways(ClaimsWithTheFix):
    def notify_needed(self, vector):
        yield ops.fetch_or(self.pending, PIR_MASK_PENDING, "vmx_set_intr_ready")
        return True


class RuleWithoutTheClaim(PostedInterrupts):
    """The fixed rule alone: class bits in 'pending', but claimed with cas(1, 0)."""

    notify_needed = PrioPostedInterrupts.notify_needed


class Raises(ClaimsWithTheFix):
    def notify_needed(self, vector):
        raise NotImplementedError()


class YieldsNonsense(ClaimsWithTheFix):
    def notify_needed(self, vector):
        yield "notify please"


class SpinsYielding(ClaimsWithTheFix):
    def notify_needed(self, vector):
        while True:
            yield ops.load(self.pending, "vmx_set_intr_ready")


class SpinsSilently(ClaimsWithTheFix):
    def notify_needed(self, vector):
        while True:
            pass
        yield


# ----------------------------------------------------------------- predict
def test_the_seeded_state_and_its_answer_come_from_the_same_vlapic():
    q = pir.ppr_question(6829)
    assert q == pir.ppr_question(6829) and "= ?" in str(q)
    v = q.vlapic()
    assert pir.ppr_expected(6829) == {"ppr": v.ppr, "deliverable": prio(q.asked) > prio(v.ppr),
                                      "delivers": v.highest_deliverable() or 0}
    assert require(pir.check_ppr_prediction(dict(pir.ppr_expected(6829)), 6829))


def test_ppr_is_tpr_when_its_class_is_at_least_the_highest_in_service():
    """The rule in three lines, against the model over many seeded states."""
    for seed in range(300):
        q = pir.ppr_question(seed)
        top = max(q.isr, default=0)
        want = q.tpr if prio(q.tpr) >= prio(top) else prio(top)
        assert pir.ppr_expected(seed)["ppr"] == want == compute_ppr(q.tpr, q.vlapic().isr)


def test_the_questions_ask_both_ways():
    """Across seeds, PPR comes from TPR and from ISR, and vectors are and are not deliverable."""
    answers = [(pir.ppr_expected(s), pir.ppr_question(s)) for s in range(200)]
    assert {a["deliverable"] for a, _ in answers} == {True, False}
    assert {a["ppr"] == q.tpr for a, q in answers} == {True, False}
    assert {a["delivers"] == 0 for a, _ in answers} == {True, False}


def test_a_wrong_prediction_names_the_wrong_keys():
    want = pir.ppr_expected(6829)
    result = pir.check_ppr_prediction({**want, "ppr": want["ppr"] ^ 0x10}, 6829)
    assert not result and result.reason.startswith("not right yet: ppr (")


@pytest.mark.parametrize("answer, words_in_reason", [
    (0x70, "should be a dict"),
    ({"ppr": 0x70}, "has no 'deliverable'"),
    ({"ppr": "0x70", "deliverable": 1, "delivers": None}, "not right yet"),
])
def test_a_nonsense_prediction_fails_with_a_reason(answer, words_in_reason):
    result = pir.check_ppr_prediction(answer, 6829)
    assert not result and words_in_reason in result.reason


def test_a_seed_must_be_an_integer():
    with pytest.raises(UsageError, match="a seed is an integer"):
        pir.ppr_question("6829")


# --------------------------------------------------------------- schedules
def test_the_report_schedule_strands_vcpu0_the_way_the_report_saw_it():
    result = pir.check_stranding_schedule(pir.OS6829_SCHEDULE)
    assert result, result.reason
    assert "vector 0xd3 is deliverable at PPR 0x70 but vCPU0 sleeps" in result.reason
    assert require(hidden_pir.check_schedule_matches_report(pir.OS6829_SCHEDULE))


def test_waking_for_0x60_and_sleeping_again_also_strands_it_but_is_not_the_reports_path():
    """vCPU0 halts first; 0x60 wakes it; it looks, sleeps again; 0xd3 notifies nobody."""
    schedule = "vcpu0* viona* vcpu0* cyclic* fire:apic_timer cyclic*"
    assert require(pir.check_stranding_schedule(schedule))
    result = hidden_pir.check_schedule_matches_report(schedule)
    assert not result and "went to sleep 2 time(s) and was woken 1 time(s)" in result.reason


@pytest.mark.parametrize("schedule, words_in_reason", [
    ("finish", "the run ends ok, not stuck: vCPU0 woke and handled"),
    ("vcpu0*", "not over yet (possible next: viona, cyclic)"),
    ("cyclic", "cyclic is blocked: halted until apic.icr_timer != 0"),
    ("vcpu0>no_such_function", "vcpu0 stopped before reaching no_such_function"),
    (None, "a schedule is a string or a list of strings, not NoneType"),
])
def test_a_schedule_that_does_not_strand_the_vcpu_fails_with_a_reason(schedule, words_in_reason):
    result = pir.check_stranding_schedule(schedule)
    assert not result and words_in_reason in result.reason


# --------------------------------------------------------------------- fix
@pytest.mark.parametrize("fixed", [PrioPostedInterrupts, OneAtomicOr])
def test_the_fix_passes_every_check_and_the_reason_states_the_bound(fixed):
    result = pir.check_pir_fix(fixed)
    assert result, result.reason
    assert result.reason.startswith("the OS-6829 schedule no longer strands the vCPU")
    assert "visited every reachable state" in result.reason
    for check in (hidden_pir.check_fix_two_vectors, hidden_pir.check_fix_low_clock,
                  hidden_pir.check_no_flood):
        assert require(check(fixed))


def test_the_later_upstream_form_passes_too():
    """pending_prio notifies once more for a second vector of the first class: allowed."""
    assert require(hidden_pir.check_no_flood(PendingPrioPostedInterrupts))


def test_the_buggy_rule_fails_on_the_report_schedule():
    result = pir.check_pir_fix(PostedInterrupts)
    assert not result and result.reason.startswith("the OS-6829 schedule still ends stuck")
    assert result.trace.verdict.kind == "stuck"


def test_notifying_on_every_post_never_strands_the_vcpu_but_fails_the_hidden_check():
    assert pir.check_pir_fix(NotifiesAlways, max_states=30_000)
    result = hidden_pir.check_no_flood(NotifiesAlways)
    assert not result
    assert result.reason == "posting 0xd4 after 0x60, 0x61, 0xd3 asked for a notification"


def test_the_rule_without_the_new_claim_spins_once_the_clock_is_below_the_network():
    """cas(pending, 1, 0) fails once class bits ride along: ON stays set, and at
    PPR 0 vm_handle_hlt keeps returning at once — a vCPU that never sleeps."""
    assert pir.check_pir_fix(RuleWithoutTheClaim, max_states=40_000)
    result = hidden_pir.check_fix_low_clock(RuleWithoutTheClaim)
    assert not result and "found a limit run" in result.reason
    assert "does the vCPU keep waking up for nothing" in result.reason


@pytest.mark.parametrize("posted, words_in_reason", [
    (Raises, "even a plain run (threads taking turns) ends violation: viona raised NotImp"),
    (YieldsNonsense, "viona yielded 'notify please', which is not an op"),
    (SpinsYielding, "ends limit: step budget of 5000 spent (the run never ends"),
    (None, "expected a class derived from PostedInterrupts, got NoneType"),
    (OneAtomicOr(), "expected a class derived from PostedInterrupts"),
    (dict, "dict does not derive from PostedInterrupts"),
])
def test_broken_posted_interrupt_code_fails_with_a_reason(posted, words_in_reason):
    result = pir.check_pir_fix(posted, max_states=2_000)
    assert not result and words_in_reason in result.reason
    assert not hidden_pir.check_no_flood(posted)


@pytest.mark.skipif(not alarm_available(), reason="no SIGALRM here")
def test_code_that_loops_without_yielding_fails_after_the_time_limit():
    result = pir.check_pir_fix(SpinsSilently, seconds=0.5)
    assert not result and result.reason.startswith("fix: gave up after 0.5 s")
    assert not hidden_pir.check_no_flood(SpinsSilently, seconds=0.5)
