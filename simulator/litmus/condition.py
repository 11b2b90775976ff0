"""The ``exists`` clause: a condition over the final registers and memory.

Grammar (herd7's, less its quantifier forms)::

    cond := conj { "\\/" conj }
    conj := unary { "/\\" unary }
    unary := "~" unary | "(" cond ")" | "true" | "false" | atom
    atom := N ":" REG "=" int  |  loc "=" int

An outcome is a dict from column names (``"0:EAX"``, ``"x"``) to values.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

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

    def unary(self) -> Condition:
        line = self.line()
        tok = self.take("a condition")
        if tok == "~":
            return Condition("not", (self.unary(),))
        if tok == "(":
            node = self.cond()
            if self.take("')'") != ")":
                raise ValueError(line, "unbalanced '(' in the exists clause")
            return node
        if tok in ("true", "false"):
            return Condition("const", (tok == "true",))
        if not re.match(r"^(\d+:[A-Za-z]+|[A-Za-z_][A-Za-z0-9_.]*)$", tok):
            raise ValueError(line, f"expected 'N:REG=value' or 'loc=value', found {tok!r}")
        if self.take("'='") != "=":
            raise ValueError(line, f"expected '=' after {tok!r}")
        value = self.take("a value")
        try:
            number = int(value, 0)
        except ValueError:
            raise ValueError(line, f"expected an integer after '{tok}=', "
                                   f"found {value!r}") from None
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
