"""Every course notebook opens with its Colab and Binder badges and the Colab setup cell, written by
tools/notebook_header.py from the one repository name in pyproject.toml; the setup cell is plain
Python that installs the library inside Colab and does nothing anywhere else."""

import ast
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import notebook_header  # noqa: E402

NOTEBOOKS = sorted(p for folder in notebook_header.FOLDERS for p in (ROOT / folder).glob("*.ipynb"))


def test_there_are_course_notebooks_to_check():
    assert any(p.parent.name == "notebooks" for p in NOTEBOOKS)


def test_header_tool_finds_nothing_out_of_date():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "notebook_header.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_opens_with_title_badges_and_setup_cell(path):
    repo, branch = notebook_header.settings()
    nb = nbformat.read(path, as_version=4)
    title, setup = nb.cells[0], nb.cells[1]
    assert title.cell_type == "markdown" and title.source.startswith("# ")
    colab = f"https://colab.research.google.com/github/{repo}/blob/{branch}/{path.parent.name}/{path.name}"
    binder = f"https://mybinder.org/v2/gh/{repo}/{branch}?urlpath=lab/tree/{path.parent.name}/{path.name}"
    assert f"]({colab})" in title.source
    assert f"]({binder})" in title.source
    assert setup.cell_type == "code" and "setup" in setup.metadata.get("tags", [])
    assert setup.source == notebook_header.setup_source(repo, branch)


def run_setup_cell(source: str, in_colab: bool) -> list[list[str]]:
    """Execute the setup cell with subprocess.run replaced by a recorder; return the commands run."""
    calls: list[list[str]] = []
    namespace = {"__name__": "__main__"}
    fake_modules = dict(sys.modules)
    if in_colab:
        fake_modules["google.colab"] = object()
    else:
        fake_modules.pop("google.colab", None)
    real_run, real_modules = subprocess.run, sys.modules
    subprocess.run = lambda cmd, **kwargs: calls.append(list(cmd))
    try:
        sys.modules = fake_modules
        exec(compile(source, "<setup cell>", "exec"), namespace)
    finally:
        sys.modules = real_modules
        subprocess.run = real_run
    return calls


def test_setup_cell_is_python_that_installs_only_inside_colab():
    repo, branch = notebook_header.settings()
    source = notebook_header.setup_source(repo, branch)
    ast.parse(source)  # plain Python: no %pip or !pip lines
    assert run_setup_cell(source, in_colab=False) == []
    (command,) = run_setup_cell(source, in_colab=True)
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    assert command[-1] == f"git+https://github.com/{repo}@{branch}"


def test_badges_follow_the_repository_named_in_pyproject():
    line = notebook_header.badge_line("someone/fork", "dev", "exercises", "03_masking.ipynb")
    assert "https://colab.research.google.com/github/someone/fork/blob/dev/exercises/03_masking.ipynb" in line
    assert "https://mybinder.org/v2/gh/someone/fork/dev?urlpath=lab/tree/exercises/03_masking.ipynb" in line
    assert "git+https://github.com/someone/fork@dev" in notebook_header.setup_source("someone/fork", "dev")
