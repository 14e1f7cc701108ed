"""Where a report comes from: the harness's version and commit, and content hashes of what judged
the device (packs, profiles, DMC catalogue, Testing Issue registry, lab config).

A reviewer who holds a report can tell whether two reports were made by the same harness on the
same data, and a lab can show which version of the packs gave a verdict.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from harness.report.files import write_atomic

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


# -- the sessions of a run ------------------------------------------------------------------------

#: Beside ``records.jsonl``: one entry per pytest session that wrote to the directory (a resumed
#: run adds one), each with its wall-clock window and what it read of the bench.
SESSIONS_FILE = "sessions.json"


def read_sessions(directory: Path) -> list[dict[str, Any]]:
    path = directory / SESSIONS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [s for s in data if isinstance(s, dict)] if isinstance(data, list) else []


def record_session(directory: Path, session: dict[str, Any], *, fresh: bool) -> None:
    """Add ``session`` to ``sessions.json`` (``fresh``: a new run, whose sessions start anew);
    written atomically."""
    sessions = [] if fresh else read_sessions(directory)
    sessions.append(session)
    write_atomic(directory / SESSIONS_FILE, json.dumps(sessions, indent=1, default=str))


# -- what a report records of where it comes from --------------------------------------------------

def _window(starts: Iterable[str | None], ends: Iterable[str | None]) -> dict[str, str | None]:
    first = [s for s in starts if s]
    last = [e for e in ends if e]
    return {"start": min(first) if first else None, "end": max(last) if last else None}


def run_provenance(directory: Path, lab: Any, records: Sequence[Any],
                   pack_dirs: Sequence[Path] = ()) -> dict[str, Any]:
    """``provenance`` of a report: harness, content hashes, seed, bench, execution windows."""
    from harness.report.issues import default_registry_path

    packs = list(pack_dirs) or [packs_root()]
    roots = [Path(r) for r in lab.catalogue.roots]
    registry = Path(lab.report.testing_issues) if lab.report.testing_issues else \
        default_registry_path()
    sessions = read_sessions(directory)
    identity = next((s["bench"] for s in reversed(sessions) if s.get("bench")), None)
    return {
        "harness": {"version": harness_version(), **(harness_commit() or {"commit": None})},
        "hashes": {
            "packs": content_hash(packs),
            "profiles": content_hash([r / "models" for r in roots]),
            "dmc_catalogue": content_hash([r / "dmcs" for r in roots]),
            "testing_issue_registry": content_hash([registry]),
            "lab_config": content_hash([Path(lab.path)]),
        },
        "seed": lab.seed,
        "bench": {
            "name": lab.bench, "kind": ("emulated" if lab.is_emulated
                                        else "fake" if lab.radio.is_fake else "real"),
            "radio": lab.radio.type, "clock": lab.clock.mode,
            # read from the bench by the pytest plugin when the run stopped it; none if no case
            # started it (or under pytest-xdist, whose controller holds no bench)
            "read": identity,
        },
        "windows": {
            "wall_clock": _window((s.get("wall_start") for s in sessions),
                                  (s.get("wall_end") for s in sessions)),
            "bench_clock": _window((r.bench_time_start for r in records),
                                   (r.bench_time_end for r in records)),
            "sessions": len(sessions),
        },
    }


def packs_root() -> Path:
    from importlib import resources

    return Path(str(resources.files("testpacks")))


def limitations(lab: Any, dmc: Any, records: Sequence[Any], *, status: str,
                threshold_default: bool, complete: bool) -> list[str]:
    """What the verdict cannot be taken to show, generated from the bench, the profiles and
    the run: for a reviewer who reads the verdict and nothing else."""
    said: list[str] = []
    if lab.is_emulated:
        said.append("Emulated bench: the devices are the harness's emulation of their profiles, "
                    "not the devices themselves; the verdict shows how the packs judge that "
                    "emulation (and the defects the seeds report), not how the real devices "
                    "behave. A DMCT verdict needs a run on a real bench.")
    elif lab.radio.is_fake:
        said.append("Fake dongle: the radio library drove the harness's byte-level fake of a "
                    f"{lab.radio.type} dongle, whose devices are scripts holding the profiles' "
                    "identities; the verdict shows the harness and the radio library at work, "
                    "not how the real devices behave. A DMCT verdict needs a run on a real "
                    "bench.")
    placeholders = []
    for role, profile_id in dmc.devices.items():
        profile = lab.catalogue.profile(profile_id)
        if profile.is_placeholder:
            what = [w for w, flag in (("model", profile.model_placeholder),
                                      ("firmware", profile.firmware.placeholder)) if flag]
            placeholders.append(f"{role} ({' and '.join(what) or 'data'})")
    if placeholders:
        said.append(f"Placeholder profiles for {', '.join(placeholders)}: invented, not from a "
                    "public source; what the packs expect of these devices is the harness's "
                    "assumption, not the manufacturer's documentation.")
    if lab.clock.mode == "virtual":
        said.append("Virtual bench clock: waits (JoinTimePeriods, working days, the 7-day key "
                    "rotation) were simulated on bench time, not waited in real time.")
    if threshold_default:
        said.append("Testing Issue Threshold: the harness's default (the programme's numbers "
                    "are not public); the verdict against the programme's threshold may differ.")
    ran = {r.pack for r in records if r.pack}
    missing = [p for p in ("smoke", status, "srv", "security") if p not in ran]
    if records and missing:
        said.append(f"Packs not in this run: {', '.join(missing)}; what they test is not "
                    "judged here.")
    if not complete:
        said.append("Incomplete run: cases that did not finish are not in this report.")
    return said
