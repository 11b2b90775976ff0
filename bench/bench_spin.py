"""Side by side with Spin: the same two small models, searched by both.

The models are store buffering on x86-TSO (``bench/spin/sb.pml``) and a lost
wake-up, a condition variable whose waker skips the lock
(``bench/spin/lost_wakeup.pml``); here they are built again as engine
Machines. Each is searched twice: the buggy version until the first
counterexample, and the fixed version (MFENCEs; a waker holding the lock)
until the state space is exhausted.

Spin's time is end to end, as a user meets it: ``spin -a`` to generate the
verifier, ``gcc`` to compile ``pan.c``, and ``./pan`` to search. Our time is
one call of the explorer (``simulator.engine.explore.explore``, depth-first),
in this process, with counterexample minimisation turned off because Spin
does not minimise either. Times are medians of ``--repeat`` runs.

Run it as ``python bench/bench_spin.py``. Spin comes from the Debian package
``spin``; if it is missing the script installs it with apt-get when it can,
and otherwise skips with a message saying why.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.engine import shapes  # noqa: E402
from simulator.engine.explore import explore  # noqa: E402
from simulator.engine.machine import Machine  # noqa: E402

PML = ROOT / "bench" / "spin"


# ------------------------------------------------------------ engine models
def sb_machine(fenced: bool) -> Machine:
    """SB: each CPU stores 1 to its location, [MFENCE], loads the other's."""
    return shapes.store_buffering("tso", fences=fenced)


def lost_wakeup_machine(locked: bool) -> Machine:
    """The waiter checks the flag under the lock and sleeps on the cv; the waker
    sets the flag and signals, holding the lock only if ``locked`` (an interleaving
    bug, so sequentially consistent memory, as in the Promela model)."""
    return shapes.lost_wakeup(waker_holds_lock=locked)


def virtio_machine(requests: int, variant: str = "fixed") -> Machine:
    """OS-7613 as the scenario builds it (flags mode), for ``bench/spin/virtio_barriers.pml``."""
    from simulator import scenarios

    return scenarios.get("virtio-barriers").machine(variant, {"requests": requests})


@dataclass(frozen=True)
class Case:
    model: str
    search: str  # "first counterexample" or "exhaust"
    pml: str
    define: str | None
    factory: object
    pan_flags: tuple[str, ...] = ()


CASES = [
    Case("SB", "first counterexample", "sb.pml", None, lambda: sb_machine(False)),
    Case("SB+mfences", "exhaust", "sb.pml", "FENCE", lambda: sb_machine(True)),
    Case("lost-wakeup", "first counterexample", "lost_wakeup.pml", None,
         lambda: lost_wakeup_machine(False)),
    Case("lost-wakeup+lock", "exhaust", "lost_wakeup.pml", "LOCKED",
         lambda: lost_wakeup_machine(True)),
    # OS-7613, fixed: Spin with its partial-order reduction (default) and without it.
    *[Case(f"OS-7613 fixed {n}r{por}", "exhaust", "virtio_barriers.pml", f"REQUESTS={n}",
           lambda n=n: virtio_machine(n), () if por == "" else ("-DNOREDUCE",))
      for n in (2, 3) for por in ("", " nopor")],
    Case("OS-7613 buggy 2r", "first counterexample", "virtio_barriers.pml",
         "REQUESTS=2 -DBUGGY", lambda: virtio_machine(2, "buggy")),
]


# ------------------------------------------------------------------ ours
@dataclass
class OurRun:
    seconds: float
    states: int
    found: str | None
    exhausted: bool


def run_ours(case: Case) -> OurRun:
    start = time.perf_counter()
    res = explore(case.factory, strategy="dfs", minimise_found=False, max_states=2_000_000)
    seconds = time.perf_counter() - start
    found = res.found.verdict.kind if res.found else None
    return OurRun(seconds, res.stats.states, found, res.exhausted)


# ------------------------------------------------------------------ spin
@dataclass
class SpinRun:
    generate: float
    compile: float
    search: float
    states: int
    errors: int

    @property
    def seconds(self) -> float:
        return self.generate + self.compile + self.search


def _timed(cmd: list[str], cwd: str) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0 and cmd[0] != "./pan":
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip() or done.stdout}")
    return seconds, done.stdout


def run_spin(case: Case) -> SpinRun:
    with tempfile.TemporaryDirectory(prefix="hvr-spin-") as tmp:
        shutil.copy(PML / case.pml, tmp)
        flags = [f"-D{d}" for d in case.define.split(" -D")] if case.define else []
        gen, _ = _timed(["spin", *flags, "-a", case.pml], tmp)
        comp, _ = _timed(["gcc", "-O2", "-w", "-DSAFETY", *case.pan_flags, "-o", "pan",
                          "pan.c"], tmp)
        search, out = _timed(["./pan", "-m100000"], tmp)
    states = re.search(r"(\d+) states, stored", out)
    errors = re.search(r"errors: (\d+)", out)
    if not states or not errors:
        raise RuntimeError(f"cannot read pan's output:\n{out}")
    return SpinRun(gen, comp, search, int(states.group(1)), int(errors.group(1)))


def ensure_spin(install: bool) -> str | None:
    """None if spin and gcc are usable, else the reason to skip."""
    if shutil.which("gcc") is None:
        return "gcc is not installed (Spin's verifier is C compiled at run time)"
    if shutil.which("spin"):
        return None
    if not install:
        return "spin is not installed and --no-install was given"
    if shutil.which("apt-get") is None:
        return "spin is not installed and there is no apt-get to install it"
    if os.geteuid() != 0:
        return "spin is not installed; install it with: sudo apt-get install spin"
    print("installing spin with apt-get ...", file=sys.stderr)
    done = subprocess.run(["apt-get", "install", "-y", "spin"], capture_output=True, text=True)
    if done.returncode != 0 or shutil.which("spin") is None:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"spin is not installed and apt-get could not install it ({tail})"
    return None


# ------------------------------------------------------------------ table
def _median(values: list[float]) -> float:
    return statistics.median(values)


def measure(case: Case, repeat: int) -> dict:
    ours = [run_ours(case) for _ in range(repeat)]
    spin = [run_spin(case) for _ in range(repeat)]
    o, s = ours[0], spin[0]
    spin_found = s.errors > 0
    return {
        "model": case.model, "search": case.search,
        "ours_s": _median([r.seconds for r in ours]),
        "spin_s": _median([r.seconds for r in spin]),
        "spin_generate_s": _median([r.generate for r in spin]),
        "spin_compile_s": _median([r.compile for r in spin]),
        "spin_pan_s": _median([r.search for r in spin]),
        "ours_states": o.states, "spin_states": s.states,
        "ours_found": o.found, "ours_exhausted": o.exhausted, "spin_errors": s.errors,
        "agree": (o.found is not None) == spin_found,
        "ours": [asdict(r) for r in ours],
    }


def print_table(rows: list[dict]) -> None:
    head = (f"{'model':<24} {'search':<21} {'ours s':>8} {'spin s':>8} {'spin/ours':>9} "
            f"{'pan s':>7} {'pan/ours':>8} {'states o/s':>16} {'us/st o/pan':>12}  verdicts")
    print(head)
    print("-" * len(head))
    for r in rows:
        verdict = f"{r['ours_found'] or ('exhausted' if r['ours_exhausted'] else 'bounded')}"
        verdict += f" / {'error' if r['spin_errors'] else 'no error'}"
        verdict += "" if r["agree"] else "  DISAGREE"
        print(f"{r['model']:<24} {r['search']:<21} {r['ours_s']:>8.4f} {r['spin_s']:>8.3f} "
              f"{r['spin_s'] / r['ours_s']:>8.0f}x {r['spin_pan_s']:>7.4f} "
              f"{r['spin_pan_s'] / r['ours_s']:>7.1f}x "
              f"{str(r['ours_states']) + '/' + str(r['spin_states']):>16} "
              f"{1e6 * r['ours_s'] / r['ours_states']:>5.1f}/"
              f"{1e6 * r['spin_pan_s'] / r['spin_states']:<6.1f}  {verdict}")
    total_o = sum(r["ours_s"] for r in rows)
    total_s = sum(r["spin_s"] for r in rows)
    compile_share = sum(r["spin_generate_s"] + r["spin_compile_s"] for r in rows) / total_s
    print(f"\ntotal: ours {total_o:.4f} s, spin {total_s:.3f} s end to end "
          f"(ratio spin/ours {total_s / total_o:.0f}x); "
          f"{compile_share:.0%} of Spin's time is spin -a and gcc")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    p.add_argument("--no-install", action="store_true", help="never run apt-get")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--only", default="", help="run only the models whose name contains this")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    reason = ensure_spin(not args.no_install)
    if reason:
        print(f"skipped: {reason}")
        return 0
    rows = [measure(case, args.repeat) for case in CASES if args.only in case.model]
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print_table(rows)
    return 0 if all(r["agree"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
