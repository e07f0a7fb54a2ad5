"""The conda environment and pyproject.toml declare the same packages and pins."""

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def normalise(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement).lower()


def test_conda_env_matches_pyproject():
    with open(REPO / "pyproject.toml", "rb") as handle:
        project = tomllib.load(handle)["project"]
    declared = {normalise(r) for r in project["dependencies"]}
    declared |= {normalise(r) for r in project["optional-dependencies"]["test"]}
    with open(REPO / "envs" / "noisedim.yaml") as handle:
        environment = yaml.safe_load(handle)
    pip_section = next(item["pip"] for item in environment["dependencies"]
                       if isinstance(item, dict))
    listed = {normalise(r) for r in pip_section if not r.startswith("-e")}
    assert listed == declared
    assert "python=3.11" in environment["dependencies"]


def test_torch_pinned_exactly():
    with open(REPO / "pyproject.toml", "rb") as handle:
        dependencies = tomllib.load(handle)["project"]["dependencies"]
    assert "torch==2.14.1" in dependencies
    assert "torchvision==0.29.1" in dependencies


def test_ci_runs_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in readme
    assert ci.strip().splitlines()[-1] == "make test"
