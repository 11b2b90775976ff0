"""Explorer speed: first counterexample and exhaustive verification of the fix (OS-7613, OS-6829).

    python bench/bench_explore.py [--repeat N] [--max-requests N]

Targets: the buggy variant's first counterexample in under 100 ms of search;
the fixed variant verified, state space exhausted, for 2 requests in flight in
under 1 s (3 and 4 requests reported); >= 500k machine steps/s during search.
OS-6829 (pir-wakeup): the buggy variant's stuck run and each fix verified.
"""
from __future__ import annotations

import argparse
import statistics

from simulator.search import search


def _row(label: str, results) -> None:
    r = results[0]
    secs = statistics.median(x.seconds for x in results)
    print(f"{label:<44} {r.result.label:<9} exhausted={str(r.exhausted):<5} "
          f"states={r.states:<8} schedules={r.schedules:<8} steps={r.steps:<10} "
          f"{secs * 1000:9.1f} ms  {r.steps / secs:>10,.0f} steps/s  "
          f"{r.schedules / secs:>8,.0f} schedules/s  {r.states / secs:>8,.0f} states/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-requests", type=int, default=3)
    args = parser.parse_args()
    for mode in ("flags", "event_idx"):
        params = {"mode": mode}
        found = [search("virtio-barriers", "buggy", params, minimise=False)
                 for _ in range(args.repeat)]
        _row(f"buggy {mode}: first counterexample", found)
        for n in range(1, args.max_requests + 1):
            fixed = [search("virtio-barriers", "fixed", {**params, "requests": n},
                            max_states=2_000_000) for _ in range(args.repeat if n < 3 else 1)]
            _row(f"fixed {mode}, {n} request(s): verify", fixed)
    _row("pir-wakeup buggy: first counterexample",
         [search("pir-wakeup", "buggy", minimise=False) for _ in range(args.repeat)])
    for variant in ("fixed", "pending-prio"):
        _row(f"pir-wakeup {variant}: verify", [search("pir-wakeup", variant)])


if __name__ == "__main__":
    main()
