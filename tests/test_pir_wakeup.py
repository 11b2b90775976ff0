"""OS-6829, pir-wakeup: a vCPU halted at PPR 0x70 sleeps through its clock interrupt.

The story in tests: the posting rule alone (one low vector, then a high one);
the report's interleaving replayed to ``stuck``; the NMI that knocks it loose;
random runs and the explorer finding the hang in the buggy variant and
finding none in the fixes.
"""
import pytest

from simulator import runs, scenarios
from simulator.engine import ops
from simulator.engine.clock import drive_untimed
from simulator.engine.machine import Machine
from simulator.engine.strategies import RoundRobin
from simulator.errors import UsageError
from simulator.models.posted import (
    VARIANTS,
    C713610PostedInterrupts,
    PendingPrioPostedInterrupts,
    PostedInterrupts,
    PrioPostedInterrupts,
)
from simulator.search import search

SCENARIO = "pir-wakeup"
STUCK_REASON = "vector 0xd3 is deliverable at PPR 0x70 but vCPU0 sleeps in vm_handle_hlt"

# The report's dtrace, as a schedule: vCPU0 raises TPR, arms its clock, halts
# and exits (FROZEN); viona posts 0x60 (pending 0 -> 1) and notifies — but the
# vCPU is FROZEN, so nothing is sent; vm_handle_hlt sees pend:1, ppr:70 and
# sleeps; the APIC timer posts 0xd3 and finds pending already 1.
REPORT = (["vcpu0"] * 15  # entry, setspl 0x70, icrtmr_write, HLT exit, FROZEN
          + ["viona"] * 5  # lapic_set_intr(0x60): vmx_set_intr_ready = 1; notify: FROZEN
          + ["vcpu0"] * 8  # vm_handle_hlt: vmx_pending_intr(pend:1, ppr:70) = 0; sleep
          + ["cyclic", "cyclic", "fire:apic_timer", "cyclic", "cyclic", "cyclic"])


def posts(apicv_cls, vectors):
    """Post ``vectors`` one after another; which posts ask for a notification?"""
    apicv = apicv_cls()
    asked = []

    def poster():
        for v in vectors:
            asked.append((yield from apicv.vmx_set_intr_ready(v)))
        yield ops.note("done", "test")

    m = Machine(apicv.cells(), cpus=1)
    m.add_thread("viona", 0, poster())
    drive_untimed(m, RoundRobin())
    return asked


def test_before_the_fix_a_higher_class_behind_a_lower_one_notifies_nobody():
    """0x60 then 0xd3: only the first post (pending 0 -> 1) asks for a notification."""
    assert posts(PostedInterrupts, [0x60, 0xD3]) == [True, False]


@pytest.mark.parametrize("fixed", [C713610PostedInterrupts, PrioPostedInterrupts,
                                   PendingPrioPostedInterrupts])
def test_after_the_fix_a_higher_class_notifies_again(fixed):
    """Both fixed forms notify for 0xd3 too, and not for a second vector of a seen class."""
    assert posts(fixed, [0x60, 0xD3, 0x61]) == [True, True, False]


def own_hooks(cls) -> set[str]:
    return {k for k in vars(cls) if not k.startswith("_")} - {"variant_name"}


def test_each_commit_of_the_fix_reads_as_a_few_hooks():
    """c713610 changed the notification rule and the claim of 'pending'; 21e2c66
    (OS-6930) added the flush on top; ce6a764 (OS-7354) replaced both with a
    separate pending_prio word, trimmed while the vCPU sleeps."""
    assert own_hooks(C713610PostedInterrupts) == {"notify_needed", "take_pending"}
    assert PrioPostedInterrupts.__bases__ == (C713610PostedInterrupts,)
    assert own_hooks(PrioPostedInterrupts) == {"vmx_flush_pir_prio"}
    assert own_hooks(PendingPrioPostedInterrupts) == {"cells", "notify_needed",
                                                     "trim_stale_prio"}


def test_the_old_names_and_the_ticket_ids_name_the_same_classes():
    assert VARIANTS["fixed"] is VARIANTS["pending-prio"] is VARIANTS["ce6a764"] \
        is VARIANTS["os-7354"] is PendingPrioPostedInterrupts
    assert VARIANTS["os-6930"] is VARIANTS["21e2c66"] is PrioPostedInterrupts
    assert VARIANTS["os-6829"] is VARIANTS["c713610"] is C713610PostedInterrupts
    assert set(VARIANTS) == set(scenarios.get(SCENARIO).variants)


EARLY = {"early_tick": 1}


def test_os6930_a_tick_taken_in_guest_mode_leaves_a_stale_class_that_hides_the_next():
    """c713610 alone: the CPU takes the first 0xd3 in guest mode and clears only
    ON; class bit 13 stays in 'pending' through the HLT, so after 0x60 sets ON
    again the second 0xd3 is 'no higher than any class pending'."""
    result = search(SCENARIO, "c713610", EARLY)
    assert result.found == "stuck" and result.result.found.preemptions == 0
    steps = result.counterexample.steps
    cleared = [s for s in steps if s["func"] == "posted-interrupt processing"
               and s["op"] == "fetch_and"]
    assert cleared and cleared[0]["result"] & (1 << 13)  # class 13 was there...
    last = steps[-1]  # ...and still is when the second tick is posted
    assert last["func"] == "vmx_set_intr_ready" and last["result"] & (1 << 13)
    assert runs.replay(result.counterexample).verdict.reason == STUCK_REASON


def test_without_the_early_tick_c713610_alone_is_enough():
    assert search(SCENARIO, "c713610").found is None


def test_the_flush_of_os6930_still_leaves_a_narrower_window():
    """21e2c66 in the model: a clock tick whose PIR bit the CPU takes (still
    processing an earlier notification) before the tick's poster sets ON and
    its class bit leaves ON and class 13 set with an empty PIR, set after the
    flush; the vCPU looks, sleeps, and the next 0xd3 notifies nobody."""
    result = search(SCENARIO, "21e2c66", EARLY)
    assert result.found == "stuck"
    steps = result.counterexample.steps
    taken = next(k for k, s in enumerate(steps) if s["func"] == "posted-interrupt processing"
                 and s["detail"].startswith("pir[3]") and s["result"])
    posted = next(k for k, s in enumerate(steps) if s["thread"] == "cyclic"
                  and s["op"] == "cas")
    assert taken < posted  # the CPU took 0xd3 before its poster set ON


@pytest.mark.slow
def test_ce6a764_strands_no_vcpu_even_with_the_early_tick():
    result = search(SCENARIO, "ce6a764", EARLY)
    assert result.found is None and result.exhausted, result.summary()


def test_early_tick_needs_the_timer_on_another_cpu():
    with pytest.raises(UsageError):
        scenarios.get(SCENARIO).machine("buggy", {"early_tick": 1, "timer_cpu": 0})


def test_the_reports_interleaving_leaves_vcpu0_asleep():
    trace = runs.replay(REPORT, SCENARIO, "buggy")
    assert trace.verdict.kind == "stuck"
    assert trace.verdict.reason == STUCK_REASON
    last = trace.steps[-1]
    assert (last["func"], last["op"], last["result"]) == ("vmx_set_intr_ready", "cas", 1)


def test_an_nmi_knocks_the_vcpu_loose_and_the_clock_tick_is_taken():
    """bhyvectl --inject-nmi: the vCPU wakes, re-enters, and 0xd3 is injected and handled."""
    m = scenarios.get(SCENARIO).machine("buggy")
    for action in REPORT:
        m.step(action)
    assert m.verdict().kind == "stuck"
    m.step("nudge")
    drive_untimed(m, RoundRobin())
    guest = m.model["guest"]
    assert m.verdict().kind == "ok"
    assert (guest.nmis, guest.handled) == (1, [0xD3])


def test_random_runs_find_the_hang_only_before_the_fix():
    found = runs.random_search(SCENARIO, "buggy", runs=2000)
    assert found.verdicts["stuck"] > 0
    assert found.counterexample.verdict.reason == STUCK_REASON
    for variant in ("fixed", "pending-prio"):
        assert runs.random_search(SCENARIO, variant, runs=2000).verdicts["ok"] == 2000


@pytest.mark.parametrize("timer_cpu", [2, 0])
def test_the_explorer_finds_the_hang_with_nobody_preempted(timer_cpu):
    """On its own CPU or on vCPU0's (as in the report), the timer fires while vCPU0
    sleeps: the hang needs no preemption at all."""
    result = search(SCENARIO, "buggy", {"timer_cpu": timer_cpu})
    assert result.found == "stuck" and result.result.found.preemptions == 0
    assert runs.replay(result.counterexample).verdict.reason == STUCK_REASON


@pytest.mark.parametrize("variant", ["c713610", "21e2c66", "ce6a764"])
def test_the_explorer_verifies_each_commit_in_the_reports_configuration(variant):
    result = search(SCENARIO, variant)
    assert result.found is None and result.exhausted, result.summary()


@pytest.mark.parametrize("variant, bound, states", [
    pytest.param("21e2c66", 8, 467_916, marks=pytest.mark.slow),
    ("ce6a764", 7, 190_959)])  # the fix chapter 2 shows in this placement
def test_both_fixes_are_verified_with_the_timer_on_vcpu0s_own_cpu(variant, bound, states):
    """The report's placement: the timer's cyclic shares host CPU 0 with vCPU0, so
    interleavings need preemptions; the explorer raises the bound until the space
    is exhausted (bound 8 for 21e2c66, 7 for ce6a764, alias fixed) and finds no hang."""
    result = search(SCENARIO, variant, {"timer_cpu": 0})
    assert result.found is None and result.exhausted, result.summary()
    assert (result.bound, result.states) == (bound, states)


def test_in_simulated_time_the_clock_fires_long_after_the_vcpu_sleeps():
    assert runs.run(SCENARIO, "buggy", mode="timed").verdict.kind == "stuck"
    assert runs.run(SCENARIO, "fixed", mode="timed").verdict.kind == "ok"


def test_vectors_the_guest_can_take_at_its_priority_cause_no_hang():
    """With virtio-net on a class above PPR 0x70 the vCPU takes it; nothing is left pending."""
    found = runs.random_search(SCENARIO, "buggy", {"net_vector": 0x80}, runs=500)
    assert found.verdicts["ok"] == 500


@pytest.mark.parametrize("params", [
    {"net_vector": 15}, {"net_vector": 256}, {"timer_vector": 0x0F}, {"tpr": 0x100},
    {"timer_vector": 0x70}, {"net_vector": 0xFF, "net_vectors": 2}, {"timer_cpu": 3},
])
def test_bad_parameters_are_one_line_errors(params, refused):
    refused(SCENARIO, "buggy", params)


def test_an_unknown_variant_is_a_one_line_error(refused):
    assert "pending-prio" in refused(SCENARIO, "naive")


def test_the_notify_rule_alone_is_not_the_whole_fix():
    """OS-6829 needed three hooks: with only the new notify rule, the old claim
    of ``pending`` (compare-and-swap 1 -> 0) never clears the class bits riding
    above ON, and with the clock's class below the network's the vCPU spins."""
    from simulator.models.posted import PostedInterrupts, PrioPostedInterrupts
    from simulator.search import search

    class NotifyRuleOnly(PostedInterrupts):
        notify_needed = PrioPostedInterrupts.notify_needed

    low_clock = {"tpr": 0x00, "net_vector": 0xE0, "timer_vector": 0x30}
    found = search("pir-wakeup", NotifyRuleOnly, low_clock, max_states=200_000,
                   minimise=False)
    assert found.found == "limit"
    assert search("pir-wakeup", "fixed", low_clock, max_states=200_000).found is None
