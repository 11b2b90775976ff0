"""Grading OS-7613 exercises: right answers pass, wrong ones fail with a reason.

A check never crashes and never hangs: an answer that raises, loops forever
or is nonsense is a failed check whose reason says so.
"""
import pytest

from simulator.engine import ops
from simulator.grading import hidden, predict
from simulator.grading.budget import alarm_available
from simulator.grading.checks import (
    OS7613_SCHEDULE,
    CheckResult,
    check_fix,
    check_prediction,
    check_schedule,
    require,
)
from simulator.grading.schedules import ShorthandError, expand, words
from simulator.models.virtio import (
    VRING_AVAIL_F_NO_INTERRUPT,
    FencedVirtioDevice,
    VirtioDevice,
    vring_need_event,
)


# ---------------------------------------------------------------- devices
class RewrittenFix(VirtioDevice):
    """A student's vq_endchains: bhyve's rules with the barrier."""

    def vq_endchains(self):
        r = self.ring
        old, new = self.vq_save_used, (yield ops.load(r.USED_IDX, "vq_endchains"))
        self.vq_save_used = new
        yield ops.fence("vq_endchains")
        if self.event_idx:
            intr = vring_need_event((yield ops.load(r.USED_EVENT, "vq_endchains")), new, old)
        else:
            flags = yield ops.load(r.AVAIL_FLAGS, "vq_endchains")
            intr = new != old and not flags & VRING_AVAIL_F_NO_INTERRUPT
        if intr:
            yield from self.vq_interrupt()


class FenceInFlagsModeOnly(RewrittenFix):
    def barrier_before_notify_check(self):
        if not self.event_idx:
            yield ops.fence("vq_endchains")

    def vq_endchains(self):
        yield from VirtioDevice.vq_endchains(self)


class AlwaysInterrupts(VirtioDevice):
    def vq_endchains(self):
        self.vq_save_used = yield ops.load(self.ring.USED_IDX, "vq_endchains")
        yield from self.vq_interrupt()


class Raises(VirtioDevice):
    def vq_endchains(self):
        raise NotImplementedError()


class YieldsNonsense(VirtioDevice):
    def vq_endchains(self):
        yield "mfence please"


class SpinsYielding(VirtioDevice):
    def vq_endchains(self):
        while True:
            yield ops.load(self.ring.USED_IDX, "vq_endchains")


class SpinsSilently(VirtioDevice):
    def vq_endchains(self):
        while True:
            pass
        yield


# ---------------------------------------------------------------- results
def test_a_check_result_is_truthy_when_passed_and_require_raises_its_reason():
    assert CheckResult(True, "fine") and not CheckResult(False, "no")
    assert require(CheckResult(True, "fine")).reason == "fine"
    with pytest.raises(AssertionError, match="^the reason$"):
        require(CheckResult(False, "the reason"))


# ---------------------------------------------------------------- predict
def test_the_seeded_question_and_its_answer_come_from_the_same_schedule():
    q = predict.question(7613)
    assert q == predict.question(7613) and q.schedule in str(q)
    assert "= ?" in str(q)  # the question hides its answer
    assert predict.expected(7613) == predict.outcome(q.schedule)
    assert require(check_prediction(dict(predict.expected(7613)), predict.expected(7613)))


def test_every_order_of_the_four_events_can_be_followed_and_some_lose_the_interrupt():
    verdicts = {predict.Question(0, order).answer()["verdict"] for order in predict.ORDERS}
    assert verdicts == {"ok", "stuck"}


def test_a_wrong_prediction_names_the_wrong_keys_but_not_the_right_values():
    want = {"flags_seen": 0, "interrupts": 2, "poll_reads": 1, "verdict": "ok"}
    result = check_prediction({**want, "interrupts": 1, "verdict": "stuck"}, want)
    assert not result
    assert result.reason == "not right yet: interrupts, verdict (flags_seen, poll_reads right)"


@pytest.mark.parametrize("answer, words_in_reason", [
    (None, "should be a dict"),
    ([0, 2, 1, "ok"], "should be a dict"),
    ({"flags_seen": 0}, "has no 'interrupts'"),
    ({"flags_seen": True, "interrupts": "2", "poll_reads": 1.0, "verdict": 0}, "not right"),
])
def test_a_nonsense_prediction_fails_with_a_reason(answer, words_in_reason):
    want = {"flags_seen": 1, "interrupts": 2, "poll_reads": 1, "verdict": "ok"}
    result = check_prediction(answer, want)
    assert not result and words_in_reason in result.reason


# --------------------------------------------------------------- schedules
def test_shorthand_words_expand_into_the_raw_schedule_replayed_strictly():
    raw = expand("vcpu0* blkio*", "virtio-barriers", "buggy")
    assert raw[-1] == "blkio" and "drain:cpu0" not in raw  # vcpu0's locked ops drained it
    assert expand(["vcpu0*", "blkio*"]) == raw
    assert words("a, b  c") == ["a", "b", "c"]


def test_the_report_schedule_loses_the_interrupt():
    result = check_schedule(OS7613_SCHEDULE)
    assert result, result.reason
    assert result.trace.verdict.kind == "stuck"
    assert require(hidden.check_schedule_matches_report(OS7613_SCHEDULE))


def test_a_schedule_that_ends_well_fails_and_says_how_it_ended():
    result = check_schedule("finish")
    assert not result
    assert result.reason.startswith("the run ends ok, not stuck: all 2 requests completed")


def test_a_schedule_that_stops_early_says_what_could_come_next():
    result = check_schedule("vcpu0*")
    assert not result and "not over yet (possible next: blkio)" in result.reason


@pytest.mark.parametrize("schedule, words_in_reason", [
    ("blkio* blkio", "'blkio' cannot run now (blkio is blocked: cv_wait on bc_cond"),
    ("drain:cpu1", "that store buffer is empty"),
    ("fire:io.req7", "no such timer is armed"),
    ("vcpu0>no_such_function", "vcpu0 stopped before reaching no_such_function"),
    ("vcpu0 ** x", "cannot read schedule word '**'"),
    (42, "a schedule is a string or a list of strings, not int"),
    (["vcpu0", None], "schedule entry None is not a string"),
])
def test_an_impossible_schedule_fails_with_a_reason(schedule, words_in_reason):
    result = check_schedule(schedule)
    assert not result and words_in_reason in result.reason


def test_an_impossible_word_is_a_usage_error_when_expanding_by_hand():
    with pytest.raises(ShorthandError, match="cannot run now"):
        expand("blkio* blkio")


# --------------------------------------------------------------------- fix
@pytest.mark.parametrize("device", [FencedVirtioDevice, RewrittenFix])
def test_a_fenced_device_passes_and_the_reason_states_the_bound(device):
    result = check_fix(device, bound=2)
    assert result, result.reason
    assert "OS-7613 schedule no longer loses the interrupt" in result.reason
    assert "of at most 2" in result.reason
    assert require(hidden.check_fix_event_idx(device))
    assert require(hidden.check_suppression(device))


def test_the_buggy_device_fails_on_the_report_schedule():
    result = check_fix(VirtioDevice)
    assert not result and result.reason.startswith("the OS-7613 schedule still ends stuck")
    assert result.trace.verdict.kind == "stuck"


def test_a_fix_for_flags_mode_only_is_caught_by_the_hidden_event_idx_check():
    assert check_fix(FenceInFlagsModeOnly)
    result = hidden.check_fix_event_idx(FenceInFlagsModeOnly)
    assert not result and result.reason.startswith("EVENT_IDX mode:")


def test_interrupting_every_time_never_loses_one_but_fails_the_hidden_check():
    assert check_fix(AlwaysInterrupts)
    result = hidden.check_suppression(AlwaysInterrupts)
    assert not result
    assert result.reason == ("flags mode with avail.flags=1, used_event=0: "
                             "the device sent an interrupt")


@pytest.mark.parametrize("device, words_in_reason", [
    (Raises, "even a plain run (threads taking turns) ends violation: blkio raised NotImp"),
    (YieldsNonsense, "blkio yielded 'mfence please', which is not an op"),
    (SpinsYielding, "ends limit: step budget of 5000 spent (does a thread never stop?)"),
    (None, "expected a class derived from VirtioDevice, got NoneType"),
    (RewrittenFix(None, False, "x"), "expected a class derived from VirtioDevice"),
    (dict, "dict does not derive from VirtioDevice"),
])
def test_a_broken_device_fails_with_a_reason(device, words_in_reason):
    result = check_fix(device, max_states=2_000)
    assert not result and words_in_reason in result.reason
    assert not hidden.check_suppression(device)


@pytest.mark.skipif(not alarm_available(), reason="no SIGALRM here")
def test_a_device_that_loops_without_yielding_fails_after_the_time_limit():
    result = check_fix(SpinsSilently, seconds=0.5)
    assert not result
    assert result.reason.startswith("fix: gave up after 0.5 s")
    assert not hidden.check_suppression(SpinsSilently, seconds=0.5)
