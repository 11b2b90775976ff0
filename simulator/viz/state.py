"""What a trace says about shared state, step by step — the plumbing under the pictures.

A trace's ``steps`` carry a ``diff`` each (``{cell: [old, new]}``, plus
``sb.cpuN`` for a store buffer's contents and ``mutex.X`` / ``rwlock.X`` for
lock holders). From those alone this module rebuilds what the timeline draws:
which cells change, what each store buffer held and for how long, who held
each lock, and which loads read a stale value. The stepper and the game show a
Machine's ``snapshot()`` as text or HTML with ``state_text`` / ``state_html``.
"""
from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass

from simulator import scenarios
from simulator.engine.trace import Trace
from simulator.errors import UsageError
from simulator.viz.values import show

# The cells each chapter watches under its swimlanes, by scenario name.
WATCH: dict[str, tuple[str, ...]] = {
    "virtio-barriers": ("used.idx", "avail.flags", "used_event", "lapic.irr[0x62]"),
    "pir-wakeup": ("vcpu0.state", "apic.ppr", "pir.pending", "pir[1]", "pir[3]"),
    "blockif-cancel": ("be1.status", "blockif_bse_head", "bse.pending", "kq.SIGCONT"),
}
_NOT_CELLS = ("sb.", "mutex.", "rwlock.")


def is_cell(key: str) -> bool:
    """Is this diff key a memory cell (not a store buffer or a lock)?"""
    return not key.startswith(_NOT_CELLS)


def watched_cells(trace: Trace, cells: list[str] | None = None, most: int = 4) -> list[str]:
    """The cells to draw under the lanes: ``cells`` if given, else the scenario's
    list in ``WATCH``, else the ``most`` cells the trace changes most often."""
    if cells is not None:
        return list(cells)
    if trace.scenario in WATCH:
        return list(WATCH[trace.scenario])
    counts: Counter = Counter()
    first: dict[str, int] = {}
    for s in trace.steps:
        for key in s.get("diff", {}):
            if is_cell(key):
                counts[key] += 1
                first.setdefault(key, s["i"])
    top = sorted(counts, key=lambda k: (-counts[k], k))[:most]
    return sorted(top, key=first.__getitem__)


def initial_machine(trace: Trace):
    """A fresh machine of the trace's scenario (its initial state), or None when
    the scenario cannot be built here (unknown name, a variant given as a class)."""
    try:
        sc = scenarios.get(trace.scenario)
        variant = trace.variant if trace.variant in sc.variants else "buggy"
        return sc.machine(variant, trace.params, memory_model=trace.memory_model,
                          timed=trace.mode == "timed")
    except (UsageError, KeyError, TypeError, ValueError):
        return None


def thread_order(trace: Trace) -> list[str]:
    """The threads in the order the scenario starts them, then any the trace
    adds later (a nudge's thread), in order of first appearance."""
    m = initial_machine(trace)
    names = dict.fromkeys(t.name for t in m.threads) if m is not None else {}
    for s in trace.steps:
        if s.get("op") != "drain":
            names.setdefault(s["thread"])
    return list(names)


def initial_memory(trace: Trace) -> dict[str, int]:
    """Memory before the first step: the scenario's initial cells when it can be
    built, corrected by the ``old`` side of each cell's first diff."""
    m = initial_machine(trace)
    mem: dict[str, int] = dict(m.memory.cells) if m is not None else {}
    seen: set[str] = set()
    for s in trace.steps:
        for key, (old, _new) in s.get("diff", {}).items():
            if is_cell(key) and key not in seen:
                seen.add(key)
                mem[key] = old
    return mem


@dataclass(frozen=True)
class Buffered:
    """One store's stay in a store buffer: entered at step ``stored`` (by a thread
    on ``cpu``), reached memory at step ``left`` (None: still buffered at the end),
    by an explicit drain action or flushed by a fence or locked op (``how``)."""

    cpu: int
    addr: str
    value: int
    stored: int
    left: int | None
    how: str  # "drain" | "flush" | "pending"


@dataclass(frozen=True)
class StaleRead:
    """A load that missed a newer store still waiting in another CPU's buffer."""

    step: int
    thread: str
    func: str
    addr: str
    got: int | None
    cpu: int
    newer: int


def _sb_cpu(key: str) -> int:
    return int(key[len("sb.cpu"):])


def buffer_history(trace: Trace) -> tuple[list[Buffered], list[StaleRead]]:
    """Every store's stay in a store buffer, and every stale read, from the diffs.

    Buffers are FIFO, so a step that shrinks CPU c's buffer by n moved its n
    oldest entries to memory. A load by a thread on CPU c of cell a is stale
    when, just before it, another CPU's buffer held a store to a.
    """
    queues: dict[int, list[tuple[int, str, int]]] = {}
    stays: list[Buffered] = []
    stale: list[StaleRead] = []
    for s in trace.steps:
        k = s["i"]
        if s.get("op") == "load" and not s["thread"].startswith("sb"):
            for cpu, q in queues.items():
                newer = [v for (_, a, v) in q if a == s["detail"]]
                if cpu != s.get("cpu") and newer and newer[-1] != s.get("result"):
                    stale.append(StaleRead(k, s["thread"], s["func"], s["detail"],
                                           s.get("result"), cpu, newer[-1]))
        for key, (old, new) in s.get("diff", {}).items():
            if not key.startswith("sb."):
                continue
            cpu = _sb_cpu(key)
            q = queues.setdefault(cpu, [])
            added = 1 if s.get("op") == "store" and s.get("cpu") == cpu else 0
            removed = len(old or []) + added - len(new or [])
            how = "drain" if s.get("op") == "drain" else "flush"
            for stored, addr, value in q[:removed]:
                stays.append(Buffered(cpu, addr, value, stored, k, how))
            del q[:removed]
            if added:
                addr, value = new[-1]
                q.append((k, addr, value))
    for cpu, q in queues.items():
        stays += [Buffered(cpu, a, v, stored, None, "pending") for stored, a, v in q]
    stays.sort(key=lambda b: (b.cpu, b.stored))
    return stays, stale


def changes(trace: Trace, key: str) -> list[tuple[int, object]]:
    """``(step, new value)`` for every step that changed ``key`` (a cell or a lock)."""
    return [(s["i"], s["diff"][key][1]) for s in trace.steps if key in s.get("diff", {})]


def lock_names(trace: Trace) -> list[str]:
    """The ``mutex.X`` and ``rwlock.X`` keys the trace touches, in order of first use."""
    seen: dict[str, None] = {}
    for s in trace.steps:
        for key in s.get("diff", {}):
            if key.startswith(("mutex.", "rwlock.")):
                seen.setdefault(key, None)
    return list(seen)


# ------------------------------------------------------------------ snapshots
def visible(snap: dict, cpu: str, addr: str) -> int:
    """What ``cpu`` ("cpu0") would read from ``addr`` in this snapshot."""
    return snap["views"].get(cpu, {}).get(addr, snap["memory"][addr])


def shown_cells(snap: dict, initial: dict[str, int], cells: list[str]) -> list[str]:
    """The cells worth a row: the watched ones, any that changed, any in a buffer."""
    out = dict.fromkeys(c for c in cells if c in snap["memory"])
    for addr, value in snap["memory"].items():
        if initial.get(addr) != value:
            out.setdefault(addr)
    for buf in snap["store_buffers"].values():
        for addr, _ in buf:
            out.setdefault(addr)
    return list(out)


def _viewers(snap: dict) -> list[str]:
    """The CPUs whose own view of memory is worth a column and whose store buffer
    a line: all of them under TSO, none under sequential consistency (where
    each would only repeat memory and an empty buffer)."""
    return list(snap["store_buffers"]) if snap.get("buffered", True) else []


def state_text(snap: dict, initial: dict[str, int] | None = None,
               cells: list[str] | None = None) -> str:
    """A snapshot as plain text: memory as each CPU sees it, store buffers, locks,
    waiters and threads."""
    initial = initial if initial is not None else snap["memory"]
    cpus = _viewers(snap)
    rows = shown_cells(snap, initial, cells or [])
    width = max([len(r) for r in rows] + [6])
    # "" is no CPU: visible() then gives memory itself
    col = max([8] + [len(show(a, visible(snap, c, a))) for a in rows for c in ("", *cpus)])
    lines = [f"{'cell':<{width}}  {'memory':>{col}}" +
             "".join(f"  {c + ' sees':>{col}}" for c in cpus)]
    for addr in rows:
        seen = "".join(f"  {show(addr, visible(snap, c, addr)):>{col}}" for c in cpus)
        lines.append(f"{addr:<{width}}  {show(addr, snap['memory'][addr]):>{col}}{seen}")
    for cpu in cpus:
        entries = ", ".join(f"{a}={show(a, v)}" for a, v in snap["store_buffers"][cpu]) or "empty"
        lines.append(f"store buffer {cpu} (oldest first): {entries}")
    for name, owner in snap["mutexes"].items():
        lines.append(f"mutex {name}: {owner or 'free'}")
    for name, holders in snap["rwlocks"].items():
        lines.append(f"rwlock {name}: {', '.join(holders) or 'free'}")
    for name, waiters in snap["cv_waiters"].items():
        if waiters:
            lines.append(f"cv {name} waiters: {', '.join(waiters)}")
    for name, what in snap["threads"].items():
        lines.append(f"thread {name}: {what}")
    if snap["timers"]:
        lines.append(f"timers armed: {', '.join(snap['timers'])}")
    return "\n".join(lines)


def state_html(snap: dict, initial: dict[str, int] | None = None,
               cells: list[str] | None = None) -> str:
    """The same as ``state_text``, as a small HTML table and lists for a widget.
    A value a CPU sees that differs from memory is shown in bold red."""
    e = html.escape
    initial = initial if initial is not None else snap["memory"]
    cpus = _viewers(snap)
    cell = "style='padding:1px 10px;text-align:right;border-bottom:1px solid #eee'"
    head = "".join(f"<th {cell}>{e(c)} sees</th>" for c in cpus)
    body = []
    for addr in shown_cells(snap, initial, cells or []):
        mem = snap["memory"][addr]
        tds = []
        for c in cpus:
            v = visible(snap, c, addr)
            style = ";color:#c00;font-weight:bold" if v != mem else ""
            tds.append(f"<td {cell[:-1]}{style}'>{e(show(addr, v))}</td>")
        body.append(f"<tr><td {cell[:-1]};text-align:left'><code>{e(addr)}</code></td>"
                    f"<td {cell}>{e(show(addr, mem))}</td>{''.join(tds)}</tr>")
    parts = [f"<table style='border-collapse:collapse;margin:4px 0'><tr>"
             f"<th {cell[:-1]};text-align:left'>cell</th><th {cell}>memory</th>{head}</tr>"
             f"{''.join(body)}</table>"]
    items = []
    for cpu in cpus:
        entries = ", ".join(f"{a}={show(a, v)}" for a, v in snap["store_buffers"][cpu]) or "empty"
        items.append(f"store buffer {cpu}: {e(entries)}")
    items += [f"mutex {e(n)}: {e(o or 'free')}" for n, o in snap["mutexes"].items()]
    items += [f"rwlock {e(n)}: {e(', '.join(h) or 'free')}" for n, h in snap["rwlocks"].items()]
    items += [f"cv {e(n)} waiters: {e(', '.join(w))}"
              for n, w in snap["cv_waiters"].items() if w]
    items += [f"<b>{e(n)}</b>: {e(w)}" for n, w in snap["threads"].items()]
    if snap["timers"]:
        items.append(f"timers armed: {e(', '.join(snap['timers']))}")
    parts.append("<ul style='margin:0'>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
    return "<div style='font-size:12px'>" + "".join(parts) + "</div>"
