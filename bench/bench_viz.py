"""How fast the lesson toys answer: milliseconds per stepper step and per game move.

    python bench/bench_viz.py [--scenario NAME] [--rounds N]

The stepper is measured with its widget built (so each step also rewrites the
line, the picture overlay and the state view), walking the whole breaking run
forward, back and by jumps. The game is measured choosing moves and undoing
them. Drawing a swimlane window once is shown for scale: the stepper draws
each window once, when the widget is built, and never again. Target: a step
answers in under 50 ms.
"""
from __future__ import annotations

import argparse
import statistics
import time

from simulator.viz import SchedulerGame, Stepper, counterexample, timeline


def per_call_ms(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e3


def bench_stepper(trace, rounds: int) -> dict:
    stepper = Stepper(trace)
    start = time.perf_counter()
    stepper.widget()
    build = time.perf_counter() - start
    n = stepper.last
    fwd, back, jump = [], [], []
    for _ in range(rounds):
        stepper.jump(0)
        fwd.append(per_call_ms(stepper.forward, n))
        back.append(per_call_ms(stepper.back, n))
        targets = iter([(k * 37) % (n + 1) for k in range(n)])
        jump.append(per_call_ms(lambda t=targets: stepper.jump(next(t)), n))
    return {"steps": n, "widget_build_s": build, "forward_ms": statistics.median(fwd),
            "back_ms": statistics.median(back), "jump_ms": statistics.median(jump)}


def bench_game(trace, rounds: int) -> dict:
    game = SchedulerGame(trace.scenario, trace.variant, trace.params)
    game.widget()
    moves, undos = [], []
    for _ in range(rounds):
        game.restart()
        actions = iter(trace.schedule)
        moves.append(per_call_ms(lambda a=actions: game.choose(next(a)), len(trace.schedule)))
        undos.append(per_call_ms(game.undo, 10))
    return {"move_ms": statistics.median(moves), "undo_ms": statistics.median(undos)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="virtio-barriers")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    trace = counterexample(args.scenario, "buggy")
    if trace is None:
        raise SystemExit(f"{args.scenario}: no breaking run found to step through")
    start = time.perf_counter()
    timeline(trace)
    draw = time.perf_counter() - start
    s = bench_stepper(trace, args.rounds)
    g = bench_game(trace, args.rounds)
    print(f"# {args.scenario}: breaking run of {s['steps']} steps, {args.rounds} rounds")
    print(f"timeline window drawn once:    {draw * 1e3:8.1f} ms")
    print(f"stepper widget built (all windows drawn): {s['widget_build_s'] * 1e3:8.1f} ms")
    print(f"stepper forward:               {s['forward_ms']:8.3f} ms/step")
    print(f"stepper back:                  {s['back_ms']:8.3f} ms/step")
    print(f"stepper jump:                  {s['jump_ms']:8.3f} ms/step")
    print(f"game move (widget refreshed):  {g['move_ms']:8.3f} ms/move")
    print(f"game undo (replay the rest):   {g['undo_ms']:8.3f} ms/undo")
    worst = max(s["forward_ms"], s["back_ms"], s["jump_ms"], g["move_ms"], g["undo_ms"])
    print(f"slowest answer {worst:.2f} ms: {'within' if worst < 50 else 'OVER'} the 50 ms target")


if __name__ == "__main__":
    main()
