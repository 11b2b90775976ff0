"""Traces round-trip and replay exactly; timed mode keeps simulated time honestly."""
import json

import pytest

from simulator import runs
from simulator.engine.clock import TimedDriver
from simulator.engine.strategies import RoundRobin
from simulator.engine.trace import Trace
from simulator.errors import UsageError


def test_a_trace_survives_json_and_replays_step_for_step(tmp_path):
    original = runs.run("virtio-barriers", "buggy", seed=5)
    path = tmp_path / "t.json"
    original.save(path)
    loaded = Trace.load(path)
    again = runs.replay(loaded)
    assert again.schedule == original.schedule
    assert [(s["thread"], s["func"], s["op"], s["result"]) for s in again.steps] == \
           [(s["thread"], s["func"], s["op"], s["result"]) for s in original.steps]
    assert again.verdict.kind == original.verdict.kind


def test_pretty_prints_dtrace_style_lines_with_the_parameters_first():
    text = runs.run("virtio-barriers", "fixed", seed=1).pretty().splitlines()
    assert text[0].startswith("# virtio-barriers variant=fixed requests=2")
    assert any("vq_relchain:store(used.idx, 1)" in line for line in text)
    assert text[-1].startswith("# verdict: ok")


@pytest.mark.parametrize("bad, message", [
    ("[]", "a trace must be a JSON object"),
    ('{"format": 1}', "missing field"),
    ('{"format": 9, "scenario": "x", "variant": "v", "params": {}, "memory_model": "tso",'
     ' "schedule": []}', "format 9"),
    ('{"format": 1, "scenario": "virtio-barriers", "variant": "buggy", "params": {},'
     ' "memory_model": "tso", "schedule": [1, 2]}', "schedule.0. must be a string"),
    ('{"format": 1, "scenario": "virt', "not valid JSON"),
])
def test_malformed_traces_are_one_line_errors(tmp_path, bad, message):
    path = tmp_path / "bad.json"
    path.write_text(bad)
    with pytest.raises(UsageError, match=message):
        Trace.load(path)


def test_replaying_an_action_that_is_not_enabled_is_an_error():
    trace = runs.run("virtio-barriers", "buggy", seed=2)
    trace.schedule[3] = "drain:cpu1"
    with pytest.raises(UsageError, match="schedule step 3"):
        runs.replay(trace)


def test_timed_mode_orders_steps_in_time_and_charges_op_costs():
    trace = runs.run("virtio-barriers", "fixed", seed=0, mode="timed")
    times = [s["t_ns"] for s in trace.steps]
    assert times == sorted(times)
    io = [s for s in trace.steps if s["op"] == "wakeup" and "io.req" in s["detail"]]
    assert io and io[0]["t_ns"] >= 20_000  # the I/O latency elapsed first


def test_same_instant_actions_are_offered_to_the_strategy_together():
    """Both CPUs can run at t=0: the strategy, not simpy, picks the first."""
    from simulator import scenarios

    offered = []

    class Recorder(RoundRobin):
        def choose(self, machine, actions):
            offered.append(list(actions))
            return super().choose(machine, actions)

    m = scenarios.get("virtio-barriers").machine("fixed", timed=True)
    TimedDriver(m, Recorder()).run()
    assert "vcpu0" in offered[0] and "blkio" in offered[0]


def test_the_hung_task_watchdog_reports_after_120_seconds_of_simulated_time():
    found = runs.random_search("virtio-barriers", "buggy", runs=3000, seed=0)
    timed = runs.replay(found.counterexample, mode="timed")
    assert timed.verdict.kind == "stuck"
    report = [s for s in timed.steps if s["op"] == "note"]
    assert report and "blocked for more than 120 seconds" in report[0]["detail"]
    assert report[0]["t_ns"] >= 120 * 10**9


def test_run_json_is_the_trace(run_cli):
    code, out, _ = run_cli("run", "virtio-barriers", "--mode", "untimed", "--seed", "4", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["format"] == 1 and data["scenario"] == "virtio-barriers"
    assert set(data) >= {"schedule", "verdict", "steps", "params", "memory_model", "seed"}
