"""The fast row encoders, the compiled one (`_rows.c`, where the install built it) and the generated
Python, against the value-by-value one (`tokens.rows`, through `encoders.encoder`), property-based: random shapes of every type (runs of fixed-size columns of every
length, at either end and between texts) and random chunks of their values, NULLs, edge values and the
unusual ones (out of range, floats where whole seconds are expected, text for numbers, GUIDs in other
spellings, values that are not text) among them. Both write the same bytes, or raise the same SQL
Server error; a chunk of ordinary values never leaves the fast function. Derandomized, so CI runs the
same examples every time."""

from __future__ import annotations

import os
import shutil
import sysconfig
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from odata_emulator.tds import encoders, rows, tokens, types
from odata_emulator.tds.errors import Overflow
from odata_emulator.tds.types import SqlType, decimal_type, nvarchar

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None)

MIN_DAY, MAX_SECOND = encoders.MIN_DATETIME, int(encoders.MAX_DATETIME)
MIN_DATE = -encoders.DAYS_0001 * 86400


def _ints(low: int, high: int) -> st.SearchStrategy:
    return st.one_of(st.integers(low, high), st.sampled_from([low, high, 0, -1, 1]).filter(lambda v: low <= v <= high))


def _seconds(low: int, high: int) -> st.SearchStrategy:
    """Epoch seconds in range: the ends, whole days and their last second, anything between."""
    days = st.integers(low // 86400, high // 86400)
    return st.one_of(st.integers(low, high), st.sampled_from([low, high, 0, -1, 86399, 86400, -86400]),
                     days.map(lambda day: day * 86400), days.map(lambda day: day * 86400 + 86399))


_GUIDS = st.uuids().map(str)
_TEXT = st.one_of(st.text(max_size=20), st.sampled_from(["", "Job", "Jöb", "😀", "a\x00b", "é" * 300]))

# The values the store gives each type (what the fast path takes)...
ORDINARY: dict[str, st.SearchStrategy] = {
    "int": _ints(-2**31, 2**31 - 1),
    "bigint": _ints(-2**63, 2**63 - 1),
    "smallint": _ints(-2**15, 2**15 - 1),
    "tinyint": _ints(0, 255),
    "bit": st.sampled_from([0, 1]),
    "float": st.one_of(st.floats(allow_nan=False), st.integers(-2**60, 2**60)),
    "real": st.one_of(st.floats(width=32, allow_nan=False), st.integers(-2**30, 2**30)),
    "uniqueidentifier": st.one_of(_GUIDS, _GUIDS.map(str.upper)),
    "datetime": _seconds(MIN_DAY, MAX_SECOND),
    "date": _seconds(MIN_DATE, MAX_SECOND),
    "nvarchar": _TEXT,
    "decimal": st.integers(-10**6, 10**6),
    "money": st.integers(-10**6, 10**6),
}
# ... and the unusual ones: each goes value by value, to the same bytes or the same error.
UNUSUAL: dict[str, st.SearchStrategy] = {
    "int": st.sampled_from([2**31, -2**31 - 1, 2.5, 2.0, True, "5", "x", float("nan")]),
    "bigint": st.sampled_from([2**63, -2**63 - 1, 7.9, "12"]),
    "smallint": st.sampled_from([2**15, -2**15 - 1, 3.0]),
    "tinyint": st.sampled_from([256, -1, 1.5]),
    "bit": st.sampled_from([2, -1, 0.0, 0.5, "0", "", True, b"x"]),
    "float": st.sampled_from([float("nan"), float("inf"), -0.0, 10**400, 2**70, "1.5", "x", True]),
    "real": st.sampled_from([3.5e38, -1e39, float("inf"), 1e-50, 2**130, "2"]),
    "uniqueidentifier": st.one_of(
        _GUIDS.map(lambda g: "{" + g + "}"), _GUIDS.map(lambda g: g.replace("-", "")),
        _GUIDS.map(lambda g: g[:-1]), _GUIDS.map(lambda g: g + "0"), _GUIDS.map(lambda g: g.replace("-", " ")),
        _GUIDS.map(lambda g: g[:-1] + "g"), _GUIDS.map(lambda g: g[:35] + "é"), _GUIDS.map(lambda g: g[:-1] + ","),
        st.sampled_from([5, 1.5, b"x", "", "not a guid"])),
    "datetime": st.sampled_from([MIN_DAY - 1, MAX_SECOND + 1, 0.5, 86400.0, -0.0, 253_402_300_799.998,
                                 float("nan"), float("inf"), "2026-01-01", True]),
    "date": st.sampled_from([MIN_DATE - 1, MAX_SECOND + 1, 86400.5, 0.0, "2026-01-01", True]),
    "nvarchar": st.one_of(st.sampled_from([5, 1.5, True, b"bytes", "x" * 4001, "😀" * 2001]),
                          st.integers(), st.floats()),
    "decimal": st.sampled_from([1.2345, "2.5", 10**20]),
    "money": st.sampled_from([0.00005, "x"]),
}

TYPES = [types.INT, types.BIGINT, types.SMALLINT, types.TINYINT, types.BIT_TYPE, types.FLOAT, types.REAL,
         types.GUID, types.DATETIME_TYPE, types.DATE, nvarchar(40), nvarchar(4000), types.NVARCHAR_MAX,
         decimal_type(18, 2), types.MONEY_TYPE]
# Mostly fixed-size columns, so that runs of every length come up.
FIXED = [sqltype for sqltype in TYPES if sqltype.name in rows._FIXED]
shapes = st.lists(st.one_of(st.sampled_from(FIXED), st.sampled_from(TYPES)), min_size=1, max_size=14)


def _chunk(shape: list[SqlType]) -> st.SearchStrategy:
    row = st.tuples(*(st.one_of(st.none(), ORDINARY[sqltype.name]) for sqltype in shape))
    # a chunk's rows may repeat (texts and GUIDs are written once per chunk)
    return st.lists(row, min_size=1, max_size=12).flatmap(
        lambda some: st.lists(st.sampled_from(some), min_size=1, max_size=24))


def _careful(shape: list[SqlType], chunk: list) -> bytes | Exception:
    try:
        return tokens.rows(shape, chunk)
    except Exception as exc:  # compared with what the fast encoder raises
        return exc


compiled = pytest.mark.skipif(rows._compiled is None, reason="this install has no compiled ROW encoder")


def _ordinary_chunks_are_written_as_value_by_value(make, data) -> None:
    """`make`: a fast encoder made for a shape, which raises on a chunk it gives up on."""
    shape = data.draw(shapes, "shape")
    chunk = data.draw(_chunk(shape), "chunk")
    assert make(shape)(chunk) == tokens.rows(shape, chunk)


def _unusual_values_are_written_or_refused_as_value_by_value(make, data) -> None:
    """One to three unusual values among ordinary ones (one alone is what could slip through the
    fast function)."""
    shape = data.draw(shapes, "shape")
    chunk = [list(row) for row in data.draw(_chunk(shape), "chunk")]
    for _ in range(data.draw(st.integers(1, 3), "unusual values")):
        row, column = data.draw(st.integers(0, len(chunk) - 1)), data.draw(st.integers(0, len(shape) - 1))
        chunk[row][column] = data.draw(UNUSUAL[shape[column].name], f"row {row} column {column}")
    chunk = [tuple(row) for row in chunk]
    expected = _careful(shape, chunk)
    encode = rows.falling_back(make(shape), [encoders.encoder(sqltype) for sqltype in shape])
    if isinstance(expected, bytes):
        assert encode(chunk) == expected
    else:
        with pytest.raises(type(expected)) as raised:
            encode(chunk)
        assert str(raised.value) == str(expected)


# Each fast encoder, made for a shape.
FAST = [pytest.param(rows.fast_function, id="generated"),
        pytest.param(rows.compiled_function, id="compiled", marks=compiled)]


@pytest.mark.slow
@pytest.mark.parametrize("make", FAST)
@PROPERTY
@given(data=st.data())
def test_ordinary_chunks_are_written_by_the_fast_function_as_value_by_value(make, data):
    _ordinary_chunks_are_written_as_value_by_value(make, data)


@pytest.mark.slow
@pytest.mark.parametrize("make", FAST)
@PROPERTY
@given(data=st.data())
def test_a_chunk_with_unusual_values_is_written_or_refused_as_value_by_value(make, data):
    _unusual_values_are_written_or_refused_as_value_by_value(make, data)


def test_the_compiled_encoder_is_built_where_a_c_compiler_and_pythons_headers_are():
    """CI has both (.ci/run): a build hook that quietly stopped building would show here."""
    headers = os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))
    if not (headers and (shutil.which("cc") or shutil.which("gcc"))):
        pytest.skip("no C compiler or no Python headers here: the install is pure Python")
    assert rows._compiled is not None


@compiled
def test_the_compiled_encoder_gives_up_on_rows_that_are_not_tuples_of_the_shapes_length():
    encode = rows.compiled_function([types.INT, types.INT])
    for chunk in ([[1, 2]], [(1,)], [(1, 2, 3)], [None], [(1, 2), "x"]):
        with pytest.raises(rows._compiled.Unusual):
            encode(chunk)
    assert encode([]) == b""
    assert encode([(1, None)]) == b"\xd1\x04\x01\x00\x00\x00\x00"


@compiled
def test_the_compiled_encoder_refuses_wrong_arguments():
    encode = rows._compiled.encode
    for arguments in ((), ([], b"i"), ((), b"i", (None,)), ([], "i", (None,)), ([], b"i", [None]), ([], b"o", (None,))):
        with pytest.raises(TypeError):
            encode(*arguments)
    with pytest.raises(ValueError, match="one entry of `others` per column"):
        encode([], b"ii", (None,))
    with pytest.raises(ValueError, match="no ROW encoding"):
        encode([(1,)], b"z", (None,))


@compiled
def test_an_encoder_called_by_the_compiled_one_may_fail_or_return_what_is_not_bytes():
    def failing(value):
        raise ZeroDivisionError
    with pytest.raises(ZeroDivisionError):
        rows._compiled.encode([(1,)], b"o", (failing,))
    with pytest.raises(TypeError, match="other than bytes"):
        rows._compiled.encode([(1,)], b"o", (lambda value: "text",))


def test_runs_are_cut_at_RUN_columns_and_at_other_types():
    shape = [types.INT] * (rows.RUN + 2) + [nvarchar(10), types.GUID, types.DATETIME_TYPE, decimal_type(18, 2),
                                            types.BIT_TYPE]
    assert rows._segments(shape) == [list(range(rows.RUN)), [rows.RUN, rows.RUN + 1], [rows.RUN + 2],
                                     [rows.RUN + 3, rows.RUN + 4], [rows.RUN + 5], [rows.RUN + 6]]


def test_every_pattern_of_nulls_in_a_run_is_written_as_value_by_value():
    shape = [types.GUID, types.DATETIME_TYPE, types.INT, types.DATE, types.BIT_TYPE][:rows.RUN]
    present = (str(uuid.UUID(int=7)), 1_793_491_200 + 3661, -5, 86400 * 3, 1)
    chunk = [tuple(None if mask >> column & 1 else present[column] for column in range(len(shape)))
             for mask in range(2 ** len(shape))]
    assert rows.fast_function(shape)(chunk) == tokens.rows(shape, chunk)
    if rows._compiled:
        assert rows.compiled_function(shape)(chunk) == tokens.rows(shape, chunk)


def test_a_text_past_one_plp_chunk_is_cut_as_value_by_value():
    text = "é" * (encoders.PLP_CHUNK // 2 + 10)
    shape = [types.NVARCHAR_MAX, types.INT]
    chunk = [(text, 1), ("short", 2), (text, 3)]
    assert rows.rows_encoder(shape)(chunk) == tokens.rows(shape, chunk)
    assert rows.fast_function(shape)(chunk) == tokens.rows(shape, chunk)


def test_an_out_of_range_date_time_is_sql_servers_error():
    encode = rows.rows_encoder([types.INT, types.DATETIME_TYPE, types.INT])
    for seconds in (MIN_DAY - 1, MAX_SECOND + 1):
        with pytest.raises(Overflow, match="out-of-range"):
            encode([(1, MIN_DAY, 2), (3, seconds, 4)])
    assert encode([(1, MIN_DAY, 2), (3, MAX_SECOND, 4)]) == tokens.rows(
        [types.INT, types.DATETIME_TYPE, types.INT], [(1, MIN_DAY, 2), (3, MAX_SECOND, 4)])
