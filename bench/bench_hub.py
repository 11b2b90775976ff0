"""A room at once: N simulated students log in to the workshop hub, start a server
and run a chapter through the kernel API, all at the same moment.

    python bench/bench_hub.py [--students 10] [--chapter course/01-Virtio-Barriers.ipynb]
                              [--figure bench/hub_load.png] [--json FILE]

The hub is ``hub/jupyterhub_config.py`` as ``make hub`` starts it, on loopback
ports of its own, with a temporary state directory; every request goes to
127.0.0.1. Each student, in a thread of their own, fills in the login form with
the shared password, asks for a server, waits for it, opens a kernel and sends
the chapter's code cells one after another over the websocket, as JupyterLab's
Run All does. Per student it reports: seconds to log in and have a server, to
the chapter's first output, and to its last cell's reply (all from the common
start), whether any cell failed, and the peak memory of the student's processes
(the Jupyter server and its kernel: proportional set size, sampled every second).
Exits 1 if any student failed. Needs the hub extra and configurable-http-proxy
(``make hub`` installs both); skips with one line if they are missing.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hub"))

import loadclient  # noqa: E402


@dataclass
class Visit:
    """One student's visit, in seconds from the common start."""

    name: str
    server_ready: float | None = None
    first_output: float | None = None
    finished: float | None = None
    cells: int = 0
    failure: str | None = None
    peak_mib: float = 0.0
    reconnects: int = 0  # kernel websocket drops survived by reconnecting, as JupyterLab does


def code_cells(chapter: Path) -> list[str]:
    nb = nbformat.read(chapter, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def visit(hub, v: Visit, cells: list[str], clock: dict, go: threading.Event) -> None:
    go.wait()
    start = clock["start"]
    student = loadclient.Student(hub, v.name, timeout=1800)
    try:
        student.log_in()
        student.start_server()
        v.server_ready = time.monotonic() - start
        kernel = student.kernel("course")

        def first(_msg):
            if v.first_output is None:
                v.first_output = time.monotonic() - start

        try:
            for code in cells:
                outs = kernel.execute(code, on_output=first)
                v.cells += 1
                errors = [o for o in outs if o["output_type"] == "error"]
                if errors:
                    e = errors[0]
                    raise loadclient.StudentError(
                        f"cell {v.cells}: {e.get('ename')}: {e.get('evalue')}")
        finally:
            v.reconnects = kernel.reconnects
            kernel.close()
        v.finished = time.monotonic() - start
    except Exception as exc:  # a benchmark reports every failure and goes on with the rest
        v.failure = f"{type(exc).__name__}: {exc}"


def student_processes(name: str):
    """The student's Jupyter server and everything under it (the kernels)."""
    import psutil

    for proc in psutil.process_iter(["cmdline"]):
        try:
            if "jupyterhub-singleuser" not in " ".join(proc.info["cmdline"] or []):
                continue
            if proc.environ().get("JUPYTERHUB_USER") != name:
                continue
            return [proc, *proc.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return []


def sample_memory(visits: list[Visit], stop: threading.Event) -> None:
    import psutil

    while not stop.wait(1.0):
        for v in visits:
            total = 0
            for proc in student_processes(v.name):
                try:
                    total += proc.memory_full_info().pss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            v.peak_mib = max(v.peak_mib, total / 2**20)


def figure(visits: list[Visit], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [v for v in visits if v.finished is not None]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(visits) + 1.5))
    for i, v in enumerate(done):
        ax.barh(i, v.server_ready, color="#bbb", label="log in + server" if i == 0 else None)
        ax.barh(i, v.first_output - v.server_ready, left=v.server_ready, color="#8fb8de",
                label="to first output" if i == 0 else None)
        ax.barh(i, v.finished - v.first_output, left=v.first_output, color="#1f77b4",
                label="rest of the chapter" if i == 0 else None)
    ax.set_yticks(range(len(done)), [v.name for v in done])
    ax.set_xlabel("seconds from the common start")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=8,
              frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def summary(values: list[float]) -> str:
    if not values:
        return "-"
    return (f"median {statistics.median(values):.1f}, "
            f"min {min(values):.1f}, max {max(values):.1f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=10)
    p.add_argument("--chapter", type=Path, default=ROOT / "course" / "01-Virtio-Barriers.ipynb")
    p.add_argument("--figure", type=Path, default=None, help="write a PNG of the visits")
    p.add_argument("--json", type=Path, default=None, help="write the visits as JSON")
    args = p.parse_args(argv)
    if args.students < 1 or not args.chapter.is_file():
        print("error: --students must be at least 1 and --chapter an existing notebook",
              file=sys.stderr)
        return 2
    reason = loadclient.missing()
    if reason:
        print(f"bench_hub skipped: {reason}")
        return 0
    cells = code_cells(args.chapter)
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as tmp:
        hub = loadclient.start_hub(Path(tmp) / "hub")
        visits = [Visit(f"student{i:02d}") for i in range(args.students)]
        try:
            go, stop, clock = threading.Event(), threading.Event(), {}
            threads = [threading.Thread(target=visit, args=(hub, v, cells, clock, go))
                       for v in visits]
            sampler = threading.Thread(target=sample_memory, args=(visits, stop))
            for t in threads:
                t.start()
            sampler.start()
            clock["start"] = time.monotonic()
            go.set()  # everyone at once
            for t in threads:
                t.join()
            stop.set()
            sampler.join()
        finally:
            hub.stop()
            if any(v.failure or v.reconnects for v in visits):
                kept = Path(tempfile.gettempdir()) / f"bench-hub-{os.getpid()}.log"
                shutil.copy(hub.log, kept)
                print(f"(the hub's log is kept in {kept})")
    print(f"{args.students} students, {args.chapter.name} ({len(cells)} code cells), "
          f"hub on 127.0.0.1")
    print(f"{'student':<10} {'server s':>9} {'1st out s':>10} {'finish s':>9} "
          f"{'peak MiB':>9}  result")
    for v in visits:
        cols = [f"{x:.1f}" if x is not None else "-" for x in
                (v.server_ready, v.first_output, v.finished)]
        again = f", {v.reconnects} reconnects" if v.reconnects else ""
        print(f"{v.name:<10} {cols[0]:>9} {cols[1]:>10} {cols[2]:>9} {v.peak_mib:>9.0f}  "
              f"{v.failure or f'ok, {v.cells} cells'}{again}")
    failed = [v for v in visits if v.failure]
    ok = [v for v in visits if not v.failure]
    print(f"server ready: {summary([v.server_ready for v in ok])} s")
    print(f"first output: {summary([v.first_output for v in ok])} s")
    print(f"finished:     {summary([v.finished for v in ok])} s")
    print(f"peak memory per student: {summary([v.peak_mib for v in visits])} MiB")
    print(f"failures: {len(failed)}; kernel connections re-established: "
          f"{sum(v.reconnects for v in visits)}")
    if args.figure:
        figure(visits, args.figure, f"{args.students} students run {args.chapter.name} at once")
    if args.json:
        args.json.write_text(json.dumps([asdict(v) for v in visits], indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
