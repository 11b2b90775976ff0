"""Chapter 1's exercises (OS-7613, virtio-barriers): the visible checks and the questions.

- **Part A, predict.** A seeded question (OSTEP style): after a common start,
  four events happen in an order the seed picks; predict four values. The
  same code asks (``question(seed)``) and answers (``solve``); practice with
  ``python -m simulator quiz virtio-barriers --seed N [-c]``. The visible check
  looks at the form and at whether the four values agree with each other;
  the hidden check compares them with the model's run.
- **Part B, find the schedule** that breaks a given wrong fix: a device whose
  author fenced in flags mode only, run in EVENT_IDX mode with three writes,
  the first two each completed with its own interrupt and the third lost.
- **Part C, place the barrier.** Five places a fence could go in the device's
  completion path (``PlacedFenceDevice``, labels A to E). For each, the
  student says "sound" or gives a schedule that loses the interrupt; the
  visible check replays every schedule, the hidden check compares the sound set.
- **Part D, fix it without mfence**: a locked instruction instead
  (``ops.fence`` is refused). Explored within a state budget.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from simulator import runs
from simulator.engine import ops
from simulator.errors import UsageError
from simulator.grading.exercise import Chapter, Check, ClassAnswer, Context, is_graded
from simulator.grading.fixes import FixExercise
from simulator.grading.predictions import check_consistent, is_int, one_of
from simulator.grading.rebuild import ops_namespace
from simulator.grading.replay import check_schedule
from simulator.grading.result import CheckResult, failed, passed
from simulator.grading.schedules import ShorthandError, expand
from simulator.models.virtio import (
    U16,
    VRING_AVAIL_F_NO_INTERRUPT,
    SplitRing,
    VirtioDevice,
    vring_need_event,
)

NAME = "ch01_virtio"
SCENARIO = "virtio-barriers"


def namespace() -> dict:
    """What an answer may use: the names the exercise notebook's first cell imports."""
    return {"ops": ops_namespace(), "VirtioDevice": VirtioDevice, "SplitRing": SplitRing,
            "VRING_AVAIL_F_NO_INTERRUPT": VRING_AVAIL_F_NO_INTERRUPT,
            "vring_need_event": vring_need_event, "U16": U16}


# =================================================================== Part A
PREFIX = ("vcpu0* blkio* fire:io.req0 blkio* vcpu0>virtqueue_enable_cb_prepare "
          "fire:io.req1 blkio>vq_endchains")
DECIDES = {"buggy": "blkio*2", "fixed": "blkio*3"}
EVENTS = {
    "drain:cpu0": "the guest's avail.flags = NO_INTERRUPT store reaches memory",
    "drain:cpu1*": "the device's used entry and used.idx = 2 reach memory",
    "blkio*2": "the device loads used.idx, then avail.flags, to decide on an interrupt",
    "blkio*3": "the device loads used.idx, fences (its buffer drains), then loads avail.flags",
    "vcpu0*4": "the guest clears NO_INTERRUPT, writes used_event, fences, loads used.idx",
}
KEYS = {
    "flags_seen": "the value the device's second vq_endchains loads from avail.flags (0 or 1)",
    "interrupts": "how many interrupts (vm_lapic_msi) the device sends in the whole run",
    "poll_reads": "the value the guest's first virtqueue_poll loads from used.idx",
    "verdict": "how the run ends: 'ok' or 'stuck'",
}
FORM = {
    "flags_seen": (lambda v: v in (0, 1) and is_int(v), "0 or 1"),
    "interrupts": (lambda v: is_int(v) and 0 <= v <= 4, "a count of interrupts, 0 to 4"),
    "poll_reads": (lambda v: is_int(v) and 0 <= v <= 4, "a value of used.idx, 0 to 4"),
    "verdict": (one_of("ok", "stuck"), "'ok' or 'stuck'"),
}


@dataclass(frozen=True)
class Question:
    """One seeded question: the device, the schedule in shorthand, what to predict."""

    seed: int
    device: str  # "buggy" or "fixed"
    order: tuple[str, ...]

    @property
    def schedule(self) -> str:
        return " ".join((PREFIX, *self.order, "finish"))

    def __str__(self) -> str:
        kind = "graded question" if is_graded(self.seed) else "practice question"
        device = ("the buggy device (no barrier)" if self.device == "buggy" else
                  "the fixed device (mfence before it loads avail.flags)")
        lines = [f"# seed {self.seed} ({kind}): virtio-barriers, {device}, 2 writes, flags mode",
                 f"# schedule: {self.schedule}", "#",
                 "# both writes are in flight; request 0 completed with an interrupt; the guest",
                 "# is in its handler with NO_INTERRUPT in CPU 0's store buffer; the device has",
                 "# just stored used.idx = 2 (in CPU 1's buffer). Then, in this order:"]
        lines += [f"#   {i}. {word:<12} {EVENTS[word]}" for i, word in enumerate(self.order, 1)]
        lines += ["#   then every thread runs in turn to the end", "#", "# predict:"]
        lines += [f"#   {key:<11} = ?   ({text})" for key, text in KEYS.items()]
        return "\n".join(lines)

    def answer(self) -> dict:
        """The answer, for practice seeds; graded ones are the grader's to answer."""
        if is_graded(self.seed):
            raise UsageError(f"seed {self.seed} is a graded question: the grader answers it")
        return solve(self)


def _orders(device: str) -> list[tuple[str, ...]]:
    """Orders that can be followed. The guest's fence empties CPU 0's buffer, so
    ``drain:cpu0`` comes before ``vcpu0*4``; the fixed device's fence empties
    CPU 1's, so there ``drain:cpu1*`` comes before the device decides."""
    decides = DECIDES[device]
    out = []
    for order in itertools.permutations(("drain:cpu0", "drain:cpu1*", decides, "vcpu0*4")):
        if order.index("drain:cpu0") > order.index("vcpu0*4"):
            continue
        if device == "fixed" and order.index("drain:cpu1*") > order.index(decides):
            continue
        out.append(order)
    return out


QUESTIONS = [(d, o) for d in ("buggy", "fixed") for o in _orders(d)]


def question(seed: int) -> Question:
    """The question for ``seed`` (any integer at least 0)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"a seed is a whole number, 0 or more, not {seed!r}")
    device, order = QUESTIONS[random.Random(seed).randrange(len(QUESTIONS))]
    return Question(seed, device, order)


def solve(q: Question) -> dict:
    """Run the question's schedule on its device and read off the four answers."""
    try:
        raw = expand(q.schedule, SCENARIO, q.device)
    except ShorthandError as exc:
        raise UsageError(f"the question's schedule cannot be followed: {exc}") from None
    trace = runs.replay(raw, SCENARIO, q.device)
    flags = [s["result"] for s in trace.steps
             if s["func"] == "vq_endchains" and s["detail"] == "avail.flags"]
    polls = [s["result"] for s in trace.steps
             if s["func"] == "virtqueue_poll" and s["op"] == "load"]
    msis = [s for s in trace.steps if s["func"] == "vm_lapic_msi"]
    return {"flags_seen": flags[1], "interrupts": len(msis), "poll_reads": polls[0],
            "verdict": trace.verdict.kind}


def consistent(answer: dict) -> str | None:
    """Why the four values cannot all be true together, or None.

    Two requests: the first always raised its interrupt; the second raises one
    exactly when the device saw interrupts on. The guest misses request 1 only
    when both sides looked too early: the device saw NO_INTERRUPT and the guest
    read the old used.idx."""
    flags, polls = answer["flags_seen"], answer["poll_reads"]
    if answer["interrupts"] != 2 - flags:
        return (f"interrupts = {answer['interrupts']} does not fit flags_seen = {flags}: "
                "request 0 raised one; does the device raise another for request 1?")
    stuck = flags == 1 and polls == 1
    if (answer["verdict"].strip().lower() == "stuck") != stuck:
        return (f"verdict = {answer['verdict']!r} does not fit flags_seen = {flags} and "
                f"poll_reads = {polls}: who collects request 1 then?")
    return None


def check_prediction(answer: object, ctx: Context) -> CheckResult:
    """Part A (visible): the form, and the four values agree with each other."""
    return check_consistent(answer, FORM, consistent,
                            "the four values are well formed and agree with each other; "
                            "the grader compares them with the model's run")


# =================================================================== Part B
class FlagsModeFenceDevice(VirtioDevice):
    """A wrong fix: its author tested with flags mode only, and fenced only there."""

    variant_name = "fence-in-flags-mode"

    def barrier_before_notify_check(self):
        if not self.event_idx:
            yield ops.fence("vq_endchains")


EVENT_IDX = {"mode": "event_idx"}
PART_B = {"mode": "event_idx", "requests": 3}


def check_event_idx_schedule(schedule: object, ctx: Context) -> CheckResult:
    """Part B (visible): the schedule loses an interrupt with ``FlagsModeFenceDevice``
    in EVENT_IDX mode, three writes in flight."""
    return check_schedule(schedule, SCENARIO, FlagsModeFenceDevice, PART_B, ("stuck",))


# =================================================================== Part C
class PlacedFenceDevice(VirtioDevice):
    """bhyve's completion path with five places a fence could go, A to E.

    ``placement`` says which one holds an ``mfence``; ``placed("C")`` is the
    device with the fence at C."""

    placement = ""

    def fence_at(self, label: str, func: str):
        if label == self.placement:
            yield ops.fence(func)

    def vq_relchain(self, head: int, iolen: int):
        r = self.ring
        uidx = yield ops.load(r.USED_IDX, "vq_relchain")
        yield from self.fence_at("A", "vq_relchain")
        yield ops.store(r.used_id(uidx), head, "vq_relchain")
        yield ops.store(r.used_len(uidx), iolen, "vq_relchain")
        yield from self.fence_at("B", "vq_relchain")  # where virtio's write barrier sits
        yield ops.store(r.USED_IDX, (uidx + 1) & U16, "vq_relchain")

    def vq_endchains(self):
        r = self.ring
        old_idx = self.vq_save_used
        yield from self.fence_at("C", "vq_endchains")
        new_idx = yield ops.load(r.USED_IDX, "vq_endchains")
        self.vq_save_used = new_idx
        yield from self.fence_at("D", "vq_endchains")
        if self.event_idx:
            event_idx = yield ops.load(r.USED_EVENT, "vq_endchains")
            intr = vring_need_event(event_idx, new_idx, old_idx)
        else:
            flags = yield ops.load(r.AVAIL_FLAGS, "vq_endchains")
            intr = new_idx != old_idx and not flags & VRING_AVAIL_F_NO_INTERRUPT
        yield from self.fence_at("E", "vq_endchains")
        if intr:
            yield from self.vq_interrupt()


LABELS = "ABCDE"


def placed(label: str) -> type:
    """The device with its fence at ``label`` (A to E)."""
    if label not in LABELS or len(label) != 1:
        raise UsageError(f"a placement is one of {', '.join(LABELS)}, not {label!r}")
    return type(f"FenceAt{label}", (PlacedFenceDevice,),
                {"placement": label, "variant_name": f"fence-at-{label}"})


def check_placements(answer: object, ctx: Context) -> CheckResult:
    """Part C (visible): every place judged, every "unsound" shown by a schedule."""
    if not isinstance(answer, dict) or sorted(answer) != list(LABELS):
        got = sorted(answer) if isinstance(answer, dict) else type(answer).__name__
        return failed(f"the answer should be a dict with one entry per place, {', '.join(LABELS)}"
                      f" (got {got})")
    shown = []
    for label in LABELS:
        value = answer[label]
        if isinstance(value, str) and value.strip().lower() == "sound":
            continue
        try:
            result = check_schedule(value, SCENARIO, placed(label), None, ("stuck",))
        except UsageError as exc:
            return failed(f"{label}: {exc}")
        if not result:
            return failed(f"{label}: the schedule does not show a lost interrupt with the fence "
                          f"at {label}: {result.reason}", result.trace_json)
        shown.append(label)
    sound = [label for label in LABELS if label not in shown]
    return passed(f"your schedules lose the interrupt with the fence at "
                  f"{', '.join(shown) or 'no place'}; the grader checks the places you call "
                  f"sound ({', '.join(sound) or 'none'})")


# =================================================================== Part D
VIRTIO_FIX = FixExercise(SCENARIO, "OS-7613", "no longer loses the interrupt", max_states=50_000)
LOCKED_FIX = ClassAnswer(VirtioDevice, ("vq_endchains", "vq_relchain",
                                        "barrier_before_notify_check"),
                         forbid=("fence",),
                         why_forbidden="Part D asks for a fix without mfence")
ANY_FIX = ClassAnswer(VirtioDevice, LOCKED_FIX.hooks)


def check_fix(device: type, ctx: Context) -> CheckResult:
    """Part D (visible): the explorer finds no lost interrupt (flags mode)."""
    return VIRTIO_FIX.check(device)



CHAPTER = Chapter(
    name=NAME, scenario=SCENARIO, notebook="01-Virtio-Barriers", namespace=namespace,
    question=question,
    checks={
        "predict": Check(check_prediction, cost_s=0.1),
        "schedule": Check(check_event_idx_schedule, cost_s=0.2),
        "placements": Check(check_placements, cost_s=0.5),
        "fix": Check(check_fix, LOCKED_FIX, cost_s=4.0),
        "any-fix": Check(check_fix, ANY_FIX, cost_s=4.0),
    },
)
