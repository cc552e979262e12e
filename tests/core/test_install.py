"""Installs are reproducible: the README's commands and CI install the versions the tests passed with."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt pins exact versions, not {line!r}"
            out[name.lower().replace("_", "-")] = version
    return out


def test_every_dependency_is_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    names = {re.split(r"[<>=!~\\[ ]", d)[0].lower().replace("_", "-") for d in wanted}
    assert names <= set(pins()), names - set(pins())


def test_readme_and_ci_install_with_the_constraints():
    readme = (ROOT / "README.md").read_text()
    first_two = [line.strip() for line in readme.splitlines() if "pip install" in line][:2]
    assert len(first_two) == 2 and all("-c constraints.txt" in line for line in first_two)
    ci = [
        line for line in (ROOT / ".ci/run").read_text().splitlines() if "pip install" in line and "-e" in line
    ]
    assert ci and all("-c constraints.txt" in line for line in ci)
