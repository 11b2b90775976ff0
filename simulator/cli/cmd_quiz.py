"""``quiz``: a seeded predict question about a scenario, OSTEP style; ``-c`` answers it.

The question and its answer come from the same code (the chapter's exercise
module). Seeds 0 to 999999 are for practice; larger seeds are the graded
questions of the exercises, which ``-c`` does not answer.
"""
from __future__ import annotations

from simulator.cli.common import print_json
from simulator.grading import chapters
from simulator.grading.exercise import GRADED_FROM, is_graded

NAME = "quiz"
HELP = "a seeded question on a scenario (OSTEP style); -c shows its answer"


def configure(p) -> None:
    p.add_argument("scenario", help="scenario name (see `list`)")
    p.add_argument("--seed", type=int, default=0,
                   help=f"which question (practice seeds: 0 to {GRADED_FROM - 1})")
    p.add_argument("-c", "--compute", action="store_true", help="show the answers too")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    q = chapters.for_scenario(args.scenario).question(args.seed)
    answer = q.answer() if args.compute else None  # refuses graded seeds (UsageError)
    if args.json:
        out = {"scenario": args.scenario, "seed": args.seed, "graded": is_graded(args.seed),
               "question": str(q)}
        if answer is not None:
            out["answer"] = answer
        print_json(out)
        return 0
    print(str(q) if answer is None else filled(str(q), answer))
    return 0


def filled(text: str, answer: dict) -> str:
    """The question with each ``key = ?`` line showing its answer."""
    lines = []
    for line in text.splitlines():
        key = line.lstrip("# ").split(" ")[0]
        if "= ?" in line and key in answer:
            line = line.replace("= ?", f"= {shown(key, answer[key])}", 1)
        lines.append(line)
    return "\n".join(lines)


def shown(key: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return repr(value)
    return f"{value:#04x}" if key in ("ppr", "delivers") and value else str(value)
