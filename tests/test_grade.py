"""The grader: full marks for the solutions, zero for the untouched exercises, and a notebook that
crashes or hangs costs only its own points."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from transformer_lib import grade

ROOT = Path(__file__).resolve().parent.parent
LESSONS = [
    "02_scaled_dot_product_attention",
    "03_masking",
    "04_multi_head_attention",
    "05_cross_attention",
    "06_residuals_layernorm_feedforward",
    "07_the_full_transformer",
    "08_training",
    "09_inference",
    "10_decoder_only_gpt",
]


def check_cells(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    return sum("check" in cell.metadata.get("tags", []) for cell in nb.cells)


@pytest.fixture(scope="module")
def course_results() -> dict[tuple[str, str], grade.NotebookResult]:
    results = grade.grade([ROOT / "solutions", ROOT / "exercises"], timeout=120, jobs=2)
    return {(r.student, r.notebook): r for r in results}


def test_grader_finds_every_solution_and_exercise(course_results):
    for folder in ("solutions", "exercises"):
        assert sorted(nb for student, nb in course_results if student == folder) == LESSONS


@pytest.mark.parametrize("lesson", LESSONS)
def test_grader_gives_full_marks_to_the_solutions(course_results, lesson):
    result = course_results[("solutions", lesson)]
    assert result.error is None
    assert result.total == check_cells(ROOT / "solutions" / f"{lesson}.ipynb") >= 3
    assert result.passed == result.total, [t.message for t in result.tasks if not t.passed]


@pytest.mark.parametrize("lesson", LESSONS)
def test_grader_gives_zero_to_the_untouched_exercises(course_results, lesson):
    result = course_results[("exercises", lesson)]
    assert result.error is None
    assert result.total == check_cells(ROOT / "exercises" / f"{lesson}.ipynb") >= 3
    assert result.passed == 0
    assert all("NotImplementedError" in t.message for t in result.tasks)


# ---------------------------------------------------------------------------------------------------
# Small notebooks that pass, crash, hang or break, graded in a few seconds
# ---------------------------------------------------------------------------------------------------


def write_notebook(path: Path, sources: list[str | tuple[str]]) -> Path:
    """A notebook of code cells; a 1-tuple is a check cell."""
    cells = []
    for source in sources:
        if isinstance(source, tuple):
            cell = new_code_cell(source[0])
            cell.metadata["tags"] = ["check"]
        else:
            cell = new_code_cell(source)
        cells.append(cell)
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


PASS = ('print("[passed] one: fine")',)


@pytest.fixture(scope="module")
def classroom(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("classroom")
    write_notebook(
        root / "ada" / "good.ipynb", [PASS, ('print("[failed] two: values differ by up to 0.31")',)]
    )
    write_notebook(
        root / "ada" / "hangs.ipynb",
        [PASS, "import time\ntime.sleep(60)", PASS, ("import time\ntime.sleep(60)",)],
    )
    write_notebook(root / "ben" / "crashes.ipynb", [PASS, "import os\nos._exit(1)", PASS, PASS])
    write_notebook(root / "ben" / "raises.ipynb", [("check_attention(attention)",), "1 / 0", PASS])
    (root / "ben" / "broken.ipynb").write_text("{ not json")
    return root


@pytest.fixture(scope="module")
def classroom_results(classroom) -> dict[tuple[str, str], grade.NotebookResult]:
    results = grade.grade([classroom], timeout=3, jobs=2)
    return {(r.student, r.notebook): r for r in results}


def test_students_are_the_folders_that_hold_the_notebooks(classroom_results):
    assert sorted(classroom_results) == [
        ("ada", "good"),
        ("ada", "hangs"),
        ("ben", "broken"),
        ("ben", "crashes"),
        ("ben", "raises"),
    ]


def test_grader_reads_passed_and_failed_lines(classroom_results):
    result = classroom_results[("ada", "good")]
    assert [(t.task, t.passed, t.message) for t in result.tasks] == [
        ("one", True, "fine"),
        ("two", False, "values differ by up to 0.31"),
    ]


def test_a_hanging_cell_is_stopped_and_later_cells_still_run(classroom_results):
    result = classroom_results[("ada", "hangs")]
    assert [t.passed for t in result.tasks] == [True, True, False]
    assert (
        result.tasks[2].message == "the check cell ran longer than the limit of 3 s per cell and was stopped"
    )


def test_a_dead_kernel_costs_only_the_tasks_after_it(classroom_results):
    result = classroom_results[("ben", "crashes")]
    assert (result.passed, result.total) == (1, 3)
    assert "DeadKernelError" in result.error
    assert result.tasks[1].message == "the check cell did not run (the notebook stopped before it)"


def test_a_check_cell_that_raises_is_named_after_its_checker(classroom_results):
    result = classroom_results[("ben", "raises")]
    assert result.tasks[0].task == "attention"
    assert result.tasks[0].message == "the check cell raised NameError: name 'check_attention' is not defined"
    assert (result.passed, result.total) == (1, 2)


def test_an_unreadable_notebook_scores_zero_with_a_reason(classroom_results):
    result = classroom_results[("ben", "broken")]
    assert (result.passed, result.total) == (0, 0)
    assert result.error.startswith("not a readable notebook")


def test_table_counts_tasks_per_notebook_and_per_student():
    results = [
        grade.NotebookResult(
            "ada", "02_x", "a", [grade.TaskResult("t", True, ""), grade.TaskResult("u", False, "")]
        ),
        grade.NotebookResult("ada", "03_y", "b", [grade.TaskResult("t", True, "")]),
        grade.NotebookResult(
            "ben", "02_x", "c", [grade.TaskResult("t", False, ""), grade.TaskResult("u", False, "")]
        ),
    ]
    assert grade.format_table(results).splitlines() == [
        "Tasks passed per notebook",
        "student  notebook  passed  score",
        "ada      02_x      1/2     50%",
        "ada      03_y      1/1     100%",
        "ben      02_x      0/2     0%",
        "",
        "Tasks passed per student",
        "student  notebooks  passed  score",
        "ada      2          2/3     67%",
        "ben      1          0/2     0%",
    ]


def test_command_line_prints_the_table_and_writes_csv_and_json(classroom, tmp_path, capsys):
    csv_path, json_path = tmp_path / "report.csv", tmp_path / "report.json"
    notebook = classroom / "ada" / "good.ipynb"
    assert grade.main([str(notebook), "--csv", str(csv_path), "--json", str(json_path)]) == 0
    out = capsys.readouterr().out
    assert "ada      good      1/2     50%" in out
    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [
        ["student", "notebook", "task", "passed", "message"],
        ["ada", "good", "one", "1", "fine"],
        ["ada", "good", "two", "0", "values differ by up to 0.31"],
    ]
    report = json.loads(json_path.read_text())
    assert (report[0]["student"], report[0]["passed"], report[0]["total"]) == ("ada", 1, 2)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["no/such/folder"], "neither a notebook nor a folder"),
        (["pyproject.toml"], "must be a notebook (.ipynb) or a folder"),
        (["solutions", "--timeout", "0"], "--timeout must be a positive number"),
        (["solutions", "--jobs", "0"], "--jobs must be at least 1"),
    ],
)
def test_command_line_rejects_bad_arguments(argv, message, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as exit_info:
        grade.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_empty_folder_is_an_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        grade.main([str(tmp_path)])
    assert "no notebooks found" in capsys.readouterr().err
