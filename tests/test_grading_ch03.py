"""Chapter 3's checks (hyperkit #94): wrong and broken answers fail with a reason.

Predict who answers the SIGCONT, whether the VM hangs and where blkio waits,
for a seeded setting; hang hyperkit with blkio DONE before the SIGCONT; fix
hyperkit without a signal handler. The worked answers of the solution
notebook are the model's answers, and a plausible wrong fix that passes the
visible checks is caught by a hidden one.
"""
import itertools

import pytest
from grading_helpers import (
    class_answer,
    data_answer,
    grade,
    grade_all,
    needs_instructor,
    solution_answer,
    solution_cells,
    subclass_answer,
)

from simulator.errors import UsageError
from simulator.grading.chapters import ch03_blockif as ch03
from simulator.grading.exercise import graded_seed

NOTEBOOK = "03-Blockif-Cancel.ipynb"
NARRATED = "ioemu* blkio* mevent* fire:scsi.timeout ioemu* fire:io.be1 finish"


def round_(body: str, name: str = "FixedBlockif") -> dict:
    return subclass_answer("HyperkitBlockif", body, name, "blockif_cancel_wait(self, be, bse)")


# ----------------------------------------------------------------- Part A
def test_the_question_and_its_answer_come_from_the_same_seed():
    q = ch03.question(94)
    assert q == ch03.question(94) and "= ?" in str(q) and "practice question" in str(q)
    assert q.answer() == ch03.solve(q)


def test_every_setting_is_answered_by_the_model_and_fits_the_rules():
    """All 4 x 5 x 2 x 4 settings: the model's answer never breaks a visible rule,
    and between them they give every possible value of every key."""
    seen = {key: set() for key in ch03.KEYS}
    for host, trim, timeout, keeps in itertools.product(set(ch03.HOSTS), ch03.TRIMS_S,
                                                        set(ch03.TIMEOUTS_S), ch03.KEEPS):
        q = ch03.Question(0, host, trim, timeout, keeps)
        answer = ch03.solve(q)
        assert ch03.consistent(answer, q) is None, (q, answer)
        for key, value in answer.items():
            seen[key].add(value)
    assert seen == {"handler_runs_on": {"mevent", "blkio", "nobody"}, "vm_hangs": {True, False},
                    "blkio_waits_for": {"sc->mtx", "bc_mtx", "nothing"}}


@needs_instructor
def test_the_worked_prediction_is_the_models_answer_for_every_setting():
    for host, trim, timeout, keeps in itertools.product(set(ch03.HOSTS), ch03.TRIMS_S,
                                                        set(ch03.TIMEOUTS_S), ch03.KEEPS):
        q = ch03.Question(0, host, trim, timeout, keeps)
        scope = {"my_question": lambda chapter, q=q: q}
        exec(solution_cells(NOTEBOOK)["part-a-answer"], scope)  # noqa: S102 - our own solution cell
        assert scope["prediction"] == ch03.solve(q), q


def test_a_seed_must_be_a_whole_number_and_a_graded_one_is_not_answered():
    with pytest.raises(UsageError, match="a seed is a whole number"):
        ch03.question(-1)
    with pytest.raises(UsageError, match="is a graded question"):
        ch03.question(graded_seed("alice", "ch03_blockif")).answer()


@pytest.mark.parametrize("answer, words", [
    ("hangs", "should be a dict"),
    ({"handler_runs_on": "mevent"}, "has no 'vm_hangs'"),
    ({"handler_runs_on": "main", "vm_hangs": False, "blkio_waits_for": "nothing"},
     "handler_runs_on should be 'mevent', 'blkio' or 'nobody'"),
    ({"handler_runs_on": "nobody", "vm_hangs": "yes", "blkio_waits_for": "nothing"},
     "vm_hangs should be True or False"),
])
def test_a_malformed_prediction_fails_with_a_reason(answer, words):
    result = grade("ch03_blockif:predict", data_answer(answer))
    assert not result and words in result.reason, result.reason


@pytest.mark.parametrize("host, answer, words", [
    ("macos", ("blkio", False, "nothing"), "SIGCONT has no signal handler"),
    ("illumos", ("mevent", False, "nothing"), "registers no SIGCONT handler with mevent"),
    ("freebsd", ("mevent", True, "sc->mtx"), "a handler that answers every round"),
    ("macos", ("nobody", False, "sc->mtx"), "every thread finishes"),
])
def test_values_that_break_the_chapters_rules_fail_and_say_which(host, answer, words):
    q = ch03.Question(0, host, 45, 30, "both")
    got = ch03.consistent(dict(zip(ch03.KEYS, answer, strict=True)), q)
    assert got is not None and words in got


def test_blkio_cannot_wait_for_a_lock_ioemu_let_go_of():
    q = ch03.Question(0, "macos", 45, 30, "bc_mtx")
    answer = {"handler_runs_on": "nobody", "vm_hangs": True, "blkio_waits_for": "sc->mtx"}
    assert "lets go of sc->mtx" in ch03.consistent(answer, q)
    assert ch03.solve(q) == {**answer, "blkio_waits_for": "bc_mtx"}


# ----------------------------------------------------------------- Part B
def test_the_narrated_path_hangs_too_but_is_not_the_one_asked_for():
    assert grade("ch03_blockif:schedule", data_answer(NARRATED))


@pytest.mark.parametrize("schedule, words", [
    ("ioemu* blkio* fire:io.be1 finish", "the run ends ok, not deadlock: the guest's TRIM"),
    ("ioemu*", "not over yet"),
    (None, "a schedule is a string or a list of strings, not NoneType"),
])
def test_a_schedule_that_does_not_hang_fails_with_a_reason(schedule, words):
    result = grade("ch03_blockif:schedule", data_answer(schedule))
    assert not result and words in result.reason, result.reason


# ----------------------------------------------------------------- Part C
LETS_GO_OF_BC_MTX = """
yield ops.unlock(self.mtx, "blockif_cancel")
yield from HyperkitBlockif.blockif_cancel_wait(self, be, bse)
yield ops.lock(self.mtx, "blockif_cancel")
"""
RING_AND_NAP = """
yield ops.store(bse.pending, 1, "blockif_cancel")
yield from self.blockif_bse_push(bse)
tid = yield ops.load(be.tid, "blockif_cancel")
yield from self.process.pthread_kill(tid, SIGCONT)
yield ops.sleep(1_000_000, "usleep", timer="cancel.poll")
"""


@pytest.mark.parametrize("body, words", [
    ("yield from HyperkitBlockif.blockif_cancel_wait(self, be, bse)",
     "even a plain run (threads taking turns) ends deadlock: ioemu waits in blockif_cancel "
     "on bse_cond"),
    (LETS_GO_OF_BC_MTX, "deadlock"),
    ("raise NotImplementedError()", "even a plain run (threads taking turns) ends violation"),
    ("yield 'sigcont please'", "yielded 'sigcont please', which is not an op"),
])
def test_a_wrong_or_broken_round_fails_the_fix_check_with_a_reason(body, words):
    result = grade("ch03_blockif:fix", round_(body))
    assert not result and words in result.reason, result.reason


def test_the_chapters_own_fix_a_signal_handler_holds_but_is_not_part_c():
    """illumos's way, SIGCONT caught by a handler: the fix check's explorer finds no
    hang, and Part C's rule that blockif_init stays hyperkit's refuses it."""
    answer = class_answer("""
        class FixedBlockif(HyperkitBlockif):
            def blockif_init(self, process, mevent):
                self.process = process
                process.sigset(SIGCONT, self.blockif_sigcont_handler)

            def blockif_cancel_wait(self, be, bse):
                yield from HyperkitBlockif.blockif_cancel_wait(self, be, bse)
        """)
    fix, no_handler = grade_all(["ch03_blockif:fix", "ch03_blockif:no-handler"], answer)
    assert fix and "visited every reachable state" in fix.reason, fix.reason
    assert not no_handler and "leaves blockif_init alone" in no_handler.reason


# ------------------------------------------------------- the keys (instructor only)
FIX_CHECKS = ["ch03_blockif:no-handler", "ch03_blockif:fix", "ch03_blockif:freebsd-too",
              "ch03_blockif:one-round"]


@needs_instructor
def test_the_solutions_pass_every_check_of_their_grade_cells():
    schedule = solution_answer(NOTEBOOK, "schedule")
    assert all(grade_all(["ch03_blockif:schedule", "ch03_blockif:schedule-path"], schedule))
    results = grade_all(FIX_CHECKS, solution_answer(NOTEBOOK, "FixedBlockif"))
    assert len(results) == len(FIX_CHECKS) and all(results), results


@needs_instructor
def test_the_narrated_path_fails_the_hidden_path_check():
    result = grade("ch03_blockif:schedule-path", data_answer(NARRATED))
    assert not result and "not yet DONE when ioemu sent its SIGCONT" in result.reason


@needs_instructor
def test_a_consistent_but_wrong_prediction_passes_the_visible_check_only():
    q = ch03.question(graded_seed("alice", "ch03_blockif"))
    right = ch03.solve(q)
    values = [("mevent", "blkio", "nobody"), (True, False), ("sc->mtx", "bc_mtx", "nothing")]
    wrong = next(a for combo in itertools.product(*values)
                 if (a := dict(zip(ch03.KEYS, combo, strict=True))) != right
                 and ch03.consistent(a, q) is None)
    assert grade("ch03_blockif:predict", data_answer(wrong), "alice")
    result = grade("ch03_blockif:predict-key", data_answer(wrong), "alice")
    assert not result and result.reason.startswith("not right yet")
    assert grade("ch03_blockif:predict-key", data_answer(right), "alice")


@needs_instructor
def test_pushing_the_same_sig_elem_twice_passes_on_macos_and_loops_on_freebsd():
    """Ring, nap, ring again: on macOS nobody pops, so it passes; on FreeBSD the
    handler pops a stack whose element points to itself, forever."""
    answer = round_(RING_AND_NAP)
    assert grade("ch03_blockif:fix", answer)
    result = grade("ch03_blockif:freebsd-too", answer)
    assert not result and result.reason.startswith("on FreeBSD") and "limit" in result.reason
