"""Skips for the real-machine tests: each says what is missing."""
from __future__ import annotations

import pytest

from simulator.real import available, native_available


@pytest.fixture
def native():
    """The cffi (ffi, lib) pair; skip if the extension could not be built (no compiler)."""
    ext = native_available()
    if not ext:
        pytest.skip(f"native extension missing: {ext.reason}")
    from simulator.real._native import ffi, lib

    return ffi, lib


@pytest.fixture
def kvm(native):
    """Skip unless KVM is usable here (and not hidden by HVRACES_NO_KVM=1)."""
    kvm = available()
    if not kvm:
        pytest.skip(f"KVM unavailable: {kvm.reason}")
    return kvm
