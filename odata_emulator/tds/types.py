"""SQL Server data types on the wire (MS-TDS 2.2.5): each column's TYPE_INFO in COLMETADATA, each
value in a ROW, and the values clients send as RPC parameters.

Values come out of the store in its storage form (`store/values.py`): date-times and dates as
seconds since the Unix epoch (UTC), GUIDs as lowercase text, booleans as 0/1. The encoders convert
them on the way out, so that a client reads `datetime`, `uniqueidentifier` and `bit`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import struct
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from .errors import Overflow, ProtocolError

# SQL_Latin1_General_CP1_CI_AS: LCID 0x0409, case- and width-insensitive, sort id 52 (MS-TDS 2.2.5.1.2).
COLLATION = bytes((0x09, 0x04, 0xD0, 0x00, 0x34))

# TYPE_INFO codes (MS-TDS 2.2.5.4)
NULLTYPE = 0x1F
INT1, BIT, INT2, INT4, DATETIM4, FLT4, MONEY, DATETIME, FLT8, MONEY4, INT8 = (
    0x30, 0x32, 0x34, 0x38, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x7A, 0x7F)
GUIDTYPE, INTN, BITN, DECIMALN, NUMERICN, FLTN, MONEYN, DATETIMN = 0x24, 0x26, 0x68, 0x6A, 0x6C, 0x6D, 0x6E, 0x6F
DATEN, TIMEN, DATETIME2N, DATETIMEOFFSETN = 0x28, 0x29, 0x2A, 0x2B
BIGVARBIN, BIGVARCHR, BIGBINARY, BIGCHAR, NVARCHAR, NCHAR = 0xA5, 0xA7, 0xAD, 0xAF, 0xE7, 0xEF
TEXT, IMAGE, NTEXT, SSVARIANT, XML = 0x23, 0x22, 0x63, 0x62, 0xF1

PLP_NULL = 0xFFFFFFFFFFFFFFFF
PLP_UNKNOWN = 0xFFFFFFFFFFFFFFFE
MAX_LENGTH = 0xFFFF  # a (max) type's length in TYPE_INFO

EPOCH_1900 = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
DAYS_0001 = 719_162  # days from 0001-01-01 to 1970-01-01
TICKS_PER_SECOND = 300  # datetime's 1/300 s
MIN_DATETIME = -6_847_804_800  # 1753-01-01
MAX_DATETIME = 253_402_300_799.997  # 9999-12-31 23:59:59.997

_I1, _I2, _I4, _I8 = struct.Struct("<b"), struct.Struct("<h"), struct.Struct("<i"), struct.Struct("<q")
_F4, _F8 = struct.Struct("<f"), struct.Struct("<d")
_U2, _U4, _U8 = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<Q")
_DATETIME = struct.Struct("<iI")

_INT_RANGES = {"tinyint": (0, 255), "smallint": (-32768, 32767), "int": (-2**31, 2**31 - 1),
               "bigint": (-2**63, 2**63 - 1)}
_INT_SIZES = {"tinyint": 1, "smallint": 2, "int": 4, "bigint": 8}


@dataclass(frozen=True)
class SqlType:
    """A column's SQL Server type: `name` as SQL spells it, `length` in characters for nvarchar
    (None: max), precision and scale for decimal."""

    name: str
    length: int | None = None
    precision: int = 0
    scale: int = 0

    def __str__(self) -> str:
        if self.name == "nvarchar":
            return f"nvarchar({'max' if self.length is None else self.length})"
        if self.name == "decimal":
            return f"decimal({self.precision},{self.scale})"
        return self.name

    @property
    def is_integer(self) -> bool:
        return self.name in _INT_RANGES or self.name == "bit"

    @property
    def is_numeric(self) -> bool:
        return self.is_integer or self.name in ("float", "real", "decimal", "money")

    @property
    def is_string(self) -> bool:
        return self.name == "nvarchar"

    @property
    def is_temporal(self) -> bool:
        return self.name in ("datetime", "date")

    @property
    def is_max(self) -> bool:
        return self.name == "nvarchar" and (self.length is None or self.length > 4000)

    def type_info(self) -> bytes:
        name = self.name
        if name in _INT_SIZES:
            return bytes((INTN, _INT_SIZES[name]))
        if name == "bit":
            return bytes((BITN, 1))
        if name == "float":
            return bytes((FLTN, 8))
        if name == "real":
            return bytes((FLTN, 4))
        if name in ("decimal", "money"):
            precision, _ = self._decimal_shape()
            return bytes((DECIMALN, _decimal_size(precision), precision, self._decimal_shape()[1]))
        if name == "uniqueidentifier":
            return bytes((GUIDTYPE, 16))
        if name == "datetime":
            return bytes((DATETIMN, 8))
        if name == "date":
            return bytes((DATEN,))
        if name == "nvarchar":
            size = MAX_LENGTH if self.is_max else max(1, self.length) * 2
            return bytes((NVARCHAR,)) + _U2.pack(size) + COLLATION
        raise ValueError(f"no TYPE_INFO for {name}")

    def _decimal_shape(self) -> tuple[int, int]:
        if self.name == "money":
            return 19, 4
        return max(1, min(38, self.precision or 18)), max(0, min(self.scale, self.precision or 18))


def _decimal_size(precision: int) -> int:
    return 5 if precision <= 9 else 9 if precision <= 19 else 13 if precision <= 28 else 17


# Types by the names CAST/CONVERT and sp_executesql declarations use.
INT = SqlType("int")
BIGINT = SqlType("bigint")
SMALLINT = SqlType("smallint")
TINYINT = SqlType("tinyint")
BIT_TYPE = SqlType("bit")
FLOAT = SqlType("float")
REAL = SqlType("real")
MONEY_TYPE = SqlType("money")
GUID = SqlType("uniqueidentifier")
DATETIME_TYPE = SqlType("datetime")
DATE = SqlType("date")
NVARCHAR_MAX = SqlType("nvarchar", None)


def nvarchar(length: int | None) -> SqlType:
    return SqlType("nvarchar", length)


def decimal_type(precision: int = 18, scale: int = 0) -> SqlType:
    return SqlType("decimal", None, precision, scale)


# ---------------------------------------------------------------------------- storage form <-> wire


def guid_bytes(text: str) -> bytes:
    return uuid.UUID(text).bytes_le


def datetime_parts(seconds: float) -> tuple[int, int]:
    """Epoch seconds as datetime's (days since 1900-01-01, 1/300 s ticks since midnight)."""
    if not (MIN_DATETIME <= seconds <= MAX_DATETIME + 0.002):
        raise Overflow("The conversion of a value to a datetime data type resulted in an out-of-range value.")
    total = seconds + EPOCH_1900
    days = int(total // 86400)
    ticks = int(round((total - days * 86400) * TICKS_PER_SECOND))
    if ticks >= 86400 * TICKS_PER_SECOND:
        days, ticks = days + 1, ticks - 86400 * TICKS_PER_SECOND
    return days, ticks


def epoch_of(value: dt.datetime | dt.date) -> float | int:
    """A datetime (naive means UTC) or date as epoch seconds, the store's form."""
    if not isinstance(value, dt.datetime):
        return (value - dt.date(1970, 1, 1)).days * 86400
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    delta = value - dt.datetime(1970, 1, 1)
    whole = delta.days * 86400 + delta.seconds
    return whole + delta.microseconds / 1e6 if delta.microseconds else whole


def _int_encoder(name: str) -> Callable[[Any], bytes]:
    low, high = _INT_RANGES[name]
    size = _INT_SIZES[name]
    packer = {1: struct.Struct("<B"), 2: _I2, 4: _I4, 8: _I8}[size].pack
    prefix = bytes((size,))

    def encode(value) -> bytes:
        if value is None:
            return b"\x00"
        if not isinstance(value, int):
            value = _to_int(value)
        if not low <= value <= high:
            raise Overflow(f"Arithmetic overflow error converting expression to data type {name}.")
        return prefix + packer(value)
    return encode


def _to_int(value) -> int:
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise Overflow("Arithmetic overflow error converting expression to data type int.")
        return int(value)
    if isinstance(value, (bytes, str)):
        try:
            return int(float(value))
        except ValueError:
            raise Overflow(f"Conversion failed when converting the value '{value}' to data type int.") from None
    return int(value)


def _bit(value) -> bytes:
    if value is None:
        return b"\x00"
    return b"\x01\x01" if value else b"\x01\x00"


def _float8(value) -> bytes:
    if value is None:
        return b"\x00"
    try:
        return b"\x08" + _F8.pack(float(value))
    except (TypeError, ValueError):
        raise Overflow("Error converting data type nvarchar to float.") from None


def _float4(value) -> bytes:
    if value is None:
        return b"\x00"
    try:
        return b"\x04" + _F4.pack(float(value))
    except (OverflowError, TypeError, ValueError):
        raise Overflow("Arithmetic overflow error converting expression to data type real.") from None


def _guid(value) -> bytes:
    if value is None:
        return b"\x00"
    try:
        return b"\x10" + (value.bytes_le if isinstance(value, uuid.UUID) else uuid.UUID(str(value)).bytes_le)
    except ValueError:
        raise Overflow("Conversion failed when converting from a character string to uniqueidentifier.") from None


def _datetime(value) -> bytes:
    if value is None:
        return b"\x00"
    if isinstance(value, (dt.date, dt.datetime)):
        value = epoch_of(value)
    elif not isinstance(value, (int, float)):
        raise Overflow("Conversion failed when converting date and/or time from character string.")
    return b"\x08" + _DATETIME.pack(*datetime_parts(value))


def _date(value) -> bytes:
    if value is None:
        return b"\x00"
    if isinstance(value, (dt.date, dt.datetime)):
        value = epoch_of(value)
    elif not isinstance(value, (int, float)):
        raise Overflow("Conversion failed when converting date and/or time from character string.")
    days = int(value // 86400) + DAYS_0001
    if not 0 <= days <= 3_652_058:
        raise Overflow("The conversion of a value to a date data type resulted in an out-of-range value.")
    return b"\x03" + days.to_bytes(3, "little")


def _text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _nvarchar_encoder(length: int | None) -> Callable[[Any], bytes]:
    """nvarchar(n): a value is sent whole (a stored value longer than the column's declared length
    included); past 4000 characters only nvarchar(max) can carry it."""

    def encode(value) -> bytes:
        if value is None:
            return b"\xff\xff"
        raw = _text(value).encode("utf-16-le")
        if len(raw) > 8000:
            raise Overflow("String or binary data would be truncated.")
        return _U2.pack(len(raw)) + raw
    return encode


PLP_CHUNK = 1 << 20


def _plp(value) -> bytes:
    if value is None:
        return b"\xff\xff\xff\xff\xff\xff\xff\xff"
    raw = _text(value).encode("utf-16-le")
    if not raw:
        return _U8.pack(0) + b"\x00\x00\x00\x00"
    if len(raw) <= PLP_CHUNK:
        return _U8.pack(len(raw)) + _U4.pack(len(raw)) + raw + b"\x00\x00\x00\x00"
    parts = [_U8.pack(len(raw))]
    for start in range(0, len(raw), PLP_CHUNK):
        chunk = raw[start:start + PLP_CHUNK]
        parts += [_U4.pack(len(chunk)), chunk]
    parts.append(b"\x00\x00\x00\x00")
    return b"".join(parts)


def _decimal_encoder(precision: int, scale: int) -> Callable[[Any], bytes]:
    size = _decimal_size(precision)
    limit = 10 ** precision
    quantum = decimal.Decimal(1).scaleb(-scale)

    def encode(value) -> bytes:
        if value is None:
            return b"\x00"
        number = value if isinstance(value, decimal.Decimal) else decimal.Decimal(str(value))
        if not number.is_finite():
            raise Overflow("Arithmetic overflow error converting expression to data type numeric.")
        scaled = int(number.quantize(quantum, rounding=decimal.ROUND_HALF_UP).scaleb(scale))
        if abs(scaled) >= limit:
            raise Overflow("Arithmetic overflow error converting expression to data type numeric.")
        return bytes((size, 1 if scaled >= 0 else 0)) + abs(scaled).to_bytes(size - 1, "little")
    return encode


def encoder(sqltype: SqlType) -> Callable[[Any], bytes]:
    """The function writing one value of `sqltype` (from its storage form) as ROW data."""
    name = sqltype.name
    if name in _INT_RANGES:
        return _int_encoder(name)
    if name == "bit":
        return _bit
    if name == "float":
        return _float8
    if name == "real":
        return _float4
    if name in ("decimal", "money"):
        return _decimal_encoder(*sqltype._decimal_shape())
    if name == "uniqueidentifier":
        return _guid
    if name == "datetime":
        return _datetime
    if name == "date":
        return _date
    if name == "nvarchar":
        return _plp if sqltype.is_max else _nvarchar_encoder(sqltype.length)
    raise ValueError(f"no encoder for {name}")


# ---------------------------------------------------------------------------- RPC parameter values


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
    if code in (INT1, INT2, INT4, INT8):
        size = {INT1: 1, INT2: 2, INT4: 4, INT8: 8}[code]
        return ParamType(code, size, _int_type(size))
    if code == BIT:
        return ParamType(code, 1, BIT_TYPE)
    if code in (FLT4, FLT8):
        return ParamType(code, 4 if code == FLT4 else 8, REAL if code == FLT4 else FLOAT)
    if code in (MONEY, MONEY4):
        return ParamType(code, 8 if code == MONEY else 4, MONEY_TYPE)
    if code in (DATETIME, DATETIM4):
        return ParamType(code, 8 if code == DATETIME else 4, DATETIME_TYPE)
    if code == NULLTYPE:
        return ParamType(code, 0, NVARCHAR_MAX)
    if code in (INTN, BITN, FLTN, MONEYN, DATETIMN, GUIDTYPE):
        size = reader.byte()
        sqltype = {INTN: _int_type(size) if size in (1, 2, 4, 8) else None, BITN: BIT_TYPE,
                   FLTN: REAL if size == 4 else FLOAT, MONEYN: MONEY_TYPE, DATETIMN: DATETIME_TYPE,
                   GUIDTYPE: GUID}[code]
        if sqltype is None:
            raise ProtocolError(f"INTN of length {size}")
        return ParamType(code, size, sqltype)
    if code in (DECIMALN, NUMERICN):
        size, precision, scale = reader.byte(), reader.byte(), reader.byte()
        if not 1 <= precision <= 38 or scale > precision:
            raise ProtocolError(f"decimal({precision},{scale})")
        return ParamType(code, size, decimal_type(precision, scale), precision, scale)
    if code == DATEN:
        return ParamType(code, 3, DATE)
    if code in (TIMEN, DATETIME2N, DATETIMEOFFSETN):
        scale = reader.byte()
        if scale > 7:
            raise ProtocolError(f"time scale {scale}")
        return ParamType(code, 0, DATETIME_TYPE, scale=scale)
    if code in (BIGVARCHR, BIGCHAR, NVARCHAR, NCHAR):
        size = reader.u16()
        reader.take(5)  # collation
        plp = size == MAX_LENGTH
        chars = None if plp else (size // 2 if code in (NVARCHAR, NCHAR) else size)
        return ParamType(code, size, nvarchar(chars if chars and chars <= 4000 else None), plp=plp)
    if code in (BIGVARBIN, BIGBINARY):
        size = reader.u16()
        return ParamType(code, size, NVARCHAR_MAX, plp=size == MAX_LENGTH)
    if code in (TEXT, NTEXT, IMAGE):
        size = reader.u32()
        if code != IMAGE:
            reader.take(5)
        return ParamType(code, size, NVARCHAR_MAX)
    raise ProtocolError(f"unsupported parameter type {code:#x}")


def _int_type(size: int) -> SqlType:
    return {1: TINYINT, 2: SMALLINT, 4: INT, 8: BIGINT}[size]


def read_value(reader: Reader, info: ParamType):
    """A parameter value as Python: int, bool, float, Decimal, str, bytes, UUID, datetime, date."""
    code = info.code
    if code in (INT1, INT2, INT4, INT8, BIT, FLT4, FLT8, MONEY, MONEY4, DATETIME, DATETIM4):
        return _fixed(code, reader.take(info.size))
    if code == NULLTYPE:
        return None
    if code in (INTN, BITN, FLTN, MONEYN, DATETIMN, GUIDTYPE, DECIMALN, NUMERICN, DATEN, TIMEN, DATETIME2N,
                DATETIMEOFFSETN):
        size = reader.byte()
        if size == 0:
            return None
        raw = reader.take(size)
        if code == INTN:
            return int.from_bytes(raw, "little", signed=size != 1)
        if code == BITN:
            return raw != b"\x00" * size
        if code == FLTN:
            return (_F4 if size == 4 else _F8).unpack(raw)[0] if size in (4, 8) else _bad(code, size)
        if code == MONEYN:
            return _fixed(MONEY if size == 8 else MONEY4, raw) if size in (4, 8) else _bad(code, size)
        if code == DATETIMN:
            return _fixed(DATETIME if size == 8 else DATETIM4, raw) if size in (4, 8) else _bad(code, size)
        if code == GUIDTYPE:
            return uuid.UUID(bytes_le=raw) if size == 16 else _bad(code, size)
        if code in (DECIMALN, NUMERICN):
            magnitude = int.from_bytes(raw[1:], "little")
            number = decimal.Decimal(magnitude).scaleb(-info.scale)
            return number if raw[0] else -number
        if code == DATEN:
            return dt.date(1, 1, 1) + dt.timedelta(days=int.from_bytes(raw, "little")) if size == 3 else _bad(code, size)
        return _time_value(code, info.scale, raw)
    if code in (BIGVARCHR, BIGCHAR, NVARCHAR, NCHAR, BIGVARBIN, BIGBINARY):
        raw = _plp_read(reader) if info.plp else _short_read(reader)
        if raw is None:
            return None
        if code in (NVARCHAR, NCHAR):
            return raw.decode("utf-16-le", "replace")
        if code in (BIGVARCHR, BIGCHAR):
            return raw.decode("latin-1")
        return raw
    if code in (TEXT, NTEXT, IMAGE):
        pointer = reader.byte()
        if pointer == 0:
            return None
        reader.take(pointer + 8)  # text pointer and timestamp
        raw = reader.take(reader.u32())
        return raw.decode("utf-16-le", "replace") if code == NTEXT else raw.decode("latin-1") if code == TEXT else raw
    raise ProtocolError(f"unsupported parameter type {code:#x}")


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
