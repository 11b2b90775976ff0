"""Reading a file a person hands us (a trace, a litmus test): bounded, checked, one line
when wrong.

Only a regular file is read: a FIFO could block forever and ``/dev/zero``
never ends. At most ``limit`` bytes are read, and the text must be UTF-8.
JSON is read strictly: integers of at most ``MAX_DIGITS`` digits, no
``NaN``/``Infinity``, no key twice in one object, no nesting deeper than the
interpreter's recursion limit, and fractions only where the caller allows
them. Every refusal is a ``UsageError`` naming the file.
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from simulator.errors import UsageError

MAX_DIGITS = 40  # wider than any 128-bit value; int() of longer strings only costs time


class _Refused(ValueError):
    """A JSON value the strict reader does not take (raised from the parser's hooks)."""


def read_text(path: str | Path, what: str, limit: int) -> str:
    """The UTF-8 text of the regular file ``path``, at most ``limit`` bytes.
    ``what`` names the kind of file in error messages ("trace", "litmus file")."""
    name = os.fspath(path)
    if not name:
        raise UsageError(f"{what}: the file name is empty")
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not block; reads of a
        # regular file ignore it.
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise UsageError(f"cannot read {what} {name}: {exc.strerror or exc}") from None
    except ValueError:  # a NUL byte in the name
        raise UsageError(f"cannot read {what} {name!r}: not a valid file name") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise UsageError(f"cannot read {what} {name}: it is {kind}")
    with os.fdopen(fd, "rb") as f:
        if st.st_size > limit:
            raise UsageError(f"{what} {name} is {st.st_size} bytes, more than the "
                             f"{limit} a {what} may have")
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise UsageError(f"cannot read {what} {name}: {exc.strerror or exc}") from None
    if len(data) > limit:  # it grew while we looked, or /proc lied about its size
        raise UsageError(f"{what} {name} is more than the {limit} bytes a {what} may have")
    return decode(data, f"{what} {name}")


def decode(data: bytes, where: str) -> str:
    """``data`` as UTF-8 text (a leading byte-order mark is dropped)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageError(f"{where}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line "
                         f"{line})") from None


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise _Refused(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_DIGITS})")
    return int(text)


def _no_float(text: str) -> float:
    raise _Refused(f"the number {text[:20]} (only integers are allowed)")


def _no_constant(text: str) -> float:
    raise _Refused(f"{text} (not a JSON number)")


def _pairs(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"the key {key[:40]!r} twice in one object")
        out[key] = value
    return out


def parse_json(text: str, where: str, *, floats: bool = False) -> object:
    """Parse ``text`` strictly (see the module docstring); ``where`` prefixes errors."""
    try:
        return json.loads(text, parse_int=_int, parse_constant=_no_constant,
                          parse_float=float if floats else _no_float,
                          object_pairs_hook=_pairs)
    except _Refused as exc:
        raise UsageError(f"{where}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise UsageError(f"{where}: JSON nested too deeply") from None


def load_json(path: str | Path, what: str, limit: int, *, floats: bool = False) -> object:
    """Read and parse the JSON file ``path`` (see ``read_text`` and ``parse_json``)."""
    return parse_json(read_text(path, what, limit), f"{what} {os.fspath(path)}", floats=floats)
