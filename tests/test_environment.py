"""The three descriptions of the course environment agree: pyproject.toml (loose ranges),
requirements.txt (exact pins) and environment.yml (Binder and conda)."""

import re
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def split_requirement(line: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$", line)
    assert match, f"unreadable requirement {line!r}"
    return canonical(match.group(1)), match.group(2).strip()


def pinned_requirements() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, spec = split_requirement(line)
            assert spec.startswith("=="), f"requirements.txt must pin exactly, got {line!r}"
            pins[name] = spec[2:]
    return pins


def environment_pip_section() -> list[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    section = []
    for line in lines[start + 1 :]:
        if not line.startswith(" " * 6):
            break
        section.append(line.strip()[2:].strip())
    return section


def pyproject_dependencies() -> tuple[dict[str, str], dict[str, str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = dict(split_requirement(r) for r in project["dependencies"])
    course = dict(split_requirement(r) for r in project["optional-dependencies"]["course"])
    return runtime, course


def test_requirements_pin_exactly_the_pyproject_packages():
    runtime, course = pyproject_dependencies()
    assert set(pinned_requirements()) == set(runtime) | set(course)


def test_pins_satisfy_the_pyproject_ranges():
    packaging = pytest.importorskip("packaging.specifiers")
    runtime, course = pyproject_dependencies()
    for name, pin in pinned_requirements().items():
        spec = packaging.SpecifierSet({**runtime, **course}[name])
        assert spec.contains(pin), f"{name}=={pin} is outside pyproject's range {spec}"


def test_environment_yml_installs_the_same_pins_the_cpu_torch_and_the_library():
    section = environment_pip_section()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in section
    assert "-e ." in section
    pins = dict(
        (name, spec[2:]) for name, spec in (split_requirement(x) for x in section if not x.startswith("-"))
    )
    assert pins == pinned_requirements()


def test_torch_pin_is_the_one_with_a_local_cpu_build():
    assert pinned_requirements()["torch"] == "2.13.0"


def test_binder_reads_the_root_environment_file():
    # repo2docker uses binder/ or .binder/ when present and then ignores the root files
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()
    postbuild = ROOT / "postBuild"
    if postbuild.exists():  # it runs from the repository root; stop at the first failing line
        assert "set -euo pipefail" in postbuild.read_text().splitlines()[:2]


def test_environment_python_satisfies_requires_python():
    packaging = pytest.importorskip("packaging.specifiers")
    match = re.search(r"^\s*-\s*python\s*=\s*([0-9.]+)\s*$", (ROOT / "environment.yml").read_text(), re.M)
    assert match, "environment.yml must pin python, e.g. '- python=3.11'"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert packaging.SpecifierSet(requires).contains(match.group(1) + ".0")


def test_readme_has_a_binder_badge_for_the_configured_repository():
    repo = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["transformer-course"]["repository"]
    readme = (ROOT / "README.md").read_text()
    assert f"https://mybinder.org/v2/gh/{repo}/" in readme
    assert "https://mybinder.org/badge_logo.svg" in readme
