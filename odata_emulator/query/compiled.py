"""What the compiler hands on: a statement plus the description of its columns.

A query compiles to one of two forms. `CompiledRows` are rows of a table, written by the
serializer through their `Shape` and paged with a keyset over their `order`. `CompiledAggregate`
rows are groups ($apply, FetchXML aggregates), written through their `AggregateOut`s and never
paged. `query/execute.py` runs either; `api/serialize.py` reads only these types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from sqlalchemy.sql import ColumnElement, Select

from ..model import Attribute, Entity, OneToMany
from . import bound as b


@dataclass(frozen=True)
class FieldOut:
    """One property of one entity in the output."""

    name: str
    attribute: Attribute
    label: str
    # Lookups, when annotations are wanted: the labels of the related row's primary name and of
    # the related table's logical name (polymorphic lookups only).
    name_label: str | None = None
    type_label: str | None = None
    navigation: str | None = None
    target: str | None = None
    source: str | None = None  # FetchXML: the logical name behind an alias (AttributeName annotation)


@dataclass(frozen=True)
class Shape:
    """Which labelled column of a row holds which property, for one entity and its expansions."""

    entity: Entity
    fields: tuple[FieldOut, ...]
    key_label: str | None  # None: the rows carry no key (FetchXML distinct)
    key_selected: bool
    etag_label: str | None
    # Properties every row carries by inheritance (systemuser.ownerid mirrors systemuserid).
    inherited: tuple[str, ...] = ()
    single: tuple[tuple[str, Shape, bool], ...] = ()  # (navigation, shape, is $ref)
    collections: tuple[tuple[str, CollectionPlan], ...] = ()
    # What the serializer derives from the fields once (`api/serialize.py`), filled on first use:
    # kept on the shape because a cached plan's shape lives as long as the plan.
    serializer_cache: dict = field(default_factory=dict, init=False, compare=False, repr=False)


@dataclass(frozen=True)
class CollectionPlan:
    """A collection-valued expansion, run as one query per page of parent rows."""

    navigation: OneToMany
    statement: Select  # takes the bind parameter "parent_keys" (a JSON array)
    parent_label: str
    shape: Shape
    params: tuple[RuntimeParam, ...]
    # The expansion's options as a query string, for its `<navigation>@odata.nextLink`.
    link_query: str = ""
    # Paged (a nested $expand anywhere in the query, join-tables.md): the statement keeps the first
    # rows of each parent's collection up to the bind parameter "child_page", in `key_order`.
    paged: bool = False
    key_order: tuple[OrderColumn, ...] = ()
    # The statement compiled to SQLite text (`query/execute.py`), filled on first use.
    sql_cache: dict = field(default_factory=dict, init=False, compare=False, repr=False)


@dataclass(frozen=True)
class OrderColumn:
    """One key of the total order rows are paged by; `cookie_name` names it in the paging cookie."""

    label: str
    expression: ColumnElement
    attribute: Attribute
    descending: bool
    cookie_name: str


@dataclass(frozen=True)
class RuntimeParam:
    """A bind parameter computed at execution: a clock bound, or the caller's ids."""

    name: str
    function: str | None = None
    amount: int | None = None
    upper: bool = False
    caller: str | None = None  # "user" | "businessunit"


@dataclass(frozen=True)
class AggregateOut:
    """One column of an aggregated row: a group key or an aggregate value."""

    name: str
    label: str
    edm_type: str
    attribute: Attribute | None = None  # for group keys: the grouped attribute
    name_label: str | None = None
    type_label: str | None = None
    target: str | None = None
    navigation: str | None = None
    is_aggregate: bool = False
    source: str | None = None  # FetchXML: the aggregated or grouped column (AttributeName annotation)


@dataclass(frozen=True)
class CompiledRows:
    """Rows of the query's table, ordered by a total order so that they can be paged by keyset."""

    statement: Select
    shape: Shape
    order: tuple[OrderColumn, ...]
    params: tuple[RuntimeParam, ...]
    filtered: Select | None = None  # the filtered rows, unordered (for $count); None: count the statement
    query: b.BoundQuery | None = None  # None for FetchXML
    # The statement's variants compiled to SQLite text (`query/execute.py`), filled on first use.
    sql_cache: dict = field(default_factory=dict, init=False, compare=False, repr=False)


@dataclass(frozen=True)
class CompiledAggregate:
    """One row per group: `aggregate_outputs` name its columns; `input_count` counts the rows fed to
    aggregation, which the aggregate limit is about (the answer may stop above `probe_limit`)."""

    statement: Select
    params: tuple[RuntimeParam, ...]
    aggregate_outputs: tuple[AggregateOut, ...]
    input_count: Select
    query: b.BoundQuery
    sql_cache: dict = field(default_factory=dict, init=False, compare=False, repr=False)
    # How long the aggregate took when it last ran, in seconds ("seconds"): the read path runs a
    # quick one on the event loop's thread (`api/collection.py`).
    timing: dict = field(default_factory=dict, init=False, compare=False, repr=False)
    # What the serializer derives from the outputs once (`api/serialize.py`), as `Shape` keeps it.
    serializer_cache: dict = field(default_factory=dict, init=False, compare=False, repr=False)
    # Groups are not entities and are not paged: code that reads either form finds no shape and
    # no keyset order here.
    shape: ClassVar[None] = None
    order: ClassVar[tuple[OrderColumn, ...]] = ()


CompiledQuery = CompiledRows | CompiledAggregate


def single_target(attribute: Attribute) -> str | None:
    """The table a lookup points to, when it points to one only (its `lookuplogicalname`)."""
    return attribute.targets[0] if len(attribute.targets) == 1 else None


def associated_navigation(entity: Entity, attribute: Attribute) -> str | None:
    """The navigation property a lookup's value belongs to (its `associatednavigationproperty`)."""
    for rel in entity.many_to_one:
        if rel.attribute == attribute.name and len(attribute.targets) == 1:
            return rel.navigation
    return attribute.name if attribute.name == "ownerid" else None
