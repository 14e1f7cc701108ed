"""The pytest plugin: options, markers, fixtures, applicability, per-test records and evidence.

Registered by the ``pytest11`` entry point (so a lab's own test repository gets it by installing
smets1-dmct) and by this repository's root ``conftest.py``; the entry point's name is the module
name, so the two never register it twice. It declares and wires; the work is done by
:mod:`harness.bench` and friends, which also work outside pytest. Loading it is cheap: zigpy is
imported only when a test asks for the bench.

Options: ``--lab FILE`` (default: ``$DMCT_LAB``, else the packaged ``lab_config/emulated.yaml``),
``--dmc ID``, ``--status dormant|active|mixed``, ``--dmct-out DIR`` (write a record per test and
its evidence, ``run-state.json`` (:mod:`harness.report.manifest`) and ``dmct-report.json``: a run
directory that ``dmct report DIR`` renders, as it does ``dmct run``'s), ``--dmct-resume``
(run only the cases with no record in ``--dmct-out``, appending to it), ``--dmct-pack-path DIR``
(a lab's own pack directory, for the pack names of its cases). A broken lab config given by
``--lab``/``$DMCT_LAB`` stops the run before any test as a usage error (exit 4), one line
``<file>:<line>: <field>: <message>``. Prefer
``--lab=FILE`` to ``--lab FILE`` when FILE lies outside the test directory: pytest chooses its
rootdir and ini file before it knows plugin options, from every argument that names a path.

Markers:

- ``pack(name)``: the test pack (set from the ``testpacks/<pack>/`` directory when absent);
- ``srv("8.11", ...)``: Service Reference Variants the test exercises;
- ``device("PPMID", ...)``: roles the test needs; *not applicable* if the DMC has none (the device
  fixtures ``esme``, ``gsme_optical``, ... count as such a marker);
- ``status("active", ...)``: installation statuses the test applies to;
- ``destructive``: *blocked* on a real bench unless ``safety.allow_destructive`` is set;
- ``security``: a security (negative) test.

A test that does not apply is *skipped with a reason starting "not applicable:"* and recorded as
``not_applicable``, never silently dropped; one that applies but cannot run here (the bench lacks
the device, a destructive test on a real bench, a fixture that failed) is recorded as ``blocked``.
These checks run before any fixture, so a test that does not apply never starts a bench.

Each case starts from emulated randomness of its own: before a case's set-up (and before each
module- or session-scoped fixture it sets up) the plugin reseeds the bench's emulator from the
lab seed, the device and the case (or fixture), so which case meets a seeded defect does not
depend on which cases ran before it, and a resumed run matches an uninterrupted one.

Every test gets a pytest-timeout of :data:`DEFAULT_TEST_TIMEOUT_S` unless the run sets one
(``--timeout``, ini ``timeout``, ``$PYTEST_TIMEOUT``, or a ``timeout`` marker).

Under allure-pytest (``--alluredir``) each pack case gets its DMCT labels, its evidence files as
attachments and, at the end, the severity and link of its Testing Issue
(:mod:`harness.report.allure`). Key material in captured logs is masked
(:mod:`harness.log_redaction`).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.report.records import (
    INTERRUPTED_REASON,
    PLAN_PREFIX,
    PROGRESS_PREFIX,
    RecordWriter,
    TestRecord,
)

if TYPE_CHECKING:
    from harness.bench import Bench
    from harness.config import LabConfig

#: Per-test timeout when the run sets none (pytest-timeout): no test may hang CI.
DEFAULT_TEST_TIMEOUT_S = 300

_LAB = pytest.StashKey["LabConfig"]()
_BENCHES = pytest.StashKey[list["Bench"]]()
_WRITER = pytest.StashKey[RecordWriter | None]()
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
_REASONS = pytest.StashKey[dict[str, str]]()
_TRACEBACKS = pytest.StashKey[dict[str, str]]()
#: Lines of a failure's traceback kept in its record (the end: where it failed and why).
TRACEBACK_LINES = 40
_EVIDENCE = pytest.StashKey[dict[str, Any]]()
#: Frames of a case held back by ``DMCT_EVIDENCE=failed`` (directory, frames, PAN id).
_FRAMES = pytest.StashKey[tuple[Path, list[Any], int]]()
_STARTED = pytest.StashKey[str | None]()
_WRITTEN = pytest.StashKey[bool]()
_SESSION_STARTED = pytest.StashKey[bool]()
_WALL_START = pytest.StashKey[str]()
#: The radio and devices as the bench last knew them (:func:`bench_identity`).
_IDENTITY = pytest.StashKey[dict[str, Any] | None]()
#: Node id of the case being set up or run (what the bench's emulator is seeded for).
_CASE = pytest.StashKey[str]()
#: Every case the run covers, in order, recorded or not (``run-state.json``'s ``planned``).
_PLANNED = pytest.StashKey[list[str]]()
#: Bench faults of the run (:mod:`harness.fault_injection`), and per case those fired before it and
#: the one in effect while it ran.
_FAULTS = pytest.StashKey[Any]()
_FIRED = pytest.StashKey[list[dict[str, Any]]]()
_IN_EFFECT = pytest.StashKey[str | None]()
#: Seed name of the bench's bring-up: the same whichever case starts the bench.
BENCH_SEED_NAME = "bench"

MARKERS = {
    "pack(name)": "the DMCT test pack this test belongs to",
    "srv(*srvs)": "Service Reference Variants this test exercises",
    "device(*roles)": "device roles the test needs (not applicable if the DMC has none)",
    "status(*statuses)": "installation statuses the test applies to",
    "destructive": "may change device state irreversibly; blocked on a real bench unless "
    "safety.allow_destructive is set",
    "security": "a device security (negative) test",
    "refused_by_device": "a security case whose attempt the device refuses (observed over the "
    "HAN or a serial port)",
    "refused_by_dcc": "a security case whose attempt the DCC side (the S1SP model) refuses "
    "before any device is contacted: an access-control check of the DCC",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dmct", "SMETS1 DMCT harness")
    group.addoption("--lab", default=None, metavar="FILE",
                    help="lab config file (default: $DMCT_LAB, else the emulated bench)")
    group.addoption("--dmc", default=None, metavar="ID",
                    help="DMC id under test (default: the lab config's first)")
    group.addoption("--status", default=None, choices=("dormant", "active", "mixed"),
                    help="installation status under test (default: the lab config's first)")
    group.addoption("--dmct-out", default=None, metavar="DIR",
                    help="write DIR/records.jsonl (one record per test, as it finishes) and "
                    "DIR/evidence/")
    group.addoption("--dmct-pack-path", action="append", default=[], metavar="DIR",
                    help="a lab's own pack directory: its test files are pack DIR's name, or "
                    "the name of the directory under DIR they are in")
    group.addoption("--dmct-progress", action="store_true", default=False,
                    help="print one machine-readable line per finished test (for dmct run)")
    group.addoption("--dmct-fault", action="append", default=[], metavar="KIND[:TARGET]@WHEN",
                    help="inject a bench fault during the run, repeatable "
                    "(harness.fault_injection; e.g. power-off:ESME@case:test_register*)")
    group.addoption("--dmct-resume", action="store_true", default=False,
                    help="with --dmct-out: run only the cases with no record there (a case the "
                    "run was interrupted in runs again), appending to its records")


def pytest_configure(config: pytest.Config) -> None:
    for marker, description in MARKERS.items():
        config.addinivalue_line("markers", f"{marker}: {description}")
    config.stash[_BENCHES] = []
    out = config.getoption("dmct_out", None)
    resume = bool(out) and config.getoption("dmct_resume", False)
    controller = not hasattr(config, "workerinput")
    if out and controller:
        _prepare_out(Path(out), resume=resume)
    # Under pytest-xdist the controller starts records.jsonl afresh and the workers append.
    config.stash[_WRITER] = RecordWriter(Path(out)) if out else None
    if resume:
        config.pluginmanager.register(ResumeSelection(Path(out)), "dmct-resume")
    from fixtures import bench as bench_fixtures
    from fixtures import dcc as dcc_fixtures

    for module, name in ((bench_fixtures, "dmct-fixtures"), (dcc_fixtures, "dmct-dcc-fixtures")):
        if not config.pluginmanager.is_registered(module):
            config.pluginmanager.register(module, name)
    if controller:  # not the children of this process: their parent is not dmct
        watch_parent(os.environ.pop("DMCT_WATCH_PARENT", None))
    from harness.config.environment import BadEnvironment, check_environment

    try:
        check_environment()
    except BadEnvironment as exc:
        raise pytest.UsageError(str(exc)) from None
    explicit = any(config.getoption(o, None) for o in ("lab", "dmc", "status", "dmct_out"))
    if explicit or os.environ.get("DMCT_LAB") or config.getoption("dmct_fault", None):
        lab_config_of(config)  # configuration errors stop the run before any test
        _fault_schedule(config)


def _fault_schedule(config: pytest.Config) -> Any:
    """The run's bench faults (lab config ``faults:`` and ``--dmct-fault``), checked against
    the bench; ``None`` when there are none. A bad one is a usage error (one line)."""
    if _FAULTS in config.stash:
        return config.stash[_FAULTS]
    specs = [*getattr(lab_config_of(config), "faults", []),
             *(config.getoption("dmct_fault", None) or [])]
    schedule = None
    if specs:
        from harness.fault_injection import FaultError, FaultSchedule, check_faults, parse_fault
        from harness.report.records import finished_records

        try:
            faults = [parse_fault(spec) for spec in specs]
            check_faults(faults, lab_config_of(config))
        except FaultError as exc:
            _usage_error(config, f"--dmct-fault / faults: {exc}")
        out = config.getoption("dmct_out", None)
        if out and not hasattr(config, "workerinput"):
            # A resumed run takes over what fired before the cases it keeps.
            resume = bool(config.getoption("dmct_resume", False))
            kept = {r.id for r in finished_records(Path(out))} if resume else set()
            schedule = FaultSchedule.start(faults, Path(out), resume=resume, kept=kept)
        else:
            schedule = FaultSchedule(faults, out=Path(out) if out else None)
    config.stash[_FAULTS] = schedule
    return schedule


#: How often a child without PR_SET_PDEATHSIG looks at its parent (wall time: a real process).
PARENT_WATCH_S = 1.0


def watch_parent(parent: str | None, interval: float = PARENT_WATCH_S) -> Any:
    """Where ``dmct`` could not have the kernel signal its pytest child when it dies (not
    Linux: :mod:`harness.cli.child`), a daemon thread does: once the parent ``parent`` is gone
    (the child re-parented), SIGINT to this process, which stops as on Ctrl-C. The thread, or
    ``None`` when there is no parent to watch."""
    import signal
    import threading

    if not parent or not parent.isdigit():
        return None
    expected = int(parent)
    if os.getppid() != expected:
        os.kill(os.getpid(), signal.SIGINT)
        return None
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(interval):
            if os.getppid() != expected:
                os.kill(os.getpid(), signal.SIGINT)
                return

    thread = threading.Thread(target=watch, name="dmct-parent-watch", daemon=True)
    thread.start()
    return thread


def _prepare_out(out: Path, *, resume: bool) -> None:
    """A fresh run starts its records and run state afresh; a resumed one keeps the records
    of the cases that finished (and drops the record of a case it was interrupted in)."""
    from harness.report.manifest import STATE_FILE
    from harness.report.provenance import SESSIONS_FILE
    from harness.report.records import RECORDS_FILE, keep_finished

    out.mkdir(parents=True, exist_ok=True)
    if resume:
        keep_finished(out)
    else:
        (out / RECORDS_FILE).unlink(missing_ok=True)
        (out / STATE_FILE).unlink(missing_ok=True)
        (out / SESSIONS_FILE).unlink(missing_ok=True)


class ResumeSelection:
    """``--dmct-resume``: deselects the cases that already have a record of a finished case.

    Registered as a plugin of its own so that its ``pytest_collection_modifyitems`` runs last,
    after ``-k``/``-m`` have chosen the run's cases: what is left is the run's plan.
    """

    def __init__(self, out: Path) -> None:
        from harness.report.records import finished_records

        self.recorded = {r.id for r in finished_records(out)}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        config.stash[_PLANNED] = [item.nodeid for item in items]
        done = [item for item in items if item.nodeid in self.recorded]
        if done:
            items[:] = [item for item in items if item.nodeid not in self.recorded]
            config.hook.pytest_deselected(items=done)


def _planned(session: pytest.Session) -> list[str] | None:
    """The run's cases in order; ``None`` under xdist, whose controller collects nothing."""
    if session.config.pluginmanager.has_plugin("dsession"):
        return None
    return session.config.stash.get(_PLANNED, None) or [i.nodeid for i in session.items]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With ``--dmct-out``, write ``dmct-report.json`` from the run's records (all of them,
    when resumed), then mark the run finished or interrupted in ``run-state.json``."""
    config = session.config
    out = config.getoption("dmct_out", None)
    if not out or hasattr(config, "workerinput"):
        return
    from harness.report.build import write_run_report
    from harness.report.manifest import RunState, write_run_state
    from harness.report.records import finished_records

    lab = lab_config_of(config)
    from harness.report.provenance import record_session

    record_session(Path(out), {
        "wall_start": config.stash.get(_WALL_START, None),
        "wall_end": datetime.now(UTC).isoformat(), "exit_status": int(exitstatus),
        "bench": (bench_identity(_active_bench(config))
                  or config.stash.get(_IDENTITY, None)),
    }, fresh=not config.getoption("dmct_resume", False))
    interrupted = exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR)
    state = RunState("interrupted" if interrupted else "finished", _planned(session))
    complete = state.finished and not state.missing(finished_records(Path(out)))
    report = write_run_report(Path(out), lab, complete=complete)
    from harness.report.allure import allure_active, annotate_results

    if allure_active(config):  # severity and issue links: known only now (harness.report.allure)
        from harness.report.allure_env import write_allure_environment

        annotate_results(Path(config.option.allure_report_dir), report)
        write_allure_environment(Path(config.option.allure_report_dir), report)
    # Last: a run killed before this point is not finished, and a resume completes it.
    write_run_state(Path(out), state.state, state.planned)


def bench_identity(bench: Bench | None) -> dict[str, Any] | None:
    """The radio and the devices as the bench knows them (the report's provenance): what the
    coordinator reported and what zigpy's interview read of each joined device (manufacturer,
    model; firmware when a case read it). Nothing is sent to a device."""
    if bench is None or bench.app is None:
        return None
    try:
        node = bench.app.state.node_info
        radio = {"type": bench.lab.radio.type, "ieee": str(node.ieee),
                 "manufacturer": node.manufacturer, "model": node.model,
                 "firmware": node.version}
        devices = []
        for role, device in bench.devices.items():
            entry: dict[str, Any] = {"role": role, "eui64": device.eui,
                                     "profile": device.profile.id, "joined": device.is_joined}
            if device.is_joined:
                zdev = device.zigbee.zigpy_device
                entry["manufacturer"], entry["model"] = zdev.manufacturer, zdev.model
                basic = [ep.in_clusters[0] for epid, ep in zdev.endpoints.items()
                         if epid and 0 in getattr(ep, "in_clusters", {})]
                firmware = basic[0].get("sw_build_id") if basic else None
                entry["firmware"] = str(firmware) if firmware is not None else None
            devices.append(entry)
        return {"radio": radio, "devices": devices}
    except Exception as exc:  # a report is still written when the bench cannot say
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


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
        _usage_error(config, str(exc))
    except OSError as exc:
        _usage_error(config, f"{path}: {exc.strerror or exc}")
    config.stash[_LAB] = lab
    return lab


def _usage_error(config: pytest.Config, message: str) -> Any:
    if config.stash.get(_SESSION_STARTED, False):
        # Loaded lazily, inside a test: a UsageError would be an internal error there.
        pytest.exit(message, returncode=pytest.ExitCode.USAGE_ERROR)
    raise pytest.UsageError(message) from None


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_SESSION_STARTED] = True
    # The run's wall-clock window (a report's provenance): a calendar fact, not bench time.
    session.config.stash[_WALL_START] = datetime.now(UTC).isoformat()
    _redact_logged_keys(session.config)
    from harness.report.allure import allure_active

    if allure_active(session.config):  # no fixture containers (harness.report.allure_listener)
        from harness.report.allure_listener import lean_allure

        lean_allure(session.config)


#: Attributes of pytest's logging plugin holding the handlers every captured record goes
#: through (captured logs of reports and Allure, ``caplog``, ``--log-cli-level``, ``--log-file``).
_LOG_HANDLERS = ("caplog_handler", "report_handler", "log_cli_handler", "log_file_handler")


def _redact_logged_keys(config: pytest.Config) -> None:
    """Mask key material zigpy logs at DEBUG (the network key) wherever pytest keeps logs."""
    import logging

    from harness import log_redaction

    plugin = config.pluginmanager.get_plugin("logging-plugin")
    handlers = [getattr(plugin, name, None) for name in _LOG_HANDLERS]
    log_redaction.install([h for h in handlers if isinstance(h, logging.Handler)])


def register_bench(config: pytest.Config, bench: Bench) -> None:
    """Remember a started bench so it is stopped even if the session is torn down abruptly.

    Its bring-up is seeded the same whichever case starts it (see :func:`pytest_fixture_setup`).
    """
    config.stash[_BENCHES].append(bench)
    bench.begin_case(BENCH_SEED_NAME)


def evidence_root(config: pytest.Config) -> Path | None:
    out = config.getoption("dmct_out", None)
    return Path(out) / "evidence" if out else None


def _active_bench(config: pytest.Config) -> Bench | None:
    benches: list[Bench] = config.stash.get(_BENCHES, [])
    for bench in reversed(benches):
        if bench.runtime is not None and bench.app is not None:  # started and not stopped
            return bench
    return None


# -- collection -------------------------------------------------------------------------------

def _pack_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("pack")
    if marker and marker.args:
        return str(marker.args[0])
    for root in item.config.getoption("dmct_pack_path", None) or []:
        with contextlib.suppress(ValueError):
            inside = Path(str(item.path)).resolve().relative_to(Path(root).resolve())
            return inside.parts[0] if len(inside.parts) > 1 else Path(root).resolve().name
    parts = Path(str(item.path)).parts
    if "testpacks" in parts:
        index = parts.index("testpacks")
        if index + 2 < len(parts):
            return parts[index + 1]
    return None


def _timeout_configured(config: pytest.Config) -> bool:
    """Whether the run sets a pytest-timeout itself (then the plugin leaves it alone)."""
    if config.getoption("timeout", None) is not None or os.environ.get("PYTEST_TIMEOUT"):
        return True
    try:
        return bool(config.getini("timeout"))
    except ValueError:  # pytest-timeout not loaded: no such ini key
        return False


@pytest.hookimpl(tryfirst=True)  # before allure-pytest selects by label (--allure-stories ...)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Without pytest-timeout (-p no:timeout) a timeout marker would only be noise (or an error
    # under --strict-markers).
    add_timeout = config.pluginmanager.hasplugin("timeout") and not _timeout_configured(config)
    for item in items:
        pack = _pack_of(item)
        if pack and not item.get_closest_marker("pack"):
            item.add_marker(pytest.mark.pack(pack))
        if add_timeout and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(DEFAULT_TEST_TIMEOUT_S))
    _allure_labels(config, items)


def _allure_labels(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under allure-pytest, label each pack case (DMC, pack, SRVs, status; see
    :mod:`harness.report.allure`)."""
    from harness.report.allure import allure_active, case_labels, label_item
    from harness.report.issues import case_id_of

    cases = [item for item in items if _pack_of(item)]
    if not cases or not allure_active(config):
        return
    lab = lab_config_of(config)
    dmc, status = lab.dmc_ids[0], lab.installation_statuses[0]
    for item in cases:
        label_item(item, case_labels(dmc=dmc, status=status, pack=_pack_of(item),
                                     srvs=_marker_args(item, "srv"), case=case_id_of(item.nodeid),
                                     module=Path(str(item.path)).stem))


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Any:
    """Collect (import the packs, build the items) with the garbage collector off, then
    :func:`_freeze_collected_heap`."""
    gc.disable()
    try:
        return (yield)
    finally:
        _freeze_collected_heap(session.config)
        gc.enable()


def pytest_collection_finish(session: pytest.Session) -> None:
    out = session.config.getoption("dmct_out", None)
    if out and not hasattr(session.config, "workerinput"):
        from harness.report.manifest import write_run_state

        write_run_state(Path(out), "running", _planned(session))
    if session.config.getoption("dmct_progress", False):
        tests = [{"id": i.nodeid, "srv": _marker_args(i, "srv"), "pack": _pack_of(i)}
                 for i in session.items]
        if session.config.option.collectonly:  # dmct run --collect-only: what would run
            for test, item in zip(tests, session.items, strict=True):
                test["inapplicable"] = inapplicable(item)
        _progress(session.config, PLAN_PREFIX, {"tests": tests})


def _freeze_collected_heap(config: pytest.Config) -> None:
    """Leave what start-up and collection built (modules, zigpy's and hypothesis's tables, the
    items) out of every later garbage collection, and have pytest collect once, not five times,
    when the session ends: a tenth of an entry's CPU was the collector walking that heap again
    and again (during imports too). It lives as long as the process anyway; cycles made later
    are still found."""
    gc.freeze()
    with contextlib.suppress(ImportError):  # pytest's own knob (a stash item for pytester)
        from _pytest.unraisableexception import gc_collect_iterations_key

        config.stash[gc_collect_iterations_key] = 1


# -- applicability ------------------------------------------------------------------------------

def _marker_args(item: pytest.Item, name: str) -> list[str]:
    return [str(a) for m in item.iter_markers(name) for a in m.args]


def _roles_needed(item: pytest.Item) -> list[str]:
    """Roles named by ``device`` markers and by the device fixtures the test requests."""
    from fixtures.bench import device_fixture_names

    by_fixture = device_fixture_names()
    roles = _marker_args(item, "device")
    roles += [by_fixture[f] for f in getattr(item, "fixturenames", ()) if f in by_fixture]
    return list(dict.fromkeys(roles))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip what does not apply (or cannot run here) before any fixture starts a bench; seed
    the bench's emulator for the case before any of its fixtures runs."""
    item.config.stash[_CASE] = item.nodeid
    bench = _active_bench(item.config)
    if bench is not None:
        bench.begin_case(item.nodeid)
    schedule = item.config.stash.get(_FAULTS, None)
    if schedule is not None:  # the faults in effect, kept even for a case skipped below
        item.stash[_IN_EFFECT] = schedule.in_effect(item.nodeid)
    reason = inapplicable(item)
    if reason is not None:
        _skip(reason)


def inapplicable(item: pytest.Item) -> str | None:
    """Why ``item`` does not apply here (``not applicable: ...``) or cannot run here
    (``blocked: ...``), from its markers and the lab config alone; ``None`` when it runs.

    Also what ``dmct run --collect-only`` says of each case without running it.
    """
    needs_bench = "bench" in getattr(item, "fixturenames", ())
    roles = _roles_needed(item)
    statuses = _marker_args(item, "status")
    destructive = item.get_closest_marker("destructive") is not None
    if not (needs_bench or roles or statuses or destructive):
        return None
    lab = lab_config_of(item.config)
    dmc = lab.catalogue.dmc(lab.dmc_ids[0])
    status = lab.installation_statuses[0]
    for role in roles:
        if role not in dmc.roles:
            return f"not applicable: DMC {dmc.id} has no {role}"
    if statuses and status not in statuses:
        return f"not applicable: applies to {', '.join(statuses)} installations, not {status}"
    installed = {d.role for d in lab.installations[0].devices}
    for role in roles:
        if role not in installed:
            return (f"blocked: DMC {dmc.id} has a {role} but installation "
                    f"{lab.installations[0].id} of bench {lab.bench} has none")
    if destructive and not lab.is_emulated and not lab.safety.allow_destructive:
        return ("blocked: destructive test refused on a real bench "
                "(set safety.allow_destructive in the lab config to allow it)")
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """Fire the bench faults due before this case's body (its fixtures have run: the bench is
    up); the case runs with them in effect."""
    schedule = item.config.stash.get(_FAULTS, None)
    bench = _active_bench(item.config)
    if schedule is None or bench is None:
        return
    fired = schedule.before_case(bench, item.nodeid)
    if fired:
        item.stash[_FIRED] = fired
    item.stash[_IN_EFFECT] = schedule.in_effect(item.nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
                         ) -> Any:
    """A module- or session-scoped fixture (a migration, the bench) runs on randomness of its
    own, not on that of whichever case happens to set it up; the case's own starts after it.

    So an uninterrupted run and one resumed in the middle of a module set the fixture up, and
    run the case, on the same emulated randomness.
    """
    if fixturedef.scope == "function":
        return (yield)
    bench = _active_bench(request.config)
    if bench is not None:
        bench.begin_case(f"{fixturedef.argname}@{request.node.nodeid}")
    try:
        return (yield)
    finally:
        case = request.config.stash.get(_CASE, None)
        bench = _active_bench(request.config)
        if bench is not None and case is not None:
            bench.begin_case(case)


def _skip(reason: str) -> None:
    """Skip the test, reported at the test's location (as a skip marker is), not at this line."""
    try:
        exc = pytest.skip.Exception(reason, _use_item_location=True)
    except TypeError:  # pragma: no cover - a pytest without that keyword
        exc = pytest.skip.Exception(reason)
    raise exc


# -- evidence and records -----------------------------------------------------------------------

def _slug(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid).strip("_")[:150]


def _relative(path: Path, config: pytest.Config) -> str:
    """``path`` relative to the ``--dmct-out`` directory when inside it (records stay valid
    when the results directory is moved or archived), else as it is."""
    out = config.getoption("dmct_out", None)
    if out:
        with contextlib.suppress(ValueError):
            return Path(path).resolve().relative_to(Path(out).resolve()).as_posix()
    return str(path)


@pytest.fixture(autouse=True)
def _dmct_evidence(request: pytest.FixtureRequest) -> Any:
    """Collect the HAN frames, events and serial transcripts of each test on a bench."""
    item = request.node
    bench = _active_bench(request.config)
    root = evidence_root(request.config)
    if bench is None:
        yield
        return
    directory = root / _slug(item.nodeid) if root is not None else None
    if directory is not None and directory.is_dir():
        shutil.rmtree(directory)  # left by an earlier run of this case (one killed in it)
    bench.begin_test(directory)
    item.stash[_STARTED] = bench.clock.now().isoformat()
    try:
        yield
    finally:
        evidence = bench.end_test()
        files: dict[str, Any] = {}
        if directory is not None:
            if evidence.events or evidence.dcc:  # (frames make theirs: _write_frames)
                directory.mkdir(parents=True, exist_ok=True)
            if evidence.frames:
                frames = (directory, evidence.frames, bench.lab.radio.pan_id)
                if _frames_kept(item):
                    _write_frames(request.config, files, *frames)
                else:  # written after all if the case's tear-down fails (it is blocked then)
                    item.stash[_FRAMES] = frames
            if evidence.events:
                path = directory / "events.json"
                path.write_text(json.dumps([e.as_dict() for e in evidence.events]))
                files["events"] = _relative(path, request.config)
            if evidence.dcc:
                path = directory / "dcc.json"
                path.write_text(json.dumps([d.as_dict() for d in evidence.dcc], default=str))
                files["dcc"] = _relative(path, request.config)
            if evidence.transcripts:
                files["transcripts"] = [_relative(p, request.config)
                                        for p in evidence.transcripts]
        if evidence.notes:
            files["notes"] = evidence.notes
        files["frame_count"] = len(evidence.frames)
        files["event_count"] = len(evidence.events)
        files["dcc_count"] = len(evidence.dcc)
        files["bench_time_end"] = bench.clock.now().isoformat()
        item.stash[_EVIDENCE] = files
        if root is not None:  # the bench as last seen, for the report's provenance
            request.config.stash[_IDENTITY] = bench_identity(bench)


#: Which cases keep their ZigBee frames (``frames.json``, ``frames.pcap``): ``all`` (the
#: default), or ``failed``: only failed and blocked ones (``dmct run``'s default, ``--evidence``).
#: Every case keeps its HAN events, Service Requests, transcripts and frame count either way.
EVIDENCE_ENV = "DMCT_EVIDENCE"


def _frames_kept(item: pytest.Item) -> bool:
    if os.environ.get(EVIDENCE_ENV, "all") != "failed":
        return True
    outcome, _reason = outcome_of(item.stash.get(_REPORTS, {}), item.stash.get(_REASONS, {}))
    return outcome in ("failed", "blocked")


def _write_frames(config: pytest.Config, files: dict[str, Any], directory: Path,
                  frames: list[Any], pan_id: int) -> None:
    from harness.han.pcap import write_pcap

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "frames.json"
    path.write_text(json.dumps([f.as_dict() for f in frames]))
    files["frames"] = _relative(path, config)
    pcap = directory / "frames.pcap"
    write_pcap(pcap, frames, pan_id=pan_id)
    files["pcap"] = _relative(pcap, config)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Under allure-pytest, attach the case's evidence files to its result once they are
    written (the evidence fixture has torn down)."""
    try:
        return (yield)
    finally:
        out = item.config.getoption("dmct_out", None)
        evidence = item.stash.get(_EVIDENCE, None)
        if out and evidence:
            from harness.report.allure import attach_evidence

            attach_evidence(Path(out), evidence)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield  # tryfirst: the outermost wrapper, so xfail handling is already applied
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    if report.failed and call.excinfo is not None:
        item.stash.setdefault(_REASONS, {})[report.when] = _exception_reason(call.excinfo)
    if report.failed:
        item.stash.setdefault(_TRACEBACKS, {})[report.when] = _traceback_text(report)
    if report.when == "teardown":
        held = item.stash.get(_FRAMES, None)
        if held is not None and report.failed and _EVIDENCE in item.stash:
            _write_frames(item.config, item.stash[_EVIDENCE], *held)
        _write_record(item)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    try:
        return (yield)
    except BaseException as exc:  # KeyboardInterrupt, pytest.exit(): the test never finished
        if not item.stash.get(_WRITTEN, False):
            _write_record(item, interrupted=f"{INTERRUPTED_REASON} ({type(exc).__name__})")
        raise


def _traceback_text(report: pytest.TestReport) -> str:
    """The end of a failed phase's traceback as pytest shows it, key material masked."""
    from harness.log_redaction import redact

    lines = report.longreprtext.rstrip().splitlines()
    if len(lines) > TRACEBACK_LINES:
        lines = ["...", *lines[-TRACEBACK_LINES:]]
    return redact("\n".join(lines))


def _one_line(text: str, limit: int = 500) -> str:
    """A reason as records keep it: one line, bounded, and printable (a device's strings
    quoted in an assertion may hold terminal escape codes): :func:`harness.text.clip`."""
    from harness.text import clip

    return clip(text, limit)


def _exception_reason(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """The assertion message or exception of a failed phase, as one line; a bench fault (a port
    that vanished, no person to switch a supply) says so, and the case is blocked, not failed."""
    from harness.faults import BENCH_FAULT_PREFIX, BenchFault

    exc = excinfo.value
    text = str(exc).strip()
    if isinstance(exc, BenchFault):
        return _one_line(f"{BENCH_FAULT_PREFIX}{type(exc).__name__}: {text}")
    if isinstance(exc, AssertionError):
        # pytest's assertion rewriting appends its explanation ("assert 1 == 2 ...") after the
        # message; keep the message when there is one.
        lines = text.splitlines()
        explanation = next((i for i, line in enumerate(lines) if line.startswith("assert ")), None)
        if explanation == 0:  # no message: "assert x == y" is the best there is
            lines = lines[:1]
        elif explanation is not None:
            lines = lines[:explanation]
        return _one_line(" ".join(lines)) or "assertion failed"
    if isinstance(exc, pytest.fail.Exception):  # pytest.fail(), pytest-timeout
        return _one_line(text) or "failed"
    name = type(exc).__name__
    return _one_line(f"{name}: {text}" if text else name)


def _reason(report: pytest.TestReport, reasons: dict[str, str]) -> str | None:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    if report.failed:
        if report.when in reasons:
            return reasons[report.when]
        text = report.longreprtext.strip().splitlines()
        errors = [line[1:].strip() for line in text if line.startswith("E ")]
        return _one_line(errors[0] if errors else (text[-1] if text else "failed"))
    return None


def outcome_of(
    reports: dict[str, pytest.TestReport], reasons: dict[str, str] | None = None
) -> tuple[str, str | None]:
    """``(outcome, reason)`` of a test from its setup/call/teardown reports."""
    reasons = reasons or {}
    setup, call, teardown = (reports.get(w) for w in ("setup", "call", "teardown"))
    for report in (setup, call):
        if report is not None and hasattr(report, "wasxfail") and report.skipped:
            # An expected failure is still a failure of the device under test.
            return "failed", _one_line(f"known failure (xfail): {report.wasxfail or 'no reason'}")
        if report is not None and report.skipped:
            reason = _reason(report, reasons) or "skipped"
            if reason.startswith("blocked"):
                return "blocked", reason
            if not reason.startswith("not applicable"):
                reason = f"not applicable: {reason}"
            return "not_applicable", reason
    if setup is not None and setup.failed:
        return "blocked", f"set-up failed: {_reason(setup, reasons)}"
    if call is not None and call.failed:
        from harness.faults import BENCH_FAULT_PREFIX

        failure = _reason(call, reasons)
        if failure is not None and failure.startswith(BENCH_FAULT_PREFIX):
            return "blocked", failure  # harness.faults.BenchFault: the device was not judged
        return "failed", failure
    if teardown is not None and teardown.failed:
        return "blocked", f"passed, but tear-down failed: {_reason(teardown, reasons)}"
    return "passed", None


def _write_record(item: pytest.Item, interrupted: str | None = None) -> None:
    item.stash[_WRITTEN] = True
    schedule, bench = item.config.stash.get(_FAULTS, None), _active_bench(item.config)
    if schedule is not None and bench is not None and not interrupted:
        schedule.after_case(bench, item.nodeid)  # before the record: a kept case has its line
    writer = item.config.stash.get(_WRITER, None)
    progress = item.config.getoption("dmct_progress", False)
    if writer is None and not progress:
        return
    reports = item.stash.get(_REPORTS, {})
    reason: str | None
    if interrupted:
        outcome, reason = "blocked", interrupted
    else:
        outcome, reason = outcome_of(reports, item.stash.get(_REASONS, {}))
    kept: dict[str, Any] = item.stash.get(_EVIDENCE, {})
    evidence = dict(kept)
    wall = sum(r.duration for r in reports.values())
    extra: dict[str, Any] = {}
    if item.stash.get(_FIRED, None):
        extra["bench_faults"] = item.stash[_FIRED]
    if item.stash.get(_IN_EFFECT, None):
        extra["bench_fault"] = item.stash[_IN_EFFECT]
    record = TestRecord(
        id=item.nodeid,
        name=item.name,
        pack=_pack_of(item),
        outcome=outcome,  # type: ignore[arg-type]
        srv=_marker_args(item, "srv"),
        devices=_roles_needed(item),
        markers=sorted({m.name for m in item.iter_markers()}),
        reason=reason,
        bench_time_start=item.stash.get(_STARTED, None),
        bench_time_end=evidence.pop("bench_time_end", None),
        wall_s=round(wall, 4),
        evidence=evidence,
        extra=extra,
        traceback=_record_traceback(outcome, item.stash.get(_TRACEBACKS, {})),
    )
    if writer is not None:
        writer.write(record)
    if progress:
        _progress(item.config, PROGRESS_PREFIX, record.as_dict())


def _record_traceback(outcome: str, tracebacks: dict[str, str]) -> str | None:
    if outcome not in ("failed", "blocked"):
        return None
    return next((tracebacks[w] for w in ("call", "setup", "teardown") if w in tracebacks), None)


def _progress(config: pytest.Config, prefix: str, data: dict[str, Any]) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(prefix + json.dumps(data, sort_keys=True, default=str))
        reporter.flush()
