"""Conversions between SQL Server types, written over the store's storage forms (date-times as epoch
seconds, GUIDs as lowercase text, bits as 0/1): what CAST/CONVERT and every implicit conversion
become in SQLite. A literal is converted once, here; anything else becomes SQLite or a `tds_` function.
"""

from __future__ import annotations

import decimal
import uuid

from sqlglot import exp

from ..errors import ConversionFailed, Refused
from ..functions import STYLES, ConversionError, floor_day, parse_datetime
from ..types import SqlType
from .nodes import literal_text, nocase, number, paren, string, udf
from .type_rules import STRING, unify


def convert(node: exp.Expr, source: SqlType, target: SqlType, *, explicit: bool = False,
            style: int | None = None) -> exp.Expr:
    """`node` (in `source`'s storage form) in `target`'s storage form."""
    s, t = source.name, target.name
    if s == "null":
        return node
    if t in ("datetime", "date"):
        return _to_temporal(node, source, target)
    if t == "nvarchar":
        return _to_text(node, source, target, explicit, style)
    if t == "uniqueidentifier":
        return _to_guid(node, source)
    if source.is_temporal:
        if t in ("float", "real", "decimal", "money") or target.is_integer:
            days = exp.Div(this=exp.Paren(this=exp.Add(this=paren(node), expression=exp.Literal.number(2_208_988_800))),
                           expression=exp.Literal.number(86400.0))
            return days if not target.is_integer else exp.Cast(this=days, to=exp.DataType.build("INTEGER"))
    if s == "uniqueidentifier":
        raise Refused(f"Explicit conversion from data type uniqueidentifier to {target} is not allowed.")
    if t == "bit":
        return _to_bit(node, source)
    if target.is_integer:
        return _to_integer(node, source, target)
    if t in ("float", "real", "decimal", "money"):
        return _to_real(node, source, target, explicit)
    raise Refused(f"Conversion from {source} to {target} is not supported by the emulator.")


def _to_integer(node: exp.Expr, source: SqlType, target: SqlType) -> exp.Expr:
    if source.is_integer:
        return node
    text = literal_text(node)
    if text is not None:
        try:
            return number(int(text.strip()))
        except ValueError:
            raise ConversionFailed(f"Conversion failed when converting the nvarchar value '{text}' to "
                                   f"data type {target}.") from None
    return exp.Cast(this=node, to=exp.DataType.build("INTEGER"))


def _to_real(node: exp.Expr, source: SqlType, target: SqlType, explicit: bool) -> exp.Expr:
    """float, real, decimal and money: all REAL in the store (decimal and money rounded when CAST)."""
    t = target.name
    text = literal_text(node)
    if text is not None:
        try:
            return number(float(text.strip()) if t in ("float", "real") else float(decimal.Decimal(text.strip())))
        except (ValueError, decimal.InvalidOperation):
            raise ConversionFailed(f"Error converting data type nvarchar to {target}.") from None
    if t in ("decimal", "money") and explicit:
        return exp.Round(this=exp.Cast(this=node, to=exp.DataType.build("REAL")),
                         decimals=exp.Literal.number(target.decimal_shape()[1]))
    return exp.Cast(this=node, to=exp.DataType.build("REAL")) if not source.is_numeric else node


def _to_temporal(node: exp.Expr, source: SqlType, target: SqlType) -> exp.Expr:
    s, t = source.name, target.name
    if s in ("datetime", "date"):
        return udf("tds_floor_day", node) if t == "date" and s == "datetime" else node
    if s == "nvarchar":
        text = literal_text(node)
        if text is not None:
            try:
                seconds = parse_datetime(text)
            except ConversionError as exc:
                raise ConversionFailed(str(exc)) from None
            return number(floor_day(seconds) if t == "date" else seconds)
        converted = udf("tds_parse_datetime", node)
        return udf("tds_floor_day", converted) if t == "date" else converted
    if source.is_numeric and t == "datetime":
        return exp.Sub(this=exp.Mul(this=paren(node), expression=exp.Literal.number(86400)),
                       expression=exp.Literal.number(2_208_988_800))
    raise Refused(f"Explicit conversion from data type {source} to {target} is not allowed.")


def _to_text(node: exp.Expr, source: SqlType, target: SqlType, explicit: bool,
             style: int | None) -> exp.Expr:
    s = source.name
    if s in ("datetime", "date"):
        chosen = 0 if style is None else style
        if chosen not in STYLES:
            raise Refused(f"{chosen} is not a valid style number when converting from {source} to a "
                          f"character string.")
        converted = udf("tds_format_datetime", node, exp.Literal.number(chosen),
                        exp.Literal.number(1 if s == "date" else 0))
    elif s == "uniqueidentifier":
        converted = exp.Upper(this=node)
    elif s == "nvarchar":
        converted = node
    else:
        converted = exp.Cast(this=node, to=exp.DataType.build("TEXT"))
    if explicit and target.length is not None and (source.length is None or source.length > target.length
                                                     or s != "nvarchar"):
        converted = exp.Substring(this=converted, start=exp.Literal.number(1),
                                  length=exp.Literal.number(target.length))
    return converted


def _to_guid(node: exp.Expr, source: SqlType) -> exp.Expr:
    s = source.name
    if s == "uniqueidentifier":
        return node
    if s == "nvarchar":
        text = literal_text(node)
        if text is not None:
            try:
                return string(str(uuid.UUID(text.strip().strip("{}"))))
            except ValueError:
                raise ConversionFailed("Conversion failed when converting from a character string to "
                                       "uniqueidentifier.") from None
        return exp.Lower(this=node)
    raise Refused(f"Explicit conversion from data type {source} to uniqueidentifier is not allowed.")


def _to_bit(node: exp.Expr, source: SqlType) -> exp.Expr:
    text = literal_text(node)
    if text is not None:
        lowered = text.strip().lower()
        if lowered in ("true", "1"):
            return exp.Literal.number(1)
        if lowered in ("false", "0"):
            return exp.Literal.number(0)
        raise ConversionFailed(f"Conversion failed when converting the varchar value '{text}' to data type bit.")
    if source.name == "bit":
        return node
    return exp.Case(ifs=[exp.If(this=exp.Is(this=node.copy(), expression=exp.Null()), true=exp.Null()),
                         exp.If(this=exp.NEQ(this=paren(node), expression=exp.Literal.number(0)),
                                true=exp.Literal.number(1))],
                    default=exp.Literal.number(0))


def fit(node: exp.Expr, have: SqlType, want: SqlType) -> exp.Expr:
    """`node` converted to a CASE/COALESCE's result type (a NULL on either side needs nothing)."""
    if have.name in ("null", want.name) or want.name == "null":
        return node
    return convert(node, have, want)


def as_text(node: exp.Expr, sqltype: SqlType) -> exp.Expr:
    return node if sqltype.is_string or sqltype.name == "null" else convert(node, sqltype, STRING)


def compare_pair(left: exp.Expr, lt: SqlType, right: exp.Expr, rt: SqlType):
    """Both sides in one storage form; strings compared without regard to case."""
    if lt.name != rt.name and "null" not in (lt.name, rt.name):
        target = unify(lt, rt)
        if lt.name != target.name:
            left = convert(left, lt, target)
        if rt.name != target.name:
            right = convert(right, rt, target)
        lt = rt = target
    if lt.is_string and rt.is_string:
        left = nocase(left)
    return left, right
