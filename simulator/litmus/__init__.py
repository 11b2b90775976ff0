"""The litmus catalogue: tiny x86 memory-model tests, one file per pattern.

Each ``*.litmus`` file beside this module is one test named after its shape
(SB, MP, IRIW...) with a recorded ``Result:`` for x86-TSO. The checker runs
every test on the engine and compares::

    from simulator import litmus
    res = litmus.run(litmus.load("SB"))      # every reachable outcome
    res.result, res.test.result               # ("Sometimes", "Sometimes")
    [c for c in litmus.check_all() if not c.matches]   # [] when all agree
"""
from __future__ import annotations

import os
from pathlib import Path

from simulator.errors import UsageError
from simulator.litmus.parse import LitmusTest, parse_file, parse_text
from simulator.litmus.run import DEFAULT_MAX_STATES, MODEL_NAMES, LitmusResult, build, run_test

HERE = Path(__file__).resolve().parent

__all__ = ["DEFAULT_MAX_STATES", "LitmusResult", "LitmusTest", "MODEL_NAMES", "build",
           "catalogue", "check_all", "load", "names", "parse_file", "parse_text", "run"]


def names() -> list[str]:
    """The catalogue's test names (file names without ``.litmus``), sorted."""
    return sorted((p.stem for p in HERE.glob("*.litmus")), key=str.lower)


def load(name_or_path: str) -> LitmusTest:
    """A catalogue test by name (any case), or any litmus file by path."""
    if name_or_path.endswith(".litmus") or os.sep in name_or_path:
        if not os.path.exists(name_or_path):
            raise UsageError(f"no such litmus file: {name_or_path}")
        return parse_file(name_or_path)
    for name in names():
        if name.lower() == name_or_path.lower():
            return parse_file(str(HERE / f"{name}.litmus"))
    if os.path.isfile(name_or_path):
        return parse_file(name_or_path)
    raise UsageError(f"unknown litmus test {name_or_path!r} (known: {', '.join(names())})")


def catalogue() -> list[LitmusTest]:
    """Every test in the catalogue, parsed."""
    return [load(name) for name in names()]


def run(test: LitmusTest | str, model: str = "tso",
        max_states: int = DEFAULT_MAX_STATES) -> LitmusResult:
    """Every reachable outcome of ``test`` under ``model`` ("tso" or "sc"), searching
    at most ``max_states`` machine states (more is a one-line UsageError)."""
    if model not in MODEL_NAMES:
        raise UsageError(f"unknown memory model {model!r} (choose tso or sc)")
    return run_test(load(test) if isinstance(test, str) else test, model, max_states)


def check_all(model: str = "tso", max_states: int = DEFAULT_MAX_STATES) -> list[LitmusResult]:
    """Run the whole catalogue; each result's ``matches`` compares it with ``Result:``."""
    return [run(test, model, max_states) for test in catalogue()]
