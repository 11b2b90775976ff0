"""hyperkit #94 on real threads: the cancel protocol's three rounds, and its safety.

Outcomes only (who saw the signal, whose wait ended, what read() returned),
never how long anything took.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from simulator.real._native import RealMachineError


def test_blockif_cancel_three_ways(native):
    """pthread_kill: mevent never hears it and the wait would not end; kill: it does;
    a handler: it runs on blkio, ends the wait, and blkio's read() gets EINTR."""
    from simulator.real.signals import blockif_cancel

    result = blockif_cancel()
    macos, process, illumos = result.observed.values()
    assert (macos["mevent_saw_it"], macos["cancel_wait_ended"]) == (False, False)
    assert macos["left_pending_on_blkio"]
    assert (process["mevent_saw_it"], process["cancel_wait_ended"]) == (True, True)
    assert illumos == {"handler_ran_on_blkio": True, "cancel_wait_ended": True,
                       "blkio_read": "-1 (EINTR)"}
    assert result.agrees


def test_the_experiment_refuses_to_run_in_a_process_with_other_threads(native):
    """It would change the signal state of every thread here: one-line refusal."""
    from simulator.real.signals import run_here

    stop = threading.Event()
    other = threading.Thread(target=stop.wait, args=(30,))
    other.start()
    try:
        with pytest.raises(RealMachineError, match="fresh single-threaded process"):
            run_here(200)
    finally:
        stop.set()
        other.join()


def test_a_bad_timeout_is_refused(native):
    from simulator.real.signals import observe

    with pytest.raises(RealMachineError, match="100-60000"):
        observe(5)


def test_cli_blockif_json(native):
    done = subprocess.run([sys.executable, "-m", "simulator", "real", "blockif", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    obj = json.loads(done.stdout)
    assert {"experiment", "expected", "observed", "agrees"} <= obj.keys()
    assert obj["experiment"] == "blockif" and obj["agrees"]
