"""Values written as text -> the storage form of a column (`store/schema.py`).

Three notations write a condition's values as text and leave their type to the column: the
`PropertyValues` of `$filter`'s query functions (`Microsoft.Dynamics.CRM.In`), FetchXML's
`<condition value=...>`, and QueryExpression's `{"Value": ..., "Type": "System.Int32"}`. Each
fails with the error its own notation answers in Dataverse.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from functools import partial

from ..errors import Code, FetchXmlError, QueryError
from ..model import AttributeType as T
from ..store.values import normalize_guid, parse_datetime, to_epoch
from . import bound as b
from .numbers import whole_number


def convert_text_value(item, ref: b.PropertyRef, function: str):
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


# ------------------------------------------------------------------------------------ FetchXML

# The .NET type a condition value is converted to, as Dataverse names it in its conversion errors.
_CLR_TYPES = {T.INTEGER: "System.Int32", T.PICKLIST: "System.Int32", T.STATE: "System.Int32",
              T.STATUS: "System.Int32", T.BIGINT: "System.Int64", T.DOUBLE: "System.Double",
              T.BOOLEAN: "System.Boolean", T.UNIQUEIDENTIFIER: "System.Guid", T.LOOKUP: "System.Guid",
              T.OWNER: "System.Guid", T.DATETIME: "System.DateTime"}
_INTEGER_BITS = {"System.Int32": 31, "System.Int64": 63}
_INTEGER_TEXT = re.compile(r"^\s*[+-]?[0-9]+\s*$")
_FORMAT_REASONS = {"System.Guid": "Guid should contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).",
                   "System.DateTime": "String was not recognized as a valid DateTime.",
                   "System.Boolean": "String was not recognized as a valid Boolean."}


def condition_value(text: str, ref: b.PropertyRef, operator: str):
    """A FetchXML condition's value, as written, in the storage form of `ref`; a value that does not
    fit the column's type is Dataverse's conversion error (not OData's PropertyValues one)."""
    attribute = ref.attribute
    clr = _CLR_TYPES.get(attribute.type)
    if clr is None:  # text: compared as written
        return text

    def failure(exception: str, reason: str) -> FetchXmlError:
        return FetchXmlError(
            f"An exception System.{exception} was thrown while trying to convert input value '{text}' to attribute "
            f"'{ref.entity.logical_name}.{attribute.name}'. Expected type of attribute value: {clr}. "
            f"Exception raised: {reason}")

    if clr in _INTEGER_BITS:
        # ASCII digits only: int() would also take '1_000' and other scripts' digits.
        if not _INTEGER_TEXT.match(text) or not text.isascii():
            raise failure("FormatException", "Input string was not in a correct format.")
        bits = _INTEGER_BITS[clr]
        number = whole_number(text)
        if not -(2 ** bits) <= number < 2 ** bits:
            raise failure("OverflowException", f"Value was either too large or too small for an {clr[7:]}.")
        return number
    try:
        value = convert_text_value(text, ref, operator)
    except QueryError:
        raise failure("FormatException", _FORMAT_REASONS.get(clr, "Input string was not in a correct format.")) \
            from None
    if clr == "System.Double" and (not math.isfinite(value) or "_" in text):
        raise failure("FormatException", "Input string was not in a correct format.")
    return value


# ------------------------------------------------------------------------------------ QueryExpression

def _whole(bits: int, text: str) -> str:
    digits = text[1:] if text[:1] == "-" else text
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(text)
    number = whole_number(text)
    if not -2 ** (bits - 1) <= number < 2 ** (bits - 1):
        raise ValueError(text)
    return str(number)


def _real(text: str) -> str:
    if not math.isfinite(float(text)) or not text.isascii():
        raise ValueError(text)
    return text


def _boolean(text: str) -> str:
    if text.lower() not in ("true", "false"):
        raise ValueError(text)
    return text.lower()


def _guid(text: str) -> str:
    return str(uuid.UUID(text.strip("{}")))


def _datetime(text: str) -> str:
    parse_datetime(text)
    return text


# The .NET types a QueryExpression value may declare (besides System.String, kept as written): each
# takes the stripped text to its one spelling, or raises ValueError.
_DECLARED_TYPES: dict[str, Callable[[str], str]] = {
    "System.Int16": partial(_whole, 16),
    "System.Int32": partial(_whole, 32),
    "System.Int64": partial(_whole, 64),
    "System.Double": _real,
    "System.Decimal": _real,
    "System.Single": _real,
    "System.Boolean": _boolean,
    "System.Guid": _guid,
    "System.DateTime": _datetime,
    "System.DateTimeOffset": _datetime,
}


def declared_value(text: str, declared: str, attribute: str) -> str:
    """A QueryExpression value's text, checked against the .NET type it declares (`Type`) and
    normalized where that type has one spelling. Whether the type fits the column is the binder's
    question. Errors carry the Web API deserializer's code, 0x80048d19."""
    if declared == "System.String":
        return text
    normalize = _DECLARED_TYPES.get(declared)
    if normalize is None:
        raise FetchXmlError(f"The value type '{declared}' of a value of '{attribute}' is not supported: use "
                            f"System.String, System.Int32, System.Int64, System.Double, System.Decimal, "
                            f"System.Boolean, System.Guid or System.DateTime.", code=Code.INVALID_PAYLOAD)
    try:
        return normalize(text.strip())
    except ValueError:
        raise FetchXmlError(f"Cannot convert the literal '{text}' to the expected type '{declared}' (a value of "
                            f"the condition on '{attribute}').", code=Code.INVALID_PAYLOAD) from None
