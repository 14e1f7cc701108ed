"""The pytest plugin, seen from inner pytest sessions (pytester).

Every inner session runs in a subprocess (``runpytest_subprocess``), never in-process: in this
process the plugin is already imported and registered (root conftest), so an in-process session
would share its module state and could not show how a fresh ``pytest`` finds it (entry point or
conftest); and the sessions that end with ``os._exit`` or Ctrl-C, or must not hang, can only be
watched from outside. A session costs one interpreter start (about a second; the bench adds
zigpy's import), so checks share sessions: one session runs the marker, record and evidence
tests together.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import re
from pathlib import Path

import pytest
from labkit import BROKEN_LABS, EMULATED_LAB, EXAMPLE_BENCH, LabFiles, line_of

from harness.pytest_plugin import DEFAULT_TEST_TIMEOUT_S

INNER_TIMEOUT_S = 60  # wall-time guard: an inner session that hangs fails the test


#: Plugins the inner sessions do without: hypothesis' alone takes a second to import.
NO_PLUGINS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*NO_PLUGINS, "-rs", *args, timeout=INNER_TIMEOUT_S)


def outcomes(result: pytest.RunResult, **expected: int) -> None:
    """The inner session's outcome counts, with its whole output when they differ."""
    got = result.parseoutcomes()
    got = {k: v for k, v in got.items() if k in expected or v}
    assert got == expected, "\n".join([*result.outlines, *result.errlines])


REGISTERED_ONCE = """
def _assert_registered_once(config):
    pm = config.pluginmanager
    plugins = [p for p in pm.get_plugins()
               if getattr(p, "__name__", None) == "harness.pytest_plugin"]
    assert len(plugins) == 1, pm.list_name_plugin()
    assert pm.get_plugin("harness.pytest_plugin") is plugins[0]
    fixtures = [p for p in pm.get_plugins() if getattr(p, "__name__", None) == "fixtures.bench"]
    assert len(fixtures) == 1, pm.list_name_plugin()
"""


# -- 1. registration ----------------------------------------------------------------------------

def test_entry_point_names_the_plugin_module():
    (entry,) = [e for e in importlib.metadata.entry_points(group="pytest11")
                if e.value == "harness.pytest_plugin"]
    # Same name as the module: the root conftest's pytest_plugins entry is then the same plugin.
    assert entry.name == "harness.pytest_plugin"
    assert entry.load().__name__ == "harness.pytest_plugin"


# -- 3 and 4: markers, applicability, records and evidence, in one session ----------------------

MARKERS_AND_RECORDS = REGISTERED_ONCE + """
import pytest


def test_plugin_registered_once_by_entry_point(request, lab_config):
    _assert_registered_once(request.config)
    assert lab_config.dmc_ids == ["TEST-NOGAS-DMC"]
    assert lab_config.installation_statuses == ["dormant"]


def test_default_timeout(request):
    marker = request.node.get_closest_marker("timeout")
    assert marker is not None and marker.args == (DEFAULT_TIMEOUT,), marker


@pytest.mark.device("GSME")
def test_needs_gsme_by_marker():
    raise AssertionError("ran although the DMC has no GSME")


@pytest.mark.status("active")
def test_active_installations_only():
    raise AssertionError("ran on a dormant installation")


def test_needs_gsme_by_fixture(gsme):
    raise AssertionError("ran although the DMC has no GSME")


@pytest.mark.destructive
def test_destructive_on_the_emulated_bench(bench):
    assert bench.is_emulated


@pytest.mark.srv("4.1.1")
def test_reads_the_register(esme):
    assert esme.read_register_kwh() > 0


@pytest.mark.srv("8.11")
def test_rejoins_the_ppmid(bench, ppmid):
    bench.chf.remove_device(ppmid.eui)
    ppmid.commission()
    assert ppmid.is_joined


@pytest.mark.srv("4.1.1", "8.11")
def test_register_check_fails(esme):
    value = esme.read_register_kwh()
    assert value < 0, f"register {value} kWh is not negative"


def test_needs_the_esme_optical_probe(esme_optical):
    raise AssertionError("ran without an optical probe")


@pytest.fixture
def unplugged_probe():
    raise RuntimeError("optical probe unplugged")


def test_fixture_fails(unplugged_probe):
    raise AssertionError("ran without its fixture")


@pytest.mark.pack("custom")
def test_pack_from_marker():
    pass


@pytest.mark.xfail(reason="known defect DEF-1")
def test_known_failure():
    assert False
"""


def run_nogas_session(pytester: pytest.Pytester) -> tuple[pytest.RunResult, Path]:
    """One inner session, no conftest (entry point only), on an emulated DMC without GSME."""
    files = LabFiles(pytester.path / "lab")
    files.dmc("TEST-NOGAS-DMC", without=("GSME",))
    # Without --dmc/--status the run would test REF-DMC-001 (it has a GSME) and active
    # installations: the options must choose the second DMC and status.
    lab = files.lab(dmc="[REF-DMC-001, TEST-NOGAS-DMC]", edit={
        "installation_status: [dormant, active, mixed]": "installation_status: [active, dormant]",
        # The ESME has an optical port (its profile says so) but no probe on this bench.
        "serial: [esme-optical, esme-console]": "serial: [esme-console]",
    })
    pytester.makepyfile(test_markers=MARKERS_AND_RECORDS.replace(
        "DEFAULT_TIMEOUT", str(DEFAULT_TEST_TIMEOUT_S)))
    pack_test = pytester.path / "testpacks" / "demo" / "test_in_pack.py"
    pack_test.parent.mkdir(parents=True)
    pack_test.write_text("def test_pack_from_directory():\n    pass\n")
    assert not list(pytester.path.rglob("conftest.py"))
    result = run(pytester, "test_markers.py", str(pack_test), "--lab", str(lab),
                 "--dmc", "TEST-NOGAS-DMC", "--status", "dormant", "--dmct-out", "out")
    return result, pytester.path / "out"


def test_markers_applicability_records_and_evidence(pytester, read_records):
    """Sections 1 (entry point alone), 3 (markers) and 4 (records): one inner session."""
    result, out = run_nogas_session(pytester)
    outcomes(result, passed=7, failed=1, skipped=4, errors=1, xfailed=1)
    # -rs summary: each skip at the test's own line (not the plugin's), reason first.
    source = out.parent / "test_markers.py"
    skips = sorted(line for line in result.outlines
                   if line.startswith("SKIPPED") and "not applicable" in line)
    assert skips == sorted([  # a decorated test starts at its first decorator
        f"SKIPPED [1] test_markers.py:{line_of(source, start)}: {reason}"
        for start, reason in (
            ('@pytest.mark.device("GSME")', "not applicable: DMC TEST-NOGAS-DMC has no GSME"),
            ('@pytest.mark.status("active")',
             "not applicable: applies to active installations, not dormant"),
            ("def test_needs_gsme_by_fixture(", "not applicable: DMC TEST-NOGAS-DMC has no GSME"))
    ]), skips

    records = read_records(out)
    assert list(records) == [  # one per test, in the order they ran
        "test_plugin_registered_once_by_entry_point", "test_default_timeout",
        "test_needs_gsme_by_marker", "test_active_installations_only",
        "test_needs_gsme_by_fixture", "test_destructive_on_the_emulated_bench",
        "test_reads_the_register", "test_rejoins_the_ppmid", "test_register_check_fails",
        "test_needs_the_esme_optical_probe", "test_fixture_fails",
        "test_pack_from_marker", "test_known_failure", "test_pack_from_directory",
    ]
    outcome = {name: (r["outcome"], r["reason"]) for name, r in records.items()}
    assert outcome["test_needs_gsme_by_marker"] == (
        "not_applicable", "not applicable: DMC TEST-NOGAS-DMC has no GSME")
    assert outcome["test_needs_gsme_by_fixture"] == outcome["test_needs_gsme_by_marker"]
    assert outcome["test_active_installations_only"] == (
        "not_applicable", "not applicable: applies to active installations, not dormant")
    assert outcome["test_destructive_on_the_emulated_bench"] == ("passed", None)
    assert outcome["test_reads_the_register"] == ("passed", None)
    status, reason = outcome["test_register_check_fails"]
    assert status == "failed"
    assert re.fullmatch(r"register \d+(\.\d+)? kWh is not negative", reason), reason
    assert outcome["test_needs_the_esme_optical_probe"] == (
        "blocked", "blocked: the ESME has an optical port but bench emulated has no optical "
        "probe on it (serial_adapters in the lab config)")
    assert outcome["test_fixture_fails"] == (
        "blocked", "set-up failed: RuntimeError: optical probe unplugged")
    assert outcome["test_known_failure"] == (
        "failed", "known failure (xfail): known defect DEF-1")

    assert records["test_needs_gsme_by_fixture"]["devices"] == ["GSME"]
    assert records["test_register_check_fails"]["srv"] == ["4.1.1", "8.11"]
    assert records["test_reads_the_register"]["srv"] == ["4.1.1"]
    assert records["test_default_timeout"]["srv"] == []
    assert records["test_pack_from_marker"]["pack"] == "custom"
    assert records["test_pack_from_directory"]["pack"] == "demo"
    assert records["test_pack_from_directory"]["id"] == (
        "testpacks/demo/test_in_pack.py::test_pack_from_directory")
    assert records["test_default_timeout"]["pack"] is None
    assert records["test_reads_the_register"]["id"] == "test_markers.py::test_reads_the_register"
    _check_bench_time_and_frames(records, out)


def _check_bench_time_and_frames(records: dict[str, dict], out: Path) -> None:
    record = records["test_reads_the_register"]
    start = dt.datetime.fromisoformat(record["bench_time_start"])
    end = dt.datetime.fromisoformat(record["bench_time_end"])
    assert start.tzinfo is not None and start <= end
    assert start.year == 2026  # bench (virtual) time from the lab config, not wall time

    evidence = record["evidence"]
    frames = json.loads((out / evidence["frames"]).read_text())  # relative to the out dir
    assert evidence["frame_count"] == len(frames) >= 2
    assert {f["direction"] for f in frames} == {"tx", "rx"}
    assert all(f["cluster_id"] == "0x0702" for f in frames)  # metering: the register read
    assert all(re.fullmatch(r"(?:[0-9a-f]{2})+", f["data"]) for f in frames), frames
    assert all(start.isoformat() <= f["time"] <= end.isoformat() for f in frames)
    assert evidence["event_count"] == 0 and "events" not in evidence

    rejoin = records["test_rejoins_the_ppmid"]["evidence"]
    events = json.loads((out / rejoin["events"]).read_text())
    assert rejoin["event_count"] == len(events)
    ppmid_eui = "00-1B-C5-0C-00-00-00-03"  # lab_config/emulated.yaml
    kinds = [e["kind"] for e in events if e["device"] == ppmid_eui]
    assert kinds[:1] == ["left"] and "joined" in kinds, events  # removed, then joined again
    assert rejoin["frame_count"] == len(json.loads((out / rejoin["frames"]).read_text())) > 0

    # The bench came up for the first test that needed it; every later test has evidence
    # of its own (an empty frame list is still counted).
    failed = records["test_register_check_fails"]["evidence"]
    assert failed["frame_count"] >= 2
    assert failed["frames"] != evidence["frames"]
    not_applicable = records["test_needs_gsme_by_fixture"]
    assert not_applicable["evidence"] == {} and not_applicable["bench_time_start"] is None


# -- 1 (conftest) and 5 (ini timeout) -----------------------------------------------------------

def test_conftest_registration_beside_the_entry_point_and_ini_timeout(pytester):
    pytester.makeconftest('pytest_plugins = ["harness.pytest_plugin"]\n')
    pytester.makeini("[pytest]\ntimeout = 42\n")
    pytester.makepyfile(REGISTERED_ONCE + f"""
def test_registered_once_with_bench(request, bench):
    _assert_registered_once(request.config)
    assert request.config.getoption("lab") == {str(EMULATED_LAB)!r}
    assert bench.device("ESME").is_joined


def test_ini_timeout_is_respected(request):
    assert request.node.get_closest_marker("timeout") is None
    assert request.config.getini("timeout") == "42"
""")
    # "--lab=FILE": pytest picks its rootdir (and ini file) before it knows plugin options,
    # from every argument that names an existing path: "--lab FILE" would find our pyproject.
    result = run(pytester, f"--lab={EMULATED_LAB}")
    outcomes(result, passed=2)


# -- 2. a broken lab config is a usage error ----------------------------------------------------

@pytest.mark.parametrize("case", list(BROKEN_LABS))
def test_broken_lab_config_is_one_line_usage_error(pytester, case):
    edit, append, fragment, occurrence, field = BROKEN_LABS[case]
    lab = LabFiles(pytester.path).lab("broken.yaml", edit=edit, append=append)
    pytester.makepyfile("def test_never_runs():\n    raise AssertionError('ran')\n")
    result = run(pytester, "--lab", str(lab))

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = [line for line in [*result.outlines, *result.errlines] if line.strip()]
    assert len(output) == 1, output
    where = f"{lab}:{line_of(lab, fragment, occurrence)}: {field}: "
    assert output[0].startswith(f"ERROR: {where}"), (where, output)


def test_broken_lab_config_named_by_dmct_lab_is_a_usage_error(pytester, monkeypatch):
    edit, append, fragment, occurrence, field = BROKEN_LABS["unknown key"]
    lab = LabFiles(pytester.path).lab("broken.yaml", edit=edit, append=append)
    monkeypatch.setenv("DMCT_LAB", str(lab))
    pytester.makepyfile("def test_never_runs():\n    raise AssertionError('ran')\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    where = f"{lab}:{line_of(lab, fragment, occurrence)}: {field}: "
    assert result.errlines[0].startswith(f"ERROR: {where}"), result.errlines


# -- 3 (real bench) and 5 (--timeout) -----------------------------------------------------------

def test_destructive_is_blocked_on_a_real_bench_and_explicit_timeout_is_kept(pytester,
                                                                             read_records):
    lab = LabFiles(pytester.path).lab("real.yaml", source=EXAMPLE_BENCH)
    assert "allow_destructive: false" in lab.read_text()
    pytester.makepyfile("""
import sys

import pytest


@pytest.mark.destructive
def test_destructive():
    raise AssertionError("a destructive test ran on a real bench")


def test_explicit_timeout_is_respected(request):
    assert request.node.get_closest_marker("timeout") is None
    assert request.config.getoption("timeout") == 7


def test_no_bench_was_started():
    assert "harness.bench" not in sys.modules  # not even imported: no zigpy, no radio
""")
    result = run(pytester, "--lab", str(lab), "--timeout", "7", "--dmct-out", "out")
    outcomes(result, passed=2, skipped=1)
    record = read_records(pytester.path / "out")["test_destructive"]
    assert record["outcome"] == "blocked"
    assert record["reason"].startswith("blocked: destructive test refused on a real bench")


def test_runs_without_pytest_timeout(pytester):
    # No default timeout marker then: under --strict-markers it would be an unknown marker.
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = run(pytester, "-p", "no:timeout", "--strict-markers")
    outcomes(result, passed=1)


# -- 4. records survive a killed session --------------------------------------------------------

def test_records_of_finished_tests_survive_a_killed_session(pytester, read_records):
    pytester.makepyfile("""
import os


def test_first():
    pass


def test_second():
    assert 1 + 1 == 3, "arithmetic is broken"


def test_third_kills_the_session():
    os._exit(1)


def test_fourth():
    pass
""")
    result = run(pytester, "--dmct-out", "out")
    assert result.ret == 1
    text = (pytester.path / "out" / "records.jsonl").read_text()
    assert text.endswith("\n")
    records = read_records(pytester.path / "out")
    assert list(records) == ["test_first", "test_second"]
    assert records["test_first"]["outcome"] == "passed"
    assert (records["test_second"]["outcome"], records["test_second"]["reason"]) == (
        "failed", "arithmetic is broken")


# -- 6. the bench always stops ------------------------------------------------------------------

STOP_SPY = """
import json
import threading

import zigpy.application

import harness.bench

LOG = "stop-log.jsonl"


def _log(**entry):
    with open(LOG, "a") as handle:
        handle.write(json.dumps(entry) + "\\n")


_zigpy_shutdown = zigpy.application.ControllerApplication.shutdown


async def _spy_shutdown(self, *args, **kwargs):
    try:
        return await _zigpy_shutdown(self, *args, **kwargs)
    finally:
        _log(event="zigpy shutdown")


_bench_stop = harness.bench.Bench.stop


def _spy_stop(self):
    _bench_stop(self)
    loops = [t for t in threading.enumerate() if t.name == "bench-loop" and t.is_alive()]
    _log(event="bench stopped", loop_threads_alive=len(loops))


zigpy.application.ControllerApplication.shutdown = _spy_shutdown
harness.bench.Bench.stop = _spy_stop
"""


def test_bench_stops_when_a_test_fails_and_the_session_is_interrupted(pytester, read_records):
    pytester.makeconftest(STOP_SPY)
    pytester.makepyfile("""
import signal


def test_fails(bench):
    assert bench.device("ESME").is_joined
    assert False, "boom"


def test_interrupted(bench):
    signal.raise_signal(signal.SIGINT)  # Ctrl-C
    raise AssertionError("SIGINT did not interrupt the session")


def test_never_reached():
    pass
""")
    result = run(pytester, "--dmct-out", "out")  # returns: the inner pytest did not hang
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert any("KeyboardInterrupt" in line for line in result.outlines)

    log = [json.loads(line) for line in (pytester.path / "stop-log.jsonl").read_text()
           .splitlines()]
    assert log[0] == {"event": "zigpy shutdown"}, log
    assert log[1] == {"event": "bench stopped", "loop_threads_alive": 0}, log

    records = read_records(pytester.path / "out")
    assert list(records) == ["test_fails", "test_interrupted"]
    assert records["test_fails"]["reason"] == "boom"
    assert (records["test_interrupted"]["outcome"], records["test_interrupted"]["reason"]) == (
        "blocked", "blocked: run interrupted during the test (KeyboardInterrupt)")
