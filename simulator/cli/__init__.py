"""The command line: ``python -m simulator list | run | explore | replay | litmus | real | quiz``.

Each subcommand lives in its own module exposing ``NAME``, ``HELP``,
``configure(parser)`` and ``run(args) -> int``. Bad input raises ``UsageError``
(or argparse's own error), which becomes one line on stderr and exit code 2;
the other exit codes are in ``simulator.cli.exits``. No input gives a
traceback: a model crash or an internal error is one line and exit code 3
(``HVRACES_TRACEBACK=1`` shows the traceback instead).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from simulator.cli import exits
from simulator.errors import ModelCrash, UsageError

COMMANDS = ["list", "run", "explore", "replay", "litmus", "real", "quiz"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and exit code 2."""

    def error(self, message: str):  # noqa: D401 - argparse hook
        self.exit(exits.USAGE, f"{self.prog}: error: {exits.one_line(message)}\n")


def _load(name: str):
    return importlib.import_module(f"simulator.cli.cmd_{name}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m simulator", description=__doc__.splitlines()[0],
                     epilog=exits.EPILOG)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = _load(name)
        except ModuleNotFoundError as exc:
            if exc.name != f"simulator.cli.cmd_{name}":
                raise
            continue
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP,
                           epilog=exits.EPILOG)
        module.configure(p)
        p.set_defaults(_run=module.run)
    return parser


def _fail(kind: str, message: object, code: int) -> int:
    print(f"{kind}: {exits.one_line(message)}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except UsageError as exc:
        return _fail("error", exc, exits.USAGE)
    except ModelCrash as exc:
        return _fail("error: the model crashed", exc, exits.FAULT)
    except KeyboardInterrupt:
        return _fail("error", "interrupted", exits.INTERRUPTED)
    except BrokenPipeError:  # the reader went away (``| head``): not an error of ours
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - quiet the interpreter's flush
        return exits.OK
    except Exception as exc:  # a bug of ours: still one line, never a traceback
        if os.environ.get("HVRACES_TRACEBACK", "") not in ("", "0"):
            raise
        return _fail("error: internal error", f"{type(exc).__name__}: {exc}", exits.FAULT)
