"""Date and time functions over epoch seconds: GETUTCDATE() and its kin are the emulator's clock
(bound when the statement runs), DATEADD of whole units is arithmetic, of months and years a `tds_`
function, DATEDIFF/DATEPART/DATENAME/EOMONTH are `tds_` functions (`functions.py`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from ..errors import Refused
from ..functions import FIXED_SECONDS, MONTHS, UNITS
from ..types import BIGINT, DATE, DATETIME_TYPE, INT, nvarchar
from .conversions import convert
from .nodes import paren, string, udf
from .subset import not_a_function

if TYPE_CHECKING:  # pragma: no cover
    from .rewriter import Rewriter, Typed


def current(t: Rewriter, node: exp.Expr) -> Typed:
    return t.now(), DATETIME_TYPE


def as_datetime(t: Rewriter, node: exp.Expr) -> Typed:
    """A date argument: sqlglot wraps them in TimeStrToTime/TsOrDsToDate; strings are read as dates."""
    while isinstance(node, (exp.TimeStrToTime, exp.TsOrDsToDate, exp.TsOrDsToTimestamp)):
        node = node.this
    value, sqltype = t.expr(node)
    if sqltype.name == "null" or sqltype.is_temporal:
        return value, sqltype if sqltype.name != "null" else DATETIME_TYPE
    return convert(value, sqltype, DATETIME_TYPE), DATETIME_TYPE


def _unit(node: exp.Expr) -> str:
    unit = node.args.get("unit")
    name = (unit.name if unit is not None else "day").lower()
    canonical = UNITS.get(name)
    if canonical is None:
        raise Refused(f"'{name}' is not a recognized datepart option.")
    return canonical


def dateadd(t: Rewriter, node: exp.DateAdd) -> Typed:
    unit = _unit(node)
    date, sqltype = as_datetime(t, node.this)
    amount, amount_type = t.expr(node.expression)
    if not (amount_type.is_numeric or amount_type.name == "null"):
        amount = convert(amount, amount_type, INT)
    if not amount_type.is_integer:
        amount = exp.Cast(this=amount, to=exp.DataType.build("INTEGER"))
    if unit in MONTHS:
        months = amount if MONTHS[unit] == 1 else exp.Mul(this=paren(amount), expression=exp.Literal.number(MONTHS[unit]))
        return udf("tds_add_months", date, months), sqltype
    step = FIXED_SECONDS[unit]
    if sqltype.name == "date" and step < 86400:
        sqltype = DATETIME_TYPE
    return exp.Add(this=paren(date), expression=exp.Mul(this=paren(amount),
                                                        expression=exp.Literal.number(step))), sqltype


def datediff(t: Rewriter, node: exp.DateDiff) -> Typed:
    unit = _unit(node)
    end, _ = as_datetime(t, node.this)
    start, _ = as_datetime(t, node.expression)
    return udf("tds_datediff", string(unit), start, end), BIGINT if node.args.get("big_int") else INT


def extract(t: Rewriter, node: exp.Extract) -> Typed:
    name = node.this.name.lower()
    unit = UNITS.get(name)
    if unit is None:
        raise Refused(f"'{name}' is not a recognized datepart option.")
    date, _ = as_datetime(t, node.expression)
    return udf("tds_datepart", string(unit), date), INT


def _part(unit: str):
    """YEAR(), MONTH(), DAY(): DATEPART of that unit."""
    def handle(t: Rewriter, node: exp.Expr) -> Typed:
        date, _ = as_datetime(t, node.this)
        return udf("tds_datepart", string(unit), date), INT
    return handle


def time_to_str(t: Rewriter, node: exp.TimeToStr) -> Typed:
    fmt = node.args.get("format")
    unit = {"%B": "month", "%A": "weekday"}.get(fmt.this if isinstance(fmt, exp.Literal) else "")
    if unit is None:
        raise not_a_function("FORMAT")
    date, _ = as_datetime(t, node.this.this if isinstance(node.this, exp.Cast) else node.this)
    return udf("tds_datename", string(unit), date), nvarchar(30)


def last_day(t: Rewriter, node: exp.LastDay) -> Typed:
    date, _ = as_datetime(t, node.this)
    return udf("tds_eomonth", date, exp.Literal.number(0)), DATE


HANDLERS: dict[type, Callable[[Rewriter, Any], Typed]] = {
    exp.CurrentTimestamp: current,
    exp.CurrentDate: current,
    exp.DateAdd: dateadd,
    exp.DateDiff: datediff,
    exp.Extract: extract,
    exp.Year: _part("year"),
    exp.Month: _part("month"),
    exp.Day: _part("day"),
    exp.TimeToStr: time_to_str,
    exp.LastDay: last_day,
}
