"""RPC requests: procedures by id and by name, every parameter type clients send, the declarations of
sp_executesql/sp_prepexec, and parameter values turned into the store's forms."""

from __future__ import annotations

import datetime as dt
import decimal
import struct
import uuid

import pytest

from odata_emulator.tds import param_values, rpc, types
from odata_emulator.tds.errors import ConversionFailed, ProtocolError, SqlSyntaxError
from odata_emulator.tds.param_values import Reader
from odata_emulator.tds.types import decimal_type, nvarchar
from tests.tds.wire import ALL_HEADERS, param, rpc_request


def test_sp_executesql_by_id_with_its_parameters():
    data = rpc_request(10, [
        param("", types.NVARCHAR_MAX, "select * from asyncoperation where statecode = @P1"),
        param("", types.NVARCHAR_MAX, "@P1 int"),
        param("@P1", types.INT, 3),
    ])
    (call,) = rpc.parse(data)
    assert call.procedure == "sp_executesql"
    assert [(p.name, p.value, p.output) for p in call.parameters] == [
        ("", "select * from asyncoperation where statecode = @P1", False), ("", "@P1 int", False), ("@P1", 3, False)]


def test_procedures_by_name_lose_their_schema():
    (call,) = rpc.parse(rpc_request("sys.sp_executesql", [param("", nvarchar(20), "select 1")]))
    assert call.procedure == "sp_executesql"
    (call,) = rpc.parse(rpc_request("[master]..[sp_prepexec]", []))
    assert call.procedure == "sp_prepexec"


def test_an_output_parameter_is_marked():
    (call,) = rpc.parse(rpc_request(13, [param("@handle", types.INT, None, output=True)]))
    assert call.parameters[0].output and call.parameters[0].value is None


def test_batched_calls_are_separated_by_ff():
    one = rpc_request(15, [param("", types.INT, 1)])
    two = rpc_request(15, [param("", types.INT, 2)])[len(ALL_HEADERS):]
    calls = rpc.parse(one + b"\xff" + two)
    assert [c.parameters[0].value for c in calls] == [1, 2]


GUID = uuid.UUID("032a576c-27be-4fc1-bef9-0c6ca8c16da9")


@pytest.mark.parametrize("info, value, expected", [
    (b"\x26\x01", b"\x01\xff", 255),  # INTN(1) is unsigned
    (b"\x26\x02", b"\x02\xfe\xff", -2),
    (b"\x26\x08", b"\x08" + struct.pack("<q", -5), -5),
    (b"\x26\x04", b"\x00", None),
    (b"\x38", struct.pack("<i", 7), 7),  # INT4, fixed length
    (b"\x32", b"\x01", True),  # BIT
    (b"\x68\x01", b"\x01\x00", False),
    (b"\x6d\x08", b"\x08" + struct.pack("<d", 1.5), 1.5),
    (b"\x6d\x04", b"\x04" + struct.pack("<f", 0.5), 0.5),
    (b"\x24\x10", b"\x10" + GUID.bytes_le, GUID),
    (b"\x6f\x08", b"\x08" + struct.pack("<iI", 46_325, 300), dt.datetime(2026, 11, 1, 0, 0, 1)),
    (b"\x28", b"\x03" + (739_920).to_bytes(3, "little"), dt.date(2026, 11, 1)),
    # DATETIME2N(7): 100 ns ticks in 5 bytes, then the date
    (b"\x2a\x07", b"\x08" + (10_000_000).to_bytes(5, "little") + (739_920).to_bytes(3, "little"),
     dt.datetime(2026, 11, 1, 0, 0, 1)),
    (b"\x6a\x09\x12\x02", b"\x09\x00" + (1234).to_bytes(8, "little"), decimal.Decimal("-12.34")),
    (b"\xe7\x40\x1f" + types.COLLATION, b"\x04\x00" + "hi".encode("utf-16-le"), "hi"),
    (b"\xe7\x40\x1f" + types.COLLATION, b"\xff\xff", None),
    (b"\xe7\xff\xff" + types.COLLATION, struct.pack("<QI", 4, 2) + "h".encode("utf-16-le") + struct.pack("<I", 2)
     + "i".encode("utf-16-le") + b"\x00" * 4, "hi"),  # PLP in two chunks
    (b"\xe7\xff\xff" + types.COLLATION, b"\xff" * 8, None),
    (b"\xa7\x10\x00" + types.COLLATION, b"\x03\x00abc", "abc"),  # varchar
])
def test_parameter_values(info, value, expected):
    reader = Reader(info + value)
    parsed = param_values.read_value(reader, param_values.read_type_info(reader))
    assert parsed == expected and reader.remaining == 0


@pytest.mark.parametrize("data", [
    rpc_request(10, [param("", types.INT, 1)])[:-2],  # value cut short
    ALL_HEADERS + b"\xff\xff",  # no procedure id
    ALL_HEADERS + b"\x05\x00ab",  # name shorter than its length
    rpc_request(10, []) + b"\x00\x00\x99",  # unknown type
    struct.pack("<I", 30) + b"\x00" * 4,  # ALL_HEADERS longer than the message
    b"",
])
def test_truncated_or_unknown_input_is_a_protocol_error(data):
    with pytest.raises(ProtocolError):
        rpc.parse(data)


def test_declarations():
    assert rpc.declarations("@P1 int, @P2 nvarchar(4000) OUTPUT,@when datetime2(7),@d decimal(18,2)") == [
        ("p1", types.INT), ("p2", nvarchar(4000)), ("when", types.DATETIME_TYPE), ("d", decimal_type(18, 2))]
    assert rpc.declarations(None) == [] and rpc.declarations("  ") == []
    with pytest.raises(SqlSyntaxError):
        rpc.declarations("@P1 int int")


@pytest.mark.parametrize("value, sqltype, stored", [
    (dt.datetime(2026, 11, 1, 0, 0, 1), types.DATETIME_TYPE, 1_793_491_201),
    (dt.datetime(2026, 11, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))), types.DATETIME_TYPE, 1_793_491_200),
    ("2026-11-01", types.DATETIME_TYPE, 1_793_491_200),
    (dt.date(2026, 11, 1), types.DATE, 1_793_491_200),
    (GUID, types.GUID, str(GUID)),
    ("{032A576C-27BE-4FC1-BEF9-0C6CA8C16DA9}", types.GUID, str(GUID)),
    (True, types.INT, 1),
    ("true", types.BIT_TYPE, 1),
    ("7", types.INT, 7),
    (decimal.Decimal("1.5"), decimal_type(18, 2), 1.5),
    (GUID, nvarchar(40), str(GUID).upper()),
    (None, types.INT, None),
])
def test_values_in_storage_form(value, sqltype, stored):
    assert rpc.to_storage(value, sqltype) == stored


@pytest.mark.parametrize("value, sqltype", [("soon", types.DATETIME_TYPE), ("x", types.GUID), ("x", types.INT),
                                            ("maybe", types.BIT_TYPE)])
def test_values_that_do_not_convert(value, sqltype):
    with pytest.raises(ConversionFailed):
        rpc.to_storage(value, sqltype)
