"""The Machine's contract: actions, verdicts, fingerprints, crash handling."""
import subprocess
import sys

import pytest

from simulator.engine import ops
from simulator.engine.machine import Machine, ScheduleError
from simulator.engine.shapes import lost_wakeup, store_buffering


def _finish(m):
    while m.enabled():
        m.step(m.enabled()[0])
    return m.verdict()


def test_a_run_that_finishes_with_its_property_holding_is_ok():
    assert _finish(store_buffering("sc")).kind == "ok"


def test_a_failed_check_is_a_violation():
    def t():
        yield ops.check(False, "the ring index went backwards", "vq_relchain")

    m = Machine({}, cpus=1)
    m.add_thread("t", 0, t())
    verdict = _finish(m)
    assert verdict.kind == "violation" and "went backwards" in verdict.reason


def test_blocked_threads_with_nothing_to_wake_them_are_a_deadlock():
    def ab(name, first, second):
        yield ops.lock(first, name)
        yield ops.lock(second, name)

    m = Machine({}, cpus=2)
    m.add_thread("A", 0, ab("A", "m1", "m2"))
    m.add_thread("B", 1, ab("B", "m2", "m1"))
    m.step("A")
    m.step("B")
    verdict = m.verdict()
    assert verdict.kind == "deadlock"
    assert "A in A: wants mutex m2, held by B" in verdict.waits


def test_a_halted_cpu_with_a_nudge_available_is_stuck():
    def cpu():
        yield ops.halt("irq", "default_idle")

    m = Machine({"irq": 0}, cpus=1, nudge=lambda m: m.memory.store(0, "irq", 1))
    m.add_thread("vcpu0", 0, cpu())
    assert m.verdict().kind == "stuck"
    m.step("nudge")
    assert _finish(m).kind == "ok"


def test_a_halt_on_a_busy_value_waits_until_the_cell_changes():
    """halt(addr, busy=3) waits while the cell holds 3 and returns the value it found."""
    seen = []

    def waiter():
        seen.append((yield ops.halt("be1.status", "blockif_cancel", busy=3)))

    def worker():
        yield ops.store("be1.status", 4, "blockif_proc")

    m = Machine({"be1.status": 3}, cpus=2, memory_model="sc")
    m.add_thread("ioemu", 0, waiter())
    m.add_thread("blkio", 1, worker())
    assert m.enabled() == ["blkio"]
    assert "ioemu in blockif_cancel: halted until be1.status != 3" in m.wait_for(m.threads[0])
    assert _finish(m).kind == "ok" and seen == [4]


def test_a_run_that_never_settles_hits_the_step_limit():
    def spin():
        while True:
            yield ops.load("x", "spin")

    m = Machine({"x": 0}, cpus=1, step_budget=50)
    m.add_thread("t", 0, spin())
    assert _finish(m).kind == "limit"


def test_model_code_that_raises_is_a_violation_not_a_crash():
    def broken():
        yield ops.load("x", "f")
        raise ValueError("student code blew up")

    m = Machine({"x": 0}, cpus=1)
    m.add_thread("t", 0, broken())
    verdict = _finish(m)
    assert verdict.kind == "violation" and "ValueError: student code blew up" in verdict.reason


def test_yielding_something_that_is_not_an_op_is_a_violation():
    def wrong():
        yield "load x"

    m = Machine({}, cpus=1)
    m.add_thread("t", 0, wrong())
    assert m.verdict().kind == "violation"


def test_an_action_that_is_not_enabled_is_refused():
    m = lost_wakeup(True)
    with pytest.raises(ScheduleError, match="not enabled"):
        m.step("drain:cpu0")
    with pytest.raises(ScheduleError, match="not enabled"):
        m.step("nobody")


def test_the_fingerprint_is_stable_across_processes():
    """blake2 over a canonical encoding, never Python's randomised hash()."""
    code = ("from simulator.engine.shapes import store_buffering;"
            "m = store_buffering(); m.step('P0'); m.step('P1'); print(m.fingerprint())")
    prints = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={"PYTHONHASHSEED": str(seed)}, check=True).stdout
              for seed in (1, 2)}
    assert len(prints) == 1


def test_the_fingerprint_tells_different_states_apart():
    a, b = store_buffering(), store_buffering()
    a.step("P0")
    b.step("P1")
    assert a.fingerprint() != b.fingerprint()
    c = store_buffering()
    c.step("P0")
    assert a.fingerprint() == c.fingerprint()


def test_every_op_kind_the_machine_accepts_has_a_handler():
    from simulator.engine import machine

    assert machine._HANDLED == set(machine._HANDLERS)
