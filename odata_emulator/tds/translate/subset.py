"""What Dataverse's endpoint refuses before anything is translated, and SQL Server's grouping rule.

`check_subset` walks the whole statement once: CTEs, OVER, PIVOT, ROLLUP/CUBE/GROUPING SETS, table
value constructors, APPLY, INTO/FOR/OPTION, TOP ... PERCENT/WITH TIES, table-valued functions and
USING joins are refused with the errors Dataverse gives (one check per expression class, looked up in
`_CHECKS`). `check_grouping` is SQL Server's 8120, run per SELECT once its expressions are typed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp

from ..errors import Grouping, Refused, SqlSyntaxError


def refuse_clause(name: str) -> Refused:
    return Refused(f"'{name}' is not supported.")


def not_a_function(name: str) -> Refused:
    return Refused(f"'{name}' is not a recognized built-in function name.")


def check_subset(node: exp.Expr) -> None:
    """Raises the refusal for the first construct (in walk order) outside Dataverse's subset."""
    for item in node.walk():
        check = _CHECKS.get(type(item))
        if check is not None:
            check(item)


def _refusing(name: str) -> Callable[[exp.Expr], None]:
    def check(item: exp.Expr) -> None:
        raise refuse_clause(name)
    return check


def _pivot(item: exp.Pivot) -> None:
    raise refuse_clause("UNPIVOT" if item.args.get("unpivot") else "PIVOT")


def _lateral(item: exp.Lateral) -> None:
    raise Refused("'APPLY' is not supported by the emulator.")


def _select(item: exp.Select) -> None:
    if item.args.get("into"):
        raise refuse_clause("INTO")
    if item.args.get("for_") or item.args.get("for"):
        raise refuse_clause("FOR")
    if item.args.get("options"):
        raise refuse_clause("OPTION")
    if item.args.get("locks"):
        raise refuse_clause("FOR UPDATE")
    limit = item.args.get("limit")
    options = limit.args.get("limit_options") if limit is not None else None
    if options is not None and options.args.get("percent"):
        raise Refused("'TOP ... PERCENT' is not supported by the emulator.")
    if options is not None and options.args.get("with_ties"):
        raise Refused("'TOP ... WITH TIES' is not supported by the emulator.")


def _table(item: exp.Table) -> None:
    if not isinstance(item.this, exp.Identifier):
        raise Refused("Table-valued functions are not supported.")


def _join(item: exp.Join) -> None:
    if item.args.get("using"):
        raise SqlSyntaxError("USING", keyword=False)


# Exact classes: none of them has a subclass in sqlglot, so this is the isinstance chain it replaced.
_CHECKS: dict[type, Callable[[Any], None]] = {  # each check takes its own class
    exp.With: _refusing("WITH common_table_expression"),
    exp.Window: _refusing("OVER"),
    exp.Pivot: _pivot,
    exp.Cube: _refusing("CUBE"),
    exp.Rollup: _refusing("ROLLUP"),
    exp.GroupingSets: _refusing("GROUPING SETS"),
    exp.Values: _refusing("Table Value Constructor"),
    exp.Lateral: _lateral,
    exp.Select: _select,
    exp.Table: _table,
    exp.Join: _join,
}


def check_grouping(node: exp.Select) -> None:
    """SQL Server's 8120: in a grouped SELECT, a column outside an aggregate must be grouped on."""
    group = node.args.get("group")
    aggregated = any(_own_aggregate(p) for p in node.expressions) or node.args.get("having") is not None
    if group is None and not aggregated:
        return
    grouped = {item.sql() for item in (group.expressions if group is not None else ())}
    clauses = [("select list", p.this if isinstance(p, exp.Alias) else p) for p in node.expressions]
    if node.args.get("having") is not None:
        clauses.append(("HAVING clause", node.args["having"].this))
    if node.args.get("order") is not None:
        clauses += [("ORDER BY clause", o.this) for o in node.args["order"].expressions]
    for where, expression in clauses:
        for column in _loose_columns(expression, grouped):
            name = f"{column.table}.{column.name}" if column.table else column.name
            if not column.table:
                continue  # an alias of the select list
            raise Grouping(f"Column '{name}' is invalid in the {where} because it is not contained in either "
                           f"an aggregate function or the GROUP BY clause.")


def _own_aggregate(node: exp.Expr) -> bool:
    """An aggregate of this SELECT (not one inside a subquery)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, exp.AggFunc):
            return True
        if isinstance(item, (exp.Select, exp.Subquery)):
            continue
        stack.extend(item.iter_expressions())
    return False


def _loose_columns(node: exp.Expr, grouped: set[str]) -> list[exp.Column]:
    """Columns of `node` outside aggregates, subqueries and grouped expressions."""
    found = []
    stack = [node]
    while stack:
        item = stack.pop()
        if item.sql() in grouped or isinstance(item, (exp.AggFunc, exp.Select, exp.Subquery)):
            continue
        if isinstance(item, exp.Column):
            if not isinstance(item.this, exp.Star):
                found.append(item)
            continue
        stack.extend(item.iter_expressions())
    return found
