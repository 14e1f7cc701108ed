"""mypy (with the pydantic plugin) over harness/, fixtures/ and testpacks/, as configured in
pyproject.toml (``[tool.mypy]``): a type error is a failing test, not a review comment.

One mypy run per session, in a subprocess, its cache under the session's temporary directory.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_mypy_finds_no_type_errors(tmp_path_factory: pytest.TempPathFactory) -> None:
    if importlib.util.find_spec("mypy") is None:
        if os.environ.get("DMCT_REQUIRE_TOOLS"):
            pytest.fail("mypy is not installed: pip install -e '.[dev]'")
        pytest.skip("mypy is not installed (pip install -e '.[dev]')")
    cache = tmp_path_factory.mktemp("mypy-cache")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(cache), "--no-error-summary"],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert result.returncode == 0 and not errors, "\n".join(
        errors or [result.stdout[-2000:], result.stderr[-2000:]])
