"""`$apply` -> `BoundApply`: filter, then one groupby or aggregate transformation, then (loose mode)
filters over the aggregated rows; `$filter` and `$orderby` beside `$apply` apply to those rows.

Over the aggregated rows a name is a group key (by its output name or its path) or an aggregate's
alias; `AggregatedRowsBinder` resolves them so. FetchXML's aggregate queries bind to the same
`BoundApply` in `fetchxml/bind.py`; both compile in `compile_apply.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import QueryError, UnsupportedQuery
from ..model import AttributeType as T
from . import ast
from . import bound as b
from .bind_expression import ExpressionBinder, Scope
from .edm import NUMERIC, edm_of
from .limits import MAX_AGGREGATES, MAX_GROUP_KEYS, check_sort_keys
from .options import QueryOptions
from .parser import parse_filter, parse_orderby

_AGGREGATE_METHODS = {"sum", "min", "max", "average", "countdistinct"}


def bind_apply(binder: ExpressionBinder, apply: ast.Apply, options: QueryOptions) -> b.BoundApply:
    where: b.Expr | None = None
    keys: tuple[b.GroupKey, ...] = ()
    aggregates: tuple[b.AggregateValue, ...] = ()
    grouped = False
    having: b.Expr | None = None
    root = Scope(binder.entity)
    for step in apply.steps:
        if isinstance(step, ast.UnsupportedTransformation):
            raise UnsupportedQuery(f"The transformation '{step.name}' is not supported in $apply.")
        if isinstance(step, ast.ApplyFilter):
            if not grouped:
                where = _and(where, binder.bind_filter(step.expr))
                continue
            if binder.strict:
                raise UnsupportedQuery("A filter transformation after groupby or aggregate is not supported.")
            having = _and(having, _bind_aggregated(binder, step.expr, keys, aggregates))
            continue
        if grouped:
            raise UnsupportedQuery("Only one groupby or aggregate transformation is supported in $apply.")
        grouped = True
        keys, aggregates = _bind_grouping(binder, step, root)
    if not grouped:
        raise UnsupportedQuery("$apply must group or aggregate: use $filter to filter rows.")
    names = [k.output_name for k in keys] + [a.alias for a in aggregates]
    if len(set(names)) != len(names):
        raise QueryError("The names in groupby and aggregate must be distinct.")
    if options.filter is not None:
        having = _and(having, _bind_aggregated(binder, parse_filter(options.filter), keys, aggregates))
    orderby: tuple[b.AggregateOrder, ...] = ()
    if options.orderby is not None:
        items = parse_orderby(options.orderby).items
        check_sort_keys(len(items))
        orderby = tuple(_aggregate_order(binder, item, keys, aggregates) for item in items)
    return b.BoundApply(where, keys, aggregates, having, orderby)


def _bind_grouping(binder: ExpressionBinder, step: ast.GroupBy | ast.Aggregate,
                   root: Scope) -> tuple[tuple[b.GroupKey, ...], tuple[b.AggregateValue, ...]]:
    """The one groupby or aggregate transformation: its group keys and its aggregates."""
    keys: tuple[b.GroupKey, ...] = ()
    if isinstance(step, ast.GroupBy):
        if len(step.paths) > MAX_GROUP_KEYS:
            raise QueryError(f"The groupby transformation of $apply can include at most {MAX_GROUP_KEYS} "
                             f"properties.")
        keys = tuple(_group_key(binder, path, root) for path in step.paths)
        items = step.aggregate
    else:
        items = step.items
    if len(items) > MAX_AGGREGATES:
        raise QueryError(f"The aggregate transformation of $apply can include at most {MAX_AGGREGATES} "
                         f"aggregations.")
    return keys, tuple(_aggregate(binder, item, root) for item in items)


def _group_key(binder: ExpressionBinder, path: tuple[str, ...], scope: Scope) -> b.GroupKey:
    ref = binder.resolve_path(path, scope)
    if ref.attribute.type is T.DATETIME and binder.strict:
        raise UnsupportedQuery("groupby with datetime values is not supported. Use FetchXML dategrouping to group by date.")
    if ref.steps:
        output = f"{ref.entity.logical_name}_{ref.attribute.property_name}"
    else:
        output = ref.attribute.property_name
    return b.GroupKey(ref, output)


def _aggregate(binder: ExpressionBinder, item: ast.AggregateItem, scope: Scope) -> b.AggregateValue:
    if item.path is None:
        return b.AggregateValue("count", None, item.alias, "Edm.Int32")
    method = item.method
    if method not in _AGGREGATE_METHODS:
        raise QueryError(f"The aggregation method '{method}' is not supported.")
    if method == "countdistinct" and binder.strict:
        raise UnsupportedQuery("You can't get a distinct number of values using CountColumn with OData. Use FetchXML.")
    ref = binder.resolve_path(item.path, scope)
    if method in ("sum", "average") and ref.edm_type not in NUMERIC:
        raise QueryError(f"The aggregation method '{method}' cannot be applied to '{'/'.join(item.path)}' of type {ref.edm_type}.")
    edm = {"countdistinct": "Edm.Int32", "average": "Edm.Decimal"}.get(method, ref.edm_type)
    return b.AggregateValue(method, ref, item.alias, edm)


@dataclass
class AggregatedRowsBinder(ExpressionBinder):
    """Binds an expression over the aggregated rows: names are group keys or aggregate aliases."""

    keys: tuple[b.GroupKey, ...] = ()
    aggregates: tuple[b.AggregateValue, ...] = ()
    _by_key: dict = field(init=False, repr=False)
    _by_alias: dict = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_key = {k.output_name: k for k in self.keys}
        self._by_alias = {a.alias: a for a in self.aggregates}

    def visit_Member(self, member: ast.Member, scope: Scope):
        name = "/".join(member.path)
        if name in self._by_alias:
            if self.strict:
                raise UnsupportedQuery("The query node SingleValueOpenPropertyAccess is not supported")
            return b.AggregateRef(name, self._by_alias[name].edm_type)
        key = self._by_key.get(name)
        if key is None:
            for candidate in self.keys:
                if "/".join(_path_of(candidate.ref)) == name:
                    key = candidate
        if key is None:
            raise QueryError(f"Could not find a property named '{name}' on the aggregated result.")
        return key.ref


def _bind_aggregated(binder: ExpressionBinder, node: ast.Node, keys, aggregates) -> b.Expr:
    scoped = AggregatedRowsBinder(binder.model, binder.entity, binder.strict, binder.aliases, keys, aggregates)
    expr = scoped.bind_expr(node, Scope(binder.entity))
    if edm_of(expr) != "Edm.Boolean":
        raise QueryError("The $filter expression must evaluate to a single boolean value.")
    return expr


def _aggregate_order(binder: ExpressionBinder, item: ast.OrderItem, keys, aggregates) -> b.AggregateOrder:
    if not isinstance(item.expr, ast.Member):
        raise UnsupportedQuery("Only properties can be used in $orderby.")
    name = "/".join(item.expr.path)
    if any(a.alias == name for a in aggregates):
        if binder.strict:
            raise UnsupportedQuery("The query node SingleValueOpenPropertyAccess is not supported")
        return b.AggregateOrder(name, item.descending)
    for key in keys:
        if name in (key.output_name, "/".join(_path_of(key.ref))):
            return b.AggregateOrder(key.output_name, item.descending)
    raise QueryError(f"Could not find a property named '{name}' on the aggregated result.")


def _path_of(ref: b.PropertyRef) -> tuple[str, ...]:
    return tuple(s.navigation for s in ref.steps) + (ref.attribute.property_name,)


def _and(left, right):
    if left is None:
        return right
    if right is None:
        return left
    return b.BoolOp("and", left, right)
