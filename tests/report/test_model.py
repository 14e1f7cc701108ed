"""The typed report model (``harness.report.model``): every renderer reads it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from harness.report.model import DmctReport
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
