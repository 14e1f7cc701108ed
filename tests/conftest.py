"""Shared by the plugin and CLI tests: pytester, and lab configs / catalogues made for a test.

``pytester`` is enabled here rather than in ``tests/plugin/conftest.py``: pytest refuses
``pytest_plugins`` in a conftest that is not loaded at start-up, and with ``testpaths = ["tests"]``
only ``tests/conftest.py`` is (``tests/plugin/conftest.py`` is found later, during collection).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from labkit import LabFiles

pytest_plugins = ["pytester"]


@pytest.fixture
def lab_files(tmp_path: Path) -> LabFiles:
    return LabFiles(tmp_path / "lab")


@pytest.fixture
def clean_run_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner pytest sessions and dmct runs must not see settings of the shell that runs us."""
    for name in ("DMCT_LAB", "PYTEST_TIMEOUT", "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
                 "PYTEST_ADDOPTS", "DMCT_SECRETS_FILE"):
        monkeypatch.delenv(name, raising=False)
