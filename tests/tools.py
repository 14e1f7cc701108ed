"""System tools some tests need (tshark, chromium, pdftoppm), installed by ``.ci/run``.

On a developer's machine without them those tests are skipped; in CI (``DMCT_REQUIRE_TOOLS=1``,
set by ``.ci/run``) a missing tool fails the test instead, so a check is never silently lost.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(*names: str) -> str:
    """The path of the first of ``names`` found on PATH; skip (or fail in CI) when none is."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    message = f"{names[0]} is not installed (.ci/run installs it)"
    if os.environ.get("DMCT_REQUIRE_TOOLS") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
