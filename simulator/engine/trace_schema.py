"""The trace file format (format 1) as a JSON Schema, and the check that applies it.

The schema is the format's specification: which fields a trace has, their
types, and the limits a file from outside must keep (name lengths, at most
``MAX_ACTIONS`` actions). ``check`` validates with ``fastjsonschema``, which
compiles the schema to Python once: a full-budget trace (20,000 steps) checks
in well under a second, and its error messages are one line naming the field
and never echo the (possibly huge) value.
"""
from __future__ import annotations

from functools import cache

import fastjsonschema

from simulator.engine.verdict import ALL
from simulator.errors import UsageError

FORMAT = 1
MAX_ACTIONS = 1_000_000  # far beyond any step budget; keeps a hostile file's cost bounded
NAME = {"type": "string", "minLength": 1, "maxLength": 64}
TEXT = {"type": "string", "maxLength": 10_000}
INT = {"type": "integer"}
_SCALAR = ["integer", "string", "null", "boolean"]

STEP = {
    "type": "object",
    "required": ["thread", "func", "op", "detail"],
    "properties": {
        "i": {"type": "integer", "minimum": 0}, "t_ns": {"type": "integer", "minimum": 0},
        "thread": NAME, "cpu": INT, "func": TEXT, "op": NAME, "detail": TEXT,
        "action": NAME, "result": {"type": _SCALAR},
        # state name -> [before, after]; a side is a value, a holder or a store buffer
        "diff": {"type": "object", "additionalProperties": {
            "type": "array", "maxItems": 2, "items": {
                "type": [*_SCALAR, "array"], "items": {
                    "type": ["integer", "string", "array"], "items": {"type": _SCALAR}}}}},
    },
}

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Hypervisor Races trace, format 1",
    "type": "object",
    "required": ["format", "scenario", "variant", "params", "memory_model", "schedule"],
    "properties": {
        "format": {"type": "integer", "const": FORMAT},
        "scenario": NAME, "variant": NAME,
        "params": {"type": "object", "maxProperties": 64, "propertyNames": {"maxLength": 64},
                   "additionalProperties": {"type": ["integer", "string"], "maxLength": 200}},
        "memory_model": {"enum": ["tso", "sc"]},
        "mode": {"enum": ["timed", "untimed"]},
        "strategy": NAME,
        "seed": {"type": ["integer", "null"]},
        "schedule": {"type": "array", "maxItems": MAX_ACTIONS, "items": NAME},
        "verdict": {"enum": list(ALL)},
        "reason": TEXT,
        "waits": {"type": "array", "maxItems": 256, "items": TEXT},
        "steps": {"type": "array", "maxItems": MAX_ACTIONS, "items": STEP},
    },
}


@cache
def _validator():
    return fastjsonschema.compile(SCHEMA)


def check(data: object, where: str = "trace") -> dict:
    """``data`` if it is a well-formed trace; else a one-line UsageError naming the field."""
    if isinstance(data, dict) and type(data.get("format")) is int and data["format"] != FORMAT:
        raise UsageError(f"{where}: format {data['format']} is not supported (want {FORMAT})")
    try:
        _validator()(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise UsageError(f"{where}: {_explain(exc)}") from None
    return data


def _explain(exc: fastjsonschema.JsonSchemaValueException) -> str:
    """The validator's message with the field named as a person would write it."""
    name = exc.name or "data"
    field = name[len("data"):].lstrip(".") or "a trace"
    if exc.rule == "required":
        missing = [k for k in exc.rule_definition if k not in (exc.value or {})]
        where = "" if field == "a trace" else f" in {field}"
        return f"missing field(s){where}: {', '.join(missing)}"
    rest = exc.message[len(name):].strip() if exc.message.startswith(name) else exc.message
    if exc.rule == "type":
        rest = "must be " + " or ".join(_TYPE_WORDS.get(t, t) for t in _types(exc))
    return f"{field} {rest}"


_TYPE_WORDS = {"object": "a JSON object", "array": "a list", "string": "a string",
               "integer": "an integer", "null": "null", "boolean": "true or false"}


def _types(exc: fastjsonschema.JsonSchemaValueException) -> list[str]:
    wanted = exc.rule_definition
    return [wanted] if isinstance(wanted, str) else list(wanted)
