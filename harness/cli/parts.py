"""Parts of an entry: finer work units than one pytest process per DMC and status, so that a
few entries of unequal (or equal) size keep every core busy to the end.

An entry (DMC x installation status) whose bench is emulated is cut into **parts**: contiguous
runs of its test files, in the order pytest collects them (:func:`test_files`), each run by a
pytest process of its own into ``<entry>/parts/<n>/`` with an emulated bench of its own. When
its last part ends, :func:`merge_parts` folds the parts back into the entry's one directory
(records in collection order, evidence, Allure results, sessions, ``run-state.json``) and
writes its ``dmct-report.json`` as the pytest plugin does at the end of a session, so the
entry is what one pytest process would have left. Every unit of the run (a part, or a whole
entry) is started longest first (:func:`schedule`), sized by the previous run's durations in
the entry's directory where there are any, else by :data:`STATIC_S`.

Why contiguous parts give the report of an unsplit run: a part is exactly what
``dmct run --resume`` runs after a run killed at the part's first file, cut short after its
last (nothing a later case does reaches an earlier one). Resumed runs give the cases,
outcomes, Testing Issues and verdict of uninterrupted ones (``tests/test_resume.py``), because
every case and module-scoped fixture draws its emulated randomness from the lab seed, the
device and its own name, and each module migrates the installation itself. The bench clock of
a part starts afresh, as a resumed run's does: bench times differ, outcomes do not.

What is never split (one pytest process per entry, as before):

- a real bench: its radio and serial ports are one physical bench, which two processes must
  never drive at once (on a real bench the entries themselves run one at a time);
- a run with pytest arguments after ``--`` (``-x`` or ``--lf`` mean something else per part),
  with bench faults (their schedule counts cases of the whole entry), or with a lab's own pack
  directories;
- a resumed entry (it runs what is missing in one process) and a run of one job
  (``--jobs 1``: no gain, only the cost of more processes);
- ``DMCT_SPLIT=0``.

A run killed while parts run leaves them in ``<entry>/parts/``; ``dmct run --resume`` (and
``dmct report``) first folds what they finished into the entry (:func:`merge_parts`: an
unfinished part makes the entry unfinished), then resumes the entry in one process.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.cli.common import packs_dir

#: The directory of an entry that holds its parts while they run.
PARTS_DIR = "parts"
#: The parts an entry was cut into, written before the first starts (what a fold expects).
PARTS_FILE = "parts.json"
#: Set to ``0`` to run every entry as one pytest process.
SPLIT_ENV = "DMCT_SPLIT"
#: Units per job the run aims at: enough for the longest-first schedule to even the jobs out.
UNITS_PER_JOB = 3
#: What one more pytest process costs (forked from the preloaded server: plugin, collection,
#: bench bring-up, its own report), in the same seconds as the estimates.
PART_OVERHEAD_S = 0.6
#: Wall seconds of each packaged test file for the reference DMC on an idle core, for a first
#: run; a later one uses its previous records (:func:`estimates`). Measured before issue 15's
#: CPU cuts (a REF entry's files now take about a third of these, the fuzz file a quarter):
#: kept, because the parts they cut pack better on two cores (the default run with --jobs 2:
#: 11.1-11.5 s against 11.9-12.1 s with the cuts' own figures, alternating, same machine).
STATIC_S: dict[str, float] = {
    "smoke/test_smoke.py": 0.2,
    "dormant/test_dormant.py": 0.6,
    "active/test_active.py": 0.6,
    "mixed/test_mixed.py": 0.4,
    "srv/test_srv.py": 3.7,
    "security/test_device_log.py": 0.15,
    "security/test_dno_certificate.py": 0.05,
    "security/test_han_commands.py": 0.1,
    "security/test_join_time_period.py": 0.4,
    "security/test_keys.py": 0.55,
    "security/test_malformed.py": 5.4,
    "security/test_malformed_regressions.py": 1.1,
    "security/test_restrictions.py": 0.05,
    "security/test_roles.py": 2.2,
}
#: A test file :data:`STATIC_S` does not know.
DEFAULT_S = 1.0
#: A pack named after an installation status, run for another status: every case is
#: not applicable.
OTHER_STATUS_S = 0.05
STATUSES = ("dormant", "active", "mixed")


@dataclass(frozen=True)
class Part:
    """Test files of one entry run by one pytest process."""

    index: int
    #: Test files relative to the packs directory, in collection order.
    targets: tuple[str, ...]
    #: Expected wall seconds (the files' estimates and :data:`PART_OVERHEAD_S`).
    estimate: float


@dataclass(frozen=True)
class Unit:
    """What one job runs: a part of an entry, or (``part`` ``None``) the whole entry."""

    entry: Any  # harness.cli.entries.Entry
    part: Part | None
    estimate: float
    #: How many units the entry has (1: it is not split).
    of: int = 1

    @property
    def out(self) -> Path:
        """Where the unit's pytest process writes."""
        out: Path = self.entry.out
        return out if self.part is None else part_dir(out, self.part.index)


@dataclass(frozen=True)
class UnitTime:
    """What one unit of a run took: wall time (``time.perf_counter``: the engineer's day, not
    bench time) and the CPU time its pytest process said it used (``None``: not forked)."""

    label: str
    estimate: float
    wall_s: float
    cpu_s: float | None


    def as_dict(self) -> dict[str, Any]:
        return {"unit": self.label, "estimate_s": round(self.estimate, 3),
                "wall_s": round(self.wall_s, 3),
                "cpu_s": None if self.cpu_s is None else round(self.cpu_s, 3)}


#: What each unit of a run on this machine took, written at the out root when the run ends.
TIMINGS_FILE = "timings.json"


def took(unit: Unit, ran: Any, started: float) -> UnitTime:
    """What ``unit`` took (``ran``: its :class:`~harness.cli.entries.Ran`; ``started``: its
    ``time.perf_counter()`` at the start)."""
    import time

    label = unit.entry.label + (f" part {unit.part.index}" if unit.part else "")
    return UnitTime(label, unit.estimate, time.perf_counter() - started, ran.cpu_s)


def write_timings(out_root: Path, times: Sequence[UnitTime]) -> None:
    """``timings.json``: the units in the order they ended, each with its estimate, wall and
    CPU seconds (where a lab's time went; ``benchmarks/bench_run.py`` reads it)."""
    from harness.report.files import write_atomic

    write_atomic(out_root / TIMINGS_FILE, json.dumps(
        {"schema": "smets1-dmct/timings/1", "units": [t.as_dict() for t in times]}, indent=1))


def read_timings(out_root: Path) -> list[UnitTime]:
    """The units of ``timings.json`` (none when the run wrote none)."""
    path = out_root / TIMINGS_FILE
    if not path.exists():
        return []
    return [UnitTime(u["unit"], u["estimate_s"], u["wall_s"], u["cpu_s"])
            for u in json.loads(path.read_text(encoding="utf-8"))["units"]]


def part_dir(entry_out: Path, index: int) -> Path:
    return entry_out / PARTS_DIR / str(index)


def test_files(packs: Sequence[str]) -> list[str]:
    """The test files of ``packs`` relative to the packs directory, in the order pytest
    collects the packs' directories: packs as given, each directory's entries by name (files
    and subdirectories alike), ``test_*.py`` and ``*_test.py`` (pytest's default)."""
    root = packs_dir()
    found: list[str] = []

    def walk(directory: Path) -> None:
        for path in sorted(directory.iterdir(), key=lambda p: p.name):
            if path.is_dir():
                if not path.name.startswith((".", "__")):
                    walk(path)
            elif path.suffix == ".py" and (path.name.startswith("test_")
                                           or path.name.endswith("_test.py")):
                found.append(path.relative_to(root).as_posix())

    for pack in packs:
        walk(root / pack)
    return found


def estimates(files: Sequence[str], status: str, previous: Path | None = None
              ) -> dict[str, float]:
    """Expected wall seconds of each file for an entry of ``status``: what it took in the
    previous run's records in ``previous`` (the entry's directory) when they cover every file,
    else :data:`STATIC_S`."""
    from harness.report.records import read_records

    if previous is not None:
        took: dict[str, float] = {}
        for record in read_records(previous):
            name = record.id.split("::", 1)[0].removeprefix("testpacks/")
            took[name] = took.get(name, 0.0) + max(record.wall_s, 0.0)
        if files and all(f in took for f in files):
            return {f: took[f] for f in files}
    guess = {}
    for name in files:
        pack = name.split("/", 1)[0]
        other = pack in STATUSES and pack != status
        guess[name] = OTHER_STATUS_S if other else STATIC_S.get(name, DEFAULT_S)
    return guess


def cut(weights: Sequence[float], count: int) -> list[int]:
    """Where to cut ``weights`` into ``count`` contiguous non-empty runs so the heaviest run is
    as light as it can be: the start index of each run (the linear partition problem)."""
    n = len(weights)
    count = max(1, min(count, n))
    prefix = [0.0]
    for weight in weights:
        prefix.append(prefix[-1] + weight)
    # best[k][i]: the lightest heaviest run of weights[:i] in k runs; start[k][i]: its last cut
    best = [[math.inf] * (n + 1) for _ in range(count + 1)]
    start = [[0] * (n + 1) for _ in range(count + 1)]
    best[0][0] = 0.0
    for k in range(1, count + 1):
        for i in range(k, n + 1):
            for j in range(k - 1, i):
                cost = max(best[k - 1][j], prefix[i] - prefix[j])
                if cost < best[k][i]:
                    best[k][i], start[k][i] = cost, j
    starts, i = [], n
    for k in range(count, 0, -1):
        i = start[k][i]
        starts.append(i)
    return starts[::-1]


def split(files: Sequence[str], weights: dict[str, float], target: float) -> list[Part]:
    """``files`` in as few contiguous parts as keep each part's estimate within ``target``
    (one file per part when even that will not)."""
    costs = [weights[f] for f in files]
    for count in range(1, len(files) + 1):
        starts = cut(costs, count)
        bounds = [*starts, len(files)]
        parts = [Part(k, tuple(files[a:b]), sum(costs[a:b]) + PART_OVERHEAD_S)
                 for k, (a, b) in enumerate(itertools.pairwise(bounds))]
        if max(p.estimate for p in parts) <= target or count == len(files):
            return parts
    return []


def splittable(args: Any, lab: Any) -> bool:
    """Whether the run's entries may be cut into parts (see the module's docstring)."""
    return (lab.is_emulated and os.environ.get(SPLIT_ENV, "1") != "0"
            and not getattr(args, "pytest_args", None) and not getattr(args, "fault", None)
            and not getattr(args, "pack_path", None))


def plan_units(entries: Sequence[Any], packs: Sequence[str], *, workers: int,
               may_split: bool) -> list[Unit]:
    """Every entry of a run as units: in entry order on one worker, else longest first (entry
    order among equals). An entry is split when ``may_split``, there is more than one worker
    and it runs afresh; a ``kept`` one is a unit of nothing to run."""
    files = test_files(packs)
    runnable = [e for e in entries if e.action != "kept"]
    weights = {id(e): estimates(files, e.status, e.out) for e in runnable}
    totals = {id(e): sum(weights[id(e)].values()) + PART_OVERHEAD_S for e in runnable}
    target = sum(totals.values()) / max(workers * UNITS_PER_JOB, 1)
    units: list[Unit] = []
    for entry in entries:
        if entry.action == "kept":
            units.append(Unit(entry, None, 0.0))
            continue
        if may_split and workers > 1 and entry.action == "run" and len(files) > 1:
            parts = split(files, weights[id(entry)], target)
            if len(parts) > 1:
                units += [Unit(entry, part, part.estimate, len(parts)) for part in parts]
                continue
        units.append(Unit(entry, None, totals[id(entry)]))
    if workers <= 1:
        return units
    order = {id(e): i for i, e in enumerate(entries)}
    return sorted(units, key=lambda u: (-u.estimate, order[id(u.entry)],
                                        u.part.index if u.part else 0))


def predicted_makespan(estimates_s: Iterable[float], workers: int) -> float:
    """The wall time of units of these sizes started longest first on ``workers`` jobs."""
    loads = [0.0] * max(workers, 1)
    for estimate in sorted(estimates_s, reverse=True):
        loads[loads.index(min(loads))] += estimate
    return max(loads)


# -- parts back into their entry ---------------------------------------------------------------

def start_parts(entry_out: Path, parts: Sequence[Part]) -> None:
    """Before the first part of a fresh entry: the parts it is cut into, on disk (a fold
    after a kill knows a part that never started), and no Allure results of an earlier run
    (each part's pytest cleans only its own)."""
    root = entry_out / PARTS_DIR
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(entry_out / "allure-results", ignore_errors=True)
    root.mkdir(parents=True)
    data = {"parts": [{"index": p.index, "targets": list(p.targets)} for p in parts]}
    (root / PARTS_FILE).write_text(json.dumps(data, indent=1), encoding="utf-8")


def _declared(root: Path) -> list[int]:
    """The parts' indices: from :data:`PARTS_FILE`, else the part directories found."""
    try:
        data = json.loads((root / PARTS_FILE).read_text(encoding="utf-8"))
        return [int(p["index"]) for p in data["parts"]]
    except (OSError, ValueError, KeyError, TypeError):
        return sorted(int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit())


def _move_into(source: Path, target: Path) -> None:
    """Every entry of ``source`` into ``target`` (an older one of the same name replaced)."""
    if not source.is_dir():
        return
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        into = target / path.name
        if into.is_dir() and not into.is_symlink():
            shutil.rmtree(into)
        os.replace(path, into)


def merge_parts(entry_out: Path, lab: Any) -> bool:
    """Fold the parts of the entry in ``entry_out`` into it, as one pytest process would have
    left it; ``False`` when it has none. ``lab``: the lab config selected to the entry's DMC
    and status.

    The entry's records, sessions and run state are written from the parts' alone (a fold
    done again after a kill mid-way gives the same), then its report when every part ended
    (finished or interrupted: a part that died has none, and neither has the entry), its run
    state last, and the parts are removed.
    """
    from harness.report.manifest import (
        ManifestError,
        RunState,
        State,
        run_state,
        write_run_state,
    )
    from harness.report.provenance import SESSIONS_FILE, read_sessions, record_session
    from harness.report.records import RECORDS_FILE, finished_records, read_records

    root = entry_out / PARTS_DIR
    if not root.is_dir():
        return False
    records: list[Any] = []
    planned: list[str] | None = []
    states: list[str | None] = []
    sessions: list[dict[str, Any]] = []
    for index in _declared(root):
        directory = root / str(index)
        try:
            part = run_state(directory) if directory.is_dir() else None
        except ManifestError:
            part = None  # torn: the part got as far as writing it
        states.append(part.state if part else None)
        if part is None or part.planned is None:
            planned = None
        elif planned is not None:
            planned += part.planned
        records += read_records(directory)
        sessions += read_sessions(directory)
        _move_into(directory / "evidence", entry_out / "evidence")
        _move_into(directory / "allure-results", entry_out / "allure-results")
    tmp = entry_out / (RECORDS_FILE + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record.as_dict(), sort_keys=True, default=str) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, entry_out / RECORDS_FILE)
    (entry_out / SESSIONS_FILE).unlink(missing_ok=True)
    for session in sessions:
        record_session(entry_out, session, fresh=False)
    state: State = "finished"
    if any(s in (None, "running") for s in states):
        state = "running"  # a part died: the entry is left as a killed run leaves it
    elif any(s == "interrupted" for s in states):
        state = "interrupted"
    if state != "running":
        complete = (state == "finished" and planned is not None
                    and not RunState(state, planned).missing(
                        finished_records(entry_out / RECORDS_FILE)))
        _write_report(entry_out, lab, complete=complete)
    write_run_state(entry_out, state, planned)
    shutil.rmtree(root, ignore_errors=True)
    return True


def _write_report(entry_out: Path, lab: Any, *, complete: bool) -> None:
    """``dmct-report.json`` and the Allure annotations, as the plugin writes them at the end
    of a session (``harness.pytest_plugin.pytest_sessionfinish``)."""
    from harness.report.allure import annotate_results
    from harness.report.allure_env import write_allure_environment
    from harness.report.build import write_run_report

    report = write_run_report(entry_out, lab, complete=complete)
    results = entry_out / "allure-results"
    if results.is_dir():
        annotate_results(results, report)
        write_allure_environment(results, report)
