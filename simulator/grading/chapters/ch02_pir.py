"""Chapter 2's exercises (OS-6829, pir-wakeup): the visible checks and the questions.

- **Part A, predict.** A local APIC in a seeded state — TPR, vectors in
  service, vectors requested: what is PPR, is a given vector deliverable,
  which vector does the CPU take next? ``question(seed)`` asks and ``solve``
  answers, both with the ``Vlapic`` the scenario runs; practice with
  ``python -m simulator quiz pir-wakeup --seed N [-c]``. The visible check
  looks at the form and at whether the three values agree with each other.
- **Part B, find the schedule** for the path the chapter does not walk
  through: vCPU0 is asleep before the packet comes; 0x60 wakes it, it looks,
  sleeps again — and the clock's post then notifies nobody.
- **Part C, fix it without class bits**: write ``notify_needed`` so that a
  higher class still wakes the vCPU while ``pending`` holds nothing but ON —
  the PIR itself says which classes are posted. The chapter's fixes
  (``PrioPostedInterrupts``, ``PendingPrioPostedInterrupts``) pass the fix
  check, but not Part C: they keep class bits.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from simulator.engine import direct
from simulator.engine.memory import ModelError
from simulator.errors import UsageError
from simulator.grading.exercise import Chapter, Check, ClassAnswer, Context, is_graded
from simulator.grading.fixes import FixExercise
from simulator.grading.predictions import check_consistent, is_bool, is_int
from simulator.grading.rebuild import OP_KINDS, ops_namespace
from simulator.grading.replay import check_schedule
from simulator.grading.result import CheckResult, failed, passed
from simulator.models.posted import PIR_MASK_PENDING, PIR_WORDS, PostedInterrupts
from simulator.models.vlapic import Vlapic, VlapicPage, deliverable, prio

NAME = "ch02_pir"
SCENARIO = "pir-wakeup"
STRANDED = "is deliverable at PPR"  # the words of the stuck verdict that matters


def namespace() -> dict:
    """What an answer may use: the names the exercise notebook's first cell imports."""
    return {"ops": ops_namespace(), "PostedInterrupts": PostedInterrupts,
            "PIR_MASK_PENDING": PIR_MASK_PENDING, "PIR_WORDS": PIR_WORDS, "prio": prio}


# =================================================================== Part A
TPRS = (0x00, 0x20, 0x45, 0x60, 0x70, 0x72, 0x90, 0xB3)
VECTORS = (0x31, 0x41, 0x52, 0x60, 0x61, 0x75, 0x7E, 0x83, 0xA4, 0xB1, 0xD3, 0xEF)
KEYS = {
    "ppr": "the processor priority, an integer such as 0x70",
    "deliverable": "True or False: is the asked vector deliverable at that PPR?",
    "delivers": "the vector the CPU takes next, interrupts enabled; 0 if none",
}


@dataclass(frozen=True)
class Question:
    """One seeded APIC state: TPR, vectors in service, vectors requested, one asked about."""

    seed: int
    tpr: int
    isr: tuple[int, ...]
    irr: tuple[int, ...]
    asked: int

    def vlapic(self) -> Vlapic:
        """The state as a ``Vlapic`` (the model the pir-wakeup scenario runs)."""
        v = Vlapic(self.tpr)
        for vec in self.isr:
            v.isr |= 1 << vec
        for vec in self.irr:
            v.accept_msi(vec)
        v.update_ppr()
        return v

    def answer(self) -> dict:
        """The answer, for practice seeds; graded ones are the grader's to answer."""
        if is_graded(self.seed):
            raise UsageError(f"seed {self.seed} is a graded question: the grader answers it")
        return solve(self)

    def __str__(self) -> str:
        def hexes(vs):
            return ", ".join(f"{x:#04x}" for x in vs) or "none"

        kind = "graded question" if is_graded(self.seed) else "practice question"
        lines = [f"# seed {self.seed} ({kind}): one local APIC, interrupts enabled",
                 f"#   TPR = {self.tpr:#04x}",
                 f"#   in service (ISR): {hexes(self.isr)}",
                 f"#   requested (IRR):  {hexes(self.irr)}", "#", "# predict:"]
        lines += [f"#   {key:<11} = ?   ({text})".replace("the asked vector",
                                                           f"vector {self.asked:#04x}")
                  for key, text in KEYS.items()]
        return "\n".join(lines)


def question(seed: int) -> Question:
    """The APIC state for ``seed`` (any integer at least 0)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"a seed is a whole number, 0 or more, not {seed!r}")
    rng = random.Random(seed)
    isr = tuple(sorted(rng.sample(VECTORS, rng.choice((0, 1, 1, 2)))))
    irr = tuple(sorted(rng.sample([v for v in VECTORS if v not in isr], rng.choice((1, 2, 3)))))
    return Question(seed, rng.choice(TPRS), isr, irr, rng.choice(irr))


def solve(q: Question) -> dict:
    """The right answer, computed by the model."""
    v = q.vlapic()
    return {"ppr": v.ppr, "deliverable": deliverable(q.asked, v.ppr),
            "delivers": v.highest_deliverable() or 0}


FORM = {
    "ppr": (lambda v: is_int(v) and 0 <= v <= 0xFF, "an integer from 0 to 0xff"),
    "deliverable": (is_bool, "True or False"),
    "delivers": (lambda v: is_int(v) and (v == 0 or 16 <= v <= 0xFF), "a vector, or 0"),
}


def consistent(answer: dict, q: Question) -> str | None:
    """Why the three values cannot all be true of this APIC, or None — taking
    the student's PPR as given: the chapter's delivery rules decide the rest."""
    ppr = answer["ppr"]
    if answer["deliverable"] != deliverable(q.asked, ppr):
        return (f"deliverable = {answer['deliverable']} does not fit ppr = {ppr:#04x}: compare "
                f"the classes of {q.asked:#04x} and of PPR")
    top = max(q.irr)
    want = top if deliverable(top, ppr) else 0
    if answer["delivers"] != want:
        return (f"delivers = {answer['delivers']:#04x} does not fit ppr = {ppr:#04x}: which "
                "requested vector has the highest priority, and does it clear PPR?")
    return None


def check_prediction(answer: object, ctx: Context) -> CheckResult:
    """Part A (visible): the form, and the values agree with each other."""
    return check_consistent(answer, FORM, lambda a: consistent(a, question(ctx.seed(NAME))),
                            "deliverable and delivers agree with your PPR; the grader "
                            "compares PPR with the APIC's")


# =================================================================== Part B
def check_stranding_schedule(schedule: object, ctx: Context) -> CheckResult:
    """Part B (visible): vCPU0 is left asleep with a deliverable vector posted (buggy)."""
    result = check_schedule(schedule, SCENARIO, "buggy", None, ("stuck",))
    if result and STRANDED not in result.reason:
        return failed(f"stuck, but not stranded with a deliverable vector: {result.reason}",
                      result.trace_json)
    return result


# =================================================================== Part C
PIR_FIX = FixExercise(SCENARIO, "OS-6829", "no longer strands the vCPU", max_states=150_000,
                      limit_hint="the run never ends: does the vCPU keep waking up for "
                                 "nothing, or does some code never stop yielding?")
HOOKS = ("notify_needed", "take_pending", "vmx_flush_pir_prio", "trim_stale_prio")
ON_ONLY = ClassAnswer(PostedInterrupts, ("notify_needed",))
ANY_FIX = ClassAnswer(PostedInterrupts, HOOKS)
POSTS = (0x60, 0x61, 0xD3, 0xD4, 0x65)


def check_fix(posted: type, ctx: Context) -> CheckResult:
    """Part C (visible): the explorer finds no stranded vCPU within its bound."""
    return PIR_FIX.check(posted)


MOST_OPS = 1_000  # one post takes a handful of operations


def run_alone(program, cells: dict, what: str):
    """Run one code path straight through (``direct.call``), each yielded value
    checked to be an op, at most ``MOST_OPS`` of them."""
    def checked():
        result = None
        for _ in range(MOST_OPS):
            try:
                op = program.send(result)
            except StopIteration as done:
                return done.value
            if not (type(op) is tuple and len(op) == 5 and op[0] in OP_KINDS):
                raise UsageError(f"{what}: the code yielded {op!r:.60}, which is not an op")
            result = yield op
        raise UsageError(f"{what}: more than {MOST_OPS} ops for one post: does it loop?")

    try:
        return direct.call(checked(), cells, max_ops=MOST_OPS + 1)
    except ModelError as exc:
        raise UsageError(f"{what}: {exc}") from None


def post_and_claim(posted: type, posts=POSTS):
    """Post ``posts`` one after the other, each alone, then claim them on VM entry;
    yields ``(what, vector, notified, cells)`` after each step."""
    pir = posted()
    cells = pir.cells()
    for vector in posts:
        notified = run_alone(pir.vmx_set_intr_ready(vector), cells, f"posting {vector:#04x}")
        yield "post", vector, notified, cells
    run_alone(pir.vmx_inject_pir(VlapicPage(Vlapic())), cells, "the claim on VM entry")
    yield "claim", None, None, cells


def check_on_only(posted: type, ctx: Context) -> CheckResult:
    """Part C (visible): no cells beyond the buggy descriptor's, and ``pending``
    never holds more than the ON bit."""
    extra = sorted(set(posted().cells()) - set(PostedInterrupts().cells()))
    if extra:
        return failed(f"the descriptor has cells the buggy one has not ({', '.join(extra)}): "
                      "Part C keeps no record of classes anywhere; the PIR already says which "
                      "classes are posted")
    for what, vector, _notified, cells in post_and_claim(posted):
        pending = cells["pir.pending"]
        if pending & ~PIR_MASK_PENDING:
            step = f"posting {vector:#04x}" if what == "post" else "the claim on VM entry"
            return failed(f"after {step}, pending = {pending:#x}: Part C keeps nothing but "
                          "the ON bit there (the PIR already says which classes are posted)")
    return passed("pending holds nothing but the ON bit, and no other cell records classes")


CHAPTER = Chapter(
    name=NAME, scenario=SCENARIO, notebook="02-PIR-Wakeups", namespace=namespace,
    question=question,
    checks={
        "predict": Check(check_prediction, cost_s=0.1),
        "schedule": Check(check_stranding_schedule, cost_s=0.2),
        "on-only": Check(check_on_only, ON_ONLY, cost_s=0.1),
        "fix": Check(check_fix, ON_ONLY, cost_s=15.0),
        "any-fix": Check(check_fix, ANY_FIX, cost_s=15.0),
    },
)
