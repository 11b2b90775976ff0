"""``replay``: re-run a recorded trace's schedule, strictly."""
from __future__ import annotations

from simulator import runs
from simulator.cli.common import print_json
from simulator.cli.exits import agreement
from simulator.engine.trace import Trace

NAME = "replay"
HELP = "replay a trace file's schedule exactly and print the result"


def configure(p) -> None:
    p.add_argument("file", help="a trace JSON file (from run --trace or explore --json)")
    p.add_argument("--json", action="store_true", help="print the replayed trace as JSON")


def run(args) -> int:
    recorded = Trace.load(args.file)
    again = runs.replay(recorded)
    same = again.verdict.kind == recorded.verdict.kind
    if args.json:
        print_json(again.to_json())
    else:
        print(again.pretty())
        print(f"# recorded verdict: {recorded.verdict.kind} ({'same' if same else 'DIFFERENT'})")
    # The trace's claim is its recorded verdict: a replay that ends otherwise (the
    # file was edited, or the model changed since it was recorded) disagrees.
    return agreement(same)
