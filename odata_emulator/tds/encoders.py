"""Values written as ROW data (MS-TDS 2.2.5.5), one encoder per SqlType.

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
from collections.abc import Callable
from typing import Any

from .errors import Overflow
from .types import INT_RANGES, INT_SIZES, SqlType, decimal_size

EPOCH_1900 = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
DAYS_0001 = 719_162  # days from 0001-01-01 to 1970-01-01
TICKS_PER_SECOND = 300  # datetime's 1/300 s
MIN_DATETIME = -6_847_804_800  # 1753-01-01
MAX_DATETIME = 253_402_300_799.997  # 9999-12-31 23:59:59.997

_I2, _I4, _I8 = struct.Struct("<h"), struct.Struct("<i"), struct.Struct("<q")
_F4, _F8 = struct.Struct("<f"), struct.Struct("<d")
_U2, _U4, _U8 = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<Q")
_DATETIME = struct.Struct("<iI")


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
    low, high = INT_RANGES[name]
    size = INT_SIZES[name]
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
            raise Overflow(f"Conversion failed when converting the value '{value!s}' to data type int.") from None
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
    size = decimal_size(precision)
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
    if name in INT_RANGES:
        return _int_encoder(name)
    if name == "bit":
        return _bit
    if name == "float":
        return _float8
    if name == "real":
        return _float4
    if name in ("decimal", "money"):
        return _decimal_encoder(*sqltype.decimal_shape())
    if name == "uniqueidentifier":
        return _guid
    if name == "datetime":
        return _datetime
    if name == "date":
        return _date
    if name == "nvarchar":
        return _plp if sqltype.is_max else _nvarchar_encoder(sqltype.length)
    raise ValueError(f"no encoder for {name}")

