"""A workshop hub started for a test or a benchmark, and a simulated student using it.

``start_hub`` runs ``jupyterhub -f hub/jupyterhub_config.py`` on loopback ports of
its own with a state directory of its own. A ``Student`` does what a person in
the room does, over HTTP: log in with the shared password on the login form,
start a server, and run notebook cells through the kernel's websocket — the
same requests JupyterLab makes. Every wait is bounded (a hang guard that says
"timed out"); nothing here asserts a speed.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

HUB = Path(__file__).resolve().parent
CONFIG = HUB / "jupyterhub_config.py"
PROXY = HUB / "node_modules" / ".bin" / "configurable-http-proxy"
OUTPUTS = ("stream", "display_data", "execute_result", "error")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing() -> str | None:
    """Why a hub cannot start here, or None."""
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        return "JupyterHub is not installed (pip install -e '.[hub]')"
    if not PROXY.exists():
        return "configurable-http-proxy is not installed (npm ci --prefix hub)"
    return None


@dataclass
class Hub:
    """A running hub: its address, password, state directory and process."""

    url: str
    password: str
    state: Path
    proc: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # the hub stops the students' servers and the proxy
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


def start_hub(state: Path, *, password: str = "workshop-password", timeout: float = 120,
              extra_env: dict | None = None) -> Hub:
    """Start the workshop hub on free loopback ports; wait until it answers."""
    state.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
    env.update(HUB_DIR=str(state), HUB_IP="127.0.0.1", HUB_PORT=str(port),
               HUB_API_PORT=str(free_port()), HUB_PROXY_API_PORT=str(free_port()),
               WORKSHOP_PASSWORD=password, **(extra_env or {}))
    env.pop("MPLBACKEND", None)
    log = state / "hub.log"
    proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(CONFIG)],
                            cwd=state, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    hub = Hub(f"http://127.0.0.1:{port}", password, state, proc, log)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the hub exited at start: {log.read_text()[-3000:]}")
        try:
            if requests.get(f"{hub.url}/hub/api", timeout=10).status_code == 200:
                return hub
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            hub.stop()
            raise TimeoutError(f"the hub timed out starting ({timeout:.0f} s)")
        time.sleep(0.5)


class StudentError(Exception):
    """Something a student did failed (a refused login, a server that never started)."""


@dataclass
class Student:
    """One simulated student of the room."""

    hub: Hub
    name: str
    timeout: float = 600
    session: requests.Session = field(default_factory=requests.Session)
    token: str | None = None

    def _xsrf(self) -> dict:
        return {"X-XSRFToken": self.session.cookies.get("_xsrf", path="/hub/") or ""}

    def log_in(self) -> None:
        """The login form, as a browser fills it in."""
        self.session.get(f"{self.hub.url}/hub/login", timeout=60)
        r = self.session.post(f"{self.hub.url}/hub/login",
                              data={"username": self.name, "password": self.hub.password,
                                    "_xsrf": self.session.cookies.get("_xsrf", path="/hub/")},
                              allow_redirects=False, timeout=60)
        if r.status_code != 302:
            raise StudentError(f"{self.name}: login refused ({r.status_code})")

    def start_server(self) -> None:
        """Ask for a server, wait until it is ready, and get an API token."""
        api = f"{self.hub.url}/hub/api/users/{self.name}"
        r = self.session.post(f"{api}/server", headers=self._xsrf(), timeout=300)
        if r.status_code not in (201, 202, 400):  # 400: already running
            raise StudentError(f"{self.name}: server start refused ({r.status_code} {r.text})")
        deadline = time.monotonic() + self.timeout
        while not self.session.get(api, timeout=60).json().get("servers", {}).get(
                "", {}).get("ready"):
            if time.monotonic() > deadline:
                raise StudentError(f"{self.name}: server timed out starting")
            time.sleep(0.5)
        r = self.session.post(f"{api}/tokens", headers=self._xsrf(), timeout=60,
                              json={"note": "simulated student", "expires_in": 7200})
        r.raise_for_status()
        self.token = r.json()["token"]

    @property
    def server(self) -> str:
        return f"{self.hub.url}/user/{self.name}"

    def kernel(self, path: str = "course") -> Kernel:
        r = requests.post(f"{self.server}/api/kernels", timeout=120,
                          headers={"Authorization": f"token {self.token}"},
                          json={"name": "python3", "path": path})
        r.raise_for_status()
        return Kernel(self, r.json()["id"])


class Kernel:
    """A kernel of a student's server, driven over its websocket as JupyterLab does —
    reconnecting, as JupyterLab does, when the connection drops: the server keeps the
    messages of a session while it is away and replays them (``reconnects`` counts)."""

    RECONNECTS = 3

    def __init__(self, student: Student, kernel_id: str):
        self.student, self.id = student, kernel_id
        self.session = uuid.uuid4().hex
        self.reconnects = 0
        self.ws = self._connect()

    def _connect(self):
        import websocket

        ws_url = self.student.server.replace("http://", "ws://", 1)
        # the token goes in a header: JupyterHub's servers refuse tokens in URLs
        return websocket.create_connection(
            f"{ws_url}/api/kernels/{self.id}/channels?session_id={self.session}",
            header=[f"Authorization: token {self.student.token}"],
            timeout=self.student.timeout)

    def _reconnect(self, why: Exception) -> None:
        if self.reconnects >= self.RECONNECTS:
            raise StudentError(f"{self.student.name}: kernel connection lost "
                               f"{self.reconnects + 1} times ({why})")
        self.reconnects += 1
        time.sleep(1)
        self.ws = self._connect()

    def _recv(self) -> dict:
        import websocket

        while True:
            try:
                return json.loads(self.ws.recv())
            except (websocket.WebSocketConnectionClosedException, ConnectionError) as exc:
                self._reconnect(exc)

    def execute(self, code: str, on_output=None) -> list[dict]:
        """Run one cell; return its outputs (as nbformat would store them).
        ``on_output(msg)`` is called at each output message as it arrives."""
        import websocket

        msg_id = uuid.uuid4().hex
        request = json.dumps({
            "header": {"msg_id": msg_id, "username": self.student.name, "session": self.session,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        })
        try:
            self.ws.send(request)
        except (websocket.WebSocketConnectionClosedException, ConnectionError) as exc:
            self._reconnect(exc)
            self.ws.send(request)
        outputs, replied, idle = [], False, False
        deadline = time.monotonic() + self.student.timeout
        while not (replied and idle):
            if time.monotonic() > deadline:
                raise StudentError(f"{self.student.name}: a cell timed out")
            msg = self._recv()
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind in OUTPUTS:
                outputs.append({"output_type": kind, **msg["content"]})
                if on_output is not None:
                    on_output(msg)
            elif kind == "execute_reply":
                replied = True
                if msg["content"]["status"] != "ok":
                    outputs.append({"output_type": "error", **msg["content"]})
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
        return outputs

    def close(self) -> None:
        self.ws.close()
        requests.delete(f"{self.student.server}/api/kernels/{self.id}", timeout=60,
                        headers={"Authorization": f"token {self.student.token}"})
