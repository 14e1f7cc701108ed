"""Bench faults injected during a run (:mod:`harness.fault_injection`): scheduled from the lab
config or ``dmct run --fault``, recorded as evidence, and the failures they cause attributed to one
bench-fault finding, never to the device."""

from __future__ import annotations

import ast
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from labkit import EMULATED_LAB, EXAMPLE_BENCH
from runkit import WHOLE_RUNS

import harness.fault_injection
from harness.backend.emulated import EmulatedBackend
from harness.backend.real import RealBackend
from harness.bench import Bench
from harness.cli import main
from harness.config import ConfigError, load_catalogue, load_lab_config
from harness.fault_injection import (
    FAULTS_FILE,
    Fault,
    FaultError,
    FaultSchedule,
    check_faults,
    parse_fault,
)
from harness.report.dmct_report import build_report
from harness.report.manifest import read_manifest
from harness.report.records import RECORDS_FILE, TestRecord, read_records

RUN = Path("REF-DMC-001") / "dormant"
REGISTER_ESME = "test_register_over_zigbee_equals_optical_readout[ESME]"


# -- the schedule ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "fault"), [
    ("power-off:ESME@case:test_register*", Fault("power-off:ESME@case:test_register*",
                                                 "power-off", "ESME", case="test_register*")),
    ("radio-silent@2h", Fault("radio-silent@2h", "radio-silent", None, at_s=7200)),
    ("serial-gone:esme-optical@90s", Fault("serial-gone:esme-optical@90s", "serial-gone",
                                           "esme-optical", at_s=90)),
    ("power-cycle:GSME@1d", Fault("power-cycle:GSME@1d", "power-cycle", "GSME", at_s=86400)),
])
def test_a_fault_parses(spec, fault):
    assert parse_fault(spec) == fault


@pytest.mark.parametrize(("spec", "fragment"), [
    ("power-off:ESME", "no @WHEN"), ("melt:ESME@1h", "unknown fault kind 'melt'"),
    ("power-off@1h", "needs a role"), ("radio-silent:ESME@1h", "takes no target"),
    ("power-off:ESME@soon", "WHEN is case:PATTERN"), ("power-off:ESME@99999999h", "WHEN is"),
    ("power-off:ESME@case:", "case:PATTERN takes"), ("power-off:E$ME@1h", "not a role"),
    ("x" * 5000, "at most 300"), ("power-off:ESME@case:\x1b[2J", "printable"), (12, "string"),
])
def test_a_bad_fault_is_one_line(spec, fragment):
    with pytest.raises(FaultError) as bad:
        parse_fault(spec)
    message = str(bad.value)
    assert fragment in message and "\n" not in message and len(message) < 400


def test_a_fault_must_be_possible_on_the_bench():
    emulated = load_lab_config(EMULATED_LAB, env={})
    check_faults([parse_fault("power-off:ESME@1h"), parse_fault("radio-silent@1h"),
                  parse_fault("serial-gone:esme-optical@1h")], emulated)
    for spec, fragment in [("power-off:CHF@1h", "no CHF on bench"),
                           ("serial-gone:relays@1h", "no serial adapter 'relays'"),
                           ("serial-gone:nosuch@1h", "no serial adapter 'nosuch'")]:
        with pytest.raises(FaultError, match=fragment):
            check_faults([parse_fault(spec)], emulated)
    real = load_lab_config(EXAMPLE_BENCH, env={})
    check_faults([parse_fault("power-cycle:ESME@case:test_x")], real)  # a relay is real
    with pytest.raises(FaultError, match="needs an emulated bench"):
        check_faults([parse_fault("radio-silent@1h")], real)


def test_the_lab_config_schedules_faults_and_a_bad_one_is_one_line(tmp_path):
    text = EMULATED_LAB.read_text() + 'faults: ["power-off:ESME@case:test_x*", "radio-silent@2h"]\n'
    (tmp_path / "lab.yaml").write_text(text)
    assert load_lab_config(tmp_path / "lab.yaml", env={}).faults == [
        "power-off:ESME@case:test_x*", "radio-silent@2h"]
    (tmp_path / "lab.yaml").write_text(EMULATED_LAB.read_text() + "faults:\n  - melt@1h\n")
    with pytest.raises(ConfigError) as bad:
        load_lab_config(tmp_path / "lab.yaml", env={})
    assert str(bad.value).startswith(f"{tmp_path / 'lab.yaml'}:") and bad.value.field == (
        "faults[0]") and "unknown fault kind" in bad.value.message
    (tmp_path / "lab.yaml").write_text(EMULATED_LAB.read_text()
                                       + "faults: [power-off:IHD@1h]\n")
    ok = load_lab_config(tmp_path / "lab.yaml", env={})  # the emulated IHD has a relay
    assert ok.faults == ["power-off:IHD@1h"]


def test_a_bad_fault_option_writes_nothing(tmp_path, capsys, clean_run_env):
    assert main(["run", "--out", str(tmp_path / "out"), "--fault", "radio-silent"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--fault" in err and "no @WHEN" in err
    assert not (tmp_path / "out").exists()


# -- what a fault breaks, and for how long ---------------------------------------------------------

@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    """The default emulated bench, started (devices powered, not commissioned)."""
    started = Bench.start(load_lab_config(EMULATED_LAB, env={}),
                          evidence_dir=tmp_path / "evidence")
    try:
        yield started
    finally:
        started.stop()


def _walk(bench: Bench, schedule: FaultSchedule, cases: str) -> dict[str, str | None]:
    """Each case (one letter) in turn: the fault in effect while it runs."""
    effect = {}
    for case in cases:
        schedule.before_case(bench, case)
        effect[case] = schedule.in_effect(case)
        schedule.after_case(bench, case)
    return effect


def _lines(path: Path, event: str = "fired") -> list[dict[str, Any]]:
    lines = [json.loads(text) for text in path.read_text().splitlines()]
    return [line for line in lines if line["event"] == event]


def test_a_fault_is_in_effect_only_while_what_it_broke_is_broken(bench, tmp_path):
    results = bench.bring_up()
    assert not [r for r in results.values() if isinstance(r, Exception)], results
    specs = ["power-cycle:ESME@case:b", "power-off:GSME@case:c", "power-on:GSME@case:e",
             "radio-silent@case:f", "radio-back@case:g", "serial-gone:esme-optical@case:h"]
    schedule = FaultSchedule.start([parse_fault(s) for s in specs], tmp_path, resume=False)
    effect = _walk(bench, schedule, "abcdefghi")
    # The power-cycled ESME answers again at once: nothing of it is in effect, not even for
    # its own case; the GSME is off from c until e's power-on (it answers again in e).
    assert effect == {"a": None, "b": None, "c": "F2", "d": "F2", "e": None, "f": "F4",
                      "g": None, "h": "F6", "i": "F6"}
    fired = {f["id"]: f for f in _lines(tmp_path / FAULTS_FILE)}
    assert [f["error"] for f in fired.values()] == [None] * 6
    assert fired["F1"]["back"] is not None and fired["F1"]["ends"] is None
    assert fired["F3"]["back"] is not None and fired["F3"]["ends"] == "F2"
    assert fired["F5"]["ends"] == "F4"
    assert [c["case"] for c in _lines(tmp_path / FAULTS_FILE, "case")] == list("abcdefghi")


def test_a_power_cycle_of_a_device_not_seen_back_is_in_effect_for_its_case_only(bench, tmp_path):
    # Not commissioned: the ESME is on no HAN, so nobody can see it back.
    schedule = FaultSchedule.start([parse_fault("power-cycle:ESME@case:b")], tmp_path,
                                   resume=False)
    assert _walk(bench, schedule, "abc") == {"a": None, "b": "F1", "c": None}
    assert _lines(tmp_path / FAULTS_FILE)[0]["back"] is None


def test_faults_go_through_the_backend_and_a_real_bench_refuses_what_it_cannot_do():
    real = RealBackend(load_lab_config(EXAMPLE_BENCH, env={}))
    for kind, target in (("radio-silent", None), ("serial-gone", "esme-optical")):
        with pytest.raises(FaultError, match="cannot be injected on a real bench") as refused:
            real.inject(kind, target, None)  # refused before the bench is touched
        assert "\n" not in str(refused.value)
    with pytest.raises(FaultError, match="the ESME has no relay channel"):
        real.inject("power-off", "ESME", None)
    emulated = EmulatedBackend(load_lab_config(EMULATED_LAB, env={}))
    with pytest.raises(FaultError, match="the IHD has no relay channel"):
        emulated.inject("power-cycle", "IHD", None)


def test_fault_injection_never_reaches_into_private_attributes():
    tree = ast.parse(Path(harness.fault_injection.__file__).read_text())
    private = [node.lineno for node in ast.walk(tree)
               if isinstance(node, ast.Attribute) and node.attr.startswith("_")
               and not node.attr.endswith("__")
               and not (isinstance(node.value, ast.Name) and node.value.id == "self")]
    reflective = [node.lineno for node in ast.walk(tree)
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in ("getattr", "setattr")]
    assert private == [] and reflective == []


# -- attribution ----------------------------------------------------------------------------------

def _record(name: str, outcome: str, **extra: object) -> TestRecord:
    return TestRecord(id=f"testpacks/srv/test_srv.py::{name}", name=name, pack="srv",
                      outcome=outcome, reason=None if outcome == "passed" else "no MAC ACK",
                      extra=dict(extra))


def test_failures_under_a_fault_are_one_finding_that_does_not_count():
    catalogue = load_catalogue()
    fired = [{"id": "F1", "spec": "radio-silent@case:test_b", "case": "x", "bench_time": "t"}]
    records = [_record("test_a", "passed"),
               _record("test_b", "failed", bench_fault="F1", bench_faults=fired),
               _record("test_c", "failed", bench_fault="F1"),
               _record("test_d", "blocked", bench_fault="F1"),
               _record("test_e", "passed", bench_fault="F1")]
    report = build_report(records, dmc=catalogue.dmc("REF-DMC-001"), catalogue=catalogue,
                          status="dormant", registry=(), bench="b",
                          produced_at=datetime(2026, 1, 5, tzinfo=UTC))
    assert [i["id"] for i in report["testing_issues"]] == ["BENCH-FAULT-F1"]
    finding = report["testing_issues"][0]
    assert finding["counted"] is False and finding["status"] == "bench_fault"
    assert len(finding["cases"]) == 3 and "radio-silent@case:test_b" in finding["title"]
    assert report["verdict"] == "meets_exit_criteria", report["verdict_reasons"]
    assert {c["testing_issue"] for c in report["cases"] if c["outcome"] != "passed"} == {
        "BENCH-FAULT-F1"}
    # The same failure with no fault in effect is the device's: a new, counted issue.
    alone = build_report([_record("test_c", "failed")], dmc=catalogue.dmc("REF-DMC-001"),
                         catalogue=catalogue, status="dormant", registry=(), bench="b",
                         produced_at=datetime(2026, 1, 5, tzinfo=UTC))
    assert alone["testing_issues"][0]["counted"] is True
    assert alone["verdict"] == "fails_exit_criteria"


# -- on the emulated bench ------------------------------------------------------------------------

def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *faults: str) -> tuple[int, str]:
    args = ["run", "--pack", "smoke", "--status", "dormant", "--out", str(tmp_path)]
    for fault in faults:
        args += ["--fault", fault]
    code = main(args)
    return code, capsys.readouterr().out


@WHOLE_RUNS
def test_a_power_off_is_evidence_and_one_bench_finding(tmp_path, capsys, monkeypatch,
                                                      clean_run_env):
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    code, out = _run(tmp_path, capsys, f"power-off:ESME@case:{REGISTER_ESME}")
    assert code == 0, out[-3000:]
    fired = _lines(tmp_path / RUN / FAULTS_FILE)
    assert [(f["id"], f["kind"], f["target"], f["error"]) for f in fired] == [
        ("F1", "power-off", "ESME", None)]
    assert fired[0]["case"].endswith(REGISTER_ESME)
    records = {r.name: r for r in read_records(tmp_path / RUN)}
    hit = records[REGISTER_ESME]
    assert hit.outcome == "failed" and hit.extra["bench_fault"] == "F1"
    assert hit.extra["bench_faults"] == fired
    assert all(r.outcome == "passed" for n, r in records.items() if n != REGISTER_ESME)
    report = json.loads((tmp_path / RUN / "dmct-report.json").read_text())
    assert [(i["id"], i["counted"]) for i in report["testing_issues"]] == [
        ("BENCH-FAULT-F1", False)]
    assert report["verdict"] == "meets_exit_criteria"
    manifest = read_manifest(tmp_path)
    assert manifest is not None and manifest.faults == [f"power-off:ESME@case:{REGISTER_ESME}"]
    assert manifest.partial and "bench faults injected" in manifest.partial_reasons[-1]


@WHOLE_RUNS
def test_radio_silence_and_a_lost_port_make_one_finding_not_one_per_case(
        tmp_path, capsys, monkeypatch, clean_run_env):
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    code, out = _run(tmp_path, capsys, "radio-silent@case:test_register_over_zigbee*",
                     "serial-gone:gsme-optical@case:*GSME]")
    assert code == 0, out[-3000:]
    report = json.loads((tmp_path / RUN / "dmct-report.json").read_text())
    failed = [c for c in report["cases"] if c["outcome"] in ("failed", "blocked")]
    assert len(failed) >= 3
    assert {c["testing_issue"] for c in failed} == {"BENCH-FAULT-F1"}
    assert [i["id"] for i in report["testing_issues"]] == ["BENCH-FAULT-F1"]
    kinds = [f["kind"] for f in _lines(tmp_path / RUN / FAULTS_FILE)]
    assert kinds == ["serial-gone", "radio-silent"]


@WHOLE_RUNS
def test_a_power_cycle_early_leaves_the_device_defects_to_the_device(tmp_path, capsys,
                                                                     monkeypatch, clean_run_env):
    """Honeywell's seeded DMC: 5% of Service Responses carry no code (91339/91340). Power-cycled
    early in the run, its meters come back; the srv cases that meet the defect later are still
    the device's, each attributed to its seeded Testing Issue, not to the bench fault."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    dmc = "HONEYWELL-ELSTER-DMC-001"
    code = main(["run", "--dmc", dmc, "--status", "dormant", "--pack", "smoke", "--pack", "srv",
                 "--out", str(tmp_path), "--format", "json",
                 "--fault", f"power-cycle:ESME@case:{REGISTER_ESME}",
                 "--fault", "power-cycle:GSME@case:test_register_over_zigbee*GSME]"])
    out = capsys.readouterr().out
    assert code == 1, out[-3000:]  # the device's own Testing Issues fail it
    run = tmp_path / dmc / "dormant"
    fired = _lines(run / FAULTS_FILE)
    assert [(f["id"], f["kind"], f["error"]) for f in fired] == [
        ("F1", "power-cycle", None), ("F2", "power-cycle", None)]
    assert all(f["back"] is not None for f in fired)  # both answered again
    report = json.loads((run / "dmct-report.json").read_text())
    failed = {c["id"]: c["testing_issue"] for c in report["cases"] if c["outcome"] == "failed"}
    assert failed == {f"srv/test_srv.py::{name}": "91339/91340" for name in (
        "test_supported_srv_executes[7.4-GSME]", "test_srv_repeat_in_one_day[1.1.1-ESME]",
        "test_srv_repeat_in_one_day[6.7-GSME]", "test_srv_repeat_in_one_day[6.11-GSME]",
        "test_every_response_carries_a_response_code[detects-1pct-at-95pct-299-requests]")}
    assert [(i["id"], i["counted"]) for i in report["testing_issues"]] == [
        ("91339/91340", True)]
    assert not [r for r in read_records(run) if r.extra.get("bench_fault")]


# -- resumed runs ---------------------------------------------------------------------------------

#: A lost port before the first GSME case (its glob also matches a case after the cut), and the
#: radio falling silent at a bench time after the cut.
RESUMED_FAULTS = ("serial-gone:gsme-optical@case:*GSME]", "radio-silent@100s")
#: Records the interrupted run keeps (the smoke pack's first five cases).
KEPT = 5


def _interrupt(run: Path, kept: int) -> list[str]:
    """Leave ``run`` as a SIGKILL after its ``kept``-th record leaves it: those records, the
    fault lines written up to then, the state of a run that never finished, no report."""
    records = (run / RECORDS_FILE).read_text().splitlines(keepends=True)[:kept]
    (run / RECORDS_FILE).write_text("".join(records))
    ids = [json.loads(line)["id"] for line in records]
    lines = (run / FAULTS_FILE).read_text().splitlines(keepends=True)
    entries = [json.loads(line) for line in lines]
    last = max(i for i, e in enumerate(entries) if e["event"] == "case" and e["case"] == ids[-1])
    (run / FAULTS_FILE).write_text("".join(lines[:last + 1]))
    state = json.loads((run / "run-state.json").read_text())
    (run / "run-state.json").write_text(json.dumps({**state, "state": "running"}))
    for report in run.glob("dmct-report.*"):
        report.unlink()
    return ids


def test_a_resumed_schedule_takes_over_what_fired_before_the_kept_cases(tmp_path):
    specs = ["power-off:ESME@case:a", "radio-silent@case:b", "power-cycle:GSME@case:b",
             "serial-gone:esme-optical@case:c", "radio-back@1h"]
    faults = [parse_fault(spec) for spec in specs]

    def fired(index: int, fault_id: str, case: str, back: str | None = None) -> str:
        return json.dumps({"event": "fired", "id": fault_id, "index": index,
                           "spec": specs[index], "kind": faults[index].kind,
                           "target": faults[index].target, "case": case, "error": None,
                           "back": back, "ends": None})

    (tmp_path / FAULTS_FILE).write_text("\n".join([
        fired(0, "F1", "a"), '{"event": "case", "case": "a", "elapsed_s": 30.5}',
        fired(1, "F2", "b"), fired(2, "F3", "b"), '{"event": "case", "case": "b", "elapsed_s": 99}',
        fired(3, "F4", "c"), '{"event": "ca']) + "\n")  # killed in c, mid-line
    schedule = FaultSchedule.start(faults, tmp_path, resume=True, kept={"a", "b"})
    assert [f["id"] for f in schedule.fired] == ["F1", "F2", "F3"]
    assert schedule.offset_s == 99
    # Still broken when the run stopped: the ESME's supply and the radio (the GSME's cycle was
    # over with its case); the port goes again before c, which runs again.
    assert {k: e.fault_id for k, e in schedule.active.items()} == {"power:ESME": "F1",
                                                                  "radio": "F2"}
    assert [faults[i].spec for i in schedule._pending] == specs[3:]
    resumed = json.loads((tmp_path / FAULTS_FILE).read_text().splitlines()[-1])
    assert resumed == {"event": "resumed", "kept": ["F1", "F2", "F3"], "pending": specs[3:],
                       "elapsed_s": 99}
    # A fresh run starts the file afresh.
    FaultSchedule.start(faults, tmp_path, resume=False)
    assert not (tmp_path / FAULTS_FILE).exists()


@WHOLE_RUNS
def test_a_resumed_run_fires_again_only_what_its_kept_cases_did_not_see(
        tmp_path, capsys, monkeypatch, clean_run_env):
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    through, cut = tmp_path / "through", tmp_path / "cut"
    code, out = _run(through, capsys, *RESUMED_FAULTS)
    assert code == 0, out[-3000:]
    shutil.copytree(through, cut)
    kept = _interrupt(cut / RUN, KEPT)
    assert main(["run", "--resume", str(cut)]) == 0, capsys.readouterr().out[-3000:]

    def fired(root: Path) -> list[tuple[str, str, str]]:
        return [(f["id"], f["spec"], f["case"]) for f in _lines(root / RUN / FAULTS_FILE)]

    # The same faults fired before the same cases, the port's once although its glob matches
    # a case of the resumed part, the radio's (due after the cut) in the resumed part.
    assert fired(cut) == fired(through)
    assert [f[2] in kept for f in fired(cut)] == [True, False]
    resumed = _lines(cut / RUN / FAULTS_FILE, "resumed")
    assert [(r["kept"], r["pending"]) for r in resumed] == [(["F1"], ["radio-silent@100s"])]
    # The port the kept fault took is gone again on the resumed bench, before its first case.
    again = _lines(cut / RUN / FAULTS_FILE, "reapplied")
    assert [(r["id"], r["error"], r["case"] in kept) for r in again] == [("F1", None, False)]

    def cases(root: Path) -> list[tuple[str, str, str | None]]:
        report = json.loads((root / RUN / "dmct-report.json").read_text())
        return [(c["id"], c["outcome"], c["testing_issue"]) for c in report["cases"]]

    assert cases(cut) == cases(through)
    # After the cut, what failed did so under the lost port (the earliest fault in effect).
    after = [c for c in cases(cut) if f"testpacks/{c[0]}" not in kept and c[1] != "passed"]
    assert after and {c[2] for c in after} == {"BENCH-FAULT-F1"}, after
