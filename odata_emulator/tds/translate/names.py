"""Names, resolved against the model's catalog before any expression is rewritten.

Tables are named by the model's logical names (case-insensitive; `dbo.` and a database name are
dropped, table hints such as `WITH (nolock)` accepted and ignored), aliases and columns lowercased,
then sqlglot's qualifier resolves every column (`*` expands to the table's columns, Dataverse's extra
ones included) and its errors become SQL Server's "Invalid column name" / "Ambiguous column name".
`written_names` keeps the result's column names as the statement spelled them, before all that.
"""

from __future__ import annotations

import re

from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.qualify import qualify

from ..catalog import Catalog, Table
from ..errors import Refused


def first_select(node: exp.Expr) -> exp.Expr:
    """The SELECT whose projections name a set operation's (or a parenthesized query's) columns."""
    while isinstance(node, (exp.SetOperation, exp.Subquery)):
        node = node.left if isinstance(node, exp.SetOperation) else node.this
    return node


def written_names(node: exp.Expr) -> list[str | None] | None:
    select = first_select(node)
    if not isinstance(select, exp.Select):
        return None
    names: list[str | None] = []
    for projection in select.expressions:
        if isinstance(projection, exp.Star) or (isinstance(projection, exp.Column)
                                                and isinstance(projection.this, exp.Star)):
            return names + [None] * 10_000  # the rest comes from the expansion
        names.append(name_of(projection))
    return names


def name_of(projection: exp.Expr) -> str:
    """The column name SQL Server reports: an alias as written, a column's name as written, or none."""
    if isinstance(projection, exp.Alias):
        return projection.alias
    if isinstance(projection, exp.Column) and not isinstance(projection.this, exp.Star):
        return projection.name
    return ""


def normalize(node: exp.Expr, catalog: Catalog) -> None:
    """Tables renamed to the catalog's names, aliases and column names lowercased, in place."""
    ctes: set[str] = set()
    for table in list(node.find_all(exp.Table)):
        schema, database = table.args.get("db"), table.args.get("catalog")
        written = ".".join(part.name for part in (database, schema, table.this) if part is not None)
        if schema is not None and schema.name.lower() != "dbo":
            raise Refused(f"Invalid object name '{written}'.")
        found: Table | None = catalog.table(table.name)
        if found is None or table.name.lower() in ctes:
            raise Refused(f"Invalid object name '{written}'.")
        table.set("this", exp.to_identifier(found.name))
        table.set("db", None)
        table.set("catalog", None)
        table.set("hints", None)
        alias = table.args.get("alias")
        if alias is not None and alias.this is not None:
            alias.set("this", exp.to_identifier(alias.name.lower()))
    for column in node.find_all(exp.Column):
        for key in ("this", "table"):
            part = column.args.get(key)
            if isinstance(part, exp.Identifier):
                column.set(key, exp.to_identifier(part.name.lower()))
        for key in ("db", "catalog"):
            if column.args.get(key) is not None:
                raise Refused(f"The multi-part identifier '{column.sql('tsql')}' could not be bound.")
    for alias in node.find_all(exp.TableAlias):
        if alias.this is not None:
            alias.set("this", exp.to_identifier(alias.name.lower()))
        if alias.args.get("columns"):
            alias.set("columns", [exp.to_identifier(c.name.lower()) for c in alias.args["columns"]])


def qualify_columns(node: exp.Expr, catalog: Catalog) -> exp.Expr:
    try:
        return qualify(node, schema=catalog.schema(), dialect="tsql", validate_qualify_columns=True,
                       expand_alias_refs=False,
                       quote_identifiers=False, identify=False)
    except OptimizeError as exc:
        text = str(exc)
        unknown = re.search(r"Column '([^']*)' could not be resolved", text)
        if unknown:
            raise Refused(f"Invalid column name '{unknown.group(1)}'.") from None
        ambiguous = re.search(r"[Aa]mbiguous column[^']*'([^']*)'", text)
        if ambiguous:
            raise Refused(f"Ambiguous column name '{ambiguous.group(1)}'.") from None
        raise Refused(text.split(". Line")[0] + ".") from None
