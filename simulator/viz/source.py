"""Where each thread is in its code: the function it is in, its source, the
current line marked — what The Deadlock Empire shows beside every thread.

A simulated thread is a generator; one that called another with ``yield from``
is suspended inside it. Following ``gi_yieldfrom`` down to the innermost
generator gives the function the thread is in now and, from its frame, the
line of the ``yield`` it is stopped at: the op it will perform when it next
runs. Nothing here touches the machine's state; it only reads the generators.
"""
from __future__ import annotations

import ast
import html
import inspect
import textwrap
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Place:
    """A thread's place in its code: ``lines`` of the function ``func`` (first
    line numbered ``first`` in its file), the current one being ``line``."""

    thread: str
    func: str
    first: int
    lines: tuple[str, ...]
    line: int | None  # None: the thread has finished
    head: int = 1  # lines[:head]: the decorators and the def line(s), up to the body
    doc: range = field(default=range(0))  # the docstring's lines, indexes into lines

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
    head, doc = _anatomy(body)
    return Place(thread.name, code.co_name, first, tuple(body), line, head, doc)


def _anatomy(body: list[str]) -> tuple[int, range]:
    """How many lines the decorators and ``def`` take, and which lines are the
    docstring (none when the source does not parse as one function)."""
    try:
        tree = ast.parse("\n".join(body))
    except SyntaxError:
        return 1, range(0)
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.body:
        return 1, range(0)
    first = node.body[0]
    head = max(node.lineno, first.lineno - 1)  # a one-line def keeps its body
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str) and first.lineno > node.lineno):
        return head, range(first.lineno - 1, first.end_lineno)
    return head, range(0)


def shown(p: Place, context: int) -> list[int | None]:
    """The lines a cut view of ``p`` shows: the decorators and ``def`` line, then
    ``context`` lines of code either side of the current one — never the
    docstring (a cut through it would start the view mid-sentence). ``None``
    stands for code left out."""
    k = p.line - p.first
    code = [j for j in range(len(p.lines)) if j >= p.head and j not in p.doc]
    at = code.index(k) if k in code else 0
    window = code[max(0, at - context):at + context + 1]
    out: list[int | None] = []
    for j in [*range(min(p.head, len(p.lines))), *window]:
        if out and j - out[-1] > 1 and any(c in code for c in range(out[-1] + 1, j)):
            out.append(None)
        out.append(j)
    if window and window[-1] != code[-1]:
        out.append(None)
    return out


def place_text(p: Place, context: int = 3) -> str:
    """The ``def`` line and a few lines around the current one, marked ``→``,
    numbered as in the file."""
    if p.line is None:
        return f"{p.thread}: finished"
    k = p.line - p.first
    out = [f"{p.thread} in {p.func}:"]
    for j in shown(p, context):
        if j is None:
            out.append("         …")
            continue
        mark = "→" if j == k else " "
        out.append(f"{mark} {p.first + j:>4}  {p.lines[j]}")
    return "\n".join(out)


def place_html(p: Place, whole: bool = True, context: int = 4) -> str:
    """The function's source as HTML with the current line highlighted; long
    functions are cut (see ``shown``) to ``context`` lines around it unless ``whole``."""
    e = html.escape
    if p.line is None:
        return (f"<div><b>{e(p.thread)}</b>: finished</div>")
    k = p.line - p.first
    rows = []
    for j in range(len(p.lines)) if whole else shown(p, context):
        if j is None:
            rows.append("<span style='color:#999'>  …</span>")
            continue
        text = e(p.lines[j]) or " "
        if j == k:
            rows.append(f"<span style='background:#ffe08a;font-weight:bold'>→ {text}</span>")
        else:
            rows.append(f"<span style='color:#444'>  {text}</span>")
    return (f"<div style='margin:0 1em 0.5em 0'><b>{e(p.thread)}</b> "
            f"<span style='color:#777'>in {e(p.func)}</span>"
            f"<pre style='font-size:11.5px;line-height:1.3;margin:2px 0;padding:4px;"
            f"background:#f7f7f7'>{chr(10).join(rows)}</pre></div>")
