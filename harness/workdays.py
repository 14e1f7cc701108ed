"""GB working days: the unit of the programme's notification periods and referral deadlines.

A Working Day in the Smart Energy Code is a day other than a weekend or a bank holiday in England
and Wales. Bank holidays come from the maintained ``holidays`` package (its ``GB`` calendar with
subdivision ``ENG``), never from a hand-kept list.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache

import holidays


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def is_working_day(day: date) -> bool:
    """True for Monday to Friday that is not an England and Wales bank holiday."""
    if isinstance(day, datetime):
        day = day.date()
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def add_working_days(start: date, days: int) -> date:
    """The date ``days`` working days after ``start`` (``start`` itself is not counted).

    ``days`` may be 0 (returns ``start``) or negative (counts backwards).
    """
    if isinstance(start, datetime):
        start = start.date()
    step = 1 if days >= 0 else -1
    remaining = abs(days)
    current = start
    while remaining:
        current += timedelta(days=step)
        if is_working_day(current):
            remaining -= 1
    return current


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (negative if end < start)."""
    if isinstance(start, datetime):
        start = start.date()
    if isinstance(end, datetime):
        end = end.date()
    if end < start:
        return -working_days_between(end, start)
    count = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if is_working_day(current):
            count += 1
    return count
