"""Reviewer content of a report (``harness.report.review``): the coverage matrix with a reason
for every case that did not apply, the LSC 5 statement and the SVTAD 20.29 exclusions."""

from __future__ import annotations

from harness.report.records import TestRecord
from harness.report.review import coverage, exclusions_20_29, lsc5


def rec(case: str, outcome: str, srv: list[str], devices: list[str],
        reason: str | None = None) -> TestRecord:
    return TestRecord(id=f"testpacks/{case}", name=case, pack=case.split("/")[0],
                      outcome=outcome, srv=srv, devices=devices, reason=reason)  # type: ignore[arg-type]


RECORDS = [
    rec("srv/t.py::a[7.5-ESME]", "not_applicable", ["7.5"], ["ESME"],
        "not applicable: only for supported SRVs; SR 7.5 is not in the srvs of X"),
    rec("srv/t.py::a[7.6-ESME]", "not_applicable", ["7.6"], ["ESME"],
        "not applicable: only for supported SRVs; SR 7.6 is not in the srvs of X"),
    rec("srv/t.py::a[6.7-GSME]", "failed", ["6.7"], ["GSME"], "refused"),
    rec("srv/t.py::b[6.7-GSME]", "passed", ["6.7"], ["GSME"]),
    rec("dormant/t.py::c", "passed", [], []),
    rec("smoke/t.py::d[PPMID]", "not_applicable", [], ["PPMID"], "not applicable: no PPMID"),
]


def test_the_matrix_counts_each_pack_srv_and_device():
    found = coverage(RECORDS, ["ESME", "GSME", "PPMID"])
    assert found["devices"] == ["ESME", "GSME", "PPMID", "-"]
    rows = {(r["pack"], r["srv"]): r["cells"] for r in found["rows"]}
    assert rows[("srv", "6.7")]["GSME"] == {"passed": 1, "failed": 1, "blocked": 0,
                                             "not_applicable": 0}
    assert rows[("dormant", "-")]["-"]["passed"] == 1
    assert list(rows)[:2] == [("dormant", "-"), ("smoke", "-")]  # by pack, then SRV


def test_every_not_applicable_case_has_its_reason_grouped_by_wording():
    groups = coverage(RECORDS, ["ESME", "GSME", "PPMID"])["not_applicable_reasons"]
    assert [(g["count"], g["reason"], g["srvs"], g["devices"]) for g in groups] == [
        (2, "only for supported SRVs; SR … is not in the srvs of X", ["7.5", "7.6"], ["ESME"]),
        (1, "no PPMID", [], ["PPMID"])]
    assert sum(g["count"] for g in groups) == sum(r.outcome == "not_applicable" for r in RECORDS)


def test_lsc5_names_the_issues_that_need_regression_testing():
    issues = [{"id": "110031", "status": "open", "counted": True,
               "regression": "LSC 4: further regression testing"},
              {"id": "X", "status": "open", "counted": False, "regression": None}]
    found = lsc5(RECORDS, issues, dmc="D", status="dormant", verdict="fails_exit_criteria",
                 threshold_met=True, complete=True, emulated=False)
    assert found["met"] is False and found["lsc4_regression"] == ["110031"]
    assert found["statement"].startswith("LSC 5 (testing of SMETS1 Services for the DMC has "
                                         "completed successfully): NOT met for D")
    assert "2 open Testing Issues, 1 counted" in found["statement"]
    assert "Under LSC 4, 110031 needs further regression testing" in found["statement"]
    assert "emulated" not in found["statement"]
    met = lsc5(RECORDS, [], dmc="D", status="dormant", verdict="meets_exit_criteria",
               threshold_met=True, complete=True, emulated=True)
    assert met["met"] is True and "not evidence for LSC 5" in met["statement"]


def test_20_29_lists_open_issues_not_counted_with_their_rationale():
    issues = [{"id": "A", "title": "a", "severity": 3, "status": "open", "counted": False,
               "not_counted_rationale": "only on a withdrawn firmware"},
              {"id": "B", "title": "b", "severity": 2, "status": "open", "counted": True},
              {"id": "C", "title": "c", "severity": 4, "status": "open", "counted": False}]
    found = exclusions_20_29(issues)
    assert [(x["id"], x["rationale"]) for x in found] == [
        ("A", "only on a withdrawn firmware"),
        ("C", "no rationale recorded in the Testing Issue registry (not_counted_rationale)")]
