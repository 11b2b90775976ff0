"""Explanatory figures the chapters draw before any trace: the split ring's
layout, a store buffer between a core and memory, and the posted-interrupt
descriptor with the states of a vCPU.

Each returns a matplotlib Figure at most 10 inches (1000 pixels) wide, drawn
with the object API only (headless). Where a figure can show a state — the
ring's cells, the buffers' contents — it takes it as plain values, so a
chapter draws the state its own cells have just built.
"""
from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from simulator.viz.values import VCPU_STATES, pending_word, pir_word

DRIVER, DEVICE, NEUTRAL = "#dbe9f6", "#fde2c8", "#eeeeee"  # who writes a cell
FONT = 9


def _box(ax, x, y, w, h, text, color=NEUTRAL, bold=False, size=FONT, edge="#555"):
    ax.add_patch(Rectangle((x, y), w, h, fc=color, ec=edge, lw=0.8))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size,
            fontweight="bold" if bold else "normal")


def _arrow(ax, a, b, color="#333", style="-|>", text=None, rad=0.0, lw=1.2, size=FONT - 1):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle=style, mutation_scale=11, color=color,
                                 lw=lw, connectionstyle=f"arc3,rad={rad}"))
    if text:
        ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + 0.12, text, ha="center", va="bottom",
                fontsize=size, color=color)


def _canvas(w_in: float, h_in: float, xlim, ylim):
    fig = Figure(figsize=(w_in, h_in), dpi=100)
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.98))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.axis("off")
    return fig, ax


# ------------------------------------------------------------------ the split ring
def ring_layout(size: int = 4, cells: dict[str, int] | None = None) -> Figure:
    """The three areas of a split virtqueue in guest memory, coloured by the side
    that writes them (driver blue, device orange). With ``cells`` (a machine's
    memory, or ``SplitRing.cells()``), every slot shows its value."""
    cells = cells or {}

    def v(name: str, default: str = "") -> str:
        return str(cells[name]) if name in cells else default

    width = 0.1 + 3 * 1.13 + size * 1.33 + 0.2  # the longest row: avail or used
    fig, ax = _canvas(9.8, 4.6, (0, max(width, 8.6)), (0, 9.6))
    rows = [  # (title, y, writer, cells as (label, cell name))
        ("descriptor table (driver writes)", 7.6, DRIVER,
         [(f"desc[{i}]\naddr {v(f'desc[{i}].addr', '·')}\nlen {v(f'desc[{i}].len', '·')}",
           None) for i in range(size)]),
        ("avail ring (driver writes)", 4.5, DRIVER,
         [("flags\n" + v("avail.flags", "·"), "avail.flags"),
          ("idx\n" + v("avail.idx", "·"), "avail.idx")]
         + [(f"ring[{i}]\n{v(f'avail.ring[{i}]', '·')}", None) for i in range(size)]
         + [("used_event\n" + v("used_event", "·"), "used_event")]),
        ("used ring (device writes)", 1.4, DEVICE,
         [("flags\n" + v("used.flags", "·"), "used.flags"),
          ("idx\n" + v("used.idx", "·"), "used.idx")]
         + [(f"ring[{i}]\nid {v(f'used.ring[{i}].id', '·')} "
             f"len {v(f'used.ring[{i}].len', '·')}", None) for i in range(size)]
         + [("avail_event\n" + v("avail_event", "·"), "avail_event")]),
    ]
    for title, y, color, boxes in rows:
        ax.text(0.1, y + 1.55, title, fontsize=FONT + 1, fontweight="bold", va="bottom")
        x = 0.1
        for label, name in boxes:
            w = 1.25 if name is None else 1.05
            key = name in ("avail.flags", "used_event", "used.idx")
            _box(ax, x, y, w, 1.35, label, color, bold=key, size=FONT - 0.5,
                 edge="#c0392b" if key else "#555")
            x += w + 0.08
    ax.text(0.1, 0.25, "Red-edged: the cells of the OS-7613 handshake. The driver turns "
            "interrupts off and on with avail.flags (or used_event); the device publishes "
            "with used.idx.\nIndices count up modulo 2^16; slot = idx % size.",
            fontsize=FONT - 0.5, va="bottom", color="#333")
    return fig


# ------------------------------------------------------------------ the store buffer
def store_buffer(buffers: dict[int, list[tuple[str, int]]] | None = None,
                 memory: dict[str, int] | None = None,
                 names: tuple[str, str] = ("cpu0", "cpu1")) -> Figure:
    """Two cores, each with a FIFO store buffer between it and memory. A store
    enters its core's buffer; a drain moves the oldest entry to memory; a load
    reads its own buffer first (store forwarding), else memory — never another
    core's buffer. ``buffers`` (cpu -> [(cell, value)], oldest first) and
    ``memory`` fill in a state."""
    buffers = buffers or {0: [("x", 1)], 1: [("y", 1)]}
    memory = memory if memory is not None else {"x": 0, "y": 0}
    fig, ax = _canvas(9.6, 4.4, (0, 10), (0, 6.2))
    for k, name in enumerate(names):
        cx = 0.5 + k * 5.0
        _box(ax, cx, 4.6, 4.0, 1.0, f"{name}: runs its thread's loads and stores",
             "#e8f4e8", bold=True)
        ax.text(cx + 0.4, 2.75, "store buffer: FIFO, oldest on the right", fontsize=FONT - 1,
                color="#555", va="top")
        entries = buffers.get(k, [])
        for j in range(3):
            label = f"{entries[j][0]} = {entries[j][1]}" if j < len(entries) else ""
            _box(ax, cx + 0.4 + (2 - j) * 1.1, 2.9, 1.0, 0.9, label,
                 "#fff6d6" if label else "white")
        _arrow(ax, (cx + 0.6, 4.6), (cx + 0.8, 3.8), text="store", color="#e67e22")
        _arrow(ax, (cx + 3.3, 2.9), (cx + 3.3, 1.75), text="drain", color="#7f7f7f")
        _arrow(ax, (cx + 2.0, 2.9), (cx + 2.2, 4.6), color="#1f77b4", rad=-0.3)
        ax.text(cx + 1.55, 4.25, "own stores\nforwarded", fontsize=FONT - 2, color="#1f77b4",
                ha="center")
        _arrow(ax, (cx + 0.2, 1.75), (cx + 0.2, 4.6), color="#1f77b4", text=None)
        ax.text(cx + 0.28, 2.3, "load", fontsize=FONT - 1, color="#1f77b4")
    cells = "   ".join(f"{k} = {v}" for k, v in memory.items())
    _box(ax, 0.5, 0.4, 9.0, 1.3, f"memory (what every core sees):   {cells}", NEUTRAL,
         bold=True)
    return fig


# ------------------------------------------------------------------ posted interrupts
def posted_descriptor(pir: tuple[int, int, int, int] = (0, 1 << 32, 0, 1 << 19),
                      pending: int = 0x2041) -> Figure:
    """The VMX posted-interrupt descriptor (pir[0..3], one bit per vector; the
    'pending' word, ON in bit 0 and — after c713610 — one bit per priority
    class above it) and the vCPU states, with what ``vcpu_notify_event`` does to
    a vCPU in each."""
    fig, ax = _canvas(9.8, 5.6, (0, 10), (0, 7.4))
    ax.text(0.1, 7.0, "posted-interrupt descriptor (64 bytes, one per vCPU)",
            fontsize=FONT + 1, fontweight="bold")
    for i in range(4):
        _box(ax, 0.1 + i * 2.0, 5.6, 1.9, 1.1,
             f"pir[{i}]: vectors {64 * i:#04x}–{64 * i + 63:#04x}\n{pir_word(i)(pir[i])}",
             DRIVER, size=FONT - 0.5)
    _box(ax, 8.1, 5.6, 1.8, 1.1, f"pending\n{pending:#06x} = {pending_word(pending)}",
         DEVICE, bold=True, size=FONT - 0.5)
    ax.text(0.1, 5.2, "posting a vector: set its pir bit (locked OR), then ask whether the "
            "vCPU must be told (vmx_set_intr_ready). ON (bit 0) = a notification is "
            "outstanding;\nthe CPU clears ON — and only ON — when it takes the posted "
            "vectors in guest mode; bhyve claims 'pending' on VM entry (vmx_inject_pir).",
            fontsize=FONT - 1, va="top", color="#333")
    ax.text(0.1, 4.15, "vCPU states (vcpu0.state) and what vcpu_notify_event does in each",
            fontsize=FONT + 1, fontweight="bold")
    what = {0: "nothing (no thread)", 1: "nothing: it will look\nbefore it enters",
            2: "IPI (ipi_cpu): the\nposted-interrupt\nnotification", 3: "cv_signal:\nwake it"}
    color = {0: NEUTRAL, 1: "#f3e5f5", 2: "#e8f4e8", 3: "#fdecea"}
    xs = {0: 0.2, 1: 2.7, 2: 5.2, 3: 7.7}
    for st, x in xs.items():
        ax.add_patch(FancyBboxPatch((x, 1.75), 2.0, 1.45, boxstyle="round,pad=0.05",
                                    fc=color[st], ec="#555", lw=0.8))
        ax.text(x + 1.0, 2.95, VCPU_STATES[st], ha="center", va="center", fontsize=FONT + 0.5,
                fontweight="bold")
        ax.text(x + 1.0, 2.7, what[st], ha="center", va="top", fontsize=FONT - 1,
                color="#333")
    _arrow(ax, (2.25, 2.5), (2.65, 2.5), text="VM_RUN")
    _arrow(ax, (4.75, 2.7), (5.15, 2.7), text="enter")
    _arrow(ax, (5.15, 2.3), (4.75, 2.3), color="#555")
    ax.text(4.95, 2.0, "exit", fontsize=FONT - 1.5, ha="center", color="#555")
    _arrow(ax, (3.7, 3.25), (8.7, 3.25), rad=-0.12, color="#c0392b")
    ax.text(6.2, 3.78, "HLT: vm_handle_hlt sleeps", fontsize=FONT - 1, ha="center",
            color="#c0392b")
    _arrow(ax, (8.7, 1.7), (3.7, 1.7), rad=-0.2, color="#c0392b")
    ax.text(6.2, 0.72, "woken: FROZEN, look again", fontsize=FONT - 1, ha="center",
            color="#c0392b")
    ax.text(0.1, 0.2, "FROZEN: the vCPU's thread is in the kernel, not in the guest "
            "(handling an exit, or between two looks in vm_handle_hlt).",
            fontsize=FONT - 1, color="#333")
    return fig
