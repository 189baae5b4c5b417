"""Binding FetchXML (and QueryExpression) trees: the `$filter` expression binder
(`query/bind_expression.py`), plus link-entities, aliases, conditions named by ConditionOperator
(Dataverse's query functions, `query/functions.py`), and FetchXML's aggregates.

Names are logical names here (`createdby`, not `_createdby_value`), and unknown ones get the
QueryBuilder errors Dataverse answers FetchXML with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import FetchXmlError, UnsupportedQuery
from ...model import Attribute, Entity
from ...model import AttributeType as T
from ...store.values import from_epoch
from .. import ast
from .. import bound as b
from ..bind_expression import ExpressionBinder, Scope
from ..datefunctions import CLOCK_FUNCTIONS
from ..functions import CALLER_FUNCTIONS, ON_FUNCTIONS, day_condition
from ..limits import MAX_AGGREGATES, MAX_GROUP_KEYS, MAX_SORT_KEYS
from ..literals import condition_value
from ..numbers import whole_number

MAX_TOP = 5000
MAX_PAGE_SIZE = 5000
SIMPLE_PAGING_LIMIT = 50_000
MAX_AGGREGATE_LIMIT = 50_000
MAX_LINK_ENTITIES = 15  # "You can add up to 15 link-entity elements to a query" (join-tables.md)
# The emulator's own cap on the columns a query returns (attribute elements, all-attributes and
# link-entity columns together): with a lookup's name and type beside it, and the sort keys, the
# statement stays well inside SQLite's 2,000 columns. Sort, group and aggregate caps: limits.py.
MAX_COLUMNS = 500

_COMPARISONS = {"Equal": "eq", "NotEqual": "ne", "GreaterThan": "gt", "GreaterEqual": "ge", "LessThan": "lt",
                "LessEqual": "le"}
# Like patterns: (prefix, suffix, negated).
_PATTERNS = {"Like": ("", "", False), "NotLike": ("", "", True), "BeginsWith": ("", "%", False),
             "DoesNotBeginWith": ("", "%", True), "EndsWith": ("%", "", False), "DoesNotEndWith": ("%", "", True)}
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
class FetchBinder(ExpressionBinder):
    _scopes: dict = field(default_factory=dict)  # alias -> _LinkScope

    # ------------------------------------------------------------------------------ the query

    def bind_fetch(self, fetch: ast.Fetch, *, count: bool = False) -> b.BoundFetch:
        if self._table(fetch.entity) is None:
            raise FetchXmlError.no_entity(fetch.entity)
        if fetch.entity != self.entity.logical_name:
            raise FetchXmlError(
                f"The entity name '{fetch.entity}' in the FetchXML does not match the entity set of the request "
                f"('{self.entity.entity_set}' holds '{self.entity.logical_name}').", code="0x80041128")
        root = _LinkScope(self.entity, None, ())
        columns: list[b.FetchColumn] = []
        orders: list[tuple[_LinkScope, ast.FetchOrder]] = []
        conditions: list[tuple[tuple[str, ...], b.Expr]] = []
        links: list[tuple[b.Link, ...]] = []
        wheres: list[b.Expr] = []
        aggregate_parts: list[tuple[_LinkScope, ast.FetchAttribute]] = []
        # Attributes first, links in document order: the JSON follows the document.
        self._collect(root, fetch, columns, orders, conditions, links, wheres, aggregate_parts, fetch.aggregate)
        if len(orders) > MAX_SORT_KEYS:
            raise FetchXmlError(f"The query can include at most {MAX_SORT_KEYS} orders (order elements or "
                                f"OrderExpressions).", code="0x80040203")
        if len(columns) > MAX_COLUMNS:
            raise FetchXmlError(f"The query can return at most {MAX_COLUMNS} columns (attribute elements, "
                                f"all-attributes and link-entity columns together).", code="0x80040203")
        if fetch.filter is not None:
            wheres.insert(0, self._bind_condition_tree(fetch.filter, root))
        where = None
        for part in wheres:
            where = part if where is None else b.BoolOp("and", where, part)

        top = fetch.top
        if top is not None and top > MAX_TOP:
            raise FetchXmlError(f"The 'top' attribute can't be greater than {MAX_TOP}.", code="0x80041108")
        page_size = fetch.count
        if page_size is not None and page_size > MAX_PAGE_SIZE:
            raise FetchXmlError(f"The 'count' attribute can't be greater than {MAX_PAGE_SIZE}.", code="0x80041108")
        page = fetch.page or 1
        common = dict(link_conditions=tuple(conditions), links=tuple(links), top=top, page_size=page_size, page=page,
                      paging_cookie=fetch.paging_cookie, distinct=fetch.distinct, count=count,
                      total_record_count=fetch.total_record_count)
        if fetch.aggregate:
            apply = self._bind_aggregate(aggregate_parts, orders, where)
            limit = fetch.aggregate_limit
            if limit is not None and limit > MAX_AGGREGATE_LIMIT:
                raise FetchXmlError(f"The 'aggregatelimit' attribute can't be greater than {MAX_AGGREGATE_LIMIT}.",
                                    code="0x80041108")
            return b.BoundFetch(self.entity, (), None, (), apply=apply, aggregate_limit=limit, **common)
        if fetch.aggregate_limit is not None:
            raise FetchXmlError("The 'aggregatelimit' attribute applies to aggregate queries only.", code="0x80041108")
        by_alias = {c.name: c for c in columns if c.source is not None}
        orderby = tuple(self._order_key(scope, order, by_alias) for scope, order in orders)
        if page_size is None and top is None:
            page_size = MAX_PAGE_SIZE
        if page_size is not None and fetch.paging_cookie is None and page * page_size > SIMPLE_PAGING_LIMIT \
                and page > 1:
            raise FetchXmlError(
                f"Paging with 'page' and 'count' alone reaches at most {SIMPLE_PAGING_LIMIT} rows: use the paging "
                f"cookie to go further.", code="0x80041108")
        context_items = tuple(c.name for c in columns if c.ref.steps == () and c.source is None)
        return b.BoundFetch(self.entity, tuple(columns), where, orderby, context_items=context_items,
                            **{**common, "page_size": page_size})

    def _collect(self, scope: _LinkScope, part, columns, orders, conditions, links, wheres, aggregate_parts,
                 aggregate: bool) -> None:
        entity = scope.entity
        # FetchXML: an entity without attribute elements returns every column, as all-attributes
        # does ("It is the same as not adding any attribute elements"). A link-entity without
        # attributes returns none of its columns.
        everything = part.all_attributes or (scope.path == () and not part.attributes and not aggregate)
        if everything:
            if aggregate:
                raise FetchXmlError("An aggregate query can't use 'all-attributes'.", code="0x8004111a")
            for attribute in entity.attributes:
                if attribute.in_webapi and attribute.valid_for_read:
                    columns.append(self._column(scope, attribute, None))
        for item in part.attributes:
            attribute = self._attribute(entity, item.name)
            if aggregate:
                aggregate_parts.append((scope, item))
                continue
            if item.aggregate is not None or item.groupby or item.dategrouping is not None:
                raise FetchXmlError("The 'aggregate', 'groupby' and 'dategrouping' attributes need "
                                    "<fetch aggregate='true'>.", code="0x8004111a")
            column = self._column(scope, attribute, item.alias)
            if not any(c.name == column.name for c in columns):
                columns.append(column)
        for order in part.orders:
            orders.append((scope, order))
        for link in part.links:
            self._link(scope, link, columns, orders, conditions, links, wheres, aggregate_parts, aggregate)

    def _column(self, scope: _LinkScope, attribute: Attribute, alias: str | None) -> b.FetchColumn:
        ref = b.PropertyRef(scope.path, scope.entity, attribute)
        if alias is not None:
            return b.FetchColumn(alias, ref, attribute.name)
        if scope.alias is not None:
            return b.FetchColumn(f"{scope.alias}.{attribute.name}", ref, attribute.name)
        return b.FetchColumn(attribute.property_name, ref)

    def _link(self, parent: _LinkScope, link: ast.FetchLink, columns, orders, conditions, links, wheres,
              aggregate_parts, aggregate: bool) -> None:
        if link.link_type not in ("inner", "outer"):
            raise UnsupportedQuery(f"The link-type '{link.link_type}' is not supported by the emulator: use "
                                   f"'inner' or 'outer'.")
        if len(self._scopes) >= MAX_LINK_ENTITIES:
            raise FetchXmlError("Number of link entities in query exceeded maximum limit.", code="0x8004430d")
        target = self._table(link.name)
        if target is None:
            raise FetchXmlError.no_entity(link.name)
        to_attribute = self._attribute(parent.entity, link.to_attribute)
        from_attribute = self._attribute(target, link.from_attribute)
        alias = link.alias or self._generated_alias(target)
        if alias in self._scopes or alias == self.entity.logical_name:
            raise FetchXmlError(f"The alias '{alias}' is used by more than one link-entity.", code="0x80041109")
        # Many linked rows per row unless the link lands on the target's key (a lookup followed).
        multiplies = from_attribute.name != target.primary_id
        step = b.Link(alias, to_attribute.name, target.logical_name, from_attribute.name,
                      outer=link.link_type == "outer", multiplies=multiplies)
        scope = _LinkScope(target, alias, parent.path + (step,))
        self._scopes[alias] = scope
        path = tuple(s.navigation for s in scope.path)
        links.append(scope.path)
        if link.filter is not None:
            conditions.append((path, self._bind_condition_tree(link.filter, scope, inside_link=True)))
        if not step.outer:
            # An inner link keeps only rows that found a match: the join's key is not null.
            wheres.append(b.Compare("ne", b.PropertyRef(scope.path, target, from_attribute), b.Const(None, "null")))
        self._collect(scope, link, columns, orders, conditions, links, wheres, aggregate_parts, aggregate)

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

    def _order_key(self, scope: _LinkScope, order: ast.FetchOrder, by_alias: dict) -> b.OrderKey:
        if order.alias is not None:
            column = by_alias.get(order.alias)
            if column is None:
                raise FetchXmlError(f"The order alias '{order.alias}' names no aliased attribute.", code="0x8004110a")
            return b.OrderKey(column.ref, order.descending)
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
                    target = binder._scopes.get(condition.entity)
                    if target is None:
                        raise FetchXmlError(f"The entityname '{condition.entity}' of a condition names no "
                                            f"link-entity alias.", code="0x8004110a")
                return binder.bind_condition(condition, target.entity, target.path)

        inner = _ConditionBinder(self.model, self.entity, self.strict, self.aliases)
        return inner.bind_expr(node, Scope(scope.entity))

    def visit_Condition(self, condition: ast.Condition, scope: Scope):
        return self.bind_condition(condition, scope.entity, scope.steps)

    def bind_condition(self, condition: ast.Condition, entity: Entity, path: tuple) -> b.Expr:
        attribute = self._attribute(entity, condition.attribute)
        ref = b.PropertyRef(path, entity, attribute)
        operator = condition.operator
        values = condition.values

        def expect(n: int) -> None:
            if len(values) != n:
                raise FetchXmlError(
                    f"The condition operator '{operator}' on '{attribute.name}' takes {n} value"
                    f"{'' if n == 1 else 's'}; {len(values)} given.", code="0x80041106")

        def converted() -> list:
            return [condition_value(v, ref, operator) for v in values]

        if operator in _COMPARISONS:
            expect(1)
            return b.Compare(_COMPARISONS[operator], ref, b.Const(converted()[0], ref.edm_type))
        if operator in ("Null", "NotNull"):
            expect(0)
            return b.Compare("eq" if operator == "Null" else "ne", ref, b.Const(None, "null"))
        if operator in _PATTERNS:
            expect(1)
            if attribute.type not in (T.STRING, T.MEMO):
                raise FetchXmlError(f"The condition operator '{operator}' applies to text columns; "
                                    f"'{attribute.name}' is {attribute.edm_type}.", code="0x80041106")
            prefix, suffix, negated = _PATTERNS[operator]
            return b.Like(ref, f"{prefix}{values[0]}{suffix}", negated)
        if operator in ("In", "NotIn"):
            if not values:
                raise FetchXmlError(f"The condition operator '{operator}' on '{attribute.name}' needs at least one "
                                    f"value.", code="0x80041106")
            return b.InList(ref, tuple(converted()), negated=operator == "NotIn")
        if operator in ("Between", "NotBetween"):
            expect(2)
            low, high = converted()
            return b.Range(ref, low, high, negated=operator == "NotBetween")
        if operator in CALLER_FUNCTIONS:
            expect(0)
            if attribute.type not in (T.LOOKUP, T.OWNER, T.UNIQUEIDENTIFIER):
                raise FetchXmlError(f"The condition operator '{operator}' applies to lookup columns; "
                                    f"'{attribute.name}' is {attribute.edm_type}.", code="0x80041106")
            which, negated = CALLER_FUNCTIONS[operator]
            return b.CallerCondition(ref, which, negated)
        if operator in ON_FUNCTIONS or operator in CLOCK_FUNCTIONS:
            if attribute.type is not T.DATETIME:
                raise FetchXmlError(f"The condition operator '{operator}' applies to date and time columns; "
                                    f"'{attribute.name}' is {attribute.edm_type}.", code="0x80041106")
            if operator in ON_FUNCTIONS:
                expect(1)
                return day_condition(operator, ref, from_epoch(converted()[0]).date())
            if CLOCK_FUNCTIONS[operator].takes_value:
                expect(1)
                text = values[0].strip()
                if not (text.isascii() and text.isdigit()) or whole_number(text) > 2 ** 31 - 1:
                    raise FetchXmlError(f"The condition operator '{operator}' takes a whole number of at least 0, "
                                        f"not '{values[0]}'.", code="0x80041108")
                return b.ClockCondition(operator, ref, whole_number(text))
            expect(0)
            return b.ClockCondition(operator, ref, None)
        raise FetchXmlError(f"The condition operator '{operator}' is not valid.", code="0x80041120")

    # ------------------------------------------------------------------------------ aggregates

    def _bind_aggregate(self, parts, orders, where) -> b.BoundApply:
        keys: list[b.GroupKey] = []
        values: list[b.AggregateValue] = []
        names: set[str] = set()
        if not parts:
            raise FetchXmlError("An aggregate query needs at least one attribute with 'aggregate' or 'groupby'.",
                                code="0x8004111a")
        grouped = sum(1 for _scope, item in parts if item.groupby)
        if grouped > MAX_GROUP_KEYS:
            raise FetchXmlError(f"An aggregate query can include at most {MAX_GROUP_KEYS} attributes with "
                                f"groupby='true'.", code="0x80040203")
        if len(parts) - grouped > MAX_AGGREGATES:
            raise FetchXmlError(f"An aggregate query can include at most {MAX_AGGREGATES} attributes with "
                                f"aggregate='...'.", code="0x80040203")
        for scope, item in parts:
            attribute = self._attribute(scope.entity, item.name)
            ref = b.PropertyRef(scope.path, scope.entity, attribute)
            if item.alias is None:
                raise FetchXmlError(f"An attribute of an aggregate query needs an alias ('{item.name}' has none).",
                                    code="0x8004110b")
            if item.alias in names:
                raise FetchXmlError(f"The alias '{item.alias}' is used more than once.", code="0x80041109")
            names.add(item.alias)
            if item.groupby == (item.aggregate is not None):
                raise FetchXmlError(f"The attribute '{item.name}' of an aggregate query takes either "
                                    f"aggregate='...' or groupby='true'.", code="0x8004111a")
            if item.groupby:
                grouping = item.dategrouping
                if grouping is not None:
                    if grouping.startswith("fiscal"):
                        raise UnsupportedQuery(f"The date grouping '{grouping}' is not supported by the emulator.")
                    if attribute.type is not T.DATETIME:
                        raise FetchXmlError(f"The date grouping '{grouping}' applies to date and time columns; "
                                            f"'{attribute.name}' is {attribute.edm_type}.", code="0x8004111a")
                keys.append(b.GroupKey(ref, item.alias, grouping, attribute.name))
                continue
            if item.dategrouping is not None:
                raise FetchXmlError("'dategrouping' goes with groupby='true'.", code="0x8004111a")
            method = _AGGREGATE_METHOD[item.aggregate]
            if item.distinct:
                if method != "countcolumn":
                    raise FetchXmlError("distinct='true' applies to the countcolumn aggregate only.",
                                        code="0x8004111a")
                method = "countdistinct"
            if method in ("sum", "average") and attribute.type not in _NUMERIC:
                raise FetchXmlError(f"The aggregate '{item.aggregate}' applies to number columns; "
                                    f"'{attribute.name}' is {attribute.edm_type}.", code="0x8004111a")
            if method in ("min", "max") and attribute.type not in _NUMERIC | {T.DATETIME}:
                raise FetchXmlError(f"The aggregate '{item.aggregate}' applies to number and date columns; "
                                    f"'{attribute.name}' is {attribute.edm_type}.", code="0x8004111a")
            edm = {"count": "Edm.Int32", "countcolumn": "Edm.Int32", "countdistinct": "Edm.Int32",
                   "average": "Edm.Decimal"}.get(method, ref.edm_type)
            values.append(b.AggregateValue(method, None if method == "count" else ref, item.alias, edm,
                                           attribute.name))
        orderby = []
        for _scope, order in orders:
            if order.alias is None:
                raise FetchXmlError("An aggregate query orders by alias: <order alias='...'/>.", code="0x8004110a")
            if order.alias not in names:
                raise FetchXmlError(f"The order alias '{order.alias}' names no attribute of the query.",
                                    code="0x8004110a")
            orderby.append(b.AggregateOrder(order.alias, order.descending))
        return b.BoundApply(where, tuple(keys), tuple(values), None, tuple(orderby))

