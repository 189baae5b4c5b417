"""`$filter` expressions: syntax tree -> bound tree. Names resolve against the entity model
(through single-valued navigations, and inside any/all through the lambda variable), operand
types are checked by the Edm rules (`edm.py`), and what Dataverse refuses is refused (strict mode)
or let through (loose mode).

`ExpressionBinder` is the visitor every binder builds on: `binder.py` adds the rest of an OData
query, `bind_apply.py` the aggregated rows of `$apply`, `fetchxml/bind.py` FetchXML's conditions.
Dataverse's own query functions (`Microsoft.Dynamics.CRM.In` ...) bind in `functions.py`.

Error texts follow ODataLib and Dataverse where they are known; see docs/deviations.md for the
ones that are the emulator's own wording.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from ..errors import QueryError, UnknownProperty, UnsupportedQuery
from ..model import Entity, EntityModel, ManyToOne, OneToMany
from ..store.values import to_epoch
from . import ast
from . import bound as b
from .edm import COMPARISONS, NUMERIC, OPERATOR_KINDS, coerce_pair, edm_of, mismatch, type_name
from .functions import bind_query_function
from .parser import parse_filter

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


@dataclass
class Scope:
    """Where names resolve: the root entity, plus a lambda variable when inside any/all."""

    entity: Entity
    steps: tuple[ManyToOne, ...] = ()
    variable: str | None = None
    variable_lambda: b.Lambda | None = None
    outer: Scope | None = None


@dataclass
class ExpressionBinder:
    model: EntityModel
    entity: Entity
    strict: bool = True
    aliases: dict[str, str] = field(default_factory=dict)
    # The parameter aliases being expanded, so that `@p1=@p1` is an error rather than a loop.
    _resolving_aliases: set[str] = field(default_factory=set, init=False, repr=False)

    def bind_filter(self, node: ast.Node) -> b.Expr:
        expr = self.bind_expr(node, Scope(self.entity))
        if edm_of(expr) != "Edm.Boolean":
            raise QueryError("The $filter expression must evaluate to a single boolean value.")
        return expr

    def bind_expr(self, node: ast.Node, scope: Scope):
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:  # pragma: no cover - every node type has a visitor
            raise QueryError(f"Unsupported expression {type(node).__name__}.")
        return method(node, scope)

    def visit_Literal(self, node: ast.Literal, scope: Scope) -> b.Const:
        value: object = node.value
        if node.edm_type == "Edm.Guid":
            value = str(value)
        elif node.edm_type in ("Edm.DateTimeOffset", "Edm.Date") and isinstance(value, dt.date):
            value = to_epoch(value)
        elif isinstance(value, Decimal):
            value = float(value)
        return b.Const(value, node.edm_type)

    def visit_Alias(self, node: ast.Alias, scope: Scope):
        text = self.aliases.get(node.name)
        if text is None or text == "":
            return b.Const(None, "null")
        resolving = self._resolving_aliases
        if node.name in resolving:  # @p1=@p1 would recurse without end
            raise QueryError(f"The parameter alias '{node.name}' refers to itself.")
        resolving.add(node.name)
        try:
            return self.bind_expr(parse_filter(text), scope)
        finally:
            resolving.discard(node.name)

    def visit_Member(self, node: ast.Member, scope: Scope) -> b.PropertyRef:
        return self.resolve_path(node.path, scope)

    def resolve_path(self, path: tuple[str, ...], scope: Scope) -> b.PropertyRef:
        entity, steps, via = scope.entity, scope.steps, None
        segments = list(path)
        if scope.variable is not None and segments and segments[0] == scope.variable:
            segments.pop(0)
            lam = scope.variable_lambda
            assert lam is not None  # a scope with a variable is the scope of its lambda
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

    def visit_BinaryOp(self, node: ast.BinaryOp, scope: Scope):
        left = self.bind_expr(node.left, scope)
        right = self.bind_expr(node.right, scope)
        op = node.op
        if op in ("and", "or"):
            for side in (left, right):
                if edm_of(side) != "Edm.Boolean":
                    raise mismatch(left, right, op)
            return b.BoolOp(op, left, right)
        if op == "has":
            raise UnsupportedQuery("The query node Has is not supported")
        if op in OPERATOR_KINDS and op not in COMPARISONS:
            if self.strict:
                raise UnsupportedQuery(f"The binary operator '{OPERATOR_KINDS[op]}' is not supported.")
            for side in (left, right):
                if edm_of(side) not in NUMERIC and edm_of(side) != "null":
                    raise mismatch(left, right, op)
            result = "Edm.Double" if "Edm.Double" in (edm_of(left), edm_of(right)) or op == "divby" else edm_of(left)
            return b.Arith(op, left, right, result)
        left, right = coerce_pair(left, right, op)
        return b.Compare(op, left, right)

    def visit_Not(self, node: ast.Not, scope: Scope):
        operand = self.bind_expr(node.operand, scope)
        if edm_of(operand) != "Edm.Boolean":
            raise QueryError(f"A unary operator with an incompatible type was detected. Found operand type "
                             f"'{edm_of(operand)}' for operator kind 'Not'.")
        return b.NotOp(operand)

    def visit_Negate(self, node: ast.Negate, scope: Scope):
        operand = self.bind_expr(node.operand, scope)
        if self.strict:
            raise UnsupportedQuery("The unary operator 'Negate' is not supported.")
        if edm_of(operand) not in NUMERIC:
            raise QueryError(f"A unary operator with an incompatible type was detected. Found operand type "
                             f"'{edm_of(operand)}' for operator kind 'Negate'.")
        return b.NegateOp(operand, edm_of(operand))

    def visit_In(self, node: ast.In, scope: Scope):
        if self.strict:
            raise UnsupportedQuery("The query node In is not supported")
        operand = self.bind_expr(node.operand, scope)
        values = []
        for item in node.items:
            const = self.bind_expr(item, scope)
            if not isinstance(const, b.Const):
                raise QueryError("The 'in' operator takes a list of literals.")
            _, const = coerce_pair(operand, const, "eq")
            values.append(const.value)
        return b.InList(operand, tuple(values))

    def visit_Call(self, node: ast.Call, scope: Scope):
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

    def visit_Lambda(self, node: ast.Lambda, scope: Scope):
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
            inner = Scope(target, (), node.variable, shell, scope)
            predicate = self.bind_expr(node.predicate, inner)
            if edm_of(predicate) != "Edm.Boolean":
                raise QueryError("The expression of a lambda operator must be boolean.")
        elif node.operator == "all":
            raise QueryError("The all() operator requires a predicate.")
        return b.Lambda(steps, navigation, target, node.operator, predicate, node.variable)

    def visit_JsonArray(self, node: ast.JsonArray, scope: Scope):
        raise QueryError("A JSON array is only valid as the PropertyValues parameter of a query function.")


    def visit_DataverseCall(self, node: ast.DataverseCall, scope: Scope):
        return bind_query_function(node, scope, self.aliases)


def _primary_or_key(model: EntityModel, navigation) -> str:
    target = model.entity(navigation.target)
    return target.primary_name or target.primary_id
