"""Fixtures for config tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .helpers import write


@pytest.fixture
def lab_file(tmp_path: Path) -> Callable[[str], Path]:
    """Write a lab config into ``tmp_path/lab.yaml``."""

    def make(text: str, name: str = "lab.yaml") -> Path:
        return write(tmp_path / name, text)

    return make
