"""Mathematical functions: SQLite's own where it has them (ABS, FLOOR, CEIL, ROUND, POWER, LN...),
RAND() from RANDOM(), NEWID() a `tds_` function; FLOOR/CEILING of a whole number is the number."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from ..errors import Refused
from ..types import FLOAT, GUID, INT
from .conversions import convert
from .nodes import udf

if TYPE_CHECKING:  # pragma: no cover
    from .rewriter import Rewriter, Typed

_SQLITE_NAMES = {exp.Abs: "ABS", exp.Floor: "FLOOR", exp.Ceil: "CEILING", exp.Sign: "SIGN", exp.Sqrt: "SQRT",
                 exp.Exp: "EXP", exp.Ln: "LN"}


def unary(t: Rewriter, node: exp.Func) -> Typed:
    value, sqltype = t.expr(node.this)
    if not (sqltype.is_numeric or sqltype.name == "null"):
        value, sqltype = convert(value, sqltype, FLOAT), FLOAT
    name = _SQLITE_NAMES[type(node)]
    if name in ("FLOOR", "CEILING") and sqltype.is_integer:
        return value, sqltype
    if name == "CEILING":
        name = "CEIL"
    result = FLOAT if name in ("SQRT", "EXP", "LN") else (sqltype if sqltype.name != "bit" else INT)
    return udf(name, value), result


def round_(t: Rewriter, node: exp.Round) -> Typed:
    value, sqltype = t.expr(node.this)
    decimals, _ = t.child(node, "decimals")
    if node.args.get("truncate") is not None:
        raise Refused("ROUND with a third argument is not supported by the emulator.")
    if decimals is None:
        raise Refused("The round function requires 2 to 3 arguments.")
    return udf("ROUND", value, decimals), sqltype


def power(t: Rewriter, node: exp.Pow) -> Typed:
    value, sqltype = t.expr(node.this)
    exponent, _ = t.expr(node.expression)
    return udf("POWER", value, exponent), sqltype if sqltype.is_numeric else FLOAT


def log(t: Rewriter, node: exp.Log) -> Typed:
    base, _ = t.expr(node.this)
    value, _ = t.expr(node.expression)
    if isinstance(base, exp.Literal) and base.this == "10":
        return udf("LOG10", value), FLOAT
    return exp.Div(this=udf("LN", value), expression=udf("LN", base)), FLOAT


def pi(t: Rewriter, node: exp.Pi) -> Typed:
    return udf("PI"), FLOAT


def rand(t: Rewriter, node: exp.Rand) -> Typed:
    return exp.Add(this=exp.Div(this=udf("RANDOM"), expression=exp.Literal.number(18446744073709551616.0)),
                   expression=exp.Literal.number(0.5)), FLOAT


def newid(t: Rewriter, node: exp.Expr) -> Typed:
    return udf("tds_newid"), GUID


HANDLERS: dict[type, Callable[[Rewriter, Any], Typed]] = {
    **dict.fromkeys(_SQLITE_NAMES, unary),
    exp.Round: round_,
    exp.Pow: power,
    exp.Log: log,
    exp.Pi: pi,
    exp.Rand: rand,
    exp.Uuid: newid,
}
