"""SQL Server data types as the endpoint describes them: `SqlType` (a column's or a value's type, as
SQL spells it), its TYPE_INFO in COLMETADATA (MS-TDS 2.2.5), and the TYPE_INFO codes and collation
the wire uses. How values are written is `encoders.py`; how a client's RPC values are read,
`param_values.py`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

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

_U2 = struct.Struct("<H")

INT_RANGES = {"tinyint": (0, 255), "smallint": (-32768, 32767), "int": (-2**31, 2**31 - 1),
               "bigint": (-2**63, 2**63 - 1)}
INT_SIZES = {"tinyint": 1, "smallint": 2, "int": 4, "bigint": 8}


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
        return self.name in INT_RANGES or self.name == "bit"

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
        if name in INT_SIZES:
            return bytes((INTN, INT_SIZES[name]))
        if name == "bit":
            return bytes((BITN, 1))
        if name == "float":
            return bytes((FLTN, 8))
        if name == "real":
            return bytes((FLTN, 4))
        if name in ("decimal", "money"):
            precision, _ = self.decimal_shape()
            return bytes((DECIMALN, decimal_size(precision), precision, self.decimal_shape()[1]))
        if name == "uniqueidentifier":
            return bytes((GUIDTYPE, 16))
        if name == "datetime":
            return bytes((DATETIMN, 8))
        if name == "date":
            return bytes((DATEN,))
        if name == "nvarchar":
            size = MAX_LENGTH if self.is_max else max(1, self.length or 0) * 2
            return bytes((NVARCHAR,)) + _U2.pack(size) + COLLATION
        raise ValueError(f"no TYPE_INFO for {name}")

    def decimal_shape(self) -> tuple[int, int]:
        if self.name == "money":
            return 19, 4
        return max(1, min(38, self.precision or 18)), max(0, min(self.scale, self.precision or 18))


def decimal_size(precision: int) -> int:
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

