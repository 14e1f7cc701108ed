"""Where a report comes from: the harness's version and commit, and content hashes of what judged
the device (packs, profiles, DMC catalogue, Testing Issue registry, lab config).

A reviewer who holds a report can tell whether two reports were made by the same harness on the
same data, and a lab can show which version of the packs gave a verdict.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Files hashed for a directory of packs or profiles: what decides a verdict, not caches.
HASHED_SUFFIXES = (".py", ".yaml", ".yml", ".md")


def harness_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("smets1-dmct")
    except PackageNotFoundError:
        return "unknown"


def source_root() -> Path:
    """The directory holding the ``harness`` package (a checkout's root when run from one)."""
    import harness

    return Path(harness.__file__).resolve().parent.parent


@functools.cache
def harness_commit() -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the checkout the harness runs from; ``None`` when
    it is installed from a wheel, or git is missing."""
    root = source_root()
    if not (root / ".git").exists():  # a worktree has a .git file, a clone a directory
        return None
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, check=True, timeout=10).stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                 "--untracked-files=no"], capture_output=True, text=True,
                                check=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": sha, "dirty": bool(status.strip())} if sha else None


def version_words() -> str:
    """``0.1.0 (commit 1234abcd, modified)``: what ``dmct --version`` prints."""
    commit = harness_commit()
    if commit is None:
        return harness_version()
    dirty = ", with uncommitted changes" if commit["dirty"] else ""
    return f"{harness_version()} (commit {commit['commit'][:12]}{dirty})"


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in HASHED_SUFFIXES
                  and "__pycache__" not in p.parts)


def content_hash(paths: Iterable[Path]) -> str | None:
    """sha256 over the files of ``paths`` (each a file or a directory), their relative names
    included, in a fixed order: the same content hashes the same wherever it lies. ``None`` when
    there is no file."""
    digest = hashlib.sha256()
    found = False
    for root in paths:
        root = Path(root)
        for file in _files(root):
            found = True
            name = file.name if root.is_file() else file.relative_to(root).as_posix()
            digest.update(name.encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return f"sha256:{digest.hexdigest()}" if found else None
