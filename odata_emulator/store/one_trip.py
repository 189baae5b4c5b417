"""The connection SQLAlchemy's asyncio engine runs the store's statements on: aiosqlite's, with a cursor
that goes to the connection's thread once per statement.

SQLAlchemy's aiosqlite adapter awaits aiosqlite's cursor four times per statement (make the cursor,
execute, fetch the rows, close), and each await is a trip to the connection's thread and back: a queue,
a thread switch, and the event loop woken through its self-pipe, about 70 µs. A write of a few statements
spent more in those trips than in SQLite. `OneTripCursor` makes the sqlite3 cursor, executes, fetches and
closes in one trip, and answers the adapter's other awaits at once from what that trip brought back.
Everything else (the thread, transactions, functions, closing) is aiosqlite's own. A statement inside
a write transaction takes no trip at all (`run_here`).
"""

from __future__ import annotations

import sqlite3
from functools import partial
from typing import Any

import aiosqlite


def _run(connection: sqlite3.Connection, many: bool, sql: str, parameters: Any) -> tuple:
    """On the connection's thread: the statement run to its end, and what a DB-API cursor tells of it."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        elif parameters is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneTripCursor:
    """The awaitable cursor SQLAlchemy's adapter expects of aiosqlite (`execute`, `executemany`, the
    fetches, `close`, `description`, `rowcount`, `lastrowid`, `arraysize`), one trip per statement."""

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1
        self._rows: list = []

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def _run(self, many: bool, sql: str, parameters: Any) -> OneTripCursor:
        self.description, self.rowcount, self.lastrowid, self._rows = await self._connection._execute(
            _run, self._connection._conn, many, sql, parameters)
        return self

    async def execute(self, sql: str, parameters: Any = None) -> OneTripCursor:
        return await self._run(False, sql, parameters)

    async def executemany(self, sql: str, parameters: Any) -> OneTripCursor:
        return await self._run(True, sql, parameters)

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list:
        count = self.arraysize if size is None else size
        taken, self._rows = self._rows[:count], self._rows[count:]
        return taken

    async def fetchall(self) -> list:
        taken, self._rows = self._rows, []
        return taken

    async def close(self) -> None:
        self._rows = []


class OneTripConnection(aiosqlite.Connection):
    """aiosqlite's connection, whose `cursor()` is a `OneTripCursor` (no trip to make it)."""

    def cursor(self) -> OneTripCursor:  # type: ignore[override]  # aiosqlite's is awaited; this one is entered
        return OneTripCursor(self)

    def run_here(self, many: bool, sql: str, parameters: Any) -> tuple:
        """The statement run on the calling thread (the event loop's) instead of the connection's, no
        trip at all: (description, rowcount, lastrowid, rows). Only for a statement inside a write
        transaction (`driver.fetch_all`, a small `driver.execute_many`): it holds SQLite's write lock
        already, so it never waits for a lock, and the connection's thread is idle meanwhile (only the
        transaction's task uses the connection; SQLAlchemy opens it with `check_same_thread=False`).
        BEGIN and COMMIT, which may wait for the lock or checkpoint the log, still go to the thread."""
        return _run(self._conn, many, sql, parameters)


def connect(database: str, **kwargs: Any) -> OneTripConnection:
    """What `aiosqlite.connect(database, **kwargs)` makes, as a `OneTripConnection` (awaited by the
    engine). Its thread is a daemon, as SQLAlchemy makes aiosqlite's: a connection left open never holds
    up the interpreter's exit."""
    connection = OneTripConnection(partial(sqlite3.connect, database, **kwargs), 64)
    thread: Any = getattr(connection, "_thread", connection)  # aiosqlite before 0.22 was the thread itself
    thread.daemon = True
    return connection
