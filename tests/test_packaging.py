"""The two ways to set up — pip (pyproject.toml) and conda/Binder (environment.yml) —
ask for the same dependencies."""
import re
import tomllib
from pathlib import Path

import yaml  # comes with jupyterlab (jupyter_events)

ROOT = Path(__file__).resolve().parent.parent

BUILD_ONLY = {"python", "pip", "c-compiler"}
CONDA_NAMES = {"python-fastjsonschema": "fastjsonschema"}  # conda-forge name -> PyPI name


def _name(spec: str) -> str:
    name = re.split(r"[<>=!~\[ ]", spec.strip(), maxsplit=1)[0].lower()
    return CONDA_NAMES.get(name, name)


def test_environment_yml_and_pyproject_list_the_same_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(d) for d in project["dependencies"]}
    wanted |= {_name(d) for d in project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - BUILD_ONLY
    assert conda == wanted
    pip_part = [d for d in env["dependencies"] if isinstance(d, dict)][0]["pip"]
    assert "-e ." in pip_part  # the project itself


def test_environment_yml_pins_python_311_from_conda_forge():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    assert "python=3.11" in env["dependencies"]
