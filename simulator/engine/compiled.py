"""The explorer's hot path, compiled by Cython, and the guard against a stale build.

Every explored state goes through a few modules (``MODULES``): the machine's
step, the memory models, the state key and snapshots, footprints and the
search loop. Where Cython and a C compiler are at hand, the install
(``setup.py``) compiles them into extension modules beside their ``.py``
files. The ``.py`` files stay the source: Cython compiles them as they are,
and the ``.pxd`` file beside each (Cython's "augmenting" declarations) makes the
machine, its threads and its memory extension types with C fields. Where
nothing was compiled, the same ``.py`` files run as Python, with the same
results, more slowly.

Python would import an extension module in preference to the ``.py`` of the
same name, even one built before the ``.py`` was edited. So the build writes
``MANIFEST``: a digest of every ``.py`` and ``.pxd`` of ``MODULES`` as they were
compiled. ``install()``, which ``simulator.engine`` runs before any of them is
imported, lets the extensions be used only while that digest matches the
sources as they are now; otherwise every one of them is imported from its
``.py`` (all or none: a compiled module relies on the others' C layouts), and
``status()`` says why. ``HVR_PURE=1`` in the environment runs them as Python
on purpose (to compare, to debug, to profile line by line).

Rebuild after editing one of them: ``make compile`` (``make test`` and
``make lab`` do it when a source changed).

This module must not import the rest of the package: ``setup.py`` reads it by
path, before anything is installed.
"""
from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys

PACKAGE = "simulator.engine"
MODULES = ("machine", "memory", "snapshot", "footprint", "explore")
MANIFEST = "compiled.json"  # {"digest": sources_digest() at the build}
PURE_ENV = "HVR_PURE"
HERE = os.path.dirname(os.path.abspath(__file__))


def sources_digest(where: str = HERE) -> str:
    """SHA-256 over each module's ``.py`` and ``.pxd`` in ``where``, in order."""
    h = hashlib.sha256()
    for module in MODULES:
        for suffix in (".py", ".pxd"):
            path = os.path.join(where, module + suffix)
            h.update(f"{module}{suffix}\0".encode())
            if os.path.exists(path):
                with open(path, "rb") as f:
                    h.update(f.read())
            h.update(b"\0")
    return h.hexdigest()


def extension(module: str, where: str = HERE) -> str | None:
    """The compiled module's file beside its ``.py``, if there is one."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(where, module + suffix)
        if os.path.exists(path):
            return path
    return None


def decide(where: str = HERE, environ=os.environ) -> str | None:
    """None if the compiled modules may be used, else why they may not."""
    if environ.get(PURE_ENV):
        return f"{PURE_ENV} is set"
    built = [m for m in MODULES if extension(m, where) is not None]
    if not built:
        return "not compiled (no Cython or no C compiler at install time)"
    if len(built) < len(MODULES):
        missing = ", ".join(m for m in MODULES if m not in built)
        return f"only partly compiled ({missing} missing): run make compile"
    try:
        with open(os.path.join(where, MANIFEST)) as f:
            digest = json.load(f).get("digest")
    except (OSError, ValueError, AttributeError):
        digest = None
    if digest != sources_digest(where):
        return "the compiled modules are older than their sources: run make compile"
    return None


class _FromSource:
    """A finder on ``sys.meta_path`` (one needs only ``find_spec``; importlib.abc
    would cost a tenth of the package's import time): imports each of ``MODULES``
    from its ``.py``, passing over the extension."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, module = fullname.rpartition(".")
        if package != PACKAGE or module not in MODULES:
            return None
        return importlib.util.spec_from_file_location(fullname, os.path.join(HERE, module + ".py"))


_why_not: str | None = None
_installed = False


def install() -> None:
    """Decide once per process, before the first of ``MODULES`` is imported."""
    global _why_not, _installed
    if _installed:
        return
    _installed = True
    _why_not = decide()
    if _why_not is not None:
        sys.meta_path.insert(0, _FromSource())


def status() -> str:
    """How the hot path runs in this process: "compiled", or "Python (why)"."""
    install()
    return "compiled" if _why_not is None else f"Python ({_why_not})"
