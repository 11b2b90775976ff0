"""Who waits for whom, drawn: the wait-for graph of a hang.

Threads are blue boxes, what they wait for (a mutex, a condition variable, a
vCPU to go IDLE...) orange ones: an arrow from each waiter to what it waits
for, and from that to the thread that can give it, labelled how ("held by",
"signalled only by"). Beside a thread: where it waits and what it holds.
A wait no thread will ever end is a dead end, with the reason in red; the
arrows of a cycle are red too. A graph with a cycle is drawn round it (the
cycle a ring, the rest outside); one without, as a chain from top to bottom.

The edges come from ``simulator.engine.waitfor`` — a machine's, a scenario's
(``wait_edges`` in a scenario module), or written by hand for a picture of a
lock order.
"""
from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from simulator.engine.waitfor import Edge, cycle

THREAD = {"boxstyle": "round,pad=0.45", "fc": "#e8f0fa", "ec": "#1f77b4", "lw": 1.4}
RESOURCE = {"boxstyle": "round,pad=0.35", "fc": "#fff4e0", "ec": "#d08000", "lw": 1.2}
CYCLE, PLAIN, NOTE = "#d62728", "#555555", "#1f4f7f"  # CYCLE: why it hangs
PRIMITIVES = ("mutex", "rwlock", "cv", "timer", "cell")  # kinds named in the box
INCH = 1.5  # inches a unit of the layout
PAD = 0.12  # inches of white round the drawing
TITLE = 0.4  # inches of the band the title sits in


def _rkey(e: Edge) -> tuple[str, str]:
    return ("resource", f"{e.kind}:{e.resource}")


def _tkey(name: str) -> tuple[str, str]:
    return ("thread", name)


def _label(e: Edge) -> str:
    if e.kind in PRIMITIVES:
        return f"{e.kind} {e.resource}"
    return "\n".join(textwrap.wrap(e.resource, 20))


def wait_for_graph(edges: Iterable[Edge], title: str = "who waits for whom") -> Figure:
    """Draw the wait-for graph of ``edges``, a cycle among them in red."""
    edges = list(edges)
    arcs = _arcs(edges)
    cyc = cycle(edges) or []
    red = {a for e in cyc for a in ((_tkey(e.waiter), _rkey(e)), (_rkey(e), _tkey(e.holder)))}
    pos, out = _layout(arcs, [n for e in cyc for n in (_tkey(e.waiter), _rkey(e))])
    fig, ax = _canvas(pos, title)
    boxes = {}
    for node, (x, y) in pos.items():
        thread = node[0] == "thread"
        text = node[1] if thread else _label(next(e for e in edges if _rkey(e) == node))
        boxes[node] = ax.text(x, y, text, ha="center", va="center", zorder=3,
                              fontsize=11 if thread else 9.5,
                              fontweight="bold" if thread else "normal",
                              bbox=THREAD if thread else RESOURCE)
    for node, box in boxes.items():
        note, color = _note(node, edges)
        if note:
            _beside(ax, box, out[node], note, color)
    for (src, dst), e in arcs.items():
        color = CYCLE if (src, dst) in red else PLAIN
        label = e.how() if src[0] == "resource" else ""
        _arrow(ax, boxes[src], boxes[dst], pos[src], pos[dst], color, label)
    _fit(fig, ax)
    return fig


def _arcs(edges: list[Edge]) -> dict[tuple, Edge]:
    """The drawn arrows: waiter -> resource -> holder, one of each pair."""
    arcs: dict[tuple, Edge] = {}
    for e in edges:
        arcs.setdefault((_tkey(e.waiter), _rkey(e)), e)
        if e.holder is not None:
            arcs.setdefault((_rkey(e), _tkey(e.holder)), e)
    return arcs


def _note(node: tuple, edges: list[Edge]) -> tuple[str, str]:
    """The words beside a node: a thread's place and holds; a dead end's reason."""
    if node[0] == "thread":
        mine = [e for e in edges if e.waiter == node[1]]
        if not mine:
            return "", NOTE
        lines = [f"in {mine[0].func}"] if mine[0].func else []
        if mine[0].held:
            lines += textwrap.wrap("holds " + ", ".join(mine[0].held), 28)
        return "\n".join(lines), NOTE
    ends = [e for e in edges if _rkey(e) == node and e.holder is None]
    if ends:  # a reason nobody will end it is why it hangs: red
        return "\n".join(textwrap.wrap(ends[0].whom(), 34)), CYCLE if ends[0].why else PLAIN
    return "", NOTE


# ------------------------------------------------------------------ layout
Place = dict[tuple, tuple[float, float]]


def _layout(arcs: dict[tuple, Edge], ring: list[tuple]) -> tuple[Place, Place]:
    """Where each node goes, and which way is out (free of arrows) from it:
    the cycle on a ring and the rest outside it, or, with no cycle, every
    chain from its first waiter down."""
    nodes = list(dict.fromkeys(n for arc in arcs for n in arc))
    if not ring:
        return _layers(nodes, list(arcs))
    pos = {n: (math.sin(2 * math.pi * k / len(ring)), math.cos(2 * math.pi * k / len(ring)))
           for k, n in enumerate(ring)}
    near = {n: [m for a in arcs for m in a if n in a and m != n] for n in nodes}
    frontier = list(ring)
    while frontier:  # outwards from the ring, fanned out round each anchor
        anchor, frontier = frontier[0], frontier[1:]
        new = [n for n in near[anchor] if n not in pos]
        ax, ay = pos[anchor]
        r, angle = math.hypot(ax, ay), math.atan2(ax, ay)
        for i, n in enumerate(new):
            a = angle + 0.5 * (i - (len(new) - 1) / 2)
            pos[n] = ((r + 0.85) * math.sin(a), (r + 0.85) * math.cos(a))
        frontier += new
    out = {n: (x / math.hypot(x, y), y / math.hypot(x, y)) for n, (x, y) in pos.items()}
    rest = [n for n in nodes if n not in pos]
    if rest:  # waits with no part in the cycle, beneath it
        low = min(y for _, y in pos.values()) - 1.0
        below, sides = _layers(rest, [a for a in arcs if a[0] in rest])
        pos.update({n: (x, y + low) for n, (x, y) in below.items()})
        out.update(sides)
    return pos, out


def _layers(nodes: list[tuple], arcs: list[tuple]) -> tuple[Place, Place]:
    """Top to bottom by the longest chain of waits above each node; across a
    layer side by side, threads and resources offset so that a chain zigzags
    (threads' notes on the left, resources' on the right)."""
    depth = dict.fromkeys(nodes, 0)
    for _ in nodes:  # longest path in a graph without cycles: |nodes| relaxations
        for src, dst in arcs:
            if dst in depth and src in depth:
                depth[dst] = max(depth[dst], depth[src] + 1)
    pos = {}
    for d in sorted(set(depth.values())):
        row = [n for n in nodes if depth[n] == d]
        for i, n in enumerate(row):
            shift = -0.45 if n[0] == "thread" else 0.45
            pos[n] = (2.2 * (i - (len(row) - 1) / 2) + shift, -0.65 * d)
    return pos, {n: (-1.0 if n[0] == "thread" else 1.0, 0.0) for n in nodes}


# ------------------------------------------------------------------ drawing
def _canvas(pos: dict, title: str):
    """A figure whose size follows the layout, so boxes keep their size."""
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    x0, x1, y0, y1 = min(xs) - 1.7, max(xs) + 1.7, min(ys) - 0.75, max(ys) + 0.6
    w, h = min((x1 - x0) * INCH, 10.0), (y1 - y0) * INCH + TITLE
    fig = Figure(figsize=(w, h), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1 - TITLE / h))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal", adjustable="datalim")
    ax.axis("off")
    fig.text(0.5, 1 - TITLE / 2 / h, title, ha="center", va="center", fontsize=11,
             fontweight="bold")
    return fig, ax


def _fit(fig: Figure, ax) -> None:
    """Shrink the figure to what is drawn: the boxes, notes, arrows and labels
    plus ``PAD``, and the title's band (at least the title's width).

    The layout leaves room for notes of any length; once they are drawn their
    extent is known. The scale (pixels per unit of the layout) is kept, so
    nothing drawn in points changes size relative to the layout: the new
    limits hold exactly what was measured.
    """
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)  # settles the aspect ratio and the arrows' paths
    parts = []
    for t in ax.texts:  # the boxes, the notes, the arrows (annotations) and labels
        parts.append(t.get_window_extent(renderer))
        if t.get_bbox_patch() is not None:
            parts.append(t.get_bbox_patch().get_window_extent(renderer))
        if getattr(t, "arrow_patch", None) is not None:
            parts.append(t.arrow_patch.get_window_extent(renderer))
    parts = [b for b in parts if b.width > 0 and b.height > 0]
    if not parts:
        return
    dpi = fig.dpi
    box = Bbox.union(parts).padded(PAD * dpi)
    (x0, y0), (x1, y1) = ax.transData.inverted().transform(box.get_points())
    title = fig.texts[0]
    w = max(box.width, title.get_window_extent(renderer).width + 2 * PAD * dpi) / dpi
    h = box.height / dpi
    if w * dpi > box.width:  # a title wider than the drawing: widen round its middle
        extra = (w * dpi - box.width) / 2 * (x1 - x0) / box.width
        x0, x1 = x0 - extra, x1 + extra
    fig.set_size_inches(w, h + TITLE)
    ax.set_position((0, 0, 1, h / (h + TITLE)))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    title.set_position((0.5, 1 - TITLE / 2 / (h + TITLE)))


def _beside(ax, box, out, note: str, color: str) -> None:
    """``note`` beside ``box`` on its side ``out``, where no arrow runs."""
    dx, dy = out
    if abs(dx) >= abs(dy) * 0.8:
        xy, off, ha, va = ((1, 0.5), (6, 0), "left", "center") if dx > 0 else \
            ((0, 0.5), (-6, 0), "right", "center")
    else:
        xy, off, ha, va = ((0.5, 0), (0, -7), "center", "top") if dy <= 0 else \
            ((0.5, 1), (0, 7), "center", "bottom")
    ax.annotate(note, xy=xy, xycoords=box, xytext=off, textcoords="offset points", ha=ha,
                va=va, fontsize=8, color=color, zorder=2)


def _arrow(ax, src, dst, a, b, color: str, label: str) -> None:
    """An arrow from box to box, clipped at their outlines, on a slight arc
    (so that two opposite arrows do not overlap); its label on the arc."""
    # drawn after the boxes, so that their outlines are known to clip it
    ax.annotate("", xy=(0.5, 0.5), xycoords=dst, xytext=(0.5, 0.5), textcoords=src, zorder=4,
                arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.6,
                            "mutation_scale": 14, "connectionstyle": "arc3,rad=0.12",
                            "patchA": src.get_bbox_patch(), "patchB": dst.get_bbox_patch(),
                            "shrinkA": 3, "shrinkB": 3})
    if label:
        # arc3's midpoint: the chord's, moved by rad/2 times the chord turned a
        # quarter clockwise
        dx, dy = b[0] - a[0], b[1] - a[1]
        ax.text((a[0] + b[0]) / 2 + 0.06 * dy, (a[1] + b[1]) / 2 - 0.06 * dx, label,
                ha="center", va="center", fontsize=8, color=color, zorder=5,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.9})
