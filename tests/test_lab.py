"""`make lab`: JupyterLab at the repository root, the contents page first, on loopback,
as root and as an ordinary user."""
import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534
START_TIMEOUT = 180  # seconds: a hang guard for a busy machine


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def installed() -> bool:
    """Is the virtual environment up to date (so that `make lab` only starts the lab)?"""
    return subprocess.run(["make", "-q", ".venv/.installed"], cwd=ROOT).returncode == 0


def get(url: str, token: str) -> int:
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status


def run_make_lab(tmp_path: Path, prefix: list[str] = ()) -> str:
    """Start `make lab` on a free port; check what it serves; stop it; return its log."""
    port, token = free_port(), secrets.token_hex(16)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    home.chmod(0o777)  # also for an ordinary user started from a root test run
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
    env.update(HOME=str(home), JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_RUNTIME_DIR=str(home / "rt"),
               IPYTHONDIR=str(home / "ipython"))
    args = ["make", "--no-print-directory", "lab", f"LAB_PORT={port}",
            f"LAB_ARGS=--no-browser --IdentityProvider.token={token} "
            f"--LabApp.workspaces_dir={home / 'ws'} --LabApp.user_settings_dir={home / 'us'}"]
    log = tmp_path / "lab.log"
    proc = subprocess.Popen([*prefix, *args], cwd=ROOT, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert proc.poll() is None, f"make lab exited: {log.read_text()[-2000:]}"
            try:
                get(f"{base}/api/status", token)
                break
            except OSError:
                assert time.monotonic() < deadline, "make lab timed out starting"
                time.sleep(0.5)
        for path in ("course/Index.ipynb", "exercises/01-Virtio-Barriers.ipynb"):
            assert get(f"{base}/api/contents/{path}?content=0", token) == 200
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # make and the lab it started
            proc.wait(timeout=60)
    text = log.read_text()
    assert f"http://127.0.0.1:{port}/lab/tree/course/Index.ipynb" in text
    return text


@pytest.fixture
def ready():
    if shutil.which("make") is None or not installed():
        pytest.skip("make lab needs an up-to-date .venv (run make setup)")


def test_make_lab_serves_the_repository_with_the_contents_page(tmp_path, ready):
    text = run_make_lab(tmp_path)
    assert f"Serving notebooks from local directory: {ROOT}" in text
    if os.geteuid() == 0:
        assert "--allow-root" in text  # make echoes the command it ran


def as_ordinary_user() -> list[str]:
    """The command prefix that runs a command as `nobody` (from a root test run)."""
    if shutil.which("setpriv") is None:
        pytest.skip("no setpriv to drop root")
    prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    if subprocess.run([*prefix, "test", "-r", str(ROOT / "Makefile")]).returncode:
        pytest.skip("the repository is not readable by an ordinary user here")
    return prefix


def test_make_lab_asks_for_root_only_as_root(ready):
    """--allow-root is passed as root, and not as an ordinary user (make's dry run)."""
    def dry_run(prefix=()):
        return subprocess.run([*prefix, "make", "-n", "lab"], cwd=ROOT, capture_output=True,
                              text=True, timeout=120).stdout

    assert ("--allow-root" in dry_run()) == (os.geteuid() == 0)
    if os.geteuid() == 0:
        assert "--allow-root" not in dry_run(as_ordinary_user())


def test_make_lab_runs_as_an_ordinary_user(tmp_path, ready):
    if os.geteuid() != 0:
        assert "--allow-root" not in run_make_lab(tmp_path)
        return
    prefix = as_ordinary_user()
    jupyter = ROOT / ".venv" / "bin" / "jupyter"
    if subprocess.run([*prefix, "sh", "-c", f"'{jupyter}' --version"],
                      capture_output=True).returncode:
        pytest.skip("this .venv's Python is not usable by another user here "
                    "(its interpreter lives in root's home); make lab's dry run is checked")
    tmp_path.chmod(0o777)
    assert "--allow-root" not in run_make_lab(tmp_path, prefix)
