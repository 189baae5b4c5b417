"""Binding FetchXML (and QueryExpression) trees: the `$filter` expression binder
(`query/bind_expression.py`), plus link-entities, aliases, conditions named by ConditionOperator
(`conditions.py`), and FetchXML's aggregates.

Names are logical names here (`createdby`, not `_createdby_value`), and unknown ones get the
QueryBuilder errors Dataverse answers FetchXML with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from ...errors import Code, FetchXmlError, UnsupportedQuery
from ...model import Attribute, Entity
from ...model import AttributeType as T
from .. import ast
from .. import bound as b
from ..bind_expression import ExpressionBinder, Scope
from ..limits import MAX_AGGREGATES, MAX_GROUP_KEYS, MAX_SORT_KEYS
from .conditions import bind_operator

MAX_TOP = 5000
MAX_PAGE_SIZE = 5000
SIMPLE_PAGING_LIMIT = 50_000
MAX_AGGREGATE_LIMIT = 50_000
MAX_LINK_ENTITIES = 15  # "You can add up to 15 link-entity elements to a query" (join-tables.md)
# The emulator's own cap on the columns a query returns (attribute elements, all-attributes and
# link-entity columns together): with a lookup's name and type beside it, and the sort keys, the
# statement stays well inside SQLite's 2,000 columns. Sort, group and aggregate caps: limits.py.
MAX_COLUMNS = 500

_AGGREGATE_METHOD = {"count": "count", "countcolumn": "countcolumn", "sum": "sum", "avg": "average",
                     "min": "min", "max": "max"}
_NUMERIC = {T.INTEGER, T.BIGINT, T.DOUBLE}


@dataclass
class _LinkScope:
    """A table of the query: the root (path ()) or a link-entity, with what it contributes."""

    entity: Entity
    alias: str | None
    path: tuple[b.Link, ...]


@dataclass
class _Collected:
    """What the entity and its link-entities contribute, gathered in document order."""

    columns: list[b.FetchColumn] = field(default_factory=list)
    orders: list[tuple[_LinkScope, ast.FetchOrder]] = field(default_factory=list)
    # A link-entity's filter, by the link's path: part of its join's ON clause.
    conditions: list[tuple[tuple[str, ...], b.Expr]] = field(default_factory=list)
    links: list[tuple[b.Link, ...]] = field(default_factory=list)
    wheres: list[b.Expr] = field(default_factory=list)
    aggregate_parts: list[tuple[_LinkScope, ast.FetchAttribute]] = field(default_factory=list)


@dataclass
class FetchBinder(ExpressionBinder):
    _scopes: dict[str, _LinkScope] = field(default_factory=dict)  # alias -> its table

    # ------------------------------------------------------------------------------ the query

    def bind_fetch(self, fetch: ast.Fetch, *, count: bool = False) -> b.BoundFetch:
        self._check_entity(fetch.entity)
        root = _LinkScope(self.entity, None, ())
        found = _Collected()
        # Attributes first, links in document order: the JSON follows the document.
        self._collect(root, fetch, found, fetch.aggregate)
        if len(found.orders) > MAX_SORT_KEYS:
            raise FetchXmlError(f"The query can include at most {MAX_SORT_KEYS} orders (order elements or "
                                f"OrderExpressions).")
        if len(found.columns) > MAX_COLUMNS:
            raise FetchXmlError(f"The query can return at most {MAX_COLUMNS} columns (attribute elements, "
                                f"all-attributes and link-entity columns together).")
        if fetch.filter is not None:
            found.wheres.insert(0, self._bind_condition_tree(fetch.filter, root))
        where = None
        for part in found.wheres:
            where = part if where is None else b.BoolOp("and", where, part)
        _check_page_limits(fetch)
        page = fetch.page or 1
        bound = partial(b.BoundFetch, link_conditions=tuple(found.conditions), links=tuple(found.links),
                        top=fetch.top, page_size=fetch.count, page=page, paging_cookie=fetch.paging_cookie,
                        distinct=fetch.distinct, count=count, total_record_count=fetch.total_record_count)
        if fetch.aggregate:
            apply = self._bind_aggregate(found.aggregate_parts, found.orders, where)
            limit = fetch.aggregate_limit
            if limit is not None and limit > MAX_AGGREGATE_LIMIT:
                raise FetchXmlError(f"The 'aggregatelimit' attribute can't be greater than {MAX_AGGREGATE_LIMIT}.",
                                    code=Code.QUERY_PAGING_LIMIT)
            return bound(self.entity, (), None, (), apply=apply, aggregate_limit=limit)
        if fetch.aggregate_limit is not None:
            raise FetchXmlError("The 'aggregatelimit' attribute applies to aggregate queries only.", code=Code.QUERY_PAGING_LIMIT)
        by_alias = {c.name: c for c in found.columns if c.source is not None}
        orderby = tuple(self._order_key(scope, order, by_alias) for scope, order in found.orders)
        page_size = fetch.count
        if page_size is None and fetch.top is None:
            page_size = MAX_PAGE_SIZE
        if page_size is not None and fetch.paging_cookie is None and page * page_size > SIMPLE_PAGING_LIMIT \
                and page > 1:
            raise FetchXmlError(
                f"Paging with 'page' and 'count' alone reaches at most {SIMPLE_PAGING_LIMIT} rows: use the paging "
                f"cookie to go further.", code=Code.QUERY_PAGING_LIMIT)
        context_items = tuple(c.name for c in found.columns if c.ref.steps == () and c.source is None)
        return bound(self.entity, tuple(found.columns), where, orderby, context_items=context_items,
                     page_size=page_size)

    def _check_entity(self, name: str) -> None:
        if self._table(name) is None:
            raise FetchXmlError.no_entity(name)
        if name != self.entity.logical_name:
            raise FetchXmlError(
                f"The entity name '{name}' in the FetchXML does not match the entity set of the request "
                f"('{self.entity.entity_set}' holds '{self.entity.logical_name}').", code=Code.QUERY_ENTITY_SET_MISMATCH)

    def _collect(self, scope: _LinkScope, part: ast.Fetch | ast.FetchLink, found: _Collected,
                 aggregate: bool) -> None:
        entity = scope.entity
        # FetchXML: an entity without attribute elements returns every column, as all-attributes
        # does ("It is the same as not adding any attribute elements"). A link-entity without
        # attributes returns none of its columns.
        everything = part.all_attributes or (scope.path == () and not part.attributes and not aggregate)
        if everything:
            if aggregate:
                raise FetchXmlError("An aggregate query can't use 'all-attributes'.", code=Code.QUERY_AGGREGATE)
            for attribute in entity.attributes:
                if attribute.in_webapi and attribute.valid_for_read:
                    found.columns.append(self._column(scope, attribute, None))
        for item in part.attributes:
            attribute = self._attribute(entity, item.name)
            if aggregate:
                found.aggregate_parts.append((scope, item))
                continue
            if item.aggregate is not None or item.groupby or item.dategrouping is not None:
                raise FetchXmlError("The 'aggregate', 'groupby' and 'dategrouping' attributes need "
                                    "<fetch aggregate='true'>.", code=Code.QUERY_AGGREGATE)
            column = self._column(scope, attribute, item.alias)
            if not any(c.name == column.name for c in found.columns):
                found.columns.append(column)
        for order in part.orders:
            found.orders.append((scope, order))
        for link in part.links:
            self._link(scope, link, found, aggregate)

    def _column(self, scope: _LinkScope, attribute: Attribute, alias: str | None) -> b.FetchColumn:
        ref = b.PropertyRef(scope.path, scope.entity, attribute)
        if alias is not None:
            return b.FetchColumn(alias, ref, attribute.name)
        if scope.alias is not None:
            return b.FetchColumn(f"{scope.alias}.{attribute.name}", ref, attribute.name)
        return b.FetchColumn(attribute.property_name, ref)

    def _link(self, parent: _LinkScope, link: ast.FetchLink, found: _Collected, aggregate: bool) -> None:
        if link.link_type not in ("inner", "outer"):
            raise UnsupportedQuery(f"The link-type '{link.link_type}' is not supported by the emulator: use "
                                   f"'inner' or 'outer'.")
        if len(self._scopes) >= MAX_LINK_ENTITIES:
            raise FetchXmlError("Number of link entities in query exceeded maximum limit.", code=Code.LINK_ENTITY_LIMIT)
        target = self._table(link.name)
        if target is None:
            raise FetchXmlError.no_entity(link.name)
        to_attribute = self._attribute(parent.entity, link.to_attribute)
        from_attribute = self._attribute(target, link.from_attribute)
        alias = link.alias or self._generated_alias(target)
        if alias in self._scopes or alias == self.entity.logical_name:
            raise FetchXmlError(f"The alias '{alias}' is used by more than one link-entity.", code=Code.QUERY_DUPLICATE_ALIAS)
        # Many linked rows per row unless the link lands on the target's key (a lookup followed).
        multiplies = from_attribute.name != target.primary_id
        step = b.Link(alias, to_attribute.name, target.logical_name, from_attribute.name,
                      outer=link.link_type == "outer", multiplies=multiplies)
        scope = _LinkScope(target, alias, parent.path + (step,))
        self._scopes[alias] = scope
        path = tuple(s.navigation for s in scope.path)
        found.links.append(scope.path)
        if link.filter is not None:
            found.conditions.append((path, self._bind_condition_tree(link.filter, scope, inside_link=True)))
        if not step.outer:
            # An inner link keeps only rows that found a match: the join's key is not null.
            found.wheres.append(b.Compare("ne", b.PropertyRef(scope.path, target, from_attribute),
                                          b.Const(None, "null")))
        self._collect(scope, link, found, aggregate)

    def _table(self, logical_name: str) -> Entity | None:
        """The table a FetchXML entity name names. EntityDefinitions are the model itself, not
        rows: as in Dataverse, no FetchXML query reads them."""
        entity = self.model.by_logical_name.get(logical_name)
        return None if entity is None or entity.is_metadata else entity

    def _generated_alias(self, target: Entity) -> str:
        n = 1
        while f"{target.logical_name}{n}" in self._scopes:
            n += 1
        return f"{target.logical_name}{n}"

    def _attribute(self, entity: Entity, name: str) -> Attribute:
        attribute = entity.columns.get(name)
        if attribute is None or not attribute.in_webapi or not attribute.valid_for_read:
            raise FetchXmlError.no_attribute(entity.logical_name, name)
        return attribute

    def _order_key(self, scope: _LinkScope, order: ast.FetchOrder, by_alias: dict[str, b.FetchColumn]) -> b.OrderKey:
        if order.alias is not None:
            column = by_alias.get(order.alias)
            if column is None:
                raise FetchXmlError(f"The order alias '{order.alias}' names no aliased attribute.", code=Code.QUERY_UNKNOWN_ALIAS)
            return b.OrderKey(column.ref, order.descending)
        assert order.attribute is not None  # both front ends refuse an order without attribute or alias
        attribute = self._attribute(scope.entity, order.attribute)
        return b.OrderKey(b.PropertyRef(scope.path, scope.entity, attribute), order.descending)

    # ------------------------------------------------------------------------------ conditions

    def _bind_condition_tree(self, node: ast.Node, scope: _LinkScope, *, inside_link: bool = False) -> b.Expr:
        binder = self

        class _ConditionBinder(FetchBinder):
            def visit_Condition(self, condition: ast.Condition, _scope: Scope):
                target = scope
                if condition.entity is not None:
                    if inside_link:
                        raise UnsupportedQuery("The 'entityname' attribute of a condition inside a link-entity is "
                                               "not supported by the emulator.")
                    linked = binder._scopes.get(condition.entity)
                    if linked is None:
                        raise FetchXmlError(f"The entityname '{condition.entity}' of a condition names no "
                                            f"link-entity alias.", code=Code.QUERY_UNKNOWN_ALIAS)
                    target = linked
                return binder.bind_condition(condition, target.entity, target.path)

        inner = _ConditionBinder(self.model, self.entity, self.strict, self.aliases)
        return inner.bind_expr(node, Scope(scope.entity))

    def visit_Condition(self, condition: ast.Condition, scope: Scope):
        return self.bind_condition(condition, scope.entity, scope.steps)

    def bind_condition(self, condition: ast.Condition, entity: Entity, path: tuple[b.JoinStep, ...]) -> b.Expr:
        attribute = self._attribute(entity, condition.attribute)
        return bind_operator(condition.operator, attribute, b.PropertyRef(path, entity, attribute), condition.values)

    # ------------------------------------------------------------------------------ aggregates

    def _bind_aggregate(self, parts: list[tuple[_LinkScope, ast.FetchAttribute]],
                        orders: list[tuple[_LinkScope, ast.FetchOrder]], where: b.Expr | None) -> b.BoundApply:
        _check_aggregate_counts(parts)
        keys: list[b.GroupKey] = []
        values: list[b.AggregateValue] = []
        names: set[str] = set()
        for scope, item in parts:
            attribute = self._attribute(scope.entity, item.name)
            ref = b.PropertyRef(scope.path, scope.entity, attribute)
            if item.alias is None:
                raise FetchXmlError(f"An attribute of an aggregate query needs an alias ('{item.name}' has none).",
                                    code=Code.QUERY_ALIAS_REQUIRED)
            if item.alias in names:
                raise FetchXmlError(f"The alias '{item.alias}' is used more than once.", code=Code.QUERY_DUPLICATE_ALIAS)
            names.add(item.alias)
            if item.groupby == (item.aggregate is not None):
                raise FetchXmlError(f"The attribute '{item.name}' of an aggregate query takes either "
                                    f"aggregate='...' or groupby='true'.", code=Code.QUERY_AGGREGATE)
            if item.groupby:
                keys.append(_group_key(item, item.alias, attribute, ref))
            else:
                values.append(_aggregate_value(item, item.alias, attribute, ref))
        orderby = []
        for _scope, order in orders:
            if order.alias is None:
                raise FetchXmlError("An aggregate query orders by alias: <order alias='...'/>.", code=Code.QUERY_UNKNOWN_ALIAS)
            if order.alias not in names:
                raise FetchXmlError(f"The order alias '{order.alias}' names no attribute of the query.",
                                    code=Code.QUERY_UNKNOWN_ALIAS)
            orderby.append(b.AggregateOrder(order.alias, order.descending))
        return b.BoundApply(where, tuple(keys), tuple(values), None, tuple(orderby))


def _check_page_limits(fetch: ast.Fetch) -> None:
    if fetch.top is not None and fetch.top > MAX_TOP:
        raise FetchXmlError(f"The 'top' attribute can't be greater than {MAX_TOP}.", code=Code.QUERY_PAGING_LIMIT)
    if fetch.count is not None and fetch.count > MAX_PAGE_SIZE:
        raise FetchXmlError(f"The 'count' attribute can't be greater than {MAX_PAGE_SIZE}.", code=Code.QUERY_PAGING_LIMIT)


# ---------------------------------------------------------------------------------- aggregates


def _check_aggregate_counts(parts: list[tuple[_LinkScope, ast.FetchAttribute]]) -> None:
    if not parts:
        raise FetchXmlError("An aggregate query needs at least one attribute with 'aggregate' or 'groupby'.",
                            code=Code.QUERY_AGGREGATE)
    grouped = sum(1 for _scope, item in parts if item.groupby)
    if grouped > MAX_GROUP_KEYS:
        raise FetchXmlError(f"An aggregate query can include at most {MAX_GROUP_KEYS} attributes with "
                            f"groupby='true'.")
    if len(parts) - grouped > MAX_AGGREGATES:
        raise FetchXmlError(f"An aggregate query can include at most {MAX_AGGREGATES} attributes with "
                            f"aggregate='...'.")


def _group_key(item: ast.FetchAttribute, alias: str, attribute: Attribute, ref: b.PropertyRef) -> b.GroupKey:
    grouping = item.dategrouping
    if grouping is not None:
        if grouping.startswith("fiscal"):
            raise UnsupportedQuery(f"The date grouping '{grouping}' is not supported by the emulator.")
        if attribute.type is not T.DATETIME:
            raise FetchXmlError(f"The date grouping '{grouping}' applies to date and time columns; "
                                f"'{attribute.name}' is {attribute.edm_type}.", code=Code.QUERY_AGGREGATE)
    return b.GroupKey(ref, alias, grouping, attribute.name)


def _aggregate_value(item: ast.FetchAttribute, alias: str, attribute: Attribute,
                     ref: b.PropertyRef) -> b.AggregateValue:
    if item.dategrouping is not None:
        raise FetchXmlError("'dategrouping' goes with groupby='true'.", code=Code.QUERY_AGGREGATE)
    assert item.aggregate is not None  # an attribute of an aggregate query groups or aggregates
    method = _AGGREGATE_METHOD[item.aggregate]
    if item.distinct:
        if method != "countcolumn":
            raise FetchXmlError("distinct='true' applies to the countcolumn aggregate only.",
                                code=Code.QUERY_AGGREGATE)
        method = "countdistinct"
    if method in ("sum", "average") and attribute.type not in _NUMERIC:
        raise FetchXmlError(f"The aggregate '{item.aggregate}' applies to number columns; "
                            f"'{attribute.name}' is {attribute.edm_type}.", code=Code.QUERY_AGGREGATE)
    if method in ("min", "max") and attribute.type not in _NUMERIC | {T.DATETIME}:
        raise FetchXmlError(f"The aggregate '{item.aggregate}' applies to number and date columns; "
                            f"'{attribute.name}' is {attribute.edm_type}.", code=Code.QUERY_AGGREGATE)
    edm = {"count": "Edm.Int32", "countcolumn": "Edm.Int32", "countdistinct": "Edm.Int32",
           "average": "Edm.Decimal"}.get(method, ref.edm_type)
    return b.AggregateValue(method, None if method == "count" else ref, alias, edm, attribute.name)
