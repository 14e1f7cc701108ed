"""GB working days: the unit of the programme's notification periods and referral deadlines.

A Working Day in the Smart Energy Code is a day other than a weekend or a bank holiday in England
and Wales. Bank holidays come from the maintained ``holidays`` package (its ``GB`` calendar with
subdivision ``ENG``), never from a hand-kept list.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

#: Working days are calendar days in England: an aware datetime (the bench clock is UTC) is
#: taken by its date there, so 23:30 UTC on a summer evening is already the next day.
ENGLAND = ZoneInfo("Europe/London")


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[date]:
    # Imported here: the package loads every country's calendar, which a process that never
    # counts working days (most dmct commands) should not pay for.
    import holidays

    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def _day(value: date) -> date:
    """The calendar day in England of a date or datetime (naive datetimes are taken as is)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(ENGLAND)
        return value.date()
    return value


def is_working_day(day: date) -> bool:
    """True for Monday to Friday that is not an England and Wales bank holiday."""
    day = _day(day)
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def add_working_days(start: date, days: int) -> date:
    """The date ``days`` working days after ``start`` (``start`` itself is not counted).

    ``days`` may be 0 (returns ``start``) or negative (counts backwards).
    """
    start = _day(start)
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
    start, end = _day(start), _day(end)
    if end < start:
        return -working_days_between(end, start)
    count = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if is_working_day(current):
            count += 1
    return count
