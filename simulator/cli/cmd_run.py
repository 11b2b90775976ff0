"""``run``: one run of a scenario, printed step by step, then its verdict."""
from __future__ import annotations

import os

from simulator import runs
from simulator.cli.common import add_scenario_args, checked, print_json
from simulator.errors import UsageError

NAME = "run"
HELP = "run a scenario once and print its trace and verdict"


def configure(p) -> None:
    add_scenario_args(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the random strategy")
    p.add_argument("--strategy", choices=("random", "round-robin"), default="random")
    p.add_argument("--mode", choices=runs.MODES, default="timed",
                   help="timed (simpy, ns timestamps) or untimed")
    p.add_argument("--trace", metavar="FILE", help="also write the trace as JSON to FILE")


def _check_trace_path(path: str | None) -> None:
    """Refuse a --trace that can never be written before spending a run on it (the
    rest - no permission, a full disk - is reported when the trace is saved)."""
    if path is None:
        return
    if not path:
        raise UsageError("--trace needs a file name, not ''")
    if os.path.isdir(path):
        raise UsageError(f"--trace {path} is a directory; name a file in it")
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        raise UsageError(f"--trace {path}: there is no directory {parent}")


def run(args) -> int:
    scenario, variant, params = checked(args)
    _check_trace_path(args.trace)
    trace = runs.run(scenario, variant, params, seed=args.seed, strategy=args.strategy,
                     mode=args.mode, memory_model=args.memory)
    if args.trace is not None:
        trace.save(args.trace)
    if args.json:
        print_json(trace.to_json())
    else:
        print(trace.pretty())
    return 0
