"""RPC requests (MS-TDS 2.2.6.6) and SQL batches: ALL_HEADERS, procedure names or ids, parameters.

The procedures clients use for parameterised SQL are the system ones: `sp_executesql` (10),
`sp_prepare` (11), `sp_execute` (12), `sp_prepexec` (13), `sp_unprepare` (15). Cursor procedures
(1-9) and stored procedures are refused by `procedures.py`.
"""

from __future__ import annotations

import codecs
import datetime as dt
import decimal
import re
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp
from sqlglot.dialects.tsql import TSQL
from sqlglot.errors import ErrorLevel, ParseError

from .encoders import epoch_of
from .errors import ConversionFailed, ProtocolError, SqlSyntaxError
from .functions import ConversionError, parse_datetime
from .param_values import ParamType, Reader, read_type_info, read_value
from .translate import data_type
from .types import SqlType

PROCEDURES = {1: "sp_cursor", 2: "sp_cursoropen", 3: "sp_cursorprepare", 4: "sp_cursorexecute",
              5: "sp_cursorprepexec", 6: "sp_cursorunprepare", 7: "sp_cursorfetch", 8: "sp_cursoroption",
              9: "sp_cursorclose", 10: "sp_executesql", 11: "sp_prepare", 12: "sp_execute", 13: "sp_prepexec",
              14: "sp_prepexecrpc", 15: "sp_unprepare"}
STATUS_BY_REF = 0x01  # an OUTPUT parameter
STATUS_DEFAULT = 0x02
MAX_PARAMETERS = 2100  # SQL Server's limit
_UTF16_DECODE = codecs.utf_16_le_decode  # a direct call: `bytes.decode('utf-16-le')` looks the codec up by name


@dataclass
class Parameter:
    name: str  # as sent, with its '@' (may be empty: positional)
    type: ParamType
    value: Any
    output: bool
    ordinal: int


@dataclass
class Call:
    procedure: str  # lowercase name, `sys.`/`master..` dropped
    parameters: list[Parameter] = field(default_factory=list)
    options: int = 0


def skip_all_headers(data: bytes) -> int:
    """Where the request proper starts: after ALL_HEADERS (TDS 7.2+), which every request carries."""
    if len(data) < 4:
        return 0
    (total,) = struct.unpack_from("<I", data, 0)
    if total < 4 or total > len(data):
        return 0  # no ALL_HEADERS (a client of an older TDS version)
    position = 4
    while position < total:
        if position + 6 > total:
            raise ProtocolError("truncated ALL_HEADERS")
        (length,) = struct.unpack_from("<I", data, position)
        if length < 6 or position + length > total:
            raise ProtocolError("ALL_HEADERS header outside its bounds")
        position += length
    return total


def batch_text(data: bytes) -> str:
    start = skip_all_headers(data)
    body = data[start:]
    if len(body) % 2:
        raise ProtocolError("SQL batch text of an odd number of bytes")
    try:
        return _UTF16_DECODE(body, "strict", True)[0]
    except UnicodeDecodeError:
        raise ProtocolError("SQL batch text is not UTF-16") from None


def _procedure_name(name: str) -> str:
    name = name.strip().lower().replace("[", "").replace("]", "")
    for prefix in ("master.dbo.", "master..", "sys.", "dbo."):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name


def parse(data: bytes) -> list[Call]:
    """The calls of an RPC request (usually one; several when batched with 0xFF/0xFE)."""
    reader = Reader(data, skip_all_headers(data))
    calls = []
    while reader.remaining:
        length = reader.u16()
        if length == 0xFFFF:
            proc_id = reader.u16()
            procedure = PROCEDURES.get(proc_id, f"procedure #{proc_id}")
        else:
            if length > 1024:
                raise ProtocolError("procedure name too long")
            procedure = _procedure_name(reader.take(length * 2).decode("utf-16-le", "replace"))
        call = Call(procedure, options=reader.u16())
        while reader.remaining:
            marker = reader.data[reader.position]
            if marker in (0xFF, 0xFE, 0x80):  # next call of a batched request
                reader.position += 1
                break
            if len(call.parameters) >= MAX_PARAMETERS:
                raise ProtocolError("too many parameters")
            name = reader.b_varchar()
            status = reader.byte()
            info = read_type_info(reader)
            value = read_value(reader, info)
            call.parameters.append(Parameter(name, info, value, bool(status & STATUS_BY_REF), len(call.parameters)))
        calls.append(call)
        if len(calls) > 1000:
            raise ProtocolError("too many calls in one request")
    if not calls:
        raise ProtocolError("empty RPC request")
    return calls


# ---------------------------------------------------------------------------- binding


def declarations(text: str | None) -> list[tuple[str, SqlType]]:
    """`@P1 int, @P2 nvarchar(4000) OUTPUT` as [(name, type)] (names lowercase, without '@')."""
    if not text or not text.strip():
        return []
    cleaned = re.sub(r"\b(OUTPUT|OUT|READONLY)\b", "", text, flags=re.IGNORECASE)
    source = "DECLARE " + cleaned
    try:
        dialect = TSQL()
        (node,) = dialect.parser(error_level=ErrorLevel.IMMEDIATE).parse(dialect.tokenize(source), source)
    except (ParseError, ValueError) as exc:
        detail = getattr(exc, "errors", None) or [{}]
        raise SqlSyntaxError(detail[0].get("highlight") or text[:30]) from None
    except Exception:
        raise SqlSyntaxError(text[:30]) from None
    if not isinstance(node, exp.Declare):
        raise SqlSyntaxError(text[:30])
    found = []
    for item in node.expressions:
        names = item.this if isinstance(item.this, list) else [item.this]
        kind = item.args.get("kind")
        if kind is None:
            raise SqlSyntaxError(text[:30])
        for name in names:
            found.append((name.name.lower(), data_type(kind)))
    return found


def to_storage(value: Any, sqltype: SqlType) -> Any:
    """A parameter's Python value in the store's form for `sqltype` (what the SQL compares it with)."""
    if value is None:
        return None
    name = sqltype.name
    convert = _CONVERSIONS.get(name)
    if convert is not None:
        return convert(value, sqltype)
    if isinstance(value, bool):
        return int(value)
    if name == "bit":
        return _bit(value)
    if sqltype.is_integer:
        try:
            return int(value) if not isinstance(value, str) else int(value.strip())
        except (TypeError, ValueError):
            raise ConversionFailed(f"Conversion failed when converting the nvarchar value '{value}' to data type "
                                   f"{sqltype}.") from None
    if name in ("float", "real", "decimal", "money"):
        try:
            return float(value) if not isinstance(value, decimal.Decimal) else float(value)
        except (TypeError, ValueError):
            raise ConversionFailed(f"Error converting data type nvarchar to {sqltype}.") from None
    return value


def _date_and_time(value: Any, sqltype: SqlType) -> float:
    if isinstance(value, (dt.datetime, dt.date)):
        seconds = epoch_of(value)
    elif isinstance(value, str):
        try:
            seconds = parse_datetime(value)
        except ConversionError as exc:
            raise ConversionFailed(str(exc)) from None
    elif isinstance(value, dt.time):
        seconds = value.hour * 3600 + value.minute * 60 + value.second - 2_208_988_800
    else:
        raise ConversionFailed(f"Operand type clash: {type(value).__name__} is incompatible with {sqltype}")
    return seconds - seconds % 86400 if sqltype.name == "date" else seconds


def _uniqueidentifier(value: Any, sqltype: SqlType) -> str:
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value).strip().strip("{}")))
    except ValueError:
        raise ConversionFailed("Conversion failed when converting from a character string to "
                               "uniqueidentifier.") from None


def _nvarchar(value: Any, sqltype: SqlType) -> str:
    if isinstance(value, uuid.UUID):
        return str(value).upper()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value) if not isinstance(value, str) else value


def _bit(value: Any) -> int:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return 1
        if lowered in ("false", "0"):
            return 0
        raise ConversionFailed(f"Conversion failed when converting the nvarchar value '{value}' to data type bit.")
    return 1 if value else 0


# The types whose conversion comes before any other rule (a bool is a number only after these).
_CONVERSIONS: dict[str, Callable[[Any, SqlType], Any]] = {
    "datetime": _date_and_time,
    "date": _date_and_time,
    "uniqueidentifier": _uniqueidentifier,
    "nvarchar": _nvarchar,
}
