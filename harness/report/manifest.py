"""What a run was asked to do (``run.json``) and how far each of its pytest runs got
(``run-state.json``): what ``dmct run --resume`` and ``dmct report`` need to know of a results
directory besides its records.

``run.json`` sits at the out root, written by ``dmct run`` before anything runs: the lab config,
DMCs, installation statuses, packs, the lab's own pack directories (``--pack-path``) and extra
pytest arguments, when it started and the dmct version, and whether that selection is
*partial* (some packs left out, or pytest arguments that may leave cases out:
:func:`partial_reasons`). A resumed run re-reads it, so it runs the same
selection; every report of the run carries it (:func:`report_selection`), and a report of a
partial selection is never made final.

``run-state.json`` sits in each ``<dmc>/<status>`` run directory, written by the pytest plugin:
``{"state": "running", "planned": [case ids in order]}`` once the cases are collected, then
``"finished"`` (or ``"interrupted"``) when the session ends. A run killed outright stays
``"running"``. Both files are written atomically (a temp file, then a rename).

A run directory is *complete* when its run finished and every planned case has a record of a
finished case (:func:`is_complete`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.report.files import write_atomic
from harness.report.records import RECORDS_FILE, TestRecord, finished_records
from harness.text import clip

MANIFEST_FILE = "run.json"
STATE_FILE = "run-state.json"
MANIFEST_SCHEMA = "smets1-dmct/run/1"

State = Literal["running", "finished", "interrupted"]
STATES: tuple[State, ...] = ("running", "finished", "interrupted")


class ManifestError(ValueError):
    """A ``run.json`` or ``run-state.json`` that cannot be read; the message is one line."""


@dataclass(frozen=True)
class RunManifest:
    """What ``dmct run`` was asked to run (``run.json``)."""

    lab: str
    dmcs: list[str]
    statuses: list[str]
    packs: list[str]
    pytest_args: list[str] = field(default_factory=list)
    started_at: str = ""
    version: str = ""
    #: Report formats asked for (``--format``); empty for the default ones.
    formats: list[str] = field(default_factory=list)
    #: Why the selection does not cover every case of the DMC and status (empty: it does).
    partial_reasons: list[str] = field(default_factory=list)
    #: Bench faults injected with ``--fault`` (:mod:`harness.fault_injection`; the lab config's own
    #: ``faults:`` come with the lab config).
    faults: list[str] = field(default_factory=list)
    #: A lab's own pack directories (``--pack-path``), absolute: run beside ``packs``.
    pack_paths: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return bool(self.partial_reasons)

    def as_dict(self) -> dict[str, Any]:
        return {"schema": MANIFEST_SCHEMA, **asdict(self), "partial": self.partial}

    def selection(self) -> dict[str, Any]:
        """The ``selection`` of each report of the run (``dmct-report.json``)."""
        return {"packs": list(self.packs), "pack_paths": list(self.pack_paths),
                "statuses": list(self.statuses),
                "dmcs": list(self.dmcs), "pytest_args": list(self.pytest_args),
                "partial": self.partial, "partial_reasons": list(self.partial_reasons)}


#: pytest options that never change which cases run, nor how many: anything else after
#: ``--`` (``-k``, ``-m``, ``-x``, ``--deselect``, a node id, a plugin) may, so makes the
#: selection partial.
NEUTRAL_PYTEST_FLAGS = frozenset({
    "-v", "-vv", "-vvv", "--verbose", "-q", "-qq", "--quiet", "-s", "-l", "--showlocals",
    "--full-trace", "--no-header", "--no-summary", "--strict-markers", "--setup-show",
    "-rA", "-ra", "-rfE", "--disable-warnings",
})
#: Neutral options that take a value (``--timeout 900`` or ``--timeout=900``).
NEUTRAL_PYTEST_OPTIONS = frozenset({
    "--timeout", "--timeout-method", "--tb", "-W", "--pythonwarnings", "--log-level",
    "--log-cli-level", "--log-file", "--log-file-level", "--log-format", "--durations",
    "--color", "--capture", "-r",
})
#: The longest a partial reason quotes the pytest arguments.
_ARGS_QUOTED = 200


def partial_reasons(packs: list[str], all_packs: list[str], pytest_args: list[str]
                    ) -> list[str]:
    """Why a run of ``packs`` (of ``all_packs``) with ``pytest_args`` may not run every case
    of a DMC and status; empty when it runs them all."""
    reasons = []
    left_out = [p for p in all_packs if p not in packs]
    if left_out:
        reasons.append(f"packs not run: {', '.join(left_out)}")
    selecting: list[str] = []
    args = iter(pytest_args)
    for arg in args:
        name = arg.split("=", 1)[0]
        if arg in NEUTRAL_PYTEST_FLAGS or (name in NEUTRAL_PYTEST_OPTIONS and "=" in arg):
            continue
        if name in NEUTRAL_PYTEST_OPTIONS:
            next(args, None)
            continue
        if arg == "-p":  # -p no:PLUGIN turns a plugin off; loading one may deselect
            value = next(args, "")
            if value.startswith("no:"):
                continue
            arg = f"-p {value}"
        selecting.append(arg)
    if selecting:
        reasons.append(f"pytest arguments that may leave cases out: "
                       f"{clip(' '.join(selecting), _ARGS_QUOTED)}")
    return reasons


def report_selection(run_dir: Path) -> dict[str, Any] | None:
    """The ``selection`` of the report of ``run_dir`` (``<out root>/<dmc>/<status>``): from
    the out root's ``run.json``; ``None`` when there is none (a plain pytest run) or it cannot
    be read."""
    try:
        manifest = read_manifest(Path(run_dir).parent.parent)
    except ManifestError:
        return None
    return manifest.selection() if manifest is not None else None


@dataclass(frozen=True)
class RunState:
    """How far the pytest run of one DMC and status got (``run-state.json``)."""

    state: State
    #: Case ids in the order they run; ``None`` when unknown (the run never collected).
    planned: list[str] | None = None

    @property
    def finished(self) -> bool:
        return self.state == "finished"

    def missing(self, records: Iterable[TestRecord | str]) -> list[str]:
        """Planned cases with no record of a finished case, in order (an interrupted case's
        record does not count)."""
        done = {r if isinstance(r, str) else r.id for r in records
                if isinstance(r, str) or not r.interrupted}
        return [case for case in self.planned or () if case not in done]

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "planned": self.planned}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` so that a reader (or a kill) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, indent=1), durable=True)


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: not readable as JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: expected a JSON object")
    return data


def write_manifest(out_root: Path, manifest: RunManifest) -> Path:
    path = out_root / MANIFEST_FILE
    _write_json(path, manifest.as_dict())
    return path


def read_manifest(out_root: Path) -> RunManifest | None:
    """The ``run.json`` of an out root; ``None`` if there is none.

    Raises :class:`ManifestError` for one that is not a run manifest (one line).
    """
    path = out_root / MANIFEST_FILE
    data = _read_json(path)
    if data is None:
        return None
    if data.get("schema") != MANIFEST_SCHEMA:
        raise ManifestError(f"{path}: not a dmct run manifest (schema {data.get('schema')!r}, "
                            f"expected {MANIFEST_SCHEMA!r})")
    lists = ("dmcs", "statuses", "packs", "pytest_args")
    for key in lists:
        value = data.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ManifestError(f"{path}: {key}: expected a list of strings")
    if not isinstance(data.get("lab"), str) or not data["lab"]:
        raise ManifestError(f"{path}: lab: expected the lab config's path")
    # Absent from manifests written before they existed.
    optional = {key: data.get(key, []) for key in ("formats", "partial_reasons", "faults",
                                                      "pack_paths")}
    for key, value in optional.items():
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ManifestError(f"{path}: {key}: expected a list of strings")
    return RunManifest(lab=data["lab"], **{k: list(data[k]) for k in lists},
                       started_at=str(data.get("started_at", "")),
                       version=str(data.get("version", "")),
                       **{k: list(v) for k, v in optional.items()})


def write_run_state(run_dir: Path, state: State, planned: list[str] | None) -> Path:
    path = run_dir / STATE_FILE
    _write_json(path, RunState(state, planned).as_dict())
    return path


def run_state(run_dir: Path) -> RunState | None:
    """The ``run-state.json`` of a run directory; ``None`` if the run never got that far.

    Raises :class:`ManifestError` for one that cannot be read.
    """
    path = run_dir / STATE_FILE
    data = _read_json(path)
    if data is None:
        return None
    state, planned = data.get("state"), data.get("planned")
    if state not in STATES:
        raise ManifestError(f"{path}: state: expected one of {', '.join(STATES)}, "
                            f"got {state!r}")
    if planned is not None and (not isinstance(planned, list)
                                or not all(isinstance(c, str) for c in planned)):
        raise ManifestError(f"{path}: planned: expected a list of case ids")
    return RunState(state, planned)


def is_complete(run_dir: Path) -> bool:
    """The run of ``run_dir`` finished and every planned case has a finished case's record."""
    try:
        state = run_state(run_dir)
    except ManifestError:
        return False
    if state is None or not state.finished or state.planned is None:
        return False
    return not state.missing(finished_records(run_dir / RECORDS_FILE))


def run_dirs(root: Path) -> list[tuple[str, str, Path]]:
    """``(dmc, status, path)`` of every run directory under an out root, or of ``root`` itself
    when it is one run directory (``<dmc>/<status>``, holding records or a run state)."""

    def is_run_dir(path: Path) -> bool:
        return (path / RECORDS_FILE).exists() or (path / STATE_FILE).exists()

    root = Path(root)
    if is_run_dir(root):
        return [(root.parent.name, root.name, root)]
    found = []
    if root.is_dir():
        for dmc_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            for status_dir in sorted(p for p in dmc_dir.iterdir() if p.is_dir()):
                if is_run_dir(status_dir):
                    found.append((dmc_dir.name, status_dir.name, status_dir))
    return found


__all__ = [
    "MANIFEST_FILE",
    "STATE_FILE",
    "ManifestError",
    "RunManifest",
    "RunState",
    "is_complete",
    "partial_reasons",
    "read_manifest",
    "report_selection",
    "run_dirs",
    "run_state",
    "write_manifest",
    "write_run_state",
]
