"""The store: one SQLite database (a file by default) behind an async SQLAlchemy engine."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from ..model import EntityModel
from .schema import METADATA

DEFAULT_DATABASE = "odata-emulator.db"


def database_url(database: str) -> str:
    """`:memory:`, a file path, or a full SQLAlchemy URL (sqlite+aiosqlite://...)."""
    if database == ":memory:":
        return "sqlite+aiosqlite://"
    if "://" in database:
        return database
    return f"sqlite+aiosqlite:///{Path(database).expanduser().resolve()}"


def create_engine(database: str) -> AsyncEngine:
    url = database_url(database)
    in_memory = url in ("sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:")
    kwargs: dict = {}
    if in_memory:
        # One connection for the life of the engine: an in-memory database exists per connection.
        kwargs["poolclass"] = StaticPool
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection, _record):  # pragma: no cover - exercised by every test
        cursor = dbapi_connection.cursor()
        if not in_memory:
            # WAL lets reads run while the scheduler writes, and several processes share one file.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.close()

    return engine


async def create_schema(engine: AsyncEngine, model: EntityModel) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(METADATA.create_all)
        await _refresh_entity_definitions(conn, model)


async def _refresh_entity_definitions(conn, model: EntityModel) -> None:
    """EntityDefinitions rows are the model itself; they are rewritten at every start."""
    table = METADATA.tables["EntityMetadata"]
    await conn.execute(table.delete())
    rows = [
        {
            "MetadataId": e.metadata_id,
            "LogicalName": e.logical_name,
            "SchemaName": e.schema_name,
            "EntitySetName": e.entity_set,
            "LogicalCollectionName": e.entity_set,
            "CollectionSchemaName": e.schema_name + "s",
            "PrimaryIdAttribute": e.primary_id,
            "PrimaryNameAttribute": e.primary_name,
            "ObjectTypeCode": e.object_type_code,
            "OwnershipType": e.ownership,
            "TableType": "Standard",
            "IsCustomEntity": 0,
            "IsActivity": 0,
            "IsIntersect": 0,
        }
        for e in model.entities
        if not e.is_metadata
    ]
    await conn.execute(insert(table), rows)


async def read_meta(conn, key: str) -> str | None:
    table = METADATA.tables["emulator_meta"]
    return (await conn.execute(select(table.c.value).where(table.c.key == key))).scalar_one_or_none()


async def write_meta(conn, key: str, value: str) -> None:
    table = METADATA.tables["emulator_meta"]
    await conn.execute(table.delete().where(table.c.key == key))
    await conn.execute(insert(table).values(key=key, value=value))
