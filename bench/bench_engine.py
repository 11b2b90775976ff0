"""Engine speed: machine steps per second untimed, and what timed mode costs on top.

    python bench/bench_engine.py [--runs N]

Runs the virtio-barriers scenario (both variants) many times with a seeded
random strategy, tracing off, as the explorer does. Targets: >= 500k steps/s
untimed; timed/untimed time per step <= 2x.
"""
from __future__ import annotations

import argparse
import time

from simulator import scenarios
from simulator.engine.clock import TimedDriver, drive_untimed
from simulator.engine.strategies import SeededRandom


def steps_per_second(runs: int, timed: bool) -> tuple[float, int]:
    sc = scenarios.get("virtio-barriers")
    steps, spent = 0, 0.0
    for i in range(runs):
        variant = ("buggy", "fixed")[i % 2]
        m = sc.machine(variant, timed=timed)
        start = time.perf_counter()
        if timed:
            TimedDriver(m, SeededRandom(i), sc.costs).run()
        else:
            drive_untimed(m, SeededRandom(i))
        spent += time.perf_counter() - start
        steps += m.steps
    return steps / spent, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3000)
    args = parser.parse_args()
    untimed, n = steps_per_second(args.runs, timed=False)
    timed, m = steps_per_second(args.runs, timed=True)
    print(f"untimed machine: {untimed:,.0f} steps/s ({n} steps, {args.runs} runs; "
          "building the machine not counted)")
    print(f"timed (simpy):   {timed:,.0f} steps/s ({m} steps)")
    print(f"timed/untimed cost per step: {untimed / timed:.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()
