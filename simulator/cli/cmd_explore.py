"""``explore``: search a scenario variant for a bad run, or verify it within bounds."""
from __future__ import annotations

from simulator.cli.common import add_scenario_args, checked, print_json
from simulator.engine import compiled
from simulator.engine.explore import STRATEGIES
from simulator.errors import UsageError
from simulator.search import search

NAME = "explore"
HELP = "search every interleaving (dfs), or random/pct runs, for a bad run"


def configure(p) -> None:
    add_scenario_args(p)
    p.add_argument("--strategy", choices=STRATEGIES, default="dfs")
    p.add_argument("--bound", type=int, default=None,
                   help="dfs: largest preemption bound (default: raise it until exhausted)")
    p.add_argument("--max-states", type=int, default=500_000, help="dfs: state limit")
    p.add_argument("--runs", type=int, default=None, help="random/pct: number of runs "
                   "(default 1000)")
    p.add_argument("--seed", type=int, default=0, help="random/pct: seed")
    p.add_argument("--no-minimise", action="store_true", help="keep the counterexample as found")
    p.add_argument("--workers", default="1",
                   help="processes to share the search ('auto': the CPUs this process may "
                        "use; default 1). random/pct give the same runs and counts; dfs the "
                        "same verdict, its state count including what two workers both saw")


def _validate(args) -> None:
    """Options that do not apply to the chosen strategy are errors, not silently ignored."""
    if args.strategy == "dfs":
        if args.runs is not None:
            raise UsageError("--runs applies to --strategy random or pct, not dfs (dfs "
                             "searches every interleaving within --bound and --max-states)")
    else:
        if args.bound is not None:
            raise UsageError(f"--bound applies to --strategy dfs, not {args.strategy}")
        args.runs = 1000 if args.runs is None else args.runs
        if args.runs < 1:
            raise UsageError(f"--runs must be at least 1, not {args.runs}")


def run(args) -> int:
    _validate(args)
    scenario, variant, params = checked(args)
    found = search(scenario, variant, params, strategy=args.strategy, bound=args.bound,
                   max_states=args.max_states, runs_=args.runs, seed=args.seed,
                   memory_model=args.memory, minimise=not args.no_minimise,
                   stop_at_first=args.strategy == "dfs", workers=args.workers)
    if args.json:
        out = found.to_json()
        if args.strategy != "dfs":
            out["runs"] = args.runs
        print_json(out)
        return 0
    print(found.summary())
    how = compiled.status()
    if how != "compiled":  # slower than it could be: say why, once
        print(f"# explorer: {how}")
    if args.strategy != "dfs":
        print(f"# {args.runs} runs: {found.counts()}")
    if found.counterexample is not None:
        r = found.result
        print(f"# minimised: {r.minimised_from} -> {len(r.found.schedule)} steps")
        print(found.counterexample.pretty())
    return 0
