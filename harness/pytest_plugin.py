"""The pytest plugin: options, markers, fixtures, applicability, per-test records and evidence.

Registered by the ``pytest11`` entry point (so a lab's own test repository gets it by installing
smets1-dmct) and by this repository's root ``conftest.py``. It declares and wires; the work is done
by :mod:`harness.bench` and friends, which also work outside pytest.

Options: ``--lab FILE`` (default: the packaged ``lab_config/emulated.yaml``), ``--dmc ID``,
``--status dormant|active|mixed``, ``--dmct-out DIR`` (write a record per test and its evidence).

Markers:

- ``pack(name)``: the test pack (set from the ``testpacks/<pack>/`` directory when absent);
- ``srv("8.11", ...)``: Service Reference Variants the test exercises;
- ``device("PPMID", ...)``: roles the test needs; *not applicable* if the DMC has none;
- ``status("active", ...)``: installation statuses the test applies to;
- ``destructive``: refused on a real bench unless ``safety.allow_destructive`` is set;
- ``security``: a security (negative) test.

A test that does not apply is *skipped with a reason starting "not applicable:"* and recorded as
``not_applicable``, never silently dropped.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.report.records import RecordWriter, TestRecord

if TYPE_CHECKING:
    from harness.bench import Bench
    from harness.config import LabConfig

#: Per-test timeout when the run sets none (pytest-timeout): no test may hang CI.
DEFAULT_TEST_TIMEOUT_S = 300

_LAB = pytest.StashKey["LabConfig"]()
_BENCHES = pytest.StashKey[list["Bench"]]()
_WRITER = pytest.StashKey[RecordWriter | None]()
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
_EVIDENCE = pytest.StashKey[dict[str, Any]]()
_STARTED = pytest.StashKey[tuple[float, str | None]]()

MARKERS = {
    "pack(name)": "the DMCT test pack this test belongs to",
    "srv(*srvs)": "Service Reference Variants this test exercises",
    "device(*roles)": "device roles the test needs (not applicable if the DMC has none)",
    "status(*statuses)": "installation statuses the test applies to",
    "destructive": "may change device state irreversibly; refused on a real bench unless "
    "safety.allow_destructive is set",
    "security": "a device security (negative) test",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dmct", "SMETS1 DMCT harness")
    group.addoption("--lab", default=None, help="lab config file (default: emulated bench)")
    group.addoption("--dmc", default=None, help="DMC id under test (default: the lab config's)")
    group.addoption("--status", default=None, choices=("dormant", "active", "mixed"),
                    help="installation status under test (default: the lab config's)")
    group.addoption("--dmct-out", default=None,
                    help="directory for per-test records and evidence")


def pytest_configure(config: pytest.Config) -> None:
    for marker, description in MARKERS.items():
        config.addinivalue_line("markers", f"{marker}: {description}")
    config.stash[_BENCHES] = []
    out = config.getoption("dmct_out", None)
    config.stash[_WRITER] = RecordWriter(Path(out)) if out else None
    from fixtures import bench as bench_fixtures

    if not config.pluginmanager.is_registered(bench_fixtures):
        config.pluginmanager.register(bench_fixtures, "dmct-fixtures")
    if any(config.getoption(o, None) for o in ("lab", "dmc", "status", "dmct_out")):
        lab_config_of(config)  # configuration errors stop the run before any test


def pytest_unconfigure(config: pytest.Config) -> None:
    for bench in config.stash.get(_BENCHES, []):
        with contextlib.suppress(Exception):
            bench.stop()


# -- configuration ------------------------------------------------------------------------------

def lab_config_of(config: pytest.Config) -> LabConfig:
    """The lab config for this run, loaded once; a broken one is a usage error (one line)."""
    if _LAB in config.stash:
        return config.stash[_LAB]
    from harness.config import ConfigError, default_lab_config_path, load_lab_config

    path = config.getoption("lab", None) or os.environ.get("DMCT_LAB") or default_lab_config_path()
    dmc = config.getoption("dmc", None)
    status = config.getoption("status", None)
    try:
        lab = load_lab_config(path)
        if dmc or status:
            lab = lab.select([dmc] if dmc else None, [status] if status else None)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    except OSError as exc:
        raise pytest.UsageError(f"{path}: {exc.strerror or exc}") from None
    config.stash[_LAB] = lab
    return lab


def register_bench(config: pytest.Config, bench: Bench) -> None:
    """Remember a started bench so it is stopped even if the session is torn down abruptly."""
    config.stash[_BENCHES].append(bench)


def evidence_root(config: pytest.Config) -> Path | None:
    out = config.getoption("dmct_out", None)
    return Path(out) / "evidence" if out else None


def _active_bench(config: pytest.Config) -> Bench | None:
    benches = config.stash.get(_BENCHES, [])
    return benches[-1] if benches else None


# -- collection -------------------------------------------------------------------------------

def _pack_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("pack")
    if marker and marker.args:
        return str(marker.args[0])
    parts = Path(str(item.path)).parts
    if "testpacks" in parts:
        index = parts.index("testpacks")
        if index + 2 < len(parts):
            return parts[index + 1]
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    timeout_set = (config.getoption("timeout", None) is not None
                   or os.environ.get("PYTEST_TIMEOUT") or config.getini("timeout"))
    for item in items:
        pack = _pack_of(item)
        if pack and not item.get_closest_marker("pack"):
            item.add_marker(pytest.mark.pack(pack))
        if not timeout_set and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(DEFAULT_TEST_TIMEOUT_S))


# -- applicability ------------------------------------------------------------------------------

def _marker_args(item: pytest.Item, name: str) -> list[str]:
    return [str(a) for m in item.iter_markers(name) for a in m.args]


def pytest_runtest_setup(item: pytest.Item) -> None:
    needs_bench = "bench" in getattr(item, "fixturenames", ())
    roles = _marker_args(item, "device")
    statuses = _marker_args(item, "status")
    if not (needs_bench or roles or statuses or item.get_closest_marker("destructive")):
        return
    lab = lab_config_of(item.config)
    dmc = lab.catalogue.dmc(lab.dmc_ids[0])
    status = lab.installation_statuses[0]
    for role in roles:
        if role not in dmc.roles:
            pytest.skip(f"not applicable: DMC {dmc.id} has no {role}")
        if all(d.role != role for d in lab.installations[0].devices):
            pytest.skip(f"not applicable: bench {lab.bench} has no {role} in its installation")
    if statuses and status not in statuses:
        pytest.skip(f"not applicable: applies to {', '.join(statuses)} installations, "
                    f"not {status}")
    destructive = item.get_closest_marker("destructive") is not None
    if destructive and not lab.is_emulated and not lab.safety.allow_destructive:
        pytest.skip("blocked: destructive test refused on a real bench "
                    "(set safety.allow_destructive in the lab config to allow it)")


# -- evidence and records -----------------------------------------------------------------------

def _slug(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid).strip("_")[:150]


@pytest.fixture(autouse=True)
def _dmct_evidence(request: pytest.FixtureRequest) -> Any:
    """Collect the HAN frames, events and serial transcripts of each test on a bench."""
    item = request.node
    bench = _active_bench(request.config)
    root = evidence_root(request.config)
    if bench is None or bench.runtime is None:
        yield
        return
    directory = root / _slug(item.nodeid) if root is not None else None
    bench.begin_test(directory)
    item.stash[_STARTED] = (time.perf_counter(), bench.clock.now().isoformat())
    try:
        yield
    finally:
        evidence = bench.end_test()
        files: dict[str, Any] = {}
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            if evidence.frames:
                path = directory / "frames.json"
                path.write_text(json.dumps([f.as_dict() for f in evidence.frames], indent=1))
                files["frames"] = str(path)
            if evidence.events:
                path = directory / "events.json"
                path.write_text(json.dumps([e.as_dict() for e in evidence.events], indent=1))
                files["events"] = str(path)
            if evidence.transcripts:
                files["transcripts"] = [str(p) for p in evidence.transcripts]
        files["frame_count"] = len(evidence.frames)
        files["event_count"] = len(evidence.events)
        files["bench_time_end"] = bench.clock.now().isoformat()
        item.stash[_EVIDENCE] = files


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    if report.when == "teardown":
        _write_record(item)
    return report


def _reason(report: pytest.TestReport) -> str | None:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    if report.failed:
        text = report.longreprtext.strip().splitlines()
        # The last "E ..." line is the assertion or exception message.
        errors = [line[1:].strip() for line in text if line.startswith("E ")]
        return (errors[-1] if errors else (text[-1] if text else "failed"))[:500]
    return None


def outcome_of(reports: dict[str, pytest.TestReport]) -> tuple[str, str | None]:
    """``(outcome, reason)`` of a test from its setup/call/teardown reports."""
    setup, call, teardown = (reports.get(w) for w in ("setup", "call", "teardown"))
    for report in (setup, call):
        if report is not None and report.skipped:
            reason = _reason(report) or "skipped"
            if reason.startswith("blocked"):
                return "blocked", reason
            if not reason.startswith("not applicable"):
                reason = f"not applicable: {reason}"
            return "not_applicable", reason
    if setup is not None and setup.failed:
        return "blocked", f"set-up failed: {_reason(setup)}"
    if call is not None and call.failed:
        return "failed", _reason(call)
    if teardown is not None and teardown.failed:
        return "blocked", f"passed, but tear-down failed: {_reason(teardown)}"
    return "passed", None


def _write_record(item: pytest.Item) -> None:
    writer = item.config.stash.get(_WRITER, None)
    if writer is None:
        return
    reports = item.stash.get(_REPORTS, {})
    outcome, reason = outcome_of(reports)
    started = item.stash.get(_STARTED, (None, None))
    evidence = item.stash.get(_EVIDENCE, {})
    wall = sum(r.duration for r in reports.values())
    record = TestRecord(
        id=item.nodeid,
        name=item.name,
        pack=_pack_of(item),
        outcome=outcome,  # type: ignore[arg-type]
        srv=_marker_args(item, "srv"),
        devices=_marker_args(item, "device"),
        markers=sorted({m.name for m in item.iter_markers()}),
        reason=reason,
        bench_time_start=started[1],
        bench_time_end=evidence.pop("bench_time_end", None),
        wall_s=round(wall, 4),
        evidence=evidence,
    )
    writer.write(record)
