"""The grading sandbox: ``python -I -m simulator.grading.sandbox``, one process per request.

It reads one JSON request on stdin::

    {"items": [{"check": "ch02_pir:fix",
                "answer": {"kind": "class", "name": "FixedPIR", "source": "class ..."}}],
     "context": {"student": "alice"}, "instructor": "/course/solutions/grading",
     "cpu_s": 150, "memory_mb": 2048}

and writes one JSON line on stdout: ``{"results": [<CheckResult JSON>, ...]}``,
one per item, stopping after the first that fails (as a grade cell's asserts do).
An answer is plain data (``"kind": "data", "value": ...``) or a class's source
text, rebuilt here under ``simulator.grading.rebuild``'s rules; the
kernel's objects never cross over, so nothing patched there can reach a check.

Limits, set before any answer runs: CPU time (``RLIMIT_CPU``, ten times what the
checks normally cost), address space and no core files. The deterministic
budgets — states, steps, loop iterations between two ops — come first; the CPU
limit only stops code that would never finish, and says the grader timed out.
Whatever the answer does, including ``except BaseException:`` around a loop,
the process ends with a verdict on stdout: the loop guard and the CPU-time
signal write it and leave with ``os._exit``.
"""
from __future__ import annotations

import io
import json
import os
import resource
import signal
import sys
from dataclasses import replace

MAX_REQUEST = 4 * 1024 * 1024
MAX_OUTPUT = 4_000  # characters of the answer's own printing kept in a result
DEFAULT_CPU_S = 600
DEFAULT_MEMORY_MB = 2048  # address space; the largest check so far peaks at ~150 MB resident
GRACE_S = 2  # between the CPU limit's signal and its kill


class Printer:
    """``print`` for answers: kept (cut short) with the result, never on stdout."""

    def __init__(self):
        self.buffer = io.StringIO()

    def __call__(self, *args, sep=" ", end="\n", **_ignored):
        if self.buffer.tell() < MAX_OUTPUT:
            self.buffer.write(sep.join(str(a) for a in args) + end)

    def text(self) -> str:
        out = self.buffer.getvalue()
        return out if len(out) <= MAX_OUTPUT else out[:MAX_OUTPUT] + "\n[... cut short]"


class Session:
    """One request: the results so far, and the only way out of the process."""

    def __init__(self, out):
        self.out = out
        self.results: list[dict] = []
        self.current = ""
        self.printer = Printer()
        self.cpu_s = DEFAULT_CPU_S

    def finish(self, extra: dict | None = None) -> None:
        results = self.results + ([extra] if extra else [])
        self.out.write(json.dumps({"results": results}) + "\n")
        self.out.flush()
        os._exit(0)

    def stop(self, reason: str) -> None:
        """End the current check as failed, now, whatever code is running."""
        self.finish({"check": self.current, "passed": False, "reason": reason,
                     "output": self.printer.text()})

    def out_of_cpu(self, signum, frame) -> None:
        self.stop(timed_out_reason(self.cpu_s))


def timed_out_reason(seconds: float) -> str:
    return (f"the grader timed out after {seconds:g} s of CPU time (ten times what this check "
            "normally takes) and stopped the check; if your code does finish, tell your "
            "instructor")


def set_limits(cpu_s: float, memory_mb: int) -> None:
    cpu = max(1, int(cpu_s))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + GRACE_S))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    memory = memory_mb * 1024 * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or memory < hard:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def main() -> None:
    # Our verdict goes to the original stdout; anything else printed goes to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    session = Session(out)
    try:
        request = json.loads(sys.stdin.read(MAX_REQUEST))
        if not isinstance(request, dict) or not isinstance(request.get("items"), list):
            raise ValueError("no items")
    except (ValueError, UnicodeDecodeError) as exc:
        session.finish({"check": "", "passed": False,
                        "reason": f"the grader got a malformed request: {exc}"})
    session.cpu_s = float(request.get("cpu_s") or DEFAULT_CPU_S)
    signal.signal(signal.SIGXCPU, session.out_of_cpu)
    set_limits(session.cpu_s, int(request.get("memory_mb") or DEFAULT_MEMORY_MB))
    run_items(session, request)
    session.finish()


def run_items(session: Session, request: dict) -> None:
    from simulator.grading.grade import grade_item  # after the limits are set

    context = request.get("context") or {}
    for item in request["items"]:
        session.current = str(item.get("check", "")) if isinstance(item, dict) else ""
        session.printer = Printer()
        result = grade_item(item, context, request.get("instructor"), session)
        result = replace(result, check=session.current, output=session.printer.text())
        session.results.append(result.to_json())
        if not result.passed:
            break


if __name__ == "__main__":
    main()
