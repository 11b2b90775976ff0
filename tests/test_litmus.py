"""The litmus catalogue: every test's computed result matches its Result: line,
the store-buffering outcome exists only under x86-TSO, and a malformed file
is one line naming the file and the line."""
from __future__ import annotations

import json

import pytest

from simulator import litmus
from simulator.cli import main
from simulator.errors import UsageError

REQUIRED = ["SB", "SB+mfences", "MP", "LB", "IRIW", "2+2W", "R", "R+mfence", "S",
            "virtio-notify", "virtio-notify+mfences"]

SB_TEXT = """X86 SB-mine
(* Result: Sometimes *)
{ x=0; y=0; }
 P0          | P1          ;
 MOV [x],$1  | MOV [y],$1  ;
 MOV EAX,[y] | MOV EAX,[x] ;
exists (0:EAX=0 /\\ 1:EAX=0)
"""


@pytest.mark.parametrize("name", litmus.names())
def test_catalogue_test_matches_its_result_line_under_tso(name):
    """The checker: what the engine can reach agrees with what the file records."""
    res = litmus.run(name, "tso")
    assert (res.result, res.matches) == (res.test.result, True)


@pytest.mark.parametrize("name", litmus.names())
def test_catalogue_test_is_well_formed(name):
    """A catalogue entry has a Result:, an explanation, and 2 to 4 threads."""
    t = litmus.load(name)
    assert t.result and len(t.comment) > 80 and 2 <= len(t.threads) <= 4


def test_catalogue_has_the_classic_shapes_and_a_readme_line_for_each():
    """The x86 classics and the virtio handshake are there, each indexed in the README."""
    readme = (litmus.HERE / "README.md").read_text()
    assert set(REQUIRED) <= set(litmus.names())
    assert all(f"| {name} |" in readme for name in litmus.names())


def test_store_buffering_needs_tso():
    """Both loads reading 0 is reachable under x86-TSO and unreachable under SC."""
    assert litmus.run("SB", "tso").reachable
    assert not litmus.run("SB", "sc").reachable


def test_sc_outcomes_are_a_subset_of_tso_outcomes():
    """SC is TSO with the store buffers always empty: it can only lose outcomes."""
    for name in litmus.names():
        tso = {v for v, _, _ in litmus.run(name, "tso").outcomes}
        sc = {v for v, _, _ in litmus.run(name, "sc").outcomes}
        assert sc <= tso, name


def test_witness_schedule_replays_to_the_relaxed_outcome():
    """The schedule reported for SB's exists clause, replayed on a fresh machine,
    leaves both registers 0: both stores were still buffered when the loads ran."""
    test = litmus.load("SB")
    schedule = litmus.run(test).witness
    m, regs = litmus.build(test)
    for action in schedule:
        m.step(action)
    assert (regs[0]["EAX"], regs[1]["EAX"], m.verdict().kind) == (0, 0, "ok")


def test_virtio_shaped_test_has_its_lost_interrupt_without_fences():
    """Device stores used.idx then loads avail.flags; guest the reverse: with no
    fences the device sees interrupts off while the guest sees no new entry."""
    res = litmus.run("virtio-notify")
    assert [dict(zip(res.columns, v, strict=True)) for v, holds, _ in res.outcomes if holds] \
        == [{"0:EAX": 1, "1:EAX": 0}]


def test_any_file_in_the_format_runs(tmp_path):
    """A test outside the catalogue is loaded by path and checked the same way."""
    path = tmp_path / "mine.litmus"
    path.write_text(SB_TEXT)
    res = litmus.run(litmus.load(str(path)))
    assert (res.test.name, res.result, res.matches) == ("SB-mine", "Sometimes", True)


def test_locked_ops_and_registers():
    """XCHG swaps a register with memory; LOCK CMPXCHG succeeds only on a match."""
    text = """X86 ops
(* Result: Always *)
{ x=5; 0:EBX=7; }
 P0                  ;
 MOV EAX,$5          ;
 LOCK CMPXCHG [x],EBX ;
 MOV ECX,$1          ;
 XCHG ECX,[x]        ;
exists (0:EAX=5 /\\ 0:ECX=7 /\\ x=1)
"""
    res = litmus.run(litmus.parse_text(text, "ops.litmus"))
    assert res.result == "Always"


@pytest.mark.parametrize("change, line, words", [
    (("X86 SB-mine", "ARM SB"), 1, "expected 'X86 <name>'"),
    (("Sometimes", "Perhaps"), 2, "Result: must be"),
    (("{ x=0; y=0; }", "{ x=0; y=0;"), 3, "never closed"),
    (("P0          | P1", "P1 | P0"), 4, "thread header"),
    (("MOV [x],$1  | MOV [y],$1  ;", "MOV [x],$1 | MOV [y],$1 | MFENCE ;"), 5, "3 columns"),
    (("MOV EAX,[y]", "MOVE EAX,[y]"), 6, "cannot read instruction"),
    (("1:EAX=0)", "1:EAX=)"), 7, "expected a 64-bit integer"),
    (("0:EAX=0 /\\", "2:EAX=0 /\\"), 7, "no thread P2"),
    (("0:EAX=0 /\\", "z=0 /\\"), 7, "never uses"),
    (("exists (0:EAX=0 /\\ 1:EAX=0)", ""), 6, "missing the 'exists'"),
])
def test_malformed_file_is_one_line_naming_the_line(change, line, words):
    """Every mistake is reported as file:line: what is wrong."""
    text = SB_TEXT.replace(*change)
    with pytest.raises(UsageError) as err:
        litmus.parse_text(text, "bad.litmus")
    message = str(err.value)
    assert message.startswith(f"bad.litmus:{line}: ") and words in message
    assert "\n" not in message


def test_cli_checks_the_whole_catalogue(capsys):
    """`litmus --json` runs every test; all agree, so the exit status is 0."""
    assert main(["litmus", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and len(out["tests"]) == len(litmus.names())


def test_cli_one_test_under_sc(capsys):
    """Under SC the recorded (TSO) result is shown but not compared."""
    assert main(["litmus", "sb", "--model", "sc", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["result"], out["expected"], out["matches"]) == ("Never", "Sometimes", None)


def test_cli_malformed_file_exits_2_with_one_line(tmp_path, capsys):
    """A bad file: one line on stderr naming file and line, exit status 2."""
    path = tmp_path / "bad.litmus"
    path.write_text(SB_TEXT.replace("MOV EAX,[y]", "MOV EAX,[y"))
    assert main(["litmus", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}:6: " in err


def test_cli_reports_a_result_line_that_is_wrong(tmp_path, capsys):
    """A file whose Result: disagrees with the model makes the checker fail (status 1)."""
    path = tmp_path / "wrong.litmus"
    path.write_text(SB_TEXT.replace("Sometimes", "Never"))
    assert main(["litmus", str(path)]) == 1
    assert "MISMATCH" in capsys.readouterr().out


def _replayed_outcomes(test, model):
    """An independent oracle: depth-first search that re-runs every branch from a
    fresh machine, keyed by the machine state plus the registers."""
    columns = test.observed()
    outcomes, seen, pending = set(), set(), [[]]
    while pending:
        schedule = pending.pop()
        m, regs = litmus.build(test, model)
        for action in schedule:
            m.step(action)
        while True:
            key = (m.key(), tuple(tuple(sorted(r.items())) for r in regs))
            if key in seen:
                break
            seen.add(key)
            actions = m.enabled()
            if not actions:
                outcomes.add(tuple(regs[int(c.split(":")[0])].get(c.split(":")[1], 0)
                                   if ":" in c else m.memory.cells[c] for c in columns))
                break
            pending.extend(schedule + [a] for a in reversed(actions[1:]))
            m.step(actions[0])
            schedule = schedule + [actions[0]]
    return outcomes, len(seen)


@pytest.mark.parametrize("model", ["tso", "sc"])
@pytest.mark.parametrize("name", litmus.names())
def test_the_snapshot_search_finds_what_re_execution_finds(name, model):
    """Same outcomes and the same number of states as re-running every branch."""
    test = litmus.load(name)
    res = litmus.run(test, model)
    outcomes, states = _replayed_outcomes(test, model)
    assert ({v for v, _, _ in res.outcomes}, res.states) == (outcomes, states)


def test_a_test_too_big_for_the_budget_stops_with_one_line(capsys):
    """The search is budgeted in states: past the budget, one line says so (exit 2)."""
    assert main(["litmus", "SB", "--max-states", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "more than 5 states" in err and "--max-states" in err


def test_a_long_single_thread_test_is_searched_to_the_end():
    """200 buffered stores in one thread: every drain order is a state, all visited."""
    rows = "\n".join(f" MOV [x{i % 4}],${i % 3 + 1} ;" for i in range(200))
    text = f"X86 long\n{{ x0=0; x1=0; x2=0; x3=0; }}\n P0 ;\n{rows}\nexists (x0=1)\n"
    res = litmus.run(litmus.parse_text(text, "long.litmus"), "tso")
    assert res.states == 201 * 202 // 2 and res.result == "Never"
