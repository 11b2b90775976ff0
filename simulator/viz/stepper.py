"""The stepper: walk through a trace one step at a time and see the state.

Position ``index`` counts the steps taken: 0 is the initial state, ``k`` the
state after step ``k - 1``. At each position the stepper gives the machine's
snapshot (memory as each CPU sees it, store buffers, lock owners, waiters,
threads), the dtrace-style line of the step just taken, and the swimlane
picture with a cursor on it.

The snapshots come from replaying the trace's schedule once, on a fresh
machine, in the constructor — the schedule is the ground truth — so moving is
a list lookup. The picture is a window of ``width`` steps that follows the
cursor (neighbouring windows share ``OVERLAP`` steps, so the cursor is never at
an edge), drawn to fit a 1000-pixel output with the lane names at its left.
The widget draws each window once and moves the cursor over it as an HTML
overlay, so a step costs no re-rendering. ``line``, ``text``, ``step`` and
``state`` take an optional position, to look somewhere without moving a
widget that is on screen.
"""
from __future__ import annotations

import base64
import dataclasses
import html
import io

from matplotlib.figure import Figure

from simulator import scenarios
from simulator.engine.machine import ScheduleError
from simulator.engine.trace import Trace
from simulator.errors import UsageError
from simulator.viz.state import initial_memory, state_html, state_text, watched_cells
from simulator.viz.timeline import WINDOW, fatal_step, timeline
from simulator.viz.values import shown_params, step_line

OVERLAP = 10  # steps two neighbouring windows of the widget's picture share
BUTTONS = (  # (ipywidgets icon, tooltip): icons render with every font, glyphs may not
    ("fast-backward", "the initial state"), ("step-backward", "one step back"),
    ("step-forward", "one step forward"), ("fast-forward", "the end of the run"))


def replay_snapshots(trace: Trace, variant=None, factory=None) -> tuple[list[dict], list[dict]]:
    """Replay ``trace.schedule`` on a fresh tracing machine; return the snapshot
    before the first step and after every step, and the step records.

    ``variant`` overrides the trace's (needed when the trace came from a variant
    class rather than a registered variant name); ``factory`` builds the machine
    instead of the registry (a machine a notebook built itself).
    """
    if factory is not None:
        m = factory()
        m.tracing = True
    else:
        sc = scenarios.get(trace.scenario)
        m = sc.machine(variant if variant is not None else trace.variant, trace.params,
                       memory_model=trace.memory_model, tracing=True,
                       timed=trace.mode == "timed")
    snaps = [m.snapshot()]
    for k, action in enumerate(trace.schedule):
        try:
            m.step(action)
        except ScheduleError as exc:
            raise UsageError(f"the trace does not replay: step {k}: {exc}") from None
        snaps.append(m.snapshot())
    return snaps, m.records


class Stepper:
    """Forward, back and jump through a trace; headless unless ``widget()`` is asked for."""

    def __init__(self, trace: Trace, *, variant=None, cells: list[str] | None = None,
                 width: int = WINDOW, fatal: int | None = None, factory=None):
        self.trace = trace
        self.snapshots, records = replay_snapshots(trace, variant, factory)
        if len(trace.steps) != len(trace.schedule):
            trace = dataclasses.replace(trace, steps=records)
            self.trace = trace
        self.cells = watched_cells(trace, cells)
        self.initial = initial_memory(trace)
        self.width = max(1, min(width, len(trace.steps)))  # a short trace: no empty space
        self.fatal = fatal if fatal is not None else fatal_step(trace)[0]
        self.index = 0
        self._pictures: dict[int, tuple[str, dict]] = {}
        self._ui: dict | None = None
        self._syncing = False

    # ---- moving ------------------------------------------------------------
    @property
    def last(self) -> int:
        """The last position: every step taken."""
        return len(self.trace.schedule)

    def jump(self, index: int) -> int:
        """Go to position ``index`` (0 = initial state, ``last`` = the end)."""
        if not isinstance(index, int) or not 0 <= index <= self.last:
            raise UsageError(f"step position {index!r} is outside 0..{self.last}")
        self.index = index
        if self._ui is not None and not self._syncing:
            self._refresh()
        return self.index

    def forward(self) -> int:
        """Take the next step (stays put at the end)."""
        return self.jump(min(self.index + 1, self.last))

    def back(self) -> int:
        """Undo the last step (stays put at the start)."""
        return self.jump(max(self.index - 1, 0))

    # ---- what is shown -----------------------------------------------------
    def _at(self, position: int | None) -> int:
        if position is None:
            return self.index
        if not isinstance(position, int) or not 0 <= position <= self.last:
            raise UsageError(f"step position {position!r} is outside 0..{self.last}")
        return position

    def step(self, position: int | None = None) -> dict | None:
        """The record of the step just taken (None at the start)."""
        k = self._at(position)
        return self.trace.steps[k - 1] if k else None

    def state(self, position: int | None = None) -> dict:
        """The machine's snapshot at this position."""
        return self.snapshots[self._at(position)]

    def line(self, position: int | None = None) -> str:
        """The dtrace-style line of the step just taken, or the run's header at the start."""
        s = self.step(position)
        if s is None:
            return self.trace.header(shown_params(self.trace.scenario, self.trace.params))
        return f"[{s['i']:>3}] {step_line(s, timed=self.trace.mode == 'timed')}"

    def text(self, position: int | None = None) -> str:
        """The state at this position as plain text."""
        return state_text(self.state(position), self.initial, self.cells)

    def window(self) -> int:
        """The first step of the picture's window that holds this position's step."""
        n, stride = len(self.trace.steps), max(1, self.width - OVERLAP)
        k = max(0, self.index - 1)
        return max(0, min(((k - OVERLAP // 2) // stride) * stride, n - self.width))

    def figure(self) -> Figure:
        """The swimlanes around this position, the step just taken under a cursor."""
        cursor = self.index - 1 if self.index else None
        return timeline(self.trace, start=self.window(), width=self.width, cells=self.cells,
                        fatal=self.fatal, cursor=cursor)

    # ---- the widget --------------------------------------------------------
    def _picture(self, start: int) -> tuple[str, dict]:
        """One window drawn once: a PNG data URI and where each step sits on it
        (fractions of the image's width and height)."""
        if start not in self._pictures:
            fig = timeline(self.trace, start=start, width=self.width, cells=self.cells,
                           fatal=self.fatal)
            buf = io.BytesIO()
            fig.savefig(buf, format="png")
            w, h = fig.bbox.width, fig.bbox.height
            ax = fig.axes[0]  # the lanes; the state rows (if any) are the last axes
            top, bottom = ax.bbox.y1, fig.axes[-1].bbox.y0
            end = min(len(self.trace.steps), start + self.width)
            xs = {k: ax.transData.transform((k, 0))[0] / w for k in range(start, end)}
            geo = {"x": xs, "top": 1 - top / h, "bottom": 1 - bottom / h}
            uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
            self._pictures[start] = (uri, geo)
        return self._pictures[start]

    def picture_html(self) -> str:
        """The window's picture with the cursor as an overlay (what the widget shows)."""
        uri, geo = self._picture(self.window())
        cursor = ""
        k = self.index - 1
        if k in geo["x"]:
            left, top = geo["x"][k] * 100, geo["top"] * 100
            height = (geo["bottom"] - geo["top"]) * 100
            cursor = (f"<div style='position:absolute;left:{left:.3f}%;top:{top:.2f}%;"
                      f"height:{height:.2f}%;width:2px;background:rgba(31,119,180,.8)'></div>")
        # The overlay is placed in percent of the picture, so it stays on its step
        # if the browser scales the picture down to a narrower output area.
        return (f"<div style='position:relative;display:inline-block;max-width:100%'>"
                f"<img src='{uri}' style='display:block;max-width:100%;height:auto'/>"
                f"{cursor}</div>")

    def widget(self):
        """The ipywidgets UI: buttons, a slider, the line, the picture and the state.
        It starts at the initial state (position 0)."""
        import ipywidgets as w

        self.index = 0
        acts = (lambda _: self.jump(0), lambda _: self.back(), lambda _: self.forward(),
                lambda _: self.jump(self.last))
        row = []
        for (icon, tip), act in zip(BUTTONS, acts, strict=True):
            b = w.Button(description="", icon=icon, tooltip=tip, layout=w.Layout(width="3.2em"))
            b.on_click(act)
            row.append(b)
        slider = w.IntSlider(value=self.index, min=0, max=self.last, description="step",
                             continuous_update=True, layout=w.Layout(width="40em"))
        slider.observe(lambda ch: self.jump(ch["new"]), names="value")
        line = w.HTML()
        picture = w.HTML(layout=w.Layout(max_width="100%"))
        state = w.HTML()
        self._ui = {"slider": slider, "line": line, "picture": picture, "state": state}
        for start in sorted({self.window_for(p) for p in range(self.last + 1)}):
            self._picture(start)
        self._refresh()
        return w.VBox([w.HBox([*row, slider]), line, picture, state])

    def window_for(self, position: int) -> int:
        """The window start the widget uses at ``position``."""
        here, self.index = self.index, position
        try:
            return self.window()
        finally:
            self.index = here

    def _refresh(self) -> None:
        ui = self._ui
        self._syncing = True
        try:
            ui["slider"].value = self.index
        finally:
            self._syncing = False
        ui["line"].value = f"<pre style='margin:0'>{html.escape(self.line())}</pre>"
        ui["picture"].value = self.picture_html()
        ui["state"].value = state_html(self.state(), self.initial, self.cells)
