"""``dmct-report.json`` (``harness.report.dmct_report``): the Testing Issue Threshold, the
verdict and every contract field of ``shared/design.md`` section 5.

Pure unit tests: lists of :class:`TestRecord` in, the report dict out (no bench).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.config import default_lab_config_path, load_catalogue, load_lab_config
from harness.report.build import write_run_report
from harness.report.dmct_report import (
    DEFAULT,
    DEFAULT_THRESHOLD,
    SCHEMA,
    Threshold,
    build_report,
)
from harness.report.issues import KnownIssue, default_registry_path, load_registry
from harness.report.records import RecordWriter, TestRecord
from harness.workdays import is_working_day, working_days_between

#: A Wednesday; Good Friday (3 April) and Easter Monday (6 April 2026) follow it.
PRODUCED = datetime(2026, 4, 1, 14, 0, tzinfo=UTC)
CATALOGUE = load_catalogue()


def rec(case: str, outcome: str = "passed", reason: str | None = None,
        srv: tuple[str, ...] = ()) -> TestRecord:
    return TestRecord(id=f"testpacks/{case}", name=case.split("::")[-1],
                      pack=case.split("/")[0], outcome=outcome,  # type: ignore[arg-type]
                      srv=list(srv), reason=reason or (None if outcome == "passed" else "why"),
                      bench_time_start="2026-01-05T09:00:00+00:00",
                      bench_time_end="2026-01-05T09:00:01+00:00",
                      evidence={"frame_count": 2, "frames": "evidence/x/frames.json"})


def known(issue_id: str, case: str, severity: int, *, counted: bool = True) -> KnownIssue:
    return KnownIssue(id=issue_id, title=f"title of {issue_id}", severity=severity,
                      status="open", counted=counted, dmcs=("*",), statuses=(),
                      cases=(f"*::{case}",), reason=None, source="a seed")


def report(records: list[TestRecord], registry: tuple[KnownIssue, ...] = (), *,
           dmc: str = "REF-DMC-001", status: str = "dormant", **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("produced_at", PRODUCED)
    return build_report(records, dmc=CATALOGUE.dmc(dmc), catalogue=CATALOGUE, status=status,
                        registry=registry, bench="emulated", **kwargs)


PASSED = [rec("smoke/test_smoke.py::test_a"), rec("dormant/test_dormant.py::test_b")]


# -- threshold ----------------------------------------------------------------------------------

def test_the_default_threshold_is_documented_as_unverified():
    assert DEFAULT.limits == DEFAULT_THRESHOLD == {1: 0, 2: 0, 3: 10, 4: 25}
    as_dict = DEFAULT.as_dict({})
    assert as_dict == {"limits": {"1": 0, "2": 0, "3": 10, "4": 25},
                       "counts": {"1": 0, "2": 0, "3": 0, "4": 0}, "met": True,
                       "source": "default (programme-set values are not public: UNVERIFIED)"}
    assert Threshold({1: 0}, programme_set_default=False).as_dict({})["source"] == "lab config"


@pytest.mark.parametrize(("counts", "met"), [
    ({}, True),
    ({3: 10, 4: 25}, True),  # at the limit is within it
    ({3: 11}, False),
    ({2: 1}, False),
    ({1: 1}, False),
    ({4: 26}, False),
])
def test_threshold_met_per_severity(counts, met):
    assert DEFAULT.check(counts) is met
    assert DEFAULT.as_dict(counts)["met"] is met


def test_report_counts_open_counted_issues_per_severity():
    records = [*PASSED,
               rec("dormant/test_dormant.py::test_s3a", "failed"),
               rec("dormant/test_dormant.py::test_s3b", "failed"),  # same issue: counted once
               rec("dormant/test_dormant.py::test_s4", "failed"),
               rec("dormant/test_dormant.py::test_uncounted", "failed"),
               rec("dormant/test_dormant.py::test_new", "failed")]
    registry = (known("S3", "test_s3*", 3), known("S4", "test_s4", 4),
                known("NOT-COUNTED", "test_uncounted", 2, counted=False))
    threshold = report(records, registry)["threshold"]
    assert threshold["counts"] == {"1": 0, "2": 1, "3": 1, "4": 1}  # the 2 is NEW-001
    assert threshold["limits"] == {"1": 0, "2": 0, "3": 10, "4": 25}
    assert threshold["met"] is False


# -- verdict ------------------------------------------------------------------------------------

def test_meets_with_issues_within_the_threshold():
    records = [*PASSED, rec("dormant/test_dormant.py::test_rotation", "failed")]
    found = report(records, (known("110031", "test_rotation", 3),))
    assert found["verdict"] == "meets_exit_criteria" and found["verdict_reasons"] == []
    assert found["threshold"]["met"] is True
    assert [i["id"] for i in found["testing_issues"]] == ["110031"]


def test_meets_when_every_case_passed_or_does_not_apply():
    records = [*PASSED, rec("active/test_active.py::test_c", "not_applicable", "not applicable: x")]
    found = report(records)
    assert (found["verdict"], found["testing_issues"]) == ("meets_exit_criteria", [])


def test_an_uncounted_issue_does_not_fail_the_threshold():
    records = [*PASSED, rec("dormant/test_dormant.py::test_x", "failed")]
    found = report(records, (known("ARGUED", "test_x", 1, counted=False),))
    assert found["verdict"] == "meets_exit_criteria"
    assert found["testing_issues"][0]["counted"] is False


@pytest.mark.parametrize(("registry", "threshold"), [
    ((known("S2", "test_x", 2),), DEFAULT),  # one severity 2: the default allows none
    ((known("S3", "test_x", 3),), Threshold({1: 0, 2: 0, 3: 0, 4: 0}, False)),  # a lab's own
    ((), DEFAULT),  # a new issue counts at its provisional severity 2
])
def test_fails_when_the_threshold_is_exceeded(registry, threshold):
    records = [*PASSED, rec("dormant/test_dormant.py::test_x", "failed")]
    found = report(records, registry, threshold=threshold)
    assert found["verdict"] == "fails_exit_criteria"
    assert found["threshold"]["met"] is False
    assert found["verdict_reasons"] == ["Testing Issues exceed the Testing Issue Threshold"]


def test_fails_when_a_case_is_blocked():
    records = [*PASSED, rec("active/test_active.py::test_c", "blocked", "blocked: no console")]
    found = report(records)
    assert found["verdict"] == "fails_exit_criteria"
    assert found["threshold"]["met"] is True and found["testing_issues"] == []
    assert found["verdict_reasons"] == ["1 case(s) blocked: testing did not complete"]
    assert found["cases"][-1]["testing_issue"] is None  # blocked is not a finding


@pytest.mark.parametrize("records", [
    [],
    [rec("active/test_active.py::test_c", "not_applicable", "not applicable: dormant run")],
])
def test_fails_when_no_case_ran(records):
    found = report(records)
    assert found["verdict"] == "fails_exit_criteria"
    assert found["verdict_reasons"] == ["no applicable case ran"]


def test_fails_when_the_run_is_incomplete():
    found = report(PASSED, complete=False)
    assert found["verdict"] == "fails_exit_criteria" and found["complete"] is False
    assert found["verdict_reasons"] == ["the run did not finish: the report is partial"]


def test_every_reason_is_given():
    records = [rec("active/test_active.py::test_b", "blocked", "blocked: x"),
               rec("dormant/test_dormant.py::test_x", "failed")]
    found = report(records, complete=False)
    assert found["verdict_reasons"] == [
        "Testing Issues exceed the Testing Issue Threshold",
        "1 case(s) blocked: testing did not complete",
        "the run did not finish: the report is partial"]


# -- referral deadline ----------------------------------------------------------------------------

@pytest.mark.parametrize(("produced_at", "deadline"), [
    # Wed 1 April 2026: Good Friday and Easter Monday are skipped with the weekends.
    (PRODUCED, date(2026, 4, 17)),
    # 23:30 UTC on Thursday 4 June is Friday 5 June in England: the report's date there.
    (datetime(2026, 6, 4, 23, 30, tzinfo=UTC), date(2026, 6, 19)),
    # Friday 18 December: Christmas Day and both Boxing Days (26th a Saturday, 28th observed).
    (datetime(2026, 12, 18, 10, 0, tzinfo=UTC), date(2027, 1, 6)),
])
def test_referral_deadline_is_10_working_days_after_the_production_date(produced_at, deadline):
    found = report(PASSED, produced_at=produced_at)
    assert found["referral_deadline"] == deadline.isoformat()
    assert found["produced_at"] == produced_at.isoformat()
    assert is_working_day(deadline)
    assert working_days_between(produced_at, deadline) == 10


def test_referral_working_days_come_from_the_lab():
    assert report(PASSED, referral_working_days=1)["referral_deadline"] == "2026-04-02"
    assert report(PASSED, referral_working_days=2)["referral_deadline"] == "2026-04-07"


# -- the contract fields (shared/design.md section 5) ---------------------------------------------

CONTRACT_RECORDS = [
    rec("smoke/test_smoke.py::test_join[ESME]"),
    rec("srv/test_srv.py::test_supported_srv_executes[7.4-GSME]", srv=("7.4",)),
    rec("srv/test_srv.py::test_srv_repeat_in_one_day[6.7-GSME]", "failed",
        "request 2 of SR 6.7 refused", srv=("6.7",)),
    rec("dormant/test_dormant.py::test_key_rotation_within_7_days", "failed", "never confirmed"),
    rec("active/test_active.py::test_tariff_preserved", "not_applicable", "not applicable: x"),
]
CONTRACT_REGISTRY = (known("91333", "test_srv_repeat_in_one_day*", 2),)


def test_every_contract_field_is_there_with_its_type():
    found = report(CONTRACT_RECORDS, CONTRACT_REGISTRY, dmc="ITRON-DMC-001")
    assert json.loads(json.dumps(found)) == found  # plain JSON, nothing lost on the way
    assert found["schema"] == SCHEMA == "smets1-dmct/dmct-report/1"
    assert found["installation_status"] == "dormant"
    assert found["state"] == "draft"
    assert date.fromisoformat(found["referral_deadline"])

    dmc = found["dmc"]
    assert dmc["id"] == "ITRON-DMC-001" and isinstance(dmc["name"], str)
    assert dmc["epcl_entry"] == "PH-ITR-001-D"
    roles = [d["role"] for d in dmc["devices"]]
    assert roles == ["CHF", "ESME", "GSME", "PPMID", "IHD"]
    for device in dmc["devices"]:
        for key in ("role", "manufacturer", "model", "firmware"):
            assert isinstance(device[key], str) and device[key], (device, key)
    esme = dmc["devices"][1]
    assert (esme["manufacturer"], esme["firmware"]) == ("Itron", "PH-1")

    assert isinstance(found["packs"], list)
    packs = {p["name"]: p for p in found["packs"]}
    assert set(packs) == {"smoke", "srv", "dormant", "active"}
    assert packs["srv"] == {"name": "srv", "passed": 1, "failed": 1, "blocked": 0,
                            "not_applicable": 0, "cases": 2}
    for pack in found["packs"]:
        assert all(isinstance(pack[k], int) for k in
                   ("cases", "passed", "failed", "blocked", "not_applicable"))

    cases = {c["id"]: c for c in found["cases"]}
    assert list(cases) == [r.id.removeprefix("testpacks/") for r in CONTRACT_RECORDS]
    for case in found["cases"]:
        assert isinstance(case["id"], str) and isinstance(case["pack"], str)
        assert isinstance(case["srv"], list)
        assert case["outcome"] in ("passed", "failed", "blocked", "not_applicable")
        assert case["testing_issue"] is None or isinstance(case["testing_issue"], str)
    assert cases["srv/test_srv.py::test_srv_repeat_in_one_day[6.7-GSME]"]["srv"] == ["6.7"]
    assert cases["srv/test_srv.py::test_srv_repeat_in_one_day[6.7-GSME]"]["testing_issue"] \
        == "91333"
    assert cases["dormant/test_dormant.py::test_key_rotation_within_7_days"]["testing_issue"] \
        == "NEW-001"
    assert {c["testing_issue"] for c in found["cases"] if c["outcome"] != "failed"} == {None}

    issues = {i["id"]: i for i in found["testing_issues"]}
    assert list(issues) == ["91333", "NEW-001"]
    for issue in found["testing_issues"]:
        assert isinstance(issue["id"], str) and isinstance(issue["title"], str)
        assert issue["severity"] in (1, 2, 3, 4)
        assert isinstance(issue["known"], bool) and isinstance(issue["counted"], bool)
        assert isinstance(issue["cases"], list) and issue["cases"]
    assert (issues["91333"]["known"], issues["NEW-001"]["known"]) == (True, False)
    assert issues["NEW-001"]["cases"] == [
        "dormant/test_dormant.py::test_key_rotation_within_7_days"]

    threshold = found["threshold"]
    assert set(threshold) >= {"limits", "counts", "met"}
    assert set(threshold["limits"]) == set(threshold["counts"]) == {"1", "2", "3", "4"}
    assert all(isinstance(v, int) for v in [*threshold["limits"].values(),
                                            *threshold["counts"].values()])
    assert threshold["counts"]["2"] == 2 and threshold["met"] is False
    assert found["verdict"] in ("meets_exit_criteria", "fails_exit_criteria")
    assert found["verdict"] == "fails_exit_criteria"


def test_report_of_a_run_directory_reads_its_records_and_writes_the_file(tmp_path: Path):
    writer = RecordWriter(tmp_path, fresh=True)
    for record in CONTRACT_RECORDS:
        writer.write(record)
    with (tmp_path / "records.jsonl").open("a") as handle:
        handle.write('{"id": "testpacks/cut sh')  # a run killed mid-line
    lab = load_lab_config(default_lab_config_path(), env={}).select(["ITRON-DMC-001"],
                                                                   ["dormant"])
    found = write_run_report(tmp_path, lab, produced_at=PRODUCED)
    assert json.loads((tmp_path / "dmct-report.json").read_text()) == found
    expected = report(CONTRACT_RECORDS, load_registry(default_registry_path()),
                      dmc="ITRON-DMC-001")
    # a run directory's report also says where it comes from (tests/report/test_provenance.py)
    assert found["provenance"]["hashes"]["lab_config"].startswith("sha256:")
    assert any(line.startswith("Emulated bench") for line in found["limitations"])
    drop = ("provenance", "limitations")
    assert ({k: v for k, v in found.items() if k not in drop}
            == {k: v for k, v in expected.items() if k not in drop})
