"""tools/make_exercises.py: exercises/ is written from solutions/, leaks no answer, and --check
notices when it is out of date."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import make_exercises  # noqa: E402

SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def test_strip_solutions_keeps_the_signature_and_indents_the_stub():
    source = (
        "def f(x):\n"
        '    """Doc."""\n'
        "    ### BEGIN SOLUTION\n"
        "    y = x + 1\n"
        "    return y\n"
        "    ### END SOLUTION\n"
        "\n"
        "### BEGIN SOLUTION\n"
        "z = 3\n"
        "### END SOLUTION"
    )
    assert make_exercises.strip_solutions(source, make_exercises.CODE_STUB, "cell") == (
        "def f(x):\n"
        '    """Doc."""\n'
        "    # YOUR CODE HERE\n"
        "    raise NotImplementedError()\n"
        "\n"
        "# YOUR CODE HERE\n"
        "raise NotImplementedError()"
    )


def test_strip_solutions_leaves_a_cell_without_markers_alone():
    assert make_exercises.strip_solutions("x = 1\n", make_exercises.CODE_STUB, "cell") == "x = 1\n"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("### BEGIN SOLUTION\nx = 1", "never closed"),
        ("x = 1\n### END SOLUTION", "line 2: ### END SOLUTION without ### BEGIN SOLUTION"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another solution block"),
    ],
)
def test_unbalanced_markers_are_errors_that_name_the_place(source, message):
    with pytest.raises(make_exercises.MarkerError, match="nb.ipynb cell 3") as info:
        make_exercises.strip_solutions(source, make_exercises.CODE_STUB, "nb.ipynb cell 3")
    assert message in str(info.value)


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_exercise_has_the_tasks_of_its_solution_and_no_answers(path):
    solution = nbformat.read(path, as_version=4)
    exercise = make_exercises.make_exercise(solution, path.name)
    assert len(exercise.cells) == len(solution.cells)
    answers, given = set(), set()
    for cell in solution.cells:
        inside = False
        for line in cell.source.splitlines():
            inside = (inside or line.strip() == make_exercises.BEGIN) and line.strip() != make_exercises.END
            (answers if inside else given).add(line.strip())
    answers -= given | {make_exercises.BEGIN, ""}
    text = "\n".join(cell.source for cell in exercise.cells)
    assert answers
    assert not answers & {line.strip() for line in text.splitlines()}
    assert "SOLUTION" not in text
    for before, after in zip(solution.cells, exercise.cells, strict=True):
        assert before.metadata.get("tags") == after.metadata.get("tags")
        if after.cell_type == "code":
            assert after.outputs == [] and after.execution_count is None
    assert f"exercises/{path.name}" in exercise.cells[0].source
    assert "/solutions/" not in exercise.cells[0].source


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_solution_has_three_to_six_tasks_each_followed_by_its_check(path):
    nb = nbformat.read(path, as_version=4)
    checks = [i for i, cell in enumerate(nb.cells) if "check" in cell.metadata.get("tags", [])]
    assert 3 <= len(checks) <= 6
    for i in checks:
        assert make_exercises.BEGIN in nb.cells[i - 1].source
        assert nb.cells[i].source.startswith("checks.check_")


def test_solutions_and_exercises_have_the_same_notebooks():
    exercises = sorted(p.name for p in (ROOT / "exercises").glob("*.ipynb"))
    assert exercises == [p.name for p in SOLUTIONS]
    assert len(SOLUTIONS) >= 8


def test_exercises_in_the_repository_are_up_to_date(capsys):
    assert make_exercises.main(["--check"]) == 0, capsys.readouterr().out


@pytest.fixture
def copies(tmp_path) -> tuple[Path, Path]:
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    for path in SOLUTIONS[:2]:
        shutil.copy(path, solutions / path.name)
    return solutions, exercises


def run(copies, *flags) -> int:
    solutions, exercises = copies
    return make_exercises.main([*flags, "--solutions", str(solutions), "--exercises", str(exercises)])


def test_round_trip_writes_in_sync_exercises_with_the_same_bytes_every_time(copies, capsys):
    solutions, exercises = copies
    assert run(copies, "--check") == 1
    assert "missing" in capsys.readouterr().out
    assert run(copies) == 0
    first = {p.name: p.read_bytes() for p in exercises.glob("*.ipynb")}
    assert sorted(first) == sorted(p.name for p in solutions.glob("*.ipynb"))
    assert run(copies) == 0
    assert {p.name: p.read_bytes() for p in exercises.glob("*.ipynb")} == first
    assert run(copies, "--check") == 0


def test_check_names_a_stale_exercise_and_an_orphan(copies, capsys):
    solutions, exercises = copies
    run(copies)
    capsys.readouterr()
    changed = sorted(solutions.glob("*.ipynb"))[0]
    nb = nbformat.read(changed, as_version=4)
    nb.cells[-1].source += "\n\nOne more sentence."
    nbformat.write(nb, changed)
    shutil.copy(SOLUTIONS[-1], exercises / "99_orphan.ipynb")
    assert run(copies, "--check") == 1
    out = capsys.readouterr().out
    assert f"{changed.name}: differs from its solution" in out
    assert "99_orphan.ipynb: has no solution notebook" in out
    assert run(copies) == 0
    assert not (exercises / "99_orphan.ipynb").exists()
    assert run(copies, "--check") == 0


def test_a_broken_marker_stops_the_tool_with_its_place(copies, capsys):
    solutions, _ = copies
    path = sorted(solutions.glob("*.ipynb"))[0]
    nb = nbformat.read(path, as_version=4)
    nb.cells[-1] = nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1")
    nbformat.write(nb, path)
    assert run(copies) == 2
    assert (
        f"{path.name} cell {len(nb.cells) - 1}: ### BEGIN SOLUTION is never closed" in capsys.readouterr().err
    )
