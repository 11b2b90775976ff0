"""Chapter 3's exercises (hyperkit #94, blockif-cancel): the visible checks and the questions.

- **Part A, predict.** A seeded setting: the host (FreeBSD, macOS, illumos),
  how long the TRIM takes, the guest's command timeout, and which of its two
  locks ``blockif_cancel`` keeps while it waits for the blkio thread. Predict
  who runs ``blockif_sigcont_handler``, whether the VM hangs, and which lock
  blkio is left waiting for. ``question(seed)`` asks and ``solve`` answers by
  running the scenario in simulated time; practice with
  ``python -m simulator quiz blockif-cancel --seed N [-c]``. The visible check
  looks at the form and at whether the values agree with each other and with
  the chapter's rules.
- **Part B, find the schedule** the chapter does not show: hang hyperkit with
  blkio's TRIM already DONE before ioemu sends its SIGCONT — ioemu looked at
  ``be_status`` a moment too early.
- **Part C, fix hyperkit without a signal handler**: override the round of
  ``blockif_cancel`` (``blockif_cancel_wait``) on macOS, leaving
  ``blockif_init`` alone, and let the explorer check every interleaving. A round
  must wait for something: the model folds later rounds into one wait, so a
  round that only looks again (a spin) is caught by a look at the first one.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from simulator import runs
from simulator.engine import ops
from simulator.engine.strategies import RoundRobin
from simulator.errors import UsageError
from simulator.grading.exercise import Chapter, Check, ClassAnswer, Context, is_graded
from simulator.grading.fixes import FixExercise
from simulator.grading.predictions import check_consistent, is_bool, one_of
from simulator.grading.rebuild import ops_namespace
from simulator.grading.replay import check_schedule
from simulator.grading.result import CheckResult, failed, passed
from simulator.models.blockif import (
    BST_BUSY,
    BST_DONE,
    VARIANTS,
    HyperkitBlockif,
)
from simulator.models.host import SIGCONT

NAME = "ch03_blockif"
SCENARIO = "blockif-cancel"
SECOND = 10**9
AHCI_LOCK = "sc->mtx"


def namespace() -> dict:
    """What an answer may use: the names the exercise notebook's first cell imports."""
    return {"ops": ops_namespace(), "HyperkitBlockif": HyperkitBlockif, "SIGCONT": SIGCONT,
            "BST_BUSY": BST_BUSY, "BST_DONE": BST_DONE}


# =================================================================== Part A
HOSTS = ("freebsd", "macos", "macos", "illumos")  # macOS, where it hangs, twice as often
TRIMS_S = (12, 25, 35, 45, 90)
TIMEOUTS_S = (30, 30, 60)  # Linux's default is 30 s
KEEPS = {  # what blockif_cancel keeps while it waits for blkio, in words
    "both": "sc->mtx and bc_mtx, as in hyperkit",
    "bc_mtx": "bc_mtx only (it lets go of sc->mtx while it waits, and takes it back after)",
    "sc->mtx": "sc->mtx only (it lets go of bc_mtx while it waits, and takes it back after)",
    "neither": "neither (it lets go of both while it waits, and takes them back after)",
}
KEYS = {
    "handler_runs_on": "which thread runs blockif_sigcont_handler: 'mevent', 'blkio' or "
                       "'nobody'",
    "vm_hangs": "True or False: does the run end with the VM hung (a deadlock)?",
    "blkio_waits_for": "the lock blkio is left waiting for at the end: 'sc->mtx', 'bc_mtx' "
                       "or 'nothing'",
}
FORM = {
    "handler_runs_on": (one_of("mevent", "blkio", "nobody"), "'mevent', 'blkio' or 'nobody'"),
    "vm_hangs": (is_bool, "True or False"),
    "blkio_waits_for": (one_of("sc->mtx", "bc_mtx", "nothing"), "'sc->mtx', 'bc_mtx' or "
                        "'nothing'"),
}


@dataclass(frozen=True)
class Question:
    """One seeded setting: host, TRIM length, guest timeout, locks kept while waiting."""

    seed: int
    host: str
    trim_s: int
    timeout_s: int
    keeps: str

    def params(self) -> dict:
        return {"io_ns": self.trim_s * SECOND, "timeout_ns": self.timeout_s * SECOND}

    def answer(self) -> dict:
        """The answer, for practice seeds; graded ones are the grader's to answer."""
        if is_graded(self.seed):
            raise UsageError(f"seed {self.seed} is a graded question: the grader answers it")
        return solve(self)

    def __str__(self) -> str:
        kind = "graded question" if is_graded(self.seed) else "practice question"
        lines = [f"# seed {self.seed} ({kind}): one guest fstrim, in simulated time",
                 f"#   host:                  {self.host}",
                 f"#   the TRIM takes:        {self.trim_s} s on the host",
                 f"#   the guest's timeout:   {self.timeout_s} s",
                 f"#   while blockif_cancel waits for blkio it keeps: {KEEPS[self.keeps]}",
                 "#", "# predict:"]
        lines += [f"#   {key:<15} = ?   ({text})" for key, text in KEYS.items()]
        return "\n".join(lines)


def question(seed: int) -> Question:
    """The setting for ``seed`` (any integer at least 0)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"a seed is a whole number, 0 or more, not {seed!r}")
    rng = random.Random(seed)
    return Question(seed, rng.choice(HOSTS), rng.choice(TRIMS_S), rng.choice(TIMEOUTS_S),
                    rng.choice(list(KEEPS)))


def keeping(variant: str, keeps: str) -> type:
    """The variant's class, but ``blockif_cancel`` lets go of the locks it does not
    keep around each round's wait (and takes them back in the usual order)."""
    base = VARIANTS[variant]
    if keeps == "both":
        return base
    dropped = tuple(m for m in (AHCI_LOCK, "bc_mtx") if m != keeps)

    def blockif_cancel_wait(self, be, bse):
        for mutex in dropped:
            yield ops.unlock(mutex, "blockif_cancel")
        yield from base.blockif_cancel_wait(self, be, bse)
        for mutex in dropped:  # sc->mtx before bc_mtx, the order they are always taken in
            yield ops.lock(mutex, "blockif_cancel")

    return type(f"{base.__name__}Keeping", (base,), {
        "variant_name": base.variant_name, "blockif_cancel_wait": blockif_cancel_wait})


def solve(q: Question) -> dict:
    """The right answer, computed by running the model in simulated time."""
    m, _ = runs.execute(SCENARIO, keeping(q.host, q.keeps), q.params(),
                        strategy=RoundRobin(), mode="timed", tracing=True)
    ran = {r["thread"] for r in m.records if r["func"] == "blockif_sigcont_handler"}
    handler = "mevent" if "mevent" in ran else "blkio" if "blkio.sig" in ran else "nobody"
    blkio = m.by_name["blkio"]
    op = blkio.op
    waits_for = "nothing"
    if op is not None and op[0] in ("lock", "cv_reacquire") and not m._ready(blkio, op):
        waits_for = op[2] if op[0] == "lock" else op[3]
    return {"handler_runs_on": handler, "vm_hangs": m.verdict().kind == "deadlock",
            "blkio_waits_for": waits_for}


def consistent(answer: dict, q: Question) -> str | None:
    """Why the values cannot all be true of this setting under the chapter's rules,
    or None. (Whether they are *right* is the grader's hidden check.)"""
    handler, hangs, waits = (answer["handler_runs_on"].strip().lower(), answer["vm_hangs"],
                             answer["blkio_waits_for"].strip().lower())
    if handler == "blkio" and q.host != "illumos":
        return (f"on {q.host} SIGCONT has no signal handler: blockif_sigcont_handler is "
                "called from the main thread's event loop, if at all")
    if handler == "mevent" and q.host == "illumos":
        return "illumos's port registers no SIGCONT handler with mevent: it uses sigset"
    if handler != "nobody" and hangs:
        return ("a handler that answers every round lets blockif_cancel look at be_status "
                "again and again: it sees DONE once the TRIM ends")
    if not hangs and waits != "nothing":
        return "if the VM does not hang, every thread finishes: blkio waits for nothing"
    if waits != "nothing" and q.keeps not in ("both", waits):
        return f"ioemu lets go of {waits} while it waits: blkio cannot be stuck on it"
    return None


def check_prediction(answer: object, ctx: Context) -> CheckResult:
    """Part A (visible): the form, and the values agree with each other and the rules."""
    return check_consistent(answer, FORM, lambda a: consistent(a, question(ctx.seed(NAME))),
                            "the three values fit together and fit the chapter's rules; the "
                            "grader compares them with the model's run")


# =================================================================== Part B
def check_hang_schedule(schedule: object, ctx: Context) -> CheckResult:
    """Part B (visible): the schedule hangs hyperkit on macOS."""
    return check_schedule(schedule, SCENARIO, "macos", None, ("deadlock",))


# =================================================================== Part C
FIX = FixExercise(SCENARIO, "hyperkit #94", "no longer hangs the VM", max_states=100_000,
                  limit_hint="the run never ends: does a loop go round forever without "
                             "waiting, or does the handler go round a cycle of sig elems?")
FIXED = ClassAnswer(HyperkitBlockif, ("blockif_cancel_wait", "blockif_cancel"))


def check_no_handler(cls: type, ctx: Context) -> CheckResult:
    """Part C (visible): SIGCONT is still ignored; no handler is installed."""
    if "blockif_init" in vars(cls):
        return failed("Part C leaves blockif_init alone: hyperkit keeps ignoring SIGCONT, so "
                      "no signal handler (the illumos way) may be installed")
    return passed("blockif_init is hyperkit's: no signal handler")


# ops that give the CPU away, or ask another thread (or the kernel) for something
WAITS_OR_ASKS = ("sleep", "cv_wait", "cv_wait_sig", "halt", "send_signal", "signal_process")


def spins(cls: type) -> str | None:
    """Why a round of ``cls`` is a spin, or None. The model folds the rounds after the
    first ``polls`` into one wait, so a round that waits for nothing would pass the
    explorer; for real it would keep a host CPU busy, holding ``sc->mtx`` and
    ``bc_mtx``, for the rest of the TRIM. One timed run with the report's numbers:
    ioemu's steps between the start and the end of its first round must include one
    that waits or asks (a signal sent; an answer may come before any wait, as on
    illumos). A round that never ends is left to the explorer."""
    def blockif_cancel_wait(self, be, bse):
        yield ops.note("a round begins", "grader")
        yield from cls.blockif_cancel_wait(self, be, bse)
        yield ops.note("a round ends", "grader")

    probe = type(f"{cls.__name__}Probe", (cls,), {
        "variant_name": cls.variant_name, "blockif_cancel_wait": blockif_cancel_wait})
    trace = runs.run(SCENARIO, probe, mode="timed", strategy="round-robin")
    mine = [s for s in trace.steps if s["thread"] == "ioemu"]
    marks = [k for k, s in enumerate(mine) if s["func"] == "grader"]
    if len(marks) < 2:
        return None
    if any(s["op"] in WAITS_OR_ASKS for s in mine[marks[0]:marks[1]]):
        return None
    return ("a round of yours never waits and asks no one: ioemu would spin on be_status "
            "for the rest of the TRIM, holding sc->mtx and bc_mtx, and keep a host CPU busy "
            "all along. Let each round wait for something: a timed sleep, or an answer "
            "that does come")


def check_fix(cls: type, ctx: Context) -> CheckResult:
    """Part C (visible): a round waits for something, and the explorer finds no hang on
    macOS within its bound."""
    why = spins(cls)
    if why is not None:
        return failed(why)
    return FIX.check(cls)


CHAPTER = Chapter(
    name=NAME, scenario=SCENARIO, notebook="03-Blockif-Cancel", namespace=namespace,
    question=question,
    checks={
        "predict": Check(check_prediction, cost_s=0.2),
        "schedule": Check(check_hang_schedule, cost_s=0.2),
        "no-handler": Check(check_no_handler, FIXED, cost_s=0.1),
        "fix": Check(check_fix, FIXED, cost_s=2.0),
    },
)

