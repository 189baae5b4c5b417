"""Small builders of the SQLite-side sqlglot nodes the rewriting modules share."""

from __future__ import annotations

from sqlglot import exp


def udf(name: str, *args: exp.Expr) -> exp.Expr:
    """A call of a SQLite function (built in, or one of `functions.py`'s `tds_` functions)."""
    return exp.Anonymous(this=name, expressions=list(args))


def string(text: str) -> exp.Literal:
    return exp.Literal.string(text)


def number(value) -> exp.Expr:
    if isinstance(value, (int, float)) and value < 0:
        return exp.Neg(this=exp.Literal.number(-value))
    return exp.Literal.number(value)


def paren(node: exp.Expr) -> exp.Expr:
    """`node` safe as an operand: parenthesized unless it is atomic already."""
    if isinstance(node, (exp.Column, exp.Literal, exp.Paren, exp.Anonymous, exp.Placeholder, exp.Func)):
        return node
    return exp.Paren(this=node)


def nocase(node: exp.Expr) -> exp.Expr:
    """`node` compared without regard to case, as SQL Server's default collation compares."""
    return exp.Collate(this=paren(node), expression=exp.Var(this="NOCASE"))


def same_kind(node: exp.Binary, left: exp.Expr, right: exp.Expr) -> exp.Expr:
    """`node`'s operator over new operands, its other arguments kept (Div's `typed`: whole numbers
    divide as whole numbers, as in T-SQL)."""
    return node.__class__(**{**node.args, "this": left, "expression": right})


def literal_text(node: exp.Expr) -> str | None:
    """A string literal's text (what can be converted once, at translation), else None."""
    if isinstance(node, exp.Literal) and node.is_string:
        return node.this
    return None
