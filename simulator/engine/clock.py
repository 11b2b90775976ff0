"""Driving a Machine: untimed (pure interleavings) or timed with simpy.

Untimed, every enabled action is a choice and time does not exist: this is
what the explorer searches.

Timed, a ``simpy.Environment`` keeps the clock and one simpy process runs the
machine loop. Each action has an earliest time: a thread's op when its CPU has
paid for its previous op (``costs``), a store-buffer drain ``drain_ns`` after
the store entered the buffer, a timer when its deadline comes (an I/O latency,
the 120 s hung-task watchdog). The loop advances to the earliest time and
hands the strategy *every* action due at that instant: ties are explicit
choices, never settled by simpy's event order. A replayed schedule may pick
any enabled action; time then moves to that action's earliest time.
"""
from __future__ import annotations

from collections import deque

import simpy

from simulator.engine import ops as O
from simulator.engine.machine import Machine


def duration(ns: int, digits: int = 6) -> str:
    """A time in ns, in the largest unit of which it is at least one: 35 s, 1.5 ms, 40 ns."""
    for unit, size in (("s", 10**9), ("ms", 10**6), ("µs", 10**3)):
        if ns >= size:
            return f"{ns / size:.{digits}g} {unit}"
    return f"{ns} ns"


# What an op costs on the CPU that runs it, in ns, unless a model names its own.
DEFAULT_COSTS = {
    O.LOAD: 2, O.STORE: 2, O.FENCE: 35, O.CAS: 20, O.SWAP: 20, O.FETCH_OR: 20,
    O.FETCH_AND: 20, O.FETCH_ADD: 20, O.LOCK: 25, O.UNLOCK: 20, O.CV_WAIT: 60,
    O.CV_WAIT_SIG: 60, O.CV_REACQUIRE: 40, O.CV_SIGNAL: 60, O.CV_BROADCAST: 60,
    O.RW_ENTER: 30, O.RW_WRITER_WAIT: 30, O.RW_EXIT: 25, O.SLEEP: 50, O.HALT: 10,
    O.SEND_SIGNAL: 1500, O.SIGNAL_PROCESS: 1500,
    O.NOTE: 0, O.CHECK: 0,
}
DRAIN_NS = 20


def _nudge_only(strategy) -> list[str]:
    """When nothing can happen, a replayed schedule may still apply its nudge."""
    wants = getattr(strategy, "nudge_next", None)
    return ["nudge"] if wants is not None and wants() else []


def drive_untimed(machine: Machine, strategy) -> list[str]:
    """Step ``machine`` with ``strategy`` until nothing is enabled; return the schedule."""
    schedule: list[str] = []
    while True:
        actions = machine.enabled() or _nudge_only(strategy)
        if not actions:
            break
        action = strategy.choose(machine, actions)
        if action is None:
            break
        machine.step(action)
        schedule.append(action)
    return schedule


class TimedDriver:
    """Runs a Machine in simulated time on a simpy Environment."""

    def __init__(self, machine: Machine, strategy, costs: dict[str, int] | None = None,
                 drain_ns: int = DRAIN_NS, until_ns: int | None = None):
        self.machine = machine
        self.strategy = strategy
        self.costs = costs or {}
        self.drain_ns = drain_ns
        self.until_ns = until_ns
        self.env = simpy.Environment()
        self.cpu_free = [0] * machine.cpus
        self.store_times = [deque() for _ in range(machine.cpus)]
        self.deadlines: dict[str, int] = {}
        self.schedule: list[str] = []
        self.replaying = getattr(strategy, "name", "") == "replay"

    def cost(self, op: tuple) -> int:
        """The op's cost in ns: the model's figure for its function, else its kind's."""
        ns = self.costs.get(op[1])
        return DEFAULT_COSTS.get(op[0], 1) if ns is None else ns

    def earliest(self, action: str) -> int:
        thread = self.machine.by_name.get(action)
        if thread is not None:
            return self.cpu_free[thread.cpu]
        if action.startswith("drain:"):
            return self.store_times[int(action[9:])][0] + self.drain_ns
        if action.startswith("fire:"):
            return self.deadlines[action[5:]]
        return self.env.now  # the nudge

    def _loop(self):
        m, env, strategy = self.machine, self.env, self.strategy
        while True:
            actions = m.enabled() or _nudge_only(strategy)
            if not actions:
                return
            now = env.now
            if self.replaying:
                action = strategy.choose(m, actions)
                at = max(now, self.earliest(action)) if action in actions else now
            else:
                at, due = self._first_due(actions, now)
                action = strategy.choose(m, due)
            if action is None:
                return
            if self.until_ns is not None and at > self.until_ns:
                return
            if at > now:
                yield env.timeout(at - now)
            self._take(action)

    def _first_due(self, actions: list[str], now: int) -> tuple[int, list[str]]:
        """The earliest time any action can happen, and every action due then."""
        first, due = None, []
        for a in actions:
            t = self.earliest(a)
            if t < now:
                t = now
            if first is None or t < first:
                first, due = t, [a]
            elif t == first:
                due.append(a)
        return first, due

    def _take(self, action: str) -> None:
        m, now = self.machine, self.env.now
        m.now = now
        thread = m.by_name.get(action)
        op = thread.op if thread is not None else None
        m.step(action)
        self.schedule.append(action)
        if op is not None:
            self.cpu_free[thread.cpu] = now + self.cost(op)
        if m.memory.buffered:
            if thread is not None:
                self._sync_buffer(thread.cpu, now)
            elif action.startswith("drain:"):
                self._sync_buffer(int(action[9:]), now)
            elif action == "nudge":
                for cpu in range(m.cpus):
                    self._sync_buffer(cpu, now)
        if (thread is None or op[0] == O.SLEEP) and m.timers.keys() != self.deadlines.keys():
            for timer, (_, ns) in m.timers.items():
                self.deadlines.setdefault(timer, now + ns)
            for timer in [t for t in self.deadlines if t not in m.timers]:
                del self.deadlines[timer]

    def _sync_buffer(self, cpu: int, now: int) -> None:
        """Stamp a CPU's new buffered stores with the time they were made; forget
        the ones that drained (only the CPU that acted can have changed)."""
        times, size = self.store_times[cpu], len(self.machine.memory.buffers[cpu])
        while len(times) > size:
            times.popleft()
        while len(times) < size:
            times.append(now)

    def run(self) -> list[str]:
        """Run until nothing is enabled (or the time limit); return the schedule."""
        self.env.process(self._loop())
        self.env.run()
        return self.schedule
