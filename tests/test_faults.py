"""Bench faults injected during a run (:mod:`harness.fault_injection`): scheduled from the lab
config or ``dmct run --fault``, recorded as evidence, and the failures they cause attributed to one
bench-fault finding, never to the device."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from labkit import EMULATED_LAB, EXAMPLE_BENCH
from runkit import WHOLE_RUNS

from harness.cli import main
from harness.config import ConfigError, load_catalogue, load_lab_config
from harness.fault_injection import FAULTS_FILE, Fault, FaultError, check_faults, parse_fault
from harness.report.dmct_report import build_report
from harness.report.manifest import read_manifest
from harness.report.records import TestRecord, read_records

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
    fired = [json.loads(line) for line in (tmp_path / RUN / FAULTS_FILE).read_text().splitlines()]
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
    kinds = [json.loads(line)["kind"]
             for line in (tmp_path / RUN / FAULTS_FILE).read_text().splitlines()]
    assert kinds == ["serial-gone", "radio-silent"]
