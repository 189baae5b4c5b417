"""Reading the store for one TDS session: its own SQLite connection to the store's file, read-only
(`PRAGMA query_only`: it can never take the write lock), used from worker threads so that the event
loop never waits on SQLite. Rows are fetched and encoded into ROW tokens a chunk at a time, so a large
result never sits in memory whole.

A result a worker thread reads is read ahead: the worker fetches and encodes chunk after chunk, each
handed to the event loop as it is ready, while the loop writes the ones before. A thread hop costs
0.3-0.9 ms here (the loop or the worker waking, then waiting for the GIL), so asking for each chunk
only once the one before is written put two hops per chunk on the reply's path: about 4 ms of
query 01's 24. The worker stops when AHEAD_CHUNKS chunks wait unwritten (a slow client holds no more
than that in memory, nor a thread) and goes on when the loop has written them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import sqlite3
import threading
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any, NamedTuple

from . import functions
from .errors import ConversionFailed, Overflow, Refused, SqlError

CHUNK_BYTES = 128 * 1024  # ROW bytes encoded per hop to the worker thread
# A statement first runs on the event loop for at most INLINE_SECONDS (checked every INLINE_STEPS SQLite
# VM steps): small answers (an aggregate over an index, a few rows) skip the hop to a worker thread,
# which costs more than they do. One that needs longer is stopped and run again in a worker thread.
INLINE_SECONDS = 0.002
INLINE_STEPS = 5000  # about 0.1 ms of SQLite's work: a call into Python per step would cost ~2% of it
# The statements (by SQL text) that last needed more than INLINE_SECONDS go to a worker thread at once:
# trying them inline again would spend the budget and then run them from the start a second time.
LONG_STATEMENTS = 1024
FIRST_CHUNK_ROWS = 256
MAX_CHUNK_ROWS = 8192
AHEAD_CHUNKS = 2  # chunks a worker thread reads ahead of those the event loop has written


class Paused(NamedTuple):
    """A worker's read-ahead stopped with AHEAD_CHUNKS chunks unwritten: where to go on from."""

    cursor: sqlite3.Cursor
    rows: int  # rows handed over so far
    data_bytes: int  # and their bytes


class Cancelled(Exception):
    """The statement was interrupted (attention, or the client went away)."""


class Handover:
    """Between a worker's read-ahead and the event loop: the chunks (and at last the outcome) handed
    over, a slot per chunk the loop has yet to write, and the loop's word to stop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.handed: asyncio.Queue = asyncio.Queue()
        self.slots = threading.Semaphore(AHEAD_CHUNKS)
        self.stop = threading.Event()
        self._loop = loop

    def hand(self, item: Any) -> None:
        """From the worker thread."""
        try:
            self._loop.call_soon_threadsafe(self.handed.put_nowait, item)
        except RuntimeError:  # the loop is closed (the server stopped): nobody is waiting
            pass

    def never_ran(self, future: concurrent.futures.Future) -> None:
        if future.cancelled():  # dropped by the executor's shutdown: its outcome will never come
            self.hand(Cancelled())


class DateOverflow(SqlError):
    number = 517
    severity = 16


class LongStatements:
    """The SQL texts that last ran longer than the inline budget, shared by the sessions of a server
    (touched from the event loop and the worker threads: single set operations, atomic in CPython)."""

    def __init__(self, size: int = LONG_STATEMENTS) -> None:
        self._texts: set[str] = set()
        self._size = size

    def __contains__(self, sql: str) -> bool:
        return sql in self._texts

    def note(self, sql: str, long: bool) -> None:
        if not long:
            self._texts.discard(sql)
            return
        if len(self._texts) >= self._size:  # a crude bound: forgetting costs one wasted inline try each
            self._texts.clear()
        self._texts.add(sql)


class StoreReader:
    def __init__(self, path: str, executor: concurrent.futures.Executor,
                 long_statements: LongStatements | None = None) -> None:
        self._path = path
        self._executor = executor
        self._long = long_statements if long_statements is not None else LongStatements()
        self._db: sqlite3.Connection | None = None
        self._failures: list[BaseException] = []
        self._closed = False
        # One statement at a time on the connection, whatever thread runs it: a call left running by a
        # cancelled task (the server stopping) finishes before the cursor or the connection is closed.
        self._lock = threading.Lock()

    async def _call(self, function: Callable, *args) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor,
                                                                functools.partial(self._locked, function, *args))

    def _locked(self, function: Callable, *args) -> Any:
        with self._lock:
            return function(*args)

    # ------------------------------------------------------------------ in the worker thread

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("PRAGMA query_only=1")
            functions.register(db, self._failures)
            self._db = db
        return self._db

    def _execute(self, sql: str, args: dict) -> sqlite3.Cursor:
        self._failures.clear()
        try:
            return self._connection().execute(sql, args)
        except (sqlite3.Error, OverflowError) as exc:
            raise self._error(exc) from None

    def _fetch(self, cursor: sqlite3.Cursor, encode: Callable[[list], bytes], rows: int) -> tuple[bytes, int, bool]:
        """The next chunk encoded; the cursor is closed when that chunk was the last."""
        batch = self._fetch_rows(cursor, rows)
        finished = len(batch) < rows
        if finished:
            cursor.close()
        return encode(batch), len(batch), finished

    def _fetch_rows(self, cursor: sqlite3.Cursor, rows: int) -> list:
        try:
            return cursor.fetchmany(rows)
        except (sqlite3.Error, OverflowError) as exc:
            raise self._error(exc) from None

    def _read_ahead(self, cursor: sqlite3.Cursor | None, sql: str, args: dict, encode: Callable[[list], bytes],
                    first_rows: int, rows: int, data_bytes: int, handover: Handover) -> None:
        """In a worker thread: runs the statement (when `cursor` is None), then fetches and encodes
        chunk after chunk, each handed over as a (bytes, rows) pair, while a slot is free and the loop
        has not said stop. Its outcome is handed over last: None when the result ended, Paused, or the
        exception. The cursor is closed here unless it is handed back in Paused."""
        outcome: Any = None
        with self._lock:
            try:
                started = None
                if cursor is None:
                    started = time.perf_counter()
                    cursor = self._execute(sql, args)
                while not handover.stop.is_set():
                    if not handover.slots.acquire(blocking=False):
                        outcome, cursor = Paused(cursor, rows, data_bytes), None
                        break
                    data, count, finished = self._fetch(cursor, encode,
                                                        next_chunk_rows(rows, data_bytes) if rows else first_rows)
                    if started is not None:  # the statement's first chunk: was it within the inline budget?
                        self._long.note(sql, time.perf_counter() - started > INLINE_SECONDS)
                        started = None
                    rows, data_bytes = rows + count, data_bytes + len(data)
                    handover.hand((data, count))
                    if finished:  # the cursor is closed
                        cursor = None
                        break
            except BaseException as exc:
                outcome = exc
            if cursor is not None:  # stopped, or an exception: given up
                self._close_cursor(cursor)
        handover.hand(outcome)

    def start_inline(self, sql: str, args: dict, encode: Callable[[list], bytes],
                     rows: int) -> tuple[sqlite3.Cursor | None, bytes, int, bool] | None:
        """`_start` on the calling thread (the event loop), within INLINE_STEPS; None when the statement
        needs more (it is stopped, and nothing of it was sent) or needed more the last time it ran."""
        if sql in self._long or not self._lock.acquire(blocking=False):
            return None
        try:
            return self._inline(sql, args, encode, rows)
        finally:
            self._lock.release()

    def _inline(self, sql: str, args: dict, encode: Callable[[list], bytes],
                rows: int) -> tuple[sqlite3.Cursor | None, bytes, int, bool] | None:
        db = self._connection()
        stopped = []
        deadline = time.perf_counter() + INLINE_SECONDS

        def budget() -> int:
            if time.perf_counter() < deadline:
                return 0
            stopped.append(True)
            return 1

        db.set_progress_handler(budget, INLINE_STEPS)
        try:
            cursor = db.execute(sql, args)
            batch = cursor.fetchmany(rows)
        except sqlite3.OperationalError as exc:
            if stopped:
                self._long.note(sql, True)
                return None
            raise self._error(exc) from None
        except (sqlite3.Error, OverflowError) as exc:
            raise self._error(exc) from None
        finally:
            db.set_progress_handler(None, 0)
        if len(batch) == rows:  # more to come: the rest goes through the worker threads
            return cursor, encode(batch), len(batch), False
        cursor.close()
        return None, encode(batch), len(batch), True

    def _close_cursor(self, cursor: sqlite3.Cursor) -> None:
        try:
            cursor.close()
        except sqlite3.Error:
            pass

    def _first(self, sql: str, args: dict) -> tuple | None:
        cursor = self._execute(sql, args)
        try:
            return cursor.fetchone()
        except (sqlite3.Error, OverflowError) as exc:
            raise self._error(exc) from None
        finally:
            cursor.close()

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _error(self, exc: BaseException) -> BaseException:
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError) and "interrupted" in text:
            return Cancelled()
        if self._failures:
            failure = self._failures[-1]
            if isinstance(failure, functions.ConversionError):
                return ConversionFailed(str(failure))
            if isinstance(failure, OverflowError):
                return DateOverflow("Adding a value to a 'datetime' column caused an overflow.")
            if isinstance(failure, ValueError):
                return ConversionFailed(f"Conversion failed: {failure}")
            return Refused(f"{type(failure).__name__}: {failure}")
        if isinstance(exc, OverflowError):
            return Overflow("Arithmetic overflow error converting expression to data type bigint.")
        if isinstance(exc, sqlite3.DataError):
            return Overflow(text)
        return Refused(f"The emulator could not run the statement: {text}.")

    # ------------------------------------------------------------------ from the event loop

    async def execute(self, sql: str, args: dict) -> sqlite3.Cursor:
        return await self._call(self._execute, sql, args)

    async def chunks(self, sql: str, args: dict, encode: Callable[[list], bytes],
                     first_rows: int = FIRST_CHUNK_ROWS) -> AsyncGenerator[tuple[bytes, int], None]:
        """The statement's result as ROW data, a chunk at a time: (bytes, rows). Inline when it fits the
        budget; otherwise a worker thread reads ahead (the module's docstring). A chunk counts as written
        when the caller asks for the next one. To be closed by the caller (`contextlib.aclosing`): an
        early close stops the worker after its chunk at hand and closes the cursor."""
        cursor = None
        handover = None
        try:
            started = self.start_inline(sql, args, encode, first_rows)
            rows = data_bytes = 0
            if started is not None:
                cursor, data, rows, finished = started
                yield data, rows
                if finished:
                    return
                data_bytes = len(data)
            handover = Handover(asyncio.get_running_loop())  # only for a result a worker reads
            while True:
                self._executor.submit(self._read_ahead, cursor, sql, args, encode, first_rows, rows, data_bytes,
                                      handover).add_done_callback(handover.never_ran)
                cursor = None  # the worker's now
                while type(item := await handover.handed.get()) is tuple:  # a chunk (Paused is a NamedTuple)
                    yield item
                    handover.slots.release()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                cursor, rows, data_bytes = item
        finally:
            if handover is not None:
                handover.stop.set()
            if cursor is not None:  # inline or paused, not finished: closed here
                await self.close_cursor(cursor)

    async def close_cursor(self, cursor: sqlite3.Cursor) -> None:
        await self._call(self._close_cursor, cursor)

    async def first(self, sql: str, args: dict) -> tuple | None:
        return await self._call(self._first, sql, args)

    def interrupt(self) -> None:
        """Stop the statement running on this connection now (thread-safe)."""
        db = self._db
        if db is not None:
            try:
                db.interrupt()
            except sqlite3.Error:
                pass

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._call(self._close)


def next_chunk_rows(rows: int, data_bytes: int) -> int:
    """How many rows the next chunk asks for: about CHUNK_BYTES of ROW tokens."""
    if rows == 0:
        return FIRST_CHUNK_ROWS
    per_row = max(1, data_bytes // rows)
    return max(16, min(MAX_CHUNK_ROWS, CHUNK_BYTES // per_row))
