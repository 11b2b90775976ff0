"""Hidden checks for chapter 1 (OS-7613): instructor only, never in a student's copy.

They ask more than the visible checks, and hold the answer keys: the
prediction is compared with the model's run of the student's own seeded
question; the schedule must take the path asked for; the set of sound
fence placements is compared with the one the explorer proves (a test keeps
``SOUND`` equal to it); and a fix must also hold with EVENT_IDX and must not
buy its safety by interrupting a guest that asked for quiet.
"""
from __future__ import annotations

from simulator.engine import ops
from simulator.engine.machine import Machine
from simulator.grading.chapters import ch01_virtio as visible
from simulator.grading.exercise import Check, Context
from simulator.grading.predictions import compare
from simulator.grading.replay import STEP_BUDGET, final_machine
from simulator.grading.result import CheckResult, failed, passed
from simulator.models.virtio import SplitRing

SOUND = frozenset({"C", "D"})  # tests/test_grading_keys.py: the explorer agrees
IRR = "lapic.irr[0x62]"


def check_prediction_key(answer: object, ctx: Context) -> CheckResult:
    """Part A: the four values of the student's own question."""
    q = visible.question(ctx.seed(visible.NAME))
    return compare(answer, visible.solve(q))


def check_schedule_path(schedule: object, ctx: Context) -> CheckResult:
    """Part B: the path asked for: requests 0 and 1 each raised their own interrupt,
    and request 2 alone is left in flight."""
    m = final_machine(schedule, visible.SCENARIO, visible.FlagsModeFenceDevice, visible.PART_B)
    sent, stuck = m.model["device"].interrupts, sorted(m.model["driver"].in_flight)
    if sent != 2 or stuck != [2]:
        return failed(f"{sent} interrupt(s) sent and request(s) {stuck} in flight; the path "
                      "asked for has 2 interrupts, one each for requests 0 and 1, and "
                      "request 2 stuck")
    return passed("requests 0 and 1 interrupted, request 2 lost")


def check_placements_key(answer: object, ctx: Context) -> CheckResult:
    """Part C: the places judged sound are the ones the explorer proves sound."""
    said = {k for k, v in answer.items() if isinstance(v, str) and v.strip().lower() == "sound"}
    wrong = sorted(said ^ SOUND)
    if wrong:
        return failed(f"not right yet: {', '.join(wrong)} judged wrongly")
    return passed(f"{' and '.join(sorted(SOUND))} are the sound places")


def check_fix_event_idx(device: type, ctx: Context) -> CheckResult:
    """Part D: the fix also holds when the guest suppresses with ``used_event``."""
    result = visible.VIRTIO_FIX.check(device, visible.EVENT_IDX, max_states=30_000)
    return CheckResult(result.passed, f"EVENT_IDX mode: {result.reason}",
                       trace_json=result.trace_json)


# (mode, avail.flags, used_event, interrupt wanted) when the device publishes
# used.idx 0 -> 1 with nothing buffered: the plain rules, one case each.
SUPPRESSION_CASES = (
    ("flags", 0, 0, True),
    ("flags", 1, 0, False),
    ("event_idx", 1, 0, True),   # used_event = 0 lies in [0, 1): interrupt
    ("event_idx", 0, 5, False),  # the guest asked for an interrupt only at entry 5
)


def check_suppression(device: type, ctx: Context) -> CheckResult:
    """Part D: the device still honours NO_INTERRUPT and ``used_event`` (an
    always-interrupt device never loses an interrupt, but floods the guest)."""
    for mode, flags, event, want in SUPPRESSION_CASES:
        got = _interrupts(device, mode == "event_idx", flags, event)
        if got != want:
            verb = "sent an interrupt" if got else "sent no interrupt"
            return failed(f"{mode} mode with avail.flags={flags}, used_event={event}: "
                          f"the device {verb}")
    return passed(f"honours the guest's wishes in all {len(SUPPRESSION_CASES)} cases")


def _interrupts(device: type, event_idx: bool, flags: int, event: int) -> bool:
    """Complete one chain on a lone device thread; did the vector get raised?"""
    ring = SplitRing(4)
    cells = {**ring.cells(), IRR: 0}
    cells[ring.AVAIL_FLAGS], cells[ring.USED_EVENT] = flags, event
    dev = device(ring, event_idx, IRR)

    def completion():
        yield from dev.vq_relchain(0, 1)
        yield from dev.vq_endchains()
        yield ops.note("done", "check_suppression")

    m = Machine(cells, cpus=1, memory_model="sc", step_budget=STEP_BUDGET)
    m.add_thread("blkio", 0, completion())
    while m.enabled():
        m.step("blkio")
    verdict = m.verdict()
    if verdict.kind != "ok":
        raise RuntimeError(f"the completion did not finish: {verdict}")
    return m.memory.cells[IRR] != 0


CHECKS = {
    "predict-key": Check(check_prediction_key, cost_s=0.1),
    "schedule-path": Check(check_schedule_path, cost_s=0.2),
    "placements-key": Check(check_placements_key, cost_s=0.1),
    "fix-event-idx": Check(check_fix_event_idx, visible.ANY_FIX, cost_s=3.0),
    "suppression": Check(check_suppression, visible.ANY_FIX, cost_s=0.1),
}
