"""The tables SQL sees: the model's entities by logical name, each column typed as Dataverse's TDS
endpoint types it, plus Dataverse's extra columns:

- `<choice>name`: the label of a choice, state, status or yes/no column (`statecodename`,
  `statuscodename`, `operationtypename`, `iswaitingforeventname`);
- `<lookup>name`: the primary name of the row a lookup points at (`owneridname`,
  `regardingobjectidname`, `owningextensionidname`, `createdbyname`...).

A column whose content may be in file storage (a job's `data`, `model/files.py`) reads that content
when its row points at a file, as `store.schema.readable_column` reads it for the Web API.

Stored columns keep the store's forms (epoch seconds, lowercase GUID text, 0/1); `encoders.py` converts
them on the way out. Columns the emulator keeps for itself (`leaseexpires`) and columns Dataverse does
not let anyone read are not tables' columns here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from ..model import MODEL, Attribute, Entity, EntityModel
from ..model import AttributeType as T
from ..model.files import FILE_COLUMNS
from ..store.schema import FILE_CONTENT
from .types import BIGINT, BIT_TYPE, DATETIME_TYPE, FLOAT, GUID, INT, NVARCHAR_MAX, SqlType, nvarchar

# Columns of the store that are the emulator's own, never a Dataverse column.
PRIVATE_COLUMNS = frozenset({"leaseexpires"})
LABEL_TYPE = nvarchar(4000)


@dataclass(frozen=True)
class LookupTarget:
    table: str  # logical name of the table pointed at
    id_column: str
    name_column: str


@dataclass(frozen=True)
class Column:
    """One column of a table as SQL sees it.

    kind "stored": a column of the store (`source` is its name, the same as `name`);
    kind "label": the label of the choice in `source` (`labels`: value -> label);
    kind "lookupname": the primary name of the row the lookup `source` points at (`targets`, and the
    column holding the target table's logical name for a polymorphic lookup, `type_column`);
    kind "file": the stored column `source`, or when the row's `file_column` holds a file's id, the
    content of that file (`content`: the content table, its key column and its content column)."""

    name: str
    type: SqlType
    kind: str = "stored"
    source: str | None = None
    labels: tuple[tuple[int, str], ...] = ()
    targets: tuple[LookupTarget, ...] = ()
    type_column: str | None = None
    file_column: str | None = None
    content: tuple[str, str, str] | None = None


# Where file storage keeps a file's content: the table, its key (the file's id), the content.
CONTENT = (FILE_CONTENT.name, FILE_CONTENT.c.fileattachmentid.name, FILE_CONTENT.c.content.name)


@dataclass(frozen=True)
class Table:
    name: str
    entity: Entity
    columns: tuple[Column, ...]
    primary_key: str

    @cached_property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}


@dataclass(frozen=True)
class Catalog:
    tables: dict[str, Table] = field(default_factory=dict)

    def table(self, name: str) -> Table | None:
        return self.tables.get(name.lower())

    def schema(self) -> dict[str, object]:
        """{table: {column: type}} for sqlglot's column qualification (typed as `qualify` takes it)."""
        return {t.name: {c.name: str(c.type) for c in t.columns} for t in self.tables.values()}


def sql_type(attribute: Attribute) -> SqlType:
    kind = attribute.type
    if kind in (T.UNIQUEIDENTIFIER, T.LOOKUP, T.OWNER):
        return GUID
    if kind is T.STRING:
        length = attribute.max_length or 4000
        return nvarchar(length) if length <= 4000 else NVARCHAR_MAX
    if kind is T.MEMO:
        return NVARCHAR_MAX
    if kind is T.ENTITYNAME:
        return nvarchar(64)
    if kind is T.BIGINT:
        return BIGINT
    if kind is T.DOUBLE:
        return FLOAT
    if kind is T.DATETIME:
        return DATETIME_TYPE
    if kind is T.BOOLEAN:
        return BIT_TYPE
    return INT  # Integer, Picklist, State, Status


def build(model: EntityModel = MODEL) -> Catalog:
    tables: dict[str, Table] = {}
    for entity in model.entities:
        if entity.is_metadata:
            continue
        columns: list[Column] = []
        stored = {a.name for a in entity.attributes}
        for attribute in entity.attributes:
            if attribute.name in PRIVATE_COLUMNS or not attribute.valid_for_read:
                continue
            file_column = FILE_COLUMNS.get((entity.logical_name, attribute.name))
            if file_column is not None:
                columns.append(Column(attribute.name, sql_type(attribute), "file", attribute.name,
                                      file_column=file_column, content=CONTENT))
            else:
                columns.append(Column(attribute.name, sql_type(attribute), source=attribute.name))
            extra = f"{attribute.name}name"
            if extra in stored:
                continue
            if attribute.option_set is not None:
                labels = tuple(sorted(attribute.option_set.labels.items()))
                columns.append(Column(extra, LABEL_TYPE, "label", attribute.name, labels=labels))
            elif attribute.boolean_labels is not None:
                labels = ((0, attribute.boolean_labels.false), (1, attribute.boolean_labels.true))
                columns.append(Column(extra, LABEL_TYPE, "label", attribute.name, labels=labels))
            elif attribute.is_lookup:
                targets = []
                for target in attribute.targets:
                    other = model.by_logical_name.get(target)
                    if other is not None and other.primary_name:
                        targets.append(LookupTarget(target, other.primary_id, other.primary_name))
                if targets:
                    lengths = [model.by_logical_name[t.table].columns[t.name_column].max_length or 4000
                               for t in targets]
                    columns.append(Column(extra, nvarchar(min(4000, max(lengths))), "lookupname", attribute.name,
                                          targets=tuple(targets),
                                          type_column=attribute.type_column if len(targets) > 1 else None))
        tables[entity.logical_name.lower()] = Table(entity.logical_name, entity, tuple(columns), entity.primary_id)
    return Catalog(tables)


CATALOG = build()
