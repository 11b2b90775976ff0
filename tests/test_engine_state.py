"""What is state, and that the explorer's snapshots and keys hold all of it.

The explorer restores snapshots instead of re-running paths and prunes states
by key, so a piece of machine state that ``engine.snapshot`` forgets makes it
silently unsound. ``machine.LAYOUT`` declares what every attribute is; these
tests hold the engine to it on every registered scenario and variant:

- every attribute of every engine object, after real runs, is declared;
- configuration never changes while a machine runs;
- changing any declared piece of state changes the key, and a restore undoes it;
- a snapshot restored on another machine of the same factory behaves as the
  machine that got there by plain execution: same key, same state, same
  enabled actions and the same verdict along the same continuation;
- states with the same key have the same state;
- a footprint is a function of what ``footprint.depends`` names, and an op the
  footprints do not know is dependent on everything.
"""
from __future__ import annotations

import inspect
import random
from collections import deque

import pytest

from simulator import litmus, scenarios
from simulator.engine import footprint as fp
from simulator.engine import machine as M
from simulator.engine import ops, outcome, snapshot
from simulator.engine.explore import _Runner
from simulator.engine.machine import Machine
from simulator.litmus import reach
from simulator.litmus.run import build as litmus_build

WALKS = 6  # random runs per scenario variant


def _variants():
    out = []
    for sc in scenarios.all_scenarios():
        for variant in sc.variants:
            out.append((sc.name, variant))
    return out


def _factory(name, variant):
    if name == "engine":  # the machines of this file, which use every kind of op
        return {"probe": probe_machine, "signal-race": signal_race}[variant]
    sc = scenarios.get(name)
    params = sc.resolve({})
    return lambda: sc.machine(variant, params)


def _machines():
    """Every registered scenario variant, and this file's machines."""
    return _variants() + [("engine", "probe"), ("engine", "signal-race")]


def probe_machine() -> Machine:
    """One of each kind of engine object, each holding something after ``PROBE_RUN``:
    a held mutex, a cv waiter, an rwlock with a reader and a waiting writer, an
    armed timer, a buffered store, a pending signal. A new kind of engine state
    belongs here too (the perturbation test insists that each is non-empty)."""
    def w():
        yield ops.lock("m", "w")
        yield ops.cv_wait("cv", "m", "w")
        yield ops.unlock("m", "w")

    def r():
        yield ops.rw_enter("rw", ops.READER, "r")
        yield ops.store("x", 1, "r")
        yield ops.sleep(5, "r", timer="t")
        yield ops.rw_exit("rw", "r")

    def v():
        yield ops.lock("m", "v")
        yield ops.rw_enter("rw", ops.WRITER, "v")
        yield ops.rw_exit("rw", "v")
        yield ops.cv_signal("cv", "v")
        yield ops.unlock("m", "v")

    def s():
        yield ops.send_signal("v", "s")

    m = Machine({"x": 0, "y": 0}, cpus=4, memory_model="tso")
    for name, cpu, prog in (("w", 0, w()), ("r", 1, r()), ("v", 2, v()), ("s", 3, s())):
        m.add_thread(name, cpu, prog)
    return m


PROBE_RUN = ["w", "w", "r", "r", "r", "v", "v", "s"]


def _litmus_machines():
    """Machines as the litmus search builds them (it attaches its registers)."""
    built = []
    test = litmus.load("SB")

    def build():
        m, regs = litmus_build(test, "tso")
        built.append(m)
        return m, regs

    reach.reach_all(build, lambda m, regs: 0, max_states=200)
    return built


def _random_runs(factory, seeds):
    """Machines taken to their end along seeded random schedules."""
    out = []
    for seed in seeds:
        m, rng = factory(), random.Random(seed)
        while acts := m.enabled():
            m.step(rng.choice(acts))
        out.append(m)
    return out


def _instance_attrs(obj) -> set[str]:
    """What an instance holds: its ``__dict__`` and its fields, the slots of a Python
    class or the C fields of the extension type the compiled engine makes of it
    (both are data descriptors on the class)."""
    names = set(vars(obj)) if hasattr(obj, "__dict__") else set()
    for cls in type(obj).__mro__:
        names |= {n for n, d in vars(cls).items()
                  if (inspect.isgetsetdescriptor(d) or inspect.ismemberdescriptor(d))
                  and not n.startswith("__") and _writable(obj, n)}
    return names


def _writable(obj, name: str) -> bool:
    """A field, not a read-only property (which compiled is a descriptor too):
    it takes its own value back."""
    if not hasattr(obj, name):
        return False
    try:
        setattr(obj, name, getattr(obj, name))
    except AttributeError:
        return False
    return True


def _engine_objects(v, where="machine"):
    """Every engine object reachable through state and parts, with where it sits."""
    layout = M.LAYOUT.get(type(v))
    if layout is not None:
        yield where, v
        for name, kind in layout.items():
            if kind in (M.STATE, M.PARTS, M.COUNT) and hasattr(v, name):
                yield from _engine_objects(getattr(v, name), f"{where}.{name}")
    elif isinstance(v, dict):
        for k, x in v.items():
            yield from _engine_objects(x, f"{where}[{k!r}]")
    elif isinstance(v, (list, tuple, deque)):
        for i, x in enumerate(v):
            yield from _engine_objects(x, f"{where}[{i}]")


def _all_machines():
    machines = []
    for name, variant in _machines():
        machines += _random_runs(_factory(name, variant), range(3))
    probe = probe_machine()
    probe.replay(PROBE_RUN)
    return machines + _litmus_machines() + [probe]


# ------------------------------------------------------------ the layout
def test_every_attribute_of_every_engine_object_is_declared():
    """After running every scenario variant (and a litmus test, and the probe),
    each attribute of the machine, its threads, memory and locks is declared in
    machine.LAYOUT, and every value held as state is plain data or an object
    with a layout (``snapshot.reference`` reads it all)."""
    undeclared, stale = set(), set()
    for m in _all_machines():
        snapshot.reference(m)  # raises for state the layout does not describe
        for where, obj in _engine_objects(m):
            layout = M.LAYOUT[type(obj)]
            have = _instance_attrs(obj)
            undeclared |= {f"{type(obj).__name__}.{a} (at {where})" for a in have - set(layout)}
            stale |= {f"{type(obj).__name__}.{a}" for a in set(layout) - have
                      if layout[a] != M.MODEL}
    assert not undeclared, ("declare these in machine.LAYOUT (state, count, config...), "
                            f"then snapshot them if they are state: {sorted(undeclared)}")
    assert not stale, f"machine.LAYOUT declares attributes nobody has: {sorted(stale)}"


def _shape(v):
    """Identity-level picture of a configuration value (what it is, not its contents)."""
    if isinstance(v, (int, str, float, bool, type(None))):
        return v
    if isinstance(v, dict):
        return ("dict", tuple((k, _shape(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return ("seq", tuple(_shape(x) for x in v))
    return ("object", id(v))


def _config(m):
    out = {}
    for where, obj in _engine_objects(m):
        for name, kind in M.LAYOUT[type(obj)].items():
            if kind in (M.CONFIG, M.OUTSIDE, M.MODEL, M.PARTS) and hasattr(obj, name):
                out[f"{where}.{name}"] = _shape(getattr(obj, name))
    return out


@pytest.mark.parametrize("name, variant", _machines())
def test_configuration_never_changes_while_a_machine_runs(name, variant):
    """What LAYOUT calls configuration (and parts, model objects, the timed and
    traced drivers' fields) is the same object, of the same shape, after any
    untimed run: a step that changes it changes state the snapshot ignores."""
    factory = _factory(name, variant)
    for seed in range(WALKS):
        m, rng = factory(), random.Random(seed)
        before = _config(m)
        while acts := m.enabled():
            m.step(rng.choice(acts))
        after = _config(m)
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        assert not changed, f"configuration changed by a step (it is state): {changed}"


# ------------------------------------------------------ perturbing state
def _perturbations(v):
    """Ways to change a value: each a new value unequal to ``v``."""
    if v is None:
        return ["probe"]
    if isinstance(v, bool):
        return [not v]
    if isinstance(v, int):
        return [v + 1]
    if isinstance(v, str):
        return [v + "~"]
    if isinstance(v, tuple):
        return [v + ("probe",)]
    if isinstance(v, deque):
        return [deque([*v, ("probe", 1)])]
    if isinstance(v, list):
        out = [[*v, "probe"]]
        for i, x in enumerate(v):
            out += [v[:i] + [y] + v[i + 1:] for y in _perturbations(x)]
        return out
    if isinstance(v, dict):
        out = [{**v, "probe": next(iter(v.values()), 1)}] if v else [{"probe": 1}]
        for k, x in v.items():
            out += [{**v, k: y} for y in _perturbations(x)]
        return out
    raise TypeError(f"no perturbation for {type(v).__name__}")


def _state_attributes(m):
    """(where, object, attribute, kind) for every state and count attribute that
    holds data; containers of engine objects are reached through their objects."""
    for where, obj in _engine_objects(m):
        for name, kind in M.LAYOUT[type(obj)].items():
            if kind not in (M.STATE, M.COUNT):
                continue
            value = getattr(obj, name)
            if isinstance(value, dict) and (not value or any(
                    type(x) in M.LAYOUT for x in value.values())):
                yield where, obj, name, "objects", value  # checked through its objects
            else:
                yield where, obj, name, kind, value


def test_changing_any_piece_of_state_changes_the_key_and_a_restore_undoes_it():
    m = probe_machine()
    m.replay(PROBE_RUN)
    k0, ref0 = snapshot.key(m), snapshot.reference(m)
    snap = snapshot.save(m, k0)
    checked = 0
    for where, obj, name, kind, value in _state_attributes(m):
        if kind == "objects":
            assert value, (f"{where}.{name} is empty in the probe machine: make "
                           "probe_machine() hold one, so its state is checked too")
            continue
        for new in _perturbations(value):
            setattr(obj, name, new)
            assert snapshot.reference(m) != ref0, f"{where}.{name}: not a change?"
            if kind == M.STATE:
                assert snapshot.key(m) != k0, (
                    f"{where}.{name} changed to {new!r} but snapshot.key did not: "
                    "two different states would be taken for one")
            snapshot.restore(m, snap)
            assert snapshot.reference(m) == ref0, (
                f"{where}.{name} changed to {new!r} and snapshot.restore did not undo it")
            assert snapshot.key(m) == k0
            checked += 1
    assert checked > 20


# ------------------------------------------ round trips on every scenario
def _walk_states(m, rng, limit=10_000):
    """Step ``m`` (live) at random to its end; the schedule and, before each step
    and at the end, (key, reference, enabled)."""
    schedule, states = [], []
    while True:
        acts = m.enabled()
        states.append((snapshot.key(m), snapshot.reference(m),
                       snapshot.reference(m, (M.STATE,)), acts))
        if not acts or len(schedule) >= limit:
            return schedule, states
        a = rng.choice(acts)
        m.step(a)
        schedule.append(a)


@pytest.mark.parametrize("name, variant", _machines())
def test_a_snapshot_restored_on_another_machine_behaves_as_plain_execution(name, variant):
    """Random schedules; a snapshot at a random point is restored on another
    machine of the same factory that stood elsewhere (its threads detached, to be
    revived from the memo as the explorer does); along the same continuation it
    must show the same key, state and enabled actions at every step, and the same
    verdict at the end as the machine that simply ran there."""
    run = _Runner(_factory(name, variant))
    by_key: dict[tuple, tuple] = {}
    for seed in range(WALKS):
        rng = random.Random(seed)
        live = run._build()  # shares the memo, as the explorer's machines do
        schedule, states = _walk_states(live, rng)
        truth = live.verdict()
        for k, _, state_only, _ in states:
            assert by_key.setdefault(k, state_only) == state_only, (
                "two states with different state share a key: snapshot.key misses something")
        cut = rng.randrange(len(schedule) + 1)
        there = run._build()
        there.replay(schedule[:cut])
        snap = snapshot.save(there, snapshot.key(there))
        m = run.restore(run.root)  # the runner's machine wanders off elsewhere first
        other = random.Random(seed + 1000)
        for _ in range(rng.randrange(1, 30)):
            acts = m.enabled()
            if not acts:
                break
            m = run.step(other.choice(acts))
        m = run.restore(snap)
        for i, action in enumerate(schedule[cut:] + [None]):
            k, ref, _, acts = states[cut + i]
            assert snapshot.key(m) == k, f"key differs {i} steps after the restore"
            assert snapshot.reference(m) == ref, f"state differs {i} steps after the restore"
            assert m.enabled() == acts
            if action is not None:
                m = run.step(action)
        judged = run.verdict(m, snapshot.key(m))
        if outcome.finished_ok(m) is not None:  # may be judged from the machine alone,
            assert judged.kind == truth.kind  # without the model's words for it
        else:
            assert judged == truth


# --------------------------------------------------------------- footprints
@pytest.mark.parametrize("name, variant", _machines())
def test_a_footprint_depends_only_on_what_depends_names(name, variant):
    """The explorer caches footprints under ``footprint.depends``: along random
    runs, equal ``depends`` must mean equal footprints, and the runner's cache
    must give what a fresh computation gives."""
    factory = _factory(name, variant)
    run = _Runner(factory)
    seen: dict[tuple, tuple] = {}
    for seed in range(WALKS):
        m, rng = factory(), random.Random(seed)
        while acts := m.enabled():
            prints = run.footprints(m, snapshot.key(m), acts)
            for a in acts:
                fresh = fp.footprint(m, a)
                assert prints[a] == fresh, f"cached footprint of {a} is stale"
                assert seen.setdefault(fp.depends(m, a), fresh) == fresh
            m.step(rng.choice(acts))


def test_an_op_the_footprints_do_not_know_depends_on_everything():
    m = probe_machine()
    m.by_name["s"].op = ("reap_process", "exit", "w", None, None)  # a kind added later
    assert m.by_name["s"].op[0] not in fp.KNOWN
    unknown = fp.footprint(m, "s")
    assert fp.EVERYTHING in unknown[1]
    note = (frozenset(), frozenset({("thread", "w")}))
    assert not fp.independent(unknown, note) and not fp.independent(note, unknown)
    assert fp.EVERYTHING in fp.footprint(m, "teleport")[1]  # an unknown kind of action


def test_every_op_kind_is_known_or_dependent_on_everything():
    m = probe_machine()
    t = m.by_name["w"]
    for kind in M._HANDLED:
        t.op = (kind, "f", "x", "m", None)
        reads, writes = fp.footprint(m, "w")
        assert kind in fp.KNOWN or fp.EVERYTHING in writes


def _commutes(run, snap, a, b):
    """Run a then b, and b then a, from ``snap``: both possible, and the same state?"""
    ends = []
    for first, second in ((a, b), (b, a)):
        run.restore(snap)
        m = run.step(first)
        if second not in m.enabled():
            return False
        m = run.step(second)
        ends.append(snapshot.key(m))
    return ends[0] == ends[1]


@pytest.mark.parametrize("name, variant", _machines())
def test_actions_the_footprints_call_independent_really_commute(name, variant):
    """Along random runs, every pair of enabled actions whose footprints are
    independent is run in both orders from a snapshot: each must stay enabled
    after the other and both orders must reach the same state. (A wrong footprint
    makes the sleep sets prune interleavings that lead elsewhere.)"""
    run = _Runner(_factory(name, variant))
    pairs = 0
    for seed in range(3):
        rng = random.Random(seed)
        m = run.restore(run.root)
        while acts := m.enabled():
            snap = snapshot.save(m, snapshot.key(m))
            prints = {a: fp.footprint(m, a) for a in acts}
            for i, a in enumerate(acts):
                for b in acts[i + 1:]:
                    if fp.independent(prints[a], prints[b]):
                        pairs += 1
                        assert _commutes(run, snap, a, b), (
                            f"{a} and {b} are called independent but do not commute")
            run.restore(snap)
            m = run.step(rng.choice(acts))
    assert pairs


def signal_race() -> Machine:
    """A waiter in cv_wait_sig; one CPU signals the thread, another the cv. Either
    the signal interrupts the wait (the cv_signal then wakes nobody) or the
    cv_signal wakes it first (the signal stays pending): the two do not commute."""
    def waiter():
        yield ops.lock("m", "waiter")
        yield ops.cv_wait_sig("cv", "m", "waiter")
        yield ops.unlock("m", "waiter")

    def killer():
        yield ops.send_signal("waiter", "killer")

    def waker():
        yield ops.cv_signal("cv", "waker")

    m = Machine({"x": 0}, cpus=3, memory_model="sc")
    m.add_thread("waiter", 0, waiter())
    m.add_thread("killer", 1, killer())
    m.add_thread("waker", 2, waker())
    return m
