"""Searches spread over processes (``workers=``) against the same search in one.

Random and PCT runs must be the very same runs: same verdict counts, end
states, steps and first bad run. A depth-first search must reach the same
verdict, bound and exhaustiveness with the counterexample's preemptions; its
state count may only grow (workers overlap). Small parameters keep these to
seconds; the speed is measured in bench/, never here.
"""
from __future__ import annotations

import sys
import types

import pytest

from simulator import runs, scenarios
from simulator.engine import ops, parallel
from simulator.engine.explore import explore
from simulator.engine.machine import Machine
from simulator.errors import UsageError
from simulator.search import search

SMALL = {"virtio-barriers": {"requests": 1}, "pir-wakeup": {}}


def _variants():
    return [(sc.name, v) for sc in scenarios.all_scenarios() for v in sc.variants]


def _factory(name, variant, params=None):
    sc = scenarios.get(name)
    resolved = sc.resolve(SMALL.get(name, {}) if params is None else params)
    return lambda: sc.machine(variant, resolved)  # a closure: it cannot be pickled


def _walk_summary(r):
    found = r.found and (r.found.schedule, r.found.verdict, r.found.preemptions)
    return (r.label, dict(r.verdicts), r.stats.states, r.stats.schedules, r.stats.steps, found)


@pytest.mark.parametrize("strategy", ["random", "pct"])
@pytest.mark.parametrize("stop_at_first", [True, False])
@pytest.mark.parametrize("name, variant", _variants())
def test_walks_are_the_same_runs_in_two_processes(name, variant, strategy, stop_at_first):
    factory = _factory(name, variant)
    one = explore(factory, strategy, runs=200, seed=7, stop_at_first=stop_at_first,
                  minimise_found=False)
    two = explore(factory, strategy, runs=200, seed=7, stop_at_first=stop_at_first,
                  minimise_found=False, workers=2)
    assert two.workers == 2 and one.workers == 1
    assert _walk_summary(two) == _walk_summary(one)


@pytest.mark.parametrize("name, variant", _variants())
def test_a_split_dfs_reaches_the_same_verdict(name, variant):
    factory = _factory(name, variant)
    one = explore(factory, minimise_found=False)
    two = explore(factory, minimise_found=False, workers=2)
    assert two.workers == 2
    assert (two.label, two.exhausted) == (one.label, one.exhausted)
    if one.found is None:
        # Declared exhausted at a bound where no branch was cut; a worker's cache lacks
        # states another visited with fewer preemptions, so that can come a bound later.
        assert two.bound >= one.bound
    else:
        assert two.bound == one.bound  # the fewest preemptions a bad run needs
        assert two.found.preemptions == one.found.preemptions == one.bound
        sc = scenarios.get(name)
        again = runs.replay(two.found.schedule, name, variant, sc.resolve(SMALL.get(name, {})))
        assert again.verdict.kind == two.label


def _torn_read():
    """The reader sees x without y only if CPU 0 switches away from the writer
    between its two stores (one preemption); two noisy CPUs beside it give the
    search enough branches to share out."""
    def writer():
        yield ops.store("x", 1, "writer")
        yield ops.store("y", 1, "writer")

    def reader():
        x = yield ops.load("x", "reader")
        y = yield ops.load("y", "reader")
        yield ops.check(not (x == 1 and y == 0), "saw x without y", "reader")

    def noise(me, cell):
        for i in range(4):
            v = yield ops.load(cell, me)
            yield ops.store(cell, v + i, me)

    m = Machine({"x": 0, "y": 0, "n1": 0, "n2": 0}, cpus=3, memory_model="sc")
    m.add_thread("writer", 0, writer())
    m.add_thread("reader", 0, reader())
    m.add_thread("noise1", 1, noise("noise1", "n1"))
    m.add_thread("noise2", 2, noise("noise2", "n2"))
    return m


def test_iterative_bounding_split_over_workers_finds_the_fewest_preemptions():
    """The split search raises the bound as one process does, and the
    counterexample it picks is the same on every run."""
    one = explore(_torn_read, minimise_found=False)
    twos = [explore(_torn_read, minimise_found=False, workers=2) for _ in range(3)]
    assert one.found is not None and one.bound == one.found.preemptions == 1
    for two in twos:
        assert (two.label, two.bound, two.found.preemptions) == ("violation", 1, 1)
        assert two.stats.schedules > 64  # really split, not found in the parent's part
    assert twos[0].found.schedule == twos[1].found.schedule == twos[2].found.schedule


def test_a_split_dfs_cut_short_by_its_budget_says_bounded():
    result = explore(_factory("pir-wakeup", "fixed"), max_states=5_000, workers=2)
    assert result.label == "bounded" and not result.exhausted
    assert result.stats.hit_state_limit


def test_a_factory_that_cannot_be_pickled_works_in_workers():
    """A class defined in a function (as in a notebook cell) is no problem: the
    workers are forked, not sent the factory."""
    class Bumps:  # local: pickle cannot find it by name
        def __call__(self):
            def bump(name):
                v = yield ops.load("count", name)
                yield ops.store("count", v + 1, name)

            m = Machine({"count": 0}, cpus=2, memory_model="sc",
                        check_property=lambda m: (m.memory.cells["count"] == 2, "lost update"))
            m.add_thread("a", 0, bump("a"))
            m.add_thread("b", 1, bump("b"))
            return m

    assert explore(Bumps(), workers=2).label == "violation"
    assert explore(Bumps(), "random", runs=50, workers=2).label == "violation"


def test_a_worker_that_sees_a_nondeterministic_thread_falls_back_to_one_replay():
    built = []

    def factory():
        built.append(1)
        n = len(built)

        def worker(me):
            v = yield ops.load("x", me)
            yield ops.store("x", v + n, me)

        m = Machine({"x": 0}, cpus=2, memory_model="sc")
        m.add_thread("a", 0, worker("a"))
        m.add_thread("b", 1, worker("b"))
        return m

    result = explore(factory, "random", runs=40, minimise_found=False, workers=2)
    assert result.engine == "replay" and "another thread writes" in result.note


def test_workers_stay_one_inside_a_jupyter_kernel(monkeypatch):
    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    import IPython
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    assert parallel.in_jupyter_kernel()
    n, why = parallel.resolve_workers(2)
    assert n == 1 and "Jupyter" in why
    result = explore(_factory("virtio-barriers", "fixed"), workers="auto")
    assert result.workers == 1 and "Jupyter" in result.note


def test_auto_means_the_cpus_this_process_may_use(monkeypatch):
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert parallel.resolve_workers("auto") == (3, "")
    assert parallel.resolve_workers(1) == (1, "")


@pytest.mark.parametrize("bad", [0, -2, "x", "1.5", 1.5, True])
def test_a_bad_number_of_workers_is_a_usage_error(bad):
    with pytest.raises(UsageError, match="--workers"):
        parallel.resolve_workers(bad)


def test_the_cli_takes_workers(run_cli):
    code, out, err = run_cli("explore", "virtio-barriers", "--variant", "fixed",
                             "--param", "requests=1", "--workers", "2")
    assert code == 0 and "verified" in out and "2 workers" in out
    code, out, err = run_cli("explore", "virtio-barriers", "--workers", "none")
    assert code == 2 and "--workers" in err and len(err.strip().splitlines()) == 1


def test_search_reports_its_workers():
    found = search("virtio-barriers", "buggy", {"requests": 1}, strategy="random", runs_=100,
                   workers=2, stop_at_first=False)
    assert found.to_json()["workers"] == 2 and "2 workers" in found.summary()
