"""Packaging hook for the native KVM backend: cffi builds it during install.

The extension needs Linux, a C compiler and objcopy (binutils). Where they
are missing the package still installs; ``simulator.real`` then reports why
the native part is unavailable and its tests skip.
"""
import shutil
import sys

from setuptools import setup


def native_build() -> dict:
    tools = ["objcopy"]
    if sys.platform != "linux":
        reason = "not Linux"
    elif not (shutil.which("gcc") or shutil.which("cc")):
        reason = "no C compiler"
    elif not all(shutil.which(t) for t in tools):
        reason = "objcopy is missing"
    else:
        return {"cffi_modules": ["native/build_native.py:ffibuilder"]}
    print(f"hypervisor-races: skipping the native KVM backend ({reason})", file=sys.stderr)
    return {}


setup(**native_build())
