"""One record per test, appended to ``records.jsonl`` the moment the test finishes.

The run record is the single source every report is rendered from (OpenHTF's lesson). Writing
each record as its test ends, flushed and fsynced, means a run killed half-way keeps every case it
finished.

A record (one JSON object per line, keys sorted):

- ``id`` (pytest node id), ``name``, ``pack``, ``srv`` (from ``srv`` markers), ``devices`` (roles
  the test needs), ``markers``;
- ``outcome``: ``passed`` | ``failed`` | ``blocked`` | ``not_applicable``; ``reason``: why, for
  anything but ``passed`` (the assertion message of a failure, ``set-up failed: ...``,
  ``not applicable: ...``, ``blocked: ...``);
- ``bench_time_start`` / ``bench_time_end``: ISO 8601 bench time (virtual or wall), ``None`` for
  a test that ran before any bench was up; ``wall_s``: wall seconds spent;
- ``evidence``: ``frame_count``, ``event_count`` and, when there are any, ``frames`` and
  ``events`` (JSON files: the test's ZigBee frames with hex payloads, its HAN events; the
  frames only for failed and blocked cases when ``DMCT_EVIDENCE=failed``, ``dmct run``'s
  default) and
  ``transcripts`` (serial logs); paths are relative to the directory of ``records.jsonl``;
- ``traceback``: the last lines of pytest's traceback of a failed (or errored) phase, key
  material masked; ``None`` otherwise.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.report.files import write_atomic

Outcome = Literal["passed", "failed", "blocked", "not_applicable"]
OUTCOMES: tuple[Outcome, ...] = ("passed", "failed", "blocked", "not_applicable")

RECORDS_FILE = "records.jsonl"
#: How the reason of a case the run was interrupted in starts: it never finished, so a resumed
#: run runs it again (see :func:`keep_finished`).
INTERRUPTED_REASON = "blocked: run interrupted during the test"


#: Prefix of the line a pack run prints per finished case with ``--dmct-progress``: its record
#: as JSON (read by ``dmct run``, which needs no pytest to read it).
PROGRESS_PREFIX = "@dmct-record "
#: Prefix of the line ``--dmct-progress`` prints once the cases are collected.
PLAN_PREFIX = "@dmct-plan "


@dataclass
class TestRecord:
    """What happened in one test case, and where its evidence is."""

    __test__ = False  # not a pytest test class, despite its name

    id: str
    name: str
    pack: str | None
    outcome: Outcome
    srv: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    markers: list[str] = field(default_factory=list)
    reason: str | None = None
    bench_time_start: str | None = None
    bench_time_end: str | None = None
    wall_s: float = 0.0
    evidence: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    #: The end of pytest's traceback of a failed or blocked case (key material masked).
    traceback: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def interrupted(self) -> bool:
        """The run stopped during this case: it has an outcome but never finished."""
        return self.outcome == "blocked" and (self.reason or "").startswith(INTERRUPTED_REASON)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestRecord:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


class RecordWriter:
    """Appends records to a JSONL file, durably, one line per test."""

    def __init__(self, directory: Path, *, fresh: bool = False) -> None:
        """``fresh``: start a new file (a run's records are that run's alone)."""
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / RECORDS_FILE
        if fresh:
            self.path.unlink(missing_ok=True)

    def write(self, record: TestRecord) -> None:
        line = json.dumps(record.as_dict(), sort_keys=True, default=str)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def read_records(path: Path) -> Iterator[TestRecord]:
    """Records of a ``records.jsonl`` (or of the one in a directory), skipping a torn last line."""
    if path.is_dir():
        path = path / RECORDS_FILE
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                yield TestRecord.from_dict(json.loads(line))
            except (json.JSONDecodeError, TypeError):
                continue  # a line cut short by a killed run


def finished_records(path: Path) -> list[TestRecord]:
    """The records of cases that finished: interrupted ones left out, one per case (the last)."""
    by_id: dict[str, TestRecord] = {}
    for record in read_records(path):
        if not record.interrupted:
            by_id[record.id] = record
    return list(by_id.values())


def keep_finished(directory: Path) -> list[TestRecord]:
    """Rewrite ``records.jsonl`` with only the records of cases that finished; return them.

    Before a run is resumed: a case the run was interrupted in is run again, and a torn last
    line would swallow the first record appended after it. Atomic (temp file, then rename), so
    a kill during the rewrite loses nothing.
    """
    path = directory / RECORDS_FILE
    if not path.exists():
        return []
    kept = finished_records(path)
    write_atomic(path, "".join(json.dumps(record.as_dict(), sort_keys=True, default=str) + "\n"
                               for record in kept), durable=True)
    return kept
