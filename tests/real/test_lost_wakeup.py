"""illumos #14026 on real threads: a broadcast without the waiter's mutex is lost
now and then; with it, never. Outcomes are counted, never timed."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from simulator.real._native import RealMachineError


@pytest.fixture
def two_cpus(native):
    """Skip where this process may use fewer than two CPUs: nothing to race on."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("the lost-wakeup experiment needs two CPUs in the affinity mask")


def test_every_sleep_is_accounted_for(two_cpus):
    """Each sleep ends woken, lost or late; the two threads sit on allowed CPUs."""
    from simulator.real.wakeup import handshakes

    c = handshakes(locked=False, rounds=300)
    assert c.rounds == 300 and c.waited == c.woken + c.lost + c.late
    allowed = os.sched_getaffinity(0)
    assert c.waiter_cpu in allowed and c.waker_cpu in allowed and c.waiter_cpu != c.waker_cpu


def test_with_the_mutex_no_wakeup_is_lost(two_cpus):
    """6703a0e's rule: the broadcast under the waiter's lock cannot fall between its
    check and its sleep - even with that window widened."""
    from simulator.real.wakeup import handshakes

    for window in (0, 200):
        assert handshakes(locked=True, rounds=2_000, window=window).lost == 0


def test_without_the_mutex_some_wakeups_are_lost(two_cpus):
    """The claim as a whole, retried in batches: some lost without the lock, none with."""
    from simulator.real.wakeup import lost_wakeup

    result = lost_wakeup(rounds=1_000, attempts=8)
    assert result.agrees, result.observed
    assert result.observed["lost_unlocked"] > 0 and result.observed["lost_locked"] == 0


@pytest.mark.parametrize("kwargs, words", [
    ({"rounds": 0}, "rounds"), ({"window": -1}, "window"), ({"timeout_us": 5}, "timeout"),
])
def test_bad_input_is_one_line(native, kwargs, words):
    from simulator.real.wakeup import handshakes

    with pytest.raises(RealMachineError, match=words) as info:
        handshakes(locked=True, **kwargs)
    assert "\n" not in str(info.value)


def test_cli_json(two_cpus):
    done = subprocess.run([sys.executable, "-m", "simulator", "real", "lost-wakeup",
                           "--rounds", "500", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    obj = json.loads(done.stdout)
    assert {"experiment", "expected", "observed", "agrees"} <= obj.keys()
    assert obj["experiment"] == "lost-wakeup" and obj["observed"]["lost_locked"] == 0


def test_cli_bad_rounds_is_one_line():
    done = subprocess.run([sys.executable, "-m", "simulator", "real", "lost-wakeup",
                           "--rounds", "-1"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
