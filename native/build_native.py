"""Build the native KVM backend: assemble the guests, compile the C, wrap it with cffi.

setup.py names ``native/build_native.py:ffibuilder`` in ``cffi_modules``, so
``pip install -e .`` runs this file and compiles the extension
``simulator.real._hvr``. Importing it does the work cffi cannot do itself:

1. each ``guests/*.S`` is assembled with the C compiler (the ``HVR_*``
   constants of ``hvr.h`` are passed as ``-D`` options) and cut to a flat
   binary with ``objcopy``; the bytes become arrays in ``build/guests.c``;
2. every ``*.c`` here is compiled with ``-Wall -Wextra -Werror`` into
   ``build/``; cffi links those objects into its own module, which it
   compiles with its usual flags.

Run it directly (``python native/build_native.py``) to build in place.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sysconfig
from pathlib import Path

from cffi import FFI

NATIVE = Path(__file__).resolve().parent
BUILD = NATIVE / "build"
GUESTS = ["io_loop", "apic_lab", "virtio_race", "ioapic_write"]
SOURCES = ["error.c", "vm.c", "vcpu.c", "bench.c", "litmus.c", "race.c", "signals.c",
           "wakeup.c", "rendezvous.c"]
CFLAGS = ["-std=gnu11", "-D_GNU_SOURCE", "-O2", "-fPIC", "-pthread",
          "-Wall", "-Wextra", "-Werror"]
CALLBACK = 'extern "Python" int hvr_py_io(void *, uint16_t, int, uint32_t *);'


def _compiler() -> list[str]:
    return shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr}")


def header() -> str:
    return (NATIVE / "hvr.h").read_text()


def constants() -> dict[str, str]:
    """The ``#define HVR_NAME value`` lines of hvr.h, shared with the guests."""
    pattern = re.compile(r"^#define\s+(HVR_\w+)\s+(0x[0-9a-fA-F]+|\d+)", re.M)
    return dict(pattern.findall(header()))


def _stale(target: Path, *sources: Path) -> bool:
    return not target.exists() or any(s.stat().st_mtime > target.stat().st_mtime
                                      for s in sources)


def assemble(name: str) -> bytes:
    source = NATIVE / "guests" / f"{name}.S"
    obj, flat = BUILD / f"{name}.o", BUILD / f"{name}.bin"
    inputs = (source, NATIVE / "guests" / "guest.inc", NATIVE / "hvr.h")
    if _stale(flat, *inputs):
        defines = [f"-D{k}={v}" for k, v in constants().items()]
        _run([*_compiler(), *defines, "-I", str(NATIVE / "guests"), "-c", str(source),
              "-o", str(obj)])
        _run(["objcopy", "-O", "binary", "-j", ".text", str(obj), str(flat)])
    return flat.read_bytes()


def write_guest_table() -> Path:
    """build/guests.c: every guest as a byte array, found by name."""
    lines = ['#include <errno.h>', '#include <string.h>', '#include "internal.h"', ""]
    for name in GUESTS:
        data = assemble(name)
        body = ",".join(str(b) for b in data)
        lines.append(f"static const uint8_t guest_{name}[] = {{{body}}};")
    lines += ["", "static const struct { const char *name; const uint8_t *code; size_t len; }",
              "guests[] = {"]
    lines += [f'\t{{ "{n}", guest_{n}, sizeof(guest_{n}) }},' for n in GUESTS]
    lines += ["};", "",
              "int hvr_guest__find(const char *name, const uint8_t **code, size_t *len)",
              "{", "\tsize_t i;", "",
              "\tfor (i = 0; i < sizeof(guests) / sizeof(guests[0]); i++)",
              "\t\tif (!strcmp(guests[i].name, name)) {",
              "\t\t\t*code = guests[i].code;", "\t\t\t*len = guests[i].len;",
              "\t\t\treturn 0;", "\t\t}",
              '\treturn hvr_error__set(ENOENT, "no guest called \'%s\'", name);', "}", ""]
    path = BUILD / "guests.c"
    text = "\n".join(lines)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def compile_objects() -> list[str]:
    BUILD.mkdir(exist_ok=True)
    sources = [NATIVE / s for s in SOURCES] + [write_guest_table()]
    headers = (NATIVE / "hvr.h", NATIVE / "internal.h")
    objects = []
    for source in sources:
        obj = BUILD / (source.stem + ".native.o")
        if _stale(obj, source, *headers):
            _run([*_compiler(), *CFLAGS, "-I", str(NATIVE), "-c", str(source), "-o", str(obj)])
        objects.append(str(obj))
    return objects


ffibuilder = FFI()
ffibuilder.cdef(header() + "\n" + CALLBACK)
ffibuilder.set_source(
    "simulator.real._hvr",
    "#include <stddef.h>\n#include <stdint.h>\n#include \"hvr.h\"\n",
    include_dirs=[str(NATIVE)],
    extra_objects=compile_objects(),
    libraries=["pthread"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(NATIVE.parent), verbose=False)
