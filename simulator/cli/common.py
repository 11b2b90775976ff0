"""Options and output shared by the subcommands."""
from __future__ import annotations

import argparse
import json

from simulator import scenarios
from simulator.errors import UsageError


def add_scenario_args(p: argparse.ArgumentParser, variant_default: str = "buggy") -> None:
    p.add_argument("scenario", help="scenario name (see `list`)")
    p.add_argument("--variant", default=variant_default, help="buggy, fixed, ...")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="set a scenario parameter (repeatable)")
    p.add_argument("--memory", choices=("tso", "sc"), default=None,
                   help="memory model (default: the scenario's, usually tso)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name:
            raise UsageError(f"--param wants NAME=VALUE, not {pair!r}")
        params[name.strip()] = value.strip()
    return params


def checked(args) -> tuple[str, str, dict]:
    """The scenario, variant and parameters of ``args``, each validated."""
    sc = scenarios.get(args.scenario)
    sc.variant_name(args.variant)
    params = sc.resolve(parse_params(args.param))
    return sc.name, args.variant, params


def print_json(obj) -> None:
    print(json.dumps(obj, indent=1))
