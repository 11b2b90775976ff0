"""The compiled explorer: the same results as the Python it is compiled from, and
never a stale build.

``engine.compiled`` lets the Cython-built modules be used only while they
match their sources. Here: the guard's decision on real build artifacts (a
matching build, an edited source, a missing module, ``HVR_PURE``); that this
install uses what it built; and that the compiled engine and the same sources
run as Python (``HVR_PURE=1``, in a subprocess) give identical searches on
every scenario variant: verdicts, counts, counterexamples, walks.
"""
from __future__ import annotations

import importlib.machinery
import json
import os
import shutil
import subprocess
import sys

import pytest

from simulator import scenarios
from simulator.engine import compiled
from simulator.engine.explore import explore

HERE = os.path.dirname(os.path.abspath(__file__))
BUILT = all(compiled.extension(m) for m in compiled.MODULES) and os.path.exists(
    os.path.join(compiled.HERE, compiled.MANIFEST))
needs_build = pytest.mark.skipif(
    not BUILT or bool(os.environ.get(compiled.PURE_ENV)),
    reason="the explorer was not compiled here (no Cython or no C compiler at install "
    f"time), or {compiled.PURE_ENV} is set: the engine runs as Python, which every other "
    "test covers")


# ------------------------------------------------------------------ the guard
def _copy_engine(tmp_path) -> str:
    """The engine's sources, extensions and manifest, as built, in a directory of their own."""
    where = tmp_path / "engine"
    where.mkdir()
    for m in compiled.MODULES:
        for suffix in (".py", ".pxd"):
            src = os.path.join(compiled.HERE, m + suffix)
            if os.path.exists(src):
                shutil.copy(src, where)
        shutil.copy(compiled.extension(m), where)
    shutil.copy(os.path.join(compiled.HERE, compiled.MANIFEST), where)
    return str(where)


@needs_build
def test_a_build_that_matches_its_sources_is_used(tmp_path):
    assert compiled.decide(_copy_engine(tmp_path), environ={}) is None


@needs_build
@pytest.mark.parametrize("edited", ["machine.py", "explore.py", "snapshot.pxd"])
def test_a_source_edited_after_the_build_runs_as_python(tmp_path, edited):
    where = _copy_engine(tmp_path)
    with open(os.path.join(where, edited), "a") as f:
        f.write("\n# edited\n")
    why = compiled.decide(where, environ={})
    assert why is not None and "older than their sources" in why and "make compile" in why


@needs_build
def test_a_missing_module_or_manifest_means_python(tmp_path):
    where = _copy_engine(tmp_path)
    os.remove(os.path.join(where, compiled.MANIFEST))
    assert "older than" in compiled.decide(where, environ={})
    os.remove(compiled.extension("footprint", where))
    assert "footprint missing" in compiled.decide(where, environ={})


def test_an_installed_package_carries_what_the_digest_covers():
    """A wheel holds each module's .py and, by package data, its .pxd: without the
    .pxd an installed build could never match its digest, and would run as Python."""
    import tomllib

    with open(os.path.join(HERE, "..", "pyproject.toml"), "rb") as f:
        data = tomllib.load(f)["tool"]["setuptools"]["package-data"]
    assert "*.pxd" in data.get(compiled.PACKAGE, [])
    for m in compiled.MODULES:
        assert os.path.exists(os.path.join(compiled.HERE, m + ".pxd")), m


def test_nothing_built_or_pure_asked_for_means_python(tmp_path):
    assert "not compiled" in compiled.decide(str(tmp_path), environ={})
    assert compiled.decide(compiled.HERE, environ={compiled.PURE_ENV: "1"}) == (
        f"{compiled.PURE_ENV} is set")


def test_a_failed_build_writes_a_manifest_that_matches_nothing(tmp_path):
    """setup.py writes ``{"digest": null}`` when an engine module failed to compile."""
    (tmp_path / compiled.MANIFEST).write_text(json.dumps({"digest": None}))
    for m in compiled.MODULES:
        (tmp_path / (m + ".py")).write_text("")
        (tmp_path / (m + importlib.machinery.EXTENSION_SUFFIXES[0])).write_text("")
    assert compiled.decide(str(tmp_path), environ={}) is not None


@needs_build
def test_this_install_runs_the_compiled_modules():
    """Built and current, so used: a guard that always fell back would pass every
    other test and lose the speed in silence."""
    assert compiled.status() == "compiled"
    import simulator.engine.machine as machine

    assert not machine.__file__.endswith(".py")


def test_the_pure_switch_runs_every_module_from_its_source():
    code = ("from simulator.engine import compiled, explore, machine, memory, snapshot, "
            "footprint\nprint(compiled.status())\n"
            "print(all(m.__file__.endswith('.py') for m in (explore, machine, memory, "
            "snapshot, footprint)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, **{compiled.PURE_ENV: "1"}), check=True)
    assert out.stdout.split("\n")[:2] == [f"Python ({compiled.PURE_ENV} is set)", "True"]


def test_the_command_line_says_when_the_explorer_runs_as_python():
    out = subprocess.run([sys.executable, "-m", "simulator", "explore", "virtio-barriers",
                          "--variant", "fixed", "--param", "requests=1"], capture_output=True,
                         text=True, env=dict(os.environ, **{compiled.PURE_ENV: "1"}))
    assert out.returncode == 0, out.stderr
    assert f"# explorer: Python ({compiled.PURE_ENV} is set)" in out.stdout.splitlines()


# ----------------------------------------------------- compiled == Python
CAP = 2_000  # states per search: every variant, both ways, in a few seconds


def summaries() -> dict:
    """Every scenario variant searched three ways (dfs under a cap, 40 random and
    40 PCT runs), each as a comparable summary."""
    out = {}
    for sc in scenarios.all_scenarios():
        resolved = sc.resolve({})
        for variant in sc.variants:
            def factory(sc=sc, variant=variant, resolved=resolved):
                return sc.machine(variant, resolved)

            for strategy in ("dfs", "random", "pct"):
                r = explore(factory, strategy, max_states=CAP, runs=40, stop_at_first=False,
                            minimise_found=False)
                found = r.found
                out[f"{sc.name} {variant} {strategy}"] = [
                    r.label, r.bound, r.exhausted, r.stats.states, r.stats.schedules,
                    r.stats.steps, r.stats.rebuilds, r.stats.pruned_by_bound,
                    sorted(r.verdicts.items()),
                    found and [found.schedule, found.verdict.to_json(),
                               found.preemptions]]
    return out


@needs_build
def test_the_compiled_engine_and_its_python_source_search_alike():
    here = json.loads(json.dumps(summaries()))
    out = subprocess.run([sys.executable, os.path.join(HERE, "test_compiled.py")],
                         capture_output=True, text=True, check=True,
                         env=dict(os.environ, **{compiled.PURE_ENV: "1"}))
    pure = json.loads(out.stdout)
    assert len(here) >= 30  # five scenarios, their variants, three strategies
    assert here == pure


if __name__ == "__main__":  # the Python side of the comparison above
    assert compiled.status().startswith("Python"), compiled.status()
    print(json.dumps(summaries()))
