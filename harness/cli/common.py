"""What every ``dmct`` command shares: exit codes, the one-line usage error, the lab config
and the packaged packs."""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

PACK_ORDER = ("smoke", "dormant", "active", "mixed", "srv", "security")
OUTCOME_ORDER = ("passed", "failed", "blocked", "not_applicable")


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line, exit 2."""


def fail(message: str) -> int:
    from harness.text import clip, mask_secrets

    # One line, printable, bounded: a message may quote what the user typed (a 1 MB id).
    print(f"dmct: error: {clip(mask_secrets(message), 1000)}", file=sys.stderr)
    return EXIT_USAGE


def load_lab(path: str | None) -> Any:
    from harness.config import default_lab_config_path, load_lab_config

    lab_path = Path(path) if path else Path(os.environ.get("DMCT_LAB") or default_lab_config_path())
    if not lab_path.is_file():
        what = "is a directory, not a lab config file" if lab_path.is_dir() else "not found"
        raise UsageError(f"{lab_path}: lab config file {what}")
    return load_lab_config(lab_path)


def packs_dir() -> Path:
    """The installed ``testpacks`` directory (works from any working directory)."""
    return Path(str(resources.files("testpacks")))


def available_packs() -> list[str]:
    root = packs_dir()
    # A pack is a package of test files; testpacks/common holds shared code, not cases.
    found = [p.name for p in root.iterdir()
             if p.is_dir() and (p / "__init__.py").exists() and any(p.glob("test_*.py"))]
    return sorted(found, key=lambda n: (PACK_ORDER.index(n) if n in PACK_ORDER else 99, n))
