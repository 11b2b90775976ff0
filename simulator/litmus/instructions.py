"""The x86 instructions a litmus thread may use, and what each does as engine ops.

======================  =====================================================
``MOV [x],$1``          store an immediate (goes to the store buffer)
``MOV [x],EAX``         store a register
``MOV EAX,[x]``         load (from the own store buffer if it holds ``x``)
``MOV EAX,$1``          set a register; touches no memory, takes no step
``MFENCE``              full barrier: the store buffer drains first
``XCHG [x],EAX``        locked exchange (either operand order)
``LOCK XADD [x],EAX``   locked add; EAX gets the old value
``LOCK CMPXCHG [x],EBX`` if [x] = EAX then [x] := EBX; EAX gets the old value
``LOCK ADD [x],$1``     locked add, ``LOCK OR``/``LOCK AND`` likewise; ``LOCK INC [x]``
======================  =====================================================

Every locked instruction drains the store buffer, as on x86.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

REGISTERS = frozenset({"EAX", "EBX", "ECX", "EDX", "ESI", "EDI", "EBP"})
VALUE_MIN, VALUE_MAX = -(1 << 63), (1 << 64) - 1  # every value fits in 64 bits


def parse_value(text: str) -> int:
    """An integer of a litmus file (decimal or 0x hex, maybe negative) that fits in
    64 bits; ``ValueError`` says what is wrong."""
    digits = text.lstrip("-")
    if len(digits) > 22:  # longer than any 64-bit value: do not even convert it
        raise ValueError(f"the number {text[:24]}... does not fit in 64 bits")
    value = int(text, 0)
    if not VALUE_MIN <= value <= VALUE_MAX:
        raise ValueError(f"the number {text} does not fit in 64 bits")
    return value
_MEM = re.compile(r"^\[\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\]$")
_IMM = re.compile(r"^\$(-?(?:0x[0-9a-fA-F]+|\d+))$")


@dataclass(frozen=True)
class Instr:
    """One instruction: its kind, a memory location, a register, an immediate."""

    kind: str  # store-imm, store-reg, load, set, mfence, xchg, xadd, cmpxchg, add, or, and
    text: str
    loc: str | None = None
    reg: str | None = None
    imm: int | None = None

    def locations(self) -> list[str]:
        return [self.loc] if self.loc else []

    def writes(self) -> list[str]:
        """The registers this instruction sets."""
        if self.kind == "cmpxchg":
            return ["EAX"]
        if self.kind in ("load", "set", "xchg", "xadd"):
            return [self.reg]
        return []


def _operand(text: str) -> tuple[str, str | int]:
    text = text.strip()
    m = _MEM.match(text)
    if m:
        return "mem", m.group(1)
    m = _IMM.match(text)
    if m:
        return "imm", parse_value(m.group(1))
    if text.upper() in REGISTERS:
        return "reg", text.upper()
    raise ValueError(f"bad operand {text!r} (want [loc], $value or one of "
                     f"{', '.join(sorted(REGISTERS))})")


def parse_instr(text: str) -> Instr:
    """Parse one cell of a thread column; ``ValueError`` says what is wrong."""
    text = " ".join(text.split())
    words = text.split(" ", 2) if text.upper().startswith("LOCK ") else text.split(" ", 1)
    mnemonic = " ".join(words[:-1] if len(words) > 1 else words).upper()
    args = words[-1] if len(words) > 1 else ""
    if mnemonic == "MFENCE" or text.upper() == "MFENCE":
        return Instr("mfence", "MFENCE")
    ops = [_operand(a) for a in args.split(",")] if args else []
    kinds = tuple(k for k, _ in ops)
    if mnemonic == "LOCK INC" and kinds == ("mem",):
        return Instr("add", text, loc=ops[0][1], imm=1)
    if len(ops) != 2:
        raise ValueError(f"cannot read instruction {text!r}")
    (_, a), (_, b) = ops
    table = {
        ("MOV", ("mem", "imm")): lambda: Instr("store-imm", text, loc=a, imm=b),
        ("MOV", ("mem", "reg")): lambda: Instr("store-reg", text, loc=a, reg=b),
        ("MOV", ("reg", "mem")): lambda: Instr("load", text, loc=b, reg=a),
        ("MOV", ("reg", "imm")): lambda: Instr("set", text, reg=a, imm=b),
        ("XCHG", ("mem", "reg")): lambda: Instr("xchg", text, loc=a, reg=b),
        ("XCHG", ("reg", "mem")): lambda: Instr("xchg", text, loc=b, reg=a),
        ("LOCK XCHG", ("mem", "reg")): lambda: Instr("xchg", text, loc=a, reg=b),
        ("LOCK XADD", ("mem", "reg")): lambda: Instr("xadd", text, loc=a, reg=b),
        ("LOCK CMPXCHG", ("mem", "reg")): lambda: Instr("cmpxchg", text, loc=a, reg=b),
        ("LOCK ADD", ("mem", "imm")): lambda: Instr("add", text, loc=a, imm=b),
        ("LOCK OR", ("mem", "imm")): lambda: Instr("or", text, loc=a, imm=b),
        ("LOCK AND", ("mem", "imm")): lambda: Instr("and", text, loc=a, imm=b),
    }
    make = table.get((mnemonic, kinds))
    if make is None:
        raise ValueError(f"cannot read instruction {text!r}")
    return make()
