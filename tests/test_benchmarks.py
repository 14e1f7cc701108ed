"""The benchmark scripts still run (small sizes: their figures are not judged here, only that
each prints its lines; the figures are for the benchmark runs themselves, not for a unit test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize(("script", "args", "expected"), [
    ("bench_han.py", ["--reads", "30", "--rounds", "1", "--devices", "3"],
     ["bench start", "ZCL reads", "ZCL reads through zigpy-znp", "bench call",
      "memory per emulated ESME"]),
    ("bench_dcc.py", ["--requests", "10"], ["raw ZCL read", "SR 4.1.1", "SR 7.2/7.3"]),
    ("bench_catalogue.py", ["--sizes", "1", "2", "--jobs", "2"],
     ["generated catalogue", "   1 entries", "   2 entries", "per entry at 2", "one more entry"]),
])
def test_benchmark_runs_and_prints_its_figures(script, args, expected):
    completed = subprocess.run([sys.executable, str(BENCHMARKS / script), *args],
                               capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    for start in expected:
        assert any(line.startswith(start) for line in completed.stdout.splitlines()), (
            start, completed.stdout)
