"""The command line: every subcommand, JSON output, and one-line errors for bad input."""
import json

import pytest


def test_list_names_each_scenario_with_report_variants_and_parameters(run_cli):
    code, out, _ = run_cli("list", "--json")
    virtio = {s["name"]: s for s in json.loads(out)["scenarios"]}["virtio-barriers"]
    assert code == 0 and virtio["report"] == "OS-7613"
    assert set(virtio["variants"]) == {"buggy", "fixed"}
    assert {p["name"]: p["default"] for p in virtio["params"]}["requests"] == 2


def test_run_prints_the_trace_and_the_verdict(run_cli):
    code, out, _ = run_cli("run", "virtio-barriers", "--variant", "fixed", "--seed", "2")
    assert code == 0 and out.splitlines()[-1].startswith("# verdict: ok")


@pytest.mark.parametrize("mode", ["flags", "event_idx"])
def test_random_exploration_finds_stuck_runs_only_in_the_buggy_variant(run_cli, tmp_path, mode):
    args = ["explore", "virtio-barriers", "--strategy", "random", "--runs", "2000",
            "--param", f"mode={mode}", "--json"]
    code, out, _ = run_cli(*args, "--variant", "buggy")
    buggy = json.loads(out)
    assert code == 0 and buggy["verdicts"].get("stuck", 0) >= 1
    code, out, _ = run_cli(*args, "--variant", "fixed")
    fixed = json.loads(out)
    assert code == 0 and set(fixed["verdicts"]) == {"ok"} and fixed["counterexample"] is None
    path = tmp_path / "found.json"
    path.write_text(json.dumps(buggy["counterexample"]))
    code, out, _ = run_cli("replay", str(path), "--json")
    assert code == 0 and json.loads(out)["verdict"] == "stuck"


@pytest.mark.parametrize("args, message", [
    (["run", "no-such-bug"], "unknown scenario 'no-such-bug'"),
    (["run", "virtio-barriers", "--variant", "fast"], "no variant 'fast'"),
    (["run", "virtio-barriers", "--param", "queue_size=3"], "not a power of two"),
    (["run", "virtio-barriers", "--param", "requests=0"], "below the minimum"),
    (["run", "virtio-barriers", "--param", "mode=poll"], "not one of"),
    (["run", "virtio-barriers", "--param", "requests"], "NAME=VALUE"),
    (["explore", "no-such-bug"], "unknown scenario"),
    (["replay", "/nonexistent/trace.json"], "cannot read trace"),
])
def test_bad_input_is_one_line_on_stderr_and_exit_2(run_cli, args, message):
    code, out, err = run_cli(*args)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("content, message", [
    ('{"format": 1, "scenario": "virtio-barriers", "variant": "buggy", "par', "not valid JSON"),
    ('{"format": 1}', "missing field"),
    ('{"format": 1, "scenario": "virtio-barriers", "variant": "buggy", "params": {},'
     ' "memory_model": "tso", "mode": "untimed", "schedule": ["blkio", "blkio", "blkio",'
     ' "blkio", "blkio", "blkio"]}', "is not enabled"),
    ('{"format": 1, "scenario": "virtio-barriers", "variant": "buggy", "params":'
     ' {"queue_size": 3}, "memory_model": "tso", "schedule": []}', "power of two"),
])
def test_a_malformed_truncated_or_impossible_trace_is_refused(run_cli, tmp_path, content,
                                                              message):
    path = tmp_path / "t.json"
    path.write_text(content)
    code, _, err = run_cli("replay", str(path))
    assert code == 2 and message in err and "Traceback" not in err
