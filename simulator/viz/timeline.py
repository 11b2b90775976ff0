"""Swimlanes: a trace drawn as one lane per thread and per store buffer.

Each step is a mark on its thread's lane, labelled with the real function it
stands for; a run of steps in the same function shares one label. Steps that
touch a watched cell carry what they read or wrote (``used.idx → 1``,
``avail.flags := 0``). A store-buffer lane shows every store waiting in that
CPU's buffer as a bar, from the step that stored it to the step it reached
memory (a filled end: drained on its own; a hollow end: flushed by a fence or a
locked op; an arrow: still waiting when the run ended). Under the lanes, one row
per watched cell gives its value in memory, and one row per lock its holder.
The fatal step (see ``fatal_step``) is marked in red, other stale reads (a
load that missed a store still in another CPU's buffer) in orange.

Long traces are drawn in windows of ``WINDOW`` steps (``start=`` picks one).
Only matplotlib's object API is used, so nothing depends on pyplot state and
the figure renders headless.
"""
from __future__ import annotations

import textwrap

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from simulator import scenarios
from simulator.engine.clock import duration
from simulator.engine.trace import Trace
from simulator.errors import UsageError
from simulator.viz.lanes import (
    BOTTOM_IN,
    FATAL,
    FONT,
    GAP_IN,
    LEFT_IN,
    LEGEND,
    MARKS,
    RIGHT_IN,
    ROW,
    SB_COLOR,
    STALE,
    STEP_IN,
    TOP_IN,
    UNIT_IN,
    build_lanes,
    draw_cell_row,
    draw_lane,
    draw_lock_row,
    op_text,
)
from simulator.viz.state import buffer_history, initial_memory, lock_names, watched_cells
from simulator.viz.values import op_args, result_of, shown_params

__all__ = ["FULL", "WINDOW", "fatal_step", "op_text", "timeline", "window_start", "windows"]

# Sized so that a picture is at most ~10 inches wide: 1000 pixels at the 100 dpi
# it is drawn at, the width of a notebook's output area, so nothing is scaled down.
FULL = 26  # a trace of up to this many steps is drawn whole
WINDOW = 26  # otherwise, this many steps per picture


# ------------------------------------------------------------------ the fatal step
def fatal_step(trace: Trace) -> tuple[int | None, str]:
    """The step to mark as fatal, and why — a heuristic, stated plainly.

    - ``ok``: none.
    - ``limit``: the last step (where the budget ran out); ``violation``: the
      last step when it is a failed check or nothing read a stale value, else
      (a property found broken at the end) the last stale read, as below.
    - ``stuck`` / ``deadlock``: the last step in one of the scenario's
      ``fatal_funcs`` if it declares any (pir-wakeup: the post that asked for
      no notification); else the last *stale read* — a load that returned an
      old value while a newer store to the same cell still sat in another CPU's
      store buffer. That is the decisive read in the store-buffering races; when
      there is none (a lock-order deadlock, a lost wake-up), the last step of a
      thread the verdict lists as waiting, else the last step.

    It names a plausible culprit, not a proof: pass ``fatal=`` to ``timeline``
    when the chapter knows better.
    """
    steps = trace.steps
    if not trace.verdict.bad or not steps:
        return None, ""
    last = steps[-1]
    _, stale = buffer_history(trace)
    if trace.verdict.kind == "limit" or (trace.verdict.kind == "violation" and (
            last.get("op") == "check" or not stale)):
        return last["i"], f"{trace.verdict.kind} after {last['thread']} in {last['func']}"
    try:
        decisive = scenarios.get(trace.scenario).fatal_funcs
    except UsageError:
        decisive = ()
    for s in reversed(steps):
        if s["func"] in decisive:
            got = result_of(s)  # none for an op that never returned (a sleep for good)
            return s["i"], (f"{s['thread']} in {s['func']}: {s['op']} "
                            f"{op_args(s['op'], s['detail'])}" + (f" = {got}" if got else ""))
    if stale:
        r = stale[-1]
        return r.step, (f"{r.thread} in {r.func} read {r.addr} = {r.got} while cpu{r.cpu}'s "
                        f"store buffer still held {r.addr} = {r.newer}")
    waiting = {w.split(" in ", 1)[0] for w in trace.verdict.waits}
    for s in reversed(steps):
        if s["thread"] in waiting:
            return s["i"], f"{s['thread']}'s last step before it waited for good ({s['func']})"
    return last["i"], "the last step"


def window_start(trace: Trace, width: int, fatal: int | None) -> int:
    """Where a window of ``width`` steps starts by default: the whole trace if it
    fits, else a window that ends a few steps after the fatal step."""
    n = len(trace.steps)
    if n <= width or fatal is None:
        return 0
    return max(0, min(fatal - width + 8, n - width))


def windows(trace: Trace, width: int = WINDOW) -> list[int]:
    """The start of every window needed to draw the whole trace."""
    return list(range(0, max(1, len(trace.steps)), width))

# ------------------------------------------------------------------ the picture
def _header(trace: Trace, start: int, end: int, fatal: int | None, why: str,
            chars: int, stale: list) -> list[tuple[str, str]]:
    try:
        report = scenarios.get(trace.scenario).report
    except UsageError:
        report = ""
    params = shown_params(trace.scenario, trace.params)
    first = (f"{trace.scenario}" + (f" ({report})" if report else "") +
             f" · variant {trace.variant}" + (f" · {params}" if params else "") +
             f" · memory {trace.memory_model} · {trace.mode}")
    n = len(trace.steps)
    if (start, end) != (0, n):
        first += f" · steps {start}–{end - 1} of {n}"
    v = trace.verdict
    lines = [(t, "#111") for t in textwrap.wrap(first, chars)]
    # a verdict's reason often ends with its why: it gets three lines, and a cut says so
    lines += [(t, "#111") for t in _wrap(f"verdict: {v.kind}" +
                                         (f" — {v.reason}" if v.reason else ""), chars, 3)]
    if fatal is not None:
        where = "" if start <= fatal < end else " (outside this window)"
        lines += [(t, FATAL) for t in _wrap(f"fatal step {fatal}{where}: {why}", chars, 2)]
    others = [r for r in stale if r.step != fatal and start <= r.step < end]
    if others:
        text = "; ".join(f"step {r.step}: {r.thread} read {r.addr} = {r.got} while cpu{r.cpu}'s "
                         f"buffer held {r.newer}" for r in others[-2:])
        lines += [(t, STALE) for t in _wrap("also stale — " + text, chars, 2)]
    return lines


def _wrap(text: str, chars: int, most: int) -> list[str]:
    """``text`` in lines of ``chars``, at most ``most`` of them; a cut says so with "…"."""
    return textwrap.wrap(text, chars, max_lines=most, placeholder=" …")


def timeline(trace: Trace, *, start: int | None = None, width: int | None = None,
             cells: list[str] | None = None, fatal: int | None = None,
             cursor: int | None = None, mark_fatal: bool = True) -> Figure:
    """Draw ``trace`` as swimlanes and return the matplotlib Figure.

    ``start``/``width`` choose the window of steps (default: the whole trace up
    to ``FULL`` steps, else ``WINDOW`` steps ending just after the fatal step);
    ``cells`` the memory cells drawn under the lanes (default: the scenario's
    watched cells); ``fatal`` overrides the fatal-step heuristic (``fatal_step``);
    ``cursor`` draws a blue line at one step (the stepper's position);
    ``mark_fatal=False`` marks nothing (a run that has not ended yet).
    """
    n = len(trace.steps)
    if width is None:
        width = n if n <= FULL else WINDOW
    width = max(1, width)
    why = ""
    if not mark_fatal:
        fatal = None
    elif fatal is None:
        fatal, why = fatal_step(trace)
    elif not 0 <= fatal < n:
        raise UsageError(f"fatal step {fatal} is outside the trace (0..{n - 1})")
    else:
        guess, why = fatal_step(trace)
        if guess != fatal:
            why = f"{trace.steps[fatal]['thread']} in {trace.steps[fatal]['func']}"
    if start is None:
        start = window_start(trace, width, fatal)
        if cursor is not None and not start <= cursor < start + width:
            start = max(0, min(cursor - width // 2, n - width))
    if n and not 0 <= start < n:
        raise UsageError(f"window start {start} is outside the trace (0..{n - 1})")
    end = min(n, start + width)
    watched = watched_cells(trace, cells)
    stays, stale_reads = buffer_history(trace)
    stale = {r.step for r in stale_reads}
    span = max(width, 12)
    xlim = (start - 0.6, start + span - 0.4)
    special = stale | ({fatal} if fatal is not None else set())
    lanes = build_lanes(trace, start, end, set(watched), special, stays, xlim[1])
    rows = [("cell", c) for c in watched] + [("lock", k) for k in lock_names(trace)]
    lane_lines = sum(lane.height for lane in lanes) or 1.0
    row_lines = ROW * len(rows)

    fig_w = LEFT_IN + span * STEP_IN + RIGHT_IN
    chars = int((fig_w - 0.4) / (0.58 * (FONT + 1.5) / 72))
    header = _header(trace, start, end, fatal, why, chars, stale_reads)
    top_in = TOP_IN + 0.16 * max(0, len(header) - 3)
    ops = {s.get("op", "") for s in trace.steps[start:end] if not s["thread"].startswith("sb")}
    buffers = any(lane.items for lane in lanes if lane.color == SB_COLOR)
    handles = _legend_handles(ops, buffers, bool(stale & set(range(start, end))))
    legend_rows, legend_cols = _legend_shape(handles, span * STEP_IN + LEFT_IN * 0.9)
    bottom_in = BOTTOM_IN + 0.15 * (legend_rows - 1) + (0.12 if trace.mode == "timed" else 0)
    fig_h = top_in + lane_lines * UNIT_IN + GAP_IN + row_lines * UNIT_IN + bottom_in
    fig = Figure(figsize=(fig_w, fig_h), dpi=100)
    xl, xw = LEFT_IN / fig_w, span * STEP_IN / fig_w
    lane_h = lane_lines * UNIT_IN / fig_h
    ax = fig.add_axes((xl, 1 - (top_in / fig_h) - lane_h, xw, lane_h))
    axes = [ax]
    if rows:
        row_h = row_lines * UNIT_IN / fig_h
        ax_rows = fig.add_axes((xl, bottom_in / fig_h, xw, row_h), sharex=ax)
        axes.append(ax_rows)
    for a in axes:
        a.set_xlim(*xlim)
        for side in ("top", "right", "left"):
            a.spines[side].set_visible(False)
        a.tick_params(axis="y", length=0, labelsize=FONT + 0.5)
        a.set_xticks(range(start, end), minor=True)
        for x in range(start, end):
            a.axvline(x, color="#f0f0f0", lw=0.5, zorder=0)

    ax.set_ylim(0, lane_lines)
    for k, lane in enumerate(lanes):
        if k % 2 == 0:
            ax.axhspan(lane.y, lane.y + lane.height, color="#f6f6f6", zorder=0, lw=0)
        draw_lane(ax, lane, fatal, stale)
    ax.set_yticks([lane.y + (0.5 if lane.marks else lane.height / 2) for lane in lanes])
    ax.set_yticklabels([lane.label for lane in lanes])
    for tick, lane in zip(ax.get_yticklabels(), lanes, strict=True):
        tick.set_color(lane.color)
        tick.set_fontweight("bold")

    if rows:
        initial = initial_memory(trace)
        ax_rows.set_ylim(0, row_lines)
        ys = [row_lines - ROW * (k + 0.5) for k in range(len(rows))]
        for (kind, key), y in zip(rows, ys, strict=True):
            if kind == "cell":
                draw_cell_row(ax_rows, trace, lanes, key, y, start, end, initial)
            else:
                draw_lock_row(ax_rows, trace, lanes, key, y, start, end)
        ax_rows.set_yticks(ys)
        ax_rows.set_yticklabels([key if kind == "cell" else key.replace(".", " ", 1)
                                 for kind, key in rows])
        ax.tick_params(axis="x", labelbottom=False)
    _x_axis(axes[-1], trace, start, end)

    for a in axes:
        if fatal is not None and start <= fatal < end:
            a.axvspan(fatal - 0.45, fatal + 0.45, color=FATAL, alpha=0.12, lw=0, zorder=0)
        if cursor is not None and start <= cursor < end:
            a.axvline(cursor, color="#1f77b4", lw=1.6, alpha=0.8, zorder=5)
    y = 1 - 0.12 / fig_h
    for text, color in header:
        fig.text(0.15 / fig_w, y, text, fontsize=FONT + 1.5, va="top", ha="left", color=color)
        y -= 0.16 / fig_h
    _legend(fig, 0.1 * LEFT_IN / fig_w, handles, legend_cols)
    return fig


def _x_axis(ax, trace: Trace, start: int, end: int) -> None:
    ticks = [k for k in range(start, end) if k % 5 == 0] or [start]
    ax.set_xticks(ticks)
    if trace.mode == "timed":
        ax.set_xticklabels([f"{k}\n{duration(trace.steps[k].get('t_ns', 0), 4)}" for k in ticks])
        ax.set_xlabel("step / simulated time", fontsize=FONT + 0.5)
    else:
        ax.set_xlabel("step", fontsize=FONT + 0.5, labelpad=1)
    ax.tick_params(axis="x", labelsize=FONT + 0.5)


def _legend_handles(ops: set[str], buffers: bool, stale: bool) -> list[Line2D]:
    """Legend entries for what this picture shows, and nothing else."""
    handles, seen = [], set()
    for op, words in LEGEND:
        shape, color = MARKS[op]
        kinds = {k for k, mark in MARKS.items() if mark == (shape, color)}
        if kinds & ops and words not in seen:
            seen.add(words)
            handles.append(Line2D([], [], ls="", marker=shape, color=color, mec="white", ms=6,
                                  label=words))
    if stale:
        handles.append(Line2D([], [], ls="", marker="o", color="#1f77b4", mec=STALE, mew=1.6,
                              ms=7, label="stale read"))
    if buffers:
        handles.append(Line2D([], [], color=SB_COLOR, lw=2.4, marker="v", ms=5,
                              label="store waits in buffer → drained"))
        handles.append(Line2D([], [], color=SB_COLOR, lw=2.4, marker="v", mfc="white", ms=5,
                              label="→ flushed by fence/locked op"))
    return handles


def _legend_shape(handles: list[Line2D], room_in: float) -> tuple[int, int]:
    """(rows, columns) so that the legend fits ``room_in`` inches; matplotlib fills
    a legend column by column."""
    char_in = 0.6 * FONT / 72
    widths = [0.42 + len(h.get_label()) * char_in for h in handles]
    for rows in range(1, len(handles) + 1):
        cols = -(-len(widths) // rows)
        chunks = [widths[c * rows:(c + 1) * rows] for c in range(cols)]
        if sum(max(c) for c in chunks if c) <= room_in:
            return rows, cols
    return len(handles), 1


def _legend(fig: Figure, xl: float, handles: list[Line2D], cols: int) -> None:
    if handles:
        fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(xl, 0.0),
                   frameon=False, ncol=cols, fontsize=FONT, handlelength=1.6,
                   columnspacing=1.0, handletextpad=0.4, borderaxespad=0.2)
