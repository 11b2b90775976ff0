"""Tier 3: the experiments the course shows, checked for outcomes (never timings)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from simulator.real._native import RealMachineError


def test_apic_wakeup(kvm):
    """0x60 under TPR 0x70 leaves the vCPU halted; 0xd3 wakes it; lower TPR runs 0x60."""
    from simulator.real.apic import apic_wakeup

    result = apic_wakeup()
    assert result.agrees, result.observed["checks"]


def test_apic_lab_drives_a_sequence(kvm):
    """The lab carries out a seeded sequence and reports the handlers that ran."""
    from simulator.real.apic import ApicLab

    with ApicLab() as lab:
        lab.set_tpr(0x50)
        lab.post_msi(0x40)
        lab.post_msi(0x90)
        assert lab.state().irr == {0x40, 0x90}
        lab.window()
        assert 0x90 in lab.handled() and 0x40 not in lab.handled()
        lab.set_tpr(0)
        assert lab.halt() is True
        assert lab.handled()[-1] == 0x40


def test_apic_lab_refuses_bad_input(kvm):
    from simulator.real.apic import ApicLab

    with ApicLab() as lab:
        with pytest.raises(RealMachineError, match="vector"):
            lab.post_msi(3)
        with pytest.raises(RealMachineError, match="TPR"):
            lab.set_tpr(300)


def test_litmus_fence_gives_zero(native):
    """With mfence, the store-buffering outcome never appears on real cores."""
    from simulator.real.litmus import store_buffer_litmus

    result = store_buffer_litmus(fence=True, iterations=20_000)
    assert result.observed["outcomes"]["r0=0 r1=0"] == 0 and result.agrees


def test_virtio_shaped_fence_loses_nothing(native):
    from simulator.real.litmus import store_buffer_litmus

    result = store_buffer_litmus(fence=True, iterations=20_000, shape="virtio")
    assert result.observed["lost_notifications"] == 0


def test_virtio_race_fence_loses_nothing(kvm):
    """OS-7613's fix inside a guest: with the barrier no notification is lost."""
    from simulator.real.litmus import virtio_race

    result = virtio_race(fence=True, iterations=20_000)
    assert result.observed["lost_notifications"] == 0 and result.agrees


@pytest.mark.slow
def test_litmus_without_fence_reorders(native):
    """Without mfence, x86-TSO lets both loads miss the other's store."""
    from simulator.real.litmus import store_buffer_litmus

    assert store_buffer_litmus(fence=False, iterations=1_000_000).observed["counts"][
        "both_stale"] > 0


@pytest.mark.slow
def test_virtio_race_without_fence_loses_notifications(kvm):
    """OS-7613 on real hardware: without the barrier, notifications are lost."""
    from simulator.real.litmus import virtio_race

    assert virtio_race(fence=False, iterations=1_000_000).observed["lost_notifications"] > 0


def test_signal_delivery(native):
    """pthread_kill'd SIGCONT is invisible to another thread; kill() is not; EINTR."""
    from simulator.real.signals import signal_delivery

    result = signal_delivery()
    assert result.agrees, result.observed


def test_bad_iterations(native):
    from simulator.real.litmus import store_buffer_litmus

    with pytest.raises(RealMachineError, match="iterations"):
        store_buffer_litmus(iterations=-1)


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "simulator", "real", *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_cli_json_shape(native):
    """Every experiment's --json holds experiment, expected, observed and agrees."""
    done = _cli("litmus", "--fence", "--iterations", "5000", "--json")
    assert done.returncode == 0, done.stderr
    obj = json.loads(done.stdout)
    assert {"experiment", "expected", "observed", "agrees"} <= obj.keys() and obj["agrees"]


def test_cli_without_kvm():
    """With KVM hidden: check explains, a KVM experiment exits 2 with one line."""
    env = {"HVRACES_NO_KVM": "1"}
    check = _cli("check", env=env)
    assert check.returncode == 0 and "HVRACES_NO_KVM" in check.stdout
    apic = _cli("apic", env=env)
    assert apic.returncode == 2 and len(apic.stderr.strip().splitlines()) == 1


def test_cli_bad_iterations():
    done = _cli("virtio-race", "--iterations", "-3")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
