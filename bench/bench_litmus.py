"""Litmus search speed: large generated tests, searched to the end or to the budget.

    python bench/bench_litmus.py [--max-states N] [--old]

Three shapes that used to be slow: one thread of 200 and of 400 stores (the
store buffer fills, each drain is a choice), and 8 threads of 4 instructions
(too many states: the search must stop at the budget with a one-line message).
With ``--old`` the re-executing search of the first version (every branch
replayed from the initial state) runs beside it, from the file kept in git.
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator import litmus  # noqa: E402
from simulator.errors import UsageError  # noqa: E402
from simulator.litmus import run as litmus_run  # noqa: E402

OLD_COMMIT = "1a73642"  # the last commit with the re-executing litmus search


def stores(n: int) -> str:
    rows = "\n".join(f" MOV [x{i % 8}],${i % 3 + 1} ;" for i in range(n))
    cells = " ".join(f"x{i}=0;" for i in range(8))
    return f"X86 stores{n}\n{{ {cells} }}\n P0 ;\n{rows}\n exists (x0=1)\n"


def wide(threads: int, length: int) -> str:
    cells = " ".join(f"x{i}=0;" for i in range(threads))
    head = " | ".join(f"P{t:<10}" for t in range(threads)) + " ;"
    rows = []
    for i in range(length):
        cols = []
        for t in range(threads):
            cols.append(f"MOV [x{t}],${i + 1}" if i % 2 == 0 else f"MOV EAX,[x{(t + 1) % threads}]")
        rows.append(" | ".join(f"{c:<11}" for c in cols) + " ;")
    return f"X86 wide{threads}x{length}\n{{ {cells} }}\n {head}\n" + "\n".join(rows) + \
        "\nexists (0:EAX=0)\n"


def old_reach():
    """The re-executing search as first written, loaded from git."""
    src = subprocess.run(["git", "show", f"{OLD_COMMIT}:simulator/litmus/reach.py"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "old_reach.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("old_reach", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.reach_all


def time_new(text: str, max_states: int) -> str:
    test = litmus.parse_text(text, "bench.litmus")
    start = time.perf_counter()
    try:
        res = litmus.run(test, "tso", max_states)
        what = f"{res.states} states, {len(res.outcomes)} outcomes"
    except UsageError as exc:
        what = f"stopped: {exc}"
    return f"{time.perf_counter() - start:8.2f} s  {what}"


def time_old(text: str, max_states: int, reach_all) -> str:
    test = litmus.parse_text(text, "bench.litmus")
    columns = test.observed()

    def outcome(m, regs):
        return tuple(regs[int(c.split(":")[0])].get(c.split(":")[1], 0) if ":" in c
                     else m.memory.cells[c] for c in columns)

    def registers(regs):
        return tuple(tuple(sorted(r.items())) for r in regs)

    start = time.perf_counter()
    found = reach_all(lambda: litmus_run.build(test, "tso"), outcome, extra_key=registers,
                      max_states=max_states)
    return f"{time.perf_counter() - start:8.2f} s  {found.states} states, " \
        f"{len(found.outcomes)} outcomes, exhausted={found.exhausted}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-states", type=int, default=litmus.DEFAULT_MAX_STATES)
    p.add_argument("--old", action="store_true", help="also time the re-executing search")
    args = p.parse_args()
    reach = old_reach() if args.old else None
    for label, text in [("1 thread x 200 stores", stores(200)),
                        ("1 thread x 400 stores", stores(400)),
                        ("8 threads x 4 instructions", wide(8, 4))]:
        print(f"{label:<28} new {time_new(text, args.max_states)}")
        if reach is not None:
            print(f"{'':<28} old {time_old(text, args.max_states, reach)}")


if __name__ == "__main__":
    main()
