"""The explorer now against an earlier version of itself, and one process against two.

    git archive <commit> simulator | tar -x -C /tmp/before
    python bench/bench_before_after.py --before /tmp/before [--repeat 3] [--workers 2] [--pure]

Each row is one search (as ``search()`` runs it, without minimisation) in
a fresh Python process: the earlier source tree (``--before``: a copy of an
older commit's ``simulator/``), this tree in one process (with ``--pure``, also
as Python: ``HVR_PURE=1``, the explorer not compiled), and this tree with
``--workers`` processes, run by run in turn so that all meet the same load.
Printed per row: the verdict, states (a split search counts what two workers
both visited twice), and medians of wall and CPU seconds (CPU includes the
worker processes). The load average is printed before and after, since the
machine is shared: wall time on a busy machine says little, CPU time more.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

ROWS = [
    ("OS-7613 fixed flags, 2 requests", "virtio-barriers", "fixed", {"requests": 2}),
    ("OS-7613 fixed event_idx, 2 requests", "virtio-barriers", "fixed",
     {"requests": 2, "mode": "event_idx"}),
    ("OS-7613 fixed flags, 3 requests", "virtio-barriers", "fixed", {"requests": 3}),
    ("OS-7613 fixed event_idx, 3 requests", "virtio-barriers", "fixed",
     {"requests": 3, "mode": "event_idx"}),
    ("OS-6829 pir-wakeup fixed", "pir-wakeup", "fixed", {}),
    # The model 1a73642 called "fixed" (77,614 states) is the one named 21e2c66 since.
    ("OS-6829 pir-wakeup 21e2c66 (then: fixed)", "pir-wakeup", "21e2c66",
     {"_before_variant": "fixed"}),
    ("OS-6829 pir-wakeup pending-prio", "pir-wakeup", "pending-prio", {}),
    ("OS-6829 pir-wakeup fixed, timer_cpu=1", "pir-wakeup", "fixed", {"timer_cpu": 1}),
    # Random runs, every verdict counted (as the CLI does): ``_runs`` runs of ``_strategy``.
    ("OS-7613 buggy, 3000 random runs", "virtio-barriers", "buggy",
     {"_strategy": "random", "_runs": 3000}),
    ("OS-6829 pir-wakeup buggy, 3000 PCT runs", "pir-wakeup", "buggy",
     {"_strategy": "pct", "_runs": 3000}),
]


def one(name: str, variant: str, params: dict, workers: int) -> dict:
    """Run one search here and now; the figures as a dict."""
    from simulator import scenarios
    from simulator.engine.explore import explore

    params = dict(params)
    strategy, runs = params.pop("_strategy", "dfs"), params.pop("_runs", 1000)
    sc = scenarios.get(name)
    resolved = sc.resolve(params)

    def factory():
        return sc.machine(variant, resolved)

    kw = {"workers": workers} if workers > 1 else {}
    if strategy != "dfs":
        kw.update(runs=runs, stop_at_first=False)
    wall, cpu = time.perf_counter(), time.process_time()
    result = explore(factory, strategy, max_states=2_000_000, minimise_found=False, **kw)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"label": result.label, "bound": result.bound, "states": result.stats.states,
            "verdicts": result.verdicts,
            "wall": time.perf_counter() - wall,
            "cpu": time.process_time() - cpu + children.ru_utime + children.ru_stime}


def _run(tree: str, name: str, variant: str, params: dict, workers: int,
         extra_env: dict | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=tree, **(extra_env or {}))
    out = subprocess.run([sys.executable, __file__, "--one", name, variant, json.dumps(params),
                          str(workers)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="an earlier commit's source tree (holding simulator/)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rows", default="", help="only rows whose label contains this")
    parser.add_argument("--pure", action="store_true",
                        help="also run this tree as Python (HVR_PURE=1)")
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        name, variant, params, workers = args.one
        print(json.dumps(one(name, variant, json.loads(params), int(workers))))
        return
    print(f"# load average at start: {os.getloadavg()}", flush=True)
    from simulator.engine import compiled

    print(f"# explorer now: {compiled.status()}", flush=True)
    columns = ([("before", args.before, 1, None)] if args.before else []) + [
        ("now", ROOT, 1, None)]
    if args.pure:
        columns.append(("now, Python", ROOT, 1, {compiled.PURE_ENV: "1"}))
    if args.workers > 1:
        columns.append((f"now x{args.workers}", ROOT, args.workers, None))
    for label, name, variant, params in ROWS:
        if args.rows not in label:
            continue
        params = dict(params)
        before_variant = params.pop("_before_variant", variant)  # a variant renamed since
        runs = {c[0]: [] for c in columns}
        for _ in range(args.repeat):
            for col, tree, workers, env in columns:
                v = before_variant if col == "before" else variant
                runs[col].append(_run(tree, name, v, params, workers, env))
        cells, rate = [], {}
        for col, *_ in columns:
            got = runs[col]
            states, cpu = (statistics.median(g["states"] for g in got),
                           statistics.median(g["cpu"] for g in got))
            rate[col] = states / cpu
            cells.append(f"{col}: {got[0]['label']} b={got[0]['bound']} "
                         f"{states:,.0f} st "
                         f"{statistics.median(g['wall'] for g in got):.3f} s wall "
                         f"{cpu:.3f} s cpu")
        if "before" in rate:  # new states per CPU second, against the earlier tree's
            cells.append(" ".join(f"{col} x{rate[col] / rate['before']:.1f}"
                                  for col in rate if col != "before"))
        print(f"{label:<40} " + " | ".join(cells), flush=True)
    print(f"# load average at end: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
