"""Lanes and rows: how the swimlane picture lays out and draws its parts.

A thread lane holds a mark per step at its foot and labels stacked above it;
a store-buffer lane holds one bar per buffered store. Labels and bars are
placed greedily in text lines so that nothing overlaps (``allocate``), and a
label that would run off the right edge is moved left. The rows under the
lanes give a watched cell's value in memory or a lock's holder.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from simulator.engine.trace import Trace
from simulator.viz.state import changes, thread_order
from simulator.viz.values import op_args, result_of, show

FONT = 7.5
UNIT_IN = 0.16  # one line of text
STEP_IN = 0.3  # one step along the x axis
LEFT_IN, RIGHT_IN, TOP_IN, BOTTOM_IN, GAP_IN = 1.8, 0.3, 0.7, 0.7, 0.22
CHAR_STEPS = 0.6 * FONT / 72 / STEP_IN  # an average character's width, in steps
ROW = 1.9  # height of one state row, in lines (room for a value label lifted over another)
LANE_COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
SB_COLOR = "#7f7f7f"
FATAL = "#d62728"
STALE = "#e8830c"  # a stale read that is not the fatal step

ATOMICS = ("cas", "swap", "fetch_or", "fetch_and", "fetch_add")
MEMORY_OPS = ("load", "store", "halt", *ATOMICS)
MARKS = {
    "load": ("o", "#1f77b4"), "store": ("s", "#ff7f0e"), "fence": ("d", "#9467bd"),
    **{a: ("D", "#d62728") for a in ATOMICS},
    "lock": ("^", "#2ca02c"), "cv_reacquire": ("^", "#2ca02c"), "rw_enter": ("^", "#2ca02c"),
    "rw_writer_wait": ("^", "#2ca02c"),
    "unlock": ("v", "#2ca02c"), "rw_exit": ("v", "#2ca02c"),
    "cv_wait": ("X", "#7f7f7f"), "cv_wait_sig": ("X", "#7f7f7f"), "sleep": ("X", "#7f7f7f"),
    "wakeup": ("P", "#7f7f7f"), "halt": ("H", "#8c564b"),
    "cv_signal": (">", "#17becf"), "cv_broadcast": (">", "#17becf"),
    "send_signal": (">", "#17becf"), "note": ("p", "#bcbd22"), "check": ("p", "#bcbd22"),
    "nudge": ("P", "#e377c2"),
}
LEGEND = (("load", "load"), ("store", "store"), ("swap", "locked op"), ("fence", "fence"),
          ("lock", "lock"), ("unlock", "unlock"), ("cv_wait", "wait / sleep"),
          ("wakeup", "woken"), ("halt", "halt ends"), ("cv_signal", "signal"),
          ("note", "note / check"))


# ------------------------------------------------------------------ labels
def op_text(s: dict) -> str:
    """A step's op in a few characters: ``used.idx → 1``, ``avail.flags := 0``;
    values written for their cells (``apic.ppr := 0x70``, ``pir[1] → {0x60}``)."""
    op, d, r = s.get("op", ""), s.get("detail", ""), s.get("result")
    if op == "load":
        text = f"{d} → {result_of(s)}"
    elif op == "store":
        addr, _, value = op_args(op, d).partition(", ")
        text = f"{addr} := {value}"
    elif op in ATOMICS or op == "halt":
        text = f"{op} {op_args(op, d)}" + ("" if r is None else f" → {result_of(s)}")
    elif op == "fence":
        text = "mfence"
    elif op in ("cv_wait", "cv_wait_sig", "cv_reacquire"):
        text = f"{op} {d.split(',')[0]}"
    else:
        text = f"{op} {d}".strip()
    return text if len(text) <= 36 else text[:35] + "…"


def _touched(s: dict) -> str | None:
    if s.get("op") not in MEMORY_OPS:
        return None
    return s.get("detail", "").split(", ")[0]


def _width(lines: list[str]) -> float:
    return max(len(t) for t in lines) * CHAR_STEPS


@dataclass
class Item:
    """Something to place in a lane: a label (and its marks) or a buffered store."""

    x0: float
    x1: float
    height: int
    slot: int = 0
    data: dict = field(default_factory=dict)


def allocate(items: list[Item]) -> int:
    """Stack items into text lines so that none overlaps; returns lines used."""
    ends: list[float] = []
    for it in sorted(items, key=lambda it: it.x0):
        s = 0
        while any(j < len(ends) and ends[j] > it.x0 for j in range(s, s + it.height)):
            s += 1
        it.slot = s
        while len(ends) < s + it.height:
            ends.append(float("-inf"))
        for j in range(s, s + it.height):
            ends[j] = it.x1
    return len(ends)


def _fit(x0: float, text_w: float, right: float) -> float:
    """Shift a label left so that it ends inside the picture (never clipped)."""
    return min(x0, right - text_w - 0.1)


def _thread_items(steps: list[dict], watched: set[str], special: set[int],
                  right: float) -> list[Item]:
    """Group a lane's steps: a run in one function shares a label; a step that
    touches a watched cell (or is fatal, or a stale read) gets its own, with its op."""
    items: list[Item] = []
    for s in steps:
        noted = (s["i"] in special or _touched(s) in watched
                 or s.get("op") in ("check", "note"))
        last = items[-1].data if items else None
        if (not noted and last and not last["noted"] and last["func"] == s["func"]
                and s["i"] - last["steps"][-1]["i"] <= 3):
            last["steps"].append(s)
            continue
        lines = [s["func"]] + ([op_text(s)] if noted else [])
        items.append(Item(0, 0, len(lines), data={"func": s["func"], "noted": noted,
                                                   "lines": lines, "steps": [s]}))
    for it in items:
        xs = [s["i"] for s in it.data["steps"]]
        text_w = _width(it.data["lines"])
        it.x0 = _fit(xs[0] - 0.25, text_w, right)
        it.x1 = max(xs[-1] + 0.45, it.x0 + text_w + 0.35)
    return items


def _buffer_items(stays, cpu: int, start: int, end: int, right: float) -> list[Item]:
    items = []
    for b in stays:
        last = b.left if b.left is not None else end
        if b.cpu != cpu or b.stored >= end or last < start:
            continue
        xs, xe = max(b.stored, start - 0.5), min(last, end - 0.4)
        label = f"{b.addr}={show(b.addr, b.value)}"
        x0 = _fit(xs - 0.1, _width([label]), right)
        items.append(Item(x0, max(xe + 0.45, x0 + _width([label]) + 0.3), 1,
                           data={"b": b, "xs": xs, "xe": xe, "label": label}))
    return items


# ------------------------------------------------------------------ lanes
@dataclass
class Lane:
    name: str
    label: str
    color: str
    items: list[Item]
    lines: int = 0
    y: float = 0.0  # bottom, in lines
    marks: list[dict] = field(default_factory=list)

    @property
    def height(self) -> float:
        # An empty lane keeps a line, so that two of them in a row do not
        # print their names on top of each other.
        return self.lines + (1.3 if self.marks else 1.0)


def lane_order(trace: Trace) -> list[tuple[str, int]]:
    """Threads grouped by CPU in the order the scenario starts them, each CPU's
    store buffer right under its threads, the outside world last."""
    cpu_of: dict[str, int] = {}
    for s in trace.steps:
        if s.get("op") != "drain":
            cpu_of.setdefault(s["thread"], s.get("cpu", -1))
    threads = [t for t in thread_order(trace) if t in cpu_of]
    cpus = sorted({c for c in cpu_of.values() if c >= 0})
    order: list[tuple[str, int]] = []
    for c in cpus:
        order += [(t, c) for t in threads if cpu_of[t] == c]
        if trace.memory_model != "sc":
            order.append((f"sb{c}", c))
    order += [(t, cpu_of[t]) for t in threads if cpu_of[t] < 0]
    return order


def build_lanes(trace, start, end, watched, special, stays, right) -> list[Lane]:
    shown = trace.steps[start:end]
    lanes = []
    order = thread_order(trace)  # colours follow the threads, not the lanes shown
    for name, cpu in lane_order(trace):
        if name.startswith("sb") and cpu >= 0 and name == f"sb{cpu}":
            items = _buffer_items(stays, cpu, start, end, right)
            lanes.append(Lane(name, f"cpu{cpu} store buffer", SB_COLOR, items))
        else:
            mine = [s for s in shown if s["thread"] == name]
            label = f"{name} · cpu{cpu}" if cpu >= 0 else name
            items = _thread_items(mine, watched, special, right)
            color = LANE_COLORS[order.index(name) % len(LANE_COLORS)]
            lanes.append(Lane(name, label, color, items, marks=mine))
    for lane in lanes:
        lane.lines = allocate(lane.items)
    y = 0.0
    for lane in reversed(lanes):
        lane.y = y
        y += lane.height
    return lanes


def draw_lane(ax, lane: Lane, fatal: int | None, stale: set[int]) -> None:
    base = lane.y + (1.0 if lane.marks else 0.2)  # bottom of the first text line
    if lane.marks:
        mark_y = lane.y + 0.5
        for s in lane.marks:
            shape, color = MARKS.get(s.get("op", ""), ("o", "#333"))
            big = s["i"] == fatal or s["i"] in stale
            edge = FATAL if s["i"] == fatal else STALE if big else "white"
            ax.plot(s["i"], mark_y, marker=shape, color=color, ms=7.5 if big else 5.5,
                    mec=edge, mew=1.6 if big else 0.5, zorder=4)
    for it in lane.items:
        y = base + it.slot
        if "b" in it.data:
            _draw_buffered(ax, it, y)
            continue
        xs = [s["i"] for s in it.data["steps"]]
        for x in xs:
            ax.plot([x, x], [lane.y + 0.72, y + 0.08], color="#bbb", lw=0.6, zorder=1)
        if len(xs) > 1:
            ax.plot([xs[0], xs[-1]], [y + 0.08, y + 0.08], color="#999", lw=0.8, zorder=1)
        red = any(s["i"] == fatal for s in it.data["steps"])
        orange = any(s["i"] in stale for s in it.data["steps"])
        ax.text(it.x0, y + 0.12, "\n".join(it.data["lines"]), fontsize=FONT, va="bottom",
                ha="left", linespacing=1.05, zorder=3,
                color=FATAL if red else STALE if orange else "#111",
                fontweight="bold" if red or orange else "normal",
                bbox={"fc": "white", "ec": "none", "alpha": 0.75, "pad": 0.4})


def _draw_buffered(ax, it: Item, y: float) -> None:
    b, xs, xe = it.data["b"], it.data["xs"], it.data["xe"]
    ax.plot([xs, xe], [y + 0.12, y + 0.12], color=SB_COLOR, lw=2.4, solid_capstyle="butt",
            zorder=2)
    if b.left is None:
        ax.plot(xe, y + 0.12, marker=">", color=FATAL, ms=5, zorder=3)
    else:
        ax.plot(xe, y + 0.12, marker="v", ms=5.5, zorder=3, color=SB_COLOR,
                mfc=SB_COLOR if b.how == "drain" else "white")
    ax.text(it.x0, y + 0.22, it.data["label"], fontsize=FONT, va="bottom", ha="left",
            color="#333", zorder=3)


# ------------------------------------------------------------------ state rows
def _who_color(trace: Trace, lanes: list[Lane], step: int) -> str:
    name = trace.steps[step]["thread"]
    for lane in lanes:
        if lane.name == name:
            return lane.color
    return SB_COLOR


def draw_cell_row(ax, trace, lanes, cell, y, start, end, initial) -> None:
    history = changes(trace, cell)
    before = [v for k, v in history if k < start]
    value = before[-1] if before else initial.get(cell, "?")
    ax.plot([start - 0.5, end - 0.5], [y, y], color="#ddd", lw=0.8, zorder=1)
    first = show(cell, value)
    ax.text(start - 0.45, y, first, fontsize=FONT, va="center", ha="left", color="#777",
            style="italic")
    # Two heights a value label may sit at; each keeps where its last label ended.
    bold = 1.15 * CHAR_STEPS  # a bold character is wider than the average
    ends = {0.0: start - 0.45 + len(first) * bold, 0.85: float("-inf")}
    for k, v in history:
        if not start <= k < end:
            continue
        x0 = k - 0.2
        text = show(cell, v)
        free = [h for h, e in ends.items() if x0 >= e + 0.1]
        lift = free[0] if free else min(ends, key=ends.__getitem__)
        color = _who_color(trace, lanes, k)
        ax.plot([k, k], [y - 0.45, y + 0.45 + lift], color=color, lw=0.8, zorder=1)
        ax.text(x0, y + lift, text, fontsize=FONT, va="center", ha="left", color="black",
                fontweight="bold", zorder=3,
                bbox={"fc": "white", "ec": color, "lw": 0.8, "pad": 0.6,
                      "boxstyle": "round,pad=0.15"})
        ends[lift] = x0 + len(text) * bold + 0.25


def _holder_text(v) -> str:
    if v is None or v == []:
        return ""
    return ", ".join(v) if isinstance(v, list) else str(v)


def draw_lock_row(ax, trace, lanes, key, y, start, end) -> None:
    history = changes(trace, key)
    # Before its first change the lock is held as that change found it: a
    # read hold taken before the run began is drawn from the start.
    holder = next((s["diff"][key][0] for s in trace.steps if key in s.get("diff", {})), None)
    spans, since = [], start - 0.5
    for k, v in history:
        if k >= end:
            break
        if k >= start:
            spans.append((since, k, holder))
            since = k
        holder = v
    spans.append((since, end - 0.5, holder))
    colors = {lane.name: lane.color for lane in lanes}
    ax.plot([start - 0.5, end - 0.5], [y, y], color="#ddd", lw=0.8, zorder=1)
    last_end = float("-inf")
    for x0, x1, who in spans:
        text = _holder_text(who)
        if not text:
            continue
        first = text.split(", ")[0]
        ax.fill_between([x0, x1], y - 0.3, y + 0.3, color=colors.get(first, SB_COLOR),
                        alpha=0.35, lw=0, zorder=1)
        if x0 + 0.1 >= last_end:
            ax.text(x0 + 0.1, y, text, fontsize=FONT, va="center", ha="left", zorder=3)
            last_end = x0 + 0.1 + len(text) * CHAR_STEPS + 0.2
