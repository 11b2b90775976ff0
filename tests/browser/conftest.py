"""Browser tests: the course in JupyterLab, driven by Playwright in Debian's Chromium.

Skipped, with one line saying why, where Playwright for Python or a Chromium
binary is missing (`.ci/run` installs Debian's ``chromium``; ``playwright
install`` is never used: it downloads a browser build of its own). A failing
test leaves a screenshot of the page under ``tmp/artifacts/`` (or
``$HVRACES_ARTIFACTS``).
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import labserver as lab_server
import pytest

ARTIFACTS = Path(os.environ.get("HVRACES_ARTIFACTS", lab_server.ROOT / "tmp" / "artifacts"))
# Chromium as root in a container: no sandbox, no GPU, and nothing that phones home
# (the network here is closed; its refused connections would only add noise).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1400, "height": 1000}


def chromium() -> str | None:
    """Debian's Chromium, or the one named by $HVRACES_CHROMIUM."""
    named = os.environ.get("HVRACES_CHROMIUM")
    if named:
        return named if os.access(named, os.X_OK) else None
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def why_not() -> str | None:
    """The reason the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright)"
    if chromium() is None:
        return "no Chromium binary (apt-get install chromium, or set HVRACES_CHROMIUM)"
    return None


def pytest_collection_modifyitems(config, items):
    reason = why_not()
    if reason is None:
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason=f"browser tests skipped: {reason}"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's report on the test item, for the screenshot fixture."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """One JupyterLab for the session, serving a copy of the course."""
    server = lab_server.start(tmp_path_factory.mktemp("jupyterlab"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Console:
    """What the page said on its console, and the exceptions it threw."""

    def __init__(self):
        self.messages: list[tuple[str, str]] = []

    def record(self, kind: str, text: str) -> None:
        self.messages.append((kind, text))

    def errors(self, allowed: tuple[str, ...] = (), since: int = 0) -> list[str]:
        """The errors from message ``since`` on, less those matching ``allowed``."""
        return [text for kind, text in self.messages[since:]
                if kind in ("error", "pageerror")
                and not any(re.search(pattern, text) for pattern in allowed)]


@pytest.fixture
def console():
    return Console()


@pytest.fixture
def page(request, browser, lab, console):
    """A fresh browser page (its own context); a screenshot is saved if the test fails;
    the kernels it started are shut down afterwards."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(120_000)  # a hang guard for a busy machine
    context.set_default_navigation_timeout(120_000)
    pg = context.new_page()
    pg.on("console", lambda m: console.record(m.type, m.text))
    pg.on("pageerror", lambda e: console.record("pageerror", str(e)))
    yield pg
    failed = any(getattr(request.node, f"rep_{when}", None) is not None
                 and getattr(request.node, f"rep_{when}").failed for when in ("setup", "call"))
    if failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::")[-1])
        try:
            pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            (ARTIFACTS / f"{name}.console.txt").write_text(
                "\n".join(f"{k}: {t}" for k, t in console.messages))
        except Exception as exc:  # the page may be what broke; the test's failure stands
            print(f"no screenshot: {exc}")
    context.close()
    lab.shutdown_kernels()
