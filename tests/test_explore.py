"""The explorer: bounded search, verified results, minimisation, the CLI contract."""
import json

import pytest

from simulator import runs
from simulator.engine.explore import explore, minimise, switches
from simulator.engine.shapes import lost_wakeup, store_buffering
from simulator.search import search

JSON_KEYS = {"scenario", "variant", "strategy", "verdict", "exhausted", "bound", "states",
             "schedules", "steps", "seconds", "counterexample"}


def test_a_store_buffer_race_shows_up_at_preemption_bound_zero():
    result = explore(lambda: store_buffering(), bound=0)
    assert result.found is not None and result.bound == 0


def test_a_result_cut_short_by_the_state_limit_is_bounded_not_verified():
    result = explore(lambda: lost_wakeup(True), max_states=3)
    assert result.found is None
    assert result.label == "bounded" and not result.exhausted


def test_a_preemption_on_one_cpu_is_counted_and_bounded():
    """Two threads sharing one CPU: the reader sees a half-done update only if the
    CPU switches away from the writer between its two stores — one preemption."""
    from simulator.engine import ops
    from simulator.engine.machine import Machine

    def writer():
        yield ops.store("x", 1, "writer")
        yield ops.store("y", 1, "writer")

    def reader():
        x = yield ops.load("x", "reader")
        y = yield ops.load("y", "reader")
        yield ops.check(not (x == 1 and y == 0), "saw x without y", "reader")

    def factory():
        m = Machine({"x": 0, "y": 0}, cpus=1, memory_model="sc")
        m.add_thread("writer", 0, writer())
        m.add_thread("reader", 0, reader())
        return m

    found = explore(factory)
    assert found.found is not None and found.found.preemptions == 1 and found.bound == 1
    at_zero = explore(factory, bound=0)
    assert at_zero.found is None and at_zero.label == "bounded"


def test_random_and_pct_are_reproducible_from_their_seed():
    a = explore(lambda: store_buffering(), "random", runs=50, seed=3, minimise_found=False)
    b = explore(lambda: store_buffering(), "random", runs=50, seed=3, minimise_found=False)
    assert a.found.schedule == b.found.schedule
    c = explore(lambda: store_buffering(), "pct", runs=50, seed=3, minimise_found=False)
    d = explore(lambda: store_buffering(), "pct", runs=50, seed=3, minimise_found=False)
    assert (c.found and c.found.schedule) == (d.found and d.found.schedule)


def test_a_minimised_counterexample_replays_to_the_same_verdict():
    found = search("virtio-barriers", "buggy", strategy="random", runs_=3000, minimise=False)
    raw = found.result.found.schedule

    def factory():
        from simulator import scenarios
        return scenarios.get("virtio-barriers").machine("buggy")

    small = minimise(factory, raw, "stuck")
    assert (len(small), switches(small)) <= (len(raw), switches(raw))
    again = runs.replay(small, "virtio-barriers", "buggy")
    assert again.verdict.kind == "stuck"


def test_the_counterexample_of_a_search_replays_to_its_verdict():
    found = search("virtio-barriers", "buggy", {"mode": "event_idx"})
    again = runs.replay(found.counterexample)
    assert again.verdict.kind == found.found == "stuck"


def test_deadlocks_name_who_waits_for_what():
    found = explore(lambda: lost_wakeup(False))
    waits = found.found.verdict.waits
    assert any(w.startswith("waiter in waiter: cv_wait on cv") for w in waits)


def test_explore_json_has_the_documented_keys(run_cli):
    code, out, _ = run_cli("explore", "virtio-barriers", "--json")
    data = json.loads(out)
    assert code == 0 and JSON_KEYS <= set(data)
    assert data["verdict"] == "stuck" and data["bound"] == 0
    assert data["counterexample"]["verdict"] == "stuck"
    code, out, _ = run_cli("explore", "virtio-barriers", "--variant", "fixed", "--json")
    data = json.loads(out)
    assert code == 0 and data["verdict"] == "verified" and data["exhausted"] is True


@pytest.mark.parametrize("args, message", [
    (["explore", "virtio-barriers", "--bound", "-1"], "--bound must be 0 or more"),
    (["explore", "virtio-barriers", "--max-states", "0"], "--max-states must be at least 1"),
    (["explore", "virtio-barriers", "--strategy", "random", "--runs", "0"], "--runs"),
    (["explore", "virtio-barriers", "--strategy", "bfs"], "invalid choice"),
])
def test_bad_explore_input_is_one_line_and_exit_2(run_cli, args, message):
    code, out, err = run_cli(*args)
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_the_reduction_keeps_a_lost_update_under_sequential_consistency():
    """Load-then-store of a counter on two CPUs loses an update even under SC; the
    partial-order reduction must not hide it (a store under SC writes memory)."""
    from simulator.engine import ops
    from simulator.engine.machine import Machine

    def bump(name):
        v = yield ops.load("count", name)
        yield ops.store("count", v + 1, name)

    def factory():
        m = Machine({"count": 0}, cpus=2, memory_model="sc",
                    check_property=lambda m: (m.memory.cells["count"] == 2, "lost update"))
        m.add_thread("a", 0, bump("a"))
        m.add_thread("b", 1, bump("b"))
        return m

    assert explore(factory).found is not None
    assert explore(factory, por=False).found is not None


def _virtio_buggy():
    from simulator import scenarios
    return scenarios.get("virtio-barriers").machine("buggy")


def test_minimisation_does_not_depend_on_the_clock(monkeypatch):
    """The budget is replays and steps, never seconds: with a clock that jumps a
    thousand seconds at every look, the same counterexample comes out."""
    raw = search("virtio-barriers", "buggy", strategy="random", runs_=3000,
                 minimise=False).result.found.schedule
    calm = minimise(_virtio_buggy, raw, "stuck")
    import time
    now = [0.0]

    def jumping():
        now[0] += 1000.0
        return now[0]

    for name in ("monotonic", "perf_counter", "time"):
        monkeypatch.setattr(time, name, jumping)
    assert minimise(_virtio_buggy, raw, "stuck") == calm
    assert len(calm) < len(raw)


def test_minimisation_keeps_the_best_found_within_its_budget():
    """A budget of a few replays stops early, always at the same schedule, which
    still replays to the verdict."""
    raw = search("virtio-barriers", "buggy", strategy="random", runs_=3000,
                 minimise=False).result.found.schedule
    few = minimise(_virtio_buggy, raw, "stuck", max_tries=5)
    assert few == minimise(_virtio_buggy, raw, "stuck", max_tries=5)
    assert runs.replay(few, "virtio-barriers", "buggy").verdict.kind == "stuck"
    tiny = minimise(_virtio_buggy, raw, "stuck", max_steps=len(raw) // 2)
    assert tiny == raw  # not one whole replay fits: nothing is changed
