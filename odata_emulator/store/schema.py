"""The SQL schema, derived from the entity model.

Storage conventions (the serializer and the compiler rely on them):
- GUIDs are stored as lowercase canonical text;
- date-times as whole seconds since the Unix epoch (UTC), so comparisons are integer
  comparisons and "second precision" holds by construction;
- booleans as 0/1; text columns collate NOCASE because Dataverse compares strings
  case-insensitively.
"""

from __future__ import annotations

import functools

from sqlalchemy import (
    CheckConstraint,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    case,
    event,
    func,
    select,
    text,
)
from sqlalchemy.sql import ColumnElement

from ..model import MODEL, Entity, EntityModel
from ..model import AttributeType as T
from ..model.files import FILE_COLUMNS
from .values import FILE_TEXT_FUNCTION

_TEXT = Text(collation="NOCASE")


def _sql_type(kind: T):
    if kind in (T.UNIQUEIDENTIFIER, T.LOOKUP, T.OWNER):
        return String(36)
    if kind in (T.STRING, T.MEMO, T.ENTITYNAME):
        return _TEXT
    if kind is T.DOUBLE:
        return Float()
    return Integer()


def _state_status_check(entity: Entity) -> CheckConstraint | None:
    """Pins the legal (statecode, statuscode) pairs, so no writer can store an impossible job."""
    state = entity.columns.get("statecode")
    status = entity.columns.get("statuscode")
    if not (state and status and state.option_set and status.option_set):
        return None
    by_state: dict[int, list[int]] = {}
    for option in status.option_set.options:
        if option.state is not None:
            by_state.setdefault(option.state, []).append(option.value)
    clauses = " OR ".join(
        f"(statecode = {s} AND statuscode IN ({', '.join(map(str, v))}))" for s, v in sorted(by_state.items())
    )
    return CheckConstraint(clauses, name=f"ck_{entity.logical_name}_state_status")


# Indexes beyond the primary keys: the documented diagnostic groupings (covering), the queue
# order, and every lookup the read path joins on. A text value is a partial index's condition.
_EXTRA_INDEXES: dict[str, list[tuple[str, ...]]] = {
    "asyncoperation": [
        ("statecode", "statuscode", "operationtype"),
        ("operationtype", "statecode", "statuscode"),
        ("createdon",),
        ("statecode", "postponeuntil", "createdon"),
        ("dependencytoken", "createdon"),
        ("versionnumber",),
        ("sequence",),  # a new job is numbered after the highest (jobs/create.py): max() reads one entry
        # The scheduler's queue: Ready jobs in claim order, and the first unfinished job of a
        # dependency token (the scheduler's query spells `statecode < 3` the same way).
        ("statecode", "statuscode", "createdon", "sequence", "asyncoperationid", "dependencytoken IS NULL"),
        ("dependencytoken", "createdon", "sequence", "asyncoperationid", "statecode < 3"),
    ],
}


# Groupings whose row counts the store keeps, per table: the documented diagnostic queries group system
# jobs by these three and count them (`store/group_counts.py` keeps the counts, `query/compile_apply.py`
# reads them).
COUNTED_GROUPS: dict[str, tuple[str, ...]] = {
    "asyncoperation": ("statecode", "statuscode", "operationtype"),
}
ROW_COUNT = "rowcount"  # a counts table's column: how many rows hold its keys' values


def _counts_name(table: str) -> str:
    return f"emulator_group_count_{table}"


def _create_count_triggers(table: str, _counts: Table, connection, **_) -> None:
    from .group_counts import create_triggers  # group_counts.py reads this module's tables

    create_triggers(connection, table)


def build_metadata(model: EntityModel = MODEL) -> MetaData:
    metadata = MetaData()
    for entity in model.entities:
        columns = []
        for attribute in entity.attributes:
            columns.append(
                Column(
                    attribute.name,
                    _sql_type(attribute.type),
                    primary_key=attribute.name == entity.primary_id,
                )
            )
        check = _state_status_check(entity)
        table = Table(entity.logical_name, metadata, *columns, *([check] if check is not None else []))
        for spec in _EXTRA_INDEXES.get(entity.logical_name, []):
            names = [c for c in spec if c in table.c]
            where = [text(c) for c in spec if c not in table.c]
            name = f"ix_{entity.logical_name}_{'_'.join(names)}" + ("_partial" if where else "")
            Index(name, *(table.c[c] for c in names), sqlite_where=where[0] if where else None)
        for attribute in entity.attributes:
            if attribute.is_lookup:
                Index(f"ix_{entity.logical_name}_{attribute.name}", table.c[attribute.name])
    for name, keys in COUNTED_GROUPS.items():
        # One row per combination of the keys' values ever stored (NULL is a value here, as in GROUP BY);
        # the count falls to 0, and the row stays, when the last such row goes.
        counts = Table(_counts_name(name), metadata, *(Column(key, Integer) for key in keys),
                       Column(ROW_COUNT, Integer, nullable=False))
        Index(f"ix_{counts.name}", *(counts.c[key] for key in keys), unique=True)
        # Made with their triggers, however the schema is made (the store's start, or `create_all`):
        # counts that nothing keeps would answer wrongly. (After the counted table, which sorts first.)
        event.listen(counts, "after_create", functools.partial(_create_count_triggers, name))
    # One row per state a system job entered, oldest first: the control API's job history.
    history = Table(
        "emulator_job_history",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("asyncoperationid", String(36), nullable=False),
        Column("at", Integer, nullable=False),
        Column("statecode", Integer, nullable=False),
        Column("statuscode", Integer, nullable=False),
        Column("reason", Text()),
        Column("host", Text()),
    )
    Index("ix_emulator_job_history_job", history.c.asyncoperationid, history.c.id)
    # How a simulated job behaves when it runs (duration, outcome), set by fixtures or the control API.
    Table(
        "emulator_job_simulation",
        metadata,
        Column("asyncoperationid", String(36), primary_key=True),
        Column("settings", Text(), nullable=False),
    )
    # File storage's content (model/files.py): one row per `fileattachment`, by its id, compressed
    # (`values.compress_file`; read through `values.FILE_TEXT_FUNCTION`).
    Table(
        "emulator_file_content",
        metadata,
        Column("fileattachmentid", String(36), primary_key=True),
        Column("content", LargeBinary(), nullable=False),
    )
    # Change tracking (`store/changes.py`): each record deleted from a tracked table, in deletion order.
    Table(
        "emulator_deleted_row",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("tablename", String(64), nullable=False),
        Column("recordid", String(36), nullable=False),
    )
    Table(
        "emulator_meta",
        metadata,
        Column("key", String(64), primary_key=True),
        Column("value", Text()),
    )
    return metadata


METADATA = build_metadata()

# Handles of the tables code writes by name (the job engine, the control API), defined once here.
JOBS = METADATA.tables["asyncoperation"]
HISTORY = METADATA.tables["emulator_job_history"]  # one row per state a job entered
SIMULATIONS = METADATA.tables["emulator_job_simulation"]  # how a simulated job behaves when it runs
DELETED_ROWS = METADATA.tables["emulator_deleted_row"]  # what change tracking reports deleted
BULK_DELETES = METADATA.tables["bulkdeleteoperation"]
FILES = METADATA.tables["fileattachment"]
FILE_CONTENT = METADATA.tables["emulator_file_content"]  # the content of each file in file storage
# The counts table of each table in COUNTED_GROUPS, by table name.
GROUP_COUNTS = {name: METADATA.tables[_counts_name(name)] for name in COUNTED_GROUPS}


def table_for(entity: Entity) -> Table:
    return METADATA.tables[entity.logical_name]


def readable_column(table, name: str) -> ColumnElement:
    """Column `name` of `table` (a table or an alias of one) as every reader sees it: the stored
    column, or for a column whose content may be in file storage (`FILE_COLUMNS`), the content of
    the file its row points at when it points at one. Every query path reads columns through this
    (the Web API's projections and filters, FetchXML, `$apply`); the TDS catalog declares the same
    expression in SQL."""
    column = table.c[name]
    file_id = FILE_COLUMNS.get((getattr(table, "element", table).name, name))
    if file_id is None:
        return column
    read = getattr(func, FILE_TEXT_FUNCTION)  # the content is kept compressed (`values.compress_file`)
    content = (select(read(FILE_CONTENT.c.content)).where(FILE_CONTENT.c.fileattachmentid == table.c[file_id])
               .scalar_subquery())
    # Compared as the stored column is (NOCASE): a CASE carries no column's collation.
    return case((table.c[file_id].is_(None), column), else_=content).collate("NOCASE")
