"""Bound tree -> SQLAlchemy Core, plus the `Shape` that tells the serializer which labelled
column holds which property.

The compiler knows nothing of HTTP or of paging cookies; it emits a statement ordered by a
total order (the requested keys, then the primary key) so that the caller can page it with a
keyset predicate (`keyset_predicate`).
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

from sqlalchemy import (
    Float,
    Integer,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.expression import bindparam

from ..model import Attribute, Entity, EntityModel, ManyToOne, OneToMany
from ..store.schema import METADATA
from . import bound as b
from .datefunctions import clock_bounds

# ------------------------------------------------------------------------------------ output shape


@dataclass(frozen=True)
class FieldOut:
    """One property of one entity in the output."""

    name: str
    attribute: Attribute
    label: str
    # Lookups, when annotations are wanted: the labels of the related row's primary name and of
    # the related table's logical name (polymorphic lookups only).
    name_label: str | None = None
    type_label: str | None = None
    navigation: str | None = None
    target: str | None = None
    source: str | None = None  # FetchXML: the logical name behind an alias (AttributeName annotation)


@dataclass(frozen=True)
class Shape:
    entity: Entity
    fields: tuple[FieldOut, ...]
    key_label: str | None  # None: the rows carry no key (FetchXML distinct)
    key_selected: bool
    etag_label: str | None
    # Properties every row carries by inheritance (systemuser.ownerid mirrors systemuserid).
    inherited: tuple[str, ...] = ()
    single: tuple[tuple[str, "Shape", bool], ...] = ()  # (navigation, shape, is $ref)
    collections: tuple[tuple[str, "CollectionPlan"], ...] = ()
    # What the serializer derives from the fields once (`api/serialize.py`), filled on first use.
    serializer_cache: dict = field(default_factory=dict, init=False, compare=False, repr=False)


@dataclass(frozen=True)
class CollectionPlan:
    """A collection-valued expansion, run as one query per page of parent rows."""

    navigation: OneToMany
    statement: Select  # takes the bind parameter "parent_keys" (a JSON array)
    parent_label: str
    shape: Shape
    params: tuple["ClockParam", ...]
    sql_cache: dict = field(default_factory=dict, init=False, compare=False, repr=False)


@dataclass(frozen=True)
class OrderColumn:
    label: str
    expression: ColumnElement
    attribute: Attribute
    descending: bool
    cookie_name: str


@dataclass(frozen=True)
class ClockParam:
    """A bind parameter computed at execution: a clock bound, or the caller's ids."""

    name: str
    function: str | None = None
    amount: int | None = None
    upper: bool = False
    caller: str | None = None  # "user" | "businessunit"


@dataclass(frozen=True)
class AggregateOut:
    name: str
    label: str
    edm_type: str
    attribute: Attribute | None = None  # for group keys: the grouped attribute
    name_label: str | None = None
    type_label: str | None = None
    target: str | None = None
    navigation: str | None = None
    is_aggregate: bool = False
    source: str | None = None  # FetchXML: the aggregated or grouped column (AttributeName annotation)


@dataclass(frozen=True)
class CompiledQuery:
    statement: Select
    shape: Shape | None
    order: tuple[OrderColumn, ...]
    params: tuple[ClockParam, ...]
    # For $apply: the output columns, and the statement that counts the rows fed to aggregation.
    aggregate_outputs: tuple[AggregateOut, ...] = ()
    aggregate_input: Select | None = None
    count_statement: Select | None = None
    filtered: Select | None = None  # the filtered rows, unordered (for $count)
    query: b.BoundQuery | None = None
    # The statement's variants compiled to SQLite text (`query/execute.py`), filled on first use.
    sql_cache: dict = field(default_factory=dict, init=False, compare=False, repr=False)


# ------------------------------------------------------------------------------------ compiler


def _navigation_for_lookup(entity: Entity, attribute: Attribute) -> str | None:
    for rel in entity.many_to_one:
        if rel.attribute == attribute.name and len(attribute.targets) == 1:
            return rel.navigation
    return attribute.name if attribute.name == "ownerid" else None


@dataclass
class Compiler:
    model: EntityModel
    entity: Entity
    annotations: bool = False
    _joins: dict = field(default_factory=dict)
    _lambda_aliases: dict = field(default_factory=dict)
    _params: list = field(default_factory=list)
    _label_counter: "itertools.count[int]" = field(default_factory=itertools.count)
    _lambda_joins: list = field(default_factory=list)
    _aggregate_expressions: dict = field(default_factory=dict)
    _lambda_counter: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1))
    _link_conditions: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = METADATA.tables[self.entity.logical_name]
        self._from = self.root

    # --------------------------------------------------------------------------- joins

    def table_for(self, steps: tuple[ManyToOne, ...], base=None, base_key=()):
        """The (aliased) table reached from the root through `steps`, LEFT-joined once per path."""
        current = base if base is not None else self.root
        path: tuple = base_key
        for step in steps:
            path = path + (step.navigation,)
            alias = self._joins.get(path)
            if alias is None:
                target = self.model.entity(step.target)
                alias = METADATA.tables[target.logical_name].alias(f"j{len(self._joins) + 1}")
                # A FetchXML link-entity joins on its own `from` column, and its filter is part of the join.
                target_column = getattr(step, "target_column", target.primary_id)
                onclause = current.c[step.attribute] == alias.c[target_column]
                self._joins[path] = alias
                condition = self._link_conditions.get(path)
                if condition is not None:
                    onclause = and_(onclause, self.predicate(condition))
                if base is None:
                    self._from = self._from.outerjoin(alias, onclause)
                else:
                    self._lambda_joins.append((alias, onclause))
            current = alias
        return current

    def column(self, ref: b.PropertyRef):
        if ref.via is not None:
            lam_alias = self._lambda_aliases[(ref.via.navigation, ref.via.variable)]
            # Joins inside a lambda belong to that lambda's subquery: key them by its (unique) alias,
            # not by the variable name, which two lambdas may share.
            table = self.table_for(ref.steps, base=lam_alias, base_key=("λ", lam_alias.name))
        else:
            table = self.table_for(ref.steps)
        return table.c[ref.attribute.name]

    # --------------------------------------------------------------------------- expressions

    def predicate(self, expr) -> ColumnElement:
        if isinstance(expr, b.PropertyRef):
            return self.column(expr) == 1
        if isinstance(expr, b.Const):
            return true() if expr.value else false()
        return self.expression(expr)

    def expression(self, expr) -> ColumnElement:
        return getattr(self, f"visit_{type(expr).__name__}")(expr)

    def visit_PropertyRef(self, expr: b.PropertyRef):
        return self.column(expr)

    def visit_Const(self, expr: b.Const):
        if expr.value is None:
            return null()
        if isinstance(expr.value, bool):
            return literal(int(expr.value), Integer())
        return literal(expr.value)

    def visit_Compare(self, expr: b.Compare):
        left, right = expr.left, expr.right
        if isinstance(right, b.Const) and right.value is None:
            column = self.expression(left)
            return column.is_(None) if expr.op == "eq" else column.is_not(None)
        if isinstance(left, b.Const) and left.value is None:
            column = self.expression(right)
            return column.is_(None) if expr.op == "eq" else column.is_not(None)
        lhs, rhs = self.expression(left), self.expression(right)
        return {
            "eq": lambda: lhs == rhs,
            "ne": lambda: lhs != rhs,
            "gt": lambda: lhs > rhs,
            "ge": lambda: lhs >= rhs,
            "lt": lambda: lhs < rhs,
            "le": lambda: lhs <= rhs,
        }[expr.op]()

    def visit_BoolOp(self, expr: b.BoolOp):
        if expr.op == "or":
            listed = _equality_list(expr)
            if listed is not None:
                # `id eq A or id eq B or ...`, as clients send lists: one IN, which SQLite keeps flat
                # (a chain of ORs past 1000 terms is deeper than SQLite parses).
                column, values = listed
                return self.column(column).in_(values)
        combine = and_ if expr.op == "and" else or_
        return combine(self.predicate(expr.left), self.predicate(expr.right))

    def visit_NotOp(self, expr: b.NotOp):
        return not_(self.predicate(expr.operand))

    def visit_Arith(self, expr: b.Arith):
        lhs, rhs = self.expression(expr.left), self.expression(expr.right)
        if expr.op == "add":
            return lhs + rhs
        if expr.op == "sub":
            return lhs - rhs
        if expr.op == "mul":
            return lhs * rhs
        if expr.op == "mod":
            return lhs % rhs
        return cast(lhs, Float()) / rhs if expr.op == "divby" or expr.edm_type == "Edm.Double" else lhs / rhs

    def visit_NegateOp(self, expr: b.NegateOp):
        return -self.expression(expr.operand)

    def visit_Function(self, expr: b.Function):
        args = [self.expression(a) for a in expr.args]
        name = expr.name
        if name == "contains":
            return args[0].like(literal("%") + args[1] + literal("%"))
        if name == "startswith":
            return args[0].like(args[1] + literal("%"))
        if name == "endswith":
            return args[0].like(literal("%") + args[1])
        if name == "tolower":
            return func.lower(args[0])
        if name == "toupper":
            return func.upper(args[0])
        if name == "trim":
            return func.trim(args[0])
        if name == "length":
            return func.length(args[0])
        if name == "indexof":
            return func.instr(args[0], args[1]) - 1
        if name == "substring":
            return func.substr(args[0], args[1] + 1, *args[2:]) if len(args) == 3 else func.substr(args[0], args[1] + 1)
        if name == "concat":
            return args[0] + args[1]
        if name in ("year", "month", "day", "hour", "minute", "second"):
            pattern = {"year": "%Y", "month": "%m", "day": "%d", "hour": "%H", "minute": "%M", "second": "%S"}[name]
            return cast(func.strftime(pattern, args[0], "unixepoch"), Integer())
        if name == "date":
            return (args[0] // 86400) * 86400
        if name == "now":
            return self._clock_param("now", None, upper=False)
        if name == "round":
            return func.round(args[0])
        if name == "floor":
            truncated = cast(args[0], Integer())
            return truncated - case((args[0] < truncated, 1), else_=0)
        if name == "ceiling":
            truncated = cast(args[0], Integer())
            return truncated + case((args[0] > truncated, 1), else_=0)
        raise AssertionError(name)  # pragma: no cover - the binder admits no other name

    def visit_Like(self, expr: b.Like):
        column = self.expression(expr.operand)
        matched = column.like(literal(expr.pattern))
        return not_(matched) if expr.negated else matched

    def visit_InList(self, expr: b.InList):
        column = self.expression(expr.operand)
        return column.not_in(list(expr.values)) if expr.negated else column.in_(list(expr.values))

    def visit_Range(self, expr: b.Range):
        column = self.expression(expr.operand)
        inside = column.between(literal(expr.lower), literal(expr.upper))
        return not_(inside) if expr.negated else inside

    def visit_DateCondition(self, expr: b.DateCondition):
        column = self.expression(expr.operand)
        clauses = []
        if expr.lower is not None:
            clauses.append(column >= literal(expr.lower))
        if expr.upper is not None:
            clauses.append(column < literal(expr.upper))
        return and_(*clauses)

    def visit_ClockCondition(self, expr: b.ClockCondition):
        column = self.expression(expr.operand)
        # Which ends are open is a property of the function, not of the time: probe once.
        probe = dt.datetime(2000, 6, 15, 12, 0, tzinfo=dt.timezone.utc)
        lower, upper = clock_bounds(expr.function, probe, expr.amount)
        clauses = []
        if lower is not None:
            clauses.append(column >= self._clock_param(expr.function, expr.amount, upper=False))
        if upper is not None:
            clauses.append(column < self._clock_param(expr.function, expr.amount, upper=True))
        return and_(*clauses)

    def visit_CallerCondition(self, expr: b.CallerCondition):
        column = self.expression(expr.operand)
        name = f"caller_{expr.which}"
        if not any(p.name == name for p in self._params):
            self._params.append(ClockParam(name, caller=expr.which))
        value = bindparam(name)
        return column != value if expr.negated else column == value

    def visit_Lambda(self, expr: b.Lambda):
        target = METADATA.tables[expr.target.logical_name]
        alias = target.alias(f"l{next(self._lambda_counter)}")
        self._lambda_aliases[(expr.navigation, expr.variable)] = alias
        owner = self.model.entity(_owner_of(self.model, expr))
        outer = self.table_for(expr.steps)
        link = alias.c[expr.navigation.attribute] == outer.c[owner.primary_id]
        saved, self._lambda_joins = self._lambda_joins, []
        condition = self.predicate(expr.predicate) if expr.predicate is not None else None
        joins, self._lambda_joins = self._lambda_joins, saved
        source = alias
        for join_alias, onclause in joins:
            source = source.outerjoin(join_alias, onclause)
        if expr.operator == "any":
            where = link if condition is None else and_(link, condition)
            return exists(select(literal(1)).select_from(source).where(where))
        return not_(exists(select(literal(1)).select_from(source).where(and_(link, not_(condition)))))

    def visit_AggregateRef(self, expr: b.AggregateRef):
        return self._aggregate_expressions[expr.alias]

    def _clock_param(self, function: str, amount: int | None, *, upper: bool):
        name = f"clock_{function}_{amount}_{'hi' if upper else 'lo'}"
        if not any(p.name == name for p in self._params):
            self._params.append(ClockParam(name, function, amount, upper))
        return bindparam(name)

    # --------------------------------------------------------------------------- projections

    def _lookup_extras(self, table, attribute: Attribute, prefix: str, columns: list) -> tuple[str | None, str | None]:
        if not (self.annotations and attribute.is_lookup):
            return None, None
        name_label = f"{prefix}{attribute.name}__name"
        type_label = None
        lookups = []
        for target_name in attribute.targets:
            target = self.model.entity(target_name)
            target_table = METADATA.tables[target_name].alias(f"n{next(self._label_counter)}")
            if target.primary_name is None:
                continue
            subquery = (
                select(target_table.c[target.primary_name])
                .where(target_table.c[target.primary_id] == table.c[attribute.name])
                .scalar_subquery()
            )
            lookups.append((target_name, subquery))
        if attribute.type_column and len(lookups) > 1:
            type_column = table.c[attribute.type_column]
            columns.append(case(*((type_column == t, q) for t, q in lookups)).label(name_label))
            type_label = f"{prefix}{attribute.name}__type"
            columns.append(type_column.label(type_label))
        elif lookups:
            columns.append(lookups[0][1].label(name_label))
        return name_label, type_label

    def projection_columns(self, projection: b.Projection, table, prefix: str, columns: list) -> Shape:
        entity = projection.entity
        fields = []
        for attribute in projection.properties:
            label = f"{prefix}{attribute.name}"
            columns.append(table.c[attribute.name].label(label))
            name_label, type_label = self._lookup_extras(table, attribute, prefix, columns)
            fields.append(FieldOut(
                attribute.property_name, attribute, label, name_label, type_label,
                _navigation_for_lookup(entity, attribute),
                attribute.targets[0] if len(attribute.targets) == 1 else None,
            ))
        key_label = f"{prefix}{entity.primary_id}"
        key_selected = any(f.attribute.name == entity.primary_id for f in fields)
        if not key_selected:
            columns.append(table.c[entity.primary_id].label(key_label))
        etag_label = None
        if entity.has_row_version:
            etag_label = f"{prefix}versionnumber"
            columns.append(table.c["versionnumber"].label(etag_label))
        single = []
        collections = []
        for i, expansion in enumerate(projection.expansions):
            navigation = expansion.navigation
            if expansion.is_collection:
                collections.append((navigation.navigation, self.collection_plan(expansion, table)))
                continue
            path = (f"{prefix}x{i}",)
            target = self.model.entity(navigation.target)
            alias = METADATA.tables[target.logical_name].alias(f"j{len(self._joins) + 1}")
            self._joins[path] = alias
            self._from = self._from.outerjoin(alias, table.c[navigation.attribute] == alias.c[target.primary_id])
            child = self.projection_columns(expansion.projection, alias, f"{prefix}x{i}_", columns)
            is_ref = expansion.projection.context_items == ("$ref",)
            single.append((navigation.navigation, child, is_ref))
        inherited = tuple(name for name, _ in entity.inherited_properties) if projection.properties else ()
        return Shape(entity, tuple(fields), key_label, key_selected, etag_label, inherited, tuple(single), tuple(collections))

    def collection_plan(self, expansion: b.Expansion, parent_table) -> CollectionPlan:
        navigation: OneToMany = expansion.navigation
        child = Compiler(self.model, expansion.projection.entity, self.annotations)
        columns: list = []
        shape = child.projection_columns(expansion.projection, child.root, "c_", columns)
        parent_label = "parent_key"
        fk = child.root.c[navigation.attribute]
        columns.append(fk.label(parent_label))
        # The parent keys arrive as one JSON array, so that the statement compiles once.
        where = [fk.in_(select(literal_column("value")).select_from(func.json_each(bindparam("parent_keys"))))]
        if expansion.filter is not None:
            where.append(child.predicate(expansion.filter))
        order = [child._order_expression(k) for k in expansion.orderby]
        order.append(child.root.c[child.entity.primary_id].asc())
        statement = select(*columns).select_from(child._from).where(*where)
        if expansion.top is not None:
            ranked = statement.add_columns(
                func.row_number().over(partition_by=fk, order_by=order).label("rn")
            ).subquery("ranked")
            statement = (
                select(*[ranked.c[c.name] for c in columns])
                .where(ranked.c.rn <= expansion.top)
                .order_by(ranked.c[parent_label], ranked.c.rn)
            )
        else:
            statement = statement.order_by(fk, *order)
        return CollectionPlan(navigation, statement, parent_label, shape, tuple(child._params))

    def _order_expression(self, key: b.OrderKey):
        column = self.column(key.expr)
        return column.desc() if key.descending else column.asc()

    # --------------------------------------------------------------------------- queries

    def compile(self, query: b.BoundQuery) -> CompiledQuery:
        if query.apply is not None:
            return self.compile_apply(query)
        columns: list = []
        shape = self.projection_columns(query.projection, self.root, "c_", columns)
        where = self.predicate(query.filter) if query.filter is not None else None
        order = self._order_columns(query.orderby, columns)
        key_attribute = self.entity.primary_id_attribute
        key_column = self.root.c[self.entity.primary_id]
        if not any(o.expression is key_column for o in order):
            order.append(OrderColumn(shape.key_label, key_column, key_attribute, False, self.entity.primary_id))
        statement = select(*columns).select_from(self._from)
        filtered = select(literal(1).label("one")).select_from(self._from)
        if where is not None:
            statement = statement.where(where)
            filtered = filtered.where(where)
        statement = statement.order_by(*[(o.expression.desc() if o.descending else o.expression.asc()) for o in order])
        return CompiledQuery(statement, shape, tuple(order), tuple(self._params), filtered=filtered, query=query)

    def _order_columns(self, keys: tuple[b.OrderKey, ...], columns: list, *,
                       last_step_only: bool = False) -> list[OrderColumn]:
        """The requested ordering, selected as o0, o1... so that the paging cookie can read it back;
        each named in the cookie by its path (`createdby.fullname`)."""
        order = []
        for i, key in enumerate(keys):
            expression = self.column(key.expr)
            label = f"o{i}"
            columns.append(expression.label(label))
            steps = [s.navigation for s in key.expr.steps]
            cookie = ".".join((steps[-1:] if last_step_only else steps) + [key.expr.attribute.name])
            order.append(OrderColumn(label, expression, key.expr.attribute, key.descending, cookie))
        return order

    def compile_fetch(self, fetch: b.BoundFetch) -> CompiledQuery:
        """A FetchXML query: columns named as FetchXML names them, link-entities as joins."""
        self._link_conditions = dict(fetch.link_conditions)
        for path in fetch.links:
            self.table_for(path)  # every link joins, selected from or not (inner links filter, some multiply)
        if fetch.apply is not None:
            projection = b.Projection(self.entity, (), (), False)
            query = b.BoundQuery(self.entity, projection, None, (), fetch.top, fetch.count, fetch.apply)
            return self.compile_apply(query)
        columns: list = []
        fields = []
        selected = []
        for i, column in enumerate(fetch.columns):
            table = self.table_for(column.ref.steps)
            attribute = column.ref.attribute
            label = f"f{i}"
            selected.append(table.c[attribute.name])
            columns.append(table.c[attribute.name].label(label))
            name_label, type_label = self._lookup_extras(table, attribute, f"f{i}_", columns)
            fields.append(FieldOut(
                column.name, attribute, label, name_label, type_label,
                _navigation_for_lookup(column.ref.entity, attribute),
                attribute.targets[0] if len(attribute.targets) == 1 else None, source=column.source,
            ))
        key_column = self.root.c[self.entity.primary_id]
        key_label = etag_label = None
        key_selected = False
        if not fetch.distinct:
            key_label = next((f.label for f in fields if f.attribute.name == self.entity.primary_id
                              and f.source is None and f.name == self.entity.primary_id), None)
            key_selected = key_label is not None
            if key_label is None:
                key_label = f"c_{self.entity.primary_id}"
                columns.append(key_column.label(key_label))
            if self.entity.has_row_version:
                etag_label = "c_versionnumber"
                columns.append(self.root.c["versionnumber"].label(etag_label))
        where = self.predicate(fetch.where) if fetch.where is not None else None
        # A link-entity's alias is unique in its query: it alone names the column in the cookie.
        order = self._order_columns(fetch.orderby, columns, last_step_only=True)
        if fetch.distinct:
            # Ties broken on every selected column, so that page N is the same rows each time.
            for field_out, expression in zip(fields, selected):
                order.append(OrderColumn(field_out.label, expression, field_out.attribute, False, field_out.attribute.name))
        elif not any(o.expression is key_column for o in order):
            order.append(OrderColumn(key_label, key_column, self.entity.primary_id_attribute, False, self.entity.primary_id))
        statement = select(*columns).select_from(self._from)
        filtered = select(literal(1).label("one")).select_from(self._from)
        if where is not None:
            statement = statement.where(where)
            filtered = filtered.where(where)
        if fetch.distinct:
            statement = statement.distinct()
            filtered = None
        statement = statement.order_by(*[(o.expression.desc() if o.descending else o.expression.asc()) for o in order])
        shape = Shape(self.entity, tuple(fields), key_label, key_selected, etag_label)
        return CompiledQuery(statement, shape, tuple(order), tuple(self._params), filtered=filtered)

    def compile_apply(self, query: b.BoundQuery) -> CompiledQuery:
        apply = query.apply
        where = self.predicate(apply.where) if apply.where is not None else None
        columns = []
        outputs = []
        group_by = []
        for i, key in enumerate(apply.keys):
            expression = self.column(key.ref)
            label = f"k{i}"
            if key.dategrouping is not None:
                expression = date_group(expression, key.dategrouping)
                columns.append(expression.label(label))
                group_by.append(expression)
                outputs.append(AggregateOut(key.output_name, label, "Edm.Int32", source=key.source))
                continue
            columns.append(expression.label(label))
            group_by.append(expression)
            attribute = key.ref.attribute
            table = self.table_for(key.ref.steps)
            name_label, type_label = self._lookup_extras(table, attribute, f"k{i}_", columns)
            outputs.append(AggregateOut(
                key.output_name, label, key.ref.edm_type, attribute, name_label, type_label,
                attribute.targets[0] if len(attribute.targets) == 1 else None,
                _navigation_for_lookup(key.ref.entity, attribute), source=key.source,
            ))
        for i, value in enumerate(apply.aggregates):
            if value.ref is None:
                expression = func.count()
            else:
                column = self.column(value.ref)
                expression = {
                    "sum": func.sum, "min": func.min, "max": func.max, "average": func.avg,
                    "countdistinct": lambda c: func.count(c.distinct()),
                    "countcolumn": func.count,
                }[value.method](column)
            label = f"a{i}"
            self._aggregate_expressions[value.alias] = expression
            columns.append(expression.label(label))
            outputs.append(AggregateOut(value.alias, label, value.edm_type,
                                        value.ref.attribute if value.ref is not None and value.method in ("min", "max") else None,
                                        is_aggregate=True, source=value.source))
        statement = select(*columns).select_from(self._from)
        aggregate_input = select(literal(1).label("one")).select_from(self._from)
        if where is not None:
            statement = statement.where(where)
            aggregate_input = aggregate_input.where(where)
        if group_by:
            statement = statement.group_by(*group_by)
        if apply.having is not None:
            statement = statement.having(self.predicate(apply.having))
        by_name = {o.name: o for o in outputs}
        key_names = [k.output_name for k in apply.keys]
        if apply.orderby:
            # Each key's own expression, whatever the direction (an ascending key used to reach for
            # the expression of the key before it).
            ordered = []
            for o in apply.orderby:
                expression = (self._aggregate_expressions[o.name] if by_name[o.name].is_aggregate
                              else group_by[key_names.index(o.name)])
                ordered.append(expression.desc() if o.descending else expression.asc())
            statement = statement.order_by(*ordered)
        elif group_by:
            statement = statement.order_by(*[g.asc() for g in group_by])
        return CompiledQuery(statement, None, (), tuple(self._params), tuple(outputs), aggregate_input, query=query)


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


def _equality_list(expr: b.BoolOp) -> tuple[b.PropertyRef, list] | None:
    """(column, values) when an OR chain only compares one column with non-null constants."""
    column, values, pending = None, [], [expr]
    while pending:
        node = pending.pop()
        if isinstance(node, b.BoolOp) and node.op == "or":
            pending.extend((node.right, node.left))
            continue
        if not (isinstance(node, b.Compare) and node.op == "eq" and isinstance(node.left, b.PropertyRef)
                and isinstance(node.right, b.Const) and node.right.value is not None):
            return None
        if column is None:
            column = node.left
        elif node.left != column:
            return None
        values.append(node.right.value)
    return (column, values) if len(values) > 2 else None


def _owner_of(model: EntityModel, lam: b.Lambda) -> str:
    """The logical name of the table that owns the lambda's collection navigation."""
    for entity in model.entities:
        if lam.navigation in entity.one_to_many:
            return entity.logical_name
    raise AssertionError(lam.navigation)  # pragma: no cover


# --------------------------------------------------------------------------------------- paging


def keyset_predicate(order: tuple[OrderColumn, ...], values: tuple) -> ColumnElement:
    """Rows strictly after `values` in the order (SQLite sorts NULL first ascending, last descending,
    as SQL Server does)."""
    clauses = []
    for i, column in enumerate(order):
        equal_before = [_equal(order[j].expression, values[j]) for j in range(i)]
        after = _after(column.expression, values[i], column.descending)
        if after is None:
            continue
        clauses.append(and_(*equal_before, after))
    return or_(*clauses) if clauses else false()


def _equal(expression, value):
    return expression.is_(None) if value is None else expression == value


def _after(expression, value, descending: bool):
    if not descending:
        if value is None:
            return expression.is_not(None)
        return expression > value
    if value is None:
        return None
    return or_(expression < value, expression.is_(None))
