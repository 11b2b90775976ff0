"""OS-7622, write-lock-rendezvous: the VM write lock meets the vIOAPIC's rendezvous.

The story in tests: the rendezvous on its own (every vCPU runs its part,
and one that never comes holds everyone); ``vcpu_block_run`` on its own;
the report's interleaving replayed to a deadlock with its wait-for cycle;
the one-second timeouts that change nothing; the explorer finding the cycle
at once and proving ec6f18e free of it; and the fix's rule that no TMR is
written under a running guest.
"""
import io

import pytest

from simulator import runs, scenarios
from simulator.engine import ops
from simulator.engine.clock import drive_untimed
from simulator.engine.machine import Machine
from simulator.engine.strategies import Replay, RoundRobin, make_strategy
from simulator.models.rendezvous import Rendezvous
from simulator.models.vcpu import FROZEN, IDLE, RUNNING
from simulator.models.vm import RunblockVcpu, RunblockVm, Vm
from simulator.scenarios.write_lock_rendezvous import REPORT_STORY, report_schedule
from simulator.search import search

SCENARIO = "write-lock-rendezvous"
CYCLE = ("wait-for cycle: bhyvectl waits in vcpu_lock_one for vCPU1 to go IDLE (held by "
         "vcpu1), holding vCPU0; vcpu1 waits in vm_handle_rendezvous for vCPU0's part of the "
         "rendezvous (run only by vcpu0), holding vCPU1; vcpu0 waits in vcpu_lock_one for "
         "vCPU0 to go IDLE (held by bhyvectl)")


# ---- the rendezvous on its own ------------------------------------------------
def _rendezvous_machine(participants):
    """vCPU0 starts a rendezvous of vCPUs 0 and 1; ``participants`` take part."""
    ran = []

    def part(vcpuid):
        ran.append(vcpuid)
        yield ops.note(f"vCPU{vcpuid}'s part", "test")

    def notify(vcpuid, from_cpu):
        yield ops.note(f"kick vCPU{vcpuid}", "vcpu_notify_event")

    rv = Rendezvous(notify)
    rv.func = part
    m = Machine(rv.cells(), cpus=2, memory_model="sc")
    m.add_thread("vcpu0", 0, rv.vm_smp_rendezvous(0, 0b11, 0))
    if 1 in participants:
        def vcpu1():
            yield ops.halt(rv.func_cell, "vmx_run")  # the next VM entry sees it
            yield from rv.vm_handle_rendezvous(1)
        m.add_thread("vcpu1", 1, vcpu1())
    return m, ran


def test_every_vcpu_runs_its_part_once_and_all_are_released():
    m, ran = _rendezvous_machine({0, 1})
    drive_untimed(m, RoundRobin())
    assert m.verdict().kind == "ok"
    assert sorted(ran) == [0, 1] and m.memory.cells["vm.rendezvous_func"] == 0


def test_a_vcpu_that_never_comes_holds_the_initiator_forever():
    m, ran = _rendezvous_machine({0})
    drive_untimed(m, RoundRobin())
    verdict = m.verdict()
    assert verdict.kind == "deadlock" and ran == [0]
    assert "cv_wait on vm.rendezvous_cv" in verdict.waits[0]


# ---- vcpu_block_run on its own ---------------------------------------------------
def test_block_run_waits_for_a_running_vcpu_to_leave_and_keeps_it_out():
    """The blocker kicks a RUNNING vCPU and returns once it is FROZEN; until the
    unblock, the vCPU cannot go back to RUNNING."""
    vcpu = RunblockVcpu(1, hostcpu=1)
    seen = []

    def blocker():
        yield from vcpu.vcpu_block_run(from_cpu=0)
        seen.append(("blocked", (yield ops.load(vcpu.state_cell, "test"))))
        yield from vcpu.vcpu_unblock_run()

    def vcpu_thread():
        yield ops.halt(vcpu.ipi_cell, "vmx_run")  # in the guest until kicked
        yield from vcpu.vcpu_set_state(FROZEN)
        yield from vcpu.vcpu_set_state(RUNNING)  # waits while run-blocked
        seen.append(("running", None))

    cells = {vcpu.state_cell: RUNNING, vcpu.runblock_cell: 0, vcpu.ipi_cell: 0,
             vcpu.reqidle_cell: 0}
    m = Machine(cells, cpus=2, memory_model="sc")
    m.add_thread("writer", 0, blocker())
    m.add_thread("vcpu1", 1, vcpu_thread())
    drive_untimed(m, RoundRobin())
    assert m.verdict().kind == "ok"
    assert seen == [("blocked", FROZEN), ("running", None)]


# ---- the report ---------------------------------------------------------------------
def test_the_reports_interleaving_ends_in_the_cycle():
    trace = runs.replay(report_schedule(), SCENARIO, "buggy")
    assert trace.verdict.kind == "deadlock"
    assert trace.verdict.reason == CYCLE
    waits = " | ".join(trace.verdict.waits)
    assert "vcpu3 in vm_handle_rendezvous" in waits  # the report's other stack


def test_the_story_is_told_step_by_step():
    """Every step of REPORT_STORY moves its thread: the story and the model agree."""
    m = scenarios.get(SCENARIO).machine("buggy")
    for who, count, _ in REPORT_STORY:
        assert who in m.enabled(), who
        moved = 0
        while (count is None or moved < count) and who in m.enabled():
            m.step(who)
            moved += 1
    assert m.verdict().kind == "deadlock"


@pytest.mark.parametrize("ticks", [1, 2, 3])
def test_each_timeout_is_a_round_that_reads_the_same_sets(ticks):
    """The 1 s timeouts wake the waiters, who re-read req and done, find them
    unchanged, and wait again: more ticks, the same cycle."""
    sched = report_schedule({"ticks": ticks})
    m = scenarios.get(SCENARIO).machine("buggy", {"ticks": ticks}, tracing=True)
    m.replay(sched)
    drive_untimed(m, RoundRobin())  # let every remaining timeout fire
    assert m.verdict().reason == CYCLE
    reads = [(r["thread"], r["detail"], r["result"]) for r in m.records
             if r["func"] == "vm_handle_rendezvous" and r["op"] == "load"
             and "cpus" in r["detail"]]
    by_round = {}
    for thread, cell, value in reads:
        by_round.setdefault((thread, cell), []).append(value)
    done = [v for (thread, cell), v in by_round.items() if cell.endswith("done_cpus")]
    assert all(len(set(values[1:])) == 1 for values in done)  # every re-read the same
    assert max(len(v) for v in done) == 1 + ticks


def test_bhyvectl_alone_or_the_write_alone_never_hangs():
    """Either half is fine: without the write lock the rendezvous always
    completes (every interleaving), and without the IOAPIC write there is
    nothing to hang on."""
    result = search(SCENARIO, "buggy", {"wrlock": 0, "ticks": 0})
    assert result.found is None and result.exhausted, result.summary()


# ---- the explorer -------------------------------------------------------------------
@pytest.mark.parametrize("params", [{}, {"ticks": 0}, {"dest": 0}])
def test_the_explorer_finds_the_cycle_with_nobody_preempted(params):
    result = search(SCENARIO, "buggy", params)
    assert result.found == "deadlock" and result.result.found.preemptions == 0
    assert runs.replay(result.counterexample).verdict.reason == CYCLE


def test_without_the_bystander_bhyvectl_waits_for_the_writer_itself():
    """With vCPU1 gone the cycle is three threads: bhyvectl waits for vCPU3,
    which waits in the rendezvous for vCPU0, which bhyvectl froze."""
    result = search(SCENARIO, "buggy", {"bystander": 0, "ticks": 0})
    assert result.found == "deadlock"
    reason = runs.replay(result.counterexample).verdict.reason
    assert "bhyvectl waits in vcpu_lock_one for vCPU3 to go IDLE" in reason
    assert "vcpu3 waits in vm_handle_rendezvous for vCPU0's part" in reason


@pytest.mark.parametrize("params", [{"dest": 0}, {"dest": 2}, {"dest": 3}, {"wrlock": 0},
                                    {"bystander": 0, "dest": 0}])
def test_the_explorer_verifies_the_fix_over_every_interleaving(params):
    result = search(SCENARIO, "fixed", params, max_states=100_000)
    assert result.found is None and result.exhausted, result.summary()


def test_the_explorer_verifies_the_fix_as_the_report_has_it():
    """dest=1: vCPU3 must hold the running vCPU1 out of its guest (about 150,000 states)."""
    result = search(SCENARIO, "fixed", max_states=400_000)
    assert result.found is None and result.exhausted, result.summary()


def test_random_runs_hang_only_before_the_fix():
    """The window is wide: bhyvectl's first step freezes vCPU0, long before the
    rendezvous could be over - random scheduling hangs nearly every time."""
    before = runs.random_search(SCENARIO, "buggy", runs=300)
    assert before.verdicts["deadlock"] > 250
    after = runs.random_search(SCENARIO, "fixed", runs=300)
    assert after.verdicts["ok"] == 300


def test_a_write_lock_taken_whole_before_the_write_is_harmless():
    """If bhyvectl gets every vCPU before vCPU3's guest writes the IOAPIC, the
    rendezvous comes after the write lock and completes."""
    order = ["bhyvectl", "vcpu1", "vcpu0", "callout", "vcpu3"]
    m = scenarios.get(SCENARIO).machine("buggy")
    while enabled := m.enabled():
        m.step(min(enabled, key=lambda a: order.index(a) if a in order else len(order)))
    assert m.verdict().kind == "ok", m.verdict()


def test_vcpu0s_thread_taking_its_vcpu_first_is_harmless():
    """The other way out, and how narrow it is: vCPU3 publishes the rendezvous
    (13 steps) and vCPU0's thread comes back and takes its own vCPU (4 more)
    before bhyvectl, which needs 3 steps to freeze it. From there vCPU0 does
    its part, and however the rest is scheduled the run ends well."""
    m = scenarios.get(SCENARIO).machine("buggy", {"ticks": 0})
    prefix = []
    for who, until in (("vcpu3", lambda c: c["vm.rendezvous_func"]),
                       ("vcpu0", lambda c: c["vcpu0.state"] != IDLE)):
        while not until(m.memory.cells):
            m.step(who)
            prefix.append(who)
    assert prefix == ["vcpu3"] * 13 + ["vcpu0"] * 4
    for seed in range(30):
        strategy = Replay(prefix, then=make_strategy("random", seed))
        end, _ = runs.execute(SCENARIO, "buggy", {"ticks": 0}, strategy=strategy)
        assert end.verdict().kind == "ok", (seed, end.verdict())
    first = scenarios.get(SCENARIO).machine("buggy", {"ticks": 0})
    steps = 0
    while first.memory.cells["vcpu0.state"] == IDLE:
        first.step("bhyvectl")
        steps += 1
    assert steps == 3


def test_each_tmr_store_is_named_after_the_function_that_makes_it():
    """Before ec6f18e a vCPU resets its own TMR (vlapic_reset_tmr) and sets the
    bit if the pin targets it (vlapic_set_tmr_level); ec6f18e's writer calls
    vlapic_tmr_set for the vCPUs the pin targets."""
    def tmr_stores(trace):
        return {(s["thread"], s["func"], s["detail"]) for s in trace.steps
                if s["op"] == "store" and s["detail"].split(",")[0].endswith(".tmr")}

    before = runs.replay(report_schedule(), SCENARIO, "buggy")
    assert tmr_stores(before) == {("vcpu3", "vlapic_reset_tmr", "vcpu3.tmr, 0"),
                                  ("vcpu1", "vlapic_set_tmr_level", "vcpu1.tmr, 1")}
    after = runs.run(SCENARIO, "fixed", {"ticks": 0}, mode="untimed", seed=1)
    assert after.verdict.kind == "ok"
    assert tmr_stores(after) == {("vcpu3", "vlapic_tmr_set", "vcpu1.tmr, 1")}


def test_in_simulated_time_the_write_lock_wins_the_race():
    """Timed, bhyvectl freezes vCPU0 long before its thread is back: the hang."""
    assert runs.run(SCENARIO, "buggy", mode="timed").verdict.kind == "deadlock"
    assert runs.run(SCENARIO, "fixed", mode="timed").verdict.kind == "ok"


# ---- the fix, and what it must not do ---------------------------------------------
def test_the_fix_reads_as_four_hooks_and_a_vcpu():
    changed = {k for k in vars(RunblockVm) if not k.startswith("_")}
    assert changed == {"variant_name", "vcpu_cls", "uses_rendezvous", "vioapic_update_tmrs",
                       "vm_entry_blocked", "vm_handle_blocked"}
    assert RunblockVm.vcpu_cls is RunblockVcpu


def test_writing_a_running_vcpus_tmr_is_caught():
    """Drop the rendezvous but not the vCPU's right to run: vCPU3 sets vCPU1's TMR
    while vCPU1 runs its guest - a violation the explorer finds."""

    class JustWriteIt(Vm):
        def vioapic_update_tmrs(self, vcpuid, old, new, cpu):
            for i in self.active:
                yield from self.vioapic.vlapic_tmr_set(i, self.vioapic.wanted_tmr(new, i),
                                                       vcpuid)

    result = search(SCENARIO, JustWriteIt, {"ticks": 0})
    assert result.found == "violation"
    assert "vCPU1's TMR written by vCPU3 while vCPU1 runs its guest" in \
        result.counterexample.verdict.reason


def test_skipping_the_update_leaves_a_stale_tmr():
    class NoUpdate(Vm):
        def vioapic_update_tmrs(self, vcpuid, old, new, cpu):
            return
            yield

    result = search(SCENARIO, NoUpdate, {"ticks": 0})
    assert result.found == "violation"
    assert "TMR of vCPU1 does not say so" in result.counterexample.verdict.reason


# ---- bad input -----------------------------------------------------------------------
@pytest.mark.parametrize("params", [{"dest": 4}, {"dest": -1}, {"wrlock": 2},
                                    {"ticks": 5}, {"bystander": 3}, {"cpus": 4}])
def test_bad_parameters_are_one_line_errors(params, refused):
    refused(SCENARIO, "buggy", params)


def test_an_unknown_variant_is_a_one_line_error(refused):
    assert "fixed" in refused(SCENARIO, "naive")


def test_the_wait_for_graph_draws_the_cycle_in_red():
    """The report's hang drawn: the three waits of the cycle red (an arrow to
    what each waits for, one on to who holds it), vCPU 3's wait beside it not."""
    from matplotlib.colors import to_rgba

    from simulator.engine import waitfor
    from simulator.scenarios.write_lock_rendezvous import wait_edges
    from simulator.viz.waitfor import CYCLE as RED
    from simulator.viz.waitfor import wait_for_graph

    m = scenarios.get(SCENARIO).machine("buggy")
    m.replay(report_schedule())
    edges = wait_edges(m)
    cyc = waitfor.cycle(edges)
    assert [e.waiter for e in cyc] == ["bhyvectl", "vcpu1", "vcpu0"]
    fig = wait_for_graph(edges)
    arrows = {(a.anncoords.get_text(), a.xycoords.get_text()): a.arrow_patch.get_edgecolor()
              for a in fig.axes[0].texts if getattr(a, "arrow_patch", None) is not None}
    red = {arc for arc, color in arrows.items() if color == to_rgba(RED)}
    assert len(arrows) == 7 and len(red) == 6
    assert ("bhyvectl", "vCPU1 to go IDLE") in red and ("vCPU0 to go IDLE", "bhyvectl") in red
    assert ("vcpu3", "vCPU0's part of the\nrendezvous") in set(arrows) - red  # off the cycle
    png = io.BytesIO()
    fig.savefig(png, format="png")  # renders headless
    assert png.getvalue().startswith(b"\x89PNG")
