"""Write the Colab and Binder badges and the Colab setup cell of every course notebook.

The repository is named once, in pyproject.toml under [tool.transformer-course]; this tool rewrites
every notebook's badge line and setup cell from it (a fork changes that one line and runs this).

    python tools/notebook_header.py            # rewrite notebooks/, solutions/ and exercises/
    python tools/notebook_header.py --check    # exit 1 if any notebook is out of date

A notebook's first cell is markdown: its title, then the badge line. Its second cell is the setup
cell (tagged "setup"): it installs the library inside Colab and does nothing anywhere else.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("notebooks", "solutions", "exercises")
BADGE_MARK = "colab-badge.svg"


def settings() -> tuple[str, str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["transformer-course"]
    return config["repository"], config["branch"]


def badge_line(repo: str, branch: str, folder: str, name: str) -> str:
    colab = f"https://colab.research.google.com/github/{repo}/blob/{branch}/{folder}/{name}"
    binder = f"https://mybinder.org/v2/gh/{repo}/{branch}?urlpath=lab/tree/{folder}/{name}"
    return (
        f"[![Open In Colab](https://colab.research.google.com/assets/{BADGE_MARK})]({colab}) "
        f"[![Launch Binder](https://mybinder.org/badge_logo.svg)]({binder})"
    )


def setup_source(repo: str, branch: str) -> str:
    return (
        "# Setup: inside Google Colab, install the course library; anywhere else this cell does nothing.\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    url = "git+https://github.com/{repo}@{branch}"\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", url], check=True)'
    )


def update(nb, repo: str, branch: str, folder: str, name: str) -> bool:
    """Rewrite the badge line and the setup cell in place; True if anything changed."""
    cells = nb.cells
    if not cells or cells[0].cell_type != "markdown":
        raise ValueError(f"{folder}/{name}: the first cell must be the markdown title cell")
    lines = cells[0].source.splitlines()
    badge = badge_line(repo, branch, folder, name)
    kept = [line for line in lines if BADGE_MARK not in line]
    title_end = 1 if kept and kept[0].startswith("#") else 0
    new_lines = kept[:title_end] + ["", badge] + [line for line in kept[title_end:]]
    # collapse the blank lines around the badge so repeated runs are stable
    text = "\n".join(new_lines).strip("\n")
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    changed = text != cells[0].source
    cells[0].source = text
    setup = setup_source(repo, branch)
    if len(cells) > 1 and "setup" in cells[1].get("metadata", {}).get("tags", []):
        changed |= cells[1].source != setup
        cells[1].source = setup
    else:
        cell = nbformat.v4.new_code_cell(setup)
        cell.metadata["tags"] = ["setup"]
        cells.insert(1, cell)
        changed = True
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks that are out of date")
    parser.add_argument("paths", nargs="*", help="notebooks to update (default: every course notebook)")
    args = parser.parse_args(argv)
    repo, branch = settings()
    paths = [Path(p).resolve() for p in args.paths] or [
        p for folder in FOLDERS for p in sorted((ROOT / folder).glob("*.ipynb"))
    ]
    stale = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if update(nb, repo, branch, path.parent.name, path.name):
            stale.append(path.relative_to(ROOT))
            if not args.check:
                nbformat.write(nb, path)
    if args.check and stale:
        print("out of date (run python tools/notebook_header.py):", *map(str, stale), sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
