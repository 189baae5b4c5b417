"""SQLAlchemy Core statements compiled once to SQLite text, run on the aiosqlite connection.

Why: an `await AsyncConnection.execute()` costs about 0.25 ms of adapter work (greenlet, two or
three hops to aiosqlite's thread, result wrapping), ten times the statement itself on a small
query. The hot paths (the scheduler's queue, single rows, pages) compile their statements once
here and run them with one hop each, on the same connection and in the same transaction as the
`Store.read()` / `Store.write()` they are inside. Rows come back as plain tuples.

Only statements without expanding (`IN` list) parameters are compiled this way; every value a
caller gives is a named `bindparam`, and every literal in the statement keeps its compiled value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

_DIALECT = sqlite.dialect(paramstyle="qmark")


@dataclass(frozen=True)
class Sql:
    text: str
    names: tuple[str, ...]  # bind parameters, in placeholder order
    defaults: tuple[Any, ...]  # their compiled values (literals of the statement; None for the caller's)
    columns: tuple[str, ...]  # result column names, for selects and RETURNING

    def arguments(self, values: dict | None) -> tuple:
        if not values:
            return self.defaults
        return tuple(values[name] if name in values else default for name, default in zip(self.names, self.defaults))


def compile_sql(statement) -> Sql:
    compiled = statement.compile(dialect=_DIALECT)
    if "POSTCOMPILE" in compiled.string:
        raise ValueError("statements with expanding IN parameters cannot be compiled once")
    names = tuple(compiled.positiontup or ())
    params = compiled.params
    columns = tuple(column[0] for column in compiled._result_columns)  # (keyname, name, objects, type)
    return Sql(compiled.string, names, tuple(params.get(name) for name in names), columns)


async def driver_connection(conn: AsyncConnection):
    """The aiosqlite connection under `conn`: statements run on it share `conn`'s transaction."""
    sync = conn.sync_connection
    if sync is not None and not sync.closed and sync.in_transaction():
        return sync.connection.driver_connection  # checked out already: no greenlet round trip
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def fetch_all(conn: AsyncConnection, sql: Sql, values: dict | None = None) -> list[tuple]:
    db = await driver_connection(conn)
    return list(await db.execute_fetchall(sql.text, sql.arguments(values)))


async def execute_many(conn: AsyncConnection, sql: Sql, rows: Sequence[dict] | Iterable[dict]) -> int:
    """Runs `sql` once per row of values; answers the number of rows it changed in all."""
    db = await driver_connection(conn)
    cursor = await db.executemany(sql.text, [sql.arguments(row) for row in rows])
    return cursor.rowcount
