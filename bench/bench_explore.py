"""Explorer speed, before and after: the re-executing explorer beside the memo explorer.

    python bench/bench_explore.py [--repeat N] [--max-requests N] [--quick]

Each row searches one scenario variant the way ``search()`` does (no
minimisation) and prints the median wall time of ``--repeat`` runs, CPU time,
states and new states per second. Where the old explorer is affordable
(``engine="replay"``: every branch replayed from the initial state) it runs
in the same process, interleaved run by run with the new one, so both meet
the same load; the last column is the ratio of new states per second.

Targets: new states/s >= 10x the replay explorer's; OS-7613 fixed, 3 requests,
both modes < 5 s, 4 requests < 60 s; pir-wakeup every fixed variant < 2 s; with
the timer's cyclic on vCPU0's own CPU (timer_cpu=0) verified (exhausted) < 30 s.
"""
from __future__ import annotations

import argparse
import statistics
import time

from simulator import scenarios
from simulator.engine import compiled
from simulator.engine.explore import explore


def _once(name: str, variant: str, params: dict, engine: str, max_states: int):
    sc = scenarios.get(name)
    resolved = sc.resolve(params)

    def factory():
        return sc.machine(variant, resolved)

    wall, cpu = time.perf_counter(), time.process_time()
    result = explore(factory, engine=engine, max_states=max_states, minimise_found=False)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def row(label: str, name: str, variant: str, params: dict, repeat: int, old: bool,
        max_states: int = 2_000_000) -> None:
    runs = {"memo": [], "replay": []}
    engines = ("replay", "memo") if old else ("memo",)
    for _ in range(repeat):
        for engine in engines:
            runs[engine].append(_once(name, variant, params, engine, max_states))
    cells = []
    rates = {}
    for engine in engines:
        results = runs[engine]
        r = results[0][0]
        wall = statistics.median(x[1] for x in results)
        cpu = statistics.median(x[2] for x in results)
        rates[engine] = r.stats.states / cpu
        cells.append(f"{engine:>6}: {wall:7.2f} s wall {cpu:7.2f} s cpu "
                     f"{r.stats.states / wall:>9,.0f} st/s")
    r = runs["memo"][0][0]
    ratio = f"  x{rates['memo'] / rates['replay']:5.1f} (cpu st/s)" if old else ""
    print(f"{label:<42} {r.label:<9} b={r.bound} states={r.stats.states:<8} "
          f"rebuilds={r.stats.rebuilds:<5} " + " | ".join(cells) + ratio, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-requests", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="skip the long rows")
    args = parser.parse_args()
    n = args.repeat
    print(f"# explorer: {compiled.status()} (the replay explorer steps the same machine: its "
          "figures are not the old explorer's; bench_before_after.py compares with that)")
    for mode in ("flags", "event_idx"):
        row(f"OS-7613 buggy {mode}: first counterexample", "virtio-barriers", "buggy",
            {"mode": mode}, n, old=True)
        for req in range(1, args.max_requests + 1):
            if args.quick and req > 3:
                break
            row(f"OS-7613 fixed {mode}, {req} request(s)", "virtio-barriers", "fixed",
                {"mode": mode, "requests": req}, n if req < 4 else 1, old=req <= 2)
    row("OS-6829 pir-wakeup buggy: counterexample", "pir-wakeup", "buggy", {}, n, old=True)
    for variant in ("fixed", "pending-prio"):
        row(f"OS-6829 pir-wakeup {variant}", "pir-wakeup", variant, {}, n, old=True)
    for cpu in (1, 0):
        if args.quick and cpu == 0:
            break
        for variant in ("fixed", "pending-prio"):
            row(f"OS-6829 pir-wakeup {variant}, timer_cpu={cpu}", "pir-wakeup", variant,
                {"timer_cpu": cpu}, n if cpu else 1, old=False)


if __name__ == "__main__":
    main()
