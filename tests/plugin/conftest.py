"""Fixtures for the plugin tests (``pytester`` itself is enabled in ``tests/conftest.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def read_records():
    """The records of an inner session's ``--dmct-out`` directory, by test name."""

    def read(directory: Path) -> dict[str, dict[str, Any]]:
        lines = (directory / "records.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines]
        by_name = {r["name"]: r for r in records}
        assert len(by_name) == len(records), f"a test has two records: {lines}"
        return by_name

    return read


@pytest.fixture(autouse=True)
def _clean_env(clean_run_env: None) -> None:
    """No DMCT_LAB, PYTEST_TIMEOUT, ... from the calling shell in the inner sessions."""
