"""Aggregation -> SQL: `$apply` (groupby, aggregate, filter) and FetchXML aggregate queries, both
bound to a `BoundApply`, compile here to one GROUP BY statement (`CompiledAggregate`).

Group keys and aggregate values are selected as k0, k1... and a0, a1...; a filter or an order
over the aggregated rows reaches an aggregate by its alias (`aggregate_expressions`).

A query that counts rows by keys the store keeps counts for (`store/group_counts.py`: system jobs
by state, status and type), and filters on those keys alone, reads the counts instead of the rows:
the same statement over the counts table, each count a sum of the kept counts. Every documented
diagnostic grouping is such a query; at a million jobs it reads a few hundred rows, not a million.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from sqlalchemy import Integer, Select, Table, bindparam, cast, func, literal, select
from sqlalchemy.sql import ColumnElement

from ..model import AttributeType as T
from ..store.schema import COUNTED_GROUPS, GROUP_COUNTS, ROW_COUNT
from . import bound as b
from .compile_expression import ExpressionCompiler
from .compiled import AggregateOut, CompiledAggregate, associated_navigation, single_target

_AGGREGATE_FUNCTIONS: dict[str, Callable[[ColumnElement], ColumnElement]] = {
    "sum": func.sum, "min": func.min, "max": func.max, "average": func.avg,
    "countdistinct": lambda c: func.count(c.distinct()),
    "countcolumn": func.count,
}


# Types whose equality is exact: a row the filter keeps holds the very value it names. (Text compares
# without regard to case: `name eq 'a'` keeps 'a' and 'A', not one value.)
_EXACT_EQUALITY = frozenset({T.INTEGER, T.BIGINT, T.PICKLIST, T.STATE, T.STATUS, T.BOOLEAN})


def pinned_columns(where: b.Expr | None) -> list[b.PropertyRef]:
    """The columns `where` holds to one value: `<column> eq <constant>` among its top-level `and`s,
    for the types whose equality is exact."""
    if isinstance(where, b.BoolOp) and where.op == "and":
        return pinned_columns(where.left) + pinned_columns(where.right)
    if isinstance(where, b.Compare) and where.op == "eq":
        for ref, value in ((where.left, where.right), (where.right, where.left)):
            if (isinstance(ref, b.PropertyRef) and ref.via is None and ref.attribute.type in _EXACT_EQUALITY
                    and isinstance(value, b.Const) and value.value is not None):
                return [ref]
    return []


def counts_table(compiler: ExpressionCompiler, apply: b.BoundApply) -> Table | None:
    """The kept counts `apply` can read instead of the rows, or None: its table has counted keys, no
    join was made, it groups by counted keys (no date grouping), its aggregates are all row counts,
    and its filter and its having name no other column."""
    counts = GROUP_COUNTS.get(compiler.entity.logical_name)
    if counts is None or compiler.joins or not (apply.keys or apply.aggregates):
        return None
    keys = COUNTED_GROUPS[compiler.entity.logical_name]
    if not all(key.dategrouping is None and _counted(key.ref, keys) for key in apply.keys):
        return None
    if not all(value.method == "count" and value.ref is None for value in apply.aggregates):
        return None
    if not all(condition is None or _names_only(condition, keys) for condition in (apply.where, apply.having)):
        return None
    return counts


def _counted(ref: b.PropertyRef, keys: tuple[str, ...]) -> bool:
    return not ref.steps and ref.via is None and ref.attribute.name in keys


def _names_only(expr, keys: tuple[str, ...]) -> bool:
    """Whether every column `expr` reads is one of `keys` of the root table (an aggregate alias reads
    none; a lambda reads other rows)."""
    if isinstance(expr, b.PropertyRef):
        return _counted(expr, keys)
    if isinstance(expr, b.Lambda):
        return False
    if not dataclasses.is_dataclass(expr):
        return True
    for part in dataclasses.fields(expr):
        value = getattr(expr, part.name)
        for item in value if isinstance(value, tuple) else (value,):
            if dataclasses.is_dataclass(item) and not isinstance(item, type) and not _names_only(item, keys):
                return False
    return True


def compile_apply(compiler: ExpressionCompiler, apply: b.BoundApply, query: b.BoundQuery) -> CompiledAggregate:
    """The aggregated statement of `apply` (`query.apply`), over the joins `compiler` has made so far,
    or over the kept counts when it can (`counts_table`).

    A group key the filter holds to one value (`filter(operationtype eq 10)/groupby((statecode,
    statuscode,operationtype),...)`) is selected but neither grouped nor ordered by: it is the same
    in every row, and SQLite compares every group key of every row it reads (at 1M jobs, 87 ms with
    it, 57 ms without). One key stays grouped when every key is held, so that no row makes no group."""
    counts = counts_table(compiler, apply)
    if counts is not None:
        compiler = ExpressionCompiler(compiler.model, compiler.entity, compiler.annotations, root_table=counts)
        kept = func.sum(counts.c[ROW_COUNT])  # the rows a group's kept counts count
    where = compiler.predicate(apply.where) if apply.where is not None else None
    columns: list = []
    outputs, keys, group_by = _group_keys(compiler, apply, columns)
    for i, value in enumerate(apply.aggregates):
        expression: ColumnElement
        if counts is not None:  # every aggregate is a count; over no group at all, count(*)'s 0
            expression = kept if keys else func.coalesce(kept, 0)
        elif value.ref is None:
            expression = func.count()
        else:
            expression = _AGGREGATE_FUNCTIONS[value.method](compiler.column(value.ref))
        label = f"a{i}"
        compiler.aggregate_expressions[value.alias] = expression
        columns.append(expression.label(label))
        outputs.append(AggregateOut(value.alias, label, value.edm_type,
                                    value.ref.attribute if value.ref is not None and value.method in ("min", "max") else None,
                                    is_aggregate=True, source=value.source))
    statement = select(*columns).select_from(compiler.source)
    if where is not None:
        statement = statement.where(where)
    if group_by:
        statement = statement.group_by(*group_by)
    if counts is not None and keys:  # a group whose last row went keeps its row, counting none
        statement = statement.having(kept > 0)
    if apply.having is not None:
        statement = statement.having(compiler.predicate(apply.having))
    by_name = {o.name: o for o in outputs}
    key_names = [k.output_name for k in apply.keys]
    if apply.orderby:
        # Each key's own expression, whatever the direction (an ascending key used to reach for
        # the expression of the key before it).
        ordered = []
        for o in apply.orderby:
            expression = (compiler.aggregate_expressions[o.name] if by_name[o.name].is_aggregate
                          else keys[key_names.index(o.name)])
            ordered.append(expression.desc() if o.descending else expression.asc())
        statement = statement.order_by(*ordered)
    elif group_by:
        statement = statement.order_by(*[g.asc() for g in group_by])
    return CompiledAggregate(statement, tuple(compiler.params), tuple(outputs), _input_count(compiler, counts, where),
                             query)


def _group_keys(compiler: ExpressionCompiler, apply: b.BoundApply,
                columns: list) -> tuple[list[AggregateOut], list[ColumnElement], list[ColumnElement]]:
    """The group keys selected into `columns`: their outputs, every key's expression (in the order of
    apply.keys) and the expressions grouped by."""
    pinned = pinned_columns(apply.where)
    outputs = []
    keys = []
    group_by = []
    for i, key in enumerate(apply.keys):
        expression = compiler.column(key.ref)
        label = f"k{i}"
        if key.dategrouping is not None:
            expression = date_group(expression, key.dategrouping)
            columns.append(expression.label(label))
            keys.append(expression)
            group_by.append(expression)
            outputs.append(AggregateOut(key.output_name, label, "Edm.Int32", source=key.source))
            continue
        columns.append(expression.label(label))
        keys.append(expression)
        if key.ref not in pinned:
            group_by.append(expression)
        attribute = key.ref.attribute
        table = compiler.table_for(key.ref.steps)
        name_label, type_label = compiler.lookup_columns(table, attribute, f"k{i}_", columns)
        outputs.append(AggregateOut(
            key.output_name, label, key.ref.edm_type, attribute, name_label, type_label,
            single_target(attribute), associated_navigation(key.ref.entity, attribute), source=key.source,
        ))
    if not group_by and keys:
        group_by.append(keys[0])
    return outputs, keys, group_by


def _input_count(compiler: ExpressionCompiler, counts: Table | None, where: ColumnElement | None) -> Select:
    """How many rows the aggregation reads (what the aggregate limit is about): the kept counts summed,
    or the rows counted no further than `probe_limit` (the answer is only compared with the limit)."""
    if counts is not None:
        summed = select(func.coalesce(func.sum(counts.c[ROW_COUNT]), 0)).select_from(counts)
        return summed if where is None else summed.where(where)
    rows = select(literal(1).label("one")).select_from(compiler.source)
    if where is not None:
        rows = rows.where(where)
    return select(func.count()).select_from(rows.limit(bindparam("probe_limit")).subquery())


def date_group(column, grouping: str):
    """FetchXML dategrouping over an epoch-seconds column, as SQL Server's DATEPART counts (UTC;
    weeks start on Sunday and the week holding January 1 is week 1)."""
    def part(pattern: str, *modifiers: str):
        return cast(func.strftime(pattern, column, "unixepoch", *modifiers), Integer())
    if grouping == "year":
        return part("%Y")
    if grouping == "month":
        return part("%m")
    if grouping == "day":
        return part("%d")
    # Floor division: SQLAlchemy's `/` is true division (it renders `/ (3 + 0.0)`), which would
    # give fractional quarters and weeks.
    if grouping == "quarter":
        return (part("%m") + 2) // 3
    if grouping == "week":
        return (part("%j") - 1 + part("%w", "start of year")) // 7 + 1
    raise AssertionError(grouping)  # pragma: no cover - the binder admits no other grouping
