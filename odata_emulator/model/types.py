"""The vocabulary of the entity model: tables, columns, option sets and relationships.

Everything here is a frozen dataclass, declared once in `entities.py`. The SQL schema
(`store/schema.py`), the binder, the serializer and the CSDL document are all derived from it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import cached_property


class AttributeType(enum.Enum):
    """Dataverse attribute types (`AttributeTypeCode`), with their Web API (Edm) type."""

    UNIQUEIDENTIFIER = "Uniqueidentifier"
    STRING = "String"
    MEMO = "Memo"
    INTEGER = "Integer"
    BIGINT = "BigInt"
    DOUBLE = "Double"
    DATETIME = "DateTime"
    BOOLEAN = "Boolean"
    PICKLIST = "Picklist"
    STATE = "State"
    STATUS = "Status"
    LOOKUP = "Lookup"
    OWNER = "Owner"
    ENTITYNAME = "EntityName"

    @property
    def edm_type(self) -> str:
        return _EDM_TYPES[self]

    @property
    def is_lookup(self) -> bool:
        return self in (AttributeType.LOOKUP, AttributeType.OWNER)

    @property
    def is_choice(self) -> bool:
        return self in (AttributeType.PICKLIST, AttributeType.STATE, AttributeType.STATUS)


_EDM_TYPES = {
    AttributeType.UNIQUEIDENTIFIER: "Edm.Guid",
    AttributeType.STRING: "Edm.String",
    AttributeType.MEMO: "Edm.String",
    AttributeType.INTEGER: "Edm.Int32",
    AttributeType.BIGINT: "Edm.Int64",
    AttributeType.DOUBLE: "Edm.Double",
    AttributeType.DATETIME: "Edm.DateTimeOffset",
    AttributeType.BOOLEAN: "Edm.Boolean",
    AttributeType.PICKLIST: "Edm.Int32",
    AttributeType.STATE: "Edm.Int32",
    AttributeType.STATUS: "Edm.Int32",
    AttributeType.LOOKUP: "Edm.Guid",
    AttributeType.OWNER: "Edm.Guid",
    AttributeType.ENTITYNAME: "Edm.String",
}


@dataclass(frozen=True)
class Option:
    value: int
    label: str
    # Status options name the state they belong to; state options name their default status.
    state: int | None = None
    default_status: int | None = None


@dataclass(frozen=True)
class OptionSet:
    name: str
    options: tuple[Option, ...]
    is_global: bool = False

    @cached_property
    def labels(self) -> dict[int, str]:
        return {o.value: o.label for o in self.options}

    @cached_property
    def by_value(self) -> dict[int, Option]:
        return {o.value: o for o in self.options}


@dataclass(frozen=True)
class BooleanLabels:
    true: str = "Yes"
    false: str = "No"


@dataclass(frozen=True)
class Attribute:
    """One column. `name` is the logical name and also the SQL column name."""

    name: str
    type: AttributeType
    description: str = ""
    display_name: str = ""
    max_length: int | None = None
    min_value: float | None = None
    max_value: float | None = None
    precision: int | None = None
    option_set: OptionSet | None = None
    boolean_labels: BooleanLabels | None = None
    # Lookups: the tables the column may point at, and (for polymorphic lookups) the hidden
    # column that holds the logical name of the table a row points at.
    targets: tuple[str, ...] = ()
    type_column: str | None = None
    date_only: bool = False
    valid_for_create: bool = False
    valid_for_update: bool = False
    valid_for_read: bool = True
    required: bool = False
    # False for columns stored for the platform's sake but not surfaced as Web API properties
    # (a polymorphic lookup's type code, the row version).
    in_webapi: bool = True
    # The emulator's own bookkeeping, which Dataverse does not have (and the metadata API omits).
    emulator_only: bool = False

    @property
    def edm_type(self) -> str:
        return self.type.edm_type

    @property
    def property_name(self) -> str:
        """The Web API property name: lookups surface as `_<name>_value`."""
        return f"_{self.name}_value" if self.type.is_lookup else self.name

    @property
    def is_lookup(self) -> bool:
        return self.type.is_lookup


@dataclass(frozen=True)
class ManyToOne:
    """A single-valued navigation property: this table's lookup column points at `target`."""

    navigation: str
    attribute: str
    target: str
    schema_name: str
    # The partner collection-valued navigation property on the target, when modelled.
    partner: str | None = None


@dataclass(frozen=True)
class OneToMany:
    """A collection-valued navigation property: rows of `target` whose `attribute` points here."""

    navigation: str
    target: str
    attribute: str
    schema_name: str


@dataclass(frozen=True)
class Entity:
    logical_name: str
    schema_name: str
    entity_set: str
    primary_id: str
    primary_name: str | None
    display_name: str
    display_collection_name: str
    attributes: tuple[Attribute, ...]
    many_to_one: tuple[ManyToOne, ...] = ()
    one_to_many: tuple[OneToMany, ...] = ()
    object_type_code: int = 0
    metadata_id: str = "00000000-0000-0000-0000-000000000000"
    base_type: str = "crmbaseentity"
    has_row_version: bool = True
    # Tables whose rows are the platform's own (metadata) rather than user data.
    is_metadata: bool = False
    # Extra properties every row of this table carries (systemuser and team inherit `ownerid`
    # from `principal`): property name -> column it mirrors.
    inherited_properties: tuple[tuple[str, str], ...] = ()
    ownership: str = "UserOwned"
    description: str = ""
    # Rows a client may create, update and delete through the Web API (`POST {set}`,
    # `PATCH`/`DELETE {set}({id})`, `store/records/`); the platform's own tables are read-only.
    writable: bool = False

    @cached_property
    def columns(self) -> dict[str, Attribute]:
        """Every stored column by logical name."""
        return {a.name: a for a in self.attributes}

    @cached_property
    def properties(self) -> dict[str, Attribute]:
        """Web API structural properties by property name (`_ownerid_value` for `ownerid`)."""
        return {
            a.property_name: a for a in self.attributes if a.in_webapi and a.valid_for_read
        }

    @cached_property
    def navigations(self) -> dict[str, ManyToOne | OneToMany]:
        result: dict[str, ManyToOne | OneToMany] = {}
        for single in self.many_to_one:
            result[single.navigation] = single
        for many in self.one_to_many:
            result[many.navigation] = many
        return result

    @cached_property
    def primary_id_attribute(self) -> Attribute:
        return self.columns[self.primary_id]


@dataclass(frozen=True)
class EntityModel:
    entities: tuple[Entity, ...]
    namespace: str = "Microsoft.Dynamics.CRM"
    alias: str = "mscrm"
    container: str = "System"
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @cached_property
    def _hash(self) -> int:
        return hash((self.entities, self.namespace, self.alias, self.container))

    def __hash__(self) -> int:
        # Computed once: caches are keyed by the model (`query/plan.py`, `store/engine.py`), and
        # hashing its every entity and attribute again cost about 4 ms per emulator started.
        return self._hash

    @cached_property
    def by_logical_name(self) -> dict[str, Entity]:
        return {e.logical_name: e for e in self.entities}

    @cached_property
    def by_entity_set(self) -> dict[str, Entity]:
        return {e.entity_set: e for e in self.entities}

    def entity(self, logical_name: str) -> Entity:
        return self.by_logical_name[logical_name]
