"""A JupyterLab of its own for the browser tests: a copy of the course, loopback, a token.

The server runs on 127.0.0.1 on a free port, with its config, data, runtime,
settings and workspaces in a temporary directory, so it neither reads nor
writes the developer's own Jupyter files; and it serves a *copy* of course/,
exercises/ and solutions/, so running every cell never writes outputs into
the repository's notebooks.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COPIED = ("course", "exercises", "solutions")
START_TIMEOUT = 180  # seconds: a hang guard for a busy machine, not a speed claim

# What the tests need the notebook front end to do: keep every cell in the page
# (no virtual scrolling), so that outputs can be read from the DOM.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab: where it serves from, its address and its token."""

    root: Path
    port: int
    token: str
    proc: subprocess.Popen
    log: Path
    opened: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """The address of a file opened in JupyterLab (``course/Index.ipynb``), in a
        workspace of its own, so that no tab of an earlier test is restored beside it."""
        self.opened += 1
        return f"{self.base}/lab/workspaces/w{self.opened}/tree/{path}?token={self.token}"

    def api(self, path: str):
        req = urllib.request.Request(f"{self.base}/api/{path}",
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)

    def request(self, method: str, path: str) -> None:
        req = urllib.request.Request(f"{self.base}/api/{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        urllib.request.urlopen(req, timeout=60).close()

    def shutdown_kernels(self) -> None:
        """Shut down every kernel, so that one test's kernels do not weigh on the next."""
        for kernel in self.api("kernels"):
            self.request("DELETE", f"kernels/{kernel['id']}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


def start(tmp: Path) -> Lab:
    """Copy the course into ``tmp/root`` and start JupyterLab on it."""
    root = tmp / "root"
    for name in COPIED:
        if (ROOT / name).is_dir():  # a student copy has no solutions/
            shutil.copytree(ROOT / name, root / name)
    settings = tmp / "settings"
    for name, values in SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
    env.pop("MPLBACKEND", None)  # the kernel's own inline backend draws the figures
    env.update(JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_DATA_DIR=str(tmp / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), IPYTHONDIR=str(tmp / "ipython"))
    port, token = free_port(), secrets.token_hex(16)
    args = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
            "--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    log = tmp / "jupyterlab.log"
    proc = subprocess.Popen(args, cwd=root, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    lab = Lab(root, port, token, proc, log)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited at start: {log.read_text()[-2000:]}")
        try:
            lab.api("status")
            return lab
        except OSError:
            if time.monotonic() > deadline:
                lab.stop()
                raise TimeoutError(
                    f"JupyterLab timed out starting ({START_TIMEOUT} s)") from None
            time.sleep(0.5)
