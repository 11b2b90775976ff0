"""The answer keys and hidden checks (instructor only: left out of the student copy).

The keys are not taken on trust: the sound fence placements are the ones the
explorer proves, the solutions' worked predictions equal the model's answer
for every question, and each solution passes every check of its grade cell —
while the plausible wrong answers that slip past a visible check are caught
by the hidden one meant for them.
"""
import ast
import importlib
import itertools
import re
import textwrap
from pathlib import Path

import pytest
from grading_helpers import (
    class_answer,
    data_answer,
    grade,
    grade_all,
    needs_instructor,
    pir_rule,
    solution_answer,
    solution_cells,
    subclass_answer,
    subclass_source,
)

from simulator.engine import ops
from simulator.grading import chapters
from simulator.grading.answers import last_binding
from simulator.grading.chapters import ch01_virtio as ch01
from simulator.grading.chapters import ch02_pir as ch02
from simulator.grading.exercise import GRADED_FROM, graded_seed
from simulator.grading.instructor import hidden_module, instructor_dir
from simulator.grading.nbgrader_plugin import check_calls
from simulator.models.blockif import HyperkitBlockif
from simulator.models.host import SIGCONT
from simulator.search import search

pytestmark = needs_instructor
SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"


def worked_prediction(notebook: str, question) -> dict:
    """Run the solution's Part A cell, its question given, and return its prediction."""
    from simulator.models.vlapic import prio

    scope = {"my_question": lambda chapter: question, "prio": prio}
    exec(solution_cells(notebook)["part-a-answer"], scope)  # noqa: S102 - our own solution cell
    return scope["prediction"]


def test_the_hidden_checks_live_outside_the_package_and_add_to_the_visible_ones():
    for chapter in chapters.all_chapters():
        hidden = hidden_module(chapter.name, instructor_dir())
        assert Path(hidden.__file__).parent == instructor_dir()
        assert hidden.CHECKS and not set(hidden.CHECKS) & set(chapter.checks)


# ------------------------------------------------------------------ Part A
def test_chapter_1s_worked_prediction_is_the_models_answer_for_every_question():
    for device, order in ch01.QUESTIONS:
        q = ch01.Question(0, device, order)
        assert worked_prediction("01-Virtio-Barriers.ipynb", q) == ch01.solve(q), (device, order)


def test_chapter_2s_worked_prediction_is_the_models_answer_for_many_questions():
    for seed in range(400):
        q = ch02.question(seed)
        assert worked_prediction("02-PIR-Wakeups.ipynb", q) == ch02.solve(q), seed


@pytest.mark.parametrize("chapter", [ch01, ch02])
def test_the_key_is_each_students_own_question(chapter):
    """A prediction right for one student is wrong for another whose question differs."""
    students = [f"s{i}" for i in range(40)]
    keys = {s: chapter.solve(chapter.question(graded_seed(s, chapter.NAME))) for s in students}
    alice, other = next((a, b) for a in students for b in students if keys[a] != keys[b])
    assert grade(f"{chapter.NAME}:predict-key", data_answer(keys[alice]), alice)
    result = grade(f"{chapter.NAME}:predict-key", data_answer(keys[alice]), other)
    assert not result and result.reason.startswith("not right yet")


def test_a_consistent_but_wrong_prediction_passes_the_visible_check_only():
    q = ch01.question(graded_seed("alice", ch01.NAME))
    key = ch01.solve(q)
    flags = 1 - key["flags_seen"]
    wrong = {"flags_seen": flags, "interrupts": 2 - flags, "poll_reads": key["poll_reads"],
             "verdict": "stuck" if flags and key["poll_reads"] == 1 else "ok"}
    results = grade_all(["ch01_virtio:predict", "ch01_virtio:predict-key"], data_answer(wrong))
    assert [r.passed for r in results] == [True, False]
    assert results[1].reason.startswith("not right yet: flags_seen, interrupts")


# ------------------------------------------------------------------ Part B
def test_the_schedules_of_the_solutions_pass_every_check():
    for notebook, chapter in (("01-Virtio-Barriers.ipynb", "ch01_virtio"),
                              ("02-PIR-Wakeups.ipynb", "ch02_pir")):
        results = grade_all([f"{chapter}:schedule", f"{chapter}:schedule-path"],
                            solution_answer(notebook, "schedule"))
        assert [r.passed for r in results] == [True, True], results


def test_the_explorers_own_three_write_counterexample_takes_the_path_asked_for():
    found = search("virtio-barriers", ch01.FlagsModeFenceDevice, ch01.PART_B)
    results = grade_all(["ch01_virtio:schedule", "ch01_virtio:schedule-path"],
                        data_answer(found.counterexample.schedule))
    assert all(results), results


def test_the_chapters_narrated_path_is_not_the_one_part_b_asks_for():
    narrated = "vcpu0>vm_handle_hlt viona* vcpu0* cyclic* fire:apic_timer cyclic*"
    results = grade_all(["ch02_pir:schedule", "ch02_pir:schedule-path"], data_answer(narrated))
    assert [r.passed for r in results] == [True, False]
    assert "went to sleep 1 time(s) and was woken 0 time(s)" in results[1].reason


# ------------------------------------------------------------------ Part C
def explorer_verdicts(mode: str) -> dict[str, object]:
    out = {}
    for label in ch01.LABELS:
        found = search("virtio-barriers", ch01.placed(label), {"mode": mode})
        out[label] = found.counterexample.schedule if found.counterexample else "sound"
        assert found.counterexample or found.exhausted
    return out


@pytest.mark.parametrize("mode", ["flags", "event_idx"])
def test_the_sound_placements_are_the_ones_the_explorer_proves(mode):
    hidden = hidden_module("ch01_virtio", instructor_dir())
    verdicts = explorer_verdicts(mode)
    assert {k for k, v in verdicts.items() if v == "sound"} == hidden.SOUND
    if mode == "flags":
        results = grade_all(["ch01_virtio:placements", "ch01_virtio:placements-key"],
                            data_answer(verdicts))
        assert all(results), results


def test_calling_an_unsound_place_sound_is_caught_by_the_key():
    verdicts = {**explorer_verdicts("flags"), "B": "sound"}
    results = grade_all(["ch01_virtio:placements", "ch01_virtio:placements-key"],
                        data_answer(verdicts))
    assert [r.passed for r in results] == [True, False]
    assert results[1].reason == "not right yet: B judged wrongly"


# ---------------------------------------------------------------- the fixes
CH01_FIX = ["ch01_virtio:fix", "ch01_virtio:suppression", "ch01_virtio:fix-event-idx"]
CH02_FIX = ["ch02_pir:on-only", "ch02_pir:fix", "ch02_pir:no-flood", "ch02_pir:low-clock",
            "ch02_pir:other-tpr", "ch02_pir:two-vectors"]


def test_the_solutions_fixes_pass_every_check_of_their_grade_cells():
    assert all(grade_all(CH01_FIX, solution_answer("01-Virtio-Barriers.ipynb", "FixedDevice")))
    results = grade_all(CH02_FIX, solution_answer("02-PIR-Wakeups.ipynb", "FixedPIR"))
    assert len(results) == len(CH02_FIX) and all(results), results


def relchain(publish: str) -> str:
    return textwrap.dedent(f"""
        class FixedDevice(VirtioDevice):
            def vq_relchain(self, head, iolen):
                r = self.ring
                uidx = yield ops.load(r.USED_IDX, "vq_relchain")
                yield ops.store(r.used_id(uidx), head, "vq_relchain")
                yield ops.store(r.used_len(uidx), iolen, "vq_relchain")
                {publish}
        """)


ALWAYS_INTERRUPTS = relchain("""yield ops.swap(r.USED_IDX, (uidx + 1) & U16, "vq_relchain")

            def vq_endchains(self):
                self.vq_save_used = yield ops.load(self.ring.USED_IDX, "vq_endchains")
                yield from self.vq_interrupt()""")
FLAGS_MODE_ONLY = relchain("""if self.event_idx:
                    yield ops.store(r.USED_IDX, (uidx + 1) & U16, "vq_relchain")
                else:
                    yield ops.swap(r.USED_IDX, (uidx + 1) & U16, "vq_relchain")""")


@pytest.mark.parametrize("source, caught_by, words", [
    (ALWAYS_INTERRUPTS, "ch01_virtio:suppression",
     "flags mode with avail.flags=1, used_event=0: the device sent an interrupt"),
    (FLAGS_MODE_ONLY, "ch01_virtio:fix-event-idx", "EVENT_IDX mode: the OS-7613 race"),
])
def test_chapter_1_wrong_fixes_that_pass_the_visible_check_fail_a_hidden_one(source, caught_by,
                                                                               words):
    results = grade_all(CH01_FIX, class_answer(source))
    assert all(results[:-1]) and results[-1].check == caught_by, results
    assert not results[-1] and words in results[-1].reason


@pytest.mark.parametrize("source, caught_by, words", [
    (pir_rule("prio(vector) >= prio(top)"), "ch02_pir:no-flood",
     "posting 0xd4 after 0x60, 0x61, 0xd3 asked for a notification"),
    (pir_rule("True"), "ch02_pir:no-flood", "asked for a notification"),
    # PPR is 0x70 in the report, so "only a class above 0x70 matters": not at TPR 0.
    (pir_rule("prio(vector) > 0x70 and prio(vector) > prio(top)"), "ch02_pir:other-tpr",
     "TPR 0x40, network 0x30, clock 0x50: the explorer found a stuck run"),
])
def test_chapter_2_wrong_fixes_that_pass_the_visible_checks_fail_a_hidden_one(source, caught_by,
                                                                               words):
    results = grade_all(CH02_FIX, class_answer(source))
    assert all(results[:-1]) and results[-1].check == caught_by, results
    assert not results[-1] and words in results[-1].reason, results[-1].reason


def test_the_rule_without_the_new_claim_spins_once_the_clock_is_below_the_network():
    """The chapter's own warning: OS-6829's rule on the old cas(pending, 1, 0) claim."""
    import inspect

    from simulator.models.posted import PrioPostedInterrupts

    rule_only = class_answer("class RuleOnly(PostedInterrupts):\n" + textwrap.indent(
        textwrap.dedent(inspect.getsource(PrioPostedInterrupts.notify_needed)), "    "))
    results = grade_all(["ch02_pir:any-fix", "ch02_pir:low-clock"], rule_only)
    assert results[0] and not results[1]
    assert "found a limit run" in results[1].reason
    assert "does the vCPU keep waking up for nothing" in results[1].reason



# ------------------------------------- no whole answer in what the student copy holds
# The student copy ships tests/test_grading_ch0[3-5].py: their wrong answers may pass a
# visible check, but none may pass every check of a grade cell, hidden ones included.
# Part C fixes that pass everything live here, in the instructor's file.
PROCESS_DIRECTED = """
yield ops.store(bse.pending, 1, "blockif_cancel")
yield from self.blockif_bse_push(bse)
yield from self.process.kill(SIGCONT)
yield ops.lock(bse.mtx, "blockif_cancel")
while (yield ops.load(bse.pending, "blockif_cancel")):
    yield ops.cv_wait(bse.cond, bse.mtx, "blockif_cancel")
yield ops.unlock(bse.mtx, "blockif_cancel")
"""


class TimedPoll(HyperkitBlockif):
    """No signal, no handler: sleep 1 ms and look at be_status again."""

    def blockif_cancel_wait(self, be, bse):
        yield ops.sleep(10**6, "usleep", timer="poll")


def process_directed() -> type:
    """``PROCESS_DIRECTED`` as a class: kill(getpid(), SIGCONT) instead of
    pthread_kill, which macOS's kqueue hears."""
    scope = {"HyperkitBlockif": HyperkitBlockif, "ops": ops, "SIGCONT": SIGCONT}
    exec(subclass_source("HyperkitBlockif", PROCESS_DIRECTED, "ProcessDirected",  # noqa: S102
                         "blockif_cancel_wait(self, be, bse)"), scope)
    return scope["ProcessDirected"]


@pytest.mark.parametrize("fix", [TimedPoll, process_directed()])
def test_a_fix_without_a_signal_handler_verifies_on_macos(fix):
    result = search("blockif-cancel", fix)
    assert result.found is None and result.exhausted, result.summary()


SHIPPED = {  # chapter: its shipped test file, the base class, a bare body's method
    "ch03_blockif": ("test_grading_ch03.py", "HyperkitBlockif",
                     "blockif_cancel_wait(self, be, bse)"),
    "ch04_lease": ("test_grading_ch04.py", "VionaRing", None),
    "ch05_rendezvous": ("test_grading_ch05.py", "Vm", None),
}
TOKEN = re.compile(r"finish|(fire|drain):\S+|[a-z][\w.]*(\*\d*|>\w+)?")


def looks_like_schedule(text: str) -> bool:
    tokens = text.split()
    return bool(tokens) and all(TOKEN.fullmatch(t) for t in tokens) and any(
        t == "finish" or "*" in t or ">" in t or ":" in t for t in tokens)


def spelled_out(path: Path, base: str, method: str | None) -> list[tuple[str, dict]]:
    """Every string literal of a test file that reads as an answer: a class, methods
    of ``base``, a bare body of ``method``, or a schedule; as ("class"|"data", answer)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        text = textwrap.dedent(node.value).strip()
        if text.startswith("class "):
            out.append(("class", class_answer(text)))
        elif "yield" in text and "def " in text:
            out.append(("class", subclass_answer(base, text, "Answer")))
        elif "yield" in text and method is not None:
            out.append(("class", subclass_answer(base, text, "Answer", method)))
        elif looks_like_schedule(text):
            out.append(("data", data_answer(text)))
    return out


def literal(text: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):  # computed by the cell
        return None


def answered_checks(chapter: str) -> list[tuple[str, list[str]]]:
    """(the kind of answer, every check a solution grade cell runs on it), hidden too."""
    notebook = next(p.name for p in SOLUTIONS.glob("*.ipynb")
                    if p.stem == chapters.get(chapter).notebook)
    cells, groups = list(solution_cells(notebook).values()), {}
    for source in cells:
        for check_id, name in check_calls(source):
            groups.setdefault(name, []).append(check_id)
    out = []
    for name, ids in groups.items():
        binding = last_binding(cells, name)
        if binding is None:  # computed, not bound at the top level: a prediction
            continue
        if binding.kind == "class":
            out.append(("class", ids))
        elif isinstance(literal(binding.text), str):  # a schedule (a prediction is a dict)
            out.append(("data", ids))
    return out


def whole_answers(path: Path, chapter: str) -> list[str]:
    """The literals of ``path`` that pass every check of one of the chapter's grade cells."""
    _file, base, method = SHIPPED[chapter]
    groups = answered_checks(chapter)
    found = []
    for kind, answer in spelled_out(path, base, method):
        for group_kind, ids in groups:
            if kind == group_kind:
                results = grade_all(ids, answer)
                if len(results) == len(ids) and all(results):
                    found.append(answer.get("source", answer.get("value")))
    return found


def test_the_chapters_answers_are_classes_and_schedules_and_the_scan_reads_them():
    assert [kind for kind, _ in answered_checks("ch03_blockif")] == ["data", "class"]
    assert [kind for kind, _ in answered_checks("ch04_lease")] == ["data", "data", "class"]
    kinds = [kind for kind, _ in spelled_out(Path(__file__), "HyperkitBlockif",
                                             "blockif_cancel_wait(self, be, bse)")]
    assert kinds.count("class") >= 1 and looks_like_schedule("ioemu* blkio>x fire:a finish")
    assert not looks_like_schedule("the run ends ok, not deadlock")


def test_a_whole_answer_is_found_where_one_is_spelled_out():
    """The scan has teeth: ringing the process instead of the thread passes all of
    Part C, and it is found in this file."""
    found = whole_answers(Path(__file__), "ch03_blockif")
    assert len(found) == 1 and "self.process.kill(SIGCONT)" in found[0], found


@pytest.mark.parametrize("chapter", sorted(SHIPPED))
def test_the_student_copys_tests_spell_out_no_whole_answer(chapter):
    path = Path(__file__).parent / SHIPPED[chapter][0]
    assert spelled_out(path, *SHIPPED[chapter][1:]), "the scan read nothing"
    assert whole_answers(path, chapter) == []


# ------------------------------- a visible Part A check never singles out the key
LISTS = [[], [0], [1], [3], [0, 1], [0, 3], [1, 3], [0, 1, 3]]
VALUES = {  # every value a prediction's form allows, key by key
    "ch03_blockif": [("mevent", "blkio", "nobody"), (True, False),
                     ("sc->mtx", "bc_mtx", "nothing")],
    "ch04_lease": [(0, 1), (0, 1), (True, False)],
    "ch05_rendezvous": [("deadlock", "ok"), (None, 0, 1, 3), LISTS, LISTS],
}


@pytest.mark.parametrize("name", sorted(VALUES))
def test_the_visible_prediction_check_passes_the_key_and_never_it_alone(name):
    """Over graded questions: the key fits the chapter's rules, and so do at least two
    other predictions, so passing the visible check does not give the key away."""
    module = importlib.import_module(f"simulator.grading.chapters.{name}")
    for seed in range(GRADED_FROM, GRADED_FROM + 60):
        q = module.question(seed)
        key = module.solve(q)
        fitting = []
        for combo in itertools.product(*VALUES[name]):
            answer = dict(zip(key, combo, strict=True))
            why = (module.consistent(answer) if name == "ch04_lease"
                   else module.consistent(answer, q))
            if why is None:
                fitting.append(answer)
        assert key in fitting and len(fitting) >= 3, (seed, key, fitting)
