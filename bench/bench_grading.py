"""Grading cost: each check in its sandbox, and nbgrader's autograde per student.

    python bench/bench_grading.py [--students N] [--chapters ch03_blockif,...]
                                  [--skip-checks] [--skip-nbgrader]

Part 1 runs every check of every chapter on the solution's answers (and the
fix checks on the chapters' own printed fixes where an exercise asks for a
fix of their shape, typed as one class on the exercise's base, and on larger
accepted answers: the largest state spaces an accepted answer explores) and
reports the CPU seconds of each sandbox process and the states it explored,
next to the ``cost_s`` its hang guards are sized from (the guard is ten times
``cost_s``, at least a minute). Part 2 makes a course in a temporary
directory, submits the solution for N students (each with their own Part A
question) and times ``nbgrader autograde`` for each chapter: wall clock and
CPU (nbgrader, its kernels and the sandboxes), per student, and the sum.

Needs the instructor's files (solutions/ and solutions/grading/). Speed is
reported here, never asserted in tests: verdicts depend on counted budgets.
"""
from __future__ import annotations

import argparse
import inspect
import os
import re
import resource
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import nbformat

from simulator.grading import chapters
from simulator.grading.answers import last_binding
from simulator.grading.client import run_request, student_id
from simulator.grading.course import CELL_TIMEOUT_S, make_course, nbgrader
from simulator.grading.instructor import hidden_module, instructor_dir
from simulator.grading.nbgrader_plugin import check_calls
from simulator.models import posted, viona, virtio

ROOT = Path(__file__).resolve().parent.parent
# The chapters' own fixes, where an exercise asks for a fix of their shape. Chapter 3's
# is a signal handler and chapter 5's removes the rendezvous: their Part C asks for
# neither (tests/test_grading_ch03.py and ch05 run the fix checks' explorer on them).
PRINTED = (("ch01_virtio:any-fix", virtio.FencedVirtioDevice, virtio.VirtioDevice),
           ("ch02_pir:any-fix", posted.PrioPostedInterrupts, posted.PostedInterrupts),
           ("ch02_pir:any-fix", posted.PendingPrioPostedInterrupts, posted.PostedInterrupts),
           ("ch02_pir:low-clock", posted.PrioPostedInterrupts, posted.PostedInterrupts),
           ("ch02_pir:two-vectors", posted.PrioPostedInterrupts, posted.PostedInterrupts),
           ("ch04_lease:fix", viona.LockedExpireRing, viona.VionaRing))
# Accepted answers with larger state spaces than the solution's, where the chapter
# prints no fix of the exercise's shape: chapter 3's ring of the whole process
# (kill, not pthread_kill) waited for on bse_cond.
LARGER = (("ch03_blockif:fix", "FixedBlockif", """
class FixedBlockif(HyperkitBlockif):
    def blockif_cancel_wait(self, be, bse):
        yield ops.store(bse.pending, 1, "blockif_cancel")
        yield from self.blockif_bse_push(bse)
        yield from self.process.kill(SIGCONT)
        yield ops.lock(bse.mtx, "blockif_cancel")
        while (yield ops.load(bse.pending, "blockif_cancel")):
            yield ops.cv_wait(bse.cond, bse.mtx, "blockif_cancel")
        yield ops.unlock(bse.mtx, "blockif_cancel")
"""),)
STATES = re.compile(r"\(([\d,]+) states|in ([\d,]+) states")


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(items: list[dict]) -> tuple[list, float, float]:
    """Run ``items`` in one sandbox as this user (whose question the solution answers)."""
    cpu, wall = child_cpu(), time.monotonic()
    results = run_request(items, {"student": student_id()})
    return results, child_cpu() - cpu, time.monotonic() - wall


def as_typed(cls: type, base: type) -> str:
    """A printed fix as a student types it from the chapter's diffs: one class on the
    exercise's ``base`` with every method the commits between them changed."""
    hooks = {}
    for klass in reversed(cls.__mro__[:cls.__mro__.index(base)]):
        for name, value in vars(klass).items():
            if inspect.isfunction(value):
                hooks[name] = textwrap.indent(textwrap.dedent(inspect.getsource(value)), "    ")
    return f"class {cls.__name__}({base.__name__}):\n" + "\n".join(hooks.values())


def explored(reason: str) -> str:
    """The states a check's explorer visited, as its reason says."""
    found = STATES.search(reason)
    return next((g for g in found.groups() if g), "") if found else ""


def solution_items(chapter) -> list[tuple[str, dict]]:
    """(grade cell, item) for every check call in the solution notebook's grade cells,
    the answers as the kernel would send them (data answers run from the cells)."""
    nb = nbformat.read(ROOT / "solutions" / f"{chapter.notebook}.ipynb", as_version=4)
    cells, scope, out = [], {}, []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.metadata.get("nbgrader", {}).get("grade"):
            for check_id, name in check_calls(cell.source):
                binding = last_binding(cells, name)
                if binding is not None and binding.kind == "class":
                    answer = {"kind": "class", "name": name, "source": binding.text}
                else:  # data, possibly computed by the cell (a prediction)
                    answer = {"kind": "data", "value": scope[name]}
                out.append((cell.metadata.nbgrader.grade_id, {"check": check_id,
                                                                "answer": answer}))
        elif cell.id == "setup" or cell.metadata.get("nbgrader", {}).get("solution"):
            exec(cell.source, scope)  # noqa: S102 - the solution's imports and answers
        cells.append(cell.source)
    return out


def cost_of(check_id: str):
    chapter, check, _ = chapters.find(check_id, instructor_dir())
    return check


def part_one(names: list[str]) -> None:
    print("== each check on the solution's answer (one sandbox process each)")
    print(f"{'check':<36} {'verdict':<8} {'cpu s':>7} {'wall s':>7} {'cost_s':>7} "
          f"{'guard s':>8}  states")
    for chapter in chapters.all_chapters():
        if chapter.name not in names:
            continue
        for _cell, item in solution_items(chapter):
            (result,), cpu, wall = timed([item])
            check = cost_of(item["check"])
            print(f"{item['check']:<36} {'passed' if result else 'FAILED':<8} {cpu:7.2f} "
                  f"{wall:7.2f} {check.cost_s:7.1f} {check.guard_s:8.0f}  "
                  f"{explored(result.reason)}")
    print("== the fix checks on the chapters' printed fixes and larger accepted answers")
    larger = [(c, cls.__name__, as_typed(cls, base)) for c, cls, base in PRINTED]
    for check_id, name, source in larger + list(LARGER):
        if check_id.split(":")[0] not in names:
            continue
        answer = {"kind": "class", "name": name, "source": source.strip() + "\n"}
        (result,), cpu, wall = timed([{"check": check_id, "answer": answer}])
        check = cost_of(check_id)
        print(f"{check_id + ' ' + name:<52} {'passed' if result else 'FAILED':<8} "
              f"cpu {cpu:6.2f} s  wall {wall:6.2f} s  cost_s {check.cost_s:5.1f}  "
              f"states {explored(result.reason)}")


def submit_solutions(course: Path, students: list[str], names: list[str]) -> None:
    for assignment in names:
        name = f"{chapters.get(assignment).notebook}.ipynb"
        for student in students:
            target = course / "submitted" / student / assignment
            target.mkdir(parents=True, exist_ok=True)
            nb = nbformat.read(course / "source" / assignment / name, as_version=4)
            nbformat.write(nb, target / name)


def part_two(n: int, names: list[str]) -> None:
    print(f"== nbgrader autograde, {n} students, solution submissions, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp) / "course"
        start = time.monotonic()
        made = make_course(course)
        print(f"course made ({len(made)} generate_assignment runs): "
              f"{time.monotonic() - start:.1f} s")
        names = [a for a in made if a in names]
        students = [f"student{i:02d}" for i in range(n)]
        submit_solutions(course, students, names)
        total_wall = total_cpu = 0.0
        for assignment in names:
            cpu, wall = child_cpu(), time.monotonic()
            proc = nbgrader(course, "autograde", assignment, "--force")
            wall, cpu = time.monotonic() - wall, child_cpu() - cpu
            if proc.returncode != 0:
                sys.exit(f"autograde failed: {proc.stderr[-2000:]}")
            total_wall, total_cpu = total_wall + wall, total_cpu + cpu
            print(f"{assignment:<16} wall {wall:7.1f} s ({wall / n:5.1f} s/student)   "
                  f"cpu {cpu:7.1f} s ({cpu / n:5.1f} s/student)   "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
        print(f"{f'all {len(names)}':<16} wall {total_wall:7.1f} s "
              f"({total_wall / n:5.1f} s/student)   "
              f"cpu {total_cpu:7.1f} s ({total_cpu / n:5.1f} s/student)")
        print(f"(a notebook cell's hang guard in the course: {CELL_TIMEOUT_S} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=3)
    parser.add_argument("--chapters", default="",
                        help="comma-separated chapter names (default: every chapter)")
    parser.add_argument("--skip-checks", action="store_true", help="no part 1")
    parser.add_argument("--skip-nbgrader", action="store_true", help="no part 2")
    args = parser.parse_args()
    if instructor_dir() is None or hidden_module("ch01_virtio", instructor_dir()) is None:
        sys.exit("bench_grading needs the instructor's solutions/grading/")
    names = [c.name for c in chapters.all_chapters()]
    if args.chapters:
        wanted = [w.strip() for w in args.chapters.split(",") if w.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            sys.exit(f"unknown chapter(s) {', '.join(unknown)}; known: {', '.join(names)}")
        names = [n for n in names if n in wanted]
    if not args.skip_checks:
        part_one(names)
    if not args.skip_nbgrader:
        part_two(args.students, names)


if __name__ == "__main__":
    main()
