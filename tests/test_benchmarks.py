"""The benchmark scripts run and print their tables (their timings are not checked here)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_attention_benchmark_quick_run_prints_a_row_per_length():
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "attention.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [row.split("|")[1].strip() for row in rows] == ["8", "16"]
    assert all(row.rstrip().endswith("| yes |") for row in rows)  # both modules gave the same output
