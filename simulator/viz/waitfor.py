"""The wait-for graph at a hang: who waits on what, and for whom.

Threads are boxes on a circle; each resource a thread waits on (a mutex, a
condition variable) sits between the waiter and the thread it waits for, with
arrows waiter -> resource -> holder. A resource no thread will ever release or
signal gets a dead end saying why. Under each thread: the locks it holds.
The edges come from ``simulator.engine.waits.edges``.
"""
from __future__ import annotations

import math
import textwrap

from matplotlib.figure import Figure

from simulator.engine.waits import WaitEdge

THREAD_STYLE = {"boxstyle": "round,pad=0.45", "fc": "#e8f0fa", "ec": "#1f77b4", "lw": 1.4}
RESOURCE_STYLE = {"boxstyle": "round,pad=0.35", "fc": "#fff4e0", "ec": "#d08000", "lw": 1.2}
DEAD_END = "#c00000"


def _positions(names: list[str]) -> dict[str, tuple[float, float]]:
    """Threads evenly on a circle, the first at the top left, clockwise."""
    n = max(len(names), 1)
    return {name: (math.cos(math.pi * (0.75 - 2 * k / n)), math.sin(math.pi * (0.75 - 2 * k / n)))
            for k, name in enumerate(names)}


def _arrow(ax, src, dst, color="#444444") -> None:
    """An arrow from one labelled box to another, from edge to edge."""
    # drawn after the boxes (zorder), so that their outlines are known to clip it
    ax.annotate("", xy=(0.5, 0.5), xycoords=dst, xytext=(0.5, 0.5), textcoords=src, zorder=4,
                arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.3, "mutation_scale": 14,
                            "patchA": src.get_bbox_patch(), "patchB": dst.get_bbox_patch(),
                            "shrinkA": 3, "shrinkB": 3})


def wait_for_graph(found: list[WaitEdge], title: str = "who waits for whom") -> Figure:
    """Draw the wait-for graph of ``found`` (one edge per blocked thread)."""
    threads = list(dict.fromkeys([e.waiter for e in found]
                                 + [e.holder for e in found if e.holder]))
    pos = _positions(threads)
    fig = Figure(figsize=(7.6, 5.6), dpi=100)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.88))
    ax.set_xlim(-1.9, 1.9)
    ax.set_ylim(-1.95, 1.05)
    ax.axis("off")
    fig.text(0.5, 0.95, title, ha="center", va="center", fontsize=11, fontweight="bold")
    held = {e.waiter: e.held for e in found}
    boxes = {}
    for name, (x, y) in pos.items():
        boxes[name] = ax.text(x, y, name, ha="center", va="center", fontsize=11,
                              fontweight="bold", bbox=THREAD_STYLE, zorder=3)
        if held.get(name):
            ax.text(x, y - 0.2, "holds " + ", ".join(held[name]), ha="center", va="top",
                    fontsize=8.5, color="#1f4f7f", zorder=3)
    for e in found:
        wx, wy = pos[e.waiter]
        if e.holder:  # between the two threads, pushed out of the middle
            mx, my = (wx + pos[e.holder][0]) / 2 * 1.3, (wy + pos[e.holder][1]) / 2 * 1.3
        else:  # a dead end, further out from the waiter
            mx, my = wx * 1.55, wy * 1.55
        box = ax.text(mx, my, f"{e.kind} {e.resource}", ha="center", va="center", fontsize=9.5,
                      bbox=RESOURCE_STYLE, zorder=3)
        _arrow(ax, boxes[e.waiter], box)
        if e.holder:
            _arrow(ax, box, boxes[e.holder])
            note = f"held by {e.holder}" if e.kind == "mutex" else f"signalled only by {e.holder}"
            ax.annotate(note, xy=(1, 0.5), xycoords=box, xytext=(5, 0),
                        textcoords="offset points", ha="left", va="center", fontsize=8,
                        color="#555555", zorder=2)
        else:
            why = "\n".join(textwrap.wrap(e.why or "nobody will", 40))
            ax.annotate(why, xy=(0.5, 0), xycoords=box, xytext=(0, -5),
                        textcoords="offset points", ha="center", va="top", fontsize=8,
                        color=DEAD_END, zorder=2)
    return fig
