"""hyperkit #94 on this machine: where a SIGCONT goes, on real threads.

blockif_cancel sends SIGCONT with ``pthread_kill`` to the blkio thread and
waits for the main thread's event loop to notice it. Linux splits signals the
same way macOS does: a ``signalfd`` (Linux's stand-in for kqueue's
``EVFILT_SIGNAL``) in one thread never sees a signal sent to another thread,
while a signal sent to the process it does see; and a handler installed
without ``SA_RESTART`` runs on the thread the signal was sent to and ends its
blocking ``read`` with ``EINTR``. ``native/signals.c`` plays the cancel
protocol in three rounds (see there); this module runs it and reads the answer.

The experiment changes the signal mask and SIGCONT's disposition of the process
it runs in, so it never runs in this one (which may be a Jupyter kernel with
threads of its own): ``observe`` starts a fresh interpreter
(``python -m simulator.real.signals``), whose only thread calls the C code.
"""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

from simulator.real._native import RealMachineError, ensure, native
from simulator.real.result import ExperimentResult

FIELDS = ("thread_directed_seen_by_m", "thread_directed_pending_on_b",
          "process_directed_seen_by_m", "read_errno", "read_result", "handler_ran",
          "handler_on_target", "cancel_done_thread_directed",
          "cancel_done_process_directed", "cancel_done_handler")


def _check_timeout(timeout_ms: int) -> None:
    if not 100 <= timeout_ms <= 60000:
        raise RealMachineError(f"timeout must be 100-60000 ms, not {timeout_ms}")


def run_here(timeout_ms: int) -> dict:
    """Run the C experiment in this process, which must have a single thread
    (the C code refuses otherwise); the report as a dict."""
    _check_timeout(timeout_ms)
    ffi, lib = native()
    r = ffi.new("struct hvr_signal_report *")
    ensure(lib.hvr_signals__experiment(timeout_ms, r))
    return {name: int(getattr(r, name)) for name in FIELDS}


def observe(timeout_ms: int = 1000) -> dict:
    """Run the experiment in a fresh process; its report as a dict."""
    _check_timeout(timeout_ms)
    native()  # fail here, in one line, if the extension is missing
    guard = 20 * timeout_ms / 1000 + 30  # a generous hang guard, never a verdict
    try:
        done = subprocess.run([sys.executable, "-m", "simulator.real.signals", str(timeout_ms)],
                              capture_output=True, text=True, timeout=guard,
                              env={**os.environ, "PYTHONWARNINGS": "ignore"})
    except subprocess.TimeoutExpired:
        raise RealMachineError(f"the signal experiment timed out after {guard:.0f} s") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RealMachineError(f"the signal experiment failed: {reason}")
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        raise RealMachineError("the signal experiment printed no report") from None


def _errno_name(code: int) -> str:
    return errno.errorcode.get(code, str(code))


def signal_delivery(timeout_ms: int = 1000) -> ExperimentResult:
    """The three signal facts the chapter rests on, as seen on this host."""
    r = observe(timeout_ms)
    observed = {
        "thread_directed_seen_by_main": bool(r["thread_directed_seen_by_m"]),
        "thread_directed_pending_on_target": bool(r["thread_directed_pending_on_b"]),
        "process_directed_seen_by_main": bool(r["process_directed_seen_by_m"]),
        "read_returned": r["read_result"],
        "read_errno": _errno_name(r["read_errno"]),
        "handler_ran_on_target": bool(r["handler_on_target"]),
    }
    agrees = (not observed["thread_directed_seen_by_main"]
              and observed["thread_directed_pending_on_target"]
              and observed["process_directed_seen_by_main"]
              and observed["read_returned"] == -1 and observed["read_errno"] == "EINTR"
              and observed["handler_ran_on_target"])
    return ExperimentResult(
        experiment="signals",
        expected=("SIGCONT sent with pthread_kill to thread B stays pending on B and thread M's "
                  "signalfd never sees it; sent to the process, M sees it; B blocked in read() "
                  "with a handler installed without SA_RESTART runs the handler itself and "
                  "gets EINTR"),
        observed=observed, agrees=agrees, params={"timeout_ms": timeout_ms})


def blockif_cancel(timeout_ms: int = 1000) -> ExperimentResult:
    """blockif_cancel's wait, three ways: as hyperkit sends the signal (macOS's
    hang), sent to the process (what FreeBSD's kqueue hears), caught (illumos)."""
    r = observe(timeout_ms)
    rounds = {
        "pthread_kill, signalfd in mevent (hyperkit on macOS)": {
            "mevent_saw_it": bool(r["thread_directed_seen_by_m"]),
            "left_pending_on_blkio": bool(r["thread_directed_pending_on_b"]),
            "cancel_wait_ended": bool(r["cancel_done_thread_directed"]),
        },
        "kill to the process, signalfd in mevent (what FreeBSD's kqueue hears)": {
            "mevent_saw_it": bool(r["process_directed_seen_by_m"]),
            "cancel_wait_ended": bool(r["cancel_done_process_directed"]),
        },
        "pthread_kill, handler installed (bhyve's illumos port)": {
            "handler_ran_on_blkio": bool(r["handler_on_target"]),
            "cancel_wait_ended": bool(r["cancel_done_handler"]),
            "blkio_read": (f"{r['read_result']} ({_errno_name(r['read_errno'])})"
                           if r["read_result"] < 0 else str(r["read_result"])),
        },
    }
    macos, process, illumos = rounds.values()
    agrees = (not macos["mevent_saw_it"] and macos["left_pending_on_blkio"]
              and not macos["cancel_wait_ended"]
              and process["mevent_saw_it"] and process["cancel_wait_ended"]
              and illumos["handler_ran_on_blkio"] and illumos["cancel_wait_ended"]
              and r["read_result"] == -1 and r["read_errno"] == errno.EINTR)
    return ExperimentResult(
        experiment="blockif",
        expected=("a SIGCONT sent to blkio with pthread_kill never reaches mevent's signalfd, "
                  "so ioemu's wait for bse_pending would last forever (it is cut off after "
                  f"{timeout_ms // 2} ms); sent to the process it is seen and the wait ends; "
                  "with a handler installed it runs on blkio, ends the wait, and blkio's "
                  "read() returns EINTR"),
        observed=rounds, agrees=agrees, params={"timeout_ms": timeout_ms},
        notes=["Linux stands in for macOS here: a signalfd reads only signals sent to the "
               "process or to its own thread, so, like macOS's EVFILT_SIGNAL, it never hears "
               "one sent to another thread"])


def _child(argv: list[str]) -> int:
    """``python -m simulator.real.signals TIMEOUT_MS``: run here, print the report."""
    try:
        report = run_here(int(argv[0]) if argv else 1000)
    except (RealMachineError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
