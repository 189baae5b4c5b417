"""Recurring system jobs: `recurrencepattern` is an RFC 2445 RRULE (`FREQ=DAILY;INTERVAL=3;`),
counted from `recurrencestarttime`. The arithmetic is python-dateutil's; this module decides which
rules are accepted and keeps every computation bounded.

Accepted (docs/deviations.md): `FREQ` (YEARLY ... MINUTELY) with `INTERVAL`, `COUNT` or `UNTIL`,
`BYMONTH`, `BYMONTHDAY`, `BYDAY`, `BYHOUR`, `BYMINUTE`, `BYSETPOS` and `WKST`, each part once. A rule
is refused where it enters (control API, BulkDelete, fixtures) when it is malformed, when its
interval is zero, negative or longer than ten years, when its BYSETPOS is past the times each of its
days, hours or minutes holds (`_check_set_positions`), or when it has no occurrence within
`HORIZON_YEARS` of its start: such a rule never advances, and a job that ran it would never be
due again. At run time an occurrence more than `HORIZON_YEARS` after the run counts as none: the
rule has ended.

Why bounds: dateutil walks candidate days until one passes the rule's filters or the year 9999
ends. A rule whose filters match rarely or never (`FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30`) takes it
seconds to minutes, and `INTERVAL=0` never ends. Two things bound the walk here:
- the start moves forward by whole periods to just before the moment asked about (`_closer_start`),
  so a rule that started long ago is not replayed;
- the search runs on dates moved forward by whole 400-year Gregorian cycles (which keep every
  weekday, month length and leap day) so that year 9999, where dateutil stops, lies between
  `HORIZON_YEARS` and `HORIZON_YEARS + 400` years after that moment;
- an hourly or minutely rule with day filters is searched a matching day at a time, up to
  `HORIZON_YEARS` (`_search_by_day`): dateutil would walk the days its filters refuse an hour or a
  minute at a time.
Even bounded, a walk over centuries of filtered days takes a noticeable fraction of a second, so
callers on the event loop use `next_occurrence_async`/`check_async`, which compute in a worker
thread, and never while they hold the store's write lock.
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from dateutil.rrule import rrule, rrulestr

from ..errors import BadRequest

UTC = dt.timezone.utc

FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY")
PARTS = ("FREQ", "INTERVAL", "COUNT", "UNTIL", "BYMONTH", "BYMONTHDAY", "BYDAY", "BYHOUR", "BYMINUTE", "BYSETPOS",
         "WKST")
# The longest interval accepted for each frequency: ten years.
MAX_INTERVAL = {"YEARLY": 10, "MONTHLY": 120, "WEEKLY": 521, "DAILY": 3_652, "HOURLY": 87_660,
                "MINUTELY": 5_259_600}
MAX_COUNT = 100_000
# How far past the moment asked about an occurrence is looked for (see the module docstring).
HORIZON_YEARS = 50
_CYCLE_YEARS = 400  # the Gregorian calendar repeats exactly every 400 years (146,097 days, 20,871 weeks)
_LAST_YEAR = dt.MAXYEAR

# Frequencies whose period has a fixed length (months and years do not).
_FIXED_PERIODS = {"WEEKLY": dt.timedelta(weeks=1), "DAILY": dt.timedelta(days=1), "HOURLY": dt.timedelta(hours=1),
                  "MINUTELY": dt.timedelta(minutes=1)}


class RecurrenceError(BadRequest):
    """Raised when a recurrence pattern is not a rule the asynchronous service can run: malformed,
    outside the accepted subset of RFC 2445, or one that never advances."""


@dataclass(frozen=True)
class Rule:
    """A checked recurrence pattern: its text as written and the parts that bound its arithmetic."""

    pattern: str
    text: str  # the rule without surrounding blanks and semicolons, as dateutil reads it
    frequency: str
    interval: int
    counted: bool  # has COUNT: its occurrences are numbered from the start, which then cannot move
    until: dt.datetime | None  # UNTIL, naive UTC
    count: int | None = None  # COUNT
    # An hourly or minutely rule with day filters or BYHOUR: its months, days of the month,
    # weekdays and hours (None: any), and the rule without COUNT. Such a rule is searched one
    # matching day (or hour) at a time (`_search_by_day`).
    windows: tuple[frozenset[int] | None, ...] | None = None
    uncounted: str | None = None
    within: str | None = None  # the rule inside one such window: without COUNT, UNTIL and the filters it passed


def _refuse(pattern: str, why: str) -> RecurrenceError:
    return RecurrenceError(f"The recurrence pattern '{pattern}' is not a valid RFC 2445 rule: {why}.")


def _whole_number(pattern: str, name: str, value: str, low: int, high: int) -> int:
    # Digits only, and few of them: int() of a 5,000-digit string is itself an error.
    if not (value.isascii() and value.isdigit()) or len(value) > 12 or not low <= int(value) <= high:
        raise _refuse(pattern, f"{name} must be a whole number from {low:,} to {high:,}")
    return int(value)


# The BY parts that list numbers, and the range of each (negative: counted from the end; 0 never).
_NUMBER_LISTS = {"BYMONTH": (1, 12), "BYMONTHDAY": (-31, 31), "BYHOUR": (0, 23), "BYMINUTE": (0, 59),
                 "BYSETPOS": (-366, 366)}
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_WEEKDAY = re.compile(r"[+-]?(?P<n>[0-9]{1,2})?(?:MO|TU|WE|TH|FR|SA|SU)")


def _number_list(pattern: str, name: str, value: str, low: int, high: int) -> None:
    for item in value.split(","):
        text = item.strip().removeprefix("-").removeprefix("+")
        if not (text.isascii() and text.isdigit()) or len(text) > 3 or not low <= int(item) <= high or \
                (int(item) == 0 and low < 0):
            zero = " (not 0)" if low < 0 else ""
            raise _refuse(pattern, f"{name} takes whole numbers from {low} to {high}{zero}; '{item}' is not one")


def _check_set_positions(pattern: str, frequency: str, parts: dict[str, str]) -> None:
    """BYSETPOS picks the Nth of the times a period holds. A day, hour or minute holds a known number
    of them (one per BYHOUR and BYMINUTE value, seconds are not given); a position beyond that never
    picks anything, and dateutil would look for it period by period, minute by minute for a minutely
    rule: minutes on end for a single check. (Longer periods are walked a day at a time: fast.)"""
    hours = len({int(v) for v in parts["BYHOUR"].split(",")}) if "BYHOUR" in parts else 1
    minutes = len({int(v) for v in parts["BYMINUTE"].split(",")}) if "BYMINUTE" in parts else 1
    size = {"DAILY": hours * minutes, "HOURLY": minutes, "MINUTELY": 1}.get(frequency)
    if size is None:
        return
    if all(abs(int(position)) > size for position in parts["BYSETPOS"].split(",")):
        raise _refuse(pattern, f"a {_PERIOD_NAMES[frequency]} holds {size} time{'s' if size > 1 else ''} (one per "
                               f"BYHOUR and BYMINUTE value), so BYSETPOS={parts['BYSETPOS']} never selects one")


_PERIOD_NAMES = {"DAILY": "day", "HOURLY": "hour", "MINUTELY": "minute"}


def parse(pattern: str | None) -> Rule | None:
    """The rule a pattern states, checked part by part (no occurrence is computed); None when the
    pattern is empty (the job does not recur). Raises RecurrenceError."""
    if pattern is None:
        return None
    text = pattern.strip().strip(";").strip()
    if not text:
        return None
    parts = _split_parts(pattern, text)
    frequency = parts.get("FREQ", "").upper()
    if "FREQ" not in parts:
        raise _refuse(pattern, "FREQ is required")
    if frequency not in FREQUENCIES:
        raise _refuse(pattern, f"FREQ must be one of {', '.join(FREQUENCIES)}")
    interval = _whole_number(pattern, "INTERVAL", parts["INTERVAL"], 1, MAX_INTERVAL[frequency]) \
        if "INTERVAL" in parts else 1
    _check_filters(pattern, frequency, parts)
    if "COUNT" in parts:
        _whole_number(pattern, "COUNT", parts["COUNT"], 1, MAX_COUNT)
        if "UNTIL" in parts:
            raise _refuse(pattern, "COUNT and UNTIL cannot both be given")
    try:
        until = _until(parts["UNTIL"]) if "UNTIL" in parts else None
        rrulestr(text, dtstart=dt.datetime(2000, 1, 1), ignoretz=True)
    except (ValueError, TypeError, OverflowError, IndexError, KeyError) as exc:
        raise _refuse(pattern, str(exc).rstrip(".")) from None
    count = int(parts["COUNT"]) if "COUNT" in parts else None
    return Rule(pattern, text, frequency, interval, "COUNT" in parts, until, count, *_day_windows(frequency, parts))


def _split_parts(pattern: str, text: str) -> dict[str, str]:
    """NAME=VALUE parts by name (upper case), each a part the service reads, each once."""
    parts: dict[str, str] = {}
    for part in text.split(";"):
        name, equals, value = part.partition("=")
        name, value = name.strip().upper(), value.strip()
        if not equals or not name:
            raise _refuse(pattern, f"'{part}' is not NAME=VALUE")
        if name not in PARTS:
            raise _refuse(pattern, f"{name} is not one of the parts the asynchronous service reads "
                                   f"({', '.join(PARTS)})")
        if name in parts:
            raise _refuse(pattern, f"{name} is given twice")
        parts[name] = value
    return parts


def _check_filters(pattern: str, frequency: str, parts: dict[str, str]) -> None:
    """The BY... parts and WKST: numbers in range, weekdays that exist, set positions that select."""
    for name, (low, high) in _NUMBER_LISTS.items():
        if name in parts:
            _number_list(pattern, name, parts[name], low, high)
    if "BYDAY" in parts:
        for day in parts["BYDAY"].split(","):
            found = _WEEKDAY.fullmatch(day.strip().upper())
            if found is None or (found["n"] and not 1 <= int(found["n"]) <= 53):
                raise _refuse(pattern, f"BYDAY takes weekdays (MO ... SU), each optionally after a number such as "
                                       f"1 or -1; '{day}' is not one")
    if "BYSETPOS" in parts:
        _check_set_positions(pattern, frequency, parts)
    if "WKST" in parts and parts["WKST"].upper() not in _WEEKDAYS:
        raise _refuse(pattern, f"WKST must be one of {', '.join(_WEEKDAYS)}")


def _day_windows(frequency: str, parts: dict[str, str]) -> tuple:
    """`Rule.windows`, `uncounted` and `within` for an hourly or minutely rule with day filters or
    BYHOUR (searched a day at a time, `_search_by_day`); three Nones for any other rule."""
    if frequency not in ("HOURLY", "MINUTELY") or not any(
            n in parts for n in ("BYMONTH", "BYMONTHDAY", "BYDAY", "BYHOUR")):
        return None, None, None

    def numbers(name: str) -> frozenset[int] | None:
        return frozenset(int(v) for v in parts[name].split(",")) if name in parts else None

    # A number before a BYDAY weekday means nothing below MONTHLY (dateutil reads `2MO` as `MO`).
    weekdays = frozenset(_WEEKDAYS.index(d.strip().upper()[-2:]) for d in parts["BYDAY"].split(",")) \
        if "BYDAY" in parts else None
    windows = (numbers("BYMONTH"), numbers("BYMONTHDAY"), weekdays, numbers("BYHOUR"))
    uncounted = ";".join(f"{name}={value}" for name, value in parts.items() if name != "COUNT")
    within = ";".join(f"{name}={value}" for name, value in parts.items()
                      if name in ("FREQ", "INTERVAL", "BYMINUTE", "BYSETPOS", "WKST"))
    return windows, uncounted, within


def _until(value: str) -> dt.datetime:
    """UNTIL as RFC 2445 writes it: a date (`20260301`) or a UTC date-time (`20260301T000000Z`)."""
    text = value.upper().removesuffix("Z")
    for layout in ("%Y%m%dT%H%M%S", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, layout)
        except ValueError:
            continue
    raise ValueError(f"UNTIL={value} is not a date (YYYYMMDD) or a UTC date and time (YYYYMMDDTHHMMSSZ)")


def _naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _closer_start(rule: Rule, start: dt.datetime, after: dt.datetime) -> dt.datetime:
    """A start a whole number of periods later that has the same occurrences after `after`, so
    that dateutil does not step through every occurrence since a start long ago (an hourly rule
    from 1753 is two million steps). Only for fixed-length frequencies without COUNT, whose
    occurrences repeat every INTERVAL periods; the new start stays a full period before `after`,
    so the occurrences it drops (those of its first period before its time of day) are all
    earlier than `after`."""
    unit = _FIXED_PERIODS.get(rule.frequency)
    if unit is None or rule.counted:
        return start
    period = unit * rule.interval
    periods = (after - start) // period - 1
    return start + period * periods if periods > 0 else start


def _shift(moment: dt.datetime, years: int) -> dt.datetime:
    return moment.replace(year=moment.year + years)


def _search(rule: Rule, start: dt.datetime, after: dt.datetime, inclusive: bool) -> dt.datetime | None:
    """The first occurrence after `after` (or at it, when `inclusive`), naive UTC, bounded as the
    module docstring says."""
    if rule.until is not None and rule.until < after:
        return None
    if rule.windows is not None:
        return _search_by_day(rule, start, after, inclusive)
    start = _closer_start(rule, start, after)
    anchor = max(start, after)  # occurrences are looked for from here on
    cycles = max(0, (_LAST_YEAR - HORIZON_YEARS - anchor.year) // _CYCLE_YEARS)
    years = cycles * _CYCLE_YEARS
    try:
        compiled: rrule = rrulestr(rule.text, dtstart=_shift(start, years), ignoretz=True)
        if rule.until is not None:
            last = rule.until.year + years <= _LAST_YEAR
            compiled = compiled.replace(until=_shift(rule.until, years) if last else None)
        found = compiled.after(_shift(after, years), inc=inclusive)
    except (ValueError, OverflowError) as exc:
        raise _refuse(rule.pattern, f"its next occurrence cannot be computed ({exc})") from None
    if found is None:
        return None
    found = _shift(found, -years)
    # Beyond the horizon counts as none, wherever the 400-year cycles happened to put year 9999.
    return found if found.year - anchor.year <= HORIZON_YEARS else None


def _search_by_day(rule: Rule, start: dt.datetime, after: dt.datetime, inclusive: bool) -> dt.datetime | None:
    """`_search` for an hourly or minutely rule with day filters or BYHOUR. dateutil walks such a
    rule period by period through the days its filters refuse, and minute by minute through the
    hours BYHOUR refuses: a minute of computation for `FREQ=MINUTELY;BYHOUR=23;BYMONTH=9;BYMONTHDAY=31`,
    which never fires. Here the days (and hours) it may fire in are listed first, by calendar
    arithmetic, and each is searched alone, from a start moved there by whole periods; with COUNT,
    the occurrences are counted from the start as they are found. No further than `HORIZON_YEARS`
    after the moment asked about."""
    anchor = max(start, after)
    end = dt.datetime(min(anchor.year + HORIZON_YEARS, _LAST_YEAR), 12, 31, 23, 59, 59)
    if rule.until is not None:
        end = min(end, rule.until)
    # Counted occurrences are numbered from the start: every day from there is looked at.
    first = (start if rule.counted else anchor).replace(hour=0, minute=0, second=0, microsecond=0)
    if first > end:
        return None
    assert rule.windows is not None and rule.uncounted is not None and rule.within is not None  # parse() sets them
    free = replace(rule, counted=False)  # without COUNT, the start may move by whole periods
    seen = 0
    try:
        # The whole rule, for dateutil's own checks (BYHOUR values an INTERVAL never reaches...).
        rrulestr(rule.uncounted, dtstart=start, ignoretz=True)
        # Inside a window the filters that chose it are met; left in, they would have dateutil walk
        # on past the window's end through the days and hours they refuse, to the next one they pass.
        base: rrule = rrulestr(rule.within, dtstart=start, ignoretz=True)
        for low, high in _windows(rule.windows, first, end):
            if high < start or (not rule.counted and high < after):
                continue
            low = max(low, start)
            window = base.replace(dtstart=_closer_start(free, start, low), until=high)
            for found in window.xafter(low, inc=True):
                seen += 1
                if rule.count is not None and seen > rule.count:
                    return None
                if found > after or (inclusive and found == after):
                    return found
    except (ValueError, OverflowError) as exc:
        raise _refuse(rule.pattern, f"its next occurrence cannot be computed ({exc})") from None
    return None


def _windows(filters, first: dt.datetime, end: dt.datetime):
    """(first moment, last moment) of each day from `first` to `end` whose month, day of the month
    (negative: from the end) and weekday pass the filters, or of each listed hour of such a day. (Not
    a daily dateutil rule: dateutil walks a rule whose filters refuse every day to the year 9999,
    whatever its UNTIL.) The calendar repeats every 400 years: a day that does not come in that
    long never comes."""
    months, monthdays, weekdays, hours = filters
    year, month = first.year, first.month
    last_match = first
    while (year, month) <= (end.year, end.month) and (dt.datetime(year, month, 1) - last_match).days <= _CYCLE_DAYS:
        if months is None or month in months:
            length = calendar.monthrange(year, month)[1]
            days: Iterable[int]
            if monthdays is None:
                days = range(1, length + 1)
            else:
                days = sorted({d if d > 0 else length + 1 + d for d in monthdays} & set(range(1, length + 1)))
            for number in days:
                day = dt.datetime(year, month, number)
                if day < first or day > end or (weekdays is not None and day.weekday() not in weekdays):
                    continue
                last_match = day
                for hour in sorted(hours) if hours is not None else (None,):
                    low = day if hour is None else day.replace(hour=hour)
                    high = low + (dt.timedelta(days=1) if hour is None else dt.timedelta(hours=1))
                    yield low, min(high - dt.timedelta(microseconds=1), end)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        if year > _LAST_YEAR:
            return


_CYCLE_DAYS = 146_097


def next_occurrence(pattern: str | Rule | None, start: dt.datetime, after: dt.datetime) -> dt.datetime | None:
    """The first occurrence strictly after `after` (UTC), or None: no pattern, or the rule has
    ended (or has no occurrence within the horizon). Raises RecurrenceError for a rule that is not
    valid. Bounded, but may take a fraction of a second: see `next_occurrence_async`."""
    rule = pattern if isinstance(pattern, Rule) else parse(pattern)
    if rule is None:
        return None
    found = _search(rule, _naive(start), _naive(after), inclusive=False)
    return found.replace(tzinfo=UTC) if found is not None else None


def check(pattern: str | None, start: dt.datetime) -> Rule | None:
    """The rule, once it is known to have an occurrence at or after `start`; raises RecurrenceError
    for a malformed rule or one that never advances."""
    rule = parse(pattern)
    if rule is None:
        return None
    if _search(rule, _naive(start), _naive(start), inclusive=True) is None:
        raise _refuse(rule.pattern, f"it has no occurrence within {HORIZON_YEARS} years of its start "
                                    f"({_naive(start):%Y-%m-%dT%H:%M:%SZ}), so the job would never run again")
    return rule


async def next_occurrence_async(pattern: str | None, start: dt.datetime, after: dt.datetime) -> dt.datetime | None:
    """`next_occurrence` in a worker thread, so the event loop keeps answering meanwhile."""
    if not pattern or not pattern.strip().strip(";").strip():
        return None
    return await asyncio.to_thread(next_occurrence, pattern, start, after)


async def check_async(rules: list[tuple[str | None, dt.datetime]], *, where: list[str] | None = None) -> None:
    """`check` for each (pattern, start), in a worker thread; raises the first RecurrenceError,
    its message prefixed with the rule's entry in `where` (e.g. "job 3: ") when given."""
    labels = where or [""] * len(rules)
    wanted = [(pattern, start, label) for (pattern, start), label in zip(rules, labels, strict=True)
              if pattern and pattern.strip().strip(";").strip()]
    if not wanted:
        return

    def run() -> None:
        for pattern, start, label in wanted:
            try:
                check(pattern, start)
            except RecurrenceError as exc:
                raise RecurrenceError(label + exc.message) from None

    await asyncio.to_thread(run)
