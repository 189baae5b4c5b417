"""`whole_number`: int() for client text, without int()'s 4,300-digit limit (issue 11, item 4)."""

from __future__ import annotations

import time

import pytest

from odata_emulator.errors import QuerySyntaxError
from odata_emulator.query.numbers import OUT_OF_RANGE, whole_number
from odata_emulator.query.parser import parse_filter


@pytest.mark.parametrize("text, value", [
    ("0", 0), ("42", 42), (" -7 ", -7), ("+3", 3), ("1_000", 1000), ("99999999999999999999", 99999999999999999999),
    ("9" * 5000, OUT_OF_RANGE), ("-" + "9" * 5000, -OUT_OF_RANGE), ("+" + "9" * 5000, OUT_OF_RANGE),
    ("0" * 5000 + "42", 42), ("-" + "0" * 5000 + "42", -42), ("0" * 5000, 0), (" " + "1" * 700 + " ", OUT_OF_RANGE),
])
def test_reads_what_int_reads_and_any_length(text, value):
    assert whole_number(text) == value


@pytest.mark.parametrize("text", ["", "-", "abc", "1.5", "x" * 700, "9" * 700 + "x", "_" + "9" * 700,
                                  "9" * 700 + "__9", "9" * 700 + "_", "1" * 700 + "-"])
def test_refuses_what_is_not_a_whole_number(text):
    with pytest.raises(ValueError):
        whole_number(text)


def test_a_million_digits_read_in_linear_time():
    started = time.perf_counter()
    assert whole_number("9" * 1_000_000) == OUT_OF_RANGE
    assert time.perf_counter() - started < 0.5


def test_a_filter_literal_past_int_digits_is_the_int64_syntax_error():
    big = "9" * 5000
    with pytest.raises(QuerySyntaxError) as caught:
        parse_filter(f"retrycount eq {big}")
    assert str(caught.value) == f"Unrecognized 'Edm.Int64' literal '{big}' at '14' in 'retrycount eq {big}'."
