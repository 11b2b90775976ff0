"""Tier 1: the extension imports, KVM answers, resources come back."""
from __future__ import annotations

import os

import pytest

from simulator.real import available
from simulator.real.machine import Vm


def test_availability_is_explained():
    """available() always gives a one-line reason, whatever the answer."""
    kvm = available()
    assert kvm.reason and "\n" not in kvm.reason


def test_switch_hides_kvm(monkeypatch):
    """HVRACES_NO_KVM=1 makes KVM look missing, and creating a VM says so in one line."""
    monkeypatch.setenv("HVRACES_NO_KVM", "1")
    kvm = available()
    assert not kvm and "missing" in kvm.reason
    with pytest.raises(Exception, match="KVM is not available") as info:
        Vm("io_loop")
    assert "\n" not in str(info.value)


def test_kvm_check_call(native, kvm):
    """One native call: the KVM check passes on a machine with usable KVM."""
    _, lib = native
    assert lib.hvr_kvm__check() == 0


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_no_leak_across_1000_vms(kvm):
    """A thousand VMs with a vCPU each, created and destroyed: no fd is left open."""
    before = _open_fds()
    for _ in range(1000):
        vm = Vm("io_loop")
        vm.vcpu()
        vm.close()
    assert _open_fds() == before
