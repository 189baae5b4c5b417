"""Dataverse's query functions: `Microsoft.Dynamics.CRM.In`, `Between`, `On`, `LastXDays`,
`EqualUserId` and their kin, bound to conditions of the bound tree.

`$filter` writes them as function calls with named parameters (`PropertyName`, `PropertyValue`,
`PropertyValues`, which may be parameter aliases); FetchXML and QueryExpression write the same
conditions as operators. The name tables and `day_condition` here serve both binders, so that a
condition means the same whichever language asked for it. The clock functions themselves are in
`datefunctions.py`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import TYPE_CHECKING

from ..errors import QueryError, UnknownProperty, UnsupportedQuery
from ..model import AttributeType as T
from ..store.values import parse_datetime, to_epoch
from . import ast
from . import bound as b
from .datefunctions import CLOCK_FUNCTIONS
from .edm import type_name
from .literals import convert_text_value
from .numbers import whole_number
from .parser import parse_filter

if TYPE_CHECKING:
    from .bind_expression import Scope

DATAVERSE_NAMESPACE = "Microsoft.Dynamics.CRM"
# name -> negated
SET_FUNCTIONS = {"In": False, "NotIn": True}
RANGE_FUNCTIONS = {"Between": False, "NotBetween": True}
ON_FUNCTIONS = {"On", "OnOrAfter", "OnOrBefore"}
# name -> (whose id, negated)
CALLER_FUNCTIONS = {
    "EqualUserId": ("user", False),
    "NotEqualUserId": ("user", True),
    "EqualBusinessId": ("businessunit", False),
    "NotEqualBusinessId": ("businessunit", True),
}
QUERY_FUNCTIONS = frozenset(set(SET_FUNCTIONS) | set(RANGE_FUNCTIONS) | ON_FUNCTIONS | set(CALLER_FUNCTIONS)
                            | set(CLOCK_FUNCTIONS))


def day_condition(function: str, ref: b.PropertyRef, day: dt.date) -> b.DateCondition:
    """On / OnOrAfter / OnOrBefore `day` (UTC): bounds of whole days, known at bind time."""
    start = to_epoch(day)
    end = start + 86400
    lower, upper = {"On": (start, end), "OnOrAfter": (start, None), "OnOrBefore": (None, end)}[function]
    return b.DateCondition(ref, lower, upper)


def bind_query_function(node: ast.DataverseCall, scope: Scope, aliases: dict[str, str]) -> b.Expr:
    """A `$filter` call of a Dataverse query function, as the condition it stands for."""
    name = node.name
    if node.namespace != DATAVERSE_NAMESPACE:
        raise QueryError(f"An unknown function with name '{node.namespace}.{name}' was found.")
    if name not in QUERY_FUNCTIONS:
        raise UnsupportedQuery(f"The query function '{DATAVERSE_NAMESPACE}.{name}' is not supported by the emulator.")
    arguments = _Arguments(node, aliases)
    ref = arguments.property_name(scope)
    if name in SET_FUNCTIONS:
        values = arguments.values(ref)
        if not values:
            raise QueryError(f"The parameter 'PropertyValues' of function '{name}' must hold at least one value.")
        return b.InList(ref, tuple(values), negated=SET_FUNCTIONS[name])
    if name in RANGE_FUNCTIONS:
        values = arguments.values(ref)
        if len(values) != 2:
            raise QueryError(f"The parameter 'PropertyValues' of function '{name}' must hold exactly two values.")
        return b.Range(ref, values[0], values[1], negated=RANGE_FUNCTIONS[name])
    if name in CALLER_FUNCTIONS:
        if ref.attribute.type not in (T.LOOKUP, T.OWNER, T.UNIQUEIDENTIFIER):
            raise QueryError(f"The function '{name}' applies to lookup columns; '{ref.attribute.name}' is {ref.edm_type}.")
        which, negated = CALLER_FUNCTIONS[name]
        return b.CallerCondition(ref, which, negated)
    if ref.attribute.type is not T.DATETIME:
        raise QueryError(f"The function '{name}' applies to date and time columns; '{ref.attribute.name}' is {ref.edm_type}.")
    if name in ON_FUNCTIONS:
        return day_condition(name, ref, arguments.date())
    takes_value = CLOCK_FUNCTIONS[name].takes_value
    amount = arguments.amount() if takes_value else None
    if not takes_value and node.arg("PropertyValue") is not None:
        raise QueryError(f"The function '{name}' takes no 'PropertyValue' parameter.")
    return b.ClockCondition(name, ref, amount)


class _Arguments:
    """The named parameters of one call, read through the request's parameter aliases."""

    def __init__(self, node: ast.DataverseCall, aliases: dict[str, str]) -> None:
        self.node = node
        self.aliases = aliases

    def get(self, key: str):
        node = self.node
        value = node.arg(key)
        if value is None:
            raise QueryError(f"The parameter '{key}' of function '{node.name}' is missing.")
        if isinstance(value, ast.Alias):
            text = self.aliases.get(value.name)
            if text is None:
                raise QueryError(f"The parameter alias '{value.name}' of function '{node.name}' has no value.")
            value = parse_filter(text) if not text.lstrip().startswith("[") else _json_array(text)
        return value

    def property_name(self, scope: Scope) -> b.PropertyRef:
        value = self.get("PropertyName")
        if not (isinstance(value, ast.Literal) and value.edm_type == "Edm.String" and isinstance(value.value, str)):
            raise QueryError(f"The parameter 'PropertyName' of function '{self.node.name}' must be a string literal.")
        name = value.value
        entity = scope.entity
        attribute = entity.columns.get(name) or entity.properties.get(name)
        if attribute is None or not attribute.in_webapi or not attribute.valid_for_read:
            raise UnknownProperty(name, type_name(entity))
        return b.PropertyRef(scope.steps, entity, attribute, scope.variable_lambda if scope.variable else None)

    def values(self, ref: b.PropertyRef) -> list:
        value = self.get("PropertyValues")
        if not isinstance(value, ast.JsonArray):
            raise QueryError(f"The parameter 'PropertyValues' of function '{self.node.name}' must be a JSON array.")
        return [convert_text_value(item, ref, self.node.name) for item in value.items]

    def amount(self) -> int:
        value = self.get("PropertyValue")
        raw = value.value if isinstance(value, ast.Literal) else None
        if isinstance(raw, str):
            digits = raw.strip().lstrip("-")
            if digits.isascii() and digits.isdigit():  # ASCII: '²'.isdigit() is true but int() refuses it
                raw = whole_number(raw)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise QueryError(f"The parameter 'PropertyValue' of function '{self.node.name}' must be a whole number.")
        if raw < 0:
            raise QueryError(f"The parameter 'PropertyValue' of function '{self.node.name}' must not be negative.")
        return raw

    def date(self) -> dt.date:
        value = self.get("PropertyValue")
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
        raise QueryError(f"The parameter 'PropertyValue' of function '{self.node.name}' must be a date.")


# ODataLib's JSON reader error for two array items without a comma between them, as
# webapi/query/filter-rows.md prints it (an unescaped quote in `@p2=['OBrian','O'Brian']`).
MISSING_COMMA = ("Invalid JSON. A comma character ',' was expected in scope 'Array'. Every two elements in an "
                 "array and properties of an object must be separated by commas.")
_SCALAR = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|[^\s,\[\]{}"\']+')


def _json_array(text: str) -> ast.JsonArray:
    """A parameter alias's `PropertyValues` array, read as ODataLib reads JSON: strings in double or single
    quotes, numbers, true/false/null. Two items without a comma answer the docs' text; any other
    malformed array keeps the emulator's own ("Invalid JSON array '...'")."""
    invalid = QueryError(f"Invalid JSON array '{text}'.")
    body = text.strip()
    if not (body.startswith("[") and body.endswith("]")):
        raise invalid
    values: list = []
    position, inner = 0, body[1:-1]
    expect_value = True
    while True:
        while position < len(inner) and inner[position].isspace():
            position += 1
        if position == len(inner):
            if expect_value and values:
                raise invalid  # a trailing comma
            return ast.JsonArray(tuple(values))
        if not expect_value:
            if inner[position] != ",":
                raise QueryError(MISSING_COMMA)
            position, expect_value = position + 1, True
            continue
        match = _SCALAR.match(inner, position)
        if match is None:
            raise invalid
        values.append(_scalar(match.group(0), invalid))
        position, expect_value = match.end(), False


def _scalar(token: str, invalid: QueryError):
    if token.startswith("'"):
        token = '"' + token[1:-1].replace("\\'", "'").replace('"', '\\"') + '"'
    try:
        return json.loads(token)
    except ValueError:
        raise invalid from None
