"""The EPCL summary (``harness.report.epcl``): Group 1 and Group 2, the tables, what is not
requested and why, and the files at an out root.

Pure tests build reports with ``build_report`` from a few records; one end-to-end test runs the
smoke pack for two DMCs with ``dmct run`` and summarises its out root.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from runkit import WHOLE_RUNS

from harness.cli import main
from harness.config import load_catalogue
from harness.config.catalogue import Catalogue
from harness.report.dmct_report import build_report, write_report
from harness.report.epcl import (
    NOT_REQUESTED_REASONS,
    ROWS,
    SCHEMA,
    STATUSES,
    build_epcl_summary,
    render_html,
    render_markdown,
    write_epcl_summary,
)
from harness.report.records import TestRecord

pytestmark = WHOLE_RUNS

PRODUCED = datetime(2026, 4, 1, 14, 0, tzinfo=UTC)
CATALOGUE = load_catalogue()
REF, SE1 = "REF-DMC-001", "REF-DMC-001-SE1"
ELSTER, ITRON, ACLARA = "HONEYWELL-ELSTER-DMC-001", "ITRON-DMC-001", "ACLARA-IOC-DMC-001"


def rec(case: str, outcome: str = "passed", reason: str | None = None) -> TestRecord:
    return TestRecord(id=f"testpacks/{case}", name=case.split("::")[-1],
                      pack=case.split("/")[0], outcome=outcome,  # type: ignore[arg-type]
                      reason=reason)


def report(dmc: str, status: str = "dormant", *, ok: bool = True, complete: bool = True,
           catalogue: Catalogue = CATALOGUE) -> dict[str, Any]:
    """A real ``dmct-report.json`` dict: passing, or failing with a new (severity 2) issue."""
    records = [rec("smoke/test_smoke.py::test_join"), rec(f"{status}/test_m.py::test_migrates")]
    if not ok:
        records.append(rec(f"{status}/test_m.py::test_key_rotation", "failed",
                           "no KEY_ROTATED alert within 7 days"))
    return build_report(records, dmc=catalogue.dmc(dmc), catalogue=catalogue, status=status,
                        registry=(), produced_at=PRODUCED, bench="emulated", complete=complete)


def summarise(*reports: dict[str, Any], catalogue: Catalogue = CATALOGUE,
              **kwargs: Any) -> dict[str, Any]:
    return build_epcl_summary(reports, catalogue, produced_at=PRODUCED, **kwargs)


def keys(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["dmc"], e["installation_status"]) for e in entries]


def not_requested(summary: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["dmc"], e["installation_status"]): e for e in summary["not_requested"]}


def population(dmc: str, status: str, row: str, measure: str) -> int:
    """A figure straight from the catalogue (0 when the entry has no population)."""
    value = CATALOGUE.dmc(dmc).population_for(status)
    return getattr(getattr(value, ROWS[row]), measure) if value is not None else 0


# -- Group 1 and Group 2 ------------------------------------------------------------------------

def test_a_meeting_parent_brings_its_child_into_group_2():
    summary = summarise(report(REF))
    assert summary["schema"] == SCHEMA
    assert summary["counts"] == {"requested": 2, "group_1": 1, "group_2": 1, "not_requested": 4}
    parent, child = summary["requested"]
    assert (parent["epcl_entry"], parent["group"], parent["parent"]) == ("PH-REF-001-D", 1, None)
    assert (child["epcl_entry"], child["group"], child["parent"]) == ("PH-REF-002-D", 2, REF)
    assert child["substantively_equivalent_to"] == REF
    # Listed under the parent, resting on the parent's report, with its own devices and figures.
    assert child["report"] == parent["report"] == "REF-DMC-001/dormant/dmct-report.json"
    assert child["verdict"] == "meets_exit_criteria" and child["tested_directly"] is False
    ihd = next(d for d in child["devices"] if d["role"] == "IHD")
    assert (ihd["firmware"], ihd["target_firmware"]) == ("1.1.0", "1.1.0")
    assert child["population"]["at_target_firmware"] == {"installs": 400, "devices": 600}
    assert parent["population"]["at_target_firmware"] == {"installs": 1000, "devices": 1500}
    group_2 = summary["tables"]["group_2"]
    assert group_2["requested_at_target_firmware"]["installs"] == {
        "active": 0, "dormant": 400, "mixed": 0}
    assert group_2["potential_upgrades_to_target_firmware"]["devices"]["dormant"] == 150
    assert group_2["totals"] == {"installs": 500, "devices": 750}
    assert summary["tables"]["group_1"]["totals"] == {"installs": 1200, "devices": 1800}
    at_target = {d["dmc"]: d for d in summary["dmcs_requested_at_target_firmware"]}
    assert set(at_target) == {REF, SE1}
    assert at_target[SE1]["parent"] == REF and at_target[SE1]["at_target_firmware"] is True
    assert at_target[SE1]["epcl_entries"] == ["PH-REF-002-D"]


def test_a_failing_parent_takes_its_child_out_with_the_reasons():
    summary = summarise(report(REF, ok=False))
    assert summary["requested"] == [] and summary["dmcs_requested_at_target_firmware"] == []
    missing = not_requested(summary)
    parent, child = missing[(REF, "dormant")], missing[(SE1, "dormant")]
    assert parent["reason"] == "fails_exit_criteria"
    assert parent["report"] == "REF-DMC-001/dormant/dmct-report.json"
    assert "Testing Issues exceed the Testing Issue Threshold" in parent["details"]
    assert any(re.search(r"NEW-001 \(severity 2\): test_key_rotation: no KEY_ROTATED", d)
               for d in parent["details"]), parent["details"]
    assert child["reason"] == "parent_not_requested" and child["group"] == 2
    assert child["parent"] == REF and child["report"] is None
    assert "REF-DMC-001/dormant is not requested: fails exit criteria" in child["details"][0]
    for table in summary["tables"].values():
        assert table["totals"] == {"installs": 0, "devices": 0}


def test_an_incomplete_run_is_not_requested():
    missing = not_requested(summarise(report(REF, complete=False)))
    assert missing[(REF, "dormant")]["reason"] == "incomplete"
    assert "the run did not finish: the report is partial" in missing[(REF, "dormant")]["details"]
    assert missing[(SE1, "dormant")]["reason"] == "parent_not_requested"


def test_totals_add_up_per_status_and_across():
    reports = [report(REF, s) for s in STATUSES] + [report(ELSTER), report(ITRON, "active")]
    summary = summarise(*reports)
    requested = keys(summary["requested"])
    assert requested == [(ELSTER, "dormant"), (ITRON, "active"), (REF, "active"),
                         (REF, "dormant"), (REF, "mixed"),
                         (SE1, "active"), (SE1, "dormant"), (SE1, "mixed")]
    tables = summary["tables"]
    for group, members in (("group_1", requested[:5]), ("group_2", requested[5:])):
        table = tables[group]
        for measure in ("installs", "devices"):
            for status in STATUSES:
                rows = [table[row][measure][status] for row in ROWS]
                assert rows == [sum(population(d, s, row, measure) for d, s in members
                                    if s == status) for row in ROWS]
                assert table["totals_by_installation_status"][measure][status] == sum(rows)
            assert table["totals"][measure] == sum(
                table["totals_by_installation_status"][measure].values())
    for row in (*ROWS, "totals_by_installation_status"):
        for measure in ("installs", "devices"):
            for status in STATUSES:
                assert tables["overall"][row][measure][status] == (
                    tables["group_1"][row][measure][status]
                    + tables["group_2"][row][measure][status])
    # The seeds' figures are in: 50,000 dormant Elster and 24,000 active Itron installations.
    assert tables["group_1"]["requested_at_target_firmware"]["installs"] == {
        "active": 24_000 + 2_000, "dormant": 50_000 + 1_000, "mixed": 300}
    assert tables["overall"]["totals"]["installs"] == 24_000 + 50_000 + 4_100 + 1_350
    assert tables["overall"]["placeholder_figures"] is True


def test_a_dmc_tested_for_some_statuses_only():
    summary = summarise(report(REF), report(ITRON, "active"))
    assert keys(summary["requested"]) == [(ITRON, "active"), (REF, "dormant"), (SE1, "dormant")]
    missing = not_requested(summary)
    assert {k: e["reason"] for k, e in missing.items()} == {
        (ITRON, "dormant"): "not_tested",
        (REF, "active"): "not_tested",
        (REF, "mixed"): "not_tested",
        (SE1, "active"): "parent_not_requested",
        (SE1, "mixed"): "parent_not_requested",
    }
    assert missing[(ITRON, "dormant")]["epcl_entry"] == "PH-ITR-001-D"
    assert "no DMCT Testing Report for ITRON-DMC-001/dormant" in missing[(ITRON, "dormant")][
        "details"][0]
    assert summary["tables"]["overall"]["totals_by_installation_status"]["installs"] == {
        "active": 24_000, "dormant": 1_200 + 500, "mixed": 0}
    # A DMC without a report (Aclara, Liberty 110) is out of scope, not "not tested".
    assert {e["dmc"] for e in summary["not_requested"]} == {ITRON, REF, SE1}
    assert all(e["reason"] in NOT_REQUESTED_REASONS for e in summary["not_requested"])


def test_a_missing_population_counts_as_zero_with_a_note():
    summary = summarise(report(ACLARA, "dormant"))
    (entry,) = summary["requested"]
    assert entry["population"] is None
    table = summary["tables"]["group_1"]
    assert table["totals"] == {"installs": 0, "devices": 0}
    assert table["entries_without_population"] == 1 and table["placeholder_figures"] is False
    assert any(n.startswith("ACLARA-IOC-DMC-001/dormant: no population in the catalogue")
               for n in summary["notes"])
    assert "not in the catalogue (counted as 0)" in render_markdown(summary)


def test_requested_entries_on_draft_reports_are_noted():
    summary = summarise(report(ELSTER))
    assert summary["requested"][0]["state"] == "draft"
    assert summary["requested"][0]["referral_deadline"] == "2026-04-17"
    assert any("draft DMCT Testing Reports" in n and "SVTAD 20.39" in n
               for n in summary["notes"])


# -- children with reports of their own, chains, DMCs outside the catalogue ---------------------

def test_a_child_with_its_own_report():
    failing = not_requested(summarise(report(REF), report(SE1, ok=False)))[(SE1, "dormant")]
    assert failing["reason"] == "fails_exit_criteria"
    assert failing["report"] == "REF-DMC-001-SE1/dormant/dmct-report.json"
    assert failing["details"][0].startswith("its own DMCT Testing Report: ")
    summary = summarise(report(REF), report(SE1))
    child = summary["requested"][1]
    assert (child["dmc"], child["group"], child["tested_directly"]) == (SE1, 2, True)
    assert child["own_report"] == "REF-DMC-001-SE1/dormant/dmct-report.json"
    assert child["report"] == "REF-DMC-001/dormant/dmct-report.json"
    # Only the child's report: the parent is in scope, not tested, and the child rests on it.
    alone = not_requested(summarise(report(SE1)))
    assert alone[(REF, "dormant")]["reason"] == "not_tested"
    assert alone[(SE1, "dormant")]["reason"] == "parent_not_requested"


def test_a_child_of_a_child_is_listed_under_the_tested_parent(tmp_path):
    (tmp_path / "dmcs").mkdir()
    text = (Path(CATALOGUE.dmc(SE1).source_file).read_text()
            .replace("id: REF-DMC-001-SE1", "id: REF-DMC-001-SE2")
            .replace("substantively_equivalent_to: REF-DMC-001",
                     "substantively_equivalent_to: REF-DMC-001-SE1")
            .replace("PH-REF-002", "PH-REF-003"))
    (tmp_path / "dmcs" / "se2.yaml").write_text(text)
    catalogue = load_catalogue([tmp_path])
    summary = summarise(report(REF, catalogue=catalogue), catalogue=catalogue)
    assert keys(summary["requested"]) == [(REF, "dormant"), (SE1, "dormant"),
                                          ("REF-DMC-001-SE2", "dormant")]
    grandchild = summary["requested"][2]
    assert grandchild["parent"] == REF and grandchild["substantively_equivalent_to"] == SE1
    assert grandchild["epcl_entry"] == "PH-REF-003-D"


def test_a_dmc_outside_the_catalogue_comes_from_its_report():
    lab_report = report(REF)
    lab_report["dmc"] = {**lab_report["dmc"], "id": "LAB-DMC-9", "epcl_entry": "004321",
                         "name": "<b>lab</b> DMC"}
    summary = summarise(lab_report)
    (entry,) = summary["requested"]
    assert (entry["dmc"], entry["epcl_entry"], entry["name"]) == (
        "LAB-DMC-9", "004321", "<b>lab</b> DMC")
    assert entry["population"] is None and summary["not_requested"] == []
    assert any(n.startswith("LAB-DMC-9 is not in the catalogue") for n in summary["notes"])
    page = render_html(summary)
    assert "<b>lab</b>" not in page and "&lt;b&gt;lab&lt;/b&gt; DMC" in page


# -- the files at an out root -------------------------------------------------------------------

def test_nothing_is_written_without_a_report(tmp_path):
    assert write_epcl_summary(tmp_path / "absent", CATALOGUE) == []
    (tmp_path / "REF-DMC-001" / "dormant").mkdir(parents=True)
    assert write_epcl_summary(tmp_path, CATALOGUE) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["REF-DMC-001"]


def test_an_unreadable_report_is_listed_not_fatal(tmp_path):
    write_report(tmp_path / REF / "dormant", report(REF))
    torn = tmp_path / ELSTER / "dormant" / "dmct-report.json"
    torn.parent.mkdir(parents=True)
    torn.write_text('{"schema": "smets1-dmct/dmct-re')
    write_report(tmp_path / ITRON / "active", report(ITRON, "dormant"))  # in the wrong folder
    written = write_epcl_summary(tmp_path, CATALOGUE)
    assert [p.name for p in written] == ["epcl-summary.json", "epcl-summary.md",
                                         "epcl-summary.html"]
    summary = json.loads(written[0].read_text())
    missing = not_requested(summary)
    assert missing[(ELSTER, "dormant")]["reason"] == "report_unreadable"
    assert missing[(ELSTER, "dormant")]["details"][0].startswith(
        "cannot read HONEYWELL-ELSTER-DMC-001/dormant/dmct-report.json: ")
    assert missing[(ITRON, "active")]["reason"] == "report_unreadable"
    assert "is for ITRON-DMC-001/dormant, not for the folder" in missing[(ITRON, "active")][
        "details"][0]
    assert missing[(ITRON, "dormant")]["reason"] == "not_tested"
    assert keys(summary["requested"]) == [(REF, "dormant"), (SE1, "dormant")]
    assert not list(tmp_path.glob("*.tmp"))


# -- end to end: dmct run of two DMCs, then the summary -------------------------------------------

@pytest.fixture(scope="module")
def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("epcl-run")
    code = main(["run", "--dmc", REF, "--dmc", ELSTER, "--status", "dormant", "--pack", "smoke",
                 "--out", str(out)])
    assert code == 0
    return out


def test_a_real_run_of_two_dmcs(run_root):
    written = write_epcl_summary(run_root, CATALOGUE)
    assert written == [run_root / f"epcl-summary.{s}" for s in ("json", "md", "html")]
    summary = json.loads((run_root / "epcl-summary.json").read_text())
    assert keys(summary["requested"]) == [(ELSTER, "dormant"), (REF, "dormant"),
                                          (SE1, "dormant")]
    for entry in summary["requested"]:
        assert (run_root / entry["report"]).is_file()
        assert entry["verdict"] == "meets_exit_criteria"
        assert {d["role"] for d in entry["devices"]} == {"CHF", "ESME", "GSME", "PPMID", "IHD"}
    elster = summary["requested"][0]
    chf = next(d for d in elster["devices"] if d["role"] == "CHF")
    assert (chf["manufacturer"], chf["placeholder"]) == ("Honeywell Elster", True)
    assert summary["tables"]["group_1"]["requested_at_target_firmware"]["installs"][
        "dormant"] == 50_000 + 1_000
    assert summary["tables"]["group_2"]["totals"] == {"installs": 500, "devices": 750}
    assert {k: e["reason"] for k, e in not_requested(summary).items()} == {
        (REF, "active"): "not_tested", (REF, "mixed"): "not_tested",
        (SE1, "active"): "parent_not_requested", (SE1, "mixed"): "parent_not_requested"}

    markdown = (run_root / "epcl-summary.md").read_text()
    assert "| Requested EPCL entries at target FW | 0 | 51,000 | 0 | 0 | 76,500 | 0 |" in markdown
    assert "#### Substantively equivalent to REF-DMC-001" in markdown

    page = (run_root / "epcl-summary.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    # Self-contained: no script, nothing fetched, every link relative to the out root.
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(", page, re.I)
    assert not re.search(r"(?:https?:)?//", page.replace("</", ""))
    links = re.findall(r'href="([^"]+)"', page)
    assert links and all((run_root / link).is_file() for link in links)
    for entry_id in ("PH-HEL-001-D", "PH-REF-001-D", "PH-REF-002-D"):
        assert entry_id in page
