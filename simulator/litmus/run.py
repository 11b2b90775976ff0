"""Running a litmus test on the engine: every reachable outcome, and the verdict
on its ``exists`` clause.

Each thread P\\ *i* runs on CPU *i* of a Machine whose cells are the test's
shared locations. Its instructions become engine ops (a load, a store, a fence,
a locked op); registers are kept beside the machine and filled from the ops'
results. An outcome is read when nothing is left to do — every thread done and
every store buffer drained — so the memory columns are final values.
"""
from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

from simulator.engine import ops
from simulator.engine.machine import Machine
from simulator.errors import UsageError
from simulator.litmus.instructions import Instr
from simulator.litmus.parse import LitmusTest
from simulator.litmus.reach import reach_all

MODEL_NAMES = {"tso": "x86-TSO", "sc": "sequential consistency"}


@dataclass
class LitmusResult:
    """The outcomes of one test under one memory model."""

    test: LitmusTest
    model: str
    columns: list[str]
    outcomes: list[tuple[tuple[int, ...], bool, list[str]]]  # values, exists holds, schedule
    states: int

    @property
    def positive(self) -> int:
        return sum(1 for _, holds, _ in self.outcomes if holds)

    @property
    def result(self) -> str:
        """Always, Sometimes or Never: how many outcomes satisfy ``exists``."""
        if self.positive == 0:
            return "Never"
        return "Always" if self.positive == len(self.outcomes) else "Sometimes"

    @property
    def reachable(self) -> bool:
        return self.positive > 0

    @property
    def witness(self) -> list[str] | None:
        """A schedule reaching an outcome that satisfies ``exists``, if any."""
        return next((s for _, holds, s in self.outcomes if holds), None)

    @property
    def matches(self) -> bool | None:
        """Does the result agree with the file's Result: line? (None: nothing to compare:
        no Result: line, or a model other than x86-TSO, for which Result: is written.)"""
        if self.test.result is None or self.model != "tso":
            return None
        return self.result == self.test.result

    def to_json(self) -> dict:
        t = self.test
        return {
            "name": t.name, "file": t.path, "model": self.model, "expected": t.result,
            "result": self.result, "matches": self.matches, "exists": t.exists_text,
            "reachable": self.reachable, "states": self.states,
            "outcomes": [{"values": dict(zip(self.columns, values, strict=True)),
                          "exists": holds} for values, holds, _ in self.outcomes],
            "witness": self.witness,
        }


def _program(code: list[Instr], regs: dict[str, int], tag: str) -> Generator:
    """Thread P<i>: its instructions as engine ops, registers filled from results."""
    for ins in code:
        k, func = ins.kind, f"{tag}: {ins.text}"
        if k == "set":
            regs[ins.reg] = ins.imm
        elif k == "store-imm":
            yield ops.store(ins.loc, ins.imm, func)
        elif k == "store-reg":
            yield ops.store(ins.loc, regs.get(ins.reg, 0), func)
        elif k == "load":
            regs[ins.reg] = yield ops.load(ins.loc, func)
        elif k == "mfence":
            yield ops.fence(func)
        elif k == "xchg":
            regs[ins.reg] = yield ops.swap(ins.loc, regs.get(ins.reg, 0), func)
        elif k == "xadd":
            regs[ins.reg] = yield ops.fetch_add(ins.loc, regs.get(ins.reg, 0), func)
        elif k == "cmpxchg":
            expected, new = regs.get("EAX", 0), regs.get(ins.reg, 0)
            regs["EAX"] = yield ops.cas(ins.loc, expected, new, func)
        else:
            atomic = {"add": ops.fetch_add, "or": ops.fetch_or, "and": ops.fetch_and}[k]
            yield atomic(ins.loc, ins.imm, func)


def build(test: LitmusTest, model: str = "tso",
          tracing: bool = False) -> tuple[Machine, list[dict[str, int]]]:
    """A fresh machine running ``test``, and the threads' register files."""
    regs = [{r: v for (i, r), v in test.registers.items() if i == n}
            for n in range(len(test.threads))]
    m = Machine(dict(test.memory), cpus=len(test.threads), memory_model=model,
                tracing=tracing, step_budget=10_000)
    for n, code in enumerate(test.threads):
        m.add_thread(f"P{n}", n, _program(code, regs[n], f"P{n}"))
    return m, regs


DEFAULT_MAX_STATES = 200_000


def run_test(test: LitmusTest, model: str = "tso",
             max_states: int = DEFAULT_MAX_STATES) -> LitmusResult:
    """Explore every schedule of ``test`` under ``model`` and collect its outcomes.

    The search visits at most ``max_states`` machine states; a test with more
    is a one-line error saying so (an incomplete list of outcomes would give a
    wrong Result)."""
    if max_states < 1:
        raise UsageError(f"--max-states must be at least 1, not {max_states}")
    columns = test.observed()

    def outcome(m: Machine, regs: list[dict[str, int]]) -> tuple[int, ...]:
        values = []
        for col in columns:
            if ":" in col:
                i, reg = col.split(":")
                values.append(regs[int(i)].get(reg, 0))
            else:
                values.append(m.memory.cells[col])
        return tuple(values)

    found = reach_all(lambda: build(test, model), outcome, max_states=max_states)
    if not found.exhausted:
        raise UsageError(f"{test.path}: {test.name} has more than {max_states} states, "
                         f"the search budget; not every outcome was enumerated "
                         f"(raise it with --max-states)")
    rows = []
    for values, schedule in sorted(found.outcomes.items()):
        holds = test.exists.holds(dict(zip(columns, values, strict=True)))
        rows.append((values, holds, schedule))
    return LitmusResult(test, model, columns, rows, found.states)
