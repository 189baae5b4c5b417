"""Bounds of the clock-dependent Dataverse date query functions at a fixed "now".

Conventions (docs/deviations.md): half-open intervals [lower, upper) in UTC; hours and minutes
count from now; days, weeks, months and years from midnight; weeks start on Sunday; "through
now" ends one second after now (second precision).
"""

from __future__ import annotations

import datetime as dt

import pytest

from odata_emulator.errors import QueryError
from odata_emulator.query.datefunctions import CLOCK_FUNCTIONS, clock_bounds

UTC = dt.timezone.utc
# A Wednesday afternoon.
NOW = dt.datetime(2026, 11, 4, 15, 30, tzinfo=UTC)
SECOND = dt.timedelta(seconds=1)


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


def test_now_is_a_wednesday() -> None:
    assert NOW.strftime("%A") == "Wednesday"


BOUNDS = [
    ("Today", None, at(2026, 11, 4), at(2026, 11, 5)),
    ("Yesterday", None, at(2026, 11, 3), at(2026, 11, 4)),
    ("Tomorrow", None, at(2026, 11, 5), at(2026, 11, 6)),
    # Sunday 1 November to Sunday 8 November.
    ("ThisWeek", None, at(2026, 11, 1), at(2026, 11, 8)),
    ("LastWeek", None, at(2026, 10, 25), at(2026, 11, 1)),
    ("NextWeek", None, at(2026, 11, 8), at(2026, 11, 15)),
    ("ThisMonth", None, at(2026, 11, 1), at(2026, 12, 1)),
    ("LastMonth", None, at(2026, 10, 1), at(2026, 11, 1)),
    ("NextMonth", None, at(2026, 12, 1), at(2027, 1, 1)),
    ("ThisYear", None, at(2026, 1, 1), at(2027, 1, 1)),
    ("LastYear", None, at(2025, 1, 1), at(2026, 1, 1)),
    ("NextYear", None, at(2027, 1, 1), at(2028, 1, 1)),
    # From midnight seven days ago through now; from now to the end of the seventh day ahead.
    ("Last7Days", None, at(2026, 10, 28), NOW + SECOND),
    ("Next7Days", None, NOW, at(2026, 11, 12)),
    # Hours: from now.
    ("LastXHours", 24, at(2026, 11, 3, 15, 30), NOW + SECOND),
    ("NextXHours", 2, NOW, at(2026, 11, 4, 17, 30) + SECOND),
    # Calendar units: from midnight of the first day, to the end of the last day.
    ("LastXDays", 3, at(2026, 11, 1), NOW + SECOND),
    ("NextXDays", 3, NOW, at(2026, 11, 8)),
    ("LastXWeeks", 1, at(2026, 10, 28), NOW + SECOND),
    ("NextXWeeks", 1, NOW, at(2026, 11, 12)),
    ("LastXMonths", 1, at(2026, 10, 4), NOW + SECOND),
    ("NextXMonths", 1, NOW, at(2026, 12, 5)),
    ("LastXYears", 1, at(2025, 11, 4), NOW + SECOND),
    ("NextXYears", 2, NOW, at(2028, 11, 5)),
    # Older than: now minus X for minutes and hours, midnight of that day for longer units.
    ("OlderThanXMinutes", 42, None, at(2026, 11, 4, 14, 48)),
    ("OlderThanXHours", 2, None, at(2026, 11, 4, 13, 30)),
    ("OlderThanXDays", 30, None, at(2026, 10, 5)),
    ("OlderThanXWeeks", 2, None, at(2026, 10, 21)),
    ("OlderThanXMonths", 1, None, at(2026, 10, 4)),
    ("OlderThanXYears", 1, None, at(2025, 11, 4)),
]


@pytest.mark.parametrize("function,amount,lower,upper", BOUNDS)
def test_bounds(function: str, amount, lower, upper) -> None:
    assert CLOCK_FUNCTIONS[function].takes_value is (amount is not None)
    assert clock_bounds(function, NOW, amount) == (lower, upper)


def test_every_clock_function_is_covered() -> None:
    assert {name for name, *_ in BOUNDS} == set(CLOCK_FUNCTIONS)


def test_zero_amount() -> None:
    assert clock_bounds("LastXHours", NOW, 0) == (NOW, NOW + SECOND)
    assert clock_bounds("LastXDays", NOW, 0) == (at(2026, 11, 4), NOW + SECOND)
    assert clock_bounds("OlderThanXMinutes", NOW, 0) == (None, NOW)


@pytest.mark.parametrize("function,amount,lower,upper", [
    # One month before 31 March is 28 February (2026 is not a leap year), from midnight.
    ("LastXMonths", 1, at(2026, 2, 28), at(2026, 3, 31, 12) + SECOND),
    ("LastXMonths", 13, at(2025, 2, 28), at(2026, 3, 31, 12) + SECOND),
    ("NextXMonths", 1, at(2026, 3, 31, 12), at(2026, 5, 1)),
    ("OlderThanXMonths", 1, None, at(2026, 2, 28)),
    ("LastMonth", None, at(2026, 2, 1), at(2026, 3, 1)),
    ("ThisMonth", None, at(2026, 3, 1), at(2026, 4, 1)),
    ("NextMonth", None, at(2026, 4, 1), at(2026, 5, 1)),
])
def test_month_end_arithmetic(function: str, amount, lower, upper) -> None:
    assert clock_bounds(function, at(2026, 3, 31, 12), amount) == (lower, upper)


def test_leap_day() -> None:
    leap = at(2028, 2, 29, 1)
    assert clock_bounds("LastXYears", leap, 1) == (at(2027, 2, 28), leap + SECOND)
    assert clock_bounds("NextXYears", leap, 1) == (leap, at(2029, 3, 1))
    assert clock_bounds("LastMonth", at(2028, 3, 15), None) == (at(2028, 2, 1), at(2028, 3, 1))


@pytest.mark.parametrize("now", [at(2026, 11, 1, 0, 0), at(2026, 11, 4, 12), at(2026, 11, 7, 23, 59, 59)])
def test_week_runs_sunday_to_saturday(now: dt.datetime) -> None:
    assert clock_bounds("ThisWeek", now, None) == (at(2026, 11, 1), at(2026, 11, 8))


def test_year_boundaries() -> None:
    new_year = at(2027, 1, 1, 0, 0, 30)
    assert clock_bounds("Yesterday", new_year, None) == (at(2026, 12, 31), at(2027, 1, 1))
    assert clock_bounds("LastMonth", new_year, None) == (at(2026, 12, 1), at(2027, 1, 1))
    assert clock_bounds("LastWeek", new_year, None) == (at(2026, 12, 20), at(2026, 12, 27))
    assert clock_bounds("ThisYear", new_year, None) == (at(2027, 1, 1), at(2028, 1, 1))


def test_bounds_are_half_open_intervals_in_utc() -> None:
    for name, function in CLOCK_FUNCTIONS.items():
        lower, upper = clock_bounds(name, NOW, 5 if function.takes_value else None)
        assert upper is not None, name
        assert upper.tzinfo is not None and upper.utcoffset() == dt.timedelta(0)
        if lower is not None:
            assert lower < upper, name
            assert lower.tzinfo is not None and lower.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("function", ["LastXYears", "NextXYears", "OlderThanXDays"])
def test_amount_out_of_range(function: str) -> None:
    with pytest.raises(QueryError) as caught:
        clock_bounds(function, NOW, 100_000_000)
    assert caught.value.message == f"The parameter 'PropertyValue' of function '{function}' is out of range."
