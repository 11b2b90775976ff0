"""The ways to set up agree: pip (pyproject.toml), conda and Binder (environment.yml,
postBuild), the hub's proxy (hub/package.json), and the Kubernetes values."""
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml  # comes with jupyterlab (jupyter_events)

ROOT = Path(__file__).resolve().parent.parent

BUILD_ONLY = {"python", "pip", "c-compiler"}
START_PAGE = "/lab/tree/course/Index.ipynb"
CONDA_NAMES = {"python-fastjsonschema": "fastjsonschema"}  # conda-forge name -> PyPI name


def _name(spec: str) -> str:
    name = re.split(r"[<>=!~\[ ]", spec.strip(), maxsplit=1)[0].lower()
    name = CONDA_NAMES.get(name, name)
    return re.sub(r"[-_.]+", "-", name)  # PEP 503: jupyterlab_rise == jupyterlab-rise


def project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def environment():
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def conda_and_pip(env) -> tuple[set, list]:
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - BUILD_ONLY
    pip_part = [d for d in env["dependencies"] if isinstance(d, dict)][0]["pip"]
    return conda, pip_part


def test_environment_yml_and_pyproject_list_the_same_dependencies():
    """Runtime and `dev` dependencies, from conda-forge or (where listed) from PyPI."""
    proj = project()
    wanted = {_name(d) for d in proj["dependencies"]}
    wanted |= {_name(d) for d in proj["optional-dependencies"]["dev"]}
    conda, pip_part = conda_and_pip(environment())
    from_pypi = {_name(d) for d in pip_part if not d.startswith("-")}
    assert conda | from_pypi == wanted and not conda & from_pypi
    assert "-e ." in pip_part  # the project itself


def _constraint(spec: str) -> str:
    """The version part of a requirement, spaces and any comment dropped."""
    spec = spec.split("#", 1)[0]
    return re.sub(r"\s+", "", spec[len(re.split(r"[<>=!~\[ ]", spec.strip(), maxsplit=1)[0]):])


def test_environment_yml_and_pyproject_ask_for_the_same_versions():
    """The same constraint on every dependency, so that conda and Binder get the widget
    pins the slideshow needs (pyproject.toml says why) and pip users do too."""
    proj = project()
    wanted = {_name(d): _constraint(d)
              for d in proj["dependencies"] + proj["optional-dependencies"]["dev"]}
    conda, pip_part = conda_and_pip(environment())
    listed = [d for d in environment()["dependencies"] if isinstance(d, str)] + \
        [d for d in pip_part if not d.startswith("-")]
    got = {_name(d): _constraint(d) for d in listed if _name(d) not in BUILD_ONLY}
    assert got == wanted
    assert wanted["ipywidgets"].startswith("==") and wanted["jupyterlab-widgets"].startswith("==")


def test_the_hub_extra_stays_out_of_binder():
    """Binder runs its own JupyterHub; a second one in the image could mismatch it."""
    hub = {_name(d) for d in project()["optional-dependencies"]["hub"]}
    conda, pip_part = conda_and_pip(environment())
    in_binder = conda | {_name(d) for d in pip_part}
    assert "jupyterhub" in hub and not (hub - {"psutil"}) & in_binder


def test_environment_yml_pins_python_311_from_conda_forge():
    env = environment()
    assert env["channels"] == ["conda-forge"]
    assert "python=3.11" in env["dependencies"]


def test_binder_reads_the_root_files():
    """repo2docker ignores the root's environment.yml and postBuild if a binder/ or
    .binder/ folder exists; there is none."""
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()
    post = ROOT / "postBuild"
    assert post.is_file() and os.access(post, os.X_OK)
    assert post.read_text().startswith("#!/usr/bin/env bash")


def test_postbuild_opens_the_course_on_its_contents_page(tmp_path):
    """Run as repo2docker runs it (NB_PYTHON_PREFIX set): it writes a server setting
    whose start page is a notebook that exists."""
    env = {**os.environ, "NB_PYTHON_PREFIX": str(tmp_path)}
    proc = subprocess.run(["bash", str(ROOT / "postBuild")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    config = json.loads((tmp_path / "etc" / "jupyter" / "jupyter_server_config.d"
                         / "hypervisor-races.json").read_text())
    url = config["ServerApp"]["default_url"]
    assert url == START_PAGE and (ROOT / url.removeprefix("/lab/tree/")).is_file()


def test_make_lab_and_the_readme_open_the_same_page():
    assert f"--LabApp.default_url={START_PAGE}" in (ROOT / "Makefile").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "urlpath=" + START_PAGE.lstrip("/").replace("/", "%2F") in readme


def test_the_hub_proxy_is_pinned_in_its_lock_file():
    package = json.loads((ROOT / "hub" / "package.json").read_text())
    lock = json.loads((ROOT / "hub" / "package-lock.json").read_text())
    assert set(package["dependencies"]) == {"configurable-http-proxy"}
    assert "node_modules/configurable-http-proxy" in lock["packages"]


def test_the_kubernetes_values_agree_with_the_one_machine_hub():
    """Same start page, same authenticator, same course id, an exchange for nbgrader,
    memory and CPU limits set. (The chart itself cannot be run here.)"""
    sys.path.insert(0, str(ROOT / "hub"))
    workshop_hub = pytest.importorskip("workshop_hub", reason="JupyterHub is not installed")
    values = yaml.safe_load((ROOT / "hub" / "helm" / "config.yaml").read_text())
    single = values["singleuser"]
    assert single["defaultUrl"] == workshop_hub.DEFAULT_URL == START_PAGE
    assert values["hub"]["config"]["JupyterHub"]["authenticator_class"] == "shared-password"
    nbgrader = single["extraFiles"]["nbgrader-config"]
    assert f'course_id = "{workshop_hub.COURSE_ID}"' in nbgrader["stringData"]
    exchange = re.search(r'Exchange.root = "([^"]+)"', nbgrader["stringData"]).group(1)
    assert exchange in [m["mountPath"] for m in single["storage"]["extraVolumeMounts"]]
    assert single["memory"]["limit"] and single["cpu"]["limit"]
    assert "SharedPasswordAuthenticator" not in values["hub"]["config"]  # from --set only
