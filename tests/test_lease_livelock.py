"""illumos #14026, lease-livelock: a lease's wake-up is lost and the write lock waits.

The story in tests: first the engine's pieces the chapter needs (a signal to
the whole process, a read hold dropped on another thread's behalf, a nudge
that knows whom it wakes, the wait-for cycle), then the VM's exclusion
(``vcpu_lock_one``, the lease list), then the scenario: the report's
interleaving replayed to ``stuck`` with its four stacks, the signal that
knocks it loose, the naive fix's AB-BA deadlock, 6703a0e verified, and the
host's load widening the window in simulated time.
"""
import pytest

from simulator import runs, scenarios
from simulator.engine import ops, waitfor
from simulator.engine.clock import drive_untimed
from simulator.engine.machine import Machine
from simulator.engine.shapes import lost_wakeup
from simulator.engine.strategies import RoundRobin
from simulator.errors import UsageError
from simulator.grading.schedules import expand
from simulator.models.lease import lease_ids
from simulator.models.vcpu import FROZEN, IDLE, Vcpu
from simulator.models.vmm import Vmm
from simulator.scenarios.lease_livelock import BeforeFix
from simulator.search import search

SCENARIO = "lease-livelock"


def _finish(m):
    drive_untimed(m, RoundRobin())
    return m.verdict()


# ------------------------------------------------------------------ engine
def test_a_signal_to_the_process_wakes_every_interruptible_sleeper():
    got = {}

    def sleeper(name, cv):
        yield ops.lock(f"{name}.m", name)
        got[name] = yield ops.cv_wait_sig(cv, f"{name}.m", name)
        yield ops.unlock(f"{name}.m", name)

    def waiter():  # cv_wait, not cv_wait_sig: a signal does not end it
        yield ops.lock("w.m", "waiter")
        got["waiter"] = yield ops.cv_wait("w.cv", "w.m", "waiter")

    def kill():
        yield ops.signal_process("sigtoproc")

    m = Machine({}, cpus=4)
    m.add_thread("a", 0, sleeper("a", "a.cv"))
    m.add_thread("b", 1, sleeper("b", "b.cv"))
    m.add_thread("waiter", 2, waiter())
    for name in ("a", "a", "b", "b", "waiter", "waiter"):
        m.step(name)
    m.add_thread("kill", 3, kill())
    m.step("kill")
    _finish(m)
    assert got == {"a": 0, "b": 0}
    assert m.by_name["waiter"].wait == ("cv", "w.cv", False)


def test_a_signal_to_the_process_leaves_nothing_pending():
    """A thread not asleep when the signal comes sleeps normally afterwards."""
    got = []

    def late():
        yield ops.lock("m", "late")
        got.append((yield ops.cv_wait_sig("cv", "m", "late")))

    def kill():
        yield ops.signal_process("sigtoproc")

    m = Machine({}, cpus=2)
    m.add_thread("kill", 0, kill())
    m.add_thread("late", 1, late())
    m.step("kill")
    m.step("late")
    m.step("late")
    assert got == [] and m.by_name["late"].wait == ("cv", "cv", True)


def test_a_read_hold_may_be_dropped_for_its_holder_but_a_write_hold_may_not():
    def reader():
        yield ops.rw_enter("vm", ops.READER, "reader")
        yield ops.note("holding", "reader")

    def breaker(holder):
        yield ops.rw_exit("vm", "vmm_lease_break_locked", holder)

    m = Machine({}, cpus=2)
    m.add_thread("reader", 0, reader())
    m.add_thread("blocker", 1, breaker("reader"))
    m.step("reader")
    m.step("blocker")
    assert m.rwlock("vm").readers == []

    def writer():
        yield ops.rw_enter("vm", ops.WRITER, "writer")
        yield ops.note("holding", "writer")

    m = Machine({}, cpus=2)
    m.add_thread("writer", 0, writer())
    m.add_thread("blocker", 1, breaker("writer"))
    m.step("writer")
    assert _finish(m).kind == "violation"


def test_a_nudge_that_knows_whom_it_wakes_tells_stuck_from_deadlock():
    """A daemon asleep in cv_wait_sig is no reason to call a hang stuck unless the
    scenario says the nudge would set it going."""

    def idle():
        yield ops.lock("d.m", "daemon")
        yield ops.cv_wait_sig("d.cv", "d.m", "daemon")

    def stuck_on(mutex):
        yield ops.lock(mutex, "t")

    def build(wakes):
        m = Machine({}, cpus=3, nudge=lambda m: None, nudge_wakes=wakes)
        m.add_thread("holder", 0, stuck_on("x"))
        m.add_thread("daemon", 1, idle(), daemon=True)
        m.add_thread("t", 2, stuck_on("x"))
        m.step("holder")
        m.step("daemon")
        m.step("daemon")
        return m

    # holder owns x and ends; t waits for it forever (the holder never unlocks)
    assert _finish(build(lambda m, t: t.name == "daemon")).kind == "stuck"
    assert _finish(build(lambda m, t: False)).kind == "deadlock"


def test_a_lost_wakeup_is_no_cycle():
    m = lost_wakeup(waker_holds_lock=False)
    for action in ("waiter", "waiter", "waker", "waker", "waiter"):
        m.step(action)
    assert m.verdict().kind == "deadlock" and waitfor.cycle(waitfor.edges(m)) is None


# ------------------------------------------------------ the VM's exclusion
def test_the_lease_list_keeps_insertion_order_in_one_word():
    from simulator.models.lease import _word

    assert lease_ids(_word([2, 1, 3])) == [2, 1, 3]
    assert lease_ids(0) == []


def test_vcpu_lock_one_waits_for_idle_asking_with_reqidle():
    """A second freezer finds the vCPU FROZEN: it sets reqidle and sleeps on the
    vCPU's state_cv until the first one lets the vCPU go IDLE."""
    vcpu = Vcpu(1)
    vmm = Vmm([vcpu])

    def ioctl(name):
        yield from vmm.vcpu_lock_one(1, 0)
        yield ops.note(f"{name} has vCPU 1", name)
        yield from vmm.vcpu_unlock_one(1)

    m = Machine(vmm.cells(), cpus=2)
    m.add_thread("a", 0, ioctl("a"))
    m.add_thread("b", 1, ioctl("b"))
    for _ in range(4):
        m.step("a")  # a froze vCPU 1
    assert m.memory.cells[vcpu.state_cell] == FROZEN
    while m.by_name["b"].wait is None:
        m.step("b")
    assert m.memory.cells[vcpu.reqidle_cell] == 1
    assert m.by_name["b"].wait == ("cv", vcpu.state_cv, False)
    assert _finish(m).kind == "ok" and m.memory.cells[vcpu.state_cell] == IDLE


def test_vcpu1_parks_exactly_where_the_report_shows_it():
    """vmm_write_lock holds vCPU 1 FROZEN; vCPU 1's own VM_RUN waits in
    vcpu_set_state_locked, as the report's stack for 'bhyve/37 [vcpu 1]'."""
    m = scenarios.get(SCENARIO).machine("buggy")
    raw = expand("vcpu0* vcpu1*", SCENARIO, "buggy")
    for action in raw:
        m.step(action)
    assert m.wait_for(m.by_name["vcpu1"]).startswith(
        "vcpu1 in vcpu_set_state_locked: cv_wait on vcpu1.state_cv")


# ---------------------------------------------------------------- scenario
# The report, as a schedule: vCPU 0's first write lock expires both leases and
# wakes the workers; they break their leases and wait to sign again; vCPU 0
# finishes the first ioctl (vmm_lease_unblock, then rw_exit); TX signs a new
# lease and stops just before its cv_wait_sig; vCPU 0's second write lock
# expires that lease and broadcasts to nobody; TX sleeps; RX, still signing,
# waits for the blocker; vCPU 1 waits for its vCPU.
REPORT = ("vcpu0* tx* rx* vcpu0>vmm_lease_unblock vcpu0>vmm_write_unlock vcpu0 "
          "tx>viona_worker vcpu0* tx* rx* vcpu1*")
FULL_CAST = {"rx": 1}
LOST = ("vCPU 0 waits in vmm_write_lock for the read hold of tx; tx sleeps in "
        "cv_wait_sig with an expired lease: the wake-up was lost")


def report_trace():
    return runs.replay(expand(REPORT, SCENARIO, "buggy", FULL_CAST), SCENARIO, "buggy",
                       FULL_CAST)


def test_the_reports_interleaving_hangs_with_the_reports_four_stacks():
    trace = report_trace()
    assert trace.verdict.kind == "stuck" and trace.verdict.reason == LOST
    waits = "\n".join(trace.verdict.waits)
    assert "vcpu0 in vmm_write_lock: wants vmm_rwlock as writer, held by tx" in waits
    assert "tx in viona_worker: cv_wait_sig on tx.vr_cv" in waits
    assert "rx in vmm_drv_lease_sign: cv_wait on vmm_lease_cv" in waits
    assert "vcpu1 in vcpu_set_state_locked: cv_wait on vcpu1.state_cv" in waits


def test_the_lost_broadcast_found_nobody_waiting():
    """The second expire callback woke no one (result 0); the TX lease it expired
    is the only one on the list, as in the report's mdb output."""
    trace = report_trace()
    broadcasts = [s for s in trace.steps if s["func"] == "viona_ring_lease_expire_cb"
                  and s["detail"] == "tx.vr_cv"]
    assert [s["result"] for s in broadcasts] == [1, 0]
    m = scenarios.get(SCENARIO).machine("buggy", FULL_CAST)
    m.replay(trace.schedule)
    leases = m.model["leases"]
    assert lease_ids(m.memory.cells[leases.list_cell]) == [m.model["vm"].tx.lease.lid]


def test_a_signal_to_the_process_knocks_it_loose():
    m = scenarios.get(SCENARIO).machine("buggy", FULL_CAST)
    m.replay(report_trace().schedule)
    assert m.verdict().kind == "stuck"
    m.step("nudge")
    verdict = _finish(m)
    assert verdict.kind == "ok", verdict
    assert m.model["vm"].tx.renewals == 2  # once per write lock


def test_one_write_lock_alone_never_loses_the_wakeup():
    """A sleeping worker is always woken: it takes a second write lock, coming
    while the worker is back from renewing, to find it awake in the window."""
    result = search(SCENARIO, "buggy", {"ioctls": 1})
    assert result.found is None and result.exhausted


def test_the_explorer_finds_the_hang_with_nobody_preempted():
    """A CPU each: the window is crossed by parallel threads, no preemption needed."""
    result = search(SCENARIO, "buggy")
    assert result.found == "stuck" and result.bound == 0
    assert runs.replay(result.counterexample).verdict.reason == LOST


def test_on_one_capped_cpu_the_explorer_needs_two_preemptions():
    """All threads on one CPU: the scheduler must switch to the worker before
    vCPU 0 is done, and away from it inside its window."""
    result = search(SCENARIO, "buggy", {"host_cpus": 1})
    assert result.found == "stuck" and result.bound == 2


def test_random_scheduling_rarely_if_ever_hits_it():
    """Uniform random interleavings: the window is a handful of steps among ~70."""
    found = runs.random_search(SCENARIO, "buggy", runs=500, seed=0)
    assert found.verdicts["ok"] >= 490


def test_the_naive_fix_deadlocks_when_the_worker_is_awake_at_expiry():
    """The callback takes vr_lock while vmm_write_lock holds vmm_lease_lock; a
    worker that saw its lease expire holds vr_lock and wants vmm_lease_lock."""
    result = search(SCENARIO, "naive-fix", {"tx": "awake"})
    assert result.found == "deadlock"
    reason = result.counterexample.verdict.reason
    assert reason.startswith("lock-order deadlock (AB-BA): ")
    assert ("vcpu0 waits in viona_ring_lease_expire_cb for tx.vr_lock (held by tx), "
            "holding vmm_lease_lock;") in reason
    assert ("tx waits in vmm_drv_lease_break for vmm_lease_lock (held by vcpu0), "
            "holding tx.vr_lock") in reason


def test_the_naive_fix_does_close_the_reports_window():
    """With the worker asleep, as in the report, the naive fix never hangs: the
    broadcast under vr_lock cannot come between check and sleep."""
    result = search(SCENARIO, "naive-fix")
    assert result.found is None and result.exhausted


def test_6703a0e_is_verified_over_every_interleaving():
    result = search(SCENARIO, "fixed", {"vcpu1": 0})
    assert result.found is None and result.exhausted, result.summary()


def test_6703a0e_is_verified_with_vcpu1_too():
    result = search(SCENARIO, "fixed")
    assert result.found is None and result.exhausted, result.summary()


def test_6703a0e_with_the_full_cast_is_clean_within_a_stated_bound():
    """With RX as well the space is large: the search stops at its state limit and
    says so - bounded, never called exhaustive."""
    result = search(SCENARIO, "fixed", FULL_CAST, max_states=20_000)
    assert result.found is None and not result.exhausted
    assert result.result.stats.hit_state_limit and result.result.label == "bounded"


def test_6703a0e_with_a_worker_awake_at_expiry_hangs_through_the_blocker():
    """The model's prediction for the same condition that breaks the naive fix:
    the worker renews before its callback runs, waits in vmm_drv_lease_sign for
    the write locker holding vr_lock, and the write locker's callback waits
    for vr_lock. No mutex cycle: a cycle through vmm_lease_cv."""
    result = search(SCENARIO, "fixed", {"tx": "awake", "vcpu1": 0})
    assert result.found == "deadlock"
    reason = result.counterexample.verdict.reason
    assert reason.startswith("a cycle through vmm_lease_cv: ")
    assert ("tx waits in vmm_drv_lease_sign on vmm_lease_cv (broadcast, after the write "
            "lock, by vcpu0), holding tx.vr_lock") in reason
    assert "vcpu0 waits in viona_ring_lease_expire_cb for tx.vr_lock (held by tx)" in reason


def test_each_half_of_the_fix_alone_is_not_enough():
    """Dropping vmm_lease_lock around the callbacks without taking vr_lock in the
    callback leaves the lost wake-up as it was."""
    from simulator.models.lease import BlockingLeases

    class DropOnly(BeforeFix):
        leases = BlockingLeases

    assert search(SCENARIO, DropOnly, {"vcpu1": 0}).found == "stuck"


def test_the_fix_reads_as_two_small_hooks():
    from simulator.models.lease import BlockingLeases, Leases
    from simulator.models.viona import LockedExpireRing, VionaRing

    assert {k for k in vars(LockedExpireRing) if not k.startswith("_")} == {
        "viona_ring_lease_expire_cb"}
    assert issubclass(LockedExpireRing, VionaRing) and issubclass(BlockingLeases, Leases)
    assert {k for k in vars(BlockingLeases) if not k.startswith("_")} == {
        "cells", "vmm_lease_init", "vmm_drv_lease_break", "vmm_lease_block",
        "vmm_lease_wait_empty"}


def test_deferred_breaks_are_done_by_the_blocker_for_the_holder():
    """Under 6703a0e the worker's break, coming while the blocker runs, is left to
    the blocker, which drops the worker's read hold on its behalf."""
    trace = runs.run(SCENARIO, "fixed", {"vcpu1": 0}, strategy="round-robin")
    assert trace.verdict.kind == "ok"
    assert any(s["thread"] == "vcpu0" and s["op"] == "rw_exit" and s["detail"].endswith(
        "for tx") for s in trace.steps)


def test_in_simulated_time_a_loaded_host_widens_the_window():
    """An idle host: the worker is back asleep long before the next write lock.
    A host that takes the worker's CPU away after it renews: some gaps hang."""
    def hangs(preempt_ns):
        return sum(runs.run(SCENARIO, "buggy", {"gap_ns": gap, "preempt_ns": preempt_ns},
                            mode="timed").verdict.kind == "stuck"
                   for gap in range(0, 2000, 100))

    assert hangs(0) == 0
    assert 0 < hangs(800) < hangs(3200)


@pytest.mark.parametrize("variant, params", [
    ("buggy", {}), ("buggy", {"host_cpus": 1, "vcpu1": 0}), ("naive-fix", {"tx": "awake"}),
    ("fixed", {"vcpu1": 0}), ("fixed", {"tx": "awake", "rx": 1}),
])
def test_the_memo_explorer_agrees_with_re_execution(variant, params):
    """The workers start asleep after set-up steps that belong to no schedule; the
    explorer that restores snapshots and the one that re-runs every branch must
    still walk the same search, count for count."""
    from simulator.engine.explore import explore

    sc = scenarios.get(SCENARIO)
    resolved = sc.resolve(params)

    def factory():
        return sc.machine(variant, resolved)

    def summary(r):
        found = r.found and (r.found.schedule, r.found.verdict, r.found.preemptions)
        return (r.label, r.bound, r.stats.states, r.stats.schedules, found)

    old = explore(factory, engine="replay", minimise_found=False, max_states=5_000)
    new = explore(factory, minimise_found=False, max_states=5_000)
    assert summary(new) == summary(old)


def test_a_student_variant_is_a_class_with_its_own_name():
    class MyFix(BeforeFix):
        pass

    trace = runs.run(SCENARIO, MyFix, {"vcpu1": 0}, strategy="round-robin")
    assert trace.variant == "MyFix" and trace.verdict.kind == "ok"
    with pytest.raises(UsageError):
        scenarios.get(SCENARIO).machine(object)


@pytest.mark.parametrize("params", [
    {"host_cpus": 0}, {"host_cpus": 5}, {"ioctls": 0}, {"ioctls": 4}, {"rx": 2},
    {"tx": "running"}, {"gap_ns": -1}, {"preempt_ns": "lots"}, {"stalls": 1},
])
def test_bad_parameters_are_one_line_errors(params, refused):
    refused(SCENARIO, "buggy", params)


def test_an_unknown_variant_is_a_one_line_error(refused):
    assert "naive-fix" in refused(SCENARIO, "naive")
