"""Chapter 5's exercises (OS-7622, write-lock-rendezvous): the visible checks and the questions.

- **Part A, predict.** A seeded run: bhyve before or after ec6f18e, a VM with
  or without vCPU 1, pin 6 pointed at one vCPU, and the moment vCPU 3's guest
  writes the IOAPIC — before ``bhyvectl`` starts, once it has frozen some
  vCPUs, or only after its whole write-lock cycle. Predict how it ends: the
  verdict, the vCPU ``bhyvectl`` is left waiting for, the vCPUs whose part of
  the rendezvous is never done, and the vCPUs whose TMR marks vector 0x36
  level-triggered. ``question(seed)`` asks, ``solve`` answers from the model;
  practise with ``python -m simulator quiz write-lock-rendezvous --seed N [-c]``.
- **Part B, find the schedule** for the other shape of the hang: ``bhyvectl``
  waits for vCPU 3 itself, having frozen vCPUs 0 and 1 before the write. The
  schedule steers the run itself up to the write (round robin alone happens
  to find this shape, so ``finish`` may come only after it).
- **Part C, remove the cycle but keep the rendezvous**: every vCPU still
  updates its own TMR from its own ``vm_run``; no wait may depend on a vCPU
  that cannot run. One directed run first - a vCPU leaving for userspace
  just as the rendezvous looks at it, which the explorer's budget does not
  reach - then the explorer judges, within a state budget.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from simulator import runs, scenarios
from simulator.engine.strategies import RoundRobin
from simulator.errors import UsageError
from simulator.grading.exercise import Chapter, Check, ClassAnswer, Context, is_graded
from simulator.grading.fixes import FixExercise
from simulator.grading.predictions import check_consistent, check_form, compare, one_of
from simulator.grading.rebuild import ops_namespace
from simulator.grading.replay import check_schedule, final_machine
from simulator.grading.result import CheckResult, failed, passed
from simulator.grading.schedules import words
from simulator.models.rendezvous import cpuset, members
from simulator.models.vcpu import FROZEN, IDLE, RUNNING, SLEEPING
from simulator.models.vm import EXIT_RENDEZVOUS, Vm

NAME = "ch05_rendezvous"
SCENARIO = "write-lock-rendezvous"
OTHER_SHAPE = "bhyvectl waits in vcpu_lock_one for vCPU3 to go IDLE"


def namespace() -> dict:
    """What an answer may use: the names the exercise notebook's first cell imports."""
    return {"ops": ops_namespace(), "Vm": Vm, "members": members, "cpuset": cpuset,
            "IDLE": IDLE, "FROZEN": FROZEN, "RUNNING": RUNNING, "SLEEPING": SLEEPING,
            "EXIT_RENDEZVOUS": EXIT_RENDEZVOUS}


# =================================================================== Part A
KEYS = {
    "verdict": '"deadlock" or "ok": how the run ends',
    "waits_for": "the vCPU (an int) bhyvectl is left waiting for, or None if it finished",
    "missing": "the vCPUs (a sorted list) whose part of the rendezvous is never done",
    "level": "the vCPUs (a sorted list) whose TMR marks vector 0x36 level-triggered",
}


@dataclass(frozen=True)
class Question:
    """One seeded run of the scenario: the code, the VM, and when vCPU 3 writes."""

    seed: int
    variant: str  # "buggy" (ec6f18e^) or "fixed" (ec6f18e)
    bystander: int  # 1: the VM has vCPU 1, running its guest
    dest: int  # the APIC ID pin 6 points at
    when: str | int  # "before", "after", or how many vCPUs bhyvectl has frozen

    @property
    def params(self) -> dict:
        return {"dest": self.dest, "bystander": self.bystander, "ticks": 0}

    def answer(self) -> dict:
        """The answer, for practice seeds; graded ones are the grader's to answer."""
        if is_graded(self.seed):
            raise UsageError(f"seed {self.seed} is a graded question: the grader answers it")
        return solve(self)

    def __str__(self) -> str:
        kind = "graded question" if is_graded(self.seed) else "practice question"
        code = ("bhyve before ec6f18e (the rendezvous)" if self.variant == "buggy"
                else "bhyve with ec6f18e (vcpu_block_run, no rendezvous)")
        vcpus = ("vCPUs 0, 1 and 3; vCPU 1 runs its guest" if self.bystander
                 else "vCPUs 0 and 3 (no vCPU 1)")
        if self.when == "before":
            story = ["vCPU 3 runs first: its guest writes the IOAPIC before bhyvectl starts,",
                     "and vCPU 3 runs on until it waits or is back in userspace."]
        elif self.when == "after":
            story = ["bhyvectl and the other vCPUs take turns, vCPU 3 running only when",
                     "nothing else can, until bhyvectl's whole write-lock cycle is over;",
                     "then vCPU 3 runs (its guest writes the IOAPIC) until it waits or is",
                     "back in userspace."]
        else:
            frozen = f"{self.when} vCPU{'s' if self.when > 1 else ''}"
            story = [f"bhyvectl and the other vCPUs take turns (vCPU 3 waits) until bhyvectl "
                     f"has frozen {frozen};",
                     "then vCPU 3 runs: its guest writes the IOAPIC, and vCPU 3 runs on",
                     "until it waits or is back in userspace."]
        story.append("From there every thread takes its turn (bhyvectl, vcpu3, vcpu1, vcpu0) "
                     "until none can move.")
        lines = [f"# seed {self.seed} ({kind}): write-lock-rendezvous, {code}",
                 f"#   the VM: {vcpus}; vCPU 0's thread is in userspace",
                 f"#   pin 6 is pointed at APIC ID {self.dest}",
                 *(f"#   {line}" for line in story), "#", "# predict:"]
        lines += [f"#   {key:<10} = ?   ({text})" for key, text in KEYS.items()]
        return "\n".join(lines)


def question(seed: int) -> Question:
    """The run for ``seed`` (any integer at least 0)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"a seed is a whole number, 0 or more, not {seed!r}")
    rng = random.Random(seed)
    variant = rng.choice(("buggy", "buggy", "buggy", "fixed"))
    bystander = rng.choice((0, 1, 1))
    when = rng.choice(["before", "after", *range(1, 2 + bystander)])
    return Question(seed, variant, bystander, rng.choice((0, 1, 3)), when)


def play(q: Question):
    """The question's run on the model, to its end; returns the machine."""
    m = scenarios.get(SCENARIO).machine(q.variant, q.params)
    vm = m.model["vm"]
    rr = RoundRobin()

    def turn(allowed) -> bool:
        enabled = [a for a in m.enabled() if allowed(a)]
        if enabled:
            m.step(rr.choose(m, enabled))
        return bool(enabled)

    def frozen() -> int:
        return sum(m.memory.cells[vm.taken_cell(v.vcpuid)] for v in vm.vcpus)

    if q.when == "after":
        while m.by_name["bhyvectl"].op is not None:
            if not turn(lambda a: a != "vcpu3") and not turn(lambda a: True):
                break
    elif q.when != "before":
        while frozen() < q.when and turn(lambda a: a != "vcpu3"):
            pass
    while "vcpu3" in m.enabled():
        m.step("vcpu3")
    while turn(lambda a: True):
        pass
    return m


def solve(q: Question) -> dict:
    """The right answer, computed by the model."""
    m = play(q)
    vm, cells = m.model["vm"], m.memory.cells
    b = m.by_name["bhyvectl"]
    waits = None
    if b.op is not None and b.wait is not None and b.wait[1].endswith(".state_cv"):
        waits = int(b.wait[1][4:b.wait[1].index(".")])
    rv = vm.rendezvous
    missing = members(cells[rv.req_cell] & ~cells[rv.done_cell]) if cells[rv.func_cell] else []
    return {"verdict": m.verdict().kind, "waits_for": waits, "missing": missing,
            "level": [i for i in vm.active if cells[vm.vioapic.tmr_cell(i)]]}


def _vcpu_list(v: object) -> bool:
    return (isinstance(v, list) and all(isinstance(i, int) and not isinstance(i, bool)
                                        and i in (0, 1, 3) for i in v) and v == sorted(set(v)))


FORM = {
    "verdict": (one_of("deadlock", "ok"), '"deadlock" or "ok"'),
    "waits_for": (lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)
                                          and v in (0, 1, 3)), "0, 1, 3 or None"),
    "missing": (_vcpu_list, "a sorted list of vCPU ids (0, 1, 3), [] for none"),
    "level": (_vcpu_list, "a sorted list of vCPU ids (0, 1, 3), [] for none"),
}


def consistent(answer: dict, q: Question) -> str | None:
    """Why the four values cannot all be true of this run, or None."""
    vcpus = {0, 1, 3} if q.bystander else {0, 3}
    for key in ("missing", "level"):
        if not set(answer[key]) <= vcpus:
            return f"{key} names a vCPU this VM does not have"
    if answer["waits_for"] is not None and answer["waits_for"] not in vcpus:
        return "waits_for names a vCPU this VM does not have"
    targets = {q.dest} & vcpus
    if not set(answer["level"]) <= targets:
        return (f"level = {answer['level']}, but pin 6 points at APIC ID {q.dest}: which "
                "vCPUs can it make level-triggered?")
    hung = answer["verdict"].strip().lower() == "deadlock"
    if hung != (answer["waits_for"] is not None) or hung != bool(answer["missing"]):
        return ("a run of this scenario that hangs leaves bhyvectl waiting and some part of "
                "the rendezvous undone; one that ends well leaves neither")
    if not hung and set(answer["level"]) != targets:
        return "the run ends well, so every vCPU pin 6 points at has its TMR updated"
    return None


def check_prediction(answer: object, ctx: Context) -> CheckResult:
    """Part A (visible): the form, and the values agree with each other."""
    return check_consistent(answer, FORM, lambda a: consistent(a, question(ctx.seed(NAME))),
                            "the four values fit together; the grader compares them with the "
                            "model's run")


def compare_prediction(answer: object, expected: dict) -> CheckResult:
    """``answer`` (of this chapter's form) against the model's ``expected``, key by key;
    the reason names the wrong keys, not their right values."""
    bad = check_form(answer, FORM)
    return bad if bad is not None else compare(answer, expected)


# =================================================================== Part B
def check_other_shape(schedule: object, ctx: Context) -> CheckResult:
    """Part B (visible): a deadlock in which bhyvectl waits for vCPU 3 itself,
    with vCPU 3's IOAPIC write among the schedule's own steps (before any
    ``finish``: round robin happens to find this shape on its own)."""
    result = check_schedule(schedule, SCENARIO, "buggy", None, ("deadlock",))
    if not result:
        return result
    if OTHER_SHAPE not in result.reason:
        return failed(f"a deadlock, but bhyvectl does not wait for vCPU 3: {result.reason}",
                      result.trace_json)
    given = words(schedule)
    before = given[:given.index("finish")] if "finish" in given else given
    m = final_machine(before, SCENARIO)
    if not m.memory.cells[m.model["vm"].rendezvous.func_cell]:
        return failed("the right shape, but vCPU 3's IOAPIC write came under 'finish': "
                      "steer the run yourself up to the write (it starts the rendezvous), "
                      "then 'finish' may run it out", result.trace_json)
    return result


# =================================================================== Part C
FIX_PARAMS = {"ticks": 0}
RENDEZVOUS_FIX = FixExercise(SCENARIO, "OS-7622", "no longer deadlocks", max_states=150_000,
                             limit_hint="a vCPU that keeps exiting and re-entering? check "
                                        "what stops VM entry while a rendezvous is on")
HOOKS = ("vm_smp_rendezvous", "vm_handle_rendezvous", "vm_entry_blocked", "vm_handle_blocked",
         "vm_handle_reqidle", "vmm_write_lock", "vcpu_lock_one")
KEEP = ClassAnswer(Vm, HOOKS)
QUIET = {"wrlock": 0, "ticks": 0}  # no write lock: every vCPU can come


def quiet_run(cls: type):
    """A plain run with no bhyvectl, threads taking turns, traced."""
    m, schedule = runs.execute(SCENARIO, cls, QUIET, strategy=RoundRobin(), step_budget=5_000)
    return m, runs.to_trace(m, schedule, SCENARIO, cls, QUIET, "untimed", "round-robin", None)


def check_keeps_rendezvous(cls: type, ctx: Context) -> CheckResult:
    """Part C (visible): with no write lock, the IOAPIC write still starts a
    rendezvous and every vCPU updates its own TMR, from its own thread."""
    m, trace = quiet_run(cls)
    verdict = m.verdict()
    if verdict is None or verdict.kind != "ok":
        kind = verdict.kind if verdict else "unfinished"
        return failed(f"with no write lock at all, a plain run ends {kind}: "
                      f"{verdict.reason if verdict else ''}", trace)
    steps = trace.steps
    if not any(s["op"] == "store" and s["detail"] == "vm.rendezvous_func, 1" for s in steps):
        return failed("vioapic_write no longer starts a rendezvous (rendezvous_func is never "
                      "set): Part C keeps it", trace)
    for s in steps:
        cell = s["detail"].split(",")[0] if s["op"] == "store" else ""
        if cell.endswith(".tmr") and cell.split(".")[0] != s["thread"]:
            return failed(f"{s['thread']} wrote {cell} (in {s['func']}): in Part C every vCPU "
                          "updates its own TMR, through the rendezvous", trace)
    return passed("the write starts a rendezvous, and every vCPU updates its own TMR")


def leaving_run(cls: type):
    """The run the explorer's budget does not reach: a vCPU that looks as if it
    will come, and does not. bhyvectl freezes vCPU 0 and asks vCPU 1 to go idle;
    vCPU 1, kicked, passes the rendezvous check (none yet) and sees ``reqidle``
    - still RUNNING; then vCPU 3's write starts the rendezvous and vCPU 3 runs
    as far as it can; then the threads take turns. A fix that waits for vCPU 1
    because it was RUNNING must hear that it left for userspace instead.
    Returns the machine at the end and its schedule."""
    m = scenarios.get(SCENARIO).machine(cls, FIX_PARAMS, tracing=True, step_budget=5_000)
    schedule: list[str] = []
    saw_reqidle = []

    def run(who: str, until=lambda: False, most: int = 500) -> None:
        for _ in range(most):
            if until() or who not in m.enabled():
                return
            m.step(who)
            schedule.append(who)
            last = m.records[-1] if m.records else {}
            if last.get("thread") == "vcpu1" and last.get("func") == "vcpu_reqidle":
                saw_reqidle.append(True)

    run("bhyvectl")
    run("vcpu1", until=lambda: bool(saw_reqidle))
    run("vcpu3")
    rr = RoundRobin()
    while (enabled := m.enabled()) and len(schedule) < 5_000:
        action = rr.choose(m, enabled)
        m.step(action)
        schedule.append(action)
    return m, schedule


def check_fix(cls: type, ctx: Context) -> CheckResult:
    """Part C (visible): the run ``leaving_run`` builds ends well, and the
    explorer finds no bad run within its bound."""
    m, schedule = leaving_run(cls)
    verdict = m.verdict()
    if verdict is None or verdict.kind != "ok":
        trace = runs.to_trace(m, schedule, SCENARIO, cls, FIX_PARAMS, "untimed",
                              "round-robin", None)
        kind = verdict.kind if verdict else "unfinished"
        return failed(f"vCPU 1 was leaving for userspace (bhyvectl had asked it to go idle) "
                      f"when vCPU 3's write started the rendezvous; the run ends {kind}: "
                      f"{verdict.reason if verdict else ''} - a vCPU that was RUNNING may "
                      "still not come", trace)
    return RENDEZVOUS_FIX.check(cls, FIX_PARAMS)


CHAPTER = Chapter(
    name=NAME, scenario=SCENARIO, notebook="05-Write-Lock-Rendezvous", namespace=namespace,
    question=question,
    checks={
        "predict": Check(check_prediction, cost_s=0.1),
        "schedule": Check(check_other_shape, cost_s=0.2),
        "keeps-rendezvous": Check(check_keeps_rendezvous, KEEP, cost_s=0.5),
        "fix": Check(check_fix, KEEP, cost_s=5.0),
    },
)
