"""``run``: one run of a scenario, printed step by step, then its verdict."""
from __future__ import annotations

from simulator import runs
from simulator.cli.common import add_scenario_args, checked, print_json

NAME = "run"
HELP = "run a scenario once and print its trace and verdict"


def configure(p) -> None:
    add_scenario_args(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the random strategy")
    p.add_argument("--strategy", choices=("random", "round-robin"), default="random")
    p.add_argument("--mode", choices=runs.MODES, default="timed",
                   help="timed (simpy, ns timestamps) or untimed")
    p.add_argument("--trace", metavar="FILE", help="also write the trace as JSON to FILE")


def run(args) -> int:
    scenario, variant, params = checked(args)
    trace = runs.run(scenario, variant, params, seed=args.seed, strategy=args.strategy,
                     mode=args.mode, memory_model=args.memory)
    if args.trace:
        trace.save(args.trace)
    if args.json:
        print_json(trace.to_json())
    else:
        print(trace.pretty())
    return 0
