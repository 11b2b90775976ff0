"""Where a SIGCONT goes, on the real host OS: the mechanism of hyperkit #94.

blockif_cancel sends SIGCONT with pthread_kill to the blkio thread and waits
for the main thread's event loop to notice it. A thread-directed signal is
pending on its target only, so a signalfd (or kevent) in another thread
never sees it; a process-directed one it does. And a handler installed
without SA_RESTART interrupts the target's blocking read() with EINTR.
The demo runs in a forked child, so this process's signal state is untouched.
"""
from __future__ import annotations

import errno

from simulator.real._native import RealMachineError, ensure, native
from simulator.real.result import ExperimentResult


def signal_delivery(timeout_ms: int = 1000) -> ExperimentResult:
    """Run the three signal facts and compare them with the course's claims."""
    if not 100 <= timeout_ms <= 60000:
        raise RealMachineError(f"timeout must be 100-60000 ms, not {timeout_ms}")
    ffi, lib = native()
    r = ffi.new("struct hvr_signal_report *")
    ensure(lib.hvr_signals__demo(timeout_ms, r))
    observed = {
        "thread_directed_seen_by_main": bool(r.thread_directed_seen_by_m),
        "thread_directed_pending_on_target": bool(r.thread_directed_pending_on_b),
        "process_directed_seen_by_main": bool(r.process_directed_seen_by_m),
        "read_returned": int(r.read_result),
        "read_errno": errno.errorcode.get(int(r.read_errno), str(int(r.read_errno))),
        "handler_ran": bool(r.handler_ran),
    }
    agrees = (not observed["thread_directed_seen_by_main"]
              and observed["thread_directed_pending_on_target"]
              and observed["process_directed_seen_by_main"]
              and observed["read_returned"] == -1 and observed["read_errno"] == "EINTR"
              and observed["handler_ran"])
    return ExperimentResult(
        experiment="signals",
        expected=("SIGCONT sent with pthread_kill to thread B stays pending on B and thread M's "
                  "signalfd never sees it; sent to the process, M sees it; B blocked in read() "
                  "with a handler installed without SA_RESTART gets EINTR"),
        observed=observed, agrees=agrees, params={"timeout_ms": timeout_ms})
