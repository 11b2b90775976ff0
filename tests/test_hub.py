"""The workshop hub (make hub): its settings, one student's visit, nbgrader's exchange.

The room-sized load test is a benchmark (bench/bench_hub.py), not a test.
"""
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hub"))

loadclient = pytest.importorskip("loadclient", reason="hub/ is missing")
workshop_hub = pytest.importorskip("workshop_hub", reason="JupyterHub is not installed")


def settings(tmp_path, **env):
    return workshop_hub.Settings.from_env({"HUB_DIR": str(tmp_path), **env})


def test_settings_refuse_a_weak_password_and_instructors_without_theirs(tmp_path):
    with pytest.raises(SystemExit, match="at least 8"):
        settings(tmp_path, WORKSHOP_PASSWORD="short")
    with pytest.raises(SystemExit, match="needs WORKSHOP_ADMIN_PASSWORD"):
        settings(tmp_path, WORKSHOP_PASSWORD="long enough", WORKSHOP_INSTRUCTORS="ada")
    s = settings(tmp_path, WORKSHOP_INSTRUCTORS="ada, bo", WORKSHOP_ADMIN_PASSWORD="x" * 32,
                 WORKSHOP_PASSWORD="long enough")
    assert s.instructors == ("ada", "bo") and s.ip == "127.0.0.1"


def test_a_generated_password_is_kept_for_the_next_start(tmp_path):
    first = settings(tmp_path).password
    assert len(first) >= 8 and settings(tmp_path).password == first
    assert (tmp_path / "password").stat().st_mode & 0o077 == 0


@pytest.fixture
def hub(tmp_path):
    reason = loadclient.missing()
    if reason:
        pytest.skip(f"hub test skipped: {reason}")
    h = loadclient.start_hub(tmp_path / "hub", extra_env={"HUB_MEM_LIMIT": "3G"})
    yield h
    h.stop()


def test_a_student_logs_in_and_runs_a_cell_within_the_limits(hub):
    """The shared password lets a student in (a wrong one does not); the server starts
    with a copy of the course; a cell runs the simulator; the limits hold in the kernel."""
    intruder = loadclient.Student(replace_password(hub, "not the password"), "mallory")
    with pytest.raises(loadclient.StudentError, match="login refused"):
        intruder.log_in()
    ada = loadclient.Student(hub, "ada", timeout=300)
    ada.log_in()
    ada.start_server()
    home = hub.state / "homes" / "ada"
    assert (home / "course" / "Index.ipynb").is_file()
    assert "'ada'" in (home / ".jupyter" / "nbgrader_config.py").read_text()
    kernel = ada.kernel("course")
    try:
        out = kernel.execute(
            "import os, resource\n"
            "from simulator import scenarios\n"
            "from simulator.grading import student_id\n"
            "print(sorted(s.name for s in scenarios.all_scenarios())[0], student_id())\n"
            "print(resource.getrlimit(resource.RLIMIT_AS)[0], os.nice(0), os.getcwd())")
    finally:
        kernel.close()
    assert [o["output_type"] for o in out] == ["stream"], out
    first, limits = out[0]["text"].strip().splitlines()
    scenario, who = first.split()
    assert scenario  # the simulator imports and lists its scenarios
    assert who == "ada"  # her own Part A questions, whatever Unix user the hub runs as
    mem, nice, cwd = limits.split()
    assert int(mem) == 3 << 30
    assert int(nice) == min(19, os.nice(0) + 10)  # ten below the hub, which runs as we do
    assert cwd == str(hub.state / "homes" / "ada" / "course")
    assert resource.getrlimit(resource.RLIMIT_AS)[0] != 3 << 30  # the hub itself is not limited


def replace_password(hub, password):
    return loadclient.Hub(hub.url, password, hub.state, hub.proc, hub.log)


def nbgrader(cwd: Path, env: dict, *args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_the_exchange_takes_a_release_a_submission_and_a_collect(tmp_path):
    """With the hub's nbgrader settings: the instructor releases chapter 1's exercise,
    a student fetches and submits it, the instructor collects it."""
    s = settings(tmp_path / "hub", WORKSHOP_PASSWORD="long enough")
    workshop_hub.prepare(s)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
    base["JUPYTER_CONFIG_PATH"] = str(s.jupyter_config)
    base["PATH"] = f"{Path(sys.executable).parent}:{base.get('PATH', '/usr/bin:/bin')}"
    teacher = tmp_path / "grading"
    # the student version is enough to travel through the exchange (and is in every copy)
    shutil.copytree(ROOT / "exercises", teacher / "source" / "ch01",
                    ignore=shutil.ignore_patterns("02-*"))
    env_t = {**base, "HOME": str(tmp_path)}
    nbgrader(teacher, env_t, "generate_assignment", "ch01", "--force")
    nbgrader(teacher, env_t, "release_assignment", "ch01", "--force")
    home = tmp_path / "homes" / "ada"
    home.mkdir(parents=True)
    workshop_hub.student_config(home, "ada")  # what the hub's pre-spawn hook writes
    env_s = {**base, "HOME": str(home)}  # the same Unix user as the instructor
    nbgrader(home, env_s, "fetch_assignment", "ch01")
    assert (home / "ch01" / "01-Virtio-Barriers.ipynb").is_file()
    nbgrader(home, env_s, "submit", "ch01")
    nbgrader(teacher, env_t, "collect", "ch01")
    assert [p.name for p in (teacher / "submitted").iterdir()] == ["ada"]
    assert (teacher / "submitted" / "ada" / "ch01" / "01-Virtio-Barriers.ipynb").is_file()
    # her kernel (in the fetched assignment, as the hub starts it) seeds her Part A
    # question with the id her submission was filed under
    seen = subprocess.run([sys.executable, "-c", "from simulator.grading import student_id; "
                           "print(student_id())"], cwd=home / "ch01", capture_output=True,
                          text=True, timeout=120, env={**env_s, "JUPYTERHUB_USER": "ada"})
    assert seen.stdout.strip() == "ada", seen.stderr[-2000:]
