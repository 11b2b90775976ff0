"""The ``exists`` clause: a condition over the final registers and memory.

Grammar (herd7's, less its quantifier forms)::

    cond := conj { "\\/" conj }
    conj := unary { "/\\" unary }
    unary := "~" unary | "(" cond ")" | "true" | "false" | atom
    atom := N ":" REG "=" int  |  loc "=" int

An outcome is a dict from column names (``"0:EAX"``, ``"x"``) to values.

Limits (so a hostile clause cannot exhaust the parser's stack or the
checker's time): at most ``MAX_NESTING`` levels of ``(`` and ``~``, and at
most ``MAX_TERMS`` terms (comparisons, ``true``, ``false``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from simulator.litmus.instructions import parse_value

MAX_NESTING = 16
MAX_TERMS = 32

_TOKEN = re.compile(r"\s*(/\\|\\/|~|\(|\)|=|-?(?:0x[0-9a-fA-F]+|\d+)(?![:\w])|"
                    r"\d+:[A-Za-z]+|[A-Za-z_][A-Za-z0-9_.]*)")


@dataclass(frozen=True)
class Condition:
    """A node of the condition: ("and"|"or", a, b), ("not", a), ("const", bool) or
    ("eq", column, value)."""

    op: str
    args: tuple

    def holds(self, outcome: dict[str, int]) -> bool:
        if self.op == "eq":
            return outcome[self.args[0]] == self.args[1]
        if self.op == "const":
            return self.args[0]
        if self.op == "not":
            return not self.args[0].holds(outcome)
        a, b = self.args
        if self.op == "and":
            return a.holds(outcome) and b.holds(outcome)
        return a.holds(outcome) or b.holds(outcome)

    def columns(self) -> set[str]:
        if self.op == "eq":
            return {self.args[0]}
        if self.op == "const":
            return set()
        return set().union(*(a.columns() for a in self.args))

    def registers(self) -> set[tuple[int, str]]:
        """(thread, register) pairs the condition tests."""
        out = set()
        for col in self.columns():
            if ":" in col:
                i, reg = col.split(":")
                out.add((int(i), reg))
        return out

    def locations(self) -> set[str]:
        """Memory locations the condition tests."""
        return {c for c in self.columns() if ":" not in c}


def _tokens(pieces: list[tuple[int, str]]) -> list[tuple[int, str]]:
    out = []
    for line, text in pieces:
        pos = 0
        while pos < len(text):
            if not text[pos:].strip():
                break
            m = _TOKEN.match(text, pos)
            if not m:
                raise ValueError(line, f"cannot read {text[pos:].strip()!r} in the exists clause")
            out.append((line, m.group(1)))
            pos = m.end()
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[int, str]], last_line: int):
        self.tokens = tokens
        self.pos = 0
        self.last_line = last_line
        self.depth = 0  # open '(' and '~' around the current position
        self.terms = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def line(self) -> int:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else self.last_line

    def take(self, what: str) -> str:
        tok = self.peek()
        if tok is None:
            raise ValueError(self.line(), f"the exists clause ends early: expected {what}")
        self.pos += 1
        return tok

    def cond(self) -> Condition:
        node = self.conj()
        while self.peek() == "\\/":
            self.pos += 1
            node = Condition("or", (node, self.conj()))
        return node

    def conj(self) -> Condition:
        node = self.unary()
        while self.peek() == "/\\":
            self.pos += 1
            node = Condition("and", (node, self.unary()))
        return node

    def count_term(self, line: int) -> None:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise ValueError(line, f"the exists clause has more than {MAX_TERMS} terms "
                                   "(comparisons, true, false)")

    def nested(self, line: int, parse):
        """``parse()`` one level deeper, refusing more than MAX_NESTING levels."""
        if self.depth >= MAX_NESTING:
            raise ValueError(line, f"the exists clause nests '(' and '~' more than "
                                   f"{MAX_NESTING} deep")
        self.depth += 1
        node = parse()
        self.depth -= 1
        return node

    def unary(self) -> Condition:
        line = self.line()
        tok = self.take("a condition")
        if tok == "~":
            return Condition("not", (self.nested(line, self.unary),))
        if tok == "(":
            node = self.nested(line, self.cond)
            if self.take("')'") != ")":
                raise ValueError(line, "unbalanced '(' in the exists clause")
            return node
        if tok in ("true", "false"):
            self.count_term(line)
            return Condition("const", (tok == "true",))
        if not re.match(r"^(\d+:[A-Za-z]+|[A-Za-z_][A-Za-z0-9_.]*)$", tok):
            raise ValueError(line, f"expected 'N:REG=value' or 'loc=value', found {tok!r}")
        if self.take("'='") != "=":
            raise ValueError(line, f"expected '=' after {tok!r}")
        self.count_term(line)
        value = self.take("a value")
        try:
            number = parse_value(value)
        except ValueError as exc:
            raise ValueError(line, f"expected a 64-bit integer after '{tok}=', found "
                                   f"{value[:24]!r}" + (f": {exc}" if "64 bits" in str(exc)
                                                        else "")) from None
        if ":" in tok:
            i, reg = tok.split(":")
            tok = f"{int(i)}:{reg.upper()}"
        return Condition("eq", (tok, number))


def parse_condition(pieces: list[tuple[int, str]]) -> Condition:
    """Parse the clause text after ``exists``; ``ValueError(line, message)`` if malformed."""
    tokens = _tokens(pieces)
    last = pieces[-1][0]
    if not tokens:
        raise ValueError(last, "the exists clause is empty")
    p = _Parser(tokens, last)
    node = p.cond()
    if p.peek() is not None:
        raise ValueError(p.line(), f"unexpected {p.peek()!r} after the exists condition")
    return node
