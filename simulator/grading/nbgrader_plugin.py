"""Two nbgrader preprocessors that make autograding trustworthy and sure to finish.

``python -m simulator.grading course DIR`` puts them in the course's
``nbgrader_config.py``, in ``Autograde.autograde_preprocessors``:

- ``RobustExecute`` runs the notebook as nbgrader's ``Execute`` does, tells
  the kernel that answers will be checked outside it (the grade cells then
  only record them), and survives a kernel that will not stop: a cell that
  outlives its timeout and ignores the interrupt (a student's ``except
  BaseException:`` around a loop) gets an error, the kernel is restarted, and
  the notebook goes on — the submission is graded, not dropped.
- ``Recheck`` then grades every grade cell that calls ``check("chapter:check",
  NAME)`` again, in sandbox processes, from the submitted notebook's text: a
  class answer is the last class statement that binds NAME; a data answer is
  the value the kernel recorded for that call (or, if the kernel never got
  there, a literal assigned to NAME). The cell's outputs are replaced by the
  verdicts, and a failed check leaves an ``AssertionError`` — nbgrader's sign
  of a failed test. Nothing the student's code did in the kernel can change
  these verdicts, and a problem in the grader itself never raises out of it.
"""
from __future__ import annotations

import ast
from concurrent.futures import ThreadPoolExecutor

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from nbgrader.utils import is_grade, setenv
from traitlets import Integer, Unicode

from simulator.grading.answers import Binding, last_binding, literal, refused
from simulator.grading.client import ANSWER_MIME, RECHECK_ENV, run_request
from simulator.grading.instructor import instructor_dir
from simulator.grading.result import CheckResult


class RobustExecute(Execute):
    """nbgrader's ``Execute``, with answers left to ``Recheck`` and hung kernels restarted."""

    def preprocess(self, nb, resources=None, km=None):
        with setenv(**{RECHECK_ENV: "1"}):
            return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        try:
            return super().preprocess_cell(cell, resources, index)
        except (CellTimeoutError, DeadKernelError) as exc:
            self.log.warning("cell %s did not finish (%s); restarting the kernel", index,
                             type(exc).__name__)
            cell.outputs.append(new_output(
                "error", ename="KernelRestarted",
                evalue=f"this cell did not finish within {self.timeout} s and ignored the "
                       "interrupt; the grader restarted the kernel",
                traceback=[]))
            self._restart_kernel()
            return cell, self.resources

    def _restart_kernel(self) -> None:
        from jupyter_core.utils import run_sync

        run_sync(self.km.restart_kernel)(now=True)
        run_sync(self.kc.wait_for_ready)(timeout=self.startup_timeout)


class Recheck(NbGraderPreprocessor):
    """Grade the ``check(...)`` calls of every grade cell again, outside the kernel."""

    instructor = Unicode(
        "", help="the instructor's grading directory (hidden checks); default: "
                 "HYPERVISOR_RACES_INSTRUCTOR or solutions/grading of this repository"
    ).tag(config=True)
    workers = Integer(2, help="sandbox processes run at once").tag(config=True)

    def preprocess(self, nb, resources):
        student = str(resources.get("nbgrader", {}).get("student") or "student")
        where = self.instructor or _default_instructor()
        jobs, seen = [], []
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            if is_grade(cell):
                calls = check_calls(cell.source)
                if calls:
                    jobs.append((cell, [item_for(c, seen, cell) for c in calls]))
            seen.append(cell.source)
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            verdicts = list(pool.map(lambda job: self._grade(job[1], student, where), jobs))
        for (cell, items), results in zip(jobs, verdicts, strict=True):
            cell.outputs = render(items, results)
        return nb, resources

    def _grade(self, items: list[dict], student: str, where: str | None) -> list[CheckResult]:
        try:
            return run_request(items, {"student": student}, where)
        except Exception as exc:  # the grader's own failure: say so, never raise
            self.log.error("could not check %s: %s", [i["check"] for i in items], exc)
            return [CheckResult(False, f"the grader could not check this cell: {exc}",
                                items[0]["check"])]


def check_calls(source: str) -> list[tuple[str, str]]:
    """The ``check("chapter:check", NAME)`` calls of a grade cell, in order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    calls = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "check" and len(node.args) == 2
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                and isinstance(node.args[1], ast.Name)):
            calls.append((node.lineno, node.col_offset, node.args[0].value, node.args[1].id))
    return [(check_id, name) for *_pos, check_id, name in sorted(calls)]


def item_for(call: tuple[str, str], cells: list[str], grade_cell) -> dict:
    """The answer for one call, from the notebook's text (or the kernel's record of data)."""
    check_id, name = call
    binding = last_binding(cells, name)
    return {"check": check_id, "answer": answer_from(binding, name, recorded(grade_cell,
                                                                              check_id))}


def answer_from(binding: Binding | None, name: str, record: dict | None) -> dict:
    if binding is not None and binding.kind == "class":
        return {"kind": "class", "name": name, "source": binding.text}
    if binding is not None and binding.kind == "import":
        return refused(f"{name} is imported from {binding.origin}, not written in this "
                       "notebook: a copy of a shipped class is not an answer")
    if record is not None and record.get("kind") in ("data", "refused"):
        return record
    try:
        return {"kind": "data", "value": literal(binding)}
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return refused(f"no answer called {name} was found: define it in the answer cell and "
                       "run the notebook from the top")


def recorded(cell, check_id: str) -> dict | None:
    """The answer the kernel sent for ``check_id`` in this cell (the last one), if any."""
    found = None
    for output in cell.get("outputs", []):
        data = output.get("data", {}) if output.get("output_type") == "display_data" else {}
        item = data.get(ANSWER_MIME)
        if isinstance(item, dict) and item.get("check") == check_id:
            answer = item.get("answer")
            found = answer if isinstance(answer, dict) else found
    return found


def render(items: list[dict], results: list[CheckResult]) -> list:
    """A grade cell's outputs: one line per verdict, and an error if one failed."""
    lines = []
    for result in results:
        if result.output:
            lines.append(result.output.rstrip("\n"))
        lines.append(f"{result.check}: {result}")
    outputs = [new_output("stream", name="stdout", text="\n".join(lines) + "\n")]
    failed = next((r for r in results if not r.passed), None)
    if failed is None and len(results) < len(items):
        failed = CheckResult(False, "the grader returned fewer verdicts than checks")
    if failed is not None:
        outputs.append(new_output("error", ename="AssertionError", evalue=failed.reason,
                                  traceback=[f"AssertionError: {failed.reason}"]))
    return outputs


def _default_instructor() -> str | None:
    found = instructor_dir()
    return str(found) if found is not None else None

