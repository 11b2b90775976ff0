"""The thin layer over the C library: load it, and turn its return codes into exceptions.

Every native call returns ``0`` (or a count) on success and ``-errno`` on
failure, with a one-line reason in ``hvr_error__last()``. ``ensure`` is the
only place that reads it; everything above calls the library through it.
"""
from __future__ import annotations

import os
from typing import Any

from simulator.errors import UsageError


class RealMachineError(UsageError):
    """The real machine refused or failed: one line saying why (KVM missing,
    a guest address outside memory, a guest that faulted, a timeout...)."""

    def __init__(self, message: str, errno: int = 0):
        super().__init__(message)
        self.errno = errno


try:
    from simulator.real._hvr import ffi, lib
    IMPORT_ERROR: str | None = None
except ImportError as exc:  # no compiler at install time, or not built yet
    ffi = lib = None
    IMPORT_ERROR = f"the native extension is not built ({exc})"


def native() -> tuple[Any, Any]:
    """(ffi, lib), or RealMachineError if the extension could not be built."""
    if lib is None:
        raise RealMachineError(IMPORT_ERROR or "the native extension is missing")
    return ffi, lib


def ensure(rc: int) -> int:
    """Pass a non-negative result through; turn ``-errno`` into RealMachineError."""
    if rc >= 0:
        return rc
    message = ffi.string(lib.hvr_error__last()).decode(errors="replace")
    raise RealMachineError(message or os.strerror(-rc), -rc)


def kvm_hidden() -> bool:
    """HVRACES_NO_KVM=1 makes the package behave as if /dev/kvm were missing."""
    return os.environ.get("HVRACES_NO_KVM", "") not in ("", "0")


def kvm_problem() -> str | None:
    """None if KVM can be used here, else why not (one line)."""
    if kvm_hidden():
        return "/dev/kvm is missing (hidden by HVRACES_NO_KVM=1)"
    if lib is None:
        return IMPORT_ERROR
    if lib.hvr_kvm__check() < 0:
        return ffi.string(lib.hvr_error__last()).decode(errors="replace")
    return None


def require_kvm() -> None:
    """Raise RealMachineError unless KVM can be used."""
    problem = kvm_problem()
    if problem:
        raise RealMachineError(f"KVM is not available: {problem}")
