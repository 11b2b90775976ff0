"""What a grade cell calls: ``check("ch02_pir:fix", FixedPIR)``, answered by the sandbox.

The answer is turned into data (a class into its source text), handed to a
fresh ``python -I -m simulator.grading.sandbox`` process, and its verdict comes
back as a plain ``CheckResult``. Under ``nbgrader autograde`` the cell's output
also carries the answer as it was sent (a display item of type
``ANSWER_MIME``), for the autograder.

Under ``nbgrader autograde`` with this course's configuration (which sets
``RECHECK_ENV``), the kernel only records the answer: the autograder then
checks it outside the notebook (``nbgrader_plugin.Recheck``), and its
verdict, not the kernel's, is the grade.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from simulator.grading import chapters
from simulator.grading.answers import payload
from simulator.grading.exercise import MIN_GUARD_S
from simulator.grading.instructor import instructor_dir
from simulator.grading.result import CheckResult
from simulator.grading.sandbox import DEFAULT_MEMORY_MB, GRACE_S, timed_out_reason

ANSWER_MIME = "application/vnd.hypervisor-races.answer+json"
RECHECK_ENV = "HYPERVISOR_RACES_RECHECK"
WALL_FACTOR = 3  # a busy machine's wall clock may run ~3x its CPU time
AUTOGRADED = re.compile(r"[/\\]autograded[/\\](?P<student>[^/\\]+)[/\\][^/\\]+[/\\]?$")


def check(check_id: str, answer: object) -> CheckResult:
    """Check ``answer`` with the check called ``check_id``; print and return the verdict."""
    item = {"check": check_id, "answer": payload(answer)}
    _record(item)
    if deferred():
        result = CheckResult(True, "recorded; the autograder checks this answer outside the "
                                   "notebook", check_id)
    else:
        result = run_request([item], {"student": student_id()})[0]
    if result.output:
        print(result.output, end="" if result.output.endswith("\n") else "\n")
    print(result)
    return result


def deferred() -> bool:
    """Is this kernel being autograded by a grader that checks answers itself?"""
    return (os.environ.get("NBGRADER_EXECUTION") == "autograde"
            and os.environ.get(RECHECK_ENV) == "1")


def student_id(cwd: str | None = None) -> str:
    """Who is working: the id nbgrader files this student's work under.

    Under autograde, the student of the ``autograded/<student>/<assignment>``
    directory. Elsewhere what ``nbgrader submit`` would use: the
    ``CourseDirectory.student_id`` nbgrader's config files set (a hub sets it
    per student, e.g. the workshop hub in each student's
    ``~/.jupyter/nbgrader_config.py``), else nbgrader's user name (the Unix
    user, or ``JUPYTERHUB_USER`` for the shared user ``jovyan``)."""
    where = cwd or os.getcwd()
    match = AUTOGRADED.search(where)
    if match:
        return match["student"]
    configured = configured_student_id(where)
    if configured:
        return configured
    try:
        from nbgrader.utils import get_username

        return get_username()
    except Exception:  # nbgrader missing or no user name: one shared id
        return "student"


def configured_student_id(cwd: str) -> str | None:
    """``CourseDirectory.student_id`` as nbgrader's own config files set it, or None.

    nbgrader reads ``nbgrader_config.py`` (and ``.json``) from the working
    directory and from Jupyter's config path, the first of them taking
    precedence; its default ``*`` (or nothing) means "not set"."""
    try:
        from jupyter_core.paths import jupyter_config_path
        from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader
    except ImportError:
        return None
    for directory in [cwd, *jupyter_config_path()]:
        for loader in (JSONFileConfigLoader, PyFileConfigLoader):
            name = "nbgrader_config" + (".json" if loader is JSONFileConfigLoader else ".py")
            if not os.path.isfile(os.path.join(directory, name)):
                continue
            try:
                config = loader(name, path=directory).load_config()
                value = config.CourseDirectory.get("student_id")
            except Exception:  # a broken config file: nbgrader would warn and go on too
                continue
            if isinstance(value, str) and value.strip() not in ("", "*"):
                return value.strip()
    return None


def _record(item: dict) -> None:
    """Under autograde, leave the answer in the cell's output for ``Recheck``."""
    if os.environ.get("NBGRADER_EXECUTION") != "autograde":
        return
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    if get_ipython() is not None:
        display({"text/plain": "", ANSWER_MIME: item}, raw=True)


def cpu_budget(check_ids: list[str], instructor: str | None) -> float:
    """The CPU-time hang guard for a request: the sum of its checks' guards."""
    total = 0.0
    for check_id in check_ids:
        try:
            _chapter, found, _why = chapters.find(check_id, instructor)
        except Exception:  # an unknown check: the sandbox says so, quickly
            found = None
        total += found.guard_s if found is not None else MIN_GUARD_S
    return total


def run_request(items: list[dict], context: dict, instructor: str | Path | None = None,
                cpu_s: float | None = None, memory_mb: int = DEFAULT_MEMORY_MB
                ) -> list[CheckResult]:
    """Run ``items`` in one sandbox process; one result per item, up to the first failure."""
    where = str(instructor) if instructor is not None else _default_instructor()
    ids = [str(i.get("check")) for i in items]
    cpu = cpu_s if cpu_s is not None else cpu_budget(ids, where)
    request = {"items": items, "context": context, "instructor": where, "cpu_s": cpu,
               "memory_mb": memory_mb}
    wall = WALL_FACTOR * (cpu + GRACE_S) + 30
    try:
        proc = subprocess.run([sys.executable, "-I", "-m", "simulator.grading.sandbox"],
                              input=json.dumps(request), capture_output=True, text=True,
                              timeout=wall, start_new_session=True)
    except subprocess.TimeoutExpired:
        return [_fail(ids[0], f"the grader timed out after {wall:g} s and stopped the check; "
                              "if your code does finish, tell your instructor")]
    except OSError as exc:
        return [_fail(ids[0], f"the grader could not start its sandbox: {exc}")]
    return _results(proc, ids, cpu)


def _results(proc: subprocess.CompletedProcess, ids: list[str], cpu: float) -> list[CheckResult]:
    if proc.returncode in (-signal.SIGKILL, -signal.SIGXCPU):
        return [_fail(ids[0], timed_out_reason(cpu))]
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        results = [CheckResult.from_json(r) for r in data["results"]]
    except (ValueError, IndexError, KeyError, TypeError):
        tail = (proc.stderr or "").strip().splitlines()[-1:] or ["no output"]
        return [_fail(ids[0], f"the grader's sandbox failed (exit {proc.returncode}): "
                              f"{tail[0][:300]}")]
    return results or [_fail(ids[0], "the grader returned no verdict")]


def _fail(check_id: str, reason: str) -> CheckResult:
    return CheckResult(False, reason, check_id)


def _default_instructor() -> str | None:
    found = instructor_dir()
    return str(found) if found is not None else None
