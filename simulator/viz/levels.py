"""Small levels for the scheduler game: each race of a chapter cut down to a
handful of moves, with every thread's code on screen.

A level is a toy scenario (two or three threads, a few lines each, written
below so the game can show them) with a goal in words. The reader schedules
it in ``SchedulerGame(level)`` before the chapter's full scenario; a level's
``fixed`` variant cannot be won, which is its own lesson. The toys are not in
the scenario registry (``python -m simulator list`` shows the real bugs only);
the game and ``toy_counterexample`` drive them directly.

- ``lost-update`` (chapter 0): two threads add one to a counter, load then store;
- ``store-buffering`` (chapter 1): x86 lets a load overtake an older store;
- ``summary-bit`` (chapter 2): a halted vCPU, a low vector that sets the
  summary bit, a high one behind it that wakes nobody.
"""
from __future__ import annotations

from dataclasses import dataclass

from simulator.engine import ops
from simulator.engine.machine import Machine
from simulator.errors import UsageError
from simulator.scenarios.base import Scenario


# ------------------------------------------------------------------ lost update
def bump():
    count = yield ops.load("count", "bump")  # read the counter
    yield ops.store("count", count + 1, "bump")  # write it back, plus one


def atomic_bump():
    yield ops.fetch_add("count", 1, "bump")  # lock xadd: read and write at once


class LostUpdate(Scenario):
    name = "lost-update"
    title = "Two threads add one to a counter; can one addition be lost?"
    summary = "Both threads load the counter before either stores it back."
    actors = ("t0", "t1")
    variants = {"buggy": "load, then store", "fixed": "one atomic fetch_add"}
    property_text = "count == 2 at the end"
    memory_model = "sc"
    goal = "Make the counter end at 1: an addition is lost."

    def build(self, variant, params, memory_model, *, tracing, timed, step_budget):
        program = atomic_bump if variant == "fixed" else bump

        def both_counted(m):
            count = m.memory.cells["count"]
            return count == 2, f"count = {count}"

        m = Machine({"count": 0}, cpus=2, memory_model=memory_model, tracing=tracing,
                    step_budget=step_budget, check_property=both_counted)
        m.add_thread("t0", 0, program())
        m.add_thread("t1", 1, program())
        return m


# ------------------------------------------------------------------ store buffering
def left(saw):
    yield ops.store("x", 1, "left")  # my flag up
    saw["r0"] = yield ops.load("y", "left")  # is yours?


def right(saw):
    yield ops.store("y", 1, "right")  # my flag up
    saw["r1"] = yield ops.load("x", "right")  # is yours?


def left_fenced(saw):
    yield ops.store("x", 1, "left")
    yield ops.fence("left")  # mfence: my store reaches memory first
    saw["r0"] = yield ops.load("y", "left")


def right_fenced(saw):
    yield ops.store("y", 1, "right")
    yield ops.fence("right")
    saw["r1"] = yield ops.load("x", "right")


class StoreBuffering(Scenario):
    name = "store-buffering"
    title = "Each thread raises its flag, then looks at the other's"
    summary = "x86 lets each load run ahead of the store before it (store buffering)."
    actors = ("left", "right")
    variants = {"buggy": "store, then load", "fixed": "store, mfence, load"}
    property_text = "at least one thread sees the other's flag"
    goal = "Make both threads see 0: each missed the other's flag."

    def build(self, variant, params, memory_model, *, tracing, timed, step_budget):
        saw: dict[str, int] = {}
        fenced = variant == "fixed"

        def someone_saw(m):
            both_missed = saw.get("r0") == 0 and saw.get("r1") == 0
            return not both_missed, f"left saw y={saw.get('r0')}, right saw x={saw.get('r1')}"

        m = Machine({"x": 0, "y": 0}, cpus=2, memory_model=memory_model, tracing=tracing,
                    step_budget=step_budget, check_property=someone_saw)
        m.add_thread("left", 0, (left_fenced if fenced else left)(saw))
        m.add_thread("right", 1, (right_fenced if fenced else right)(saw))
        return m


# ------------------------------------------------------------------ summary bit
HIGH = 8  # the vCPU sleeps at priority class 7: classes 8 and up are deliverable


def vm_handle_hlt():
    yield ops.lock("vcpu.mtx", "vm_handle_hlt")
    while True:
        posted = yield ops.load("pir", "vmx_pending_intr")  # one bit per class
        if posted >> HIGH:  # a class above PPR 0x70 is posted: wake up
            break
        yield ops.cv_wait("vcpu.cv", "vcpu.mtx", "vm_handle_hlt")  # sleep
    yield ops.unlock("vcpu.mtx", "vm_handle_hlt")


def post(cls):
    yield ops.fetch_or("pir", 1 << cls, "vmx_set_intr_ready")  # post the vector
    was = yield ops.swap("pending", 1, "vmx_set_intr_ready")  # summary bit: ON
    if was == 0:  # only if the summary bit went from 0 to 1: notify
        yield ops.lock("vcpu.mtx", "vcpu_notify_event")
        yield ops.cv_signal("vcpu.cv", "vcpu_notify_event")
        yield ops.unlock("vcpu.mtx", "vcpu_notify_event")


def post_always(cls):
    yield ops.fetch_or("pir", 1 << cls, "vmx_set_intr_ready")
    yield ops.swap("pending", 1, "vmx_set_intr_ready")
    yield ops.lock("vcpu.mtx", "vcpu_notify_event")  # notify every time
    yield ops.cv_signal("vcpu.cv", "vcpu_notify_event")
    yield ops.unlock("vcpu.mtx", "vcpu_notify_event")


class SummaryBit(Scenario):
    name = "summary-bit"
    title = "A halted vCPU, a packet it may not take, and a clock tick it may"
    summary = ("The packet (class 6) sets the summary bit and wakes the vCPU, which "
               "sleeps again; the clock (class 13) finds the bit set and wakes nobody.")
    actors = ("vcpu0", "viona", "cyclic")
    variants = {"buggy": "notify only when the summary bit goes 0 -> 1",
                "fixed": "notify on every post"}
    property_text = "the vCPU wakes once a class above 7 is posted"
    memory_model = "sc"
    goal = "Leave vcpu0 asleep with the clock's class 13 posted."

    def build(self, variant, params, memory_model, *, tracing, timed, step_budget):
        poster = post_always if variant == "fixed" else post

        def woke(m):
            if m.by_name["vcpu0"].done:
                return True, "vcpu0 woke"
            return False, (f"vcpu0 sleeps with classes "
                           f"{[c for c in range(16) if m.memory.cells['pir'] >> c & 1]} posted")

        m = Machine({"pir": 0, "pending": 0}, cpus=3, memory_model=memory_model,
                    tracing=tracing, step_budget=step_budget, check_property=woke)
        m.add_thread("vcpu0", 0, vm_handle_hlt())
        m.add_thread("viona", 1, poster(6))
        m.add_thread("cyclic", 2, poster(13))
        return m


# ------------------------------------------------------------------ levels
@dataclass(frozen=True)
class Level:
    """One level of the game: a toy scenario and what winning means."""

    key: str
    chapter: int
    scenario: Scenario
    hint: str

    @property
    def goal(self) -> str:
        return self.scenario.goal


LEVELS = {lv.key: lv for lv in (
    Level("lost-update", 0, LostUpdate(),
          "Run t0's load, then t1's load: both now hold 0."),
    Level("store-buffering", 1, StoreBuffering(),
          "Let both stores sit in their buffers; a load reads memory, not the other buffer."),
    Level("summary-bit", 2, SummaryBit(),
          "Let vcpu0 check and sleep first; the packet's post wakes it, the clock's must not."),
)}


def level(key: str) -> Level:
    """The level called ``key`` (a one-line error for an unknown one)."""
    try:
        return LEVELS[key]
    except KeyError:
        raise UsageError(f"unknown level {key!r} (levels: {', '.join(LEVELS)})") from None


def levels(chapter: int | None = None) -> list[Level]:
    """Every level, or a chapter's, in order."""
    return [lv for lv in LEVELS.values() if chapter is None or lv.chapter == chapter]


__all__ = ["LEVELS", "Level", "level", "levels"]
