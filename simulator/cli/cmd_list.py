"""``list``: the scenarios, with their report ids, variants and parameters."""
from __future__ import annotations

from simulator import scenarios
from simulator.cli.common import print_json

NAME = "list"
HELP = "list the scenarios with their report ids, variants and parameters"


def configure(p) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    found = [sc.describe() for sc in scenarios.all_scenarios()]
    if args.json:
        print_json({"scenarios": found})
        return 0
    for sc in found:
        print(f"{sc['name']:<22} {sc['report']:<10} {sc['title']}")
        for name, what in sc["variants"].items():
            print(f"{'':<22} --variant {name}: {what}")
        for p in sc["params"]:
            print(f"{'':<22} --param {p['name']}={p['shown']}  ({p['help']})")
    return 0
