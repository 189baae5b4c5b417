"""Fuzz of recurrence rules, called directly (issue 11): `odata_emulator.jobs.recurrence.check` and
`next_occurrence` with rules made of the RFC 2445 parts (valid, out of range, repeated, unknown),
plain text, and starts and moments anywhere from year 1 to year 9999, naive or aware.

Each call answers within a few seconds and raises nothing but `RecurrenceError`; an occurrence it
finds is later than the moment asked about, in UTC, and one `check` accepts has an occurrence.
Budget: the `ci` profile of tests/fuzz/conftest.py; `HYPOTHESIS_PROFILE=long pytest tests/fuzz`
runs thousands of examples.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from odata_emulator.jobs import recurrence
from tests.fuzz import strategies as fs
from tests.fuzz.harness import ANSWER_SECONDS, examples

UTC = dt.timezone.utc

moments = st.one_of(
    fs.datetimes,
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59)),  # naive
    st.sampled_from([dt.datetime(1, 1, 1, tzinfo=UTC), dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
                     dt.datetime(9950, 1, 1, tzinfo=UTC), dt.datetime(2026, 2, 28, 23, 59, tzinfo=UTC),
                     dt.datetime(2024, 2, 29, 12, tzinfo=UTC)]),
    st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1),
                 timezones=st.sampled_from([UTC, dt.timezone(dt.timedelta(hours=14)),
                                            dt.timezone(dt.timedelta(hours=-12))])),
)
rules = st.one_of(fs.recurrence_rules(), fs.valid_rules())


@pytest.fixture(scope="module")
def worker():
    """A thread to call in, so that a call that never returns fails the test instead of hanging it."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


def _bounded(worker, function, *args):
    future = worker.submit(function, *args)
    try:
        return future.result(timeout=ANSWER_SECONDS)
    except concurrent.futures.TimeoutError:
        raise AssertionError(f"{function.__name__}{args!r} did not return within {ANSWER_SECONDS} s") from None


@settings(max_examples=examples(2.0))
@given(pattern=rules, start=moments, after=moments)
def test_check_and_next_occurrence(worker, pattern, start, after):
    try:
        rule = _bounded(worker, recurrence.check, pattern, start)
        event("accepted" if rule is not None else "no rule")
    except recurrence.RecurrenceError as exc:
        assert exc.message.strip() and exc.status == 400, exc
        event("refused")
        rule = None
    try:
        found = _bounded(worker, recurrence.next_occurrence, pattern, start, after)
    except recurrence.RecurrenceError as exc:
        assert exc.message.strip(), exc
        return
    if found is not None:
        assert found.tzinfo is not None and found.utcoffset() == dt.timedelta(0), found
        assert found.replace(tzinfo=None) > _naive(after), (pattern, start, after, found)
    if rule is not None and start.microsecond == 0 and _naive(start) > dt.datetime(1, 1, 1, 0, 0, 1):
        # An accepted rule has an occurrence at or after its start (within the horizon).
        first = _bounded(worker, recurrence.next_occurrence, rule, start, start - dt.timedelta(seconds=1))
        assert first is not None and first.replace(tzinfo=None) >= _naive(start), (pattern, start, first)


def _naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
