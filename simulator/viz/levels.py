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
  summary bit, a high one behind it that wakes nobody;
- ``doorbell`` (chapter 3): a canceller rings for an answer while holding the
  lock the worker needs; the bell rings at the worker, and nobody answers.
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


# ------------------------------------------------------------------ doorbell
def canceller(bell):
    yield ops.lock("sc->mtx", "ahci_port_stop")  # the AHCI lock, for the whole cancel
    busy = yield ops.load("busy", "blockif_cancel")  # is the worker still at it?
    if busy:
        yield ops.store(bell, 1, "pthread_kill")  # SIGCONT: ring the bell
        yield ops.lock("bse_mtx", "blockif_cancel")
        while not (yield ops.load("answered", "blockif_cancel")):
            yield ops.cv_wait("bse_cond", "bse_mtx", "blockif_cancel")  # wait for the answer
        yield ops.unlock("bse_mtx", "blockif_cancel")
    yield ops.unlock("sc->mtx", "ahci_port_stop")


def worker():
    yield ops.store("busy", 0, "blockif_proc")  # the TRIM is done
    yield ops.lock("sc->mtx", "ata_ioreq_cb")  # report it, under the AHCI lock
    yield ops.unlock("sc->mtx", "ata_ioreq_cb")


def listener():
    yield ops.halt("kqueue", "kevent")  # the main thread sleeps until its bell rings
    yield ops.lock("bse_mtx", "blockif_sigcont_handler")
    yield ops.store("answered", 1, "blockif_sigcont_handler")  # answer the canceller
    yield ops.cv_signal("bse_cond", "blockif_sigcont_handler")
    yield ops.unlock("bse_mtx", "blockif_sigcont_handler")


class Doorbell(Scenario):
    name = "doorbell"
    title = "A canceller rings a bell and waits, holding the lock the worker needs"
    summary = ("The bell is the worker thread's (pthread_kill); the listener hears only the "
               "process's bell (its kqueue). Nobody answers, and the worker cannot report.")
    actors = ("ioemu", "blkio", "mevent")
    variants = {"buggy": "the bell rings at the worker thread (macOS: nobody hears it)",
                "fixed": "the bell rings at the process: the listener's kqueue hears it"}
    property_text = "the canceller gets its answer, or finds the worker done"
    memory_model = "sc"
    goal = "Leave ioemu waiting for an answer, holding sc->mtx, with blkio stuck on it."

    def build(self, variant, params, memory_model, *, tracing, timed, step_budget):
        bell = "kqueue" if variant == "fixed" else "blkio.signal"

        def answered(m):
            if m.by_name["ioemu"].done:
                return True, "ioemu got on: blkio was done, or the listener answered"
            stuck = "" if m.by_name["blkio"].done else "; blkio waits for sc->mtx"
            return False, f"ioemu waits for an answer, holding sc->mtx{stuck}"

        m = Machine({"busy": 1, "answered": 0, "kqueue": 0, "blkio.signal": 0}, cpus=3,
                    memory_model=memory_model, tracing=tracing, step_budget=step_budget,
                    check_property=answered)
        m.add_thread("ioemu", 0, canceller(bell))
        m.add_thread("blkio", 1, worker())
        m.add_thread("mevent", 2, listener(), daemon=True)
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
    Level("doorbell", 3, Doorbell(),
          "Let ioemu look while blkio is still busy; then let blkio finish."),
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
