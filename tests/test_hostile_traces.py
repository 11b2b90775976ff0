"""Trace files from outside: whatever is in them, ``replay`` answers with exit 2 and
one line, in bounded time (hang guard), or replays them; ``run --trace`` refuses a
path it cannot write. A replay takes only actions the scenario can take, and a
crash of the model is reported as such, never as a verdict on the system."""
from __future__ import annotations

import json
import os
import tempfile
from functools import cache

import pytest
from hostile import assert_refused, cli
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from simulator import runs, scenarios
from simulator.engine.clock import drive_untimed
from simulator.engine.strategies import Replay, RoundRobin
from simulator.engine.trace import Trace
from simulator.errors import ModelCrash, UsageError
from simulator.search import search

REQUIRED = ("format", "scenario", "variant", "params", "memory_model", "schedule")
# The JSON types each field may have (the schema's, in JSON's words).
TYPES = {"format": {"integer"}, "scenario": {"string"}, "variant": {"string"},
         "params": {"object"}, "memory_model": {"string"}, "mode": {"string"},
         "strategy": {"string"}, "seed": {"integer", "null"}, "schedule": {"array"},
         "verdict": {"string"}, "reason": {"string"}, "waits": {"array"},
         "steps": {"array"}}
HYPOTHESIS = settings(max_examples=80, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow])


@cache
def good() -> dict:
    """A real trace, as ``run --trace`` writes it."""
    return runs.run("virtio-barriers", "buggy", seed=3).to_json()


def replay_text(data: str | bytes) -> tuple[int, str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.json")
        with open(path, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        return cli("replay", path)


def json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "number", str: "string", list: "array",
            dict: "object"}[type(value)]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=8)


# ---------------------------------------------------------------- examples
def test_a_good_trace_replays():
    code, out, err = replay_text(json.dumps(good()))
    assert code == 0 and "# recorded verdict: ok (same)" in out, err


def test_a_replay_that_ends_otherwise_than_recorded_disagrees():
    """The recorded verdict is the trace's claim: edited to say 'stuck', the same
    schedule still ends 'ok', and the replay says so with exit 1."""
    edited = dict(good(), verdict="stuck")
    code, out, err = replay_text(json.dumps(edited))
    assert code == 1 and "# recorded verdict: stuck (DIFFERENT)" in out, (code, out, err)


@pytest.mark.parametrize("content, says", [
    (b'{"format": 1, "scenario": "\xff"}', "not UTF-8 text (byte 0xff on line 1)"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"format": ' + "9" * 5000 + "}", "an integer of 5000 digits"),
    ('{"format": 1.0}', "the number 1.0"),
    ('{"format": NaN}', "NaN"),
    ('{"format": 1, "format": 1}', "the key 'format' twice"),
])
def test_unreadable_json_is_refused(content, says):
    code, _, err = replay_text(content)
    assert_refused(code, err, says=says)


@pytest.mark.parametrize("field, value, says", [
    ("steps", 5, "steps must be a list"),
    ("waits", 5, "waits must be a list"),
    ("format", True, "format must be an integer"),
    ("params", {"requests": True}, "params.requests must be an integer or a string"),
    ("schedule", "vcpu0", "schedule must be a list"),
    ("schedule", ["x" * 65], "schedule[0] must be shorter"),
    ("steps", [{"thread": "vcpu0"}], "missing field(s) in steps[0]: func, op, detail"),
    ("verdict", "fine", "verdict must be one of"),
    ("format", 2, "format 2 is not supported"),
])
def test_fields_of_the_wrong_type_or_value_are_refused(field, value, says):
    code, _, err = replay_text(json.dumps({**good(), field: value}))
    assert_refused(code, err, says=says)


def test_a_fractional_parameter_is_refused_not_truncated():
    with pytest.raises(UsageError, match="'2.7' is not an integer"):
        scenarios.get("virtio-barriers").resolve({"requests": 2.7})
    with pytest.raises(UsageError, match="'True' is not an integer"):
        scenarios.get("virtio-barriers").resolve({"requests": True})


@pytest.mark.parametrize("path, says", [
    ("/dev/zero", "not a regular file"),
    ("/", "it is a directory"),
    ("/nonexistent/trace.json", "No such file"),
    ("", "the file name is empty"),
])
def test_what_is_not_a_regular_file_is_refused(path, says):
    code, _, err = cli("replay", path)
    assert_refused(code, err, says=says)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, _, err = cli("replay", str(fifo))
    assert_refused(code, err, says="not a regular file")


def test_a_file_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    from simulator.engine import trace

    monkeypatch.setattr(trace, "MAX_BYTES", 1000)
    path = tmp_path / "big.json"
    path.write_text(json.dumps(good()))
    code, _, err = cli("replay", str(path))
    assert_refused(code, err, says="more than the 1000 a trace may have")


# ------------------------------------------------------------- properties
@HYPOTHESIS
@given(st.binary(max_size=300))
def test_any_bytes_are_refused_in_one_line(data):
    """No handful of bytes is a trace (not even valid JSON that is not one)."""
    code, _, err = replay_text(data)
    assert_refused(code, err)


@HYPOTHESIS
@given(field=st.sampled_from(sorted(TYPES)), value=json_values)
def test_a_field_of_the_wrong_type_is_refused_in_one_line(field, value):
    assume(json_type(value) not in TYPES[field])
    code, _, err = replay_text(json.dumps({**good(), field: value}))
    assert_refused(code, err, says=field)


@HYPOTHESIS
@given(missing=st.sets(st.sampled_from(REQUIRED), min_size=1))
def test_a_missing_field_is_refused_in_one_line(missing):
    data = {k: v for k, v in good().items() if k not in missing}
    code, _, err = replay_text(json.dumps(data))
    assert_refused(code, err, says="missing field")


@HYPOTHESIS
@given(field=st.sampled_from(sorted(TYPES)), depth=st.integers(1_000, 50_000),
       digits=st.integers(41, 6_000), kind=st.sampled_from(["deep", "huge", "float"]))
def test_deep_huge_or_fractional_values_are_refused_in_one_line(field, depth, digits, kind):
    text = json.dumps({**good(), field: "HOLE"})
    hole = {"deep": "[" * depth + "]" * depth, "huge": "7" * digits, "float": "0.5"}[kind]
    code, _, err = replay_text(text.replace('"HOLE"', hole))
    assert_refused(code, err)


@HYPOTHESIS
@given(position=st.integers(0, 10_000), action=st.text(min_size=1, max_size=64))
def test_an_action_the_scenario_cannot_take_is_refused_in_one_line(position, action):
    trace = good()
    known = set(trace["schedule"]) | {"drain:cpu0", "drain:cpu1"}
    assume(action not in known and not action.startswith("fire:"))
    schedule = list(trace["schedule"])
    schedule.insert(position % (len(schedule) + 1), action)
    code, _, err = replay_text(json.dumps({**trace, "schedule": schedule}))
    assert_refused(code, err, says="schedule step")


# ------------------------------------------------------ nudges and crashes
def test_several_nudges_on_a_running_system_are_refused():
    """The nudge knocks a stuck run loose; a schedule that nudges a run that is not
    stuck asks for something the scenario cannot do."""
    code, _, err = replay_text(json.dumps({**good(), "schedule": ["nudge"] * 5, "steps": []}))
    assert_refused(code, err, says="the nudge applies only to a stuck run")


def test_a_nudge_on_a_stuck_run_is_still_taken():
    hang = search("virtio-barriers", "buggy").counterexample
    again = runs.replay(hang.schedule + ["nudge"], "virtio-barriers", "buggy",
                        mode="untimed")
    assert again.steps[-1]["func"] == "nudge" and again.schedule[-1] == "nudge"


def _full_ring_schedule() -> list[str]:
    """OS-7613 in event_idx mode stays stuck after each nudge: each later read takes a
    descriptor, until all of the ring's are in flight."""
    hang = search("virtio-barriers", "buggy", {"mode": "event_idx"}).counterexample
    m = scenarios.get("virtio-barriers").machine("buggy", hang.params)
    schedule = list(hang.schedule)
    drive_untimed(m, Replay(hang.schedule))
    while m.verdict().kind == "stuck" and m.model["driver"].free:
        m.step("nudge")
        schedule += ["nudge"] + drive_untimed(m, RoundRobin())
    assert m.verdict().kind == "stuck" and not m.model["driver"].free
    return schedule


def test_a_nudge_with_no_free_descriptor_is_refused():
    """A later read on a full ring would wait for a descriptor (virtio_blk stops its
    queue on -ENOSPC): the model cannot take that nudge, and says so."""
    schedule = _full_ring_schedule() + ["nudge"]
    with pytest.raises(UsageError, match="needs a free descriptor"):
        runs.replay(schedule, "virtio-barriers", "buggy", {"mode": "event_idx"})
    trace = {**good(), "params": {**good()["params"], "mode": "event_idx"},
             "schedule": schedule, "steps": []}
    code, _, err = replay_text(json.dumps(trace))
    assert_refused(code, err, says="needs a free descriptor")


def test_a_model_crash_is_a_fault_of_the_model_not_a_verdict(monkeypatch):
    """A built-in model that raises (here the guest's later read, made to fail) is a
    fault of the simulator: exit 3, never a violation found in the system modelled."""
    from simulator.models.guest import LinuxVirtioBlk

    def broken_read(self):
        raise IndexError("pop from empty list")
        yield

    hang = search("virtio-barriers", "buggy", {"mode": "event_idx"}).counterexample
    monkeypatch.setattr(LinuxVirtioBlk, "direct_read", broken_read)
    m = scenarios.get("virtio-barriers").machine("buggy", hang.params)
    drive_untimed(m, Replay(hang.schedule))
    m.step("nudge")
    schedule = list(hang.schedule) + ["nudge"] + drive_untimed(m, RoundRobin())
    assert m.crash is not None  # the later read's thread raised
    with pytest.raises(ModelCrash, match="not a verdict"):
        runs.replay(schedule, "virtio-barriers", "buggy", {"mode": "event_idx"})
    trace = {**good(), "params": {**good()["params"], "mode": "event_idx"},
             "schedule": schedule, "steps": []}
    code, out, err = replay_text(json.dumps(trace))
    assert_refused(code, err, status=3, says="the model crashed")
    assert "violation" not in out


def test_a_students_crashing_class_still_fails_as_a_violation():
    """For a variant class (a student's answer) a crash is that answer failing."""
    from simulator.models.virtio import VirtioDevice

    class Broken(VirtioDevice):
        def vq_endchains(self, *args, **kwargs):
            raise RuntimeError("oops")
            yield

    trace = runs.run("virtio-barriers", Broken, seed=1)
    assert trace.verdict.kind == "violation" and "RuntimeError" in trace.verdict.reason


# --------------------------------------------------------------- run --trace
@pytest.mark.parametrize("path, says", [
    ("", "--trace needs a file name"),
    ("/", "is a directory"),
    ("/nonexistent/dir/t.json", "there is no directory"),
    ("/proc/self/status", "cannot write trace"),
])
def test_run_refuses_a_trace_path_it_cannot_write(path, says):
    code, _, err = cli("run", "virtio-barriers", "--trace", path)
    assert_refused(code, err, says=says)


def test_run_refuses_a_fifo_nobody_reads(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, _, err = cli("run", "virtio-barriers", "--trace", str(fifo))
    assert_refused(code, err, says="cannot write trace")


def test_run_writes_a_trace_that_replays(tmp_path):
    path = tmp_path / "t.json"
    code, _, err = cli("run", "virtio-barriers", "--seed", "4", "--trace", str(path))
    assert code == 0, err
    assert Trace.load(path).schedule == runs.run("virtio-barriers", seed=4,
                                                 mode="timed").schedule


def test_save_refuses_in_one_line(tmp_path):
    with pytest.raises(UsageError, match="cannot write trace"):
        Trace.from_json(good()).save(tmp_path)
