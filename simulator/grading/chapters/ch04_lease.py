"""Chapter 4's exercises (illumos #14026, lease-livelock): the visible checks and the questions.

- **Part A, predict.** The chapter's two-thread handshake — the ring worker
  checks ``vml_expired`` and sleeps on ``vr_cv`` under ``vr_lock``; the write
  locker stores ``vml_expired`` and broadcasts, with or without ``vr_lock``
  — run in a seeded order, shown as whose turn it was up to the broadcast
  (never what a step did): what does the worker's check read, how many
  threads does the broadcast wake, is the worker left asleep for good?
  ``question(seed)`` asks and ``solve`` answers by running the same machine;
  practice with ``python -m simulator quiz lease-livelock --seed N [-c]``.
  The visible check looks at the form and whether the three values can go
  together.
- **Part B, find the schedules**: lose the TX worker's wake-up in the buggy
  code; and make the naive fix deadlock, with the worker awake.
- **Part C, fix the worker**: a ring (viona's side) that neither loses a
  wake-up nor deadlocks with a write locker when it is awake as its lease
  expires — judged with 6703a0e's lease table. The chapter's 6703a0e ring
  passes the first check and fails the second.
"""
from __future__ import annotations

import functools
import random
from dataclasses import dataclass

from simulator.engine import ops
from simulator.engine.machine import Machine
from simulator.errors import UsageError
from simulator.grading.exercise import Chapter, Check, ClassAnswer, Context, is_graded
from simulator.grading.fixes import FixExercise
from simulator.grading.predictions import check_consistent, is_bool, is_int
from simulator.grading.rebuild import ops_namespace
from simulator.grading.replay import check_schedule
from simulator.grading.result import CheckResult, failed
from simulator.models.viona import LockedExpireRing, VionaRing
from simulator.scenarios.lease_livelock import Fix6703a0e

NAME = "ch04_lease"
SCENARIO = "lease-livelock"
LOST = "the wake-up was lost"  # the words of the stuck verdict that matters
ABBA = "lock-order deadlock (AB-BA)"


def namespace() -> dict:
    """What an answer may use: the names the exercise notebook's first cell imports."""
    return {"ops": ops_namespace(), "VionaRing": VionaRing,
            "LockedExpireRing": LockedExpireRing}


# =================================================================== Part A
def worker():
    """viona's wait, cut to its bones: check the lease, sleep if it is fresh."""
    yield ops.lock("vr_lock", "viona_worker")
    if not (yield ops.load("vml_expired", "vmm_drv_lease_expired")):
        yield ops.cv_wait("vr_cv", "vr_lock", "viona_worker")
    yield ops.unlock("vr_lock", "viona_worker")


def writer(locked: bool):
    """The write locker expires the lease and broadcasts, holding vr_lock or not."""
    yield ops.store("vml_expired", 1, "vmm_write_lock")
    if locked:
        yield ops.lock("vr_lock", "viona_ring_lease_expire_cb")
    yield ops.cv_broadcast("vr_cv", "viona_ring_lease_expire_cb")
    if locked:
        yield ops.unlock("vr_lock", "viona_ring_lease_expire_cb")


def handshake(locked: bool) -> Machine:
    m = Machine({"vml_expired": 0}, cpus=2, memory_model="sc", tracing=True)
    m.add_thread("worker", 0, worker())
    m.add_thread("writer", 1, writer(locked))
    return m


KEYS = {
    "checked": "the value the worker's load of vml_expired reads: 0 or 1",
    "woken": "how many threads the cv_broadcast wakes: 0 or 1",
    "stuck": "True or False: is the worker left asleep in cv_wait for good?",
}
# The two threads' code, as the question shows it: each line is one step.
CODE = {
    False: ("worker: mutex_enter(vr_lock); load vml_expired; if it read 0: "
            "cv_wait(vr_cv, vr_lock); mutex_exit(vr_lock)",
            "writer: store vml_expired = 1; cv_broadcast(vr_cv)"),
    True: ("worker: mutex_enter(vr_lock); load vml_expired; if it read 0: "
           "cv_wait(vr_cv, vr_lock); mutex_exit(vr_lock)",
           "writer: store vml_expired = 1; mutex_enter(vr_lock); cv_broadcast(vr_cv); "
           "mutex_exit(vr_lock)"),
}


@dataclass(frozen=True)
class Question:
    """One seeded run of the handshake: whether the broadcast holds vr_lock, and
    the order the two threads' steps were taken in."""

    seed: int
    locked: bool
    schedule: tuple[str, ...]

    def steps(self) -> list[dict]:
        """The run's steps, replayed on a fresh handshake."""
        m = handshake(self.locked)
        for action in self.schedule:
            m.step(action)
        return m.records

    def answer(self) -> dict:
        """The answer, for practice seeds; graded ones are the grader's to answer."""
        if is_graded(self.seed):
            raise UsageError(f"seed {self.seed} is a graded question: the grader answers it")
        return solve(self)

    def turns(self) -> tuple[str, ...]:
        """Whose step it was, in order, up to and including the writer's broadcast:
        everything the answer depends on, and nothing of what the steps did."""
        ops_taken = [s["op"] for s in self.steps()]
        return self.schedule[:ops_taken.index("cv_broadcast") + 1]

    def __str__(self) -> str:
        # Only the turns are shown, never what each step did or returned: the
        # values asked for are to be worked out from the code, not read off.
        kind = "graded question" if is_graded(self.seed) else "practice question"
        holds = "holds vr_lock" if self.locked else "does not take vr_lock"
        worker_code, writer_code = CODE[self.locked]
        lines = [f"# seed {self.seed} ({kind}): the write locker's broadcast {holds}",
                 "# the code; each statement is one step (a woken cv_wait takes one more,",
                 "# to take vr_lock back):",
                 f"#   {worker_code}",
                 f"#   {writer_code}",
                 "# whose step it was, in order, up to the writer's cv_broadcast:",
                 f"#   {' '.join(self.turns())}",
                 "# then both threads run on, in any order, until neither can.",
                 "#", "# predict:"] + [f"#   {k:<7} = ?   ({v})" for k, v in KEYS.items()]
        return "\n".join(lines)


@functools.lru_cache(maxsize=2)
def runs_of(locked: bool) -> tuple[tuple[str, ...], ...]:
    """Every complete order of the handshake's steps (a few dozen)."""
    done: list[tuple[str, ...]] = []

    def walk(prefix: tuple[str, ...]) -> None:
        m = handshake(locked)
        m.replay(list(prefix))
        enabled = m.enabled()
        if not enabled:
            done.append(prefix)
        for action in enabled:
            walk(prefix + (action,))

    walk(())
    return tuple(done)


def question(seed: int) -> Question:
    """The handshake for ``seed`` (any integer at least 0): a seeded order of steps.

    The outcome is drawn first, so that the lost wake-up is asked about as
    often as the runs that end well, then one order of steps that has it."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"a seed is a whole number, 0 or more, not {seed!r}")
    rng = random.Random(seed)
    locked = rng.random() < 0.3
    by_outcome: dict[tuple, list] = {}
    for order in runs_of(locked):
        key = tuple(sorted(solve(Question(seed, locked, order)).items()))
        by_outcome.setdefault(key, []).append(order)
    outcome = rng.choice(sorted(by_outcome))
    return Question(seed, locked, rng.choice(by_outcome[outcome]))


def solve(q: Question) -> dict:
    """The right answer, read off the run."""
    steps = q.steps()
    checked = next(s["result"] for s in steps if s["op"] == "load")
    woken = next(s["result"] for s in steps if s["op"] == "cv_broadcast")
    slept = any(s["op"] == "cv_wait" for s in steps)
    return {"checked": checked, "woken": woken, "stuck": slept and not woken}


FORM = {
    "checked": (lambda v: is_int(v) and v in (0, 1), "0 or 1"),
    "woken": (lambda v: is_int(v) and v in (0, 1), "0 or 1"),
    "stuck": (is_bool, "True or False"),
}


def consistent(answer: dict) -> str | None:
    """Why the three values cannot go together, or None."""
    if answer["checked"] == 1:
        if answer["woken"] or answer["stuck"]:
            return ("a worker whose check reads 1 never sleeps: nobody is waiting when the "
                    "broadcast comes, and nobody is left asleep")
        return None
    if answer["stuck"] == bool(answer["woken"]):
        return ("a worker that checked 0 sleeps: it is left asleep for good exactly when the "
                "broadcast woke nobody")
    return None


def check_prediction(answer: object, ctx: Context) -> CheckResult:
    """Part A (visible): the form, and the values can go together."""
    return check_consistent(answer, FORM, consistent,
                            "the three values go together; the grader compares them with the "
                            "run")


# =================================================================== Part B
def check_lost_schedule(schedule: object, ctx: Context) -> CheckResult:
    """Part B (visible): the TX worker sleeps on with an expired lease (buggy)."""
    result = check_schedule(schedule, SCENARIO, "buggy", None, ("stuck",))
    if result and LOST not in result.reason:
        return failed(f"stuck, but not by a lost wake-up: {result.reason}", result.trace_json)
    return result


AWAKE = {"tx": "awake"}


def check_abba_schedule(schedule: object, ctx: Context) -> CheckResult:
    """Part B (visible): the naive fix, the worker awake: a lock-order deadlock."""
    result = check_schedule(schedule, SCENARIO, "naive-fix", AWAKE, ("deadlock",))
    if result and ABBA not in result.reason:
        return failed(f"a deadlock, but not the AB-BA one: {result.reason}", result.trace_json)
    return result


# =================================================================== Part C
LEASE_FIX = FixExercise(SCENARIO, "illumos #14026",
                        "neither loses the TX worker's wake-up nor deadlocks the write locker",
                        max_states=60_000,
                        limit_hint="the run never ends: does the worker renew again and "
                                   "again, or does some code never stop yielding?")
HOOKS = ("viona_ring_lease_expire_cb", "keep_lease_fresh", "viona_ring_lease_renew",
         "viona_worker")
RING = ClassAnswer(VionaRing, HOOKS)
SMALL = {"vcpu1": 0}  # the TX worker and the write locker; vCPU 1 adds states, not races


def with_6703a0e(ring: type) -> type:
    """The scenario variant: 6703a0e's lease table, the student's ring."""
    return type(ring.__name__, (Fix6703a0e,), {"ring": ring, "variant_name": ring.__name__})


def check_ring(params: dict, words: str, max_states: int | None = None):
    def run(ring: type, ctx: Context) -> CheckResult:
        result = LEASE_FIX.check(with_6703a0e(ring), {**SMALL, **params},
                                 max_states=max_states)
        return CheckResult(result.passed, f"{words}: {result.reason}",
                           trace_json=result.trace_json)
    return run


CHAPTER = Chapter(
    name=NAME, scenario=SCENARIO, notebook="04-Lease-Livelock", namespace=namespace,
    question=question,
    checks={
        "predict": Check(check_prediction, cost_s=0.1),
        "lost": Check(check_lost_schedule, cost_s=0.3),
        "abba": Check(check_abba_schedule, cost_s=0.3),
        "fix": Check(check_ring({}, "the worker asleep, as in the report"), RING, cost_s=3.0),
        "fix-awake": Check(check_ring(AWAKE, "the worker awake as its lease expires"), RING,
                           cost_s=4.0),
    },
)
