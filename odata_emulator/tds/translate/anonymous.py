"""The functions sqlglot has no class for (`exp.Anonymous`), by name: GETUTCDATE() and its kin (the
emulator's clock), ISNUMERIC, DATALENGTH, CHOOSE, DB_NAME, SERVERPROPERTY, EOMONTH. A name not here,
or called with arguments it does not take, is SQL Server's "not a recognized built-in function"."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from ..types import DATE, DATETIME_TYPE, INT, nvarchar
from .conversions import fit
from .dates import as_datetime
from .nodes import string, udf
from .subset import not_a_function
from .type_rules import NULL, unify

if TYPE_CHECKING:  # pragma: no cover
    from .rewriter import Rewriter, Typed

Arguments = list[exp.Expr]


def anonymous(t: Rewriter, node: exp.Anonymous) -> Typed:
    name = node.name.lower()
    function = _FUNCTIONS.get(name)
    typed = function(t, node.expressions) if function is not None else None
    if typed is None:
        raise not_a_function(name.upper())
    return typed


def _now(t: Rewriter, args: Arguments) -> Typed:
    return t.now(), DATETIME_TYPE


def _isnumeric(t: Rewriter, args: Arguments) -> Typed | None:
    if len(args) != 1:
        return None
    value, _ = t.expr(args[0])
    return udf("tds_isnumeric", value), INT


_SIZES = {"bit": 1, "tinyint": 1, "smallint": 2, "int": 4, "bigint": 8, "float": 8, "real": 4,
          "datetime": 8, "date": 3, "uniqueidentifier": 16, "money": 8}


def _datalength(t: Rewriter, args: Arguments) -> Typed | None:
    if len(args) != 1:
        return None
    value, sqltype = t.expr(args[0])
    if sqltype.is_string:
        return exp.Mul(this=exp.Length(this=value), expression=exp.Literal.number(2)), INT
    size = _SIZES.get(sqltype.name, 17)
    return exp.Case(ifs=[exp.If(this=exp.Is(this=value, expression=exp.Null()), true=exp.Null())],
                    default=exp.Literal.number(size)), INT


def _choose(t: Rewriter, args: Arguments) -> Typed | None:
    if len(args) < 2:
        return None
    index, _ = t.expr(args[0])
    options = [t.expr(a) for a in args[1:]]
    result = NULL
    for _, option_type in options:
        result = unify(result, option_type)
    return exp.Case(this=index, ifs=[exp.If(this=exp.Literal.number(i + 1), true=fit(v, vt, result))
                                     for i, (v, vt) in enumerate(options)]), result


def _db_name(t: Rewriter, args: Arguments) -> Typed | None:
    if args:
        return None
    return string(t.env.database), nvarchar(128)


def _serverproperty(t: Rewriter, args: Arguments) -> Typed | None:
    if len(args) == 1 and isinstance(args[0], (exp.Literal, exp.National)) \
            and (isinstance(args[0], exp.National) or args[0].is_string):
        return _server_property(t, args[0].this)
    return None


def _server_property(t: Rewriter, name: str) -> Typed:
    properties = {
        "productversion": "12.0.2000.8", "productlevel": "RTM", "edition": "SQL Azure",
        "enginename": "SQL Azure", "servername": t.env.server, "machinename": t.env.server,
        "collation": "SQL_Latin1_General_CP1_CI_AS", "productmajorversion": "12",
        "productminorversion": "0", "productbuild": "2000",
    }
    numbers = {"engineedition": 5, "isintegratedsecurityonly": 0, "isclustered": 0, "ishadrenabled": 0,
               "isfulltextinstalled": 0, "issingleuser": 0}
    key = name.lower()
    if key in numbers:
        return exp.Literal.number(numbers[key]), INT
    if key in properties:
        return string(properties[key]), nvarchar(128)
    return exp.Null(), nvarchar(128)


def _eomonth(t: Rewriter, args: Arguments) -> Typed:
    date, _ = as_datetime(t, args[0])
    months = t.expr(args[1])[0] if len(args) > 1 else exp.Literal.number(0)
    return udf("tds_eomonth", date, months), DATE


# A function answers None when called with arguments it does not take.
_FUNCTIONS: dict[str, Callable[[Rewriter, Arguments], Typed | None]] = {
    "getutcdate": _now,
    "sysutcdatetime": _now,
    "getdate": _now,
    "sysdatetime": _now,
    "isnumeric": _isnumeric,
    "datalength": _datalength,
    "choose": _choose,
    "db_name": _db_name,
    "serverproperty": _serverproperty,
    "eomonth": _eomonth,
}

HANDLERS: dict[type, Callable[[Rewriter, Any], Typed]] = {exp.Anonymous: anonymous}
