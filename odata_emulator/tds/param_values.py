"""A client's RPC parameter values, read from the request (MS-TDS 2.2.6.6): each parameter's
TYPE_INFO as the SqlType the SQL layer sees, and its value as Python (int, bool, float, Decimal, str,
bytes, UUID, datetime, date). `Reader` is the cursor over the message's bytes.
"""

from __future__ import annotations

import datetime as dt
import decimal
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ProtocolError
from .types import (
    BIGBINARY,
    BIGCHAR,
    BIGINT,
    BIGVARBIN,
    BIGVARCHR,
    BIT,
    BIT_TYPE,
    BITN,
    DATE,
    DATEN,
    DATETIM4,
    DATETIME,
    DATETIME2N,
    DATETIME_TYPE,
    DATETIMEOFFSETN,
    DATETIMN,
    DECIMALN,
    FLOAT,
    FLT4,
    FLT8,
    FLTN,
    GUID,
    GUIDTYPE,
    IMAGE,
    INT,
    INT1,
    INT2,
    INT4,
    INT8,
    INTN,
    MAX_LENGTH,
    MONEY,
    MONEY4,
    MONEY_TYPE,
    MONEYN,
    NCHAR,
    NTEXT,
    NULLTYPE,
    NUMERICN,
    NVARCHAR,
    NVARCHAR_MAX,
    PLP_NULL,
    REAL,
    SMALLINT,
    TEXT,
    TIMEN,
    TINYINT,
    SqlType,
    decimal_type,
    nvarchar,
)

_I2, _I4, _I8 = struct.Struct("<h"), struct.Struct("<i"), struct.Struct("<q")
_F4, _F8 = struct.Struct("<f"), struct.Struct("<d")
_U2, _U4, _U8 = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<Q")
_DATETIME = struct.Struct("<iI")


class Reader:
    """A cursor over a message's bytes; running off its end is a ProtocolError."""

    def __init__(self, data: bytes, position: int = 0) -> None:
        self.data = data
        self.position = position

    def take(self, count: int) -> bytes:
        end = self.position + count
        if count < 0 or end > len(self.data):
            raise ProtocolError("truncated message")
        chunk = self.data[self.position:end]
        self.position = end
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return _U2.unpack(self.take(2))[0]

    def u32(self) -> int:
        return _U4.unpack(self.take(4))[0]

    def u64(self) -> int:
        return _U8.unpack(self.take(8))[0]

    def b_varchar(self) -> str:
        return self._ucs2(self.byte())

    def us_varchar(self) -> str:
        return self._ucs2(self.u16())

    def _ucs2(self, chars: int) -> str:
        return self.take(chars * 2).decode("utf-16-le", "replace")

    @property
    def remaining(self) -> int:
        return len(self.data) - self.position


@dataclass(frozen=True)
class ParamType:
    """An RPC parameter's TYPE_INFO: its wire code, length and the SqlType the SQL layer sees."""

    code: int
    size: int
    sqltype: SqlType
    precision: int = 0
    scale: int = 0
    plp: bool = False


def read_type_info(reader: Reader) -> ParamType:
    code = reader.byte()
    read = _TYPE_INFO.get(code)
    if read is None:
        raise ProtocolError(f"unsupported parameter type {code:#x}")
    return read(code, reader)


def _fixed_type(code: int, reader: Reader) -> ParamType:
    if code in (INT1, INT2, INT4, INT8):
        size = {INT1: 1, INT2: 2, INT4: 4, INT8: 8}[code]
        return ParamType(code, size, _int_type(size))
    if code == BIT:
        return ParamType(code, 1, BIT_TYPE)
    if code in (FLT4, FLT8):
        return ParamType(code, 4 if code == FLT4 else 8, REAL if code == FLT4 else FLOAT)
    if code in (MONEY, MONEY4):
        return ParamType(code, 8 if code == MONEY else 4, MONEY_TYPE)
    return ParamType(code, 8 if code == DATETIME else 4, DATETIME_TYPE)  # DATETIME, DATETIM4


def _null_type(code: int, reader: Reader) -> ParamType:
    return ParamType(code, 0, NVARCHAR_MAX)


def _nullable_type(code: int, reader: Reader) -> ParamType:
    size = reader.byte()
    sqltype = {INTN: _int_type(size) if size in (1, 2, 4, 8) else None, BITN: BIT_TYPE,
               FLTN: REAL if size == 4 else FLOAT, MONEYN: MONEY_TYPE, DATETIMN: DATETIME_TYPE,
               GUIDTYPE: GUID}[code]
    if sqltype is None:
        raise ProtocolError(f"INTN of length {size}")
    return ParamType(code, size, sqltype)


def _decimal_type(code: int, reader: Reader) -> ParamType:
    size, precision, scale = reader.byte(), reader.byte(), reader.byte()
    if not 1 <= precision <= 38 or scale > precision:
        raise ProtocolError(f"decimal({precision},{scale})")
    return ParamType(code, size, decimal_type(precision, scale), precision, scale)


def _date_type(code: int, reader: Reader) -> ParamType:
    return ParamType(code, 3, DATE)


def _time_type(code: int, reader: Reader) -> ParamType:
    scale = reader.byte()
    if scale > 7:
        raise ProtocolError(f"time scale {scale}")
    return ParamType(code, 0, DATETIME_TYPE, scale=scale)


def _char_type(code: int, reader: Reader) -> ParamType:
    size = reader.u16()
    reader.take(5)  # collation
    plp = size == MAX_LENGTH
    chars = None if plp else (size // 2 if code in (NVARCHAR, NCHAR) else size)
    return ParamType(code, size, nvarchar(chars if chars and chars <= 4000 else None), plp=plp)


def _binary_type(code: int, reader: Reader) -> ParamType:
    size = reader.u16()
    return ParamType(code, size, NVARCHAR_MAX, plp=size == MAX_LENGTH)


def _text_type(code: int, reader: Reader) -> ParamType:
    size = reader.u32()
    if code != IMAGE:
        reader.take(5)
    return ParamType(code, size, NVARCHAR_MAX)


_FIXED_CODES = (INT1, INT2, INT4, INT8, BIT, FLT4, FLT8, MONEY, MONEY4, DATETIME, DATETIM4)
_NULLABLE_CODES = (INTN, BITN, FLTN, MONEYN, DATETIMN, GUIDTYPE)

# TYPE_INFO by the type's wire code: how the rest of it reads.
_TYPE_INFO: dict[int, Callable[[int, Reader], ParamType]] = {
    **dict.fromkeys(_FIXED_CODES, _fixed_type),
    NULLTYPE: _null_type,
    **dict.fromkeys(_NULLABLE_CODES, _nullable_type),
    DECIMALN: _decimal_type, NUMERICN: _decimal_type,
    DATEN: _date_type,
    TIMEN: _time_type, DATETIME2N: _time_type, DATETIMEOFFSETN: _time_type,
    BIGVARCHR: _char_type, BIGCHAR: _char_type, NVARCHAR: _char_type, NCHAR: _char_type,
    BIGVARBIN: _binary_type, BIGBINARY: _binary_type,
    TEXT: _text_type, NTEXT: _text_type, IMAGE: _text_type,
}


def _int_type(size: int) -> SqlType:
    return {1: TINYINT, 2: SMALLINT, 4: INT, 8: BIGINT}[size]


def read_value(reader: Reader, info: ParamType) -> Any:
    """A parameter value as Python: int, bool, float, Decimal, str, bytes, UUID, datetime, date."""
    code = info.code
    if code in _FIXED_CODES:
        return _fixed(code, reader.take(info.size))
    if code == NULLTYPE:
        return None
    if code in _NULLABLE_CODES or code in _SIZED_VALUES or code in (TIMEN, DATETIME2N, DATETIMEOFFSETN):
        return _sized_value(reader, info)
    if code in (BIGVARCHR, BIGCHAR, NVARCHAR, NCHAR, BIGVARBIN, BIGBINARY):
        return _variable_value(reader, info)
    if code in (TEXT, NTEXT, IMAGE):
        return _text_value(reader, info)
    raise ProtocolError(f"unsupported parameter type {code:#x}")


def _sized_value(reader: Reader, info: ParamType) -> Any:
    """A value that starts with its length in one byte (0: NULL)."""
    size = reader.byte()
    if size == 0:
        return None
    raw = reader.take(size)
    decode = _SIZED_VALUES.get(info.code)
    if decode is None:  # TIMEN, DATETIME2N, DATETIMEOFFSETN
        return _time_value(info.code, info.scale, raw)
    return decode(info, raw)


def _decimal_value(info: ParamType, raw: bytes) -> decimal.Decimal:
    magnitude = int.from_bytes(raw[1:], "little")
    number = decimal.Decimal(magnitude).scaleb(-info.scale)
    return number if raw[0] else -number


# The values read by `_sized_value`, by the type's wire code: (the parameter's type, the value's bytes).
_SIZED_VALUES: dict[int, Callable[[ParamType, bytes], Any]] = {
    INTN: lambda info, raw: int.from_bytes(raw, "little", signed=len(raw) != 1),
    BITN: lambda info, raw: raw != b"\x00" * len(raw),
    FLTN: lambda info, raw: (_F4 if len(raw) == 4 else _F8).unpack(raw)[0] if len(raw) in (4, 8)
    else _bad(info.code, len(raw)),
    MONEYN: lambda info, raw: _fixed(MONEY if len(raw) == 8 else MONEY4, raw) if len(raw) in (4, 8)
    else _bad(info.code, len(raw)),
    DATETIMN: lambda info, raw: _fixed(DATETIME if len(raw) == 8 else DATETIM4, raw) if len(raw) in (4, 8)
    else _bad(info.code, len(raw)),
    GUIDTYPE: lambda info, raw: uuid.UUID(bytes_le=raw) if len(raw) == 16 else _bad(info.code, len(raw)),
    DECIMALN: _decimal_value,
    NUMERICN: _decimal_value,
    DATEN: lambda info, raw: dt.date(1, 1, 1) + dt.timedelta(days=int.from_bytes(raw, "little"))
    if len(raw) == 3 else _bad(info.code, len(raw)),
}


def _variable_value(reader: Reader, info: ParamType) -> str | bytes | None:
    data = _plp_read(reader) if info.plp else _short_read(reader)
    if data is None:
        return None
    if info.code in (NVARCHAR, NCHAR):
        return data.decode("utf-16-le", "replace")
    if info.code in (BIGVARCHR, BIGCHAR):
        return data.decode("latin-1")
    return data


def _text_value(reader: Reader, info: ParamType) -> str | bytes | None:
    pointer = reader.byte()
    if pointer == 0:
        return None
    reader.take(pointer + 8)  # text pointer and timestamp
    raw = reader.take(reader.u32())
    code = info.code
    return raw.decode("utf-16-le", "replace") if code == NTEXT else raw.decode("latin-1") if code == TEXT else raw


def _bad(code: int, size: int):
    raise ProtocolError(f"type {code:#x} with length {size}")


def _short_read(reader: Reader) -> bytes | None:
    size = reader.u16()
    return None if size == 0xFFFF else reader.take(size)


def _plp_read(reader: Reader) -> bytes | None:
    total = reader.u64()
    if total == PLP_NULL:
        return None
    parts = []
    while True:
        size = reader.u32()
        if size == 0:
            break
        parts.append(reader.take(size))
    return b"".join(parts)


def _fixed(code: int, raw: bytes):
    if code == INT1:
        return raw[0]
    if code == INT2:
        return _I2.unpack(raw)[0]
    if code == INT4:
        return _I4.unpack(raw)[0]
    if code == INT8:
        return _I8.unpack(raw)[0]
    if code == BIT:
        return raw[0] != 0
    if code == FLT4:
        return _F4.unpack(raw)[0]
    if code == FLT8:
        return _F8.unpack(raw)[0]
    if code == MONEY:
        high, low = struct.unpack("<iI", raw)
        return decimal.Decimal((high << 32) + low).scaleb(-4)
    if code == MONEY4:
        return decimal.Decimal(_I4.unpack(raw)[0]).scaleb(-4)
    if code == DATETIME:
        days, ticks = _DATETIME.unpack(raw)
        return dt.datetime(1900, 1, 1) + dt.timedelta(days=days, milliseconds=ticks * 10 / 3)
    if code == DATETIM4:
        days, minutes = struct.unpack("<HH", raw)
        return dt.datetime(1900, 1, 1) + dt.timedelta(days=days, minutes=minutes)
    raise ProtocolError(f"type {code:#x}")


def _time_value(code: int, scale: int, raw: bytes):
    time_size = 3 if scale <= 2 else 4 if scale <= 4 else 5
    if code == TIMEN:
        if len(raw) != time_size:
            _bad(code, len(raw))
        return _time_of(int.from_bytes(raw, "little"), scale)
    date_end = time_size + 3
    if len(raw) != date_end + (2 if code == DATETIMEOFFSETN else 0):
        _bad(code, len(raw))
    moment = dt.datetime(1, 1, 1) + dt.timedelta(days=int.from_bytes(raw[time_size:date_end], "little"))
    ticks = int.from_bytes(raw[:time_size], "little")
    moment += dt.timedelta(microseconds=ticks * 10 ** (6 - scale) if scale <= 6 else ticks // 10 ** (scale - 6))
    if code == DATETIMEOFFSETN:  # stored in UTC with the offset beside it
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment


def _time_of(ticks: int, scale: int) -> dt.time:
    micro = ticks * 10 ** (6 - scale) if scale <= 6 else ticks // 10 ** (scale - 6)
    seconds, micro = divmod(micro, 1_000_000)
    hours, rest = divmod(seconds, 3600)
    return dt.time(hours % 24, rest // 60, rest % 60, micro)
