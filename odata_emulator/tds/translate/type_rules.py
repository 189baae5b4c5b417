"""SQL Server's typing rules as the translator applies them: data type precedence (`unify`), the type
of a bare NULL, and the types CAST/CONVERT/DECLARE name (`data_type`)."""

from __future__ import annotations

from sqlglot import exp

from ..errors import Refused
from ..types import (
    BIGINT,
    BIT_TYPE,
    DATE,
    DATETIME_TYPE,
    FLOAT,
    GUID,
    INT,
    NVARCHAR_MAX,
    SqlType,
    decimal_type,
    nvarchar,
)

NULL = SqlType("null")  # the type of a bare NULL: takes the type of what it meets
STRING = nvarchar(4000)
_PRECEDENCE = ["null", "nvarchar", "uniqueidentifier", "bit", "tinyint", "smallint", "int", "bigint", "money",
               "decimal", "real", "float", "date", "datetime"]
_RANK = {name: index for index, name in enumerate(_PRECEDENCE)}


def unify(a: SqlType, b: SqlType) -> SqlType:
    """The type of CASE/COALESCE/UNION over `a` and `b` (SQL Server's data type precedence)."""
    if a.name == "nvarchar" and b.name == "nvarchar":
        if a.is_max or b.is_max:
            return NVARCHAR_MAX
        return nvarchar(max(a.length or 1, b.length or 1))
    if a.name == "decimal" and b.name == "decimal":
        scale = max(a.scale, b.scale)
        return decimal_type(min(38, max(a.precision - a.scale, b.precision - b.scale) + scale), scale)
    return a if _RANK.get(a.name, 0) >= _RANK.get(b.name, 0) else b


def output_type(sqltype: SqlType) -> SqlType:
    return INT if sqltype.name == "null" else sqltype


def data_type(node: exp.DataType) -> SqlType:
    """A CAST/CONVERT/DECLARE type as SqlType."""
    kind = node.this.name if isinstance(node.this, exp.DataType.Type) else str(node.this).upper()
    params = [p.this for p in node.expressions] if node.expressions else []

    def number(index: int, default: int | None) -> int | None:
        if index >= len(params):
            return default
        value = params[index]
        if isinstance(value, exp.Var) and value.name.upper() == "MAX":
            return None
        return int(value.this if isinstance(value, exp.Literal) else value.name)

    simple = {"INT": INT, "MEDIUMINT": INT, "BIGINT": BIGINT, "SMALLINT": SqlType("smallint"),
              "TINYINT": SqlType("tinyint"), "UTINYINT": SqlType("tinyint"), "BIT": BIT_TYPE, "BOOLEAN": BIT_TYPE,
              "FLOAT": FLOAT, "DOUBLE": FLOAT, "REAL": SqlType("real"), "MONEY": SqlType("money"),
              "SMALLMONEY": SqlType("money"), "UUID": GUID, "UNIQUEIDENTIFIER": GUID, "DATETIME": DATETIME_TYPE,
              "DATETIME2": DATETIME_TYPE, "SMALLDATETIME": DATETIME_TYPE, "TIMESTAMP": DATETIME_TYPE,
              "DATE": DATE}
    if kind in simple:
        return simple[kind]
    if kind in ("DECIMAL", "NUMERIC", "BIGDECIMAL"):
        precision = number(0, 18) or 18
        return decimal_type(precision, number(1, 0) or 0)
    if kind == "USERDEFINED" and str(node.args.get("kind") or "").lower() == "sysname":
        return nvarchar(128)
    if kind in ("NVARCHAR", "VARCHAR", "NCHAR", "CHAR", "TEXT"):
        length = number(0, 30)
        return nvarchar(length) if length is not None and length <= 4000 else NVARCHAR_MAX
    raise Refused(f"Type {node.sql('tsql')} is not supported.")
