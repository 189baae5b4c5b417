"""Conversions between Python/JSON values and the storage form of each attribute type.

One place for the conventions of `schema.py`: GUIDs lowercase text, date-times whole epoch
seconds (UTC), booleans 0/1.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
import zlib

import orjson

from ..model import Attribute
from ..model import AttributeType as T

UTC = dt.timezone.utc
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


def to_epoch(value: dt.datetime | dt.date) -> int:
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int((value - _EPOCH).total_seconds() // 1)


def from_epoch(seconds: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(seconds=seconds)


_EPOCH_DAY = dt.date(1970, 1, 1)
_DAYS: dict[int, str] = {}  # day number -> "YYYY-MM-DDT", the part of a timestamp that repeats


def format_datetime(seconds: int) -> str:
    """Dataverse's wire form: UTC, second precision, `Z`. (Pages of thousands of rows format tens
    of thousands of these: the date part is remembered, the time of day is arithmetic.)"""
    days, rest = divmod(seconds, 86_400)
    day = _DAYS.get(days)
    if day is None:
        if len(_DAYS) >= 100_000:
            _DAYS.clear()
        date = _EPOCH_DAY + dt.timedelta(days=days)  # four-digit years, 0001 to 9999, as SQLite writes them
        day = _DAYS[days] = f"{date.year:04d}-{date.month:02d}-{date.day:02d}T"
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    return f"{day}{hours:02d}:{minutes:02d}:{secs:02d}Z"


# The SQL function every store connection has (`engine.Store`): a Double's JSON number exactly as
# orjson writes it (the shortest text that reads back the same), for JSON that SQLite writes
# (`api/sql_json.py`); SQLite's own writes 15 significant digits.
JSON_DOUBLE_FUNCTION = "odata_json_double"


def json_double(value: float | None) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


# File storage keeps a file's content compressed (zlib, level 1): a system job's execution context is
# XML that repeats itself, and the bundled data set's three 4 MB files made 12.6 MB of its 13.7 MB
# store (about 110 KB compressed), copied by every test and snapshot. Every reader reads the content
# through this function (`schema.readable_column`, the TDS catalog's twin); text stored uncompressed
# by an older version reads as it is.
FILE_TEXT_FUNCTION = "odata_file_text"


def compress_file(text: str) -> bytes:
    return zlib.compress(text.encode("utf-8"), 1)


def file_text(content: bytes | str | None) -> str | None:
    if isinstance(content, bytes):
        return zlib.decompress(content).decode("utf-8")
    return content


# (name, number of arguments, function): every deterministic.
STORE_FUNCTIONS = ((JSON_DOUBLE_FUNCTION, 1, json_double), (FILE_TEXT_FUNCTION, 1, file_text))


def register_functions(connection) -> None:
    """The store's SQL functions, on one connection (sqlite3's, or an adapter with the same method;
    aiosqlite's is a coroutine: `engine.Store` awaits each of `STORE_FUNCTIONS` itself)."""
    for name, arity, function in STORE_FUNCTIONS:
        connection.create_function(name, arity, function, deterministic=True)


def parse_datetime(text: str) -> dt.datetime:
    """An ISO 8601 date-time (or date) as sent in JSON bodies and fixtures, as aware UTC."""
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is past year 9999 in UTC
        raise ValueError("date value out of range") from None


# A GUID already in storage form (lowercase, hyphenated), as data sets, keys and lookups mostly come:
# kept as it is, without a round trip through uuid.UUID (loading the data set normalizes 4,500).
_CANONICAL_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def normalize_guid(value: str | uuid.UUID) -> str:
    if isinstance(value, str) and _CANONICAL_GUID.fullmatch(value):
        return value
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value).strip("{}")))


def to_storage(attribute: Attribute, value):
    """A JSON value for `attribute` in storage form. Raises ValueError/TypeError when it does not fit."""
    if value is None:
        return None
    return _STORAGE.get(attribute.type, _text_value)(value)


def to_json(attribute: Attribute, stored):
    """The JSON form of a stored value, as a data set holds it (the inverse of `to_storage`):
    date-times ISO 8601 UTC, booleans true/false, everything else as stored."""
    if stored is None:
        return None
    if attribute.type is T.DATETIME:
        return format_datetime(stored)
    if attribute.type is T.BOOLEAN:
        return bool(stored)
    return stored


def _guid_value(value) -> str:
    if not isinstance(value, (str, uuid.UUID)):
        raise TypeError("a GUID is expected")
    return normalize_guid(value)


def _datetime_value(value) -> int:
    if isinstance(value, (dt.datetime, dt.date)):
        return to_epoch(value)
    if not isinstance(value, str):
        raise TypeError("a date and time is expected")
    return to_epoch(parse_datetime(value))


def _boolean_value(value) -> int:
    if not isinstance(value, bool):
        raise TypeError("a boolean is expected")
    return int(value)


def _double_value(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("a number is expected")
    try:
        return float(value)
    except OverflowError:  # a whole number past 1e308 (JSON bodies keep them exact)
        raise ValueError("the number is out of range") from None


def _whole_value(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("a whole number is expected")
    return value


def _text_value(value) -> str:
    if not isinstance(value, str):
        raise TypeError("a string is expected")
    return value


# How a JSON value of each column type is checked and stored; any other type is text.
_STORAGE = {
    T.UNIQUEIDENTIFIER: _guid_value, T.LOOKUP: _guid_value, T.OWNER: _guid_value,
    T.DATETIME: _datetime_value,
    T.BOOLEAN: _boolean_value,
    T.DOUBLE: _double_value,
    T.INTEGER: _whole_value, T.BIGINT: _whole_value, T.PICKLIST: _whole_value, T.STATE: _whole_value,
    T.STATUS: _whole_value,
}
