"""Draft and final (``harness.report.finalise``): the referral deadline in England's Working
Days (Easter, Christmas), refusing before it unless forced with a reason, never final while
incomplete, and ``DMCT_NOW`` standing in for the clock. Fixed dates only."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from harness.report.finalise import FinaliseRefused, finalise, now
from harness.workdays import add_working_days


def draft(produced: datetime, *, complete: bool = True) -> dict[str, Any]:
    return {"state": "draft", "finalised_at": None, "finalised_early": None,
            "final_reason": None, "complete": complete, "produced_at": produced.isoformat(),
            "referral_deadline": add_working_days(produced, 10).isoformat()}


#: Wednesday before Easter 2026: Good Friday (3 April) and Easter Monday (6 April) are not
#: Working Days, so the 10th one is Friday 17 April.
EASTER = datetime(2026, 4, 1, 14, 0, tzinfo=UTC)
#: Friday 18 December 2026: Christmas Day, Boxing Day (Saturday, so Monday 28th) and New Year's
#: Day are not Working Days, so the 10th one is Wednesday 6 January 2027.
CHRISTMAS = datetime(2026, 12, 18, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(("produced", "deadline"), [(EASTER, date(2026, 4, 17)),
                                                    (CHRISTMAS, date(2027, 1, 6))])
def test_the_deadline_skips_bank_holidays(produced, deadline):
    assert draft(produced)["referral_deadline"] == deadline.isoformat()


@pytest.mark.parametrize(("produced", "day_before"), [(EASTER, date(2026, 4, 16)),
                                                      (CHRISTMAS, date(2027, 1, 5))])
def test_finalising_the_day_before_the_deadline_is_refused(produced, day_before):
    at = datetime.combine(day_before, datetime.min.time(), UTC).replace(hour=16)
    with pytest.raises(FinaliseRefused) as refused:
        finalise(draft(produced), at=at)
    message = str(refused.value)
    assert "\n" not in message
    assert "referral deadline is " + draft(produced)["referral_deadline"] in message
    assert "(1 working day from today" in message and "--force --reason" in message


@pytest.mark.parametrize("produced", [EASTER, CHRISTMAS])
def test_on_the_deadline_a_draft_becomes_final_without_force(produced):
    report = draft(produced)
    at = datetime.fromisoformat(report["referral_deadline"] + "T09:00:00+00:00")
    final = finalise(report, at=at)
    assert (final["state"], final["finalised_at"], final["finalised_early"],
            final["final_reason"]) == ("final", at.isoformat(), False, None)
    assert report["state"] == "draft"  # a copy: the draft given is not changed


def test_today_is_the_day_in_england():
    # 23:30 UTC on 16 April is 00:30 on the 17th in England (BST): the deadline day.
    assert finalise(draft(EASTER), at=datetime(2026, 4, 16, 23, 30, tzinfo=UTC))["state"] == \
        "final"
    with pytest.raises(FinaliseRefused):
        finalise(draft(EASTER), at=datetime(2026, 4, 16, 22, 59, tzinfo=UTC))


def test_forced_early_with_a_reason_records_it():
    final = finalise(draft(EASTER), at=datetime(2026, 4, 2, 10, tzinfo=UTC), force=True,
                     reason="  programme   board\nasked ")
    assert (final["state"], final["finalised_early"], final["final_reason"]) == (
        "final", True, "programme board asked")


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_forced_early_without_a_reason_is_refused(reason):
    with pytest.raises(FinaliseRefused, match="needs a reason"):
        finalise(draft(EASTER), at=datetime(2026, 4, 2, tzinfo=UTC), force=True, reason=reason)


def test_an_incomplete_report_is_never_final_even_forced_or_late():
    for at, force in ((datetime(2026, 4, 2, tzinfo=UTC), True),
                      (datetime(2026, 6, 1, tzinfo=UTC), False)):
        with pytest.raises(FinaliseRefused, match="incomplete"):
            finalise(draft(EASTER, complete=False), at=at, force=force, reason="because")


def test_a_final_report_is_not_finalised_again():
    final = finalise(draft(EASTER), at=datetime(2026, 5, 1, tzinfo=UTC))
    with pytest.raises(FinaliseRefused, match="already final"):
        finalise(final, at=datetime(2026, 5, 2, tzinfo=UTC))


def test_dmct_now_stands_in_for_the_clock(monkeypatch):
    monkeypatch.setenv("DMCT_NOW", "2026-04-17")
    assert now() == datetime.fromisoformat("2026-04-17T00:00:00+01:00")
    monkeypatch.setenv("DMCT_NOW", "2026-12-24T10:00:00+00:00")
    assert now() == datetime(2026, 12, 24, 10, tzinfo=UTC)
    monkeypatch.setenv("DMCT_NOW", "next tuesday")
    with pytest.raises(ValueError, match=r"^DMCT_NOW='next tuesday': expected an ISO date"):
        now()
    monkeypatch.delenv("DMCT_NOW")
    assert now().tzinfo is not None
