"""Reading a litmus file: an x86 test in the shape herd7 and the Linux-kernel
memory model use.

A file looks like this::

    X86 SB
    (*
     * Result: Sometimes
     *
     * Store buffering: each CPU stores to one location and then loads the
     * other; x86 lets both loads run ahead of both stores.
     *)
    { x=0; y=0; }
     P0          | P1          ;
     MOV [x],$1  | MOV [y],$1  ;
     MOV EAX,[y] | MOV EAX,[x] ;
    exists (0:EAX=0 /\\ 1:EAX=0)

The first line names the architecture (only ``X86``) and the test. Comments
are ``(* ... *)``; the ``Result:`` line inside one records what the ``exists``
clause should come to under x86-TSO (Always, Sometimes or Never), and the rest
of the comment is the test's explanation. The initial state sets memory
locations (``x=1``) and registers (``0:EAX=1``); anything not set starts at 0.
The threads are columns, one instruction per cell; the ``exists`` clause joins
``N:REG=v`` and ``loc=v`` with ``/\\``, ``\\/``, ``~`` and parentheses.

Anything malformed is a ``UsageError`` reading ``file:line: what is wrong``.

Limits, each refused with such an error: a file is UTF-8 text of at most
64 KiB (``MAX_BYTES``); at most 8 threads (``MAX_THREADS``) of at most 512
instructions each (``MAX_INSTRUCTIONS``); at most 64 initial-state entries;
every number fits in 64 bits; the ``exists`` clause nests ``(`` and ``~`` at
most 16 deep and has at most 32 terms (``condition.MAX_NESTING``,
``MAX_TERMS``). Within them a test still may have very many interleavings:
how long checking may take is the checker's budget, not the parser's.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from simulator import inputs
from simulator.errors import UsageError
from simulator.litmus.condition import Condition, parse_condition
from simulator.litmus.instructions import REGISTERS, Instr, parse_instr, parse_value

RESULTS = ("Always", "Sometimes", "Never")
MAX_BYTES = 64 << 10
MAX_THREADS = 8
MAX_INSTRUCTIONS = 512  # a search of a long thread is bounded by the state budget
MAX_INIT = 64
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+\-]*$")
_REG_INIT = re.compile(r"^(\d+):([A-Za-z]+)$")
_LOC = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


@dataclass
class LitmusTest:
    """One parsed litmus test."""

    name: str
    path: str
    result: str | None  # the recorded Result: (for x86-TSO), or None if absent
    comment: str
    memory: dict[str, int]  # initial value of every shared location
    registers: dict[tuple[int, str], int]  # initial registers set by the init block
    threads: list[list[Instr]]
    exists: Condition
    exists_text: str
    doc: str = ""
    lines: dict[str, int] = field(default_factory=dict)

    def observed(self) -> list[str]:
        """The columns of an outcome: written or tested registers, then tested locations."""
        regs = {(i, r) for i, code in enumerate(self.threads) for ins in code
                for r in ins.writes()}
        regs |= set(self.registers) | self.exists.registers()
        locs = sorted(self.exists.locations())
        return [f"{i}:{r}" for i, r in sorted(regs)] + locs


class _Reader:
    """The file's lines with comments cut out, and the comments kept aside."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.code: list[tuple[int, str]] = []  # (line number, text outside comments)
        self.comments: list[tuple[int, str]] = []
        depth_line = 0
        in_comment = False
        for no, line in enumerate(text.splitlines(), 1):
            code, note, pos = [], [], 0
            while pos < len(line):
                if not in_comment and line.startswith("(*", pos):
                    in_comment, depth_line, pos = True, no, pos + 2
                elif in_comment and line.startswith("*)", pos):
                    in_comment, pos = False, pos + 2
                else:
                    (note if in_comment else code).append(line[pos])
                    pos += 1
            if "".join(code).strip():
                self.code.append((no, "".join(code).strip()))
            if note or in_comment:
                self.comments.append((no, "".join(note)))
        if in_comment:
            self.fail(depth_line, "comment opened with '(*' is never closed")
        self.pos = 0

    def fail(self, line: int, message: str):
        raise UsageError(f"{self.path}:{line}: {message}")

    def peek(self) -> tuple[int, str] | None:
        return self.code[self.pos] if self.pos < len(self.code) else None

    def take(self) -> tuple[int, str]:
        item = self.code[self.pos]
        self.pos += 1
        return item

    def end_line(self) -> int:
        return self.code[-1][0] if self.code else 1


def parse_text(text: str, path: str = "<litmus>") -> LitmusTest:
    """Parse the text of a litmus file; ``path`` names it in error messages."""
    r = _Reader(path, text)
    name, first = _header(r)
    result, comment = _result_and_comment(r)
    doc = ""
    while r.peek() and r.peek()[1].startswith('"'):
        no, line = r.take()
        if not line.endswith('"') or len(line) < 2:
            r.fail(no, "a description line must be one quoted string")
        doc = line[1:-1]
    init_line = r.peek()[0] if r.peek() else r.end_line()
    memory, registers = _init(r)
    threads = _threads(r, memory)
    exists_line = r.peek()[0] if r.peek() else r.end_line()
    exists, exists_text = _exists(r)
    test = LitmusTest(name, path, result, comment, memory, registers, threads, exists,
                      exists_text, doc, {"header": first, "init": init_line,
                                             "exists": exists_line})
    _check_names(r, test)
    return test


def parse_file(path: str) -> LitmusTest:
    """Read and parse the litmus file at ``path`` (a regular file, UTF-8, at most
    ``MAX_BYTES``)."""
    return parse_text(inputs.read_text(path, "litmus file", MAX_BYTES), path)


def _header(r: _Reader) -> tuple[str, int]:
    if r.peek() is None:
        r.fail(1, "empty file: expected 'X86 <name>' first")
    no, line = r.take()
    parts = line.split()
    if len(parts) != 2 or parts[0].upper() != "X86":
        r.fail(no, f"expected 'X86 <name>' first, found {line!r}")
    if not _NAME.match(parts[1]):
        r.fail(no, f"bad test name {parts[1]!r}")
    return parts[1], no


def _result_and_comment(r: _Reader) -> tuple[str | None, str]:
    result, words = None, []
    for no, text in r.comments:
        body = text.strip().lstrip("*").strip()
        m = re.match(r"Result\s*:\s*(\S*)\s*$", body)
        if m:
            if result is not None:
                r.fail(no, "a second Result: line")
            value = m.group(1).capitalize()
            if value not in RESULTS:
                r.fail(no, f"Result: must be Always, Sometimes or Never, not {m.group(1)!r}")
            result = value
        else:
            words.append(body)
    paragraphs = " ".join(w if w else "\n\n" for w in words)
    comment = "\n\n".join(" ".join(p.split()) for p in paragraphs.split("\n\n") if p.strip())
    return result, comment


def _init(r: _Reader) -> tuple[dict[str, int], dict[tuple[int, str], int]]:
    item = r.peek()
    if item is None or not item[1].startswith("{"):
        r.fail(item[0] if item else r.end_line(), "expected '{' to open the initial state")
    start, text = r.take()
    body = text[1:]
    while "}" not in body:
        if r.peek() is None:
            r.fail(start, "the initial state opened with '{' is never closed")
        body += " " + r.take()[1]
    inside, _, after = body.partition("}")
    if after.strip():
        r.fail(start, f"unexpected {after.strip()!r} after the initial state")
    memory: dict[str, int] = {}
    registers: dict[tuple[int, str], int] = {}
    entries = [e for e in (e.strip() for e in inside.split(";")) if e]
    if len(entries) > MAX_INIT:
        r.fail(start, f"at most {MAX_INIT} initial-state entries, found {len(entries)}")
    for entry in entries:
        lhs, eq, rhs = (s.strip() for s in entry.partition("="))
        value = _int(rhs)
        if not eq or value is None:
            r.fail(start, f"initial state entry {entry[:60]!r} is not 'name=integer' "
                          "(a 64-bit integer)")
        reg = _REG_INIT.match(lhs)
        if reg:
            registers[(int(reg.group(1)), reg.group(2).upper())] = value
        elif _LOC.match(lhs):
            memory[lhs] = value
        else:
            r.fail(start, f"bad name {lhs!r} in the initial state")
    return memory, registers


def _int(text: str) -> int | None:
    try:
        return parse_value(text)
    except ValueError:
        return None


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.endswith(";"):
        line = line[:-1]
    return [c.strip() for c in line.split("|")]


def _threads(r: _Reader, memory: dict[str, int]) -> list[list[Instr]]:
    item = r.peek()
    if item is None or item[1].lower().startswith("exists"):
        r.fail(item[0] if item else r.end_line(), "expected the thread header 'P0 | P1 ;'")
    no, line = r.take()
    names = _cells(line)
    want = [f"P{i}" for i in range(len(names))]
    if [n.upper() for n in names] != want:
        r.fail(no, f"thread header must read {' | '.join(want)} ;, found {line!r}")
    if len(names) > MAX_THREADS:
        r.fail(no, f"at most {MAX_THREADS} threads, found {len(names)}")
    threads: list[list[Instr]] = [[] for _ in names]
    while r.peek() and not r.peek()[1].lower().startswith("exists"):
        no, line = r.take()
        cells = _cells(line)
        if len(cells) != len(names):
            r.fail(no, f"row has {len(cells)} columns, the thread header has {len(names)}")
        for i, cell in enumerate(cells):
            if cell:
                try:
                    ins = parse_instr(cell)
                except ValueError as exc:
                    r.fail(no, f"P{i}: {exc}")
                threads[i].append(ins)
                if len(threads[i]) > MAX_INSTRUCTIONS:
                    r.fail(no, f"P{i}: at most {MAX_INSTRUCTIONS} instructions per thread")
                for loc in ins.locations():
                    memory.setdefault(loc, 0)
    return threads


def _exists(r: _Reader) -> tuple[Condition, str]:
    item = r.peek()
    if item is None:
        r.fail(r.end_line(), "missing the 'exists' clause at the end")
    no, line = r.take()
    if not line.lower().startswith("exists"):
        r.fail(no, f"expected the 'exists' clause, found {line!r}")
    text = line[len("exists"):]
    pieces = [(no, text)]
    while r.peek():
        pieces.append(r.take())
    try:
        cond = parse_condition(pieces)
    except ValueError as exc:
        where, message = exc.args if len(exc.args) == 2 else (no, str(exc))
        r.fail(where, message)
    return cond, " ".join(" ".join(p[1].split()) for p in pieces).strip()


def _check_names(r: _Reader, test: LitmusTest) -> None:
    line = test.lines["init"]
    for i, reg in test.registers:
        if i >= len(test.threads):
            r.fail(line, f"the initial state sets {i}:{reg}, but there is no thread P{i}")
        if reg not in REGISTERS:
            r.fail(line, f"the initial state sets {i}:{reg}, which is not a register")
    line = test.lines["exists"]
    for i, reg in sorted(test.exists.registers()):
        if i >= len(test.threads):
            r.fail(line, f"exists names {i}:{reg}, but there is no thread P{i}")
        if reg not in REGISTERS:
            r.fail(line, f"exists names {i}:{reg}, which is not a register")
    for loc in sorted(test.exists.locations()):
        if loc not in test.memory:
            r.fail(line, f"exists names location {loc!r}, which the test never uses")
