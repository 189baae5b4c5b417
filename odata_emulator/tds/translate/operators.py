"""Operators, predicates and the conditional and conversion expressions, typed as SQL Server types them:
`'a' + 'b'` becomes `||`, date-time arithmetic counts days in epoch seconds, XOR is spelled with
`|` and `&`, string comparisons (=, IN, BETWEEN, CASE's subject) are case-insensitive, and CASE,
IIF, COALESCE/ISNULL and NULLIF convert their branches to one result type."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from ..errors import ConversionFailed, Refused
from ..types import BIT_TYPE, DATETIME_TYPE, FLOAT, INT, nvarchar
from .conversions import as_text, compare_pair, convert, fit
from .nodes import literal_text, nocase, paren, same_kind
from .type_rules import NULL, STRING, data_type, unify

if TYPE_CHECKING:  # pragma: no cover
    from .rewriter import Rewriter, Typed


def arithmetic(t: Rewriter, node: exp.Binary) -> Typed:
    left, lt = t.expr(node.this)
    right, rt = t.expr(node.expression)
    if isinstance(node, exp.Add) and lt.is_string and rt.is_string:
        length = None if lt.is_max or rt.is_max else (lt.length or 1) + (rt.length or 1)
        return exp.DPipe(this=left, expression=right), nvarchar(length if length and length <= 4000 else None)
    if isinstance(node, exp.Add) and ((lt.is_string and rt.name == "null") or (rt.is_string and lt.name == "null")):
        return exp.DPipe(this=left, expression=right), STRING
    if lt.is_temporal or rt.is_temporal:
        return _date_arithmetic(node, left, lt, right, rt)
    if lt.name == "uniqueidentifier" or rt.name == "uniqueidentifier":
        raise Refused(f"Operand data type uniqueidentifier is invalid for {type(node).__name__.lower()} operator.")
    if lt.is_string and rt.is_numeric:
        left, lt = convert(left, lt, rt), rt
    elif rt.is_string and lt.is_numeric:
        right, rt = convert(right, rt, lt), lt
    result = unify(lt, rt)
    if result.name == "bit":
        result = INT
    if result.name in ("decimal", "money"):  # kept as floats: their arithmetic is a float's
        result = FLOAT
    return same_kind(node, paren(left), paren(right)), result


def _date_arithmetic(node, left, lt, right, rt) -> Typed:
    """datetime ± number adds days; datetime - datetime is a datetime (days since 1900)."""
    if isinstance(node, exp.Add) and lt.is_temporal and (rt.is_numeric or rt.name == "null"):
        return exp.Add(this=paren(left), expression=exp.Mul(this=paren(right), expression=exp.Literal.number(86400))), lt
    if isinstance(node, exp.Add) and rt.is_temporal and (lt.is_numeric or lt.name == "null"):
        return exp.Add(this=paren(right), expression=exp.Mul(this=paren(left), expression=exp.Literal.number(86400))), rt
    if isinstance(node, exp.Sub) and lt.is_temporal and (rt.is_numeric or rt.name == "null"):
        return exp.Sub(this=paren(left), expression=exp.Mul(this=paren(right), expression=exp.Literal.number(86400))), lt
    if isinstance(node, exp.Sub) and lt.is_temporal and rt.is_temporal:
        return exp.Sub(this=exp.Sub(this=paren(left), expression=paren(right)),
                       expression=exp.Literal.number(2_208_988_800)), DATETIME_TYPE
    raise Refused(f"Operand data type {lt if lt.is_temporal else rt} is invalid for "
                  f"{type(node).__name__.lower()} operator.")


def negation(t: Rewriter, node: exp.Neg) -> Typed:
    inner, sqltype = t.expr(node.this)
    if not (sqltype.is_numeric or sqltype.name == "null"):
        raise Refused(f"Operand data type {sqltype} is invalid for minus operator.")
    return exp.Neg(this=paren(inner)), sqltype if sqltype.name != "bit" else INT


def bitwise(t: Rewriter, node: exp.Binary) -> Typed:
    left, lt = t.expr(node.this)
    right, rt = t.expr(node.expression)
    result = unify(lt, rt)
    if isinstance(node, exp.BitwiseXor):  # SQLite has no XOR: (a | b) - (a & b)
        return exp.Sub(this=exp.Paren(this=exp.BitwiseOr(this=paren(left), expression=paren(right))),
                       expression=exp.Paren(this=exp.BitwiseAnd(this=paren(left.copy()),
                                                                expression=paren(right.copy())))), result
    return same_kind(node, paren(left), paren(right)), result


def comparison(t: Rewriter, node: exp.Binary) -> Typed:
    left, lt = t.expr(node.this)
    right, rt = t.expr(node.expression)
    left, right = compare_pair(left, lt, right, rt)
    return node.__class__(this=left, expression=right), BIT_TYPE


def logical(t: Rewriter, node: exp.Expr) -> Typed:
    for key in ("this", "expression"):
        if node.args.get(key) is not None:
            t.replace(node.args[key])
    return node, BIT_TYPE


def is_null(t: Rewriter, node: exp.Is) -> Typed:
    t.replace(node.this)
    return node, BIT_TYPE


def in_list(t: Rewriter, node: exp.In) -> Typed:
    this, sqltype = t.expr(node.this)
    if node.args.get("query") is not None:
        query = node.args["query"]
        inner_types = t.types_of(query.this if isinstance(query, exp.Subquery) else query)
        if len(inner_types) != 1:
            raise Refused("Only one expression can be specified in the select list when the subquery is not "
                          "introduced with EXISTS.")
        inner_type = inner_types[0][1]
        if sqltype.is_string and inner_type.is_string:
            this = nocase(this)
        elif sqltype.name != inner_type.name and "null" not in (sqltype.name, inner_type.name):
            this = convert(this, sqltype, unify(sqltype, inner_type))
        node.set("this", this)
        return node, BIT_TYPE
    values = []
    target = sqltype
    typed = [t.expr(value) for value in node.expressions]
    for _, value_type in typed:
        if value_type.name != "null":
            target = unify(target, value_type) if target.name != "null" else value_type
    if sqltype.name not in ("null", target.name):
        this = convert(this, sqltype, target)
    for value, value_type in typed:
        values.append(convert(value, value_type, target) if value_type.name not in ("null", target.name)
                      else value)
    if target.is_string:
        this = nocase(this)
    return exp.In(this=this, expressions=values), BIT_TYPE


def between(t: Rewriter, node: exp.Between) -> Typed:
    this, sqltype = t.expr(node.this)
    low, low_type = t.expr(node.args["low"])
    high, high_type = t.expr(node.args["high"])
    target = unify(unify(sqltype, low_type), high_type)
    parts = [convert(p, pt, target) if pt.name not in ("null", target.name) else p
             for p, pt in ((this, sqltype), (low, low_type), (high, high_type))]
    if target.is_string:
        parts[0] = nocase(parts[0])
    return exp.Between(this=parts[0], low=parts[1], high=parts[2]), BIT_TYPE


def like(t: Rewriter, node: exp.Like) -> Typed:
    this, sqltype = t.expr(node.this)
    pattern, pattern_type = t.expr(node.expression)
    this, pattern = as_text(this, sqltype), as_text(pattern, pattern_type)
    text = literal_text(pattern)
    if text is not None and "[" in text:
        raise Refused("LIKE patterns with [ ] character classes are not supported by the emulator.")
    return exp.Like(this=this, expression=pattern, negate=node.args.get("negate")), BIT_TYPE


def escape(t: Rewriter, node: exp.Escape) -> Typed:
    pattern, _ = t.expr(node.this)
    character, _ = t.expr(node.expression)
    return exp.Escape(this=pattern, expression=character), BIT_TYPE


def collate(t: Rewriter, node: exp.Collate) -> Typed:
    this, sqltype = t.expr(node.this)
    collation = node.expression.name.upper() if node.expression is not None else ""
    target = "BINARY" if "_CS" in collation or collation.endswith("_BIN") or collation.endswith("_BIN2") else "NOCASE"
    return exp.Collate(this=paren(this), expression=exp.Var(this=target)), sqltype


# CASE, IIF, ISNULL, COALESCE, NULLIF

def case(t: Rewriter, node: exp.Case) -> Typed:
    subject, subject_type = t.child(node, "this")
    branches = []
    result = NULL
    for branch in node.args.get("ifs") or ():
        condition, condition_type = t.expr(branch.this)
        if subject is not None and "null" not in (condition_type.name, subject_type.name) \
                and condition_type.name != subject_type.name:
            condition = convert(condition, condition_type, subject_type)
        value, value_type = t.expr(branch.args["true"])
        branches.append((condition, value, value_type))
        result = unify(result, value_type)
    default, default_type = t.child(node, "default")
    if default is not None:
        result = unify(result, default_type)
    ifs = [exp.If(this=c, true=fit(v, vt, result)) for c, v, vt in branches]
    if subject is not None and subject_type.is_string:
        subject = nocase(subject)
    return exp.Case(this=subject, ifs=ifs,
                    default=fit(default, default_type, result) if default is not None else None), result


def iif(t: Rewriter, node: exp.If) -> Typed:
    condition, _ = t.expr(node.this)
    true, true_type = t.expr(node.args["true"])
    false, false_type = t.child(node, "false")
    result = unify(true_type, false_type)
    return exp.Case(ifs=[exp.If(this=condition, true=fit(true, true_type, result))],
                    default=fit(false, false_type, result) if false is not None else None), result


def coalesce(t: Rewriter, node: exp.Coalesce) -> Typed:
    first, first_type = t.expr(node.this)
    rest = [t.expr(e) for e in node.expressions]
    if node.args.get("is_null"):  # ISNULL: the first argument's type
        result = first_type if first_type.name != "null" else rest[0][1]
    else:
        result = first_type
        for _, rest_type in rest:
            result = unify(result, rest_type)
    return exp.Coalesce(this=fit(first, first_type, result),
                        expressions=[fit(v, vt, result) for v, vt in rest]), result


def nullif(t: Rewriter, node: exp.Nullif) -> Typed:
    first, first_type = t.expr(node.this)
    second, second_type = t.expr(node.expression)
    first_cmp, second = compare_pair(first, first_type, second, second_type)
    return exp.Nullif(this=first_cmp, expression=second), first_type


# CAST / CONVERT

def cast(t: Rewriter, node: exp.Cast) -> Typed:
    value, source = t.expr(node.this)
    target = data_type(node.args["to"])
    try:
        return convert(value, source, target, explicit=True), target
    except ConversionFailed:
        if isinstance(node, exp.TryCast):  # TRY_CAST/TRY_CONVERT: NULL instead of the error
            return exp.Null(), target
        raise


def convert_call(t: Rewriter, node: exp.Convert) -> Typed:
    value, source = t.expr(node.expression)
    target = data_type(node.this)
    style = node.args.get("style")
    style_value = None
    if style is not None:
        if not (isinstance(style, exp.Literal) and not style.is_string):
            raise Refused("The style of CONVERT must be a number.")
        style_value = int(style.this)
    return convert(value, source, target, explicit=True, style=style_value), target


HANDLERS: dict[type, Callable[[Rewriter, Any], Typed]] = {
    exp.Add: arithmetic,
    exp.Sub: arithmetic,
    exp.Mul: arithmetic,
    exp.Div: arithmetic,
    exp.Mod: arithmetic,
    exp.Neg: negation,
    exp.BitwiseAnd: bitwise,
    exp.BitwiseOr: bitwise,
    exp.BitwiseXor: bitwise,
    exp.EQ: comparison,
    exp.NEQ: comparison,
    exp.GT: comparison,
    exp.GTE: comparison,
    exp.LT: comparison,
    exp.LTE: comparison,
    exp.And: logical,
    exp.Or: logical,
    exp.Not: logical,
    exp.Is: is_null,
    exp.In: in_list,
    exp.Between: between,
    exp.Like: like,
    exp.Escape: escape,
    exp.Collate: collate,
    exp.Case: case,
    exp.If: iif,
    exp.Coalesce: coalesce,
    exp.Nullif: nullif,
    exp.Cast: cast,
    exp.TryCast: cast,
    exp.Convert: convert_call,
}
