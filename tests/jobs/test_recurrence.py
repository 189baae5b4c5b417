"""`jobs/recurrence.py`: which rules are accepted, and occurrences computed exactly as dateutil
computes them, in bounded time."""

from __future__ import annotations

import datetime as dt
import random
import time

import pytest
from dateutil.rrule import rrulestr

from odata_emulator.jobs import recurrence
from odata_emulator.jobs.recurrence import RecurrenceError

UTC = dt.timezone.utc
START = dt.datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
# Generous: every refusal and every computation here takes well under a second; this only
# catches a hang (before the bounds, `INTERVAL=0` never returned).
HANG = 10.0


def refusal(pattern: str, start: dt.datetime = START) -> str:
    began = time.monotonic()
    with pytest.raises(RecurrenceError) as caught:
        recurrence.check(pattern, start)
    assert time.monotonic() - began < HANG
    assert caught.value.code == "0x80040203" and caught.value.status == 400
    return caught.value.message


@pytest.mark.parametrize("pattern, why", [
    ("FREQ=MINUTELY;INTERVAL=0;", "INTERVAL must be a whole number from 1 to 5,259,600"),
    ("FREQ=HOURLY;INTERVAL=0", "INTERVAL must be a whole number from 1 to 87,660"),
    ("FREQ=MINUTELY;INTERVAL=-1", "INTERVAL must be a whole number from 1 to 5,259,600"),
    ("FREQ=DAILY;INTERVAL=99999999999", "INTERVAL must be a whole number from 1 to 3,652"),
    ("FREQ=DAILY;INTERVAL=" + "9" * 5000, "INTERVAL must be a whole number from 1 to 3,652"),
    ("FREQ=YEARLY;INTERVAL=11", "INTERVAL must be a whole number from 1 to 10"),
    ("FREQ=DAILY;INTERVAL=1.5", "INTERVAL must be a whole number from 1 to 3,652"),
    ("FREQ=DAILY;INTERVAL=", "INTERVAL must be a whole number from 1 to 3,652"),
    ("FREQ=DAILY;COUNT=0", "COUNT must be a whole number from 1 to 100,000"),
    ("FREQ=DAILY;COUNT=100001", "COUNT must be a whole number from 1 to 100,000"),
    ("FREQ=SECONDLY", "FREQ must be one of YEARLY, MONTHLY, WEEKLY, DAILY, HOURLY, MINUTELY"),
    ("FREQ=FORTNIGHTLY", "FREQ must be one of YEARLY, MONTHLY, WEEKLY, DAILY, HOURLY, MINUTELY"),
    ("INTERVAL=3", "FREQ is required"),
    ("FREQ=DAILY;FREQ=DAILY", "FREQ is given twice"),
    ("FREQ=DAILY;COUNT=3;UNTIL=20270101", "COUNT and UNTIL cannot both be given"),
    ("FREQ=DAILY;BYYEARDAY=3", ("BYYEARDAY is not one of the parts the asynchronous service reads (FREQ, INTERVAL, "
                               "COUNT, UNTIL, BYMONTH, BYMONTHDAY, BYDAY, BYHOUR, BYMINUTE, BYSETPOS, WKST)")),
    ("FREQ=DAILY;X-NAME=1", ("X-NAME is not one of the parts the asynchronous service reads (FREQ, INTERVAL, "
                            "COUNT, UNTIL, BYMONTH, BYMONTHDAY, BYDAY, BYHOUR, BYMINUTE, BYSETPOS, WKST)")),
    ("FREQ=DAILY;garbage", "'garbage' is not NAME=VALUE"),
    ("FREQ=DAILY;UNTIL=tomorrow", "UNTIL=tomorrow is not a date (YYYYMMDD) or a UTC date and time (YYYYMMDDTHHMMSSZ)"),
    ("FREQ=DAILY;BYMONTH=13", "BYMONTH takes whole numbers from 1 to 12; '13' is not one"),
    ("FREQ=DAILY;BYMONTHDAY=0", "BYMONTHDAY takes whole numbers from -31 to 31 (not 0); '0' is not one"),
    ("FREQ=DAILY;BYHOUR=1,,2", "BYHOUR takes whole numbers from 0 to 23; '' is not one"),
    ("FREQ=HOURLY;BYMINUTE=60", "BYMINUTE takes whole numbers from 0 to 59; '60' is not one"),
    ("FREQ=MONTHLY;BYDAY=FR;BYSETPOS=" + "1" * 5000, "BYSETPOS takes whole numbers from -366 to 366 (not 0); '"
                                                     + "1" * 5000 + "' is not one"),
    ("FREQ=WEEKLY;BYDAY=XX", ("BYDAY takes weekdays (MO ... SU), each optionally after a number such as 1 or -1; "
                             "'XX' is not one")),
    ("FREQ=MONTHLY;BYDAY=54MO", ("BYDAY takes weekdays (MO ... SU), each optionally after a number such as 1 or -1; "
                                "'54MO' is not one")),
    ("FREQ=WEEKLY;WKST=XX", "WKST must be one of MO, TU, WE, TH, FR, SA, SU"),
])
def test_a_malformed_rule_is_refused_saying_why(pattern, why):
    message = refusal(pattern)
    assert message == f"The recurrence pattern '{pattern}' is not a valid RFC 2445 rule: {why}.", message


@pytest.mark.parametrize("pattern", [
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=MINUTELY;BYMONTH=4;BYMONTHDAY=31",
    "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30;COUNT=4",
    "FREQ=DAILY;UNTIL=20251231",
])
def test_a_rule_with_no_occurrence_is_refused_in_bounded_time(pattern):
    """dateutil alone walks every day to the year 9999 for these (6 s for the daily one, 14 s
    for a secondly one); the bounded search answers at once."""
    assert refusal(pattern) == (f"The recurrence pattern '{pattern}' is not a valid RFC 2445 rule: it has no "
                                f"occurrence within 50 years of its start (2026-11-01T12:00:00Z), so the job "
                                f"would never run again.")


@pytest.mark.parametrize("pattern, size, period", [
    ("FREQ=MINUTELY;BYMINUTE=3;BYSETPOS=3;", "1 time", "minute"),
    ("FREQ=MINUTELY;BYSETPOS=2,-2", "1 time", "minute"),
    ("FREQ=HOURLY;BYSETPOS=2", "1 time", "hour"),
    ("FREQ=HOURLY;BYMINUTE=5,10,05;BYSETPOS=3", "2 times", "hour"),
    ("FREQ=DAILY;BYHOUR=1,2;BYMINUTE=0,30;BYSETPOS=-5", "4 times", "day"),
])
def test_a_set_position_past_what_a_period_holds_is_refused_at_once(pattern, size, period):
    """dateutil looks for such a position period by period: a minute (an hour) at a time for 400 years,
    60 s for the first pattern here, found by the fuzz (tests/fuzz/test_fuzz_recurrence.py)."""
    positions = pattern.rsplit("BYSETPOS=", 1)[1].rstrip(";")
    assert refusal(pattern, dt.datetime(2000, 1, 24, 5, 1, 2, tzinfo=UTC)) == (
        f"The recurrence pattern '{pattern}' is not a valid RFC 2445 rule: a {period} holds {size} (one per BYHOUR "
        f"and BYMINUTE value), so BYSETPOS={positions} never selects one.")


@pytest.mark.parametrize("pattern", [
    "FREQ=MINUTELY;BYHOUR=23;BYMONTH=9;BYMONTHDAY=31",
    "FREQ=MINUTELY;INTERVAL=5;BYMONTH=9;BYMONTHDAY=31;BYHOUR=14;",
    "FREQ=MINUTELY;COUNT=5;BYHOUR=14;BYDAY=MO;BYMONTHDAY=31;BYMONTH=2",
])
def test_a_minutely_rule_whose_days_never_come_is_refused_at_once(pattern):
    """dateutil walks such a rule minute by minute to the year 9999 (60 s for the first, from 2026),
    found by the fuzz (tests/fuzz/test_fuzz_recurrence.py); the days are looked for first."""
    for start in (START, dt.datetime(429, 7, 15, 4, 7, 22, tzinfo=UTC)):
        began = time.monotonic()
        message = refusal(pattern, start)
        assert time.monotonic() - began < 1.0
        assert message.endswith(f"it has no occurrence within 50 years of its start ({start:%Y-%m-%dT%H:%M:%SZ}), "
                                f"so the job would never run again.")


@pytest.mark.parametrize("pattern, start, expected", [
    ("FREQ=MINUTELY;BYSETPOS=1,2", START, START),
    ("FREQ=HOURLY;BYMINUTE=5,10;BYSETPOS=-2", START, START.replace(minute=5)),
    ("FREQ=DAILY;BYHOUR=1,2;BYMINUTE=0,30;BYSETPOS=4", START, START.replace(day=2, hour=2, minute=30)),
])
def test_a_set_position_within_a_period_is_accepted(pattern, start, expected):
    assert recurrence.check(pattern, start) is not None
    assert recurrence.next_occurrence(pattern, start, start - dt.timedelta(seconds=1)) == expected


@pytest.mark.parametrize("pattern", [
    "FREQ=MONTHLY;", "FREQ=WEEKLY;", "FREQ=DAILY;", "FREQ=DAILY;INTERVAL=3;", "FREQ=HOURLY;",  # the documented ones
    "FREQ=DAILY;INTERVAL=1;", "FREQ=MINUTELY;INTERVAL=30", "freq=daily;interval=2", " FREQ=WEEKLY;BYDAY=MO,FR ; ",
    "FREQ=MONTHLY;BYDAY=-1FR;BYSETPOS=1", "FREQ=YEARLY;INTERVAL=10", "FREQ=DAILY;COUNT=1",
    "FREQ=DAILY;UNTIL=20261231T000000Z", "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=29",
])
def test_rules_that_advance_are_accepted(pattern):
    rule = recurrence.check(pattern, START)
    assert rule is not None and rule.pattern == pattern


@pytest.mark.parametrize("pattern", [None, "", " ", ";", " ; "])
def test_an_empty_pattern_means_the_job_does_not_recur(pattern):
    assert recurrence.check(pattern, START) is None
    assert recurrence.next_occurrence(pattern, START, START) is None


PATTERNS = ["FREQ=DAILY;INTERVAL=3;", "FREQ=HOURLY;INTERVAL=5;BYMINUTE=7,40", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR",
            "FREQ=DAILY;BYHOUR=1,13;UNTIL=20260301T000000Z", "FREQ=DAILY;COUNT=400", "FREQ=MONTHLY;BYMONTHDAY=31",
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "FREQ=MONTHLY;BYDAY=-1FR;BYSETPOS=1",
            "FREQ=WEEKLY;WKST=SU;BYDAY=TU,TH;INTERVAL=3", "FREQ=MONTHLY;INTERVAL=5;BYMONTHDAY=1,15",
            # Hourly and minutely rules with day filters are searched a matching day at a time.
            "FREQ=HOURLY;BYDAY=MO,FR;BYHOUR=3,4", "FREQ=MINUTELY;INTERVAL=7;BYMONTH=2;BYMONTHDAY=29;BYHOUR=23",
            "FREQ=HOURLY;COUNT=50;BYDAY=SU;BYMONTHDAY=1,2,3", "FREQ=MINUTELY;INTERVAL=97;BYDAY=2TU;BYMONTHDAY=-1,-2,10"]


@pytest.mark.slow  # over a second: 400 random rules checked against dateutil
def test_occurrences_are_dateutils_own():
    """Against plain dateutil over spans of up to 30 years, starts before and after the moment
    asked about, and leap days: moving the start by periods and the dates by 400-year cycles
    changes no answer."""
    rng = random.Random(11)
    for _ in range(400):
        pattern = rng.choice(PATTERNS)
        start = START - dt.timedelta(seconds=rng.randint(0, 10 ** 9))
        after = start + dt.timedelta(seconds=rng.randint(-10 ** 7, 10 ** 9))
        expected = rrulestr(pattern.strip(";"), dtstart=start).after(after, inc=False)
        assert recurrence.next_occurrence(pattern, start, after) == expected, (pattern, start, after)


def test_an_occurrence_beyond_the_horizon_ends_the_rule():
    # Every nine years on a leap day: 2064, then 2100 is no leap year, so 2136; dateutil finds it,
    # 72 years on, and the service treats the rule as ended.
    pattern = "FREQ=YEARLY;INTERVAL=9;BYMONTH=2;BYMONTHDAY=29"
    first = dt.datetime(2064, 2, 29, tzinfo=UTC)
    assert rrulestr(pattern, dtstart=first).after(first) == dt.datetime(2136, 2, 29, tzinfo=UTC)
    assert recurrence.check(pattern, first) is not None  # it runs once, at its start
    assert recurrence.next_occurrence(pattern, first, first) is None


def test_a_rule_that_started_long_ago_or_ends_near_the_last_year_is_exact():
    long_ago = dt.datetime(1753, 1, 1, tzinfo=UTC)
    assert recurrence.next_occurrence("FREQ=MINUTELY;INTERVAL=30", long_ago, START) == START + dt.timedelta(minutes=30)
    late = dt.datetime(9999, 12, 30, tzinfo=UTC)
    assert recurrence.next_occurrence("FREQ=DAILY", late, late) == dt.datetime(9999, 12, 31, tzinfo=UTC)
    assert recurrence.next_occurrence("FREQ=DAILY", late, dt.datetime(9999, 12, 31, tzinfo=UTC)) is None


async def test_the_async_forms_compute_in_a_worker_thread_and_raise_the_same_error():
    assert await recurrence.next_occurrence_async("FREQ=HOURLY;", START, START) == START + dt.timedelta(hours=1)
    with pytest.raises(RecurrenceError):
        await recurrence.check_async([("FREQ=DAILY;", START), ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", START)])
    with pytest.raises(RecurrenceError):
        await recurrence.next_occurrence_async("FREQ=MINUTELY;INTERVAL=0", START, START)
