"""Shared test helpers: tiny machines built from a few ops."""
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run_cli():
    """Run ``python -m simulator ARGS``; return (exit code, stdout, stderr)."""
    import subprocess

    def run(*args, timeout=120):
        proc = subprocess.run([sys.executable, "-m", "simulator", *args], capture_output=True,
                              text=True, timeout=timeout, cwd=ROOT)
        return proc.returncode, proc.stdout, proc.stderr

    return run


@pytest.fixture
def refused():
    """Build a scenario's machine that must be refused; return the refusal,
    checked to be a UsageError of one line."""
    from simulator import scenarios
    from simulator.errors import UsageError

    def build(scenario: str, variant="buggy", params: dict | None = None) -> str:
        with pytest.raises(UsageError) as err:
            scenarios.get(scenario).machine(variant, params)
        assert "\n" not in str(err.value)
        return str(err.value)

    return build
