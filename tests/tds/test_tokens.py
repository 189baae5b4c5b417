"""Tokens and values on the wire: each type's TYPE_INFO and value bytes (from the store's forms), the
fast row encoder against the value-by-value one, and DONE/ERROR/ENVCHANGE/RETURNVALUE."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import struct
import uuid

import pytest

from odata_emulator.tds import encoders, rows, tokens, types
from odata_emulator.tds.errors import Overflow
from odata_emulator.tds.types import SqlType, decimal_type, nvarchar
from tests.tds.wire import read_tokens

EPOCH_2026 = 1_793_491_200  # 2026-11-01T00:00:00Z


@pytest.mark.parametrize("sqltype, info", [
    (types.INT, b"\x26\x04"),
    (types.BIGINT, b"\x26\x08"),
    (types.SMALLINT, b"\x26\x02"),
    (types.TINYINT, b"\x26\x01"),
    (types.BIT_TYPE, b"\x68\x01"),
    (types.FLOAT, b"\x6d\x08"),
    (types.REAL, b"\x6d\x04"),
    (types.GUID, b"\x24\x10"),
    (types.DATETIME_TYPE, b"\x6f\x08"),
    (types.DATE, b"\x28"),
    (nvarchar(256), b"\xe7\x00\x02" + types.COLLATION),
    (types.NVARCHAR_MAX, b"\xe7\xff\xff" + types.COLLATION),
    (decimal_type(18, 2), b"\x6a\x09\x12\x02"),
    (types.MONEY_TYPE, b"\x6a\x09\x13\x04"),
])
def test_type_info(sqltype, info):
    assert sqltype.type_info() == info


GUID = "032a576c-27be-4fc1-bef9-0c6ca8c16da9"


@pytest.mark.parametrize("sqltype, stored, wire", [
    (types.INT, 7, b"\x04\x07\x00\x00\x00"),
    (types.INT, -1, b"\x04\xff\xff\xff\xff"),
    (types.INT, None, b"\x00"),
    (types.BIGINT, 2**40, b"\x08" + struct.pack("<q", 2**40)),
    (types.BIT_TYPE, 1, b"\x01\x01"),
    (types.BIT_TYPE, 0, b"\x01\x00"),
    (types.FLOAT, 16.65, b"\x08" + struct.pack("<d", 16.65)),
    # uniqueidentifier: the first three groups little-endian (MS-TDS 2.2.5.5.1.7)
    (types.GUID, GUID, b"\x10" + uuid.UUID(GUID).bytes_le),
    (types.GUID, None, b"\x00"),
    # datetime: days since 1900-01-01, then 1/300 s since midnight
    (types.DATETIME_TYPE, EPOCH_2026 + 3661, b"\x08" + struct.pack("<iI", 46_325, 3661 * 300)),
    (types.DATETIME_TYPE, 0.5, b"\x08" + struct.pack("<iI", 25_567, 150)),
    (types.DATE, EPOCH_2026, b"\x03" + (739_920).to_bytes(3, "little")),
    (nvarchar(20), "Jöb", b"\x06\x00" + "Jöb".encode("utf-16-le")),
    (nvarchar(20), None, b"\xff\xff"),
    (nvarchar(20), "", b"\x00\x00"),
    # nvarchar(max) as PLP: total length, one chunk, the terminator
    (types.NVARCHAR_MAX, "ab", struct.pack("<QI", 4, 4) + "ab".encode("utf-16-le") + b"\x00" * 4),
    (types.NVARCHAR_MAX, "", b"\x00" * 12),
    (types.NVARCHAR_MAX, None, b"\xff" * 8),
    (decimal_type(18, 2), 12.345, b"\x09\x01" + (1235).to_bytes(8, "little")),
    (decimal_type(18, 2), -1, b"\x09\x00" + (100).to_bytes(8, "little")),
])
def test_values_from_their_storage_form(sqltype, stored, wire):
    assert encoders.encoder(sqltype)(stored) == wire


def test_the_datetime_encoding_reads_back_as_the_moment():
    moment = dt.datetime(2026, 10, 23, 22, 37, 1)
    days, ticks = encoders.datetime_parts(encoders.epoch_of(moment))
    assert dt.datetime(1900, 1, 1) + dt.timedelta(days=days, seconds=ticks / 300) == moment


@pytest.mark.parametrize("sqltype, value, message", [
    (types.INT, 2**31, "Arithmetic overflow error converting expression to data type int."),
    (types.TINYINT, -1, "data type tinyint"),
    (types.DATETIME_TYPE, -7_000_000_000, "out-of-range"),
    (types.GUID, "not a guid", "uniqueidentifier"),
    (nvarchar(10), "x" * 4001, "would be truncated"),
])
def test_values_that_do_not_fit_are_sql_server_errors(sqltype, value, message):
    with pytest.raises(Overflow, match=message):
        encoders.encoder(sqltype)(value)


ALL_SHAPES = [types.INT, types.BIGINT, types.SMALLINT, types.TINYINT, types.BIT_TYPE, types.FLOAT, types.REAL,
              types.GUID, types.DATETIME_TYPE, types.DATE, nvarchar(40), nvarchar(4000), types.NVARCHAR_MAX,
              decimal_type(18, 2), decimal_type(38, 6), types.MONEY_TYPE]


def random_value(sqltype: SqlType, rng: random.Random):
    if rng.random() < 0.15:
        return None
    name = sqltype.name
    if name in types.INT_RANGES:
        return rng.randint(*types.INT_RANGES[name])
    if name == "bit":
        return rng.choice([0, 1, 2, -1])
    if name in ("float", "real"):
        return rng.uniform(-1e9, 1e9)
    if name in ("decimal", "money"):
        return round(rng.uniform(-1e6, 1e6), rng.randint(0, 4))
    if name == "uniqueidentifier":
        return str(uuid.UUID(int=rng.getrandbits(128)))
    if name == "datetime":
        return rng.randint(encoders.MIN_DATETIME, int(encoders.MAX_DATETIME))
    if name == "date":
        return rng.randint(-encoders.DAYS_0001 * 86400, int(encoders.MAX_DATETIME))
    if name == "nvarchar":
        return "".join(rng.choice("abcé中😀 ") for _ in range(rng.randint(0, 40)))
    raise AssertionError(name)


def test_the_fast_row_encoder_writes_what_the_value_by_value_one_writes():
    """The generated encoder against `encoders.encoder` (`tokens.rows`) for every type, NULLs included,
    on rows read back from SQLite as the store gives them."""
    shape = ALL_SHAPES
    rng = random.Random(1)
    stored = [tuple(random_value(t, rng) for t in shape) for _ in range(500)]
    stored += [(None,) * len(shape), (0, 0, 0, 0, 0, 0.0, 0.0, GUID, 0, 0, "", "", "", 0, 0, 0)]
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE TABLE t ({', '.join(f'c{i}' for i in range(len(shape)))})")
    db.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(shape))})", stored)
    read = db.execute("SELECT * FROM t ORDER BY rowid").fetchall()
    assert rows.rows_encoder(shape)(read) == tokens.rows(shape, stored)
    for index, sqltype in enumerate(shape):  # each type alone, and in a chunk of its own
        alone = [(row[index],) for row in stored]
        assert rows.rows_encoder([sqltype])(alone) == tokens.rows([sqltype], alone), sqltype


def test_the_fast_path_is_the_one_taken():
    """Ordinary values never leave the generated function (a chunk that did would be written twice)."""
    shape = ALL_SHAPES[:13]
    rng = random.Random(2)
    stored = [tuple(random_value(t, rng) for t in shape) for _ in range(200)]
    assert rows.fast_function(shape)(stored) == tokens.rows(shape, stored)


@pytest.mark.parametrize("sqltype, values", [
    (types.INT, [-2**31, 2**31 - 1, 0, True]),
    (types.SMALLINT, [-32768, 32767]),
    (types.TINYINT, [0, 255]),
    (types.BIGINT, [-2**63, 2**63 - 1]),
    (types.BIT_TYPE, [0, 1, 7, -3, "0", ""]),
    (types.FLOAT, [0, 1, -2**53, 1e308, float("inf")]),
    (types.REAL, [0, 1.5, 3.4e38, -3.4e38]),
    # datetime: its first and last whole seconds, the epoch, before 1900 (negative days); fractions of a second
    # and date-times as floats or text go value by value
    (types.DATETIME_TYPE, [encoders.MIN_DATETIME, int(encoders.MAX_DATETIME), 0, -2_208_988_801,
                           EPOCH_2026 + 0.5, float(EPOCH_2026), 253_402_300_799.998]),
    (types.DATE, [-encoders.DAYS_0001 * 86400, int(encoders.MAX_DATETIME), 0, -1, EPOCH_2026 + 86399, 86400.5]),
    (types.GUID, [GUID, GUID.upper(), "{" + GUID + "}", GUID.replace("-", ""), GUID]),
    (nvarchar(4000), ["x" * 4000, "😀" * 2000, "", "a\x00b", 12, 1.5, b"bytes"]),
    (types.NVARCHAR_MAX, ["x" * 5000, "😀", "", 7]),
    (decimal_type(10, 3), [1, 1.2345, -0.0005, "2.5"]),
])
def test_edge_values_as_the_value_by_value_encoder_writes_them(sqltype, values):
    encode = rows.rows_encoder([sqltype])
    alone = [(value,) for value in values]
    assert encode(alone) == tokens.rows([sqltype], alone)
    for value in values:  # a chunk of one value, which takes the fast path when it can
        assert encode([(value,)]) == tokens.rows([sqltype], [(value,)])


@pytest.mark.parametrize("sqltype, value, message", [
    (types.INT, 2**31, "data type int"),
    (types.SMALLINT, -32769, "data type smallint"),
    (types.TINYINT, 256, "data type tinyint"),
    (types.DATETIME_TYPE, encoders.MIN_DATETIME - 1, "out-of-range"),
    (types.DATETIME_TYPE, int(encoders.MAX_DATETIME) + 1, "out-of-range"),
    (types.DATE, -encoders.DAYS_0001 * 86400 - 1, "out-of-range"),
    (types.DATE, int(encoders.MAX_DATETIME) + 1, "out-of-range"),
    (types.DATETIME_TYPE, "2026-01-01", "character string"),
    (types.GUID, GUID[:-2] + "zz", "uniqueidentifier"),
    (nvarchar(10), "x" * 4001, "would be truncated"),
])
def test_a_chunk_with_a_value_that_does_not_fit_is_an_error(sqltype, value, message):
    encode = rows.rows_encoder([types.INT, sqltype])
    with pytest.raises(Overflow, match=message):
        encode([(1, None), (2, value)])


def test_a_guid_in_another_spelling_is_encoded_value_by_value():
    """Only the 36-character form is taken apart by the fast path; braces, no hyphens or upper case are
    converted as SQL Server would, text that is no GUID is refused, and 36 characters holding fewer than
    32 hex digits never make a short value (whatever the value-by-value encoder makes of them)."""
    shape = [types.GUID]
    encode = rows.rows_encoder(shape)
    spellings = [GUID.upper(), "{" + GUID + "}", GUID.replace("-", ""), GUID]
    assert encode([(s,) for s in spellings]) == tokens.rows(shape, [(GUID,)] * 4)
    for wrong in (GUID[:-2] + "zz", GUID[:-1]):
        with pytest.raises(Overflow):
            encode([(GUID,), (wrong,)])
    spaced = GUID[:-2] + "  "
    assert len(encode([(spaced,)])) == 18
    assert encode([(GUID,), (spaced,)]) == tokens.rows(shape, [(GUID,), (spaced,)])
    assert encode([(spaced,), (spaced,)]) == tokens.rows(shape, [(spaced,), (spaced,)])


def test_repeated_guids_and_texts_in_a_chunk_are_written_alike():
    """A chunk's repeats are answered from what the call already wrote: the same bytes, whatever the
    column (nvarchar(n) of any n, a GUID in two columns), and a long text or one that no longer fits."""
    shape = [types.GUID, types.GUID, nvarchar(10), nvarchar(4000), types.NVARCHAR_MAX]
    long_text = "é" * 300  # past TEXT_MEMO_BYTES
    other = str(uuid.UUID(int=5))
    stored = [(GUID, other, "Job", "Job", "Job"), (other, GUID, "Job", long_text, long_text),
              (GUID, None, long_text, "Job", None), (GUID, GUID, None, long_text, "Job")] * 3
    encode = rows.rows_encoder(shape)
    assert encode(stored) == tokens.rows(shape, stored)
    assert encode(stored) == encode(stored[:5]) + encode(stored[5:])  # nothing kept from one call to the next
    with pytest.raises(Overflow):  # a repeated text is checked like the first: 4001 characters never fit
        encode([(GUID, GUID, "x" * 3000, "x" * 3000, None), (GUID, GUID, "x" * 4001, "x" * 4001, None)])


def test_a_chunk_with_an_unusual_value_is_encoded_value_by_value():
    shape = [types.INT, nvarchar(10)]
    encode = rows.rows_encoder(shape)
    assert encode([(1, "a"), (2.9, 5)]) == tokens.rows(shape, [(1, "a"), (2, "5")])
    with pytest.raises(Overflow):
        encode([(1, "a"), (2**40, "b")])


def test_a_result_of_no_columns_writes_empty_rows():
    assert rows.rows_encoder([])([(), ()]) == b"\xd1\xd1"


def test_done_error_info_envchange():
    stream = (tokens.message(40000, 1, 16, "Nope.", "srv", "", 3) + tokens.message(5701, 2, 0, "Hi.", info=True)
              + tokens.envchange(tokens.ENV_DATABASE, "new", "old")
              + tokens.envchange_bytes(tokens.ENV_BEGIN_TRANSACTION, b"\x01" * 8)
              + tokens.done(tokens.DONE_MORE | tokens.DONE_COUNT, 12, tokens.CMD_SELECT)
              + tokens.done(tokens.DONE_ERROR, token=tokens.DONEPROC))
    reply = read_tokens(stream)
    assert [(e.number, e.state, e.severity, e.message, e.line) for e in reply.errors] == [(40000, 1, 16, "Nope.", 3)]
    assert [(e.number, e.message) for e in reply.infos] == [(5701, "Hi.")]
    assert reply.envchanges == [(1, "new".encode("utf-16-le"), "old".encode("utf-16-le")), (8, b"\x01" * 8, b"")]
    assert reply.dones == [(0xFD, 0x11, 12), (0xFE, 0x02, 0)]
    assert tokens.done(tokens.DONE_ATTN) == b"\xfd\x20\x00\x00\x00" + bytes(8)


def test_colmetadata_rows_and_returnvalue():
    columns = [("statecode", types.INT), ("name", nvarchar(256)), ("", types.GUID)]
    stream = (tokens.colmetadata(columns) + tokens.rows([t for _, t in columns], [(3, "Job", GUID), (None, None, None)])
              + tokens.returnstatus(0) + tokens.returnvalue(0, "@handle", types.INT, 1))
    reply = read_tokens(stream)
    assert reply.results[0].columns == [("statecode", 0x26), ("name", 0xE7), ("", 0x24)]
    assert reply.rows == [[3, "Job", uuid.UUID(GUID)], [None, None, None]]
    assert reply.return_status == [0]
    assert reply.return_values == [("@handle", 1)]


def test_a_chunk_of_distinct_guids_is_converted_together_as_the_value_by_value_encoder_writes_it():
    """A key column (every GUID distinct, NULLs among them, upper and lower case) goes through the batched
    conversion and writes what `encoders.encoder` writes; a chunk holding one GUID in another spelling is
    converted one GUID at a time (or value by value), with the same bytes."""
    rng = random.Random(3)
    distinct = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(1000)]
    column = [None if index % 97 == 0 else text.upper() if index % 5 == 0 else text
              for index, text in enumerate(distinct)]
    shape = [types.INT, types.GUID, types.GUID]
    stored = [(index, text, distinct[index % 3]) for index, text in enumerate(column)]
    encode = rows.rows_encoder(shape)
    assert encode(stored) == tokens.rows(shape, stored)
    for odd in ("{" + GUID + "}", GUID.replace("-", ""), GUID[:8] + "-" + GUID[9:] + "-"):
        mixed = stored[:50] + [(0, odd, GUID)] + stored[50:100]
        assert encode(mixed) == tokens.rows(shape, mixed), odd
    assert encode([(1, None, None)]) == tokens.rows(shape, [(1, None, None)])


def test_a_guid_with_spaces_for_hyphens_is_refused_as_sql_server_refuses_it():
    """36 characters, 32 hex digits: `bytes.fromhex` would take it (it skips whitespace), SQL Server does not."""
    spaced = GUID.replace("-", " ")
    encode = rows.rows_encoder([types.GUID])
    for chunk in ([(spaced,)], [(GUID,), (spaced,)]):
        with pytest.raises(Overflow):
            tokens.rows([types.GUID], chunk)
        with pytest.raises(Overflow):
            encode(chunk)


def test_guids_checked_together_fall_back_for_each_kind_of_flaw():
    """`_guids` converts a chunk's GUID column at once, in row order (a NULL's bytes are never written);
    a text of another length (even when the lengths add up), hyphens out of place, a non-hex digit,
    whitespace or a value that is not text send the chunk value by value."""
    good = [str(uuid.UUID(int=n)) for n in range(1, 6)] + [GUID.upper()]
    assert rows._guids(good + [None, good[0]]) == (*(uuid.UUID(text).bytes_le for text in good), bytes(16),
                                                   uuid.UUID(good[0]).bytes_le)
    short, long = GUID[:-1], GUID + "0"
    for flaw in ([long], [short, long], [long, short], [GUID[:8] + "0" + GUID[9:13] + "-" + GUID[14:]],
                 [GUID.replace("-", ",")]):
        with pytest.raises(rows._Unusual):
            rows._guids(good + flaw)
    for flaw in (GUID[:-1] + "z", GUID[:-1] + " ", GUID[:-1] + "é"):
        with pytest.raises(ValueError):
            rows._guids(good + [flaw])
    with pytest.raises(TypeError):
        rows._guids(good + [5])
