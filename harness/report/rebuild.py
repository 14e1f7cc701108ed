"""``dmct report DIR``: rebuild each run directory's report from its records and render it.

DIR is a run's out root (``<dmc>/<status>/`` below it) or one run directory. For each:

- a **final** report is never re-opened: its formats are re-rendered from its JSON as it is;
- otherwise the report is rebuilt from ``records.jsonl`` (so a run killed before its end gets a
  partial report), keeping the ``produced_at`` and ``referral_deadline`` of the draft already
  there: re-rendering never moves a deadline;
- a run is complete when its ``run-state.json`` says it finished with every planned case
  recorded; a directory without one is complete only if its report said so.

Every directory is planned (read, rebuilt, finalised in memory) before any file is written, so
one bad directory or a refused ``--final`` leaves every report as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.report.dmct_report import REPORT_FILE, SCHEMA
from harness.report.finalise import FinaliseRefused, finalise
from harness.report.manifest import (
    STATE_FILE,
    ManifestError,
    is_complete,
    read_manifest,
    run_state,
)
from harness.report.records import RECORDS_FILE
from harness.report.referrals import RegisterError, apply_register, read_register

STATUSES = ("dormant", "active", "mixed")


class ReportDirError(Exception):
    """DIR (or a run directory in it) cannot be reported on; the message is one line."""


@dataclass
class Plan:
    """What ``dmct report`` does with one run directory."""

    dmc: str
    status: str
    directory: Path
    report: dict[str, Any]
    #: What was done, for the command's one line per directory.
    action: str
    #: The report differs from the ``dmct-report.json`` on disk (rebuilt or finalised); a
    #: final report, re-rendered only, leaves its JSON untouched.
    changed: bool = True


def _is_run_dir(path: Path) -> bool:
    return any((path / name).is_file() for name in (RECORDS_FILE, STATE_FILE, REPORT_FILE))


def _dmc_and_status(directory: Path) -> tuple[str, str]:
    """A run directory's DMC and status: from ``dmct run``'s layout (``<dmc>/<status>``), else
    (a lab's own ``pytest --dmct-out DIR``) from the report the plugin wrote there."""
    if directory.name in STATUSES:
        return directory.parent.name, directory.name
    existing = read_existing(directory)
    dmc = ((existing or {}).get("dmc") or {}).get("id")
    status = (existing or {}).get("installation_status")
    if not dmc or status not in STATUSES:
        raise ReportDirError(f"{directory}: not a <dmc>/<status> run directory and no "
                             f"{REPORT_FILE} naming its DMC and status (the pytest plugin "
                             "writes one when its session ends)")
    return str(dmc), str(status)


def find_run_dirs(root: Path) -> list[tuple[str, str, Path]]:
    """``(dmc, status, path)`` of ``root`` itself when it is a run directory, else of each
    ``<dmc>/<status>`` directory under it."""
    if not root.exists():
        raise ReportDirError(f"{root}: no such directory")
    if not root.is_dir():
        raise ReportDirError(f"{root}: not a directory (give a dmct run's results directory)")
    if _is_run_dir(root):
        found = [(*_dmc_and_status(root), root)]
    else:
        found = [(dmc_dir.name, status_dir.name, status_dir)
                 for dmc_dir in sorted(p for p in root.iterdir() if p.is_dir())
                 for status_dir in sorted(p for p in dmc_dir.iterdir() if p.is_dir())
                 if _is_run_dir(status_dir)]
    if not found:
        raise ReportDirError(f"{root}: no run directory found (expected <dmc>/<status>/ with "
                             f"{RECORDS_FILE} or {REPORT_FILE}, as dmct run writes)")
    for _, status, path in found:
        if status not in STATUSES:
            raise ReportDirError(f"{path}: not a <dmc>/<status> run directory (status "
                                 f"{status!r} is not one of {', '.join(STATUSES)})")
    return found


def read_existing(directory: Path) -> dict[str, Any] | None:
    """The ``dmct-report.json`` already in ``directory``, or ``None``."""
    path = directory / REPORT_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportDirError(f"{path}: not readable as JSON ({exc}); remove it to rebuild "
                             "the report from the records") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ReportDirError(f"{path}: not a DMCT Testing Report (schema "
                             f"{data.get('schema') if isinstance(data, dict) else None!r}, "
                             f"expected {SCHEMA!r})")
    return data


def out_root_lab(root: Path) -> str | None:
    """The lab config path recorded in the ``run.json`` of ``root`` (an out root) or of the
    out root above it (``root`` being one run directory)."""
    for candidate in (root, root.parent.parent):
        try:
            manifest = read_manifest(candidate)
        except ManifestError as exc:
            raise ReportDirError(str(exc)) from None
        if manifest is not None:
            return manifest.lab
    return None


def is_run_complete(directory: Path, existing: dict[str, Any] | None) -> bool:
    """Complete: the run state says finished with every planned case recorded; without a run
    state, the report written at the end of the run said it was complete."""
    try:
        state = run_state(directory)
    except ManifestError as exc:
        raise ReportDirError(str(exc)) from None
    if state is not None:
        return is_complete(directory)
    return bool(existing and existing.get("complete") is True)


def plan(directory: Path, dmc: str, status: str, *,
         build: Callable[[Path, str, str, bool, datetime], dict[str, Any]],
         at: datetime, final: bool = False, force: bool = False,
         reason: str | None = None) -> Plan:
    """What to write for one run directory. ``build(directory, dmc, status, complete,
    produced_at)`` rebuilds a report from the directory's records (a lab config is needed).

    Raises :class:`ReportDirError` for an unreadable directory and
    :class:`~harness.report.finalise.FinaliseRefused` for a refused ``final``.
    """
    existing = read_existing(directory)
    if existing is not None and existing.get("state") == "final":
        return Plan(dmc, status, directory, existing,
                    "already final: re-rendered from its JSON, not rebuilt from the records",
                    changed=False)
    if not (directory / RECORDS_FILE).is_file():
        if existing is None:
            raise ReportDirError(f"{directory}: no {RECORDS_FILE} and no {REPORT_FILE}: "
                                 "nothing to report (the run never started a case)")
        report, action, changed = existing, f"no {RECORDS_FILE}: re-rendered from its JSON", False
    else:
        complete = is_run_complete(directory, existing)
        produced_at = at
        if existing is not None and existing.get("produced_at"):
            try:
                produced_at = datetime.fromisoformat(str(existing["produced_at"]))
            except ValueError:
                raise ReportDirError(f"{directory / REPORT_FILE}: produced_at: not an ISO "
                                     f"date-time: {existing['produced_at']!r}") from None
        report = build(directory, dmc, status, complete, produced_at)
        if existing is not None and existing.get("referral_deadline"):
            report["referral_deadline"] = existing["referral_deadline"]
        try:  # provisions to suppliers move the deadline: it counts from them (20.37)
            apply_register(report, read_register(directory))
        except RegisterError as exc:
            raise ReportDirError(str(exc)) from None
        action = "rebuilt from the records" + ("" if complete else " (run not finished)")
        changed = True
    if final:
        try:
            report = finalise(report, at=at, force=force, reason=reason)
        except FinaliseRefused as exc:
            raise FinaliseRefused(f"{directory}: cannot finalise: {exc}") from None
        action += "; finalised" + (" early (forced)" if report["finalised_early"] else "")
        changed = True
    return Plan(dmc, status, directory, report, action, changed)
