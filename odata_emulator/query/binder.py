"""Syntax tree -> bound tree: resolves names against the entity model, checks types, and refuses
what Dataverse refuses (strict mode) or lets it through (loose mode).

Error texts follow ODataLib and Dataverse where they are known; see docs/deviations.md for the
ones that are the emulator's own wording.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from ..errors import QueryError, TypeMismatch, UnknownProperty, UnsupportedQuery
from ..model import Attribute, AttributeType as T, Entity, EntityModel, ManyToOne, OneToMany
from ..store.values import normalize_guid, parse_datetime, to_epoch
from . import ast, bound as b
from .datefunctions import CLOCK_FUNCTIONS
from .numbers import whole_number
from .options import QueryOptions
from .parser import parse

MAX_EXPANSIONS = 15
# The emulator's own caps (Dataverse documents none; docs/deviations.md lists them). Every sort
# key, group key and aggregate is a column of the SQL statement, and SQLite refuses more than
# 2,000 (SQLITE_MAX_COLUMN, which bounds ORDER BY and GROUP BY terms too); a page after the
# first compares every sort key with the paging cookie, a cost that grows with the square of
# their number (about a second at 100 keys). The FetchXML binder applies the same caps.
MAX_SORT_KEYS = 100
MAX_GROUP_KEYS = 100
MAX_AGGREGATES = 100

_KIND = {
    "eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan", "ge": "GreaterThanOrEqual", "lt": "LessThan",
    "le": "LessThanOrEqual", "and": "And", "or": "Or", "add": "Add", "sub": "Subtract", "mul": "Multiply",
    "div": "Divide", "divby": "Divide", "mod": "Modulo", "has": "Has",
}
_NUMERIC = {"Edm.Int32", "Edm.Int64", "Edm.Decimal", "Edm.Double", "Edm.Byte", "Edm.Int16", "Edm.Single"}
_STRING_FUNCTIONS = {"contains", "startswith", "endswith"}
# Canonical functions Dataverse refuses; loose mode evaluates them. name -> (arity, result type or None
# when it is the first argument's type).
_LOOSE_FUNCTIONS: dict[str, tuple[tuple[int, ...], str | None]] = {
    "tolower": ((1,), "Edm.String"),
    "toupper": ((1,), "Edm.String"),
    "trim": ((1,), "Edm.String"),
    "length": ((1,), "Edm.Int32"),
    "indexof": ((2,), "Edm.Int32"),
    "substring": ((2, 3), "Edm.String"),
    "concat": ((2,), "Edm.String"),
    "year": ((1,), "Edm.Int32"),
    "month": ((1,), "Edm.Int32"),
    "day": ((1,), "Edm.Int32"),
    "hour": ((1,), "Edm.Int32"),
    "minute": ((1,), "Edm.Int32"),
    "second": ((1,), "Edm.Int32"),
    "date": ((1,), "Edm.Date"),
    "now": ((0,), "Edm.DateTimeOffset"),
    "round": ((1,), None),
    "floor": ((1,), None),
    "ceiling": ((1,), None),
}
_OTHER_CANONICAL = {
    "time", "totaloffsetminutes", "fractionalseconds", "totalseconds", "mindatetime", "maxdatetime",
    "cast", "isof", "geo.distance", "geo.length", "geo.intersects", "matchesPattern", "hassubset",
    "hassubsequence", "tolower", "toupper",
}
_DATAVERSE_NAMESPACE = "Microsoft.Dynamics.CRM"
_SET_FUNCTIONS = {"In": False, "NotIn": True}
_RANGE_FUNCTIONS = {"Between": False, "NotBetween": True}
ON_FUNCTIONS = {"On", "OnOrAfter", "OnOrBefore"}
CALLER_FUNCTIONS = {
    "EqualUserId": ("user", False),
    "NotEqualUserId": ("user", True),
    "EqualBusinessId": ("businessunit", False),
    "NotEqualBusinessId": ("businessunit", True),
}
_AGGREGATE_METHODS = {"sum", "min", "max", "average", "countdistinct"}


def type_name(entity: Entity) -> str:
    return f"Microsoft.Dynamics.CRM.{entity.logical_name}"


def edm_of(expr) -> str:
    if isinstance(expr, (b.PropertyRef, b.Const, b.Arith, b.NegateOp, b.Function, b.AggregateRef)):
        return expr.edm_type
    return "Edm.Boolean"


@dataclass
class _Scope:
    """Where names resolve: the root entity, plus a lambda variable when inside any/all."""

    entity: Entity
    steps: tuple[ManyToOne, ...] = ()
    variable: str | None = None
    variable_lambda: b.Lambda | None = None
    outer: "_Scope | None" = None


@dataclass
class Binder:
    model: EntityModel
    entity: Entity
    strict: bool = True
    aliases: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------------------ query

    def bind_query(self, options: QueryOptions) -> b.BoundQuery:
        self.aliases = dict(options.aliases)
        top = _parse_top(options.top) if options.top is not None else None
        count = parse_count(options.count) if options.count is not None else False
        skip = None
        for key, value in options.refused:
            if key == "$skip":
                skip = _parse_nonnegative(value, "$skip")
        if options.apply is not None:
            if options.select is not None or options.expand is not None:
                raise UnsupportedQuery("$select and $expand cannot be combined with $apply.")
            apply = self.bind_apply(parse("apply", options.apply), options)
            projection = b.Projection(self.entity, (), (), False)
            return b.BoundQuery(self.entity, projection, None, (), top, count, apply, skip)
        select = parse("select", options.select) if options.select is not None else None
        expand = parse("expand", options.expand) if options.expand is not None else None
        projection = self.bind_projection(self.entity, select, expand)
        if _count_expansions(projection) > MAX_EXPANSIONS:
            raise QueryError(f"The $expand query option can include at most {MAX_EXPANSIONS} expansions.")
        where = self.bind_filter(parse("filter", options.filter)) if options.filter is not None else None
        orderby = self.bind_orderby(parse("orderby", options.orderby)) if options.orderby is not None else ()
        return b.BoundQuery(self.entity, projection, where, orderby, top, count, None, skip)

    # ------------------------------------------------------------------------------ $select / $expand

    def bind_projection(self, entity: Entity, select: ast.Select | None, expand: ast.Expand | None) -> b.Projection:
        if select is None or select.star:
            properties = tuple(entity.properties.values())
            context_items: tuple[str, ...] = ("*",) if select is not None else ()
            explicit = False
        else:
            chosen: dict[str, Attribute] = {}
            for item in select.items:
                if len(item.path) != 1:
                    raise QueryError(
                        "Found a path with multiple navigation properties or a bad complex property path in a select "
                        "clause. Please reword your query such that each level of select or expand only contains "
                        "either TypeSegments or Properties."
                    )
                name = item.path[0]
                attribute = entity.properties.get(name)
                if attribute is None:
                    raise UnknownProperty(name, type_name(entity))
                chosen.setdefault(name, attribute)
            properties = tuple(chosen.values())
            context_items = tuple(chosen)
            explicit = True
        expansions = tuple(self.bind_expansion(entity, item) for item in (expand.items if expand else ()))
        return b.Projection(entity, properties, context_items, explicit, expansions)

    def bind_expansion(self, entity: Entity, item: ast.ExpandItem) -> b.Expansion:
        if len(item.path) != 1:
            raise QueryError(f"The expand path '{'/'.join(item.path)}' is not supported: expand one navigation property per item.")
        name = item.path[0]
        navigation = entity.navigations.get(name)
        if navigation is None:
            raise UnknownProperty(name, type_name(entity))
        if item.unsupported:
            raise UnsupportedQuery(f"The query option '{item.unsupported[0]}' is not supported inside $expand.")
        target = self.model.entity(navigation.target)
        is_collection = isinstance(navigation, OneToMany)
        if item.ref:
            if is_collection:
                raise QueryError("Expand with $ref is only supported on lookup type navigation property.")
            key = target.primary_id_attribute
            projection = b.Projection(target, (key,), ("$ref",), True)
            return b.Expansion(navigation, projection)
        if not is_collection and (item.filter is not None or item.orderby is not None or item.top is not None):
            raise QueryError(
                f"$filter, $orderby and $top inside $expand apply to collection-valued navigation properties; "
                f"'{name}' is single-valued."
            )
        projection = self.bind_projection(target, item.select, item.expand)
        if is_collection and any(e.is_collection for e in projection.expansions):
            raise UnsupportedQuery("Nested $expand of collection-valued navigation properties is not supported.")
        if is_collection and projection.expansions and (item.orderby is not None or item.top is not None):
            raise UnsupportedQuery("$orderby and $top are not supported with a nested $expand of a collection.")
        child = Binder(self.model, target, self.strict, self.aliases)
        where = child.bind_filter(item.filter) if item.filter is not None else None
        orderby = child.bind_orderby(item.orderby) if item.orderby is not None else ()
        top = _parse_top(str(item.top)) if item.top is not None else None
        return b.Expansion(navigation, projection, where, orderby, top)

    # ------------------------------------------------------------------------------ $orderby

    def bind_orderby(self, orderby: ast.OrderBy) -> tuple[b.OrderKey, ...]:
        _check_sort_keys(len(orderby.items))
        keys = []
        for item in orderby.items:
            expr = self.bind_expr(item.expr, _Scope(self.entity))
            if not isinstance(expr, b.PropertyRef):
                raise UnsupportedQuery("Only properties can be used in $orderby.")
            keys.append(b.OrderKey(expr, item.descending))
        return tuple(keys)

    # ------------------------------------------------------------------------------ $filter

    def bind_filter(self, node: ast.Node) -> b.Expr:
        expr = self.bind_expr(node, _Scope(self.entity))
        if edm_of(expr) != "Edm.Boolean":
            raise QueryError("The $filter expression must evaluate to a single boolean value.")
        return expr

    def bind_expr(self, node: ast.Node, scope: _Scope):
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:  # pragma: no cover - every node type has a visitor
            raise QueryError(f"Unsupported expression {type(node).__name__}.")
        return method(node, scope)

    def visit_Literal(self, node: ast.Literal, scope: _Scope) -> b.Const:
        value = node.value
        if node.edm_type == "Edm.Guid":
            value = str(value)
        elif node.edm_type == "Edm.DateTimeOffset":
            value = to_epoch(value)
        elif node.edm_type == "Edm.Date":
            value = to_epoch(value)
        elif isinstance(value, Decimal):
            value = float(value)
        return b.Const(value, node.edm_type)

    def visit_Alias(self, node: ast.Alias, scope: _Scope):
        text = self.aliases.get(node.name)
        if text is None or text == "":
            return b.Const(None, "null")
        resolving = self.__dict__.setdefault("_resolving_aliases", set())
        if node.name in resolving:  # @p1=@p1 would recurse without end
            raise QueryError(f"The parameter alias '{node.name}' refers to itself.")
        resolving.add(node.name)
        try:
            return self.bind_expr(parse("filter", text), scope)
        finally:
            resolving.discard(node.name)

    def visit_Member(self, node: ast.Member, scope: _Scope) -> b.PropertyRef:
        return self.resolve_path(node.path, scope)

    def resolve_path(self, path: tuple[str, ...], scope: _Scope) -> b.PropertyRef:
        entity, steps, via = scope.entity, scope.steps, None
        segments = list(path)
        if scope.variable is not None and segments and segments[0] == scope.variable:
            segments.pop(0)
            lam = scope.variable_lambda
            entity, steps, via = lam.target, (), lam
            if not segments:
                raise QueryError(f"The range variable '{scope.variable}' must be followed by a property.")
        for i, segment in enumerate(segments):
            last = i == len(segments) - 1
            if last:
                attribute = entity.properties.get(segment)
                if attribute is None:
                    inherited = dict(entity.inherited_properties).get(segment)
                    if inherited is not None:
                        attribute = entity.columns[inherited]
                if attribute is None:
                    if segment in entity.navigations:
                        raise QueryError(
                            f"The navigation property '{segment}' cannot be used here: name a property of it, "
                            f"as in '{segment}/{_primary_or_key(self.model, entity.navigations[segment])}'."
                        )
                    raise UnknownProperty(segment, type_name(entity))
                return b.PropertyRef(steps, entity, attribute, via)
            navigation = entity.navigations.get(segment)
            if navigation is None:
                if segment in entity.properties:
                    raise QueryError(f"The property '{segment}' is not a navigation property and has no property named '{segments[i + 1]}'.")
                raise UnknownProperty(segment, type_name(entity))
            if isinstance(navigation, OneToMany):
                raise QueryError(
                    f"The collection-valued navigation property '{segment}' can only be filtered with any() or all()."
                )
            steps = steps + (navigation,)
            entity = self.model.entity(navigation.target)
        raise UnknownProperty("", type_name(entity))  # pragma: no cover - empty path

    def visit_BinaryOp(self, node: ast.BinaryOp, scope: _Scope):
        left = self.bind_expr(node.left, scope)
        right = self.bind_expr(node.right, scope)
        op = node.op
        if op in ("and", "or"):
            for side in (left, right):
                if edm_of(side) != "Edm.Boolean":
                    raise _mismatch(left, right, op)
            return b.BoolOp(op, left, right)
        if op == "has":
            raise UnsupportedQuery("The query node Has is not supported")
        if op in _KIND and op not in ("eq", "ne", "gt", "ge", "lt", "le"):
            if self.strict:
                raise UnsupportedQuery(f"The binary operator '{_KIND[op]}' is not supported.")
            for side in (left, right):
                if edm_of(side) not in _NUMERIC and edm_of(side) != "null":
                    raise _mismatch(left, right, op)
            result = "Edm.Double" if "Edm.Double" in (edm_of(left), edm_of(right)) or op == "divby" else edm_of(left)
            return b.Arith(op, left, right, result)
        left, right = _coerce_pair(left, right, op)
        return b.Compare(op, left, right)

    def visit_Not(self, node: ast.Not, scope: _Scope):
        operand = self.bind_expr(node.operand, scope)
        if edm_of(operand) != "Edm.Boolean":
            raise QueryError(f"A unary operator with an incompatible type was detected. Found operand type "
                             f"'{edm_of(operand)}' for operator kind 'Not'.")
        return b.NotOp(operand)

    def visit_Negate(self, node: ast.Negate, scope: _Scope):
        operand = self.bind_expr(node.operand, scope)
        if self.strict:
            raise UnsupportedQuery("The unary operator 'Negate' is not supported.")
        if edm_of(operand) not in _NUMERIC:
            raise QueryError(f"A unary operator with an incompatible type was detected. Found operand type "
                             f"'{edm_of(operand)}' for operator kind 'Negate'.")
        return b.NegateOp(operand, edm_of(operand))

    def visit_In(self, node: ast.In, scope: _Scope):
        if self.strict:
            raise UnsupportedQuery("The query node In is not supported")
        operand = self.bind_expr(node.operand, scope)
        values = []
        for item in node.items:
            const = self.bind_expr(item, scope)
            if not isinstance(const, b.Const):
                raise QueryError("The 'in' operator takes a list of literals.")
            _, const = _coerce_pair(operand, const, "eq")
            values.append(const.value)
        return b.InList(operand, tuple(values))

    def visit_Call(self, node: ast.Call, scope: _Scope):
        name = node.name
        args = tuple(self.bind_expr(a, scope) for a in node.args)
        if name in _STRING_FUNCTIONS:
            if len(args) != 2 or any(edm_of(a) not in ("Edm.String", "null") for a in args):
                raise QueryError(
                    f"No function signature for the function with name '{name}' matches the specified arguments. "
                    f"The function signatures considered are: {name}(Edm.String Nullable=true, Edm.String Nullable=true)."
                )
            return b.Function(name, args, "Edm.Boolean")
        if name in _LOOSE_FUNCTIONS or name in _OTHER_CANONICAL:
            if self.strict or name not in _LOOSE_FUNCTIONS:
                raise UnsupportedQuery(f"The '{name}' function is not supported.")
            arities, result = _LOOSE_FUNCTIONS[name]
            if len(args) not in arities:
                raise QueryError(f"The function '{name}' takes {' or '.join(map(str, arities))} arguments.")
            return b.Function(name, args, result or edm_of(args[0]))
        raise QueryError(
            f"An unknown function with name '{name}' was found. This may also be a function import or a key "
            f"lookup on a navigation property, which is not allowed."
        )

    def visit_Lambda(self, node: ast.Lambda, scope: _Scope):
        *nav_path, collection = node.path
        entity, steps = scope.entity, scope.steps
        for segment in nav_path:
            navigation = entity.navigations.get(segment)
            if not isinstance(navigation, ManyToOne):
                raise UnknownProperty(segment, type_name(entity))
            steps = steps + (navigation,)
            entity = self.model.entity(navigation.target)
        navigation = entity.navigations.get(collection)
        if not isinstance(navigation, OneToMany):
            if navigation is None:
                raise UnknownProperty(collection, type_name(entity))
            raise QueryError(f"The any/all operators apply to collection-valued navigation properties; '{collection}' is single-valued.")
        if steps:
            raise QueryError("Lambda operators are not supported on a collection nested under a lookup.")
        if scope.variable is not None:
            raise UnsupportedQuery("Nested lambda operators are not supported by the emulator.")
        target = self.model.entity(navigation.target)
        shell = b.Lambda(steps, navigation, target, node.operator, None, node.variable)
        predicate = None
        if node.predicate is not None:
            inner = _Scope(target, (), node.variable, shell, scope)
            predicate = self.bind_expr(node.predicate, inner)
            if edm_of(predicate) != "Edm.Boolean":
                raise QueryError("The expression of a lambda operator must be boolean.")
        elif node.operator == "all":
            raise QueryError("The all() operator requires a predicate.")
        return b.Lambda(steps, navigation, target, node.operator, predicate, node.variable)

    def visit_JsonArray(self, node: ast.JsonArray, scope: _Scope):
        raise QueryError("A JSON array is only valid as the PropertyValues parameter of a query function.")

    def visit_DataverseCall(self, node: ast.DataverseCall, scope: _Scope):
        name = node.name
        if node.namespace != _DATAVERSE_NAMESPACE:
            raise QueryError(f"An unknown function with name '{node.namespace}.{name}' was found.")
        known = (set(_SET_FUNCTIONS) | set(_RANGE_FUNCTIONS) | ON_FUNCTIONS | set(CALLER_FUNCTIONS)
                 | set(CLOCK_FUNCTIONS))
        if name not in known:
            raise UnsupportedQuery(f"The query function '{_DATAVERSE_NAMESPACE}.{name}' is not supported by the emulator.")
        ref = self._property_name_argument(node, scope)
        if name in _SET_FUNCTIONS:
            values = self._values_argument(node, ref)
            if not values:
                raise QueryError(f"The parameter 'PropertyValues' of function '{name}' must hold at least one value.")
            return b.InList(ref, tuple(values), negated=_SET_FUNCTIONS[name])
        if name in _RANGE_FUNCTIONS:
            values = self._values_argument(node, ref)
            if len(values) != 2:
                raise QueryError(f"The parameter 'PropertyValues' of function '{name}' must hold exactly two values.")
            return b.Range(ref, values[0], values[1], negated=_RANGE_FUNCTIONS[name])
        if name in CALLER_FUNCTIONS:
            if ref.attribute.type not in (T.LOOKUP, T.OWNER, T.UNIQUEIDENTIFIER):
                raise QueryError(f"The function '{name}' applies to lookup columns; '{ref.attribute.name}' is {ref.edm_type}.")
            which, negated = CALLER_FUNCTIONS[name]
            return b.CallerCondition(ref, which, negated)
        if ref.attribute.type is not T.DATETIME:
            raise QueryError(f"The function '{name}' applies to date and time columns; '{ref.attribute.name}' is {ref.edm_type}.")
        if name in ON_FUNCTIONS:
            return day_condition(name, ref, self._date_argument(node))
        takes_value = CLOCK_FUNCTIONS[name].takes_value
        amount = self._int_argument(node) if takes_value else None
        if not takes_value and node.arg("PropertyValue") is not None:
            raise QueryError(f"The function '{name}' takes no 'PropertyValue' parameter.")
        return b.ClockCondition(name, ref, amount)

    # --- Dataverse function arguments

    def _argument(self, node: ast.DataverseCall, key: str, scope: _Scope | None = None):
        value = node.arg(key)
        if value is None:
            raise QueryError(f"The parameter '{key}' of function '{node.name}' is missing.")
        if isinstance(value, ast.Alias):
            text = self.aliases.get(value.name)
            if text is None:
                raise QueryError(f"The parameter alias '{value.name}' of function '{node.name}' has no value.")
            value = parse("filter", text) if not text.lstrip().startswith("[") else _json_array(text)
        return value

    def _property_name_argument(self, node: ast.DataverseCall, scope: _Scope) -> b.PropertyRef:
        value = self._argument(node, "PropertyName")
        if not (isinstance(value, ast.Literal) and value.edm_type == "Edm.String"):
            raise QueryError(f"The parameter 'PropertyName' of function '{node.name}' must be a string literal.")
        name = value.value
        entity = scope.entity
        attribute = entity.columns.get(name) or entity.properties.get(name)
        if attribute is None or not attribute.in_webapi or not attribute.valid_for_read:
            raise UnknownProperty(name, type_name(entity))
        return b.PropertyRef(scope.steps, entity, attribute, scope.variable_lambda if scope.variable else None)

    def _values_argument(self, node: ast.DataverseCall, ref: b.PropertyRef) -> list:
        value = self._argument(node, "PropertyValues")
        if not isinstance(value, ast.JsonArray):
            raise QueryError(f"The parameter 'PropertyValues' of function '{node.name}' must be a JSON array.")
        return [_convert_text_value(item, ref, node.name) for item in value.items]

    def _int_argument(self, node: ast.DataverseCall) -> int:
        value = self._argument(node, "PropertyValue")
        raw = value.value if isinstance(value, ast.Literal) else None
        digits = raw.strip().lstrip("-") if isinstance(raw, str) else ""
        if digits.isascii() and digits.isdigit():  # ASCII: '²'.isdigit() is true but int() refuses it
            raw = whole_number(raw)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise QueryError(f"The parameter 'PropertyValue' of function '{node.name}' must be a whole number.")
        if raw < 0:
            raise QueryError(f"The parameter 'PropertyValue' of function '{node.name}' must not be negative.")
        return raw

    def _date_argument(self, node: ast.DataverseCall) -> dt.date:
        value = self._argument(node, "PropertyValue")
        raw = value.value if isinstance(value, ast.Literal) else None
        if isinstance(raw, dt.datetime):
            return raw.date()
        if isinstance(raw, dt.date):
            return raw
        if isinstance(raw, str):
            try:
                return parse_datetime(raw).date()
            except ValueError:
                pass
        raise QueryError(f"The parameter 'PropertyValue' of function '{node.name}' must be a date.")

    # ------------------------------------------------------------------------------ $apply

    def bind_apply(self, apply: ast.Apply, options: QueryOptions) -> b.BoundApply:
        where: b.Expr | None = None
        keys: tuple[b.GroupKey, ...] = ()
        aggregates: tuple[b.AggregateValue, ...] = ()
        grouped = False
        having: b.Expr | None = None
        root = _Scope(self.entity)
        for step in apply.steps:
            if isinstance(step, ast.UnsupportedTransformation):
                raise UnsupportedQuery(f"The transformation '{step.name}' is not supported in $apply.")
            if isinstance(step, ast.ApplyFilter):
                if grouped:
                    if self.strict:
                        raise UnsupportedQuery("A filter transformation after groupby or aggregate is not supported.")
                    having = _and(having, self._bind_aggregated(step.expr, keys, aggregates))
                    continue
                expr = self.bind_filter(step.expr)
                where = _and(where, expr)
                continue
            if grouped:
                raise UnsupportedQuery("Only one groupby or aggregate transformation is supported in $apply.")
            grouped = True
            if isinstance(step, ast.GroupBy):
                if len(step.paths) > MAX_GROUP_KEYS:
                    raise QueryError(f"The groupby transformation of $apply can include at most {MAX_GROUP_KEYS} "
                                     f"properties.")
                keys = tuple(self._group_key(path, root) for path in step.paths)
                items = step.aggregate
            else:
                items = step.items
            if len(items) > MAX_AGGREGATES:
                raise QueryError(f"The aggregate transformation of $apply can include at most {MAX_AGGREGATES} "
                                 f"aggregations.")
            aggregates = tuple(self._aggregate(item, root) for item in items)
        if not grouped:
            raise UnsupportedQuery("$apply must group or aggregate: use $filter to filter rows.")
        names = [k.output_name for k in keys] + [a.alias for a in aggregates]
        if len(set(names)) != len(names):
            raise QueryError("The names in groupby and aggregate must be distinct.")
        if options.filter is not None:
            having = _and(having, self._bind_aggregated(parse("filter", options.filter), keys, aggregates))
        orderby: tuple[b.AggregateOrder, ...] = ()
        if options.orderby is not None:
            items = parse("orderby", options.orderby).items
            _check_sort_keys(len(items))
            orderby = tuple(self._aggregate_order(item, keys, aggregates) for item in items)
        return b.BoundApply(where, keys, aggregates, having, orderby)

    def _group_key(self, path: tuple[str, ...], scope: _Scope) -> b.GroupKey:
        ref = self.resolve_path(path, scope)
        if ref.attribute.type is T.DATETIME and self.strict:
            raise UnsupportedQuery("groupby with datetime values is not supported. Use FetchXML dategrouping to group by date.")
        if ref.steps:
            output = f"{ref.entity.logical_name}_{ref.attribute.property_name}"
        else:
            output = ref.attribute.property_name
        return b.GroupKey(ref, output)

    def _aggregate(self, item: ast.AggregateItem, scope: _Scope) -> b.AggregateValue:
        if item.path is None:
            return b.AggregateValue("count", None, item.alias, "Edm.Int32")
        method = item.method
        if method not in _AGGREGATE_METHODS:
            raise QueryError(f"The aggregation method '{method}' is not supported.")
        if method == "countdistinct" and self.strict:
            raise UnsupportedQuery("You can't get a distinct number of values using CountColumn with OData. Use FetchXML.")
        ref = self.resolve_path(item.path, scope)
        if method in ("sum", "average") and ref.edm_type not in _NUMERIC:
            raise QueryError(f"The aggregation method '{method}' cannot be applied to '{'/'.join(item.path)}' of type {ref.edm_type}.")
        edm = {"countdistinct": "Edm.Int32", "average": "Edm.Decimal"}.get(method, ref.edm_type)
        return b.AggregateValue(method, ref, item.alias, edm)

    def _bind_aggregated(self, node: ast.Node, keys, aggregates) -> b.Expr:
        """Bind an expression over the aggregated rows: names are group keys or aggregate aliases."""
        by_key = {k.output_name: k for k in keys}
        by_alias = {a.alias: a for a in aggregates}
        binder = self

        class _AggregatedScope(Binder):
            def visit_Member(self, member: ast.Member, scope: _Scope):
                name = "/".join(member.path)
                if name in by_alias:
                    if binder.strict:
                        raise UnsupportedQuery("The query node SingleValueOpenPropertyAccess is not supported")
                    return b.AggregateRef(name, by_alias[name].edm_type)
                key = by_key.get(name)
                if key is None:
                    for candidate in keys:
                        if "/".join(_path_of(candidate.ref)) == name:
                            key = candidate
                if key is None:
                    raise QueryError(f"Could not find a property named '{name}' on the aggregated result.")
                return key.ref

        scoped = _AggregatedScope(self.model, self.entity, self.strict, self.aliases)
        expr = scoped.bind_expr(node, _Scope(self.entity))
        if edm_of(expr) != "Edm.Boolean":
            raise QueryError("The $filter expression must evaluate to a single boolean value.")
        return expr

    def _aggregate_order(self, item: ast.OrderItem, keys, aggregates) -> b.AggregateOrder:
        if not isinstance(item.expr, ast.Member):
            raise UnsupportedQuery("Only properties can be used in $orderby.")
        name = "/".join(item.expr.path)
        if any(a.alias == name for a in aggregates):
            if self.strict:
                raise UnsupportedQuery("The query node SingleValueOpenPropertyAccess is not supported")
            return b.AggregateOrder(name, item.descending)
        for key in keys:
            if name in (key.output_name, "/".join(_path_of(key.ref))):
                return b.AggregateOrder(key.output_name, item.descending)
        raise QueryError(f"Could not find a property named '{name}' on the aggregated result.")


# ---------------------------------------------------------------------------------- helpers


def day_condition(function: str, ref: b.PropertyRef, day: dt.date) -> b.DateCondition:
    """On / OnOrAfter / OnOrBefore `day` (UTC): bounds of whole days, known at bind time."""
    start = to_epoch(day)
    end = start + 86400
    lower, upper = {"On": (start, end), "OnOrAfter": (start, None), "OnOrBefore": (None, end)}[function]
    return b.DateCondition(ref, lower, upper)


def _path_of(ref: b.PropertyRef) -> tuple[str, ...]:
    return tuple(s.navigation for s in ref.steps) + (ref.attribute.property_name,)


def _primary_or_key(model: EntityModel, navigation) -> str:
    target = model.entity(navigation.target)
    return target.primary_name or target.primary_id


def _count_expansions(projection: b.Projection) -> int:
    return sum(1 + _count_expansions(e.projection) for e in projection.expansions)


def _and(left, right):
    if left is None:
        return right
    if right is None:
        return left
    return b.BoolOp("and", left, right)


def _mismatch(left, right, op: str) -> TypeMismatch:
    return TypeMismatch(
        f"A binary operator with incompatible types was detected. Found operand types '{edm_of(left)}' and "
        f"'{edm_of(right)}' for operator kind '{_KIND[op]}'."
    )


def _comparable(a: str, c: str) -> bool:
    if a == c or "null" in (a, c):
        return True
    if a in _NUMERIC and c in _NUMERIC:
        return True
    return {a, c} == {"Edm.DateTimeOffset", "Edm.Date"}


def _coerce_pair(left, right, op: str):
    """Type-check a comparison, converting a quoted GUID literal compared with a GUID column."""
    left, right = _coerce_guid(left, right), _coerce_guid(right, left)
    if not _comparable(edm_of(left), edm_of(right)):
        raise _mismatch(left, right, op)
    if op not in ("eq", "ne") and "Edm.Boolean" in (edm_of(left), edm_of(right)):
        raise _mismatch(left, right, op)
    return left, right


def _coerce_guid(value, other):
    if (isinstance(value, b.Const) and value.edm_type == "Edm.String" and edm_of(other) == "Edm.Guid"):
        try:
            return b.Const(normalize_guid(value.value), "Edm.Guid")
        except ValueError:
            raise QueryError(f"Unrecognized 'Edm.Guid' literal '{value.value}'.") from None
    return value


def _convert_text_value(item, ref: b.PropertyRef, function: str):
    """A PropertyValues item (written as a string or number) in the storage form of `ref`."""
    attribute = ref.attribute
    text = str(item)
    try:
        if attribute.type in (T.INTEGER, T.BIGINT, T.PICKLIST, T.STATE, T.STATUS):
            number = whole_number(text)
            if not -(2 ** 63) <= number < 2 ** 63:  # beyond Int64: SQLite cannot bind it
                raise ValueError(text)
            return number
        if attribute.type is T.DOUBLE:
            return float(text)
        if attribute.type is T.BOOLEAN:
            lowered = text.lower()
            if lowered in ("true", "1"):
                return 1
            if lowered in ("false", "0"):
                return 0
            raise ValueError(text)
        if attribute.type in (T.UNIQUEIDENTIFIER, T.LOOKUP, T.OWNER):
            return normalize_guid(text)
        if attribute.type is T.DATETIME:
            return to_epoch(parse_datetime(text))
    except (ValueError, TypeError):
        raise QueryError(
            f"The value '{text}' in PropertyValues of function '{function}' is not valid for "
            f"'{attribute.name}' of type {attribute.edm_type}."
        ) from None
    return text


def _json_array(text: str) -> ast.JsonArray:
    import json

    try:
        values = json.loads(text)
    except ValueError:
        raise QueryError(f"Invalid JSON array '{text}'.") from None
    if not isinstance(values, list) or any(isinstance(v, (list, dict)) for v in values):
        raise QueryError(f"Invalid JSON array '{text}'.")
    return ast.JsonArray(tuple(values))


def _parse_nonnegative(text: str, option: str) -> int:
    # ODataLib reads these as Int64: ASCII digits only ('²'.isdigit() is true), at most Int64.MaxValue.
    if not (text.isascii() and text.isdigit()) or whole_number(text) > 2 ** 63 - 1:
        raise QueryError(
            f"Invalid value '{text}' for {option} query option found. The {option} query option requires a "
            f"non-negative integer value."
        )
    return whole_number(text)


def _check_sort_keys(count: int) -> None:
    if count > MAX_SORT_KEYS:
        raise QueryError(f"The $orderby query option can include at most {MAX_SORT_KEYS} properties.")


def _parse_top(text: str) -> int:
    return _parse_nonnegative(text, "$top")


def parse_count(text: str) -> bool:
    if text not in ("true", "false"):
        raise QueryError(f"'{text}' is not a valid count option.")
    return text == "true"


__all__ = ["Binder", "type_name", "edm_of", "uuid"]
