"""``litmus``: run one litmus test, or the whole catalogue, and check each ``Result:``."""
from __future__ import annotations

import textwrap

from simulator import litmus
from simulator.cli.common import print_json
from simulator.errors import UsageError

NAME = "litmus"
HELP = "run litmus tests: every reachable outcome, checked against each Result: line"


def configure(p) -> None:
    p.add_argument("test", nargs="?", metavar="NAME|FILE",
                   help="a catalogue test name or a .litmus file (default: the whole catalogue)")
    p.add_argument("--model", choices=("tso", "sc"), default="tso",
                   help="memory model (default tso; Result: lines are written for tso)")
    p.add_argument("--max-states", type=int, default=litmus.DEFAULT_MAX_STATES,
                   help="search budget in machine states per test (default "
                        f"{litmus.DEFAULT_MAX_STATES:,}); a test with more is an error")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    if args.test == "":
        raise UsageError("name a litmus test or file (or give none for the whole catalogue)")
    if args.test:
        res = litmus.run(litmus.load(args.test), args.model, args.max_states)
        if args.json:
            print_json(res.to_json())
        else:
            _print_one(res)
        return 1 if res.matches is False else 0
    results = litmus.check_all(args.model, args.max_states)
    if args.json:
        print_json({"model": args.model, "tests": [r.to_json() for r in results],
                    "ok": all(r.matches is not False for r in results)})
    else:
        _print_all(results, args.model)
    return 1 if any(r.matches is False for r in results) else 0


def _row(res: litmus.LitmusResult, values: tuple[int, ...]) -> str:
    return " ".join(f"{c}={v};" for c, v in zip(res.columns, values, strict=True))


def _verdict(res: litmus.LitmusResult) -> str:
    if res.test.result is None:
        return "no Result: line"
    if res.matches is None:
        return f"Result: {res.test.result} (recorded for x86-TSO)"
    return f"Result: {res.test.result}, " + ("ok" if res.matches else "MISMATCH")


def _print_one(res: litmus.LitmusResult) -> None:
    t = res.test
    print(f"Test {t.name} under {litmus.MODEL_NAMES[res.model]} ({t.path})")
    for para in t.comment.split("\n\n"):
        print(textwrap.fill(para, 78, initial_indent="  ", subsequent_indent="  "))
    print(f"States {len(res.outcomes)}  ({res.states} machine states searched)")
    width = max(len(_row(res, v)) for v, _, _ in res.outcomes)
    for values, holds, _ in res.outcomes:
        print(f"  {_row(res, values):<{width}}" + ("  <- exists" if holds else ""))
    print(f"Condition exists {t.exists_text}: "
          + ("reachable" if res.reachable else "unreachable"))
    if res.witness:
        print(f"Witness {' '.join(res.witness)}")
    print(f"Observation {t.name} {res.result} {res.positive} "
          f"{len(res.outcomes) - res.positive}  -- {_verdict(res)}")


def _print_all(results: list[litmus.LitmusResult], model: str) -> None:
    width = max(len(r.test.name) for r in results)
    print(f"{'test':<{width}}  {model + ' result':<10}  {'Result:':<10}  check  outcomes")
    for r in results:
        check = {True: "ok", False: "FAIL", None: "-"}[r.matches]
        print(f"{r.test.name:<{width}}  {r.result:<10}  {r.test.result or '?':<10}  "
              f"{check:<5}  {len(r.outcomes)}")
    bad = [r.test.name for r in results if r.matches is False]
    if model != "tso":
        print(f"{len(results)} tests run under {model}; Result: lines are for tso, "
              "so nothing is compared")
    elif bad:
        print(f"{len(bad)} of {len(results)} tests disagree with Result: {', '.join(bad)}")
    else:
        print(f"all {len(results)} tests agree with their Result: line")
