"""Aggregates typed as SQL Server types them: COUNT is int (COUNT_BIG bigint), SUM of whole numbers
is int, AVG of whole numbers is a truncated whole number, MIN/MAX of strings ignore case, STRING_AGG
is SQLite's GROUP_CONCAT."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from ..errors import Refused
from ..types import BIGINT, INT, NVARCHAR_MAX, decimal_type
from .conversions import as_text
from .nodes import nocase
from .type_rules import STRING

if TYPE_CHECKING:  # pragma: no cover
    from .rewriter import Rewriter, Typed


def count(t: Rewriter, node: exp.Count) -> Typed:
    inner = node.this
    if isinstance(inner, exp.Distinct):
        for value in inner.expressions:
            t.replace(value)
    elif inner is not None and not isinstance(inner, exp.Star):
        t.replace(inner)
    return exp.Count(this=node.this), BIGINT if node.args.get("big_int") else INT


def total(t: Rewriter, node: exp.Sum) -> Typed:
    inner, sqltype = _argument(t, node)
    result = {"tinyint": INT, "smallint": INT, "int": INT, "bit": INT}.get(sqltype.name, sqltype)
    if result.name == "decimal":
        result = decimal_type(38, sqltype.scale)
    if result.is_string or result.is_temporal or result.name == "uniqueidentifier":
        raise Refused(f"Operand data type {sqltype} is invalid for sum operator.")
    return exp.Sum(this=inner), result


def average(t: Rewriter, node: exp.Avg) -> Typed:
    inner, sqltype = _argument(t, node)
    if sqltype.is_string or sqltype.is_temporal or sqltype.name == "uniqueidentifier":
        raise Refused(f"Operand data type {sqltype} is invalid for avg operator.")
    if sqltype.is_integer:  # SQL Server's AVG of whole numbers is a whole number, truncated
        result = INT if sqltype.name != "bigint" else BIGINT
        return exp.Cast(this=exp.Avg(this=inner), to=exp.DataType.build("INTEGER")), result
    if sqltype.name == "decimal":
        return exp.Avg(this=inner), decimal_type(38, max(6, sqltype.scale))
    return exp.Avg(this=inner), sqltype


def min_max(t: Rewriter, node: exp.Expr) -> Typed:
    inner, sqltype = _argument(t, node)
    if sqltype.is_string:
        inner = nocase(inner)
    return node.__class__(this=inner), sqltype


def _argument(t: Rewriter, node: exp.Expr) -> Typed:
    inner = node.this
    if isinstance(inner, exp.Distinct):
        values = [t.expr(v) for v in inner.expressions]
        return exp.Distinct(expressions=[v for v, _ in values]), values[0][1]
    return t.expr(inner)


def string_agg(t: Rewriter, node: exp.GroupConcat) -> Typed:
    value, sqltype = t.expr(node.this)
    if isinstance(node.this, exp.Order) or node.args.get("on_overflow"):
        raise Refused("'STRING_AGG ... WITHIN GROUP' is not supported by the emulator.")
    separator, _ = t.child(node, "separator")
    text = as_text(value, sqltype)
    return exp.GroupConcat(this=text, separator=separator), NVARCHAR_MAX if sqltype.is_max else STRING


HANDLERS: dict[type, Callable[[Rewriter, Any], Typed]] = {
    exp.Count: count,
    exp.Sum: total,
    exp.Avg: average,
    exp.Min: min_max,
    exp.Max: min_max,
    exp.GroupConcat: string_agg,
}
