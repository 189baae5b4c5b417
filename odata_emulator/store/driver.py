"""SQLAlchemy Core statements compiled once to SQLite text, run on the aiosqlite connection.

Why: an `await AsyncConnection.execute()` costs about 0.25 ms of adapter work (greenlet, two or
three hops to aiosqlite's thread, result wrapping), ten times the statement itself on a small
query. The hot paths (the scheduler's queue, single rows, pages) compile their statements once
here and run them with one hop each, on the same connection and in the same transaction as the
`Store.read()` / `Store.write()` they are inside. Rows come back as plain tuples.

Every value a caller gives is a named `bindparam`; every literal of the statement keeps its
compiled value (an `IN` list of literals is spelled out once). A list the caller gives travels as
one JSON array read with `json_each`, so that the text stays the same.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.dialects import sqlite

from .async_engine import AsyncConnection
from .one_trip import OneTripConnection

_DIALECT = sqlite.dialect(paramstyle="qmark")


@dataclass(frozen=True)
class Sql:
    text: str
    names: tuple[str, ...]  # bind parameters, in placeholder order
    defaults: tuple[Any, ...]  # their compiled values (literals of the statement; None for the caller's)
    columns: tuple[str, ...]  # result column names, for selects and RETURNING
    processors: tuple | None = None  # result value converters, where a column type has one

    def arguments(self, values: dict | None) -> tuple:
        if not values:
            return self.defaults
        return tuple(map(values.get, self.names, self.defaults))  # a name not given: its compiled value

    def convert(self, rows: Iterable[tuple]) -> list[tuple]:
        if self.processors is None:
            return rows if isinstance(rows, list) else list(rows)
        pairs = self.processors
        return [tuple(p(v) if p is not None else v for p, v in zip(pairs, row)) for row in rows]

    def dicts(self, rows: Iterable[tuple]) -> list[dict]:
        """Converted rows (`convert`) as dicts by result column name."""
        columns = self.columns
        return [dict(zip(columns, row)) for row in rows]


def compile_sql(statement) -> Sql:
    compiled = statement.compile(dialect=_DIALECT)
    text, names, params = compiled.string, tuple(compiled.positiontup or ()), compiled.params
    if "POSTCOMPILE" in text:
        # Spelling the literal IN lists out needs a value for every parameter: None stands in for
        # those the caller gives at execution.
        given = {name: None for name, bind in compiled.binds.items() if bind.required}
        state = compiled.construct_expanded_state(given)
        text, names, params = state.statement, tuple(state.positiontup or ()), state.parameters
    result = compiled._result_columns  # (keyname, name, objects, type) per column
    processors = tuple(column[3].result_processor(_DIALECT, None) for column in result)
    return Sql(text, names, tuple(params.get(name) for name in names), tuple(c[0] for c in result),
               processors if any(p is not None for p in processors) else None)


@functools.lru_cache(maxsize=128)
def insert_sql(table: Table, columns: tuple[str, ...]) -> Sql:
    """The insert of a row of `table` giving `columns` (each a parameter of its own name), compiled
    once per table and columns."""
    return compile_sql(insert(table).values({name: bindparam(name) for name in columns}))


async def driver_connection(conn: AsyncConnection):
    """The aiosqlite connection under `conn`: statements run on it share `conn`'s transaction."""
    sync = conn.sync_connection
    if sync is not None and not sync.closed and sync.in_transaction():
        return sync.connection.driver_connection  # checked out already: no greenlet round trip
    raw = await conn.get_raw_connection()
    return raw.driver_connection


class _Reads:
    """What both kinds of snapshot answer: `rows`, and the same as dicts (`mappings`)."""

    async def rows(self, sql: Sql, values: dict | None = None) -> list[tuple]:
        raise NotImplementedError

    async def mappings(self, sql: Sql, values: dict | None = None) -> list[dict]:
        return sql.dicts(await self.rows(sql, values))


class Snapshot(_Reads):
    """Compiled statements run on one aiosqlite connection, one hop each (`Store.snapshot()` hands
    them out for reads; `fetch_all` makes one on a transaction's connection)."""

    def __init__(self, db) -> None:
        self._db = db

    async def rows(self, sql: Sql, values: dict | None = None) -> list[tuple]:
        return sql.convert(await self._db.execute_fetchall(sql.text, sql.arguments(values)))


class InlineSnapshot(_Reads):
    """Compiled statements run on the event loop's own thread, on a plain sqlite3 connection: for a
    read of one row by its key, aiosqlite's hop to its thread and back costs more than the statement
    itself; for a page of rows, a reader thread contends with the loop for the GIL row by row
    (`Store.snapshot`). A WAL reader never waits for a writer; should it find the file busy all the same (a
    checkpoint truncating the log, recovery), it waits at most `BUSY_SECONDS` and then `fallback`
    runs the statement on a threaded reader, so the loop is never held for long."""

    BUSY_SECONDS = 0.05

    def __init__(self, db: sqlite3.Connection, fallback) -> None:
        self._db = db
        self._fallback = fallback  # () -> async context manager of a `Snapshot`

    async def rows(self, sql: Sql, values: dict | None = None) -> list[tuple]:
        found = self._fetch(sql, values)
        if found is None:
            async with self._fallback() as snap:
                return await snap.rows(sql, values)
        return sql.convert(found)

    def _fetch(self, sql: Sql, values: dict | None) -> list[tuple] | None:
        """The rows, or None when the file was busy."""
        try:
            return self._db.execute(sql.text, sql.arguments(values)).fetchall()
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
            return None


def _here(conn: AsyncConnection, db) -> bool:
    """Whether a statement on `conn` runs on the loop's thread: inside a write transaction (BEGIN
    IMMEDIATE: `Store.write()`, a `$batch` change set), which holds the write lock and so never
    waits (`OneTripConnection.run_here`). A statement that might wait (a read transaction, which a
    checkpoint or recovery can hold up for the busy timeout) goes to the connection's thread."""
    sync = conn.sync_connection
    return (isinstance(db, OneTripConnection) and sync is not None
            and bool(sync.get_execution_options().get("sqlite_immediate")))


async def fetch_all(conn: AsyncConnection, sql: Sql, values: dict | None = None) -> list[tuple]:
    db = await driver_connection(conn)
    if _here(conn, db):
        return sql.convert(db.run_here(False, sql.text, sql.arguments(values))[3])
    return await Snapshot(db).rows(sql, values)


# Rows of values an `execute_many` runs on the loop's thread at most: more (a thousand jobs created at
# once, a wake-up of every due job) go to the connection's thread, so that the loop keeps answering
# reads while SQLite works.
INLINE_ROWS = 64


async def execute_many(conn: AsyncConnection, sql: Sql, rows: Sequence[dict] | Iterable[dict]) -> int:
    """Runs `sql` once per row of values; answers the number of rows it changed in all."""
    db = await driver_connection(conn)
    arguments = [sql.arguments(row) for row in rows]
    if len(arguments) <= INLINE_ROWS and _here(conn, db):
        return db.run_here(True, sql.text, arguments)[1]
    cursor = await db.executemany(sql.text, arguments)
    return cursor.rowcount
