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


def next_occurrence(pattern: str | None, start: dt.datetime, after: dt.datetime) -> dt.datetime | None:
    """The first occurrence strictly after `after`, or None (no pattern, or the rule has ended)."""
    if not pattern:
        return None
    rule = _rule(pattern, start)
    if rule is None:
        return None
    return rule.after(after, inc=False)
