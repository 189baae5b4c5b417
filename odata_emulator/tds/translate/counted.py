"""A SELECT that counts rows by keys the store keeps counts for (`store/group_counts.py`: system jobs
by statecode, statuscode and operationtype), and reads no other column, reads the counts instead of
the rows, as the Web API's `$apply` does (`query/compile_apply.py`): the documented groupings cost a few
hundred rows instead of a scan of every job.

Applied to the SQLite form, once its outputs are named: the table keeps its alias, so every column
reference stays as it is; each COUNT(*) becomes the sum of the kept counts; a group whose rows have
all gone keeps its row with a count of 0, which HAVING leaves out.
"""

from __future__ import annotations

from sqlglot import exp

from ...store.schema import COUNTED_GROUPS, GROUP_COUNTS, ROW_COUNT


def read_counts(node: exp.Expr) -> None:
    """Points `node` at the kept counts when it can read them instead of its table (in place)."""
    if not isinstance(node, exp.Select) or node.args.get("joins") or node.args.get("distinct"):
        return
    source = node.args.get("from_") or node.args.get("from")
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table) or table.name not in COUNTED_GROUPS:
        return
    alias = table.alias_or_name
    if not _reads_counted_keys_only(node, alias, COUNTED_GROUPS[table.name]):
        return
    counts = GROUP_COUNTS[table.name].name
    table.set("this", exp.to_identifier(counts))
    table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    grouped = node.args.get("group") is not None

    def kept() -> exp.Expr:
        return exp.Sum(this=exp.column(ROW_COUNT, table=alias))

    for count in list(node.find_all(exp.Count)):
        count.replace(kept() if grouped else exp.Coalesce(this=kept(), expressions=[exp.Literal.number(0)]))
    if grouped:
        having = node.args.get("having")
        condition = exp.GT(this=kept(), expression=exp.Literal.number(0))
        node.set("having", exp.Having(this=condition if having is None else exp.and_(condition, having.this)))


def _reads_counted_keys_only(node: exp.Select, alias: str, keys: tuple[str, ...]) -> bool:
    """Rows counted (grouped, or a COUNT(*) over them all: never the rows themselves), no subquery,
    every aggregate a COUNT(*), every column one of `keys` of the table (or, without a table, one of the
    outputs, as ORDER BY names them)."""
    if node.args.get("group") is None and node.find(exp.Count) is None:
        return False
    if any(inner is not node for inner in node.find_all(exp.Select)):
        return False
    if any(not isinstance(star.parent, exp.Count) for star in node.find_all(exp.Star)):
        return False
    if not all(isinstance(aggregate, exp.Count) and isinstance(aggregate.this, exp.Star)
               for aggregate in node.find_all(exp.AggFunc)):
        return False
    outputs = {projection.alias_or_name for projection in node.expressions}
    for column in node.find_all(exp.Column):
        if column.table == alias and column.name in keys:
            continue
        if not column.table and column.name in outputs and column.find_ancestor(exp.Order) is not None:
            continue
        return False
    return True
