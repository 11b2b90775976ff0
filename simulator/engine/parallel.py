"""Spreading a search over processes: both cores of a small machine.

Processes are *forked* from the searching one, so a child starts with
everything the parent had — the factory (even a class defined in a notebook,
which could not be sent to another process), the threads' memo, the snapshots
— and sends back only plain data: verdicts, schedules, state keys, counts.
Where fork is not available, and inside a Jupyter kernel (forking a kernel's
process, with its threads and sockets, is not safe), the search stays in one
process and says so.

Random and PCT runs: run ``i`` is chosen by its own seeded chooser, so worker
``k`` of ``n`` takes runs ``k, k + n, k + 2n...`` and the merged result is the
one a single process gives: the same runs, the same verdict counts, the same
distinct end states and the same first bad run. With ``stop_at_first`` a worker
stops at its first bad run, or once the lowest bad run found by anyone is
behind it; runs after the lowest bad one are not counted, as in one process.

Depth-first search, one preemption bound at a time: the parent follows the
shallowest open branch to its next branching state, again and again, until it
holds ``ITEMS`` open branches (in depth-first order, with its own state
cache). Each worker then takes the next branch not yet taken (a shared
counter: whoever is free), explores it to the end with a state cache of its
own kept across its branches, and stops at its first bad run. What stays as
in one process: a bad run is reported if and only if one exists within the
bound (every branch is explored to the end, or the search says it stopped);
``exhausted`` only if every branch was and nothing was cut by the bound;
iterative bounding still returns a counterexample with the fewest
preemptions. Which counterexample: the first that a depth-first search of the
lowest-numbered branch with one finds. Every worker takes branches in
increasing order, so every lower branch was explored to the end without one;
a state a worker's cache prunes was explored before without a bad run below
it; so the choice does not depend on timing or on the number of workers.
What differs: a state reachable from branches that two workers took is
explored and counted by both (``states`` includes that overlap, and varies a
little from run to run); each worker may visit an even share of
``max_states``, so near that budget whether the search stops there can depend
on that overlap. Measured on the course's models (bench/README.md): interleavings
converge, so the overlap is large (pir-wakeup: about half again the states of
one process) and a second core buys far less than half the time.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Callable

from simulator.engine.explore import (
    ExploreResult,
    Found,
    Stats,
    _dfs,
    _Runner,
    _walk_one,
)
from simulator.errors import UsageError

ITEMS = 64  # branches shared out: more balance, more overlap


def resolve_workers(workers: int | str) -> tuple[int, str]:
    """The number of processes to use for ``workers`` (a number, or "auto": the
    CPUs this process may run on), and why it is 1 if more were asked for."""
    if workers == "auto":
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        n = max(1, n or 1)
    else:
        try:
            n = int(workers)
        except (TypeError, ValueError):
            n = 0
        if n < 1 or isinstance(workers, bool) or (isinstance(workers, float)
                                                    and workers != n):
            raise UsageError(f"--workers must be a positive number or 'auto', not {workers!r}")
    if n == 1:
        return 1, ""
    if in_jupyter_kernel():
        return 1, "one process: forking a Jupyter kernel is not safe"
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1, "one process: this platform cannot fork"
    return n, ""


def in_jupyter_kernel() -> bool:
    """Is this process a Jupyter (IPython) kernel?"""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


# ------------------------------------------------------------- processes
def _fork_all(jobs: list[Callable[[], object]]) -> list[object]:
    """Run each job in a forked child and return what each returned, in order.
    An exception in a child is raised here (a UsageError as itself)."""
    ctx = multiprocessing.get_context("fork")
    pipes, procs = [], []
    for job in jobs:
        reader, writer = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_child, args=(job, writer), daemon=True)
        p.start()
        writer.close()
        pipes.append(reader)
        procs.append(p)
    results = []
    try:
        for reader, p in zip(pipes, procs, strict=True):
            try:
                status, value = reader.recv()
            except EOFError:
                p.join()
                raise RuntimeError(f"a search worker died (exit code {p.exitcode})") from None
            if status == "error":
                raise value
            results.append(value)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
    return results


def _child(job: Callable[[], object], writer) -> None:
    try:
        out = ("ok", job())
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
        out = ("error", exc)
    try:
        writer.send(out)
    except Exception:  # an unpicklable exception: send its text
        text = "".join(traceback.format_exception(out[1])) if out[0] == "error" else ""
        writer.send(("error", RuntimeError(f"a search worker failed:\n{text}")))
    writer.close()


# ------------------------------------------------------------------ walks
def walks(run: _Runner, name: str, indices, start: float, time_limit: float | None,
          stop_at_first: bool, chooser_for: Callable[[int], Callable],
          workers: int) -> ExploreResult:
    """Random or PCT runs shared out among ``workers`` processes (see the module
    docstring); the result is the one ``explore._walk_all`` gives."""
    indices = list(indices)
    lowest_bad = multiprocessing.get_context("fork").Value("q", len(indices))

    def job(k: int):
        return _walk_share(run, indices[k::workers], start, time_limit, stop_at_first,
                           chooser_for, lowest_bad)

    shares = _fork_all([lambda k=k: job(k) for k in range(workers)])
    records, found, stats = [], None, Stats()
    for share in shares:
        records += share["runs"]
        stats.rebuilds += share["rebuilds"]
        stats.memo += share["memo"]
        bad = share["bad"]
        if bad is not None and (found is None or bad[0] < found[0]):
            found = bad
    records.sort()
    if stop_at_first and found is not None:
        records = [r for r in records if r[0] <= found[0]]
    result = ExploreResult(name, None, False, stats, 0.0, workers=workers)
    ends = set()
    for _, kind, end, steps in records:
        result.verdicts[kind] = result.verdicts.get(kind, 0) + 1
        ends.add(end)
        stats.steps += steps
    stats.schedules = len(records)
    stats.states = len(ends)
    result.found = found[1] if found is not None else None
    return result


def _walk_share(run: _Runner, mine: list[int], start: float, time_limit: float | None,
                stop_at_first: bool, chooser_for, lowest_bad) -> dict:
    """One worker's runs: (index, verdict kind, end state, steps) each, and its first
    bad run as (index, Found)."""
    runs, bad = [], None
    for i in mine:
        if stop_at_first and i > lowest_bad.value:
            break  # a bad run before this one is already known: the rest is not counted
        schedule, verdict, end, preemptions = _walk_one(run, chooser_for(i))
        runs.append((i, verdict.kind, end, len(schedule)))
        if verdict.bad and bad is None:
            bad = (i, Found(schedule, verdict, preemptions))
            with lowest_bad.get_lock():
                lowest_bad.value = min(lowest_bad.value, i)
            if stop_at_first:
                break
        if time_limit and time.monotonic() - start > time_limit:
            break
    return {"runs": runs, "bad": bad, "rebuilds": run.stats.rebuilds,
            "memo": run.memo_size()}


# -------------------------------------------------------------------- dfs
def dfs_pass(run: _Runner, bound: int, stats: Stats, max_states: int,
             deadline: float | None, reduce: bool, workers: int) -> Found | None:
    """One pass of iterative preemption bounding, spread over ``workers`` processes
    (see the module docstring). Fills ``stats`` as ``explore._dfs`` does, summed
    over the parent's top of the tree and every worker."""
    found, items = _frontier(run, bound, stats, max_states, deadline, reduce, ITEMS)
    if found is not None or stats.hit_state_limit or not items:
        return found
    share = max(1, (max_states - stats.states) // workers)
    lowest_found = multiprocessing.get_context("fork").Value("q", len(items))
    counter = multiprocessing.get_context("fork").Value("q", 0)

    def job() -> tuple:
        return _dfs_share(run, bound, items, _pull(counter, len(items)), share, deadline,
                          reduce, lowest_found)

    results = _fork_all([job] * workers)
    best = None
    for part, found_at in results:
        _add(stats, part)
        if found_at is not None and (best is None or found_at[0] < best[0]):
            best = found_at
    return best[1] if best is not None else None


def _pull(counter, n: int):
    """Item indices, each to the first worker that asks: increasing in every worker."""
    while True:
        with counter.get_lock():
            i = counter.value
            counter.value += 1
        if i >= n:
            return
        yield i


def _frontier(run: _Runner, bound: int, stats: Stats, max_states: int,
              deadline: float | None, reduce: bool, wanted: int) -> tuple[Found | None, list]:
    """Branches to share out, in depth-first order: starting from the initial state,
    the shallowest branch is followed to its next branching state and replaced by
    the branches from there, until there are ``wanted`` (or none: the parent then
    explored everything itself)."""
    visited: dict = {}
    items = [(run.root, [], 0, "", frozenset())]
    while items and len(items) < wanted:
        i = min(range(len(items)), key=lambda j: items[j][2] + bool(items[j][3]))
        pending = [items.pop(i)]
        found = _dfs(run, bound, stats, max_states, deadline, reduce, pending=pending,
                     visited=visited, split=True)
        if found is not None or stats.hit_state_limit:
            return found, []
        items[i:i] = reversed(pending)
    return None, items


def _dfs_share(run: _Runner, bound: int, items: list, mine, max_states: int,
               deadline: float | None, reduce: bool, lowest_found) -> tuple:
    """One worker's items, in increasing order, with one state cache: its stats, and
    the first bad run as (item index, Found)."""
    stats, visited = Stats(), {}
    for i in mine:
        if i > lowest_found.value:
            break  # an earlier item has a bad run: it is the one reported
        found = _dfs(run, bound, stats, max_states, deadline, reduce, pending=[items[i]],
                     visited=visited)
        if found is not None:
            with lowest_found.get_lock():
                lowest_found.value = min(lowest_found.value, i)
            return stats, (i, found)
        if stats.hit_state_limit:
            break
    stats.memo = run.memo_size()
    return stats, None


def _add(total: Stats, part: Stats) -> None:
    total.states += part.states
    total.schedules += part.schedules
    total.steps += part.steps
    total.pruned_by_bound += part.pruned_by_bound
    total.rebuilds += part.rebuilds
    total.hit_state_limit = total.hit_state_limit or part.hit_state_limit
