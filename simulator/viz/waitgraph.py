"""Who waits for whom at a hang: threads as boxes on a circle, waits as arrows.

Each edge (``simulator.engine.waitfor.Edge``: waiter, the function it waits
in, what it waits for, and the thread that could give it that) is an arrow
from the waiter to that thread, labelled with what is awaited. Edges on a
cycle are drawn in red: no thread on it can move until the one before it
does. A wait nobody can end (no holder) points at a dead end under the
waiter. Only matplotlib's object API is used, so it renders headless.
"""
from __future__ import annotations

import math
import textwrap

from matplotlib.figure import Figure

from simulator.engine.waitfor import Edge

BOX = {"boxstyle": "round,pad=0.5", "fc": "#e8f0fa", "ec": "#1f77b4", "lw": 1.4}
CYCLE, OTHER = "#c00000", "#555555"


def _on_circle(k: int, n: int, radius: float = 1.0, turn: float = 0.0):
    angle = 2 * math.pi * k / max(n, 1) + turn
    return radius * math.sin(angle), radius * math.cos(angle)


def _positions(edges: list[Edge], cycle: list[Edge]) -> dict[str, tuple[float, float]]:
    """The cycle's threads evenly on a circle, in its order, the first at the
    top; every other thread outside it, beside the thread it waits for."""
    ring = [e.waiter for e in cycle] or list(dict.fromkeys(e.waiter for e in edges))
    pos = {name: _on_circle(k, len(ring)) for k, name in enumerate(ring)}
    others = [n for n in dict.fromkeys([e.waiter for e in edges]
                                       + [e.holder for e in edges if e.holder])
              if n not in pos]
    for k, name in enumerate(others):
        near = next((e.holder for e in edges if e.waiter == name and e.holder in pos), None)
        if near is None:
            pos[name] = _on_circle(k, len(others), 1.55, math.pi / 4)
            continue
        x, y = pos[near]
        angle = math.atan2(x, y) + 0.75 + 0.4 * k
        pos[name] = (1.55 * math.sin(angle), 1.55 * math.cos(angle))
    return pos


def wait_graph(edges: list[Edge], cycle: list[Edge] | None = None,
               title: str = "who waits for whom") -> Figure:
    """Draw ``edges``; those in ``cycle`` in red."""
    on_cycle = set(cycle or ())
    pos = _positions(edges, list(cycle or ()))
    fig = Figure(figsize=(8, 6.6), dpi=100)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.9))
    ax.set_xlim(-2.0, 2.0)
    ax.set_ylim(-1.9, 1.8)
    ax.axis("off")
    fig.text(0.5, 0.96, title, ha="center", va="center", fontsize=11, fontweight="bold")
    boxes = {name: ax.text(x, y, name, ha="center", va="center", fontsize=11,
                           fontweight="bold", bbox=BOX, zorder=3)
             for name, (x, y) in pos.items()}
    drawn = {(e.waiter, e.holder) for e in edges if e.holder}
    for e in edges:
        color = CYCLE if e in on_cycle else OTHER
        label = "\n".join(textwrap.wrap(f"{e.resource} ({e.func})", 24))
        if e.holder is None:
            x, y = pos[e.waiter]
            ax.annotate(label, xy=(0.5, 0), xycoords=boxes[e.waiter], xytext=(x, y - 0.45),
                        ha="center", va="top", fontsize=8, color=color, zorder=4,
                        arrowprops={"arrowstyle": "-|>", "color": color})
            continue
        # a wait in each direction between two threads: bend both apart
        bend = 0.2 if (e.holder, e.waiter) in drawn else 0.0
        ax.annotate("", xy=(0.5, 0.5), xycoords=boxes[e.holder], xytext=(0.5, 0.5),
                    textcoords=boxes[e.waiter], zorder=4,
                    arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.6,
                                "mutation_scale": 16, "shrinkA": 2, "shrinkB": 2,
                                "connectionstyle": f"arc3,rad={bend}",
                                "patchA": boxes[e.waiter].get_bbox_patch(),
                                "patchB": boxes[e.holder].get_bbox_patch()})
        (wx, wy), (hx, hy) = pos[e.waiter], pos[e.holder]
        # the label a little past the middle, towards the thread waited for
        lx, ly = wx + (hx - wx) * 0.55, wy + (hy - wy) * 0.55
        ax.text(lx, ly, label, ha="center", va="center", fontsize=8, color=color, zorder=5,
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.9})
    return fig
