"""The store: one SQLite database (a file by default) behind an async SQLAlchemy engine."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import shutil
import sqlite3
import tempfile
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path

import aiosqlite
from sqlalchemy import bindparam, event, insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..model import EntityModel
from ..model.metadata import entity_definition_row
from . import one_trip
from .async_engine import AsyncConnection, AsyncEngine, create_async_engine
from .driver import InlineSnapshot, Snapshot, compile_sql, driver_connection, fetch_all
from .schema import METADATA
from .values import STORE_FUNCTIONS, register_functions

READERS = 4  # connections the read path keeps: reads run side by side on their threads (WAL)

# The transaction of the `$batch` change set being run by this task, if any.
_ATOMIC: ContextVar[AsyncConnection | None] = ContextVar("odata_emulator_atomic", default=None)


def database_url(database: str) -> str:
    """A file path, or a full SQLAlchemy URL (sqlite+aiosqlite://...)."""
    if "://" in database:
        return database
    return f"sqlite+aiosqlite:///{Path(database).expanduser().resolve()}"


def unusable_store(database: str) -> str | None:
    """Why the store file `database` cannot be used, in a sentence (None: it can, or start makes it):
    `serve` says so before it starts, instead of failing in the middle of its start."""
    if database == ":memory:" or "://" in database:
        return None
    path = Path(database).expanduser()
    if path.is_dir():
        return f"{path} is a directory, not a store file: give a file path to --database."
    if not path.parent.is_dir():
        return f"cannot make the store {path}: the directory {path.parent} does not exist."
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            db.execute("PRAGMA schema_version")
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return None  # another instance is at work on it: the start waits its turn
        return f"{path} is not a store ({exc}): give another --database, or move this file away."
    return None


class Store:
    """The engine, and the two ways in: `read()` for queries, `write()` for changes.

    A write transaction starts with BEGIN IMMEDIATE: it takes SQLite's write lock up front, so
    two writers (the API and the scheduler, or two processes on one file) queue on busy_timeout
    instead of deadlocking when a read-then-write transaction tries to upgrade its lock.
    `:memory:` is a private temporary file, removed on close, so that readers and the scheduler
    can use separate connections as they do on a durable file.
    """

    def __init__(self, database: str, *, fsync: bool = True) -> None:
        self._scratch: str | None = None
        if database == ":memory:":
            fsync = False  # a private file, removed on close
            self._scratch = tempfile.mkdtemp(prefix="odata-emulator-")
            database = str(Path(self._scratch) / "store.db")
        self.url = database_url(database)
        # Statements run on a connection whose cursor takes one trip to its thread (`one_trip.py`).
        self.engine: AsyncEngine = create_async_engine(self.url, async_creator=self._connect)
        database_file = self.engine.url.database
        self._file = database_file if database_file and database_file != ":memory:" else None
        self._idle: list[aiosqlite.Connection] = []
        self._inline: sqlite3.Connection | None = None  # the loop thread's own reader (`snapshot(inline=True)`)
        self._slots: asyncio.Semaphore | None = None
        self._writer = self.engine.execution_options(sqlite_immediate=True)

        self._synchronous = "PRAGMA synchronous=NORMAL" if fsync else "PRAGMA synchronous=OFF"

        @event.listens_for(self.engine.sync_engine, "connect")
        def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised by every test
            # Transactions are begun explicitly below, not by the driver.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            # WAL lets reads run while the scheduler writes, and several processes share one file.
            cursor.execute("PRAGMA journal_mode=WAL")
            # NORMAL: fsync at checkpoints only (WAL). OFF: never; a checkpoint and the close of
            # a store took 40 ms on a virtual disk, most of it waiting for fsync.
            cursor.execute(self._synchronous)
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
            register_functions(dbapi_connection)

        @event.listens_for(self.engine.sync_engine, "begin")
        def _on_begin(conn):  # pragma: no cover - exercised by every test
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    @property
    def file(self) -> str | None:
        """The store's database file (None: a database that lives in its connection only)."""
        return self._file

    def _connect(self) -> one_trip.OneTripConnection:
        dialect = self.engine.sync_engine.dialect
        arguments, options = dialect.create_connect_args(self.engine.sync_engine.url)
        return one_trip.connect(*arguments, **options)

    def read(self):
        atomic = _ATOMIC.get()
        return _borrowed(atomic) if atomic is not None else self.engine.connect()

    @asynccontextmanager
    async def snapshot(self, *, consistent: bool = False, inline: bool = False):
        """The read path's way in: a `Snapshot` on one of a few reader connections kept open
        (inside a `$batch` change set, on the change set's own connection, so it sees its writes).
        `consistent`: the statements run inside one read transaction, for a read of several
        statements (a page and its count or expansions) that must agree with each other.
        `inline`: one statement (a single row, a page of rows without a count or collections) run on
        the event loop's own thread (`InlineSnapshot`) instead of a reader's thread. For a row it
        spares the hop; for a page, the GIL: a reader thread turning a thousand rows into Python
        objects takes the GIL row by row, against the loop serializing the previous answer
        (`$top=1000` with an expansion, 16 connections, one process: 30 req/s on readers, 40-53
        inline, fewer at 16 connections than at 1 no more)."""
        atomic = _ATOMIC.get()
        if atomic is not None:
            yield Snapshot(await driver_connection(atomic))
            return
        if self._file is None:  # a private in-memory database: only the engine's connection sees it
            async with self.engine.connect() as conn:
                yield Snapshot(await driver_connection(conn))
            return
        if inline and not consistent:
            yield InlineSnapshot(self._inline_reader(self._file), self.snapshot)
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(READERS)
        async with self._slots:
            db = self._idle.pop() if self._idle else await self._open_reader()
            try:
                if consistent:
                    await db.execute("BEGIN")
                try:
                    yield Snapshot(db)
                finally:
                    if consistent:
                        await db.execute("ROLLBACK")
            finally:
                self._idle.append(db)

    def _inline_reader(self, file: str) -> sqlite3.Connection:
        if self._inline is None:
            self._inline = sqlite3.connect(file, isolation_level=None, check_same_thread=False,
                                           timeout=InlineSnapshot.BUSY_SECONDS)
            self._inline.execute("PRAGMA query_only=1")
            register_functions(self._inline)
        return self._inline

    def current_caller(self, model: EntityModel) -> str | None:
        """The stored caller (as stored) of a store that a start need not write to: WAL, its schema
        complete, its entity definitions current. Looked at on the loop thread's own reader, without
        the engine: a start on such a store (every start but the first) opens no write connection,
        and none of its thread. None when the start must write, or cannot tell; `create_schema`
        then looks again inside the write transaction."""
        if self._file is None:
            return None
        try:
            return _current_caller(self._inline_reader(self._file), model)
        except sqlite3.Error:  # no such file yet, busy, not a store: the write path finds out
            return None

    async def _open_reader(self) -> aiosqlite.Connection:
        assert self._file is not None  # snapshot() opens readers only on a file
        db = await aiosqlite.connect(self._file, isolation_level=None, timeout=30)  # timeout: busy_timeout, in s
        await db.execute("PRAGMA query_only=1")
        await db.execute(self._synchronous)  # the last connection to close checkpoints: maybe a reader
        for name, arity, function in STORE_FUNCTIONS:
            await db.create_function(name, arity, function, deterministic=True)
        return db

    def write(self):
        atomic = _ATOMIC.get()
        return _savepoint(atomic) if atomic is not None else self._writer.begin()

    @asynccontextmanager
    async def atomic(self):
        """One transaction around many writes (a `$batch` change set): every `write()` and `read()`
        of this task inside it joins it, so the change set commits or rolls back as one. Raise to
        roll back.

        Inside another `atomic()` it joins that transaction too, as a savepoint: a second write
        connection would wait (busy_timeout, 30 s) on the write lock this very task holds."""
        if _ATOMIC.get() is not None:
            async with self.write() as conn:
                yield conn
            return
        async with self._writer.begin() as conn:
            token = _ATOMIC.set(conn)
            try:
                yield conn
            finally:
                _ATOMIC.reset(token)

    async def close(self) -> None:
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        while self._idle:
            await self._idle.pop().close()
        await self.engine.dispose()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)


@asynccontextmanager
async def _borrowed(conn: AsyncConnection):
    yield conn


@asynccontextmanager
async def _savepoint(conn: AsyncConnection):
    async with conn.begin_nested():
        yield conn


async def create_schema(conn, model: EntityModel) -> None:
    from .changes import trigger_statements  # changes.py reads the schema's tables
    from .group_counts import ensure_counts

    existing = await conn.run_sync(_create_all)
    for name, statement in trigger_statements().items():  # a store made before change tracking gets them
        if name not in existing:
            await conn.exec_driver_sql(statement)
    await ensure_counts(conn, existing)
    await _refresh_entity_definitions(conn, model)


@functools.cache
def _schema_names() -> frozenset[str]:
    """The tables, indexes and triggers a current store's catalog holds."""
    from . import changes, group_counts

    tables = METADATA.sorted_tables
    return frozenset([t.name for t in tables] + [str(i.name) for t in tables for i in t.indexes]
                     + list(changes.trigger_statements()) + list(group_counts.trigger_statements()))


_CATALOG = "SELECT name FROM sqlite_master WHERE type IN ('table', 'index', 'trigger')"


def _current_caller(db: sqlite3.Connection, model: EntityModel) -> str | None:
    """`Store.current_caller` on a plain connection: three statements, no writes."""
    (journal,), = db.execute("PRAGMA journal_mode")
    if journal != "wal" or not _schema_names() <= {name for (name,) in db.execute(_CATALOG)}:
        return None
    meta = dict(db.execute(f"SELECT key, value FROM {_META.name} WHERE key IN (?, ?)", (_DEFINITIONS_KEY, "caller")))
    if meta.get(_DEFINITIONS_KEY) != _entity_definitions(model)[1]:
        return None
    return meta.get("caller")


def _create_all(sync_conn) -> set[str]:
    """The tables and indexes the store lacks, found with one look at the catalog: all of them in a
    new store, and in a store made by an older version the indexes added since. Returns the names the
    catalog held (tables, indexes, triggers)."""
    existing = {name for (name,) in sync_conn.exec_driver_sql(_CATALOG)}
    for table in METADATA.sorted_tables:
        if table.name not in existing:
            table.create(sync_conn)  # with its indexes
            continue
        for index in table.indexes:
            if index.name not in existing:
                index.create(sync_conn)
    return existing


def _recreate(sync_conn, table) -> None:
    table.drop(sync_conn)
    table.create(sync_conn)


@functools.cache
def _entity_definitions(model: EntityModel) -> tuple[list[dict], str]:
    """The EntityDefinitions rows of `model`, by LogicalName, and their fingerprint (a digest of the
    rows and the table's columns): a store whose recorded fingerprint matches holds these rows.
    Computed once per model."""
    rows = sorted((entity_definition_row(e) for e in model.entities if not e.is_metadata),
                  key=lambda row: str(row["LogicalName"]))
    columns = sorted(c.name for c in METADATA.tables["EntityMetadata"].columns)
    digest = hashlib.sha256(json.dumps([columns, rows], sort_keys=True, default=str).encode()).hexdigest()
    return rows, digest


def model_fingerprint(model: EntityModel) -> str:
    """A digest of what a store holds of `model` (its entity definitions)."""
    return _entity_definitions(model)[1]


async def _refresh_entity_definitions(conn, model: EntityModel) -> None:
    """EntityDefinitions rows are the model itself: at every start they are made to match it
    (rewritten only when they differ, so that starting on an up-to-date store writes nothing). The
    fingerprint recorded beside them spares reading and comparing every row at each start."""
    rows, fingerprint = _entity_definitions(model)
    if await read_meta(conn, _DEFINITIONS_KEY) == fingerprint:
        return
    table = METADATA.tables["EntityMetadata"]
    stored_columns = {row[1] for row in await conn.exec_driver_sql("PRAGMA table_info('EntityMetadata')")}
    if stored_columns != {c.name for c in table.columns}:  # a store made before the model grew a property
        await conn.run_sync(_recreate, table)
    columns = [table.c[name] for name in rows[0]]
    stored = [dict(row._mapping) for row in await conn.execute(select(*columns).order_by(table.c.LogicalName))]
    if stored != rows:
        await conn.execute(table.delete())
        await conn.execute(insert(table), rows)
    await write_meta(conn, _DEFINITIONS_KEY, fingerprint)


_DEFINITIONS_KEY = "entity_definitions"  # emulator_meta: the fingerprint of the EntityDefinitions rows


_META = METADATA.tables["emulator_meta"]
# Compiled once, one trip each (`driver.py`): every start reads two of these.
_READ_META = compile_sql(select(_META.c.value).where(_META.c.key == bindparam("key")))
_WRITE_META = compile_sql(sqlite_insert(_META).values(key=bindparam("key"), value=bindparam("value"))
                          .on_conflict_do_update(index_elements=[_META.c.key], set_={"value": bindparam("value")}))


async def read_meta(conn, key: str) -> str | None:
    rows = await fetch_all(conn, _READ_META, {"key": key})
    return rows[0][0] if rows else None


async def write_meta(conn, key: str, value: str) -> None:
    await fetch_all(conn, _WRITE_META, {"key": key, "value": value})
