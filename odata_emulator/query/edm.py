"""The Edm type rules of `$filter`: which types an operator takes, which compare with which, and
the errors ODataLib answers when they don't.

Types are the Edm names the model gives each column (`Attribute.edm_type`); a boolean condition
is `Edm.Boolean` and the `null` literal is `null`.
"""

from __future__ import annotations

from ..errors import QueryError, TypeMismatch
from ..model import Entity
from ..store.values import normalize_guid
from . import bound as b

# Operator -> the name ODataLib gives its kind in error messages.
OPERATOR_KINDS = {
    "eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan", "ge": "GreaterThanOrEqual", "lt": "LessThan",
    "le": "LessThanOrEqual", "and": "And", "or": "Or", "add": "Add", "sub": "Subtract", "mul": "Multiply",
    "div": "Divide", "divby": "Divide", "mod": "Modulo", "has": "Has",
}
COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
NUMERIC = {"Edm.Int32", "Edm.Int64", "Edm.Decimal", "Edm.Double", "Edm.Byte", "Edm.Int16", "Edm.Single"}


def type_name(entity: Entity) -> str:
    return f"Microsoft.Dynamics.CRM.{entity.logical_name}"


def edm_of(expr) -> str:
    if isinstance(expr, (b.PropertyRef, b.Const, b.Arith, b.NegateOp, b.Function, b.AggregateRef)):
        return expr.edm_type
    return "Edm.Boolean"


def mismatch(left, right, op: str) -> TypeMismatch:
    return TypeMismatch(
        f"A binary operator with incompatible types was detected. Found operand types '{edm_of(left)}' and "
        f"'{edm_of(right)}' for operator kind '{OPERATOR_KINDS[op]}'."
    )


def comparable(a: str, c: str) -> bool:
    if a == c or "null" in (a, c):
        return True
    if a in NUMERIC and c in NUMERIC:
        return True
    return {a, c} == {"Edm.DateTimeOffset", "Edm.Date"}


def coerce_pair(left, right, op: str):
    """Type-check a comparison, converting a quoted GUID literal compared with a GUID column."""
    left, right = coerce_guid(left, right), coerce_guid(right, left)
    if not comparable(edm_of(left), edm_of(right)):
        raise mismatch(left, right, op)
    if op not in ("eq", "ne") and "Edm.Boolean" in (edm_of(left), edm_of(right)):
        raise mismatch(left, right, op)
    return left, right


def coerce_guid(value, other):
    if (isinstance(value, b.Const) and value.edm_type == "Edm.String" and edm_of(other) == "Edm.Guid"):
        try:
            return b.Const(normalize_guid(value.value), "Edm.Guid")
        except ValueError:
            raise QueryError(f"Unrecognized 'Edm.Guid' literal '{value.value}'.") from None
    return value
