"""The bound tree: the syntax tree after the binder resolved every name and type against the
model. Constants are already in storage form (see `store/schema.py`), so the compiler only
translates structure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from ..model import Attribute, Entity, ManyToOne, OneToMany


@dataclass(frozen=True)
class PropertyRef:
    """A column reached from the query's root table through zero or more single-valued navigations.
    `via` names the lambda variable's collection when the reference is inside a lambda."""

    steps: tuple[ManyToOne, ...]
    entity: Entity
    attribute: Attribute
    via: "Lambda | None" = None

    @property
    def edm_type(self) -> str:
        return self.attribute.edm_type


@dataclass(frozen=True)
class Const:
    value: Any
    edm_type: str


@dataclass(frozen=True)
class Compare:
    op: str  # eq ne gt ge lt le
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class BoolOp:
    op: str  # and or
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class NotOp:
    operand: "Expr"


@dataclass(frozen=True)
class Arith:
    op: str  # add sub mul div divby mod
    left: "Expr"
    right: "Expr"
    edm_type: str


@dataclass(frozen=True)
class NegateOp:
    operand: "Expr"
    edm_type: str


@dataclass(frozen=True)
class Function:
    """A canonical OData function (contains, startswith, ..., and in loose mode the rest)."""

    name: str
    args: tuple["Expr", ...]
    edm_type: str


@dataclass(frozen=True)
class InList:
    operand: "Expr"
    values: tuple[Any, ...]
    negated: bool = False


@dataclass(frozen=True)
class Range:
    """lower <= operand <= upper (Between); negated for NotBetween."""

    operand: PropertyRef
    lower: Any
    upper: Any
    negated: bool = False


@dataclass(frozen=True)
class ClockCondition:
    """A date query function whose bounds depend on "now" (LastXHours, Today, OlderThanXDays...).
    The compiler turns it into bind parameters computed from the clock at execution time."""

    function: str
    operand: PropertyRef
    amount: int | None = None


@dataclass(frozen=True)
class DateCondition:
    """On / OnOrAfter / OnOrBefore: bounds known at bind time (epoch seconds)."""

    operand: PropertyRef
    lower: int | None
    upper: int | None  # exclusive


@dataclass(frozen=True)
class CallerCondition:
    """EqualUserId / NotEqualUserId / EqualBusinessId / NotEqualBusinessId."""

    operand: PropertyRef
    which: str  # "user" | "businessunit"
    negated: bool = False


@dataclass(frozen=True)
class Lambda:
    """any/all over a collection-valued navigation of the entity reached by `steps`."""

    steps: tuple[ManyToOne, ...]
    navigation: OneToMany
    target: Entity
    operator: str
    predicate: "Expr | None"
    variable: str | None


Expr = Union[
    PropertyRef, Const, Compare, BoolOp, NotOp, Arith, NegateOp, Function, InList, Range,
    ClockCondition, DateCondition, CallerCondition, Lambda,
]


@dataclass(frozen=True)
class OrderKey:
    expr: PropertyRef
    descending: bool = False


@dataclass(frozen=True)
class Projection:
    """What to return of one entity: the properties in output order, and the expansions."""

    entity: Entity
    properties: tuple[Attribute, ...]
    # The list for @odata.context: the $select items as written, in request order.
    context_items: tuple[str, ...]
    explicit: bool
    expansions: tuple["Expansion", ...] = ()


@dataclass(frozen=True)
class Expansion:
    navigation: ManyToOne | OneToMany
    projection: Projection
    filter: Expr | None = None
    orderby: tuple[OrderKey, ...] = ()
    top: int | None = None

    @property
    def is_collection(self) -> bool:
        return isinstance(self.navigation, OneToMany)


@dataclass(frozen=True)
class GroupKey:
    ref: PropertyRef
    output_name: str


@dataclass(frozen=True)
class AggregateValue:
    method: str  # count sum min max average countdistinct
    ref: PropertyRef | None
    alias: str
    edm_type: str


@dataclass(frozen=True)
class AggregateOrder:
    """An $orderby key over an aggregated result: a group key's output name or an alias."""

    name: str
    descending: bool = False


@dataclass(frozen=True)
class BoundApply:
    where: Expr | None
    keys: tuple[GroupKey, ...]
    aggregates: tuple[AggregateValue, ...]
    having: Expr | None = None
    orderby: tuple[AggregateOrder, ...] = ()


@dataclass(frozen=True)
class BoundQuery:
    entity: Entity
    projection: Projection
    filter: Expr | None
    orderby: tuple[OrderKey, ...]
    top: int | None
    count: bool
    apply: BoundApply | None = None
    # Loose mode only: Dataverse refuses $skip.
    skip: int | None = None


@dataclass(frozen=True)
class AggregateRef:
    """An aggregate alias used after aggregation ($filter/$orderby over `$apply`, loose mode)."""

    alias: str
    edm_type: str
