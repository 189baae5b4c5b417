"""Recurring system jobs: `recurrencepattern` is an RFC 2445 RRULE (`FREQ=DAILY;INTERVAL=3;`),
counted from `recurrencestarttime`. The arithmetic is python-dateutil's."""

from __future__ import annotations

import datetime as dt

from dateutil.rrule import rrulestr

from ..errors import BadRequest


def _rule(pattern: str, start: dt.datetime):
    text = pattern.strip().strip(";")
    if not text:
        return None
    try:
        return rrulestr(text, dtstart=start, ignoretz=False)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"The recurrence pattern '{pattern}' is not a valid RFC 2445 rule: {exc}.") from None


def validate(pattern: str | None) -> None:
    if pattern:
        _rule(pattern, dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))


# Frequencies whose period has a fixed length (months and years do not).
_FIXED_PERIODS = {"WEEKLY": dt.timedelta(weeks=1), "DAILY": dt.timedelta(days=1), "HOURLY": dt.timedelta(hours=1),
                  "MINUTELY": dt.timedelta(minutes=1), "SECONDLY": dt.timedelta(seconds=1)}


def _closer_start(pattern: str, start: dt.datetime, after: dt.datetime) -> dt.datetime:
    """A start a whole number of periods later that has the same occurrences after `after`, so
    that dateutil does not step through every occurrence since a start long ago (an hourly rule
    from 1753 is two million steps). Only for fixed-length frequencies without COUNT, whose
    occurrences repeat every INTERVAL periods; the new start stays a full period before `after`,
    so the occurrences it drops (those of its first period before its time of day) are all
    earlier than `after`."""
    parts = dict(part.split("=", 1) for part in pattern.strip().strip(";").upper().split(";") if "=" in part)
    unit = _FIXED_PERIODS.get(parts.get("FREQ", "").strip())
    interval = parts.get("INTERVAL", "1").strip()
    if unit is None or "COUNT" in parts or not (interval.isascii() and interval.isdigit()) or int(interval) < 1:
        return start
    period = unit * int(interval)
    periods = (after - start) // period - 1
    return start + period * periods if periods > 0 else start


def next_occurrence(pattern: str | None, start: dt.datetime, after: dt.datetime) -> dt.datetime | None:
    """The first occurrence strictly after `after`, or None (no pattern, or the rule has ended)."""
    if not pattern:
        return None
    rule = _rule(pattern, _closer_start(pattern, start, after))
    if rule is None:
        return None
    return rule.after(after, inc=False)
