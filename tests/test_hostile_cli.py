"""Hostile command lines and litmus files: exit 2 and one line on stderr, in bounded
time (hang guard); the exit statuses mean the same in every subcommand."""
from __future__ import annotations

import os
import random
import tempfile

import pytest
from hostile import assert_refused, cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import litmus
from simulator.cli import cmd_real, exits
from simulator.litmus.condition import MAX_NESTING, MAX_TERMS
from simulator.litmus.parse import MAX_INSTRUCTIONS, MAX_THREADS
from simulator.real.result import ExperimentResult

HYPOTHESIS = settings(max_examples=80, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow])
SB = (litmus.HERE / "SB.litmus").read_text()


# ------------------------------------------------------------ options
@pytest.mark.parametrize("args, says", [
    (["explore", "virtio-barriers", "--runs", "-1"], "--runs applies to --strategy random"),
    (["explore", "virtio-barriers", "--runs", "0"], "--runs applies to --strategy random"),
    (["explore", "virtio-barriers", "--strategy", "random", "--runs", "0"],
     "--runs must be at least 1"),
    (["explore", "virtio-barriers", "--strategy", "pct", "--bound", "2"],
     "--bound applies to --strategy dfs"),
    (["run", "virtio-barriers", "--param", "requests=2.7"], "'2.7' is not an integer"),
    (["run", "virtio-barriers", "--param", "requests=true"], "'true' is not an integer"),
    (["run", "virtio-barriers", "--param", "requests=" + "9" * 5000], "is not an integer"),
    (["run", "virtio-barriers", "--seed", "1.5"], "invalid int value"),
    (["litmus", ""], "name a litmus test"),
    (["real", "litmus", "--iterations", str(10**20)], "--iterations must be between 1 and"),
    (["real", "virtio-race", "--iterations", str(10**20)], "--iterations must be between"),
    (["real", "virtio-race", "--iterations", "0"], "--iterations must be between"),
    (["real", "apic-diff", "--length", "1000000"], "--length must be between 1 and 4096"),
    (["real", "apic-diff", "--seeds", "-1"], "--seeds must be 0 or more"),
])
def test_impossible_options_are_refused_in_one_line(args, says):
    code, _, err = cli(*args)
    assert_refused(code, err, says=says)


@HYPOTHESIS
@given(value=st.text(max_size=30))
def test_any_parameter_value_is_taken_or_refused_in_one_line(value):
    code, out, err = cli("run", "virtio-barriers", "--mode", "untimed", "--param",
                         f"requests={value}")
    if code == 0:
        assert out.splitlines()[-1].startswith("# verdict")
    else:
        assert_refused(code, err)


# ------------------------------------------------------------ exit statuses
def test_exit_statuses_are_one_rule():
    assert [exits.agreement(a) for a in (True, None, False)] == [0, 0, 1]
    assert (exits.OK, exits.DISAGREES, exits.USAGE, exits.FAULT) == (0, 1, 2, 3)
    _, out, _ = cli("real", "--help")
    assert "1 it DISAGREES" in " ".join(out.split())


@pytest.mark.parametrize("agrees, status", [(True, 0), (False, 1)])
def test_a_real_experiment_that_disagrees_exits_1(monkeypatch, agrees, status):
    """The exit status follows the experiment's ``agrees`` (here a stand-in
    experiment; which experiments agree on this machine is tests/real's matter)."""
    from simulator import real

    monkeypatch.setattr(real, "native_available", lambda: real.Availability(True, "yes"))
    monkeypatch.setattr(cmd_real, "_run_experiment", lambda args: ExperimentResult(
        "signals", "the claim", {"seen": 1}, agrees))
    code, out, _ = cli("real", "signals")
    assert code == status and ("DISAGREES" in out) is (not agrees)
    code, out, _ = cli("real", "signals", "--json")
    assert code == status and f'"agrees": {str(agrees).lower()}' in out


def test_an_internal_error_is_one_line_and_exit_3(monkeypatch):
    from simulator.cli import cmd_list

    def broken(args):
        raise KeyError("a bug of ours")

    monkeypatch.setattr(cmd_list, "run", broken)
    code, _, err = cli("list")
    assert_refused(code, err, status=3, says="internal error: KeyError")


# ------------------------------------------------------------ litmus files
def run_litmus(text: str | bytes) -> tuple[int, str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.litmus")
        with open(path, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
        return cli("litmus", path)


def test_sb_runs_from_a_file():
    code, out, err = run_litmus(SB)
    assert code == 0 and "Observation SB Sometimes" in out, err


def _threads(n: int, rows: int) -> str:
    head = " | ".join(f"P{i}" for i in range(n)) + " ;"
    row = " | ".join("MOV [x],$1" for _ in range(n)) + " ;"
    return "X86 T\n{ x=0; }\n" + head + "\n" + "\n".join([row] * rows) + "\nexists (x=1)\n"


@pytest.mark.parametrize("text, says", [
    (SB.encode().replace(b"exists", b"exists \xff"), "not UTF-8 text"),
    (SB.replace("exists (0:EAX=0 /\\ 1:EAX=0)",
                "exists " + "(" * 500 + "0:EAX=0" + ")" * 500), f"more than {MAX_NESTING} deep"),
    (SB.replace("exists (", "exists " + "~" * 5000 + "("), f"more than {MAX_NESTING} deep"),
    (SB.replace("exists (0:EAX=0 /\\ 1:EAX=0)", "exists ~"), "ends early"),
    (SB.replace("exists (0:EAX=0 /\\ 1:EAX=0)", "exists " + " \\/ ".join(["true"] * 5000)),
     f"more than {MAX_TERMS} terms"),
    (SB.replace("exists (0:EAX=0", "exists (0:EAX=" + "9" * 5000), "64-bit integer"),
    (SB.replace("{ x=0; y=0; }", "{ x=" + "1" * 30 + "; }"), "64-bit integer"),
    (SB.replace("MOV [x],$1 ", "MOV [x],$" + "1" * 30 + " "), "does not fit in 64 bits"),
    (_threads(MAX_THREADS + 1, 1), f"at most {MAX_THREADS} threads"),
    (_threads(1, MAX_INSTRUCTIONS + 1), f"at most {MAX_INSTRUCTIONS} instructions"),
    ("", "empty file"),
])
def test_malformed_litmus_files_are_refused_in_one_line(text, says):
    code, _, err = run_litmus(text)
    assert_refused(code, err, says=says)


@pytest.mark.parametrize("name, says", [
    ("/dev/zero", "not a regular file"),
    (str(litmus.HERE), "it is a directory"),
    ("/nonexistent/x.litmus", "no such litmus file"),
    ("~", "unknown litmus test"),
])
def test_litmus_names_that_are_no_file_are_refused(name, says):
    code, _, err = cli("litmus", name)
    assert_refused(code, err, says=says)


TOKENS = ["~", "(", ")", "/\\", "\\/", "=", "$", "[", "]", "|", ";", ":", "{", "}", "0x",
          "-", "P9", "\n", "(*", "*)", "EAX", "true", "exists", "9" * 30, '"', "LOCK ",
          "MFENCE", "\t", "é"]


@st.composite
def mutated_litmus(draw) -> bytes:
    """A catalogue test with tokens inserted, text cut out, or a bad byte put in."""
    name = draw(st.sampled_from(litmus.names()))
    text = (litmus.HERE / f"{name}.litmus").read_text()
    rng = random.Random(draw(st.integers(0, 2**32)))
    for _ in range(draw(st.integers(1, 6))):
        pos = rng.randrange(len(text) + 1)
        if rng.random() < 0.3:
            text = text[:pos] + text[pos + rng.randint(1, 8):]
        else:
            text = text[:pos] + rng.choice(TOKENS) * rng.choice([1, 1, 2, 40]) + text[pos:]
    data = text.encode()
    if draw(st.booleans()) and draw(st.booleans()):
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + draw(st.sampled_from([b"\xff", b"\xc3", b"\x80", b"\x00"])) \
            + data[pos:]
    return data


@HYPOTHESIS
@given(mutated_litmus())
def test_a_mutated_litmus_file_runs_or_is_refused_in_one_line(data):
    """Whatever the mutation, never a traceback: a file that is still a test runs
    (0 or 1: its Result: may no longer hold), any other is one line and exit 2."""
    code, out, err = run_litmus(data)
    if code in (0, 1):
        assert "Observation" in out and not err
    else:
        assert_refused(code, err)


@HYPOTHESIS
@given(mutated_litmus(), st.integers(0, 10_000))
def test_a_litmus_file_with_a_byte_that_is_not_utf8_is_refused(data, pos):
    pos %= len(data) + 1
    code, _, err = run_litmus(data[:pos] + b"\xff" + data[pos:])
    assert_refused(code, err, says="not UTF-8 text")
