"""Packaging hooks: the native KVM backend (cffi) and the compiled explorer (Cython).

The KVM backend needs Linux, a C compiler and objcopy (binutils). Where they
are missing the package still installs; ``simulator.real`` then reports why
the native part is unavailable and its tests skip.

The explorer's hot path (``simulator/engine/compiled.py`` says which modules
and how) is compiled by Cython from the unchanged ``.py`` files and their
``.pxd`` declarations where Cython and a C compiler are at hand. Where they
are not, or the compilation fails, it stays Python: the same results, slower.
The build then writes the digest of the sources it compiled, so that a ``.py``
edited afterwards is run as Python until the next build (``make compile``).
``HVR_PURE=1`` at install time skips the compilation.
"""
import json
import os
import runpy
import shutil
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
ENGINE = os.path.join("simulator", "engine")
# Read by path: importing the package here would need its dependencies.
compiled = runpy.run_path(os.path.join(HERE, ENGINE, "compiled.py"))


def have_compiler() -> bool:
    return bool(shutil.which("gcc") or shutil.which("cc"))


def native_build() -> dict:
    tools = ["objcopy"]
    if sys.platform != "linux":
        reason = "not Linux"
    elif not have_compiler():
        reason = "no C compiler"
    elif not all(shutil.which(t) for t in tools):
        reason = "objcopy is missing"
    else:
        return {"cffi_modules": ["native/build_native.py:ffibuilder"]}
    print(f"hypervisor-races: skipping the native KVM backend ({reason})", file=sys.stderr)
    return {}


def engine_build() -> dict:
    if os.environ.get(compiled["PURE_ENV"]):
        reason = f"{compiled['PURE_ENV']} is set"
    elif not have_compiler():
        reason = "no C compiler"
    else:
        try:
            from Cython.Build import cythonize
        except ImportError:
            reason = "Cython is not installed"
        else:
            sources = [os.path.join(ENGINE, m + ".py") for m in compiled["MODULES"]]
            # Typing comes from the .pxd files alone: the .py files' annotations
            # document, they do not make Cython check or convert arguments.
            directives = {"language_level": 3, "annotation_typing": False}
            try:
                exts = cythonize(sources, build_dir=os.path.join("build", "cython"),
                                 quiet=True, compiler_directives=directives)
            except Exception as exc:  # a Cython that cannot translate them: stay Python
                reason = f"Cython failed: {exc}"
            else:
                return {"ext_modules": exts}
    print(f"hypervisor-races: the explorer stays pure Python ({reason})", file=sys.stderr)
    return {}


class BuildExt(build_ext):
    """Builds every extension; if an engine module fails to compile, the engine
    stays Python. Then the manifest: the digest of the engine's sources as built."""

    def run(self):
        self.engine_failed = []
        self.engine_built = []
        super().run()  # builds, and for an editable install copies beside the sources
        if not self.engine_built:
            return
        where = {os.path.dirname(self.get_ext_fullpath(f"{compiled['PACKAGE']}.{m}"))
                 for m in self.engine_built}
        if self.inplace or getattr(self, "editable_mode", False):
            where.add(os.path.join(HERE, ENGINE))
        digest = None if self.engine_failed else compiled["sources_digest"](
            os.path.join(HERE, ENGINE))
        for d in where:
            _write_manifest(os.path.join(d, compiled["MANIFEST"]), digest)

    def build_extension(self, ext):
        package, _, module = ext.name.rpartition(".")
        if package != compiled["PACKAGE"]:
            return super().build_extension(ext)
        try:
            super().build_extension(ext)
        except Exception as exc:  # a compiler error: the .py files run instead
            print(f"hypervisor-races: {ext.name} did not compile, the explorer stays pure "
                  f"Python ({exc})", file=sys.stderr)
            self.engine_failed.append(module)
        else:
            self.engine_built.append(module)


def _write_manifest(path: str, digest: str | None) -> None:
    """The sources' digest, or none (an engine module failed: use none of them)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"digest": digest}, f)
        f.write("\n")


setup(cmdclass={"build_ext": BuildExt}, **native_build(), **engine_build())
