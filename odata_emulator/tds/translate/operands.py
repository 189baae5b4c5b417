"""The leaves of an expression and what only passes its operand through: columns (a choice's or a
lookup's `...name` column becomes a CASE or a subquery), literals typed as SQL Server types them,
@parameters and @@globals (bound when the statement runs), parentheses, aliases, subqueries."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from ...store.values import FILE_TEXT_FUNCTION
from ..catalog import Column
from ..errors import NotDeclared, Refused, SqlSyntaxError
from ..types import BIGINT, BIT_TYPE, FLOAT, INT, NVARCHAR_MAX, SqlType, decimal_type, nvarchar
from .nodes import nocase, string
from .statement import parameter_key
from .type_rules import NULL

if TYPE_CHECKING:  # pragma: no cover
    from .rewriter import Rewriter, Typed


def column(t: Rewriter, node: exp.Column) -> Typed:
    if isinstance(node.this, exp.Star):
        return node, INT
    alias, name = node.table, node.name
    if not alias:
        assert t.scope is not None  # columns are rewritten scope by scope
        for projection_name, sqltype in t.types.get(id(t.scope.expression), ()):
            if projection_name == name:
                return node, sqltype
        raise Refused(f"Invalid column name '{name}'.")
    source = t.source(alias)
    if isinstance(source, exp.Table):
        table = t.env.catalog.table(source.name)
        found = table.by_name.get(name) if table is not None else None
        if found is None:
            raise Refused(f"Invalid column name '{name}'.")
        if found.kind == "stored":
            return node, found.type
        return _virtual(t, found, alias), found.type
    if isinstance(source, Scope):
        for projection_name, sqltype in t.types_of(source.expression):
            if projection_name == name:
                return node, sqltype
    raise Refused(f"Invalid column name '{name}'.")


def _virtual(t: Rewriter, column: Column, alias: str) -> exp.Expr:
    """A column the store does not hold as is: a choice's label (CASE), a lookup's name (a subquery per
    target table; several targets are told apart by the type column, else the first found wins), or a
    column read from file storage when its row points at a file."""
    assert column.source is not None  # a virtual column is derived from a stored one
    source = exp.column(column.source, table=alias)
    if column.kind == "file":
        assert column.file_column is not None and column.content is not None  # a file column names both
        content_table, key, content = column.content
        inner = t.new_alias()
        file_id = exp.column(column.file_column, table=alias)
        read_content = exp.Anonymous(this=FILE_TEXT_FUNCTION, expressions=[exp.column(content, table=inner)])
        subquery = (exp.select(read_content).from_(exp.to_table(content_table).as_(inner))
                    .where(exp.EQ(this=exp.column(key, table=inner), expression=file_id.copy())))
        read = exp.Case(ifs=[exp.If(this=exp.Is(this=file_id, expression=exp.Null()), true=source)],
                        default=exp.Subquery(this=subquery))
        return nocase(read)  # compared as the stored column is: a CASE carries no column's collation
    if column.kind == "label":
        return exp.Case(this=source, ifs=[exp.If(this=exp.Literal.number(value), true=string(label))
                                          for value, label in column.labels])
    lookups = []
    for target in column.targets:
        inner = t.new_alias()
        subquery = (exp.select(exp.column(target.name_column, table=inner))
                    .from_(exp.to_table(target.table).as_(inner))
                    .where(exp.EQ(this=exp.column(target.id_column, table=inner), expression=source.copy())))
        lookups.append((target.table, exp.Subquery(this=subquery)))
    if len(lookups) == 1:
        return lookups[0][1]
    if column.type_column:
        return exp.Case(this=exp.column(column.type_column, table=alias),
                        ifs=[exp.If(this=string(table), true=lookup) for table, lookup in lookups])
    return exp.Coalesce(this=lookups[0][1], expressions=[lookup for _, lookup in lookups[1:]])


def literal(t: Rewriter, node: exp.Literal) -> Typed:
    if node.is_string:
        return node, nvarchar(max(1, min(len(node.this), 4000))) if len(node.this) <= 4000 else NVARCHAR_MAX
    text = node.this
    if re.fullmatch(r"\d+", text):
        value = int(text)
        if value <= 2**31 - 1:
            return node, INT
        if value <= 2**63 - 1:
            return node, BIGINT
        return node, decimal_type(min(38, len(text)), 0)
    if re.fullmatch(r"\d*\.\d*", text):
        digits = text.replace(".", "").lstrip("0") or "0"
        scale = len(text.split(".", 1)[1])
        return node, decimal_type(min(38, max(len(digits), scale, 1)), scale)
    return node, FLOAT


def national(t: Rewriter, node: exp.National) -> Typed:
    return literal(t, string(node.this))


def null(t: Rewriter, node: exp.Null) -> Typed:
    return node, NULL


def parameter(t: Rewriter, node: exp.Parameter) -> Typed:
    inner = node.this
    if isinstance(inner, exp.Parameter):  # @@name
        return _global(t, inner.name.lower())
    name = node.name.lower()
    param = t.env.params.get(name)
    if param is None:
        raise NotDeclared(f'Must declare the scalar variable "@{node.name}".')
    return t.late_value(parameter_key(name)), param.type


def placeholder(t: Rewriter, node: exp.Placeholder) -> Typed:
    raise SqlSyntaxError("?")  # ODBC's parameter marker is the client's to replace, never T-SQL


def _global(t: Rewriter, name: str) -> Typed:
    env = t.env
    if name == "version":
        return string(env.version), nvarchar(300)
    if name == "spid":  # bound when the statement runs: plans are shared by every session
        return t.late_value("__spid"), SqlType("smallint")
    if name == "servername":
        return string(env.server), nvarchar(128)
    if name == "language":
        return string("us_english"), nvarchar(128)
    if name == "rowcount":
        return t.late_value("__rowcount"), INT
    if name in ("max_precision",):
        return exp.Literal.number(38), SqlType("tinyint")
    if name == "textsize":
        return exp.Literal.number(2147483647), INT
    if name == "microsoftversion":  # 12.0.2000: major << 24 | minor << 16 | build
        return exp.Literal.number((12 << 24) | 2000), INT
    raise Refused(f"'@@{name.upper()}' is not supported.")


def parenthesized(t: Rewriter, node: exp.Paren) -> Typed:
    inner, sqltype = t.expr(node.this)
    return exp.Paren(this=inner), sqltype


def alias(t: Rewriter, node: exp.Alias) -> Typed:
    _, sqltype = t.replace(node.this)
    return node, sqltype


def ordered(t: Rewriter, node: exp.Ordered) -> Typed:
    _, sqltype = t.replace(node.this)
    return node, sqltype


def exists(t: Rewriter, node: exp.Exists) -> Typed:
    return node, BIT_TYPE


def subquery(t: Rewriter, node: exp.Subquery) -> Typed:
    types = t.types_of(node.this)
    if len(types) != 1:
        raise Refused("Only one expression can be specified in the select list when the subquery is not "
                      "introduced with EXISTS.")
    return node, types[0][1]


def select(t: Rewriter, node: exp.Expr) -> Typed:
    types = t.types_of(node)
    return node, types[0][1] if types else INT


def star(t: Rewriter, node: exp.Star) -> Typed:
    return node, INT


HANDLERS: dict[type, Callable[[Rewriter, Any], Typed]] = {
    exp.Column: column,
    exp.Literal: literal,
    exp.National: national,
    exp.Null: null,
    exp.Parameter: parameter,
    exp.Placeholder: placeholder,
    exp.Paren: parenthesized,
    exp.Alias: alias,
    exp.Ordered: ordered,
    exp.Star: star,
    exp.Exists: exists,
    exp.Subquery: subquery,
    exp.Select: select,
    exp.Union: select,
}
