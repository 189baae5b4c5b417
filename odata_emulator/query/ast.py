"""The syntax tree of OData query options: frozen dataclasses, names as written, no types yet.

`parser.py` builds it from the lark parse tree; `binder.py` (with `bind_expression.py` and
`bind_apply.py`) resolves it against the model.
`pos` is the character offset in the option's text (0-based, as ODataLib reports it); it
takes no part in equality so that trees compare by meaning.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeAlias


@dataclass(frozen=True)
class Node:
    pass


# ----------------------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Literal(Node):
    """A typed constant. `edm_type` is the OData type the literal was written as."""

    value: None | bool | int | Decimal | float | str | uuid.UUID | dt.datetime | dt.date
    edm_type: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Member(Node):
    """A property path: `statecode`, `owninguser/fullname`."""

    path: tuple[str, ...]
    pos: int = field(default=0, compare=False)

    @property
    def text(self) -> str:
        return "/".join(self.path)


@dataclass(frozen=True)
class Alias(Node):
    """A parameter alias `@p1`; its value comes from the query string."""

    name: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class BinaryOp(Node):
    """`op` is one of eq ne gt ge lt le and or add sub mul div divby mod has."""

    op: str
    left: Node
    right: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Not(Node):
    operand: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Negate(Node):
    operand: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class In(Node):
    operand: Node
    items: tuple[Node, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Call(Node):
    """A canonical OData function: contains(name,'x'), tolower(name), year(createdon)..."""

    name: str
    args: tuple[Node, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class JsonArray(Node):
    """`PropertyValues=["31","32"]`: the values as the strings (or numbers) written."""

    items: tuple[str | int | float | Decimal, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class DataverseCall(Node):
    """A query function such as Microsoft.Dynamics.CRM.LastXHours(PropertyName='createdon',PropertyValue=24)."""

    namespace: str
    name: str
    args: tuple[tuple[str, Node], ...]
    pos: int = field(default=0, compare=False)

    def arg(self, key: str) -> Node | None:
        for name, value in self.args:
            if name == key:
                return value
        return None


@dataclass(frozen=True)
class Lambda(Node):
    """`Tasks/any(t:t/statecode eq 1)`."""

    path: tuple[str, ...]
    operator: str
    variable: str | None
    predicate: Node | None
    pos: int = field(default=0, compare=False)


# ----------------------------------------------------------------------------- query options


@dataclass(frozen=True)
class SelectItem(Node):
    path: tuple[str, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Select(Node):
    items: tuple[SelectItem, ...]
    star: bool = False


@dataclass(frozen=True)
class OrderItem(Node):
    expr: Node
    descending: bool = False


@dataclass(frozen=True)
class OrderBy(Node):
    items: tuple[OrderItem, ...]


@dataclass(frozen=True)
class ExpandItem(Node):
    path: tuple[str, ...]
    ref: bool = False
    select: Select | None = None
    filter: Node | None = None
    orderby: OrderBy | None = None
    top: str | None = None  # as written: the binder reads it as it reads $top
    expand: Expand | None = None
    # Options that parse but that Dataverse refuses inside $expand: name -> raw value.
    unsupported: tuple[str, ...] = ()
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Expand(Node):
    items: tuple[ExpandItem, ...]


@dataclass(frozen=True)
class AggregateItem(Node):
    """`prop with sum as total`, or `$count as count` (path is None)."""

    path: tuple[str, ...] | None
    method: str
    alias: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class ApplyFilter(Node):
    expr: Node


@dataclass(frozen=True)
class GroupBy(Node):
    paths: tuple[tuple[str, ...], ...]
    aggregate: tuple[AggregateItem, ...] = ()


@dataclass(frozen=True)
class Aggregate(Node):
    items: tuple[AggregateItem, ...]


@dataclass(frozen=True)
class UnsupportedTransformation(Node):
    """A standard transformation Dataverse does not implement (orderby, top, compute...)."""

    name: str
    pos: int = field(default=0, compare=False)


ApplyStep: TypeAlias = ApplyFilter | GroupBy | Aggregate | UnsupportedTransformation


@dataclass(frozen=True)
class Apply(Node):
    steps: tuple[ApplyStep, ...]


# ----------------------------------------------------------------------------- FetchXML and QueryExpression
#
# The two query languages of the SDK side share one tree: `fetchxml/parse.py` builds it from FetchXML,
# `fetchxml/queryexpression.py` from the Web API's QueryExpression JSON (BulkDelete's QuerySet). Their
# conditions use the same expression nodes as $filter (BinaryOp 'and'/'or' over Condition), so
# the binder and the compiler serve all three.


@dataclass(frozen=True)
class Condition(Node):
    """`<condition attribute='statecode' operator='eq' value='3'/>`: `operator` is the SDK's
    ConditionOperator name (Equal, OlderThanXDays, ...), `values` the values as written.
    `entity` names a link-entity alias when the condition is on a linked table."""

    attribute: str
    operator: str
    values: tuple[str, ...] = ()
    entity: str | None = None
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class FetchAttribute(Node):
    name: str
    alias: str | None = None
    aggregate: str | None = None  # count countcolumn sum avg min max
    groupby: bool = False
    dategrouping: str | None = None  # day week month quarter year fiscal-period fiscal-year
    distinct: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class FetchOrder(Node):
    attribute: str | None = None
    alias: str | None = None
    descending: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class FetchLink(Node):
    """`<link-entity name='systemuser' from='systemuserid' to='createdby' alias='u' link-type='outer'>`."""

    name: str
    from_attribute: str
    to_attribute: str
    alias: str | None = None
    link_type: str = "inner"
    attributes: tuple[FetchAttribute, ...] = ()
    all_attributes: bool = False
    filter: Node | None = None
    orders: tuple[FetchOrder, ...] = ()
    links: tuple[FetchLink, ...] = ()
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Fetch(Node):
    entity: str
    attributes: tuple[FetchAttribute, ...] = ()
    all_attributes: bool = False
    filter: Node | None = None
    orders: tuple[FetchOrder, ...] = ()
    links: tuple[FetchLink, ...] = ()
    top: int | None = None
    count: int | None = None
    page: int | None = None
    paging_cookie: str | None = None
    distinct: bool = False
    aggregate: bool = False
    aggregate_limit: int | None = None
    total_record_count: bool = False
