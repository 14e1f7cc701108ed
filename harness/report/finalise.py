"""Draft and final: when a DMCT Testing Report may be finalised, and what finalising records.

A report starts as a draft (SVTAD 20.34); suppliers may refer it until its referral deadline,
``referral_working_days`` Working Days after it was produced (SVTAD 20.37). Finalising before
that day takes ``--force`` and a recorded reason. A report is never final while it is
incomplete (the run did not finish), nor when its run's selection was partial (some packs, or
pytest arguments that may leave cases out): forcing cannot make such a report final, since the
verdict of cases that never ran is unknown.

"Today" is the calendar day in England, like the Working Days it is compared with. ``DMCT_NOW``
(an ISO date or date-time) stands in for the clock so the rule can be tested on fixed dates.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from typing import Any

from harness.workdays import ENGLAND, working_days_between

NOW_ENV = "DMCT_NOW"


class FinaliseRefused(Exception):
    """The report may not be finalised now; the message is one line saying why."""


def now() -> datetime:
    """The current time, aware, or ``DMCT_NOW`` when set (a date alone is midnight in England).

    Raises ``ValueError`` (one line) for a ``DMCT_NOW`` that is not an ISO date or date-time.
    """
    value = os.environ.get(NOW_ENV, "").strip()
    if not value:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{NOW_ENV}={value!r}: expected an ISO date or date-time, e.g. "
                         "2026-04-20 or 2026-04-20T09:00:00+01:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ENGLAND)


def today_in_england(moment: datetime) -> date:
    return moment.astimezone(ENGLAND).date()


def finalise(report: dict[str, Any], *, at: datetime, force: bool = False,
             reason: str | None = None) -> dict[str, Any]:
    """A copy of the draft ``report`` made final at ``at``.

    Raises :class:`FinaliseRefused` when the report is incomplete, or when ``at`` is before
    its referral deadline and ``force`` with a non-blank ``reason`` was not given.
    """
    if report.get("state") == "final":
        raise FinaliseRefused(f"the report is already final (finalised "
                              f"{report.get('finalised_at')})")
    if not report.get("complete", True):
        raise FinaliseRefused("the report is incomplete (its run did not finish): a report is "
                              "never final while incomplete, even with --force; resume the run "
                              "(dmct run --resume) and finalise its complete report")
    selection = report.get("selection") or {}
    if selection.get("partial"):
        why = "; ".join(selection.get("partial_reasons") or ["some cases left out"])
        raise FinaliseRefused(
            f"the report is of a partial selection ({why}): a report is never final unless "
            "its run ran every case, even with --force; run the DMC and status with no --pack "
            "or pytest selection")
    from harness.report.referrals import open_referrals

    referred = open_referrals(report)
    if referred and not force:
        names = ", ".join(f"{r['supplier']} on {r['on']}" for r in referred)
        raise FinaliseRefused(f"referred to the Secretary of State ({names}; SVTAD 20.40): "
                              "finalise once determined, with --force --reason TEXT naming "
                              "the determination")
    deadline = date.fromisoformat(str(report["referral_deadline"]))
    today = today_in_england(at)
    early = today < deadline
    if early and not force:
        left = working_days_between(today, deadline)
        raise FinaliseRefused(
            f"the referral deadline is {deadline.isoformat()} ({left} working day"
            f"{'' if left == 1 else 's'} from today, {today.isoformat()}): suppliers may refer "
            "the draft until then; finalise on or after that day, or now with --force "
            "--reason TEXT")
    if (early or referred) and not (reason and reason.strip()):
        raise FinaliseRefused("finalising before the referral deadline, or after a referral, "
                              "needs a reason (--reason TEXT)")
    return {**report, "state": "final", "finalised_at": at.isoformat(),
            "finalised_early": early, "final_reason": " ".join(reason.split())
            if (early or referred) and reason else None}
