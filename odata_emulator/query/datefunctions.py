"""The Dataverse date query functions whose meaning depends on "now" (LastXHours, Today, ...).

Each maps (now, X) to a half-open interval [lower, upper) of UTC instants; either end may be
open. The compiler binds the bounds as parameters computed from the clock at execution time,
so a cached plan stays correct as time moves. Calendar units (days and longer) count from
midnight UTC; weeks start on Sunday (en-US). Dataverse evaluates them in the caller's time
zone: the emulator's callers are all in UTC (docs/deviations.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from dateutil.relativedelta import relativedelta

from ..errors import QueryError

Bounds = tuple[dt.datetime | None, dt.datetime | None]
_SECOND = dt.timedelta(seconds=1)


def _day(now: dt.datetime) -> dt.datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _week(now: dt.datetime) -> dt.datetime:
    start = _day(now)
    return start - dt.timedelta(days=(start.weekday() + 1) % 7)


def _month(now: dt.datetime) -> dt.datetime:
    return _day(now).replace(day=1)


def _year(now: dt.datetime) -> dt.datetime:
    return _month(now).replace(month=1)


def _units(unit: str, amount: int) -> relativedelta:
    return relativedelta(**{unit: amount})


@dataclass(frozen=True)
class ClockFunction:
    takes_value: bool
    bounds: Callable[[dt.datetime, int], Bounds]


def _last(unit: str, calendar: bool) -> ClockFunction:
    # Through now: from X units ago (from midnight of that day for calendar units).
    def bounds(now: dt.datetime, x: int) -> Bounds:
        start = now - _units(unit, x)
        return (_day(start) if calendar else start), now + _SECOND
    return ClockFunction(True, bounds)


def _next(unit: str, calendar: bool) -> ClockFunction:
    # From now: to X units ahead (to the end of that day for calendar units).
    def bounds(now: dt.datetime, x: int) -> Bounds:
        end = now + _units(unit, x)
        return now, (_day(end) + dt.timedelta(days=1) if calendar else end + _SECOND)
    return ClockFunction(True, bounds)


def _older_than(unit: str, calendar: bool) -> ClockFunction:
    def bounds(now: dt.datetime, x: int) -> Bounds:
        edge = now - _units(unit, x)
        return None, (_day(edge) if calendar else edge)
    return ClockFunction(True, bounds)


def _period(start: Callable[[dt.datetime], dt.datetime], length: relativedelta, offset: int) -> ClockFunction:
    def bounds(now: dt.datetime, _x: int) -> Bounds:
        lower = start(now) + length * offset
        return lower, lower + length
    return ClockFunction(False, bounds)


_DAY, _WEEK, _MONTH, _YEAR = relativedelta(days=1), relativedelta(days=7), relativedelta(months=1), relativedelta(years=1)

CLOCK_FUNCTIONS: dict[str, ClockFunction] = {
    "LastXHours": _last("hours", False),
    "LastXDays": _last("days", True),
    "LastXWeeks": _last("weeks", True),
    "LastXMonths": _last("months", True),
    "LastXYears": _last("years", True),
    "NextXHours": _next("hours", False),
    "NextXDays": _next("days", True),
    "NextXWeeks": _next("weeks", True),
    "NextXMonths": _next("months", True),
    "NextXYears": _next("years", True),
    "OlderThanXMinutes": _older_than("minutes", False),
    "OlderThanXHours": _older_than("hours", False),
    "OlderThanXDays": _older_than("days", True),
    "OlderThanXWeeks": _older_than("weeks", True),
    "OlderThanXMonths": _older_than("months", True),
    "OlderThanXYears": _older_than("years", True),
    "Today": _period(_day, _DAY, 0),
    "Yesterday": _period(_day, _DAY, -1),
    "Tomorrow": _period(_day, _DAY, 1),
    "ThisWeek": _period(_week, _WEEK, 0),
    "LastWeek": _period(_week, _WEEK, -1),
    "NextWeek": _period(_week, _WEEK, 1),
    "ThisMonth": _period(_month, _MONTH, 0),
    "LastMonth": _period(_month, _MONTH, -1),
    "NextMonth": _period(_month, _MONTH, 1),
    "ThisYear": _period(_year, _YEAR, 0),
    "LastYear": _period(_year, _YEAR, -1),
    "NextYear": _period(_year, _YEAR, 1),
    "Last7Days": ClockFunction(False, lambda now, _x: (_day(now) - dt.timedelta(days=7), now + _SECOND)),
    "Next7Days": ClockFunction(False, lambda now, _x: (now, _day(now) + dt.timedelta(days=8))),
}


def clock_bounds(function: str, now: dt.datetime, amount: int | None) -> Bounds:
    try:
        return CLOCK_FUNCTIONS[function].bounds(now, amount or 0)
    except (ValueError, OverflowError):  # e.g. LastXYears(PropertyValue=100000): before year 1
        raise QueryError(f"The parameter 'PropertyValue' of function '{function}' is out of range.") from None
