"""The memo explorer against the re-executing one, its oracle.

``explore(..., engine="memo")`` (the default) restores snapshots and steps
detached threads by a memo; ``engine="replay"`` re-runs every branch from the
initial state. They walk the same search in the same order, so on every
scenario variant they must agree on the verdict and on every count: states,
schedules, the bound reached, the counterexample step for step. Large spaces
are compared under a state cap (the two must stop at the same state); the
full spaces are compared in the slow tests.
"""
from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import scenarios
from simulator.engine import ops
from simulator.engine.explore import explore
from simulator.engine.machine import Machine

CAP = 15_000  # states: keeps the oracle's share of `make test` to seconds


def _factory(name, variant, params):
    sc = scenarios.get(name)
    resolved = sc.resolve(params)
    return lambda: sc.machine(variant, resolved)


def _summary(result):
    found = result.found
    return (result.label, result.bound, result.exhausted, result.stats.states,
            result.stats.schedules, result.stats.pruned_by_bound, result.stats.hit_state_limit,
            found and (found.schedule, found.verdict, found.preemptions))


def _both(factory, **kw):
    old = explore(factory, engine="replay", minimise_found=False, **kw)
    new = explore(factory, minimise_found=False, **kw)
    assert new.engine == "memo" and old.engine == "replay"
    return old, new


VIRTIO = [("virtio-barriers", variant, {"mode": mode, "requests": n})
          for variant in ("buggy", "fixed") for mode in ("flags", "event_idx") for n in (1, 2)]
PIR = [("pir-wakeup", variant, {"timer_cpu": cpu})
       for variant in ("buggy", "fixed", "pending-prio") for cpu in (0, 1, 2)]


@pytest.mark.parametrize("name, variant, params", VIRTIO + PIR)
def test_the_memo_explorer_gives_the_oracles_verdict_and_counts(name, variant, params):
    """Same label, bound, states, schedules and counterexample as re-execution
    (searches larger than the cap stop at the same state in both)."""
    old, new = _both(_factory(name, variant, params), max_states=CAP)
    assert _summary(new) == _summary(old)


@pytest.mark.slow
@pytest.mark.parametrize("name, variant, params", VIRTIO + [
    ("pir-wakeup", v, {}) for v in ("fixed", "pending-prio")] + [
    ("pir-wakeup", v, {"timer_cpu": 1}) for v in ("fixed", "pending-prio")] + [
    ("virtio-barriers", "fixed", {"mode": mode, "requests": 3}) for mode in ("flags",)])
def test_the_memo_explorer_matches_the_oracle_on_whole_spaces(name, variant, params):
    old, new = _both(_factory(name, variant, params), max_states=2_000_000)
    assert _summary(new) == _summary(old)
    assert new.exhausted or new.found is not None


@pytest.mark.parametrize("strategy", ["random", "pct"])
@pytest.mark.parametrize("name, variant", [("virtio-barriers", "buggy"),
                                           ("virtio-barriers", "fixed"),
                                           ("pir-wakeup", "buggy"), ("pir-wakeup", "fixed")])
def test_random_and_pct_walks_are_the_same_runs(strategy, name, variant):
    """Walks restore the initial state instead of building a machine: the same
    seeds give the same runs, verdict counts, end states and first bad run."""
    old, new = _both(_factory(name, variant, {}), strategy=strategy, runs=300, seed=5,
                     stop_at_first=False)
    assert (new.verdicts, new.stats.states, new.stats.schedules) == \
        (old.verdicts, old.stats.states, old.stats.schedules)
    assert _summary(new) == _summary(old)


def test_a_detached_thread_revived_for_the_verdict_sees_its_own_model_state():
    """The property reads a Python object the thread writes; end states reached
    by restored (detached) threads must still be judged on the real value."""
    def factory():
        seen = {}  # each thread writes its own entry

        def cpu(me, other):
            yield ops.store(me, 1, me)
            seen[me] = yield ops.load(other, me)

        def property_(m):  # store buffering cannot happen under SC
            return (seen != {"a": 0, "b": 0}, f"seen {seen}")

        m = Machine({"a": 0, "b": 0}, cpus=2, memory_model="sc", check_property=property_)
        m.add_thread("a", 0, cpu("a", "b"))
        m.add_thread("b", 1, cpu("b", "a"))
        return m

    old, new = _both(factory, por=False)
    assert old.label == new.label == "verified"
    assert new.stats.states == old.stats.states and new.stats.rebuilds > 0


def _finished(m) -> bool:
    return not m.enabled() and all(t.op is None or t.daemon for t in m.threads)


@pytest.mark.parametrize("name", scenarios.names())
def test_a_machine_only_property_agrees_with_the_property_on_every_finished_run(name):
    """``Machine.property_holds`` judges a finished run without the model objects, so
    the explorer need not revive them: on every variant's finished random runs it
    must say what the property itself says."""
    sc = scenarios.get(name)
    resolved = sc.resolve({})
    finished = 0
    for variant in sc.variants:
        for seed in range(60):
            m, rng = sc.machine(variant, resolved), random.Random(seed)
            while acts := m.enabled():
                m.step(rng.choice(acts))
            if m.property_holds is None:
                break  # this scenario has none: the explorer revives to judge
            if m.failure is None and _finished(m):
                finished += 1
                assert m.property_holds(m) == m.check_property(m)[0], (variant, seed)
    if sc.machine(next(iter(sc.variants)), resolved).property_holds is not None:
        assert finished > 0


def test_the_explorer_judges_finished_runs_without_reviving_when_it_can(monkeypatch):
    """pir-wakeup's property holds exactly when vCPU0 finished: its end states are
    judged from the machine, so the only revivals left are memo misses."""
    from simulator.engine import explore as explore_module

    sc = scenarios.get("pir-wakeup")
    resolved = sc.resolve({})
    for_verdicts = []
    original = explore_module._Runner.revive

    def counting(self, miss=None):
        if miss is None:
            for_verdicts.append(1)
        return original(self, miss)

    monkeypatch.setattr(explore_module._Runner, "revive", counting)
    r = explore(lambda: sc.machine("pending-prio", resolved), minimise_found=False)
    assert r.label == "verified" and r.stats.rebuilds > 0 and not for_verdicts


def test_a_thread_whose_ops_are_not_a_function_of_its_results_falls_back_to_replay():
    """A thread that reads state from outside its own results (here: how many
    machines were built) asks for another op after the same results when the
    explorer brings it back to life; the memo notices, and the search re-executes
    every branch instead. (The check catches what it sees, not every breach of
    the one-writer rule: models must keep that rule, as the state key assumes.)"""
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

    result = explore(factory, minimise_found=False)
    assert result.engine == "replay" and "another thread writes" in result.note
    assert result.label == "verified"


# ------------------------------------------------- random small machines
CELLS = ("x", "y", "z")


@st.composite
def programs(draw):
    """2-3 threads on 1-3 CPUs, each a few ops over three cells, one mutex and one
    condition variable; some ops depend on what the thread loaded before."""
    cpus = draw(st.integers(1, 3))
    nthreads = draw(st.integers(2, 3))
    threads = []
    for _ in range(nthreads):
        cpu = draw(st.integers(0, cpus - 1))
        code = draw(st.lists(st.one_of(
            st.tuples(st.just("load"), st.sampled_from(CELLS)),
            st.tuples(st.just("store"), st.sampled_from(CELLS), st.integers(0, 2)),
            st.tuples(st.just("store_reg"), st.sampled_from(CELLS)),
            st.tuples(st.just("fence")),
            st.tuples(st.just("faa"), st.sampled_from(CELLS)),
            st.tuples(st.just("locked"), st.sampled_from(CELLS)),
            st.tuples(st.just("wait_for"), st.sampled_from(CELLS)),
            st.tuples(st.just("signal")),
            st.tuples(st.just("skip_if_zero")),
        ), min_size=1, max_size=4))
        threads.append((cpu, code))
    model = draw(st.sampled_from(["tso", "sc"]))
    bad = draw(st.tuples(st.sampled_from(CELLS), st.integers(0, 3)))
    return cpus, threads, model, bad


def _thread(code, regs, me):
    reg = 0
    skip = False
    for ins in code:
        if skip:
            skip = False
            continue
        kind = ins[0]
        if kind == "load":
            reg = yield ops.load(ins[1], me)
        elif kind == "store":
            yield ops.store(ins[1], ins[2], me)
        elif kind == "store_reg":
            yield ops.store(ins[1], reg + 1, me)
        elif kind == "fence":
            yield ops.fence(me)
        elif kind == "faa":
            reg = yield ops.fetch_add(ins[1], 1, me)
        elif kind == "locked":  # a critical section: read-modify-write under the mutex
            yield ops.lock("m", me)
            reg = yield ops.load(ins[1], me)
            yield ops.store(ins[1], reg + 1, me)
            yield ops.unlock("m", me)
        elif kind == "wait_for":  # sleep on the cv until the cell is non-zero
            yield ops.lock("m", me)
            while not (yield ops.load(ins[1], me)):
                yield ops.cv_wait("cv", "m", me)
            yield ops.unlock("m", me)
        elif kind == "signal":
            yield ops.cv_broadcast("cv", me)
        elif kind == "skip_if_zero":
            skip = reg == 0
        regs[me] = reg


def _machine_factory(spec, ends):
    cpus, threads, model, (bad_cell, bad_value) = spec

    def factory():
        regs = {}

        def property_(m):
            cells = tuple(sorted(m.memory.cells.items()))
            ends.add((cells, tuple(sorted(regs.items())),
                      tuple(t.op is None for t in m.threads)))
            held = m.memory.cells[bad_cell] != bad_value
            return held, "" if held else f"{bad_cell} == {bad_value}"

        m = Machine(dict.fromkeys(CELLS, 0), cpus=cpus, memory_model=model,
                    check_property=property_, step_budget=200)
        for i, (cpu, code) in enumerate(threads):
            m.add_thread(f"t{i}", cpu, _thread(code, regs, f"t{i}"))
        return m

    return factory


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.booleans())
def test_random_machines_reach_the_same_verdicts_and_end_states(spec, por):
    """For small random machines (locks, a condition variable, TSO or SC, one to
    three threads per CPU), both explorers give the same verdict, counts and
    counterexample, and the property sees the same set of end states."""
    old_ends, new_ends = set(), set()
    old = explore(_machine_factory(spec, old_ends), engine="replay", minimise_found=False,
                  por=por)
    new = explore(_machine_factory(spec, new_ends), minimise_found=False, por=por)
    assert new.engine == "memo"
    assert _summary(new) == _summary(old)
    assert new_ends == old_ends
