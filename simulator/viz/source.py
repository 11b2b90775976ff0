"""Where each thread is in its code: the function it is in, its source, the
current line marked — what The Deadlock Empire shows beside every thread.

A simulated thread is a generator; one that called another with ``yield from``
is suspended inside it. Following ``gi_yieldfrom`` down to the innermost
generator gives the function the thread is in now and, from its frame, the
line of the ``yield`` it is stopped at: the op it will perform when it next
runs. Nothing here touches the machine's state; it only reads the generators.
"""
from __future__ import annotations

import html
import inspect
import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class Place:
    """A thread's place in its code: ``lines`` of the function ``func`` (first
    line numbered ``first`` in its file), the current one being ``line``."""

    thread: str
    func: str
    first: int
    lines: tuple[str, ...]
    line: int | None  # None: the thread has finished

    @property
    def current(self) -> str | None:
        """The text of the current line, stripped (None when finished)."""
        if self.line is None or not 0 <= self.line - self.first < len(self.lines):
            return None
        return self.lines[self.line - self.first].strip()


def innermost(gen):
    """The generator a thread's generator is suspended in (itself if none)."""
    while getattr(gen, "gi_yieldfrom", None) is not None and inspect.isgenerator(
            gen.gi_yieldfrom):
        gen = gen.gi_yieldfrom
    return gen


def place(thread) -> Place:
    """Where ``thread`` (a Machine thread) is: its innermost function and line."""
    gen = innermost(thread.gen)
    code = gen.gi_code
    try:
        lines, first = inspect.getsourcelines(code)
    except (OSError, TypeError):  # no source (a lambda at a prompt, a C function)
        lines, first = [f"{code.co_name}(...)  # source not available\n"], code.co_firstlineno
    frame = gen.gi_frame
    line = frame.f_lineno if frame is not None and thread.op is not None else None
    body = textwrap.dedent("".join(lines)).splitlines()
    return Place(thread.name, code.co_name, first, tuple(body), line)


def place_text(p: Place, context: int = 3) -> str:
    """A few lines around the current one, marked ``→``, numbered as in the file."""
    if p.line is None:
        return f"{p.thread}: finished"
    k = p.line - p.first
    lo, hi = max(0, k - context), min(len(p.lines), k + context + 1)
    out = [f"{p.thread} in {p.func}:"]
    for j in range(lo, hi):
        mark = "→" if j == k else " "
        out.append(f"{mark} {p.first + j:>4}  {p.lines[j]}")
    return "\n".join(out)


def place_html(p: Place, whole: bool = True, context: int = 4) -> str:
    """The function's source as HTML with the current line highlighted; long
    functions are cut to ``context`` lines around it unless ``whole``."""
    e = html.escape
    if p.line is None:
        return (f"<div><b>{e(p.thread)}</b>: finished</div>")
    k = p.line - p.first
    lo, hi = (0, len(p.lines)) if whole else (max(0, k - context),
                                              min(len(p.lines), k + context + 1))
    rows = []
    for j in range(lo, hi):
        text = e(p.lines[j]) or " "
        if j == k:
            rows.append(f"<span style='background:#ffe08a;font-weight:bold'>→ {text}</span>")
        else:
            rows.append(f"<span style='color:#444'>  {text}</span>")
    return (f"<div style='margin:0 1em 0.5em 0'><b>{e(p.thread)}</b> "
            f"<span style='color:#777'>in {e(p.func)}</span>"
            f"<pre style='font-size:11.5px;line-height:1.3;margin:2px 0;padding:4px;"
            f"background:#f7f7f7'>{chr(10).join(rows)}</pre></div>")
