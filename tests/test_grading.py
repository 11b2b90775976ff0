"""Grading you can trust: answers rebuilt from text, checks in a sandbox, counted budgets.

Whatever an answer does — break a rule, raise, loop with or without yielding,
catch ``BaseException`` around its loop, or a student patch the checker in the
kernel — the check ends with a verdict and a reason, and the verdict depends
only on the answer's text.
"""
import builtins
import importlib
import json
import subprocess
import sys
import textwrap

import pytest
from grading_helpers import class_answer, data_answer, grade, grade_all

from simulator.grading import answers, client, nbgrader_plugin
from simulator.grading.chapters import ch02_pir
from simulator.grading.exercise import GRADED_FROM, ClassAnswer, Context, graded_seed
from simulator.grading.rebuild import AnswerError, LoopGuard, build_class, check_source
from simulator.grading.result import CheckResult, require
from simulator.models.posted import PostedInterrupts, PrioPostedInterrupts
from simulator.models.virtio import FencedVirtioDevice

PIR_SPEC = ClassAnswer(PostedInterrupts, ("notify_needed",))
NO_FENCE = ClassAnswer(PostedInterrupts, ("notify_needed",), ("fence",), "no fences here")
BUGGY_RULE = """
class FixedPIR(PostedInterrupts):
    def notify_needed(self, vector):
        old = yield ops.cas(self.pending, 0, 1, "vmx_set_intr_ready")
        return old == 0
"""


def rule_body(body: str) -> str:
    return ("class FixedPIR(PostedInterrupts):\n    def notify_needed(self, vector):\n"
            + textwrap.indent(textwrap.dedent(body).strip(), " " * 8) + "\n")


# ------------------------------------------------------------------ results
def test_a_check_result_is_truthy_when_passed_and_require_raises_its_reason():
    assert CheckResult(True, "fine") and not CheckResult(False, "no")
    assert require(CheckResult(True, "fine")).reason == "fine"
    with pytest.raises(AssertionError, match="^the reason$"):
        require(CheckResult(False, "the reason"))


def test_a_malformed_verdict_is_a_failed_check():
    assert not CheckResult.from_json({"passed": "yes"})
    assert CheckResult.from_json({"passed": True, "reason": "r", "check": "c:d"}).check == "c:d"


# ----------------------------------------------------------- the rules
@pytest.mark.parametrize("source, words", [
    ("x = 1", "one class statement"),
    ("class A(PostedInterrupts):\n    def notify_needed(self, v): yield\nclass B: pass",
     "one class statement"),
    ("class F(PrioPostedInterrupts):\n    pass", "derive from PostedInterrupts alone"),
    ("class F(PostedInterrupts, object):\n    def notify_needed(self, v): yield",
     "derive from PostedInterrupts alone"),
    ("class F(PostedInterrupts):\n    notify_needed = None", "should define notify_needed"),
    ("@dataclass\nclass F(PostedInterrupts):\n    def notify_needed(self, v): yield",
     "plain class"),
    (rule_body("import os\nyield"), "no imports"),
    (rule_body("from simulator import grading\nyield"), "no imports"),
    (rule_body("global X\nyield"), "no global"),
    (rule_body("c = self.__class__\nyield"), ".__class__ is off limits"),
    (rule_body("b = __builtins__\nyield"), "the name __builtins__ is off limits"),
    (rule_body("b = self.cells()['__builtins__']\nyield"), "'__builtins__' is off limits"),
    (rule_body("g = self.take_pending()\nf = g.gi_frame\nyield"), ".gi_frame is off limits"),
    (rule_body("s = '{0.x}'.format(self)\nyield"), ".format is off limits"),
    (rule_body("PostedInterrupts.take_pending = None\nyield"), "attributes of self only"),
    (rule_body("ops.load = None\nyield"), "attributes of self only"),
    (rule_body("for PostedInterrupts.x in [1]:\n    pass\nyield"), "attributes of self only"),
    (rule_body("y = [0 for prio.x in [1]]\nyield"), "attributes of self only"),
    (rule_body("x = getattr(self, 'pending')\nyield"), "getattr is not available"),
    (rule_body("eval('1')\nyield"), "eval is not available"),
    (rule_body("yield ops.fence('x')"), "ops.fence is not allowed here: no fences here"),
    ("class F(PostedInterrupts)\n    pass", "does not parse"),
])
def test_an_answer_that_breaks_a_rule_is_refused_with_the_rule(source, words):
    with pytest.raises(AnswerError, match=words.replace("(", r"\(").replace(".", r"\.")):
        check_source(source, NO_FENCE)


def test_an_answer_within_the_rules_may_use_init_super_helpers_and_comprehensions():
    source = """
        class FixedPIR(PostedInterrupts):
            LIMIT = 4

            def __init__(self, name="pir"):
                super().__init__(name)
                self.seen = [0 for _ in range(self.LIMIT)]

            def notify_needed(self, vector):
                old = yield ops.fetch_or(self.pending, 1, "vmx_set_intr_ready")
                return self.helper(old)

            def helper(self, old):
                return not old & 1
    """
    cls = build_class(textwrap.dedent(source), PIR_SPEC, ch02_pir.namespace(),
                      LoopGuard(_raise), print)
    assert issubclass(cls, PostedInterrupts) and cls().seen == [0, 0, 0, 0]


class Spun(Exception):
    pass


def _raise(reason):
    raise Spun(reason)


def test_a_loop_that_never_yields_an_op_is_stopped_by_a_count_not_a_clock():
    source = rule_body("n = 0\nwhile True:\n    n += 1\nyield")
    cls = build_class(source, PIR_SPEC, ch02_pir.namespace(), LoopGuard(_raise, limit=50), print)
    program = cls().notify_needed(0x60)
    with pytest.raises(Spun, match="more than 50 loop iterations without yielding an op"):
        next(program)


def test_every_op_yielded_starts_the_count_afresh():
    guard = LoopGuard(_raise, limit=3)
    for _ in range(10):
        guard.tick(), guard.tick(), guard.tick()
        guard.op(("load", "f", "x", None, None))
    assert guard.count == 0
    guard.op("not an op")
    with pytest.raises(Spun):
        for _ in range(4):
            guard.tick()


# ----------------------------------------------------------- the sandbox
@pytest.mark.parametrize("body, words", [
    ("raise ValueError('boom')",
     "even a plain run (threads taking turns) ends violation: viona raised ValueError: boom"),
    ("yield 'notify please'", "viona yielded 'notify please', which is not an op"),
    ("while True:\n    yield ops.load(self.pending, 'vmx_set_intr_ready')",
     "step budget of 5000 spent (the run never ends"),
    ("while True:\n    pass\nyield", "more than 100,000 loop iterations without yielding an op"),
    ("while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n"
     "        pass\nyield", "more than 100,000 loop iterations without yielding an op"),
    ("print('looking at', vector)\nold = yield ops.cas(self.pending, 0, 1, 'x')\n"
     "return old == 0", "the OS-6829 race as the explorer finds it in the buggy code"),
    ("raise SystemExit(0)", "the answer's code raised SystemExit"),
])
def test_a_broken_answer_ends_its_check_with_a_reason(body, words):
    result = grade("ch02_pir:fix", class_answer(rule_body(body)))
    assert not result and words in result.reason, result.reason


def test_what_an_answer_prints_comes_back_with_the_verdict_cut_short():
    body = ("for i in range(2000):\n    print('post', vector, i)\n"
            "return (yield ops.load(self.pending, 'x'))")
    result = grade("ch02_pir:fix", class_answer(rule_body(body)))
    assert not result and result.output.startswith("post 96 0\n")
    assert result.output.endswith("[... cut short]") and len(result.output) < 5_000


def test_code_that_loops_inside_c_is_stopped_by_the_cpu_guard_which_says_the_grader_timed_out():
    body = "n = sum(range(10 ** 15))\nyield"
    result = grade("ch02_pir:on-only", class_answer(rule_body(body)), cpu_s=1)
    assert not result
    assert result.reason.startswith("the grader timed out after 1 s of CPU time"), result.reason


def test_a_data_answer_to_a_class_check_and_the_other_way_round_are_refused():
    result = grade("ch02_pir:fix", data_answer({"notify_needed": "yes"}))
    assert not result and "wants a class derived from PostedInterrupts, not dict" in result.reason
    result = grade("ch02_pir:predict", class_answer(BUGGY_RULE))
    assert not result and "wants plain data, not the class FixedPIR" in result.reason


@pytest.mark.parametrize("check_id, words", [
    ("ch02_pir:no-such-check", "ch02_pir has no check 'no-such-check'"),
    ("ch09_nothing:fix", "no exercises for chapter 'ch09_nothing'"),
    ("fix", "a check is named 'chapter:check'"),
])
def test_an_unknown_check_is_a_failed_check_with_a_reason(check_id, words):
    result = grade(check_id, data_answer(1))
    assert not result and words in result.reason


def test_a_hidden_check_without_the_instructors_directory_says_where_it_runs(tmp_path):
    result = grade("ch02_pir:no-flood", class_answer(BUGGY_RULE), instructor=tmp_path)
    assert not result
    assert "is a hidden check: it runs when the instructor grades" in result.reason


def test_a_malformed_request_gets_a_verdict_not_a_traceback():
    proc = subprocess.run([sys.executable, "-I", "-m", "simulator.grading.sandbox"],
                          input="{not json", capture_output=True, text=True, timeout=60)
    result = json.loads(proc.stdout)["results"][0]
    assert proc.returncode == 0 and not result["passed"]
    assert result["reason"].startswith("the grader got a malformed request")


def test_checks_in_one_request_stop_at_the_first_failure():
    results = grade_all(["ch02_pir:on-only", "ch02_pir:fix", "ch02_pir:on-only"],
                        class_answer(BUGGY_RULE))
    assert [r.passed for r in results] == [True, False]
    assert [r.check for r in results] == ["ch02_pir:on-only", "ch02_pir:fix"]


# ------------------------------------------- the kernel cannot sway a verdict
def test_patching_the_explorer_registry_modules_and_builtins_in_the_kernel_changes_nothing(
        monkeypatch):
    """The sandbox is a fresh process: what the student patches here never reaches it."""
    from simulator import scenarios, search
    from simulator.grading import fixes

    before = grade("ch02_pir:fix", class_answer(BUGGY_RULE))

    def finds_nothing(*args, **kwargs):
        raise AssertionError("the kernel's explorer was used")

    monkeypatch.setattr(search, "search", finds_nothing)
    monkeypatch.setattr(fixes, "search", finds_nothing)
    monkeypatch.setattr(scenarios, "_REGISTRY", {})
    monkeypatch.setattr(CheckResult, "__bool__", lambda self: True)
    monkeypatch.setitem(sys.modules, "simulator.engine.explore", None)
    monkeypatch.setattr(builtins, "divmod", lambda a, b: (0, 0))  # vmx_set_intr_ready uses it
    after = grade("ch02_pir:fix", class_answer(BUGGY_RULE))
    monkeypatch.undo()
    assert not before.passed and (after.passed, after.reason) == (before.passed, before.reason)


class StudentsRule(PostedInterrupts):
    """A class defined in a file: its source travels, not the object."""

    def notify_needed(self, vector):
        old = yield ops_cas(self.pending)
        return old == 0


def ops_cas(cell):
    from simulator.engine import ops

    return ops.cas(cell, 0, 1, "vmx_set_intr_ready")


def test_a_class_travels_as_its_source_text():
    sent = answers.payload(StudentsRule)
    assert sent["kind"] == "class" and sent["source"].startswith("class StudentsRule(")
    result = grade("ch02_pir:fix", sent)
    assert not result and "name 'ops_cas' is not defined" in result.reason


@pytest.mark.parametrize("answer, words", [
    (PrioPostedInterrupts, "PrioPostedInterrupts is the course's own class from "
                           "simulator.models.posted"),
    (FencedVirtioDevice, "a copy of a shipped class is not an answer"),
    (StudentsRule(), "plain data (str, int, bool, list, dict, set) or a class, not StudentsRule"),
    (print, "is a function"),
    (NotImplemented, "not filled in yet"),
])
def test_shipped_classes_instances_and_functions_are_refused_before_the_sandbox(answer, words):
    sent = answers.payload(answer)
    assert sent["kind"] == "refused" and words in sent["reason"]
    assert words in grade("ch02_pir:fix", sent).reason


def test_data_answers_become_json_with_sets_sorted():
    sent = answers.payload({"sound": {"D", "C"}, "n": (1, 2), 3: None})
    assert sent == {"kind": "data", "value": {"sound": ["C", "D"], "n": [1, 2], "3": None}}


# ------------------------------------------------------------ the client
def test_the_student_is_the_one_in_nbgraders_autograded_directory():
    assert client.student_id("/srv/course/autograded/alice/ch02_pir") == "alice"
    assert client.student_id("/home/bob/ch02_pir") != "alice"


@pytest.fixture
def jupyter_home(tmp_path, monkeypatch):
    """A student's home as a hub starts their kernel: Jupyter's config under it, the
    hub's course-wide nbgrader config on JUPYTER_CONFIG_PATH (no student id there)."""
    shared = tmp_path / "etc" / "jupyter"
    shared.mkdir(parents=True)
    (shared / "nbgrader_config.py").write_text("c = get_config()\n"
                                               "c.CourseDirectory.course_id = 'hvr'\n")
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_PREFER_ENV_PATH", "JUPYTER_NO_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(shared))
    monkeypatch.setenv("JUPYTERHUB_USER", "ada")
    work = tmp_path / "home" / "ch01_virtio"
    work.mkdir(parents=True)
    return tmp_path / "home"


def student_config(directory, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "nbgrader_config.py").write_text(f"c = get_config()\n{text}\n")


def test_on_a_hub_the_student_is_the_id_nbgrader_submits_under_not_the_unix_user(
        jupyter_home, monkeypatch):
    """The hub runs every server as one Unix user and gives each student their id in
    ~/.jupyter/nbgrader_config.py: that id seeds the question, as it files the work."""
    from nbgrader.utils import get_username

    work = str(jupyter_home / "ch01_virtio")
    monkeypatch.setattr("nbgrader.utils.get_osusername", lambda: "workshop")
    assert get_username() == "workshop"  # nbgrader's own fallback: the Unix user
    assert client.student_id(work) == "workshop"
    student_config(jupyter_home / ".jupyter", "c.CourseDirectory.student_id = 'ada '")
    assert client.student_id(work) == "ada"
    assert graded_seed(client.student_id(work), "ch01_virtio") == graded_seed("ada",
                                                                              "ch01_virtio")
    # nbgrader reads the working directory's config first, as the student's kernel does
    student_config(jupyter_home / "ch01_virtio", "c.CourseDirectory.student_id = 'bo'")
    assert client.student_id(work) == "bo"
    assert client.student_id("/srv/course/autograded/cy/ch01_virtio") == "cy"


def test_the_shared_jovyan_user_is_named_by_jupyterhub_and_a_wildcard_is_no_id(
        jupyter_home, monkeypatch):
    work = str(jupyter_home / "ch01_virtio")
    monkeypatch.setattr("nbgrader.utils.get_osusername", lambda: "jovyan")
    student_config(jupyter_home / ".jupyter", "c.CourseDirectory.student_id = '*'")
    assert client.student_id(work) == "ada"  # JUPYTERHUB_USER, as nbgrader submit uses it
    student_config(jupyter_home / ".jupyter", "this is not python (")
    assert client.student_id(work) == "ada"  # a broken file: nbgrader warns and goes on too


def test_each_student_has_a_graded_seed_per_chapter_apart_from_practice_seeds():
    seeds = {graded_seed(s, c) for s in ("alice", "bob") for c in ("ch01_virtio", "ch02_pir")}
    assert len(seeds) == 4 and min(seeds) >= GRADED_FROM
    assert Context("alice").seed("ch02_pir") == graded_seed("alice", "ch02_pir")


def test_under_autograde_the_kernel_only_records_when_the_course_rechecks(monkeypatch, capsys):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.delenv(client.RECHECK_ENV, raising=False)
    assert not client.deferred()
    monkeypatch.setenv(client.RECHECK_ENV, "1")
    assert client.deferred()
    result = client.check("ch02_pir:fix", StudentsRule)
    assert result and result.reason.startswith("recorded")


def test_check_prints_the_verdict_a_grade_cell_asserts(capsys):
    result = client.check("ch02_pir:predict", {"ppr": 1})
    assert not result and capsys.readouterr().out.startswith("failed: the answer has no")


# ------------------------------------------------------------- recheck
def test_recheck_reads_the_check_calls_of_a_grade_cell_in_order():
    source = ('"""Part C."""\nresult = check("ch02_pir:on-only", FixedPIR)\nassert result\n'
              'r = check("ch02_pir:fix", FixedPIR); assert r\ncheck("x", f(y))\n')
    assert nbgrader_plugin.check_calls(source) == [("ch02_pir:on-only", "FixedPIR"),
                                                   ("ch02_pir:fix", "FixedPIR")]
    assert nbgrader_plugin.check_calls("def (") == []


CELLS = [
    "%matplotlib inline\nfrom simulator.engine import ops",
    BUGGY_RULE,
    "schedule = 'vcpu0* ' 'viona*'\nverdicts = {'A': 'sound'}",
    "from simulator.models.posted import PrioPostedInterrupts as Copied",
    "class Copied(PostedInterrupts):\n    pass\nCopied = Copied",
]


def test_recheck_takes_a_class_from_its_last_class_statement():
    item = nbgrader_plugin.item_for(("ch02_pir:fix", "FixedPIR"), CELLS, {"outputs": []})
    assert item["answer"] == {"kind": "class", "name": "FixedPIR",
                              "source": BUGGY_RULE.strip()}


def test_recheck_refuses_a_class_imported_from_the_course():
    answer = nbgrader_plugin.answer_from(answers.last_binding(CELLS[:4], "Copied"), "Copied",
                                         None)
    assert answer["kind"] == "refused"
    assert "imported from simulator.models.posted.PrioPostedInterrupts" in answer["reason"]


def test_recheck_takes_data_from_the_kernels_record_or_a_literal_in_the_notebook():
    record = {"output_type": "display_data", "data": {client.ANSWER_MIME: {
        "check": "ch02_pir:schedule", "answer": {"kind": "data", "value": "recorded"}}}}
    item = nbgrader_plugin.item_for(("ch02_pir:schedule", "schedule"), CELLS,
                                    {"outputs": [record]})
    assert item["answer"]["value"] == "recorded"
    item = nbgrader_plugin.item_for(("ch02_pir:schedule", "schedule"), CELLS, {"outputs": []})
    assert item["answer"] == {"kind": "data", "value": "vcpu0* viona*"}
    item = nbgrader_plugin.item_for(("ch02_pir:predict", "missing"), CELLS, {"outputs": []})
    assert item["answer"]["kind"] == "refused" and "no answer called missing" in \
        item["answer"]["reason"]


def test_recheck_gives_the_same_verdict_as_the_check_in_the_kernel():
    """The same answer text, sent by a grade cell or read from the notebook: one verdict."""
    kernel = client.check("ch02_pir:fix", StudentsRule)
    cells = [answers.source_of(StudentsRule)]
    item = nbgrader_plugin.item_for(("ch02_pir:fix", "StudentsRule"), cells, {"outputs": []})
    grader = client.run_request([item], {"student": "student"})[0]
    assert (grader.passed, grader.reason) == (kernel.passed, kernel.reason)


# A wrong class for each of chapters 3-5, as a student's cell defines it.
WRONG_IN_EACH = {
    "ch03_blockif:fix": """
class FixedBlockif(HyperkitBlockif):
    def blockif_cancel_wait(self, be, bse):
        yield ops.unlock(self.mtx, "blockif_cancel")
        yield from HyperkitBlockif.blockif_cancel_wait(self, be, bse)
        yield ops.lock(self.mtx, "blockif_cancel")
""",
    "ch04_lease:fix": """
class SafeRing(VionaRing):
    def viona_ring_lease_expire_cb(self):
        yield ops.cv_broadcast(self.vr_cv, "viona_ring_lease_expire_cb")
        return False
""",
    "ch05_rendezvous:keeps-rendezvous": """
class KeepRendezvous(Vm):
    def vm_smp_rendezvous(self, vcpuid, dest, from_cpu):
        for i in members(dest):
            yield from self.rendezvous.func(i)
""",
}


@pytest.mark.parametrize("check_id", sorted(WRONG_IN_EACH))
def test_the_kernel_and_the_autograder_agree_in_chapters_3_to_5(check_id, tmp_path,
                                                                monkeypatch):
    """A class from a student's cell: checked in the kernel, and re-read from the
    notebook's text by the autograder, it gets one verdict and one reason."""
    source, chapter = WRONG_IN_EACH[check_id].strip() + "\n", check_id.split(":")[0]
    module = f"students_cell_{chapter}"
    (tmp_path / f"{module}.py").write_text(
        f"from simulator.grading.chapters.{chapter} import namespace\n"
        f"globals().update(namespace())\n\n{source}")
    monkeypatch.syspath_prepend(str(tmp_path))
    name = source.split("(")[0].removeprefix("class ")
    kernel = client.check(check_id, getattr(importlib.import_module(module), name))
    item = nbgrader_plugin.item_for((check_id, name), ["from x import y", source],
                                    {"outputs": []})
    grader = client.run_request([item], {"student": client.student_id()})[0]
    assert not kernel and grader.check == kernel.check == check_id
    assert (grader.passed, grader.reason) == (kernel.passed, kernel.reason)


@pytest.mark.parametrize("check_id, name, fix, base", [
    ("ch03_blockif:fix", "FixedBlockif", "IllumosBlockif", "HyperkitBlockif"),
    ("ch04_lease:fix", "SafeRing", "LockedExpireRing", "VionaRing"),
    ("ch05_rendezvous:fix", "KeepRendezvous", "RunblockVm", "Vm"),
])
def test_a_subclass_of_a_chapters_shipped_fix_is_not_an_answer(check_id, name, fix, base):
    result = grade(check_id, class_answer(f"class {name}({fix}):\n    pass\n"))
    assert not result and f"should derive from {base} alone, not from {fix}" in result.reason


def test_a_failed_verdict_becomes_an_error_output_and_a_passed_one_plain_text():
    items = [{"check": "a:b"}, {"check": "a:c"}]
    out = nbgrader_plugin.render(items, [CheckResult(True, "fine", "a:b"),
                                         CheckResult(False, "wrong", "a:c")])
    assert [o.output_type for o in out] == ["stream", "error"] and out[1].evalue == "wrong"
    out = nbgrader_plugin.render(items[:1], [CheckResult(True, "fine", "a:b")])
    assert [o.output_type for o in out] == ["stream"] and out[0].name == "stdout"
