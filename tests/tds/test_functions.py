"""The T-SQL date and string functions SQLite lacks, as SQL Server computes them (DATEFIRST 7, us_english)."""

from __future__ import annotations

import calendar
import sqlite3

import pytest

from odata_emulator.tds import functions


def at(*parts) -> int:
    return calendar.timegm((*parts, 0, 0, 0)[:6])


@pytest.mark.parametrize("unit, start, end, expected", [
    ("year", at(2025, 12, 31, 23, 59, 59), at(2026, 1, 1), 1),  # boundaries crossed, not time elapsed
    ("month", at(2026, 1, 31), at(2026, 2, 1), 1),
    ("day", at(2026, 11, 1, 23, 59, 59), at(2026, 11, 2), 1),
    ("day", at(2026, 11, 2), at(2026, 11, 1), -1),
    ("week", at(2026, 10, 31), at(2026, 11, 1), 1),  # Saturday -> Sunday
    ("week", at(2026, 11, 1), at(2026, 11, 7), 0),
    ("hour", at(2026, 11, 1, 10, 59, 59), at(2026, 11, 1, 11), 1),
    ("minute", at(2026, 11, 1), at(2026, 11, 1, 0, 2, 30), 2),
    ("ss", at(2026, 11, 1), at(2026, 11, 1, 0, 2, 30), 150),
    ("qq", at(2026, 3, 31), at(2026, 4, 1), 1),
])
def test_datediff_counts_boundaries(unit, start, end, expected):
    assert functions.datediff(unit, start, end) == expected


@pytest.mark.parametrize("unit, moment, expected", [
    ("year", at(2026, 11, 1), 2026), ("quarter", at(2026, 11, 1), 4), ("month", at(2026, 11, 1), 11),
    ("dayofyear", at(2026, 2, 1), 32), ("day", at(2026, 11, 17), 17),
    ("week", at(2026, 1, 1), 1), ("week", at(2026, 1, 4), 2),  # 2026-01-04 is a Sunday
    ("weekday", at(2026, 11, 1), 1), ("weekday", at(2026, 11, 7), 7),  # Sunday 1 .. Saturday 7
    ("hour", at(2026, 11, 1, 13, 5, 9), 13), ("minute", at(2026, 11, 1, 13, 5, 9), 5),
    ("second", at(2026, 11, 1, 13, 5, 9), 9),
])
def test_datepart(unit, moment, expected):
    assert functions.datepart(unit, moment) == expected


def test_datename():
    assert functions.datename("month", at(2026, 11, 1)) == "November"
    assert functions.datename("dw", at(2026, 11, 1)) == "Sunday"


@pytest.mark.parametrize("start, months, expected", [
    (at(2026, 1, 31), 1, at(2026, 2, 28)), (at(2024, 1, 31), 1, at(2024, 2, 29)),
    (at(2026, 11, 1, 10, 30), 14, at(2028, 1, 1, 10, 30)), (at(2026, 3, 31), -1, at(2026, 2, 28)),
])
def test_months_are_added_as_sql_server_adds_them(start, months, expected):
    assert functions.add_months(start, months) == expected


@pytest.mark.parametrize("text, expected", [
    ("2026-11-01", at(2026, 11, 1)), ("20261101", at(2026, 11, 1)), ("2026-11-01 10:30", at(2026, 11, 1, 10, 30)),
    ("2026-11-01T10:30:15", at(2026, 11, 1, 10, 30, 15)), ("2026-11-01T10:30:15Z", at(2026, 11, 1, 10, 30, 15)),
    ("2026-11-01T10:30:15.5", at(2026, 11, 1, 10, 30, 15) + 0.5),
    ("2026-11-01T10:30:15+01:00", at(2026, 11, 1, 9, 30, 15)), ("11/01/2026", at(2026, 11, 1)),
    ("Nov 1 2026", at(2026, 11, 1)), ("", at(1900, 1, 1)),
])
def test_date_time_strings(text, expected):
    assert functions.parse_datetime(text) == expected


def test_a_string_that_is_no_date_time():
    with pytest.raises(functions.ConversionError):
        functions.parse_datetime("soon")


@pytest.mark.parametrize("style, expected", [
    (0, "Nov  1 2026  1:05PM"), (101, "11/01/2026"), (103, "01/11/2026"), (112, "20261101"),
    (120, "2026-11-01 13:05:09"), (121, "2026-11-01 13:05:09.000"), (126, "2026-11-01T13:05:09"), (23, "2026-11-01"),
])
def test_convert_styles(style, expected):
    assert functions.format_datetime(at(2026, 11, 1, 13, 5, 9), style) == expected


def test_the_functions_on_a_connection_report_their_failures():
    failures: list[BaseException] = []
    db = sqlite3.connect(":memory:")
    functions.register(db, failures)
    assert db.execute("select tds_replace('ABCabc', 'b', 'x'), tds_charindex('C', 'abc', 1), tds_right('abc', 2), "
                      "tds_isnumeric('1.5'), tds_isnumeric('x'), tds_stuff('abcdef', 2, 3, 'XY')").fetchone() == \
        ("AxCaxc", 3, "bc", 1, 0, "aXYef")
    assert len(db.execute("select tds_newid()").fetchone()[0]) == 36
    with pytest.raises(sqlite3.OperationalError):
        db.execute("select tds_parse_datetime('soon')").fetchone()
    assert isinstance(failures[-1], functions.ConversionError)
