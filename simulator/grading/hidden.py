"""Checks the student does not see: grade cells call them between nbgrader's
``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` markers, which the
generated exercise leaves out.

They ask more of an answer than the visible checks do: a schedule must show
the report's exact symptom, and a fix must also hold with EVENT_IDX and must
not buy its safety by interrupting the guest when the guest asked for quiet.
"""
from __future__ import annotations

from simulator import scenarios
from simulator.engine import ops
from simulator.engine.machine import Machine
from simulator.grading.checks import (
    SCENARIO,
    STEP_BUDGET,
    CheckResult,
    check_fix,
    device_complaint,
    guarded,
)
from simulator.grading.schedules import follow_all
from simulator.models.virtio import SplitRing

IRR = "lapic.irr[0x62]"


def check_schedule_matches_report(schedule: object, seconds: float = 5) -> CheckResult:
    """The run shows OS-7613's dtrace: both writes complete on the host, only the
    first raised ``vm_lapic_msi``, and the second is the request left in flight."""
    def body() -> CheckResult:
        m = scenarios.get(SCENARIO).machine("buggy", step_budget=STEP_BUDGET)
        follow_all(m, schedule)
        sent, stuck = m.model["device"].interrupts, sorted(m.model["driver"].in_flight)
        if sent != 1 or stuck != [1]:
            return CheckResult(False, f"{sent} interrupt(s) sent and request(s) {stuck} in "
                                      "flight; the report saw 1 interrupt and request 1 stuck")
        return CheckResult(True, "one interrupt for two completions, request 1 stuck")

    return guarded("schedule", seconds, body)


def check_fix_event_idx(device_class: object, max_states: int = 30_000,
                        seconds: float = 6) -> CheckResult:
    """The fix also holds when the guest suppresses interrupts with ``used_event``."""
    result = check_fix(device_class, {"mode": "event_idx"}, max_states=max_states,
                       seconds=seconds)
    return CheckResult(result.passed, f"EVENT_IDX mode: {result.reason}", result.trace)


# (mode, avail.flags, used_event, interrupt wanted) when the device publishes
# used.idx 0 -> 1 with nothing buffered: the plain rules, one case each.
SUPPRESSION_CASES = (
    ("flags", 0, 0, True),
    ("flags", 1, 0, False),
    ("event_idx", 1, 0, True),   # used_event = 0 lies in [0, 1): interrupt
    ("event_idx", 0, 5, False),  # the guest asked for an interrupt only at entry 5
)


def check_suppression(device_class: object, seconds: float = 5) -> CheckResult:
    """The device still honours NO_INTERRUPT and ``used_event`` (an always-interrupt
    device never loses an interrupt, but floods the guest)."""
    complaint = device_complaint(device_class)
    if complaint:
        return CheckResult(False, complaint)

    def body() -> CheckResult:
        for mode, flags, event, want in SUPPRESSION_CASES:
            got = _interrupts(device_class, mode == "event_idx", flags, event)
            if got != want:
                verb = "sent an interrupt" if got else "sent no interrupt"
                return CheckResult(False, f"{mode} mode with avail.flags={flags}, "
                                          f"used_event={event}: the device {verb}")
        return CheckResult(True, f"honours the guest's wishes in all "
                                 f"{len(SUPPRESSION_CASES)} cases")

    return guarded("suppression", seconds, body)


def _interrupts(device_class: type, event_idx: bool, flags: int, event: int) -> bool:
    """Complete one chain on a lone device thread; did the vector get raised?"""
    ring = SplitRing(4)
    cells = {**ring.cells(), IRR: 0}
    cells[ring.AVAIL_FLAGS], cells[ring.USED_EVENT] = flags, event
    dev = device_class(ring, event_idx, IRR)

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
