"""The typed report model (``harness.report.model``): every renderer reads it."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from harness.config import load_catalogue
from harness.report.dmct_report import write_report
from harness.report.epcl import build_epcl_summary, write_epcl_summary
from harness.report.model import DmctReport
from report.test_epcl import ITRON, PRODUCED, REF, report
from report.test_render import make_report


def test_a_built_report_reads_and_writes_back_unchanged():
    report = make_report()
    model = DmctReport.from_json(report)
    assert model.to_json() == report
    failed = [c for c in model.cases if c.outcome == "failed"]
    assert failed and all(c.testing_issue for c in failed)
    assert model.threshold.counts["2"] >= 1 and model.verdict == "fails_exit_criteria"
    with pytest.raises(ValidationError):  # frozen
        model.verdict = "meets_exit_criteria"  # type: ignore[misc]


def test_a_report_of_an_older_harness_reads_with_defaults_and_keeps_unknown_fields():
    report = make_report()
    for field in ("lsc5", "coverage", "exclusions_20_29", "referral_register", "limitations",
                  "provenance", "referral_working_days"):
        report.pop(field)
    report["a_later_field"] = {"kept": True}
    model = DmctReport.from_json(report)
    assert model.lsc5 is None and model.referral_register.basis == "production"
    assert model.to_json()["a_later_field"] == {"kept": True}


def test_a_misspelt_outcome_is_an_error():
    report = make_report()
    report["cases"][0]["outcome"] = "passd"
    with pytest.raises(ValidationError, match="outcome"):
        DmctReport.from_json(report)


# -- the EPCL summary reads the reports through the model too ------------------------------------

def test_the_epcl_summary_reads_models_and_dicts_alike():
    catalogue = load_catalogue()
    reports = [report(REF), report(ITRON, ok=False)]
    from_dicts = build_epcl_summary(reports, catalogue, produced_at=PRODUCED)
    models = [DmctReport.from_json(r) for r in reports]
    assert build_epcl_summary(models, catalogue, produced_at=PRODUCED) == from_dicts
    assert from_dicts["requested"][0]["devices"] == reports[0]["dmc"]["devices"]


def test_an_epcl_summary_lists_a_report_the_model_refuses_as_unreadable(tmp_path):
    bad = report(REF, ok=False)
    bad["testing_issues"][0]["severity"] = "high"  # a hand-edited report
    write_report(tmp_path / REF / "dormant", bad)
    written = write_epcl_summary(tmp_path, load_catalogue())
    summary = json.loads(written[0].read_text())
    (entry,) = [e for e in summary["not_requested"]
                if (e["dmc"], e["installation_status"]) == (REF, "dormant")]
    assert entry["reason"] == "report_unreadable"
    assert entry["details"] == ["REF-DMC-001/dormant/dmct-report.json: testing_issues.0.severity: "
                                "Input should be a valid integer, unable to parse string as an "
                                "integer"]


def test_allure_reads_the_report_through_the_model_too():
    from harness.report.allure_env import environment, executor

    report = make_report()
    model = DmctReport.from_json(report)
    assert environment(report) == environment(model)
    assert environment(model)["Verdict"] == "fails exit criteria"
    assert executor(report) == executor(model)
