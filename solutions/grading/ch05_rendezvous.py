"""Hidden checks for chapter 5 (OS-7622): instructor only, never in a student's copy.

They ask more than the visible checks, and hold the answer keys: the
prediction is compared with the model's run of the student's own seeded
question; the other shape of the hang must be the one asked for (bhyvectl
froze vCPUs 0 and 1 before the write, and neither can do its part); and a fix
that keeps the rendezvous must still be a rendezvous — the write may not
complete while a vCPU that is in its guest has its old TMR — and must hold
with pin 6 pointed at the vCPU bhyvectl freezes first, in a VM without vCPU 1,
and with the rendezvous' one-second timeouts ticking.
"""
from __future__ import annotations

from simulator import scenarios
from simulator.engine import ops
from simulator.engine.strategies import RoundRobin
from simulator.grading.chapters import ch05_rendezvous as visible
from simulator.grading.exercise import Check, Context
from simulator.grading.replay import final_machine
from simulator.grading.result import CheckResult, failed, passed
from simulator.models.rendezvous import members
from simulator.scenarios.write_lock_rendezvous import bhyvectl_holds


def check_prediction_key(answer: object, ctx: Context) -> CheckResult:
    """Part A: the four values of the student's own run."""
    q = visible.question(ctx.seed(visible.NAME))
    return visible.compare_prediction(answer, visible.solve(q))


def check_schedule_path(schedule: object, ctx: Context) -> CheckResult:
    """Part B: bhyvectl holds vCPUs 0 and 1, and neither did its part."""
    m = final_machine(schedule, visible.SCENARIO)
    rv, cells = m.model["vm"].rendezvous, m.memory.cells
    missing = members(cells[rv.req_cell] & ~cells[rv.done_cell])
    held = bhyvectl_holds(m)
    if not {0, 1} <= held or not {0, 1} <= set(missing):
        return failed(f"bhyvectl holds vCPUs {sorted(held)} and the parts of "
                      f"{missing or 'no vCPU'} are missing; the shape asked for has bhyvectl "
                      "holding vCPUs 0 and 1, neither of which got to its part")
    return passed("bhyvectl froze vCPUs 0 and 1 before the write; it waits for vCPU 3, which "
                  "waits for their parts")


def _in_guest(m, name: str) -> bool:
    """Is this vCPU thread executing its guest (parked in the guest until a kick)?"""
    op = m.by_name[name].op
    return op is not None and op[0] == ops.HALT and op[1] == "vmx_run"


def check_waits_for_running(cls: type, ctx: Context) -> CheckResult:
    """Part C: when vCPU 3's write completes, no vCPU executes its guest with its
    old TMR - what the rendezvous was for. (A vCPU out of its guest may still
    owe its part, if it does it before it goes back in.) vCPU 3 runs as far as
    it can first; then every thread takes its turn until the write completes."""
    m = scenarios.get(visible.SCENARIO).machine(cls, visible.QUIET, step_budget=5_000)
    rr = RoundRobin()
    writer = m.by_name["vcpu3"]

    def completes(action: str) -> bool:
        op = writer.op if action == "vcpu3" else None
        return op is not None and op[0] == ops.UNLOCK and op[1] == "vioapic_mmio_rw"

    while enabled := m.enabled():
        action = "vcpu3" if "vcpu3" in enabled else rr.choose(m, enabled)
        done = completes(action)
        m.step(action)
        if done:
            break
    else:
        return failed(f"vCPU 3's IOAPIC write never completed: {m.verdict()}")
    vm, cells = m.model["vm"], m.memory.cells
    new = cells[vm.vioapic.rtbl]
    stale = [v.vcpuid for v in vm.vcpus if _in_guest(m, f"vcpu{v.vcpuid}")
             and cells[vm.vioapic.tmr_cell(v.vcpuid)] != vm.vioapic.wanted_tmr(new, v.vcpuid)]
    if stale:
        who = ", ".join(f"vCPU {i}" for i in stale)
        return failed(f"when vCPU 3's IOAPIC write completed, {who} still ran its guest with "
                      "the old TMR: the rendezvous must wait for the vCPUs that are in their "
                      "guests (kicked, they come)")
    return passed("when the write completes, no vCPU runs its guest with its old TMR")


def _with_params(name: str, params: dict, max_states: int):
    def run(cls: type, ctx: Context) -> CheckResult:
        result = visible.RENDEZVOUS_FIX.check(cls, params, max_states=max_states)
        return CheckResult(result.passed, f"{name}: {result.reason}",
                           trace_json=result.trace_json)
    return run


CHECKS = {
    "predict-key": Check(check_prediction_key, cost_s=0.2),
    "schedule-path": Check(check_schedule_path, cost_s=0.2),
    "waits-for-running": Check(check_waits_for_running, visible.KEEP, cost_s=0.5),
    "dest-frozen": Check(_with_params("pin 6 at vCPU 0", {"ticks": 0, "dest": 0}, 100_000),
                         visible.KEEP, cost_s=4.0),
    "no-vcpu1": Check(_with_params("a VM without vCPU 1",
                                   {"ticks": 0, "bystander": 0, "dest": 0}, 100_000),
                      visible.KEEP, cost_s=4.0),
    "timeouts": Check(_with_params("with the one-second timeouts", {"ticks": 1}, 100_000),
                      visible.KEEP, cost_s=4.0),
}
