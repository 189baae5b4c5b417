"""Bound expressions -> SQLAlchemy column expressions, with the joins their property paths need.

`ExpressionCompiler` is the visitor that `$filter`, FetchXML conditions, `$apply` and `$orderby`
all go through; `compiler.py` builds whole statements on top of it and `compile_apply.py` the
aggregated ones. Values that are only known when a query runs (the clock, the caller) become
named bind parameters, listed in `params` for `query/execute.py` to fill.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

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
    not_,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.sql import ColumnElement, FromClause
from sqlalchemy.sql.expression import BindParameter, bindparam

from ..model import Attribute, Entity, EntityModel
from ..store.schema import METADATA, readable_column
from . import bound as b
from .compiled import RuntimeParam
from .datefunctions import clock_bounds


@dataclass
class ExpressionCompiler:
    model: EntityModel
    entity: Entity
    annotations: bool = False
    # The table the entity's columns are read from: its own, or one that holds some of its columns
    # under the same names (`compile_apply.py`: the counts of a counted grouping).
    root_table: FromClause | None = None
    # The joins made so far, by path from the root (a tuple of navigation names or link aliases).
    joins: dict = field(default_factory=dict, init=False)
    # The FROM clause: the root table and every join made so far.
    source: FromClause = field(init=False)
    params: list[RuntimeParam] = field(default_factory=list, init=False)
    # FetchXML: a link-entity's filter, by its path; it is part of that link's ON clause.
    link_conditions: dict = field(default_factory=dict, init=False)
    # $apply: aggregate aliases -> their SQL, for filters and orders over the aggregated rows.
    aggregate_expressions: dict = field(default_factory=dict, init=False)
    _lambda_aliases: dict = field(default_factory=dict, init=False)
    _lambda_joins: list = field(default_factory=list, init=False)
    _lambda_counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1), init=False)
    _label_counter: itertools.count[int] = field(default_factory=itertools.count, init=False)

    def __post_init__(self) -> None:
        self.root = self.root_table if self.root_table is not None else METADATA.tables[self.entity.logical_name]
        self.source = self.root

    # --------------------------------------------------------------------------- joins

    def table_for(self, steps: tuple[b.JoinStep, ...], base=None, base_key: tuple = ()):
        """The (aliased) table reached from the root through `steps`, LEFT-joined once per path."""
        current = base if base is not None else self.root
        path: tuple = base_key
        for step in steps:
            path = path + (step.navigation,)
            alias = self.joins.get(path)
            if alias is None:
                target = self.model.entity(step.target)
                alias = METADATA.tables[target.logical_name].alias(f"j{len(self.joins) + 1}")
                # A FetchXML link-entity joins on its own `from` column, and its filter is part of the join.
                target_column = getattr(step, "target_column", target.primary_id)
                onclause = current.c[step.attribute] == alias.c[target_column]
                self.joins[path] = alias
                condition = self.link_conditions.get(path)
                if condition is not None:
                    onclause = and_(onclause, self.predicate(condition))
                if base is None:
                    self.source = self.source.outerjoin(alias, onclause)
                else:
                    self._lambda_joins.append((alias, onclause))
            current = alias
        return current

    def join_expansion(self, path: tuple, target: Entity, parent_column):
        """A LEFT join of `target` on its key (a single-valued `$expand`), kept under `path`."""
        alias = METADATA.tables[target.logical_name].alias(f"j{len(self.joins) + 1}")
        self.joins[path] = alias
        self.source = self.source.outerjoin(alias, parent_column == alias.c[target.primary_id])
        return alias

    def column(self, ref: b.PropertyRef):
        if ref.via is not None:
            lam_alias = self._lambda_aliases[(ref.via.navigation, ref.via.variable)]
            # Joins inside a lambda belong to that lambda's subquery: key them by its (unique) alias,
            # not by the variable name, which two lambdas may share.
            table = self.table_for(ref.steps, base=lam_alias, base_key=("λ", lam_alias.name))
        else:
            table = self.table_for(ref.steps)
        return readable_column(table, ref.attribute.name)

    def sort_expression(self, ref: b.PropertyRef) -> tuple[ColumnElement, Attribute]:
        """What `$orderby` sorts a property by, and the attribute its values have: a lookup sorts by
        the related row's primary name (webapi/query/order-rows.md, "Lookup Columns"), any other
        column by its value."""
        column = self.column(ref)
        attribute = ref.attribute
        if not attribute.is_lookup or not attribute.targets:
            return column, attribute
        table = column.table
        names = []
        for target_name in attribute.targets:
            target = self.model.entity(target_name)
            if target.primary_name is None:
                continue
            target_table = METADATA.tables[target_name].alias(f"s{next(self._label_counter)}")
            names.append((target_name, target.columns[target.primary_name], select(
                target_table.c[target.primary_name]
            ).where(target_table.c[target.primary_id] == column).scalar_subquery()))
        if not names:
            return column, attribute
        # Names compare as Dataverse's collation does, ignoring case (as `$orderby=name` does here).
        if attribute.type_column and len(names) > 1:
            type_column = table.c[attribute.type_column]
            return case(*((type_column == t, q) for t, _, q in names)).collate("NOCASE"), names[0][1]
        return names[0][2].collate("NOCASE"), names[0][1]

    def lookup_columns(self, table, attribute: Attribute, prefix: str, columns: list) -> tuple[str | None, str | None]:
        """When annotations are wanted, select a lookup's display name (and, for a polymorphic
        lookup, its target's logical name) into `columns`; returns their labels."""
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
        if expr.name == "now":
            return self._clock_param("now", None, upper=False)
        return _FUNCTIONS[expr.name](args)  # the binder admits no other name

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
        if not any(p.name == name for p in self.params):
            self.params.append(RuntimeParam(name, caller=expr.which))
        value: BindParameter[Any] = bindparam(name)
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
        source: FromClause = alias
        for join_alias, onclause in joins:
            source = source.outerjoin(join_alias, onclause)
        if expr.operator == "any":
            where = link if condition is None else and_(link, condition)
            return exists(select(literal(1)).select_from(source).where(where))
        assert condition is not None  # the binder refuses all() without a predicate
        return not_(exists(select(literal(1)).select_from(source).where(and_(link, not_(condition)))))

    def visit_AggregateRef(self, expr: b.AggregateRef):
        return self.aggregate_expressions[expr.alias]

    def _clock_param(self, function: str, amount: int | None, *, upper: bool):
        name = f"clock_{function}_{amount}_{'hi' if upper else 'lo'}"
        if not any(p.name == name for p in self.params):
            self.params.append(RuntimeParam(name, function, amount, upper))
        return bindparam(name)


def _substring(args: list[Any]) -> ColumnElement[Any]:
    return func.substr(args[0], args[1] + 1, *args[2:]) if len(args) == 3 else func.substr(args[0], args[1] + 1)


def _date_part(pattern: str, args: list[Any]) -> ColumnElement[Any]:
    return cast(func.strftime(pattern, args[0], "unixepoch"), Integer())


def _floor(args: list[Any]) -> ColumnElement[Any]:
    truncated = cast(args[0], Integer())
    return truncated - case((args[0] < truncated, 1), else_=0)


def _ceiling(args: list[Any]) -> ColumnElement[Any]:
    truncated = cast(args[0], Integer())
    return truncated + case((args[0] > truncated, 1), else_=0)


# The canonical functions (but `now`, a runtime parameter) over their compiled arguments.
_FUNCTIONS: dict[str, Callable[[list[Any]], ColumnElement[Any]]] = {
    "contains": lambda args: args[0].like(literal("%") + args[1] + literal("%")),
    "startswith": lambda args: args[0].like(args[1] + literal("%")),
    "endswith": lambda args: args[0].like(literal("%") + args[1]),
    "tolower": lambda args: func.lower(args[0]),
    "toupper": lambda args: func.upper(args[0]),
    "trim": lambda args: func.trim(args[0]),
    "length": lambda args: func.length(args[0]),
    "indexof": lambda args: func.instr(args[0], args[1]) - 1,
    "substring": _substring,
    "concat": lambda args: args[0] + args[1],
    "year": partial(_date_part, "%Y"),
    "month": partial(_date_part, "%m"),
    "day": partial(_date_part, "%d"),
    "hour": partial(_date_part, "%H"),
    "minute": partial(_date_part, "%M"),
    "second": partial(_date_part, "%S"),
    "date": lambda args: (args[0] // 86400) * 86400,
    "round": lambda args: func.round(args[0]),
    "floor": _floor,
    "ceiling": _ceiling,
}


def _equality_list(expr: b.BoolOp) -> tuple[b.PropertyRef, list] | None:
    """(column, values) when an OR chain only compares one column with non-null constants."""
    column: b.PropertyRef | None = None
    values: list[Any] = []
    pending: list[b.Expr] = [expr]
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
    return (column, values) if column is not None and len(values) > 2 else None


def _owner_of(model: EntityModel, lam: b.Lambda) -> str:
    """The logical name of the table that owns the lambda's collection navigation."""
    for entity in model.entities:
        if lam.navigation in entity.one_to_many:
            return entity.logical_name
    raise AssertionError(lam.navigation)  # pragma: no cover
