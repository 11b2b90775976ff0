"""The pieces of the workshop hub that JupyterHub does not ship: where things live,
the students' Jupyter servers and their limits, nbgrader's exchange.

Everything is set through environment variables (see ``Settings``) so that
``make hub`` needs no editing: a host sets a password and an address and starts it.

Students' servers are local processes of the hub's own Unix user, each in a
home directory of its own under ``$HUB_DIR/homes`` with a private copy of the
course (made on first start, kept afterwards). That is isolation by convention,
not by the kernel: a student who tries can read another's files. It suits a
room of people who came to learn together; for strangers, use the Kubernetes
setup (``hub/helm/``), where each student gets a container.

Limits, per student process (the Jupyter server and each kernel), inherited
across fork and exec:

- memory: ``RLIMIT_AS`` = ``Spawner.mem_limit`` — an allocation past it fails
  (``MemoryError`` in the kernel) instead of pushing the machine into swap;
- CPU share: every student process runs at ``nice`` ``HUB_NICE`` (default 10),
  so the hub and the proxy stay responsive under load; CPU time is *not* capped
  (``Spawner.cpu_limit`` is not enforced by this spawner);
- open files: ``RLIMIT_NOFILE`` 4096.

cgroups (hard per-student totals) are deliberately not used: they need a
delegated cgroup tree (systemd or a container runtime) that a plain machine or
container does not give a process; where you have one, use ``systemdspawner``
or the Kubernetes setup, both of which enforce ``mem_limit`` and ``cpu_limit``.
"""
from __future__ import annotations

import os
import resource
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import Integer

REPO = Path(__file__).resolve().parent.parent
COURSE_DIRS = ("course", "exercises")
COURSE_ID = "hypervisor-races"
DEFAULT_URL = "/lab/tree/course/Index.ipynb"


@dataclass(frozen=True)
class Settings:
    """The hub's settings, from the environment."""

    state: Path  # HUB_DIR: database, secrets, homes, exchange (default .hub/)
    ip: str  # HUB_IP: 127.0.0.1 unless told otherwise (0.0.0.0 for a room)
    port: int  # HUB_PORT: where students connect (8000)
    api_port: int  # HUB_API_PORT: the hub's own API, on loopback (8081)
    proxy_api_port: int  # HUB_PROXY_API_PORT: the proxy's API, on loopback (8001)
    password: str  # WORKSHOP_PASSWORD: the students' shared password
    admin_password: str | None  # WORKSHOP_ADMIN_PASSWORD: instructors' password
    instructors: tuple[str, ...]  # WORKSHOP_INSTRUCTORS: comma-separated user names
    mem_limit: str  # HUB_MEM_LIMIT: per student process, e.g. 3G
    nice: int  # HUB_NICE
    ssl_cert: str | None = None  # HUB_SSL_CERT, HUB_SSL_KEY: serve HTTPS with these files
    ssl_key: str | None = None

    @classmethod
    def from_env(cls, env=os.environ) -> Settings:
        state = Path(env.get("HUB_DIR", REPO / ".hub")).resolve()
        state.mkdir(parents=True, exist_ok=True)
        password = env.get("WORKSHOP_PASSWORD") or remembered_password(state)
        if len(password) < 8:
            raise SystemExit("error: WORKSHOP_PASSWORD must be at least 8 characters")
        admin = env.get("WORKSHOP_ADMIN_PASSWORD") or None
        if admin is not None and len(admin) < 32:
            raise SystemExit("error: WORKSHOP_ADMIN_PASSWORD must be at least 32 characters")
        names = tuple(n.strip() for n in env.get("WORKSHOP_INSTRUCTORS", "").split(",")
                      if n.strip())
        if names and admin is None:
            raise SystemExit("error: WORKSHOP_INSTRUCTORS needs WORKSHOP_ADMIN_PASSWORD")
        return cls(state=state, ip=env.get("HUB_IP", "127.0.0.1"),
                   port=int(env.get("HUB_PORT", "8000")),
                   api_port=int(env.get("HUB_API_PORT", "8081")),
                   proxy_api_port=int(env.get("HUB_PROXY_API_PORT", "8001")), password=password,
                   admin_password=admin, instructors=names,
                   mem_limit=env.get("HUB_MEM_LIMIT", "3G"), nice=int(env.get("HUB_NICE", "10")),
                   ssl_cert=env.get("HUB_SSL_CERT"), ssl_key=env.get("HUB_SSL_KEY"))

    @property
    def homes(self) -> Path:
        return self.state / "homes"

    @property
    def exchange(self) -> Path:
        return self.state / "exchange"

    @property
    def jupyter_config(self) -> Path:
        """A Jupyter config directory every student server reads (nbgrader's settings)."""
        return self.state / "etc" / "jupyter"


def remembered_password(state: Path) -> str:
    """A generated workshop password, kept in ``state/password`` and shown at start."""
    path = state / "password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(9) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def nbgrader_config(settings: Settings) -> str:
    """nbgrader's settings for everyone on the hub: one course, one shared exchange."""
    return (f"c = get_config()  # noqa: F821\n"
            f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
            f"c.Exchange.root = {str(settings.exchange)!r}\n")


def prepare(settings: Settings) -> None:
    """Create the homes, the exchange (writable by every student, as nbgrader wants)
    and the shared nbgrader settings."""
    settings.homes.mkdir(parents=True, exist_ok=True)
    settings.exchange.mkdir(parents=True, exist_ok=True)
    settings.exchange.chmod(0o777)
    settings.jupyter_config.mkdir(parents=True, exist_ok=True)
    (settings.jupyter_config / "nbgrader_config.py").write_text(nbgrader_config(settings))


class WorkshopSpawner(SimpleLocalProcessSpawner):
    """A student's Jupyter server: a local process with its own home and copy of the
    course, limited as the module's docstring says."""

    nice = Integer(10, config=True, help="niceness of every student process")
    nofile = Integer(4096, config=True, help="RLIMIT_NOFILE of every student process")

    def make_preexec_fn(self, name):
        home, mem, nice, nofile = self.home_dir, self.mem_limit, self.nice, self.nofile

        def preexec():
            # Runs in the child between fork and exec: only plain system calls here.
            os.makedirs(home, 0o755, exist_ok=True)
            os.chdir(home)
            if mem:
                resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            os.nice(nice)

        return preexec


def student_config(home: Path, name: str) -> None:
    """The student's own nbgrader setting: who they are. Every student's server runs as
    the hub's Unix user, whose name nbgrader would otherwise give every submission.
    nbgrader files submissions under this id, and the exercises seed each student's
    Part A question from it (``simulator.grading.student_id`` reads the same file), so
    the question a student answers is the one autograde checks under their name."""
    config = home / ".jupyter" / "nbgrader_config.py"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f"c = get_config()  # noqa: F821\nc.CourseDirectory.student_id = {name!r}\n")


def copy_course(spawner) -> None:
    """Before each start: the student's own copy of the course and the exercises (made
    the first time, kept afterwards) and their nbgrader identity."""
    home = Path(spawner.home_dir)
    home.mkdir(parents=True, exist_ok=True)
    for name in COURSE_DIRS:
        if not (home / name).exists():
            shutil.copytree(REPO / name, home / name)
    student_config(home, spawner.user.name)


def configure(c, settings: Settings) -> None:
    """Fill in JupyterHub's config object ``c`` for a workshop."""
    prepare(settings)
    c.JupyterHub.ip = settings.ip
    c.JupyterHub.port = settings.port
    c.JupyterHub.hub_ip = "127.0.0.1"  # the hub's own API: loopback only
    c.JupyterHub.hub_port = settings.api_port
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.proxy_api_port}"
    c.JupyterHub.db_url = f"sqlite:///{settings.state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(settings.state / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(settings.state / "jupyterhub.pid")
    c.ConfigurableHTTPProxy.pid_file = str(settings.state / "proxy.pid")
    proxy = REPO / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
    c.ConfigurableHTTPProxy.command = [str(proxy)]

    if settings.ssl_cert and settings.ssl_key:
        c.JupyterHub.ssl_cert, c.JupyterHub.ssl_key = settings.ssl_cert, settings.ssl_key

    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = settings.password
    if settings.admin_password:
        c.SharedPasswordAuthenticator.admin_password = settings.admin_password
        c.Authenticator.admin_users = set(settings.instructors)
    c.Authenticator.allow_all = True

    c.JupyterHub.spawner_class = WorkshopSpawner
    c.WorkshopSpawner.home_dir_template = str(settings.homes / "{username}")
    c.WorkshopSpawner.nice = settings.nice
    c.Spawner.mem_limit = settings.mem_limit  # '3G': JupyterHub reads the unit
    c.Spawner.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
    c.Spawner.default_url = DEFAULT_URL
    c.Spawner.pre_spawn_hook = copy_course
    c.Spawner.http_timeout = 120  # a busy machine starting thirty servers at once
    c.Spawner.start_timeout = 180
    c.Spawner.environment = {
        "JUPYTER_CONFIG_PATH": str(settings.jupyter_config),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    if os.geteuid() == 0:
        # students' servers run as the hub's user; Jupyter wants to be told about root
        c.Spawner.args = ["--allow-root"]
    c.JupyterHub.concurrent_spawn_limit = 50
    c.JupyterHub.active_server_limit = 0
