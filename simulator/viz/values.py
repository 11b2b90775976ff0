"""How a cell's value is written for a person: vectors and priorities in hex, a
PIR word as the set of vectors it holds, a vCPU's state by name.

The engine keeps plain integers; the pictures, the stepper and the game write
them the way the chapters' prose and the Intel SDM do. A cell is recognised by
its name (``apic.ppr``, ``pir[3]``, ``vcpu0.state``), so any scenario that uses
the same names gets the same treatment. ``show(cell, value)`` is the one entry
point; ``op_args`` rewrites a step's arguments the same way.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from simulator import scenarios
from simulator.engine.clock import duration
from simulator.errors import UsageError

# vCPU states, as simulator.models.vcpu numbers them (kept here so the pictures do
# not import a model).
VCPU_STATES = {0: "IDLE", 1: "FROZEN", 2: "RUNNING", 3: "SLEEPING"}
ON = 0x1  # bit 0 of a posted-interrupt descriptor's 'pending' word


def shown_params(scenario: str, params: dict) -> str:
    """A run's parameters as ``k=v`` words, each written the way its scenario
    declares it (a duration as ``35 s``, a vector in hex); raw for an unknown
    scenario or parameter."""
    try:
        shown = {p.name: p.show for p in scenarios.get(scenario).params}
    except UsageError:
        shown = {}
    return " ".join(f"{k}={shown[k](v) if k in shown else v}" for k, v in params.items())


def hex2(value: int) -> str:
    """A vector, TPR or PPR: ``0x70``."""
    return f"{value:#04x}"


def pir_word(index: int) -> Callable[[int], str]:
    """``pir[i]`` holds vectors 64*i .. 64*i+63: written as the set of them."""
    def show(value: int) -> str:
        vecs = [64 * index + b for b in range(64) if value >> b & 1]
        return "{" + ", ".join(hex2(v) for v in vecs) + "}"
    return show


def pending_word(value: int) -> str:
    """``pending``: ON (bit 0) and, in c713610's form, one bit per priority class
    above it. ``0x2041`` reads ``ON+{6,d}``; the raw word stays in hex."""
    classes = [c for c in range(1, 16) if value >> c & 1]
    parts = (["ON"] if value & ON else []) + (
        ["{" + ",".join(f"{c:x}" for c in classes) + "}"] if classes else [])
    return "+".join(parts) or "0"


def prio_bits(value: int) -> str:
    """``pending_prio``: one bit per priority class, as the set of classes."""
    classes = [c for c in range(16) if value >> c & 1]
    return "{" + ",".join(f"{c:x}" for c in classes) + "}"


# block_if (hyperkit #94): be_status and be_op by name, a queue cell as its
# elements (``21`` holds be2, then be1), a sig elem pointer as NULL or its address.
BLOCKIF_STATUS = {0: "FREE", 1: "BLOCK", 2: "PEND", 3: "BUSY", 4: "DONE"}
BLOCKIF_OP = {0: "READ", 1: "WRITE", 2: "FLUSH", 3: "DELETE"}


def blockif_queue(value: int) -> str:
    return "[" + ", ".join(f"be{d}" for d in str(value)) + "]" if value else "[]"


def sig_elem_ptr(value: int) -> str:
    return "NULL" if value == 0 else f"bse@{value}"


# (pattern over the cell name, how to write its value); the first match wins.
RULES: list[tuple[re.Pattern, Callable[[re.Match], Callable[[int], str]]]] = [
    (re.compile(r"^be\d+\.status$"), lambda _m: BLOCKIF_STATUS.get),
    (re.compile(r"^be\d+\.op$"), lambda _m: BLOCKIF_OP.get),
    (re.compile(r"^bc_(freeq|pendq|busyq)$"), lambda _m: blockif_queue),
    (re.compile(r"^(blockif_bse_head|bse\w*\.next)$"), lambda _m: sig_elem_ptr),
    (re.compile(r"^bse\w*\.pending$"), lambda _m: str),
    (re.compile(r"^p\.(ci|iobhd)$"), lambda _m: hex),
    (re.compile(r"(^|\.)(tpr|ppr|lvt_timer)$"), lambda _m: hex2),
    (re.compile(r"^pir\[(\d)\]$"), lambda m: pir_word(int(m.group(1)))),
    (re.compile(r"\.pending$"), lambda _m: pending_word),
    (re.compile(r"\.pending_prio$"), lambda _m: prio_bits),
    (re.compile(r"^vcpu\d+\.state$"), lambda _m: VCPU_STATES.get),
    (re.compile(r"^cpu\d+\.ipi$"), lambda _m: hex),
    (re.compile(r"irr\[0x[0-9a-f]+\]$"), lambda _m: str),
]
_CACHE: dict[str, Callable[[int], str] | None] = {}


def writer(cell: str) -> Callable[[int], str] | None:
    """The way ``cell``'s values are written, or None for a plain number."""
    if cell not in _CACHE:
        _CACHE[cell] = next((make(m) for pat, make in RULES if (m := pat.search(cell))), None)
    return _CACHE[cell]


def show(cell: str, value) -> str:
    """``value`` of ``cell`` as the chapters write it (hex, vector sets, names)."""
    w = writer(cell)
    if w is None or not isinstance(value, int) or isinstance(value, bool):
        return str(value)
    return w(value) or str(value)


def op_args(op: str, detail: str) -> str:
    """A step's ``detail`` with its numbers written for its cell: ``store`` and
    the atomics name the cell first (``pir.pending, 0, 65`` → ``pir.pending,
    0, ON+{6}``); a ``halt``'s condition too (``be1.status != BUSY``); a sleep's
    or a timer's nanoseconds in a unit that reads (``30000000000 ns`` → ``30 s``)."""
    if op in ("sleep", "wakeup"):
        return re.sub(r"\b(\d+) ns\b", lambda n: duration(int(n.group(1))), detail)
    if op == "halt":
        cell, sep, value = detail.partition(" != ")
        if sep and writer(cell) is not None and value.lstrip("-").isdigit():
            return f"{cell} != {show(cell, int(value))}"
        return detail
    if op not in ("store", "cas", "swap", "fetch_or"):  # fetch_and's mask stays a mask
        return detail
    cell, *rest = detail.split(", ")
    if writer(cell) is None:
        return detail
    out = []
    for arg in rest:
        try:
            out.append(show(cell, int(arg, 0)))
        except ValueError:
            out.append(arg)
    return ", ".join([cell, *out])


def result_of(s: dict) -> str:
    """What a step's load or atomic returned, written for its cell."""
    r = s.get("result")
    if r is None:
        return ""
    cell = s.get("detail", "").split(", ")[0].split(" != ")[0]  # a halt's is "cell != v"
    return show(cell, r) if s.get("op") in ("load", "cas", "swap", "fetch_or", "fetch_and",
                                           "halt") else str(r)


def step_line(s: dict, timed: bool = True) -> str:
    """A step as a dtrace-style line, values written for their cells; the time
    column only when the run was timed (untimed runs have no clock)."""
    res = result_of(s)
    cpu = f"cpu{s['cpu']}" if s.get("cpu", -1) >= 0 else "-"
    head = f"{s.get('t_ns', 0):>12} " if timed else ""
    return (f"{head}{s['thread']:<9} {cpu:<5} {s['func']}:{s['op']}"
            f"({op_args(s.get('op', ''), s.get('detail', ''))})" + (f" = {res}" if res else ""))
