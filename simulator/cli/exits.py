"""Exit statuses of ``python -m simulator``: one meaning each, shared by every subcommand.

====  ==========================================================================
0     done; whatever the command checked agrees with its claim
1     it ran, and what it checked disagrees with its claim: a litmus test's
      computed result is not its recorded ``Result:``, or a ``real`` experiment
      saw something other than the course claims (``"agrees": false``), or a
      replayed trace ends with another verdict than the one it recorded
2     bad input: an unknown scenario, an impossible parameter, a malformed file,
      no KVM here (one line on stderr)
3     the simulator itself failed: a model crashed or an internal error (one
      line on stderr) - never a verdict about the system under study
130   interrupted (Ctrl-C)
====  ==========================================================================

A new subcommand that checks a claim returns ``agreement(...)``, so every
command means the same by 0 and 1.
"""
from __future__ import annotations

OK = 0
DISAGREES = 1
USAGE = 2
FAULT = 3
INTERRUPTED = 130

# Shown at the end of ``--help``.
EPILOG = ("exit status: 0 agrees/done, 1 disagrees with the claim (litmus Result:, "
          "real experiments, replay's recorded verdict), 2 bad input, 3 the simulator "
          "itself failed, 130 interrupted")


def agreement(agrees: bool | None) -> int:
    """The exit status of a check: 1 only when it ran and disagrees (None: nothing to
    compare, which is not a disagreement)."""
    return DISAGREES if agrees is False else OK


def one_line(text: str, limit: int = 400) -> str:
    """``text`` as one line of at most ``limit`` characters (hostile input can make an
    error message long or put newlines in it)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
