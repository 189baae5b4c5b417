"""The bound tree: the syntax tree after the binder resolved every name and type against the
model. Constants are already in storage form (see `store/schema.py`), so the compiler only
translates structure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

from ..model import Attribute, Entity, ManyToOne, OneToMany


class JoinStep(Protocol):
    """One step of a property path: a navigation property (`ManyToOne`) or a FetchXML link
    (`Link`, which also names the target's column it joins on)."""

    @property
    def navigation(self) -> str: ...
    @property
    def attribute(self) -> str: ...
    @property
    def target(self) -> str: ...


@dataclass(frozen=True)
class PropertyRef:
    """A column reached from the query's root table through zero or more single-valued navigations
    (FetchXML: link-entities). `via` names the lambda variable's collection when the reference is
    inside a lambda."""

    steps: tuple[JoinStep, ...]
    entity: Entity
    attribute: Attribute
    via: Lambda | None = None

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
    left: Expr
    right: Expr


@dataclass(frozen=True)
class BoolOp:
    op: str  # and or
    left: Expr
    right: Expr


@dataclass(frozen=True)
class NotOp:
    operand: Expr


@dataclass(frozen=True)
class Arith:
    op: str  # add sub mul div divby mod
    left: Expr
    right: Expr
    edm_type: str


@dataclass(frozen=True)
class NegateOp:
    operand: Expr
    edm_type: str


@dataclass(frozen=True)
class Function:
    """A canonical OData function (contains, startswith, ..., and in loose mode the rest)."""

    name: str
    args: tuple[Expr, ...]
    edm_type: str


@dataclass(frozen=True)
class InList:
    operand: Expr
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
class Like:
    """FetchXML's like / begins-with / ends-with: a SQL LIKE pattern, as written."""

    operand: PropertyRef
    pattern: str
    negated: bool = False


@dataclass(frozen=True)
class Link:
    """A FetchXML link-entity: a join step from the table reached so far (`attribute`, the link's
    `to`) to `target` (`target_column`, its `from`). `navigation` is the link's alias, unique in
    its query, so that it keys the join like a navigation property does."""

    navigation: str
    attribute: str
    target: str
    target_column: str
    outer: bool = False
    # True when many linked rows may match one row (the link reaches a lookup pointing back).
    multiplies: bool = False


@dataclass(frozen=True)
class Lambda:
    """any/all over a collection-valued navigation of the entity reached by `steps`."""

    steps: tuple[ManyToOne, ...]
    navigation: OneToMany
    target: Entity
    operator: str
    predicate: Expr | None
    variable: str | None


Expr: TypeAlias = (
    PropertyRef | Const | Compare | BoolOp | NotOp | Arith | NegateOp | Function | InList | Range
    | ClockCondition | DateCondition | CallerCondition | Lambda | Like
)


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
    expansions: tuple[Expansion, ...] = ()


@dataclass(frozen=True)
class Expansion:
    navigation: ManyToOne | OneToMany
    projection: Projection
    filter: Expr | None = None
    orderby: tuple[OrderKey, ...] = ()
    top: int | None = None
    # Its options as written, as a query string (`$select=subject&$filter=...`): what the
    # `<navigation>@odata.nextLink` of a collection-valued expansion appends.
    link_query: str = ""

    @property
    def is_collection(self) -> bool:
        return isinstance(self.navigation, OneToMany)


@dataclass(frozen=True)
class GroupKey:
    ref: PropertyRef
    output_name: str
    dategrouping: str | None = None  # FetchXML: day week month quarter year
    source: str | None = None  # FetchXML: the column's logical name (AttributeName annotation)


@dataclass(frozen=True)
class AggregateValue:
    method: str  # count sum min max average countdistinct countcolumn
    ref: PropertyRef | None
    alias: str
    edm_type: str
    source: str | None = None  # FetchXML: the column's logical name (AttributeName annotation)


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


# ---------------------------------------------------------------------------------- FetchXML


@dataclass(frozen=True)
class FetchColumn:
    """One output property of a FetchXML row: `name` as written in the JSON (`_x_value`, an alias,
    or `linkalias.column`); `source` the column's logical name when the name is not its own."""

    name: str
    ref: PropertyRef
    source: str | None = None


@dataclass(frozen=True)
class BoundFetch:
    entity: Entity
    columns: tuple[FetchColumn, ...]
    where: Expr | None
    orderby: tuple[OrderKey, ...]
    # Conditions of link-entity filters, by the link's path: they belong to the join's ON clause.
    link_conditions: tuple[tuple[tuple[str, ...], Expr], ...] = ()
    links: tuple[tuple[Link, ...], ...] = ()  # every link's path, joined even when nothing is selected
    top: int | None = None
    page_size: int | None = None
    page: int = 1
    paging_cookie: str | None = None
    distinct: bool = False
    count: bool = False
    total_record_count: bool = False
    apply: BoundApply | None = None
    aggregate_limit: int | None = None
    # The @odata.context projection: the root's attribute property names, in request order.
    context_items: tuple[str, ...] = ()

    @property
    def multiplies(self) -> bool:
        return any(step.multiplies for path in self.links for step in path)
