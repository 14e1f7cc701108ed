"""harness.workdays: GB (England and Wales) working days from the ``holidays`` package."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from harness.workdays import add_working_days, is_working_day, working_days_between


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 1, 5), True),  # Monday
        (date(2026, 1, 9), True),  # Friday
        (date(2026, 1, 10), False),  # Saturday
        (date(2026, 1, 11), False),  # Sunday
        (date(2026, 1, 1), False),  # New Year's Day (Thursday)
        (date(2026, 4, 2), True),  # Thursday before Easter
        (date(2026, 4, 3), False),  # Good Friday
        (date(2026, 4, 6), False),  # Easter Monday
        (date(2026, 4, 7), True),
        (date(2026, 5, 4), False),  # Early May bank holiday
        (date(2026, 8, 31), False),  # Summer bank holiday
        (date(2026, 12, 24), True),
        (date(2026, 12, 25), False),  # Christmas Day (Friday)
        (date(2026, 12, 28), False),  # Boxing Day (Saturday) observed on Monday
        (date(2026, 12, 29), True),
        (date(2027, 12, 27), False),  # Christmas 2027 (Saturday) observed
        (date(2027, 12, 28), False),  # Boxing Day 2027 (Sunday) observed
    ],
)
def test_is_working_day(day, expected):
    assert is_working_day(day) is expected


def test_scottish_only_holidays_are_working_days():
    # 2 January and St Andrew's Day (observed) are Scottish bank holidays, not English ones.
    assert is_working_day(date(2026, 1, 2))
    assert is_working_day(date(2026, 11, 30))


def test_datetimes_are_taken_by_their_date():
    assert not is_working_day(datetime(2026, 12, 25, 23, 59, tzinfo=UTC))
    assert is_working_day(datetime(2026, 12, 24, 0, 0, tzinfo=UTC))
    assert add_working_days(datetime(2026, 1, 5, 9, 0, tzinfo=UTC), 1) == date(2026, 1, 6)


def test_an_aware_datetime_counts_by_its_date_in_england():
    # 23:30 UTC on Thursday 2 April 2026 is 00:30 on Good Friday in London (BST).
    late = datetime(2026, 4, 2, 23, 30, tzinfo=UTC)
    assert not is_working_day(late)
    assert add_working_days(late, 0) == date(2026, 4, 3)
    assert add_working_days(late, 1) == date(2026, 4, 7)
    assert working_days_between(late, date(2026, 4, 7)) == 1
    # In winter London is on UTC: 23:30 UTC is still the same day.
    assert is_working_day(datetime(2026, 12, 24, 23, 30, tzinfo=UTC))
    assert is_working_day(datetime(2026, 4, 2, 23, 30))  # naive: taken as is


def test_add_zero_working_days_returns_the_start_even_on_a_holiday():
    assert add_working_days(date(2026, 12, 25), 0) == date(2026, 12, 25)
    assert add_working_days(date(2026, 1, 7), 0) == date(2026, 1, 7)


def test_add_working_days_skips_weekends():
    assert add_working_days(date(2026, 1, 9), 1) == date(2026, 1, 12)  # Fri -> Mon
    assert add_working_days(date(2026, 1, 10), 1) == date(2026, 1, 12)  # Sat -> Mon
    assert add_working_days(date(2026, 1, 5), 10) == date(2026, 1, 19)


def test_add_ten_working_days_over_christmas_2026():
    # Fri 18 Dec: 21-24 Dec (4), 25 and 28 Dec holidays, 29-31 Dec (7), 1 Jan holiday,
    # 4-6 Jan (10).
    assert add_working_days(date(2026, 12, 18), 10) == date(2027, 1, 6)


def test_add_working_days_over_easter_2026():
    assert add_working_days(date(2026, 4, 2), 1) == date(2026, 4, 7)
    assert add_working_days(date(2026, 4, 1), 2) == date(2026, 4, 7)


def test_negative_working_days_count_backwards():
    assert add_working_days(date(2026, 4, 7), -1) == date(2026, 4, 2)
    assert add_working_days(date(2026, 12, 29), -1) == date(2026, 12, 24)
    assert add_working_days(date(2027, 1, 6), -10) == date(2026, 12, 18)
    assert add_working_days(date(2026, 1, 12), -1) == date(2026, 1, 9)


def test_the_result_of_a_non_zero_count_is_a_working_day():
    start = date(2026, 12, 20)
    for days in range(-15, 16):
        if days:
            assert is_working_day(add_working_days(start, days)), days


def test_working_days_between():
    assert working_days_between(date(2026, 1, 5), date(2026, 1, 5)) == 0
    assert working_days_between(date(2026, 1, 5), date(2026, 1, 12)) == 5
    # 25 (holiday), 26-27 (weekend), 28 (observed Boxing Day), 29: one working day.
    assert working_days_between(date(2026, 12, 24), date(2026, 12, 29)) == 1
    assert working_days_between(date(2026, 4, 2), date(2026, 4, 7)) == 1
    assert working_days_between(date(2026, 1, 12), date(2026, 1, 5)) == -5


def test_between_inverts_add_from_a_working_day():
    start = date(2026, 12, 17)
    for days in range(0, 25):
        assert working_days_between(start, add_working_days(start, days)) == days


def test_a_whole_year_has_the_expected_number_of_working_days():
    # 2026: 261 weekdays, 8 England and Wales bank holidays all on weekdays (Boxing Day is
    # observed on Monday 28 December).
    first = date(2026, 1, 1)
    total = sum(is_working_day(first + timedelta(days=n)) for n in range(365))
    assert total == 261 - 8
    assert working_days_between(date(2025, 12, 31), date(2026, 12, 31)) == 253
