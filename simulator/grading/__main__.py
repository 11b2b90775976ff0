"""``python -m simulator.grading generate [--check]``: exercises from solutions."""
from __future__ import annotations

import argparse
import sys

from simulator.grading.generate import EXERCISES, ROOT, generate, stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator.grading",
                                     description="write exercises/ from solutions/")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write exercises/*.ipynb from solutions/*.ipynb")
    gen.add_argument("--check", action="store_true",
                     help="write nothing; exit 1 if exercises/ is out of date")
    args = parser.parse_args(argv)
    if args.check:
        out = stale()
        for path in out:
            print(f"out of date: {path.relative_to(ROOT)}", file=sys.stderr)
        if out:
            print("run: python -m simulator.grading generate", file=sys.stderr)
        return 1 if out else 0
    for path in generate():
        print(f"wrote {path.relative_to(ROOT)}")
    if not any(EXERCISES.glob("*.ipynb")):
        print("no solutions/*.ipynb to generate from", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
