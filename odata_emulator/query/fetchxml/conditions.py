"""FetchXML's (and QueryExpression's) condition operators: a ConditionOperator name, the column it
tests and its values as written -> a bound expression. The query functions they name (`Today`,
`EqualUserId`, `On`...) come from `query/functions.py` and `query/datefunctions.py`, shared with
`$filter`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...errors import Code, FetchXmlError
from ...model import Attribute
from ...model import AttributeType as T
from ...store.values import from_epoch
from .. import bound as b
from ..datefunctions import CLOCK_FUNCTIONS
from ..functions import CALLER_FUNCTIONS, ON_FUNCTIONS, day_condition
from ..literals import condition_value
from ..numbers import whole_number

_COMPARISONS = {"Equal": "eq", "NotEqual": "ne", "GreaterThan": "gt", "GreaterEqual": "ge", "LessThan": "lt",
                "LessEqual": "le"}
# Like patterns: (prefix, suffix, negated).
_PATTERNS = {"Like": ("", "", False), "NotLike": ("", "", True), "BeginsWith": ("", "%", False),
             "DoesNotBeginWith": ("", "%", True), "EndsWith": ("%", "", False), "DoesNotEndWith": ("%", "", True)}


def bind_operator(operator: str, attribute: Attribute, ref: b.PropertyRef, values: tuple[str, ...]) -> b.Expr:
    """The condition `operator` on `ref` (a column of `attribute`) with `values` as written."""
    bind = _CONDITIONS.get(operator)
    if bind is None:
        raise FetchXmlError(f"The condition operator '{operator}' is not valid.", code=Code.QUERY_CONDITION_OPERATOR)
    return bind(_Operands(operator, attribute, ref, values))


@dataclass(frozen=True)
class _Operands:
    """A condition being bound: its operator, the column it tests and the values as written."""

    operator: str
    attribute: Attribute
    ref: b.PropertyRef
    values: tuple[str, ...]

    def expect(self, n: int) -> None:
        if len(self.values) != n:
            raise FetchXmlError(
                f"The condition operator '{self.operator}' on '{self.attribute.name}' takes {n} value"
                f"{'' if n == 1 else 's'}; {len(self.values)} given.", code=Code.QUERY_CONDITION_VALUE)

    def converted(self) -> list[Any]:  # storage forms: int, float, str
        return [condition_value(v, self.ref, self.operator) for v in self.values]

    def require(self, types: set[T], what: str) -> None:
        if self.attribute.type not in types:
            raise FetchXmlError(f"The condition operator '{self.operator}' applies to {what} columns; "
                                f"'{self.attribute.name}' is {self.attribute.edm_type}.",
                                code=Code.QUERY_CONDITION_VALUE)


def _comparison(o: _Operands) -> b.Expr:
    o.expect(1)
    return b.Compare(_COMPARISONS[o.operator], o.ref, b.Const(o.converted()[0], o.ref.edm_type))


def _null(o: _Operands) -> b.Expr:
    o.expect(0)
    return b.Compare("eq" if o.operator == "Null" else "ne", o.ref, b.Const(None, "null"))


def _pattern(o: _Operands) -> b.Expr:
    o.expect(1)
    o.require({T.STRING, T.MEMO}, "text")
    prefix, suffix, negated = _PATTERNS[o.operator]
    return b.Like(o.ref, f"{prefix}{o.values[0]}{suffix}", negated)


def _in_list(o: _Operands) -> b.Expr:
    if not o.values:
        raise FetchXmlError(f"The condition operator '{o.operator}' on '{o.attribute.name}' needs at least one "
                            f"value.", code=Code.QUERY_CONDITION_VALUE)
    return b.InList(o.ref, tuple(o.converted()), negated=o.operator == "NotIn")


def _range(o: _Operands) -> b.Expr:
    o.expect(2)
    low, high = o.converted()
    return b.Range(o.ref, low, high, negated=o.operator == "NotBetween")


def _caller(o: _Operands) -> b.Expr:
    o.expect(0)
    o.require({T.LOOKUP, T.OWNER, T.UNIQUEIDENTIFIER}, "lookup")
    which, negated = CALLER_FUNCTIONS[o.operator]
    return b.CallerCondition(o.ref, which, negated)


def _on_day(o: _Operands) -> b.Expr:
    o.require({T.DATETIME}, "date and time")
    o.expect(1)
    return day_condition(o.operator, o.ref, from_epoch(o.converted()[0]).date())


def _clock(o: _Operands) -> b.Expr:
    o.require({T.DATETIME}, "date and time")
    if not CLOCK_FUNCTIONS[o.operator].takes_value:
        o.expect(0)
        return b.ClockCondition(o.operator, o.ref, None)
    o.expect(1)
    text = o.values[0].strip()
    if not (text.isascii() and text.isdigit()) or whole_number(text) > 2 ** 31 - 1:
        raise FetchXmlError(f"The condition operator '{o.operator}' takes a whole number of at least 0, "
                            f"not '{o.values[0]}'.", code=Code.QUERY_PAGING_LIMIT)
    return b.ClockCondition(o.operator, o.ref, whole_number(text))


# ConditionOperator name -> how it binds. Where a name were in two groups, the later entry wins
# (comparisons first, then Null, patterns, In, Between, the caller's ids, On..., the clock functions).
_CONDITIONS: dict[str, Callable[[_Operands], b.Expr]] = {
    **dict.fromkeys(CLOCK_FUNCTIONS, _clock),
    **dict.fromkeys(ON_FUNCTIONS, _on_day),
    **dict.fromkeys(CALLER_FUNCTIONS, _caller),
    "Between": _range, "NotBetween": _range,
    "In": _in_list, "NotIn": _in_list,
    **dict.fromkeys(_PATTERNS, _pattern),
    "Null": _null, "NotNull": _null,
    **dict.fromkeys(_COMPARISONS, _comparison),
}
