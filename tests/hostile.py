"""Helpers for the hostile-input tests: the CLI called in-process under a hang
guard, and the one assertion they all make about a refusal."""
from __future__ import annotations

import io
import signal
from contextlib import contextmanager, redirect_stderr, redirect_stdout

from simulator.cli import main

HANG_GUARD_S = 60  # a hang guard only: each of these calls takes well under a second


class TimedOut(Exception):
    """The hang guard fired."""


@contextmanager
def hang_guard(seconds: int = HANG_GUARD_S):
    """Raise TimedOut ("timed out") if the body runs longer than ``seconds``."""
    def fire(signum, frame):
        raise TimedOut(f"timed out after {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def cli(*args: str) -> tuple[int, str, str]:
    """``python -m simulator ARGS`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), hang_guard():
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's own errors
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def assert_refused(code: int, err: str, *, status: int = 2, says: str = "") -> None:
    """A refusal: the exit status, exactly one line on stderr, never a traceback."""
    lines = err.splitlines()
    assert code == status, f"exit {code}, stderr: {err[-2000:]}"
    assert len(lines) == 1, f"stderr has {len(lines)} lines: {err[-2000:]}"
    assert "Traceback" not in err and lines[0].startswith(("error", "python -m simulator"))
    assert says in lines[0], lines[0]
