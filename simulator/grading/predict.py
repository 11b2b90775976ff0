"""Predict-the-outcome questions about OS-7613, seeded like OSTEP's homework.

Every question starts the same way: both writes are in flight, the first
completed with an interrupt, the guest is inside its interrupt handler with
interrupts switched off (``avail.flags`` = NO_INTERRUPT, still in CPU 0's
store buffer), and the device has just published the second completion
(``used.idx`` = 2, still in CPU 1's store buffer). Four things then happen in
an order the seed picks:

- ``drain:cpu0``   the guest's "interrupts off" store reaches memory;
- ``drain:cpu1*``  the device's used entry and ``used.idx`` = 2 reach memory;
- ``blkio*2``      the device decides: it loads ``used.idx``, then ``avail.flags``;
- ``vcpu0*4``      the guest turns interrupts back on (two stores), fences, and
                   ``virtqueue_poll`` loads ``used.idx``;

and then every thread runs in turn to the end (``finish``). The same code
writes the question and works out its answer, by running the schedule.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from simulator import runs
from simulator.errors import UsageError
from simulator.grading.schedules import ShorthandError, expand

SCENARIO = "virtio-barriers"
PREFIX = ("vcpu0* blkio* fire:io.req0 blkio* vcpu0>virtqueue_enable_cb_prepare "
          "fire:io.req1 blkio>vq_endchains")
EVENTS = {
    "drain:cpu0": "the guest's avail.flags = NO_INTERRUPT store reaches memory",
    "drain:cpu1*": "the device's used entry and used.idx = 2 reach memory",
    "blkio*2": "the device loads used.idx, then avail.flags, to decide on an interrupt",
    "vcpu0*4": "the guest clears NO_INTERRUPT, writes used_event, fences, loads used.idx",
}
SUFFIX = "finish"
KEYS = {
    "flags_seen": "the value the device's second vq_endchains loads from avail.flags (0 or 1)",
    "interrupts": "how many interrupts (vm_lapic_msi) the device sends in the whole run",
    "poll_reads": "the value the guest's first virtqueue_poll loads from used.idx",
    "verdict": "how the run ends: 'ok' or 'stuck'",
}


@dataclass(frozen=True)
class Question:
    """One seeded question: the schedule in shorthand and what to predict."""

    seed: int
    order: tuple[str, ...]

    @property
    def schedule(self) -> str:
        return " ".join((PREFIX, *self.order, SUFFIX))

    def __str__(self) -> str:
        lines = [f"# seed {self.seed}: virtio-barriers, buggy device, 2 writes, flags mode",
                 f"# schedule: {self.schedule}", "#", "# after the common start, in this order:"]
        lines += [f"#   {i}. {word:<12} {EVENTS[word]}" for i, word in enumerate(self.order, 1)]
        lines += ["#   then every thread runs in turn to the end", "#", "# predict:"]
        lines += [f"#   {key:<11} = ?   ({text})" for key, text in KEYS.items()]
        return "\n".join(lines)

    def answer(self) -> dict:
        """The answer, found by running the schedule on the buggy device."""
        return outcome(self.schedule)


def _possible_orders() -> list[tuple[str, ...]]:
    """Orders that can be followed: once the guest fences, its buffer is empty,
    so ``drain:cpu0`` must come before ``vcpu0*4``."""
    orders = []
    for order in itertools.permutations(EVENTS):
        if order.index("drain:cpu0") < order.index("vcpu0*4"):
            orders.append(order)
    return orders


ORDERS = _possible_orders()


def question(seed: int) -> Question:
    """The question for ``seed`` (any integer)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UsageError(f"a seed is an integer, not {seed!r}")
    return Question(seed, ORDERS[random.Random(seed).randrange(len(ORDERS))])


def expected(seed: int) -> dict:
    """The right answer to ``question(seed)``."""
    return question(seed).answer()


def outcome(schedule: str) -> dict:
    """Run a shorthand schedule on the buggy device and read off the four answers."""
    try:
        raw = expand(schedule, SCENARIO, "buggy")
    except ShorthandError as exc:
        raise UsageError(f"the question's schedule cannot be followed: {exc}") from None
    trace = runs.replay(raw, SCENARIO, "buggy")
    flags = [s["result"] for s in trace.steps
             if s["func"] == "vq_endchains" and s["detail"] == "avail.flags"]
    polls = [s["result"] for s in trace.steps
             if s["func"] == "virtqueue_poll" and s["op"] == "load"]
    msis = [s for s in trace.steps if s["func"] == "vm_lapic_msi"]
    return {"flags_seen": flags[1], "interrupts": len(msis), "poll_reads": polls[0],
            "verdict": trace.verdict.kind}
