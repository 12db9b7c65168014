"""Grade exercise notebooks: run each in a fresh kernel and count the tasks its check cells pass.

    python -m transformer_lib.grade PATH... [--csv FILE] [--json FILE] [--timeout SECONDS] [--jobs N]

A PATH is a notebook, a folder of notebooks, or a folder of student folders. A notebook's student is
the folder that holds it. Every notebook runs top to bottom in its own kernel (errors do not stop it,
and a cell that runs longer than --timeout seconds is interrupted), so a notebook that crashes or
hangs costs only its own points. The tasks are the code cells tagged `check`; each prints one
`[passed] ...` or `[failed] ...` line (see transformer_lib.checks), and a check cell that printed no
such line (it never ran, or raised) counts as failed.

The notebooks run with the grader's own Python and can do anything that Python can: grade work you
do not trust inside a container or a throwaway virtual machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

CHECK_TAG = "check"
LINE = re.compile(r"^\[(passed|failed)\] ([^:]+): (.*)$")
CHECK_CALL = re.compile(r"check_(\w+)\s*\(")


@dataclass
class TaskResult:
    """One check cell: the task's name, whether it passed, and the checker's message."""

    task: str
    passed: bool
    message: str


@dataclass
class NotebookResult:
    """The tasks of one student's notebook; `error` says why it stopped early, if it did."""

    student: str
    notebook: str
    path: str
    tasks: list[TaskResult] = field(default_factory=list)
    error: str | None = None

    @property
    def total(self) -> int:
        return len(self.tasks)

    @property
    def passed(self) -> int:
        return sum(task.passed for task in self.tasks)


def find_notebooks(paths: Iterable[str | Path]) -> list[tuple[str, Path]]:
    """(student, notebook) for every notebook under the given files and folders, in a stable order."""
    found: list[tuple[str, Path]] = []
    for given in paths:
        path = Path(given)
        if path.is_file():
            if path.suffix != ".ipynb":
                raise ValueError(f"PATH must be a notebook (.ipynb) or a folder, got {str(path)!r}")
            found.append((path.resolve().parent.name, path))
        elif path.is_dir():
            for notebook in sorted(path.rglob("*.ipynb")):
                if ".ipynb_checkpoints" in notebook.parts:
                    continue
                folder = notebook.parent
                student = path.resolve().name if folder == path else str(folder.relative_to(path))
                found.append((student, notebook))
        else:
            raise FileNotFoundError(f"PATH {str(path)!r} is neither a notebook nor a folder")
    return found


def _task_name(cell: nbformat.NotebookNode, index: int) -> str:
    match = CHECK_CALL.search(cell.source)
    return match.group(1).replace("_", " ") if match else f"check cell {index}"


def _read_result(cell: nbformat.NotebookNode, index: int, timeout: float) -> TaskResult:
    """The last [passed]/[failed] line the check cell printed, or why there is none."""
    result = None
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            for line in output.get("text", "").splitlines():
                match = LINE.match(line.strip())
                if match:
                    result = TaskResult(match.group(2), match.group(1) == "passed", match.group(3))
    if result is not None:
        return result
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if errors and errors[-1].get("ename") == "KeyboardInterrupt":
        why = f"the check cell ran longer than the limit of {timeout:g} s per cell and was stopped"
    elif errors:
        why = f"the check cell raised {errors[-1].get('ename')}: {errors[-1].get('evalue', '')}".strip(" :")
    elif cell.get("execution_count") is None:
        why = "the check cell did not run (the notebook stopped before it)"
    else:
        why = "the check cell printed no result"
    return TaskResult(_task_name(cell, index), False, " ".join(why.split())[:240])


def grade_notebook(path: str | Path, student: str = "", timeout: float = 60.0) -> NotebookResult:
    """Run one notebook in a fresh kernel and read its check cells."""
    from nbclient import NotebookClient

    path = Path(path)
    result = NotebookResult(student or path.resolve().parent.name, path.stem, str(path))
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001  an unreadable file scores zero, with the reason
        result.error = f"not a readable notebook: {type(exc).__name__}: {exc}"
        return result
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    check_cells = [
        (i, cell)
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and CHECK_TAG in cell.get("metadata", {}).get("tags", [])
    ]
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        interrupt_on_timeout=True,
        resources={"metadata": {"path": str(path.resolve().parent)}},
    )
    try:
        client.execute(stderr=subprocess.DEVNULL)  # the kernel's own log lines, not the cells' output
    except Exception as exc:  # noqa: BLE001  a dead or hung kernel: keep what ran before it
        result.error = " ".join(f"{type(exc).__name__}: {exc}".split())[:240]
    result.tasks = [_read_result(cell, i, timeout) for i, cell in check_cells]
    return result


def grade(paths: Iterable[str | Path], timeout: float = 60.0, jobs: int = 1) -> list[NotebookResult]:
    """Grade every notebook under `paths`, `jobs` notebooks at a time (each in its own kernel)."""
    notebooks = find_notebooks(paths)
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda item: grade_notebook(item[1], item[0], timeout), notebooks))


def _score(passed: int, total: int) -> str:
    return f"{100 * passed / total:.0f}%" if total else "-"


def format_table(results: Sequence[NotebookResult]) -> str:
    """Tasks passed per notebook, then per student."""
    rows = [("student", "notebook", "passed", "score")]
    rows += [(r.student, r.notebook, f"{r.passed}/{r.total}", _score(r.passed, r.total)) for r in results]
    students: dict[str, list[int]] = {}
    for r in results:
        tally = students.setdefault(r.student, [0, 0])
        tally[0] += r.passed
        tally[1] += r.total
    summary = [("student", "notebooks", "passed", "score")]
    summary += [
        (name, str(sum(r.student == name for r in results)), f"{p}/{t}", _score(p, t))
        for name, (p, t) in students.items()
    ]

    def table(lines: list[tuple[str, ...]]) -> list[str]:
        widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
        return [
            "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines
        ]

    return "\n".join(
        ["Tasks passed per notebook", *table(rows), "", "Tasks passed per student", *table(summary)]
    )


def write_csv(results: Sequence[NotebookResult], path: str | Path) -> None:
    """One row per task: student, notebook, task, passed, message."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "notebook", "task", "passed", "message"])
        for r in results:
            for t in r.tasks:
                writer.writerow([r.student, r.notebook, t.task, int(t.passed), t.message])


def write_json(results: Sequence[NotebookResult], path: str | Path) -> None:
    """Every notebook with its tasks, counts and any error."""
    data = [{**asdict(r), "passed": r.passed, "total": r.total} for r in results]
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transformer_lib.grade", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="notebooks, folders of them, or folders of student folders"
    )
    parser.add_argument("--csv", metavar="FILE", help="also write one row per task to this CSV file")
    parser.add_argument("--json", metavar="FILE", help="also write the full report to this JSON file")
    parser.add_argument(
        "--timeout", type=float, default=60.0, metavar="SECONDS", help="limit per cell (default 60)"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, metavar="N", help="notebooks graded at once (default 1)"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also list every failed task and its message"
    )
    args = parser.parse_args(argv)
    if not args.timeout > 0:
        parser.error(f"--timeout must be a positive number of seconds, got {args.timeout}")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    try:
        results = grade(args.paths, args.timeout, args.jobs)
    except (FileNotFoundError, ValueError) as exc:
        parser.error(str(exc))
    if not results:
        parser.error("no notebooks found under " + ", ".join(args.paths))
    print(format_table(results))
    for r in results:
        if r.error:
            print(f"\n{r.student}/{r.notebook}: stopped early: {r.error}")
        if args.verbose:
            for t in r.tasks:
                if not t.passed:
                    print(f"{r.student}/{r.notebook}: [failed] {t.task}: {t.message}")
    if args.csv:
        write_csv(results, args.csv)
    if args.json:
        write_json(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
