"""Who waits for whom, drawn: the wait-for graph of a hang, and lock-order pictures.

``wait_for_figure(m)`` draws a machine's blocked threads (circles) and what
they wait for (boxes: locks, condition variables), an arrow from each
waiter to what it wants and from each lock to its holder; the edges of a
cycle are red. ``graph_figure`` draws any small graph the same way — the
lock-order picture of a fix, say — from ``(source, target, label)`` edges.
"""
from __future__ import annotations

import math

from simulator.engine import waitfor

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
