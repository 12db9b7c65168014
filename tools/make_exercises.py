"""Write exercises/ from solutions/: the solutions are the single source of both.

    python tools/make_exercises.py            # rewrite exercises/ from solutions/
    python tools/make_exercises.py --check    # exit 1 and name the stale notebooks if out of date

In every code cell, the lines from `### BEGIN SOLUTION` to `### END SOLUTION` (nbgrader's markers)
become `# YOUR CODE HERE` and `raise NotImplementedError()` at the indentation of the first marker;
in markdown cells such a block becomes `YOUR ANSWER HERE`. Every output and execution count is
removed, so no answer leaks through a printed value. The badge line points at exercises/. The same
solutions always give the same bytes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from notebook_header import settings, update  # noqa: E402

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
MARKDOWN_STUB = ("YOUR ANSWER HERE",)


class MarkerError(ValueError):
    """A solution block that is not closed, or closed without being opened."""


def strip_solutions(source: str, stub: tuple[str, ...], where: str) -> str:
    """Replace every BEGIN/END SOLUTION block of `source` by `stub`, indented like the BEGIN line."""
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.split("\n"), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise MarkerError(f"{where}, line {number}: {BEGIN} inside another solution block")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + text for text in stub)
        elif marker == END:
            if not inside:
                raise MarkerError(f"{where}, line {number}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{where}: {BEGIN} is never closed by {END}")
    return "\n".join(out)


def make_exercise(solution: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The exercise notebook for one solution notebook (a new object; the solution is unchanged)."""
    nb = nbformat.from_dict(solution)
    for index, cell in enumerate(nb.cells):
        where = f"{name} cell {index}"
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, CODE_STUB, where)
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            cell.source = strip_solutions(cell.source, MARKDOWN_STUB, where)
        cell.metadata.pop("execution", None)
    repo, branch = settings()
    update(nb, repo, branch, "exercises", name)
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def plan(solutions: Path, exercises: Path) -> tuple[dict[Path, str], list[Path]]:
    """What exercises/ should hold (path -> text), and exercise notebooks with no solution."""
    wanted = {}
    for path in sorted(solutions.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        wanted[exercises / path.name] = render(make_exercise(nb, path.name))
    orphans = sorted(p for p in exercises.glob("*.ipynb") if p not in wanted)
    return wanted, orphans


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if exercises/ is out of date")
    parser.add_argument("--solutions", type=Path, default=ROOT / "solutions", help="default: solutions/")
    parser.add_argument("--exercises", type=Path, default=ROOT / "exercises", help="default: exercises/")
    args = parser.parse_args(argv)
    try:
        wanted, orphans = plan(args.solutions, args.exercises)
    except MarkerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stale = [path for path, text in wanted.items() if not path.exists() or path.read_text() != text]
    if args.check:
        if stale or orphans:
            print("exercises/ is out of date (run python tools/make_exercises.py):")
            for path in stale:
                print(f"  {path.name}: {'missing' if not path.exists() else 'differs from its solution'}")
            for path in orphans:
                print(f"  {path.name}: has no solution notebook")
            return 1
        print(f"exercises/ is up to date ({len(wanted)} notebooks)")
        return 0
    args.exercises.mkdir(parents=True, exist_ok=True)
    for path in stale:
        path.write_text(wanted[path])
        print(f"wrote {path.name}")
    for path in orphans:
        path.unlink()
        print(f"removed {path.name} (no solution notebook)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
