"""Who waits for whom, drawn: the wait-for graph of a hang, and lock-order pictures.

``wait_for_figure(m)`` draws a machine's blocked threads (circles) and what
they wait for (boxes: locks, condition variables), an arrow from each
waiter to what it wants and from each lock to its holder; the edges of a
cycle are red. ``graph_figure`` draws any small graph the same way — the
lock-order picture of a fix, say — from ``(source, target, label)`` edges.

``wait_graph(edges, cycle)`` draws a scenario's own wait-for edges
(``waitfor.Edge``: waiter, the function it waits in, what it waits for, the
thread that could give it that) thread to thread: an arrow from the waiter to
that thread, labelled with what is awaited, the cycle's edges red. A wait
nobody can end (no holder) points at a dead end under the waiter. It uses only
matplotlib's object API, so it renders headless.
"""
from __future__ import annotations

import math
import textwrap

from simulator.engine import waitfor
from simulator.engine.waitfor import Edge

CYCLE, PLAIN = "#d62728", "#555555"


def wait_edges(m) -> tuple[list[tuple[str, str, str]], set[str]]:
    """The machine's wait-for graph as labelled edges, and the threads in it."""
    edges, threads = [], set()
    for e in waitfor.edges(m):
        threads.add(e.waiter)
        edges.append((e.waiter, e.resource, f"wants\n{e.func}"))
        if e.holder is not None:
            threads.add(e.holder)
            edges.append((e.resource, e.holder, "held by"))
    return edges, threads


def wait_for_figure(m, extra: tuple = (), title: str = "who waits for whom"):
    """Draw the wait-for graph of ``m``, its cycle in red; ``extra`` adds
    ``(source, target, label)`` edges the engine cannot see (who will
    broadcast a condition variable)."""
    edges, threads = wait_edges(m)
    edges = edges + list(extra)
    return graph_figure(edges, threads, cycle_edges(edges), title)


def cycle_edges(edges) -> set[tuple[str, str]]:
    """The edges of one cycle of the graph (empty if it has none)."""
    succ: dict[str, list[str]] = {}
    for s, t, _ in edges:
        succ.setdefault(s, []).append(t)

    def walk(path: list[str]) -> list[str] | None:
        for nxt in succ.get(path[-1], []):
            if nxt in path:
                return path[path.index(nxt):] + [nxt]
            found = walk(path + [nxt])
            if found:
                return found
        return None

    for start in succ:
        found = walk([start])
        if found:
            return set(zip(found, found[1:], strict=False))
    return set()


def graph_figure(edges, threads=(), red=(), title: str = ""):
    """A small directed graph on a circle: ``threads`` as circles, every other
    node as a box; edges in ``red`` drawn red."""
    import matplotlib.pyplot as plt

    nodes = list(dict.fromkeys(n for s, t, _ in edges for n in (s, t)))
    pos = {n: (math.cos(2 * math.pi * i / len(nodes) + math.pi / 2),
               math.sin(2 * math.pi * i / len(nodes) + math.pi / 2))
           for i, n in enumerate(nodes)}
    fig, ax = plt.subplots(figsize=(7, 5.5))
    for s, t, label in edges:
        _arrow(ax, pos[s], pos[t], label, CYCLE if (s, t) in set(red) else PLAIN)
    for n, (x, y) in pos.items():
        shape = "circle,pad=0.4" if n in threads else "round,pad=0.35"
        face = "#e8f0fb" if n in threads else "#fdf3e1"
        ax.text(x, y, n, ha="center", va="center", fontsize=10, zorder=3,
                bbox={"boxstyle": shape, "fc": face, "ec": "#333333"})
    ax.set_xlim(-1.6, 1.6)
    ax.set_ylim(-1.4, 1.4)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def _arrow(ax, a, b, label, color) -> None:
    ax.annotate("", xy=b, xytext=a, zorder=1,
                arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.8,
                            "shrinkA": 28, "shrinkB": 28,
                            "connectionstyle": "arc3,rad=0.15"})
    # the label sits on the arc: arc3's midpoint is the chord's midpoint moved
    # by rad/2 times the chord turned a quarter clockwise
    dx, dy = b[0] - a[0], b[1] - a[1]
    mx, my = (a[0] + b[0]) / 2 + 0.075 * dy, (a[1] + b[1]) / 2 - 0.075 * dx
    ax.text(mx, my, label, ha="center", va="center", fontsize=8,
            color=color, zorder=2, bbox={"boxstyle": "round,pad=0.15", "fc": "white",
                                         "ec": "none", "alpha": 0.85})


# ------------------------------------------- thread to thread, from given edges
BOX = {"boxstyle": "round,pad=0.5", "fc": "#e8f0fa", "ec": "#1f77b4", "lw": 1.4}


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
               title: str = "who waits for whom"):
    """Draw ``edges``; those in ``cycle`` in red."""
    on_cycle = set(cycle or ())
    pos = _positions(edges, list(cycle or ()))
    from matplotlib.figure import Figure

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
        color = CYCLE if e in on_cycle else PLAIN
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
