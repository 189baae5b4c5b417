"""The store reader's choice between the event loop and a worker thread: a statement that once needed more
than the inline budget goes to a worker at once the next time (it is not run twice), and comes back inline
when a run in the worker shows it is fast again. And the worker's read-ahead: chunks come whole and in order,
at most AHEAD_CHUNKS of them unwritten; a caller that stops early, or an error mid-result, leaves the
connection ready for the next statement."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from odata_emulator.tds import reader
from odata_emulator.tds.errors import SqlError
from odata_emulator.tds.reader import LongStatements, StoreReader

# The same text is slow or fast by its argument: counting to :n.
COUNT_TO = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < :n) "
            "SELECT count(*) FROM c")


def encode(rows: list) -> bytes:
    return repr(rows).encode()


async def _all(store: StoreReader, sql: str, args: dict, first_rows: int = 16) -> list[tuple[bytes, int]]:
    async with contextlib.aclosing(store.chunks(sql, args, encode, first_rows)) as chunks:
        return [chunk async for chunk in chunks]


async def test_a_long_statement_goes_to_a_worker_at_once_until_it_is_fast_again(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    sqlite3.connect(path).close()
    executor = ThreadPoolExecutor(1)
    long_statements = LongStatements()
    store = StoreReader(str(path), executor, long_statements)
    try:
        assert store.start_inline(COUNT_TO, {"n": 10}, encode, 16) == (None, b"[(10,)]", 1, True)
        assert COUNT_TO not in long_statements

        # Too long for the loop: stopped, nothing answered, and remembered.
        assert store.start_inline(COUNT_TO, {"n": 50_000_000}, encode, 16) is None
        assert COUNT_TO in long_statements
        # Now even a fast run of it is not tried inline...
        assert store.start_inline(COUNT_TO, {"n": 10}, encode, 16) is None
        # ...but the worker's run shows it is fast, so the next one runs inline again. (The worker times
        # its run by the clock: on a busy machine its thread can be descheduled past the budget, and
        # that run is noted long; a later one that fits clears it.)
        for _ in range(50):
            assert await _all(store, COUNT_TO, {"n": 10}) == [(b"[(10,)]", 1)]
            if COUNT_TO not in long_statements:
                break
        assert COUNT_TO not in long_statements
        assert store.start_inline(COUNT_TO, {"n": 10}, encode, 16) == (None, b"[(10,)]", 1, True)

        # A run that takes longer than the budget is remembered again (stopped inline, then run by the worker).
        assert await _all(store, COUNT_TO, {"n": 300_000}) == [(b"[(300000,)]", 1)]
        assert COUNT_TO in long_statements
    finally:
        await store.close()
        executor.shutdown()


def test_the_memory_of_long_statements_is_bounded() -> None:
    long_statements = LongStatements(size=3)
    for index in range(3):
        long_statements.note(f"select {index}", True)
    assert all(f"select {index}" in long_statements for index in range(3))
    long_statements.note("select 3", True)  # over the bound: the older ones are forgotten
    assert "select 3" in long_statements and "select 0" not in long_statements
    long_statements.note("select 3", False)
    assert "select 3" not in long_statements


SERIES = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < :n) SELECT x, 1 / (x - :zero) FROM c"


@pytest.fixture
async def store(tmp_path: Path):
    path = tmp_path / "store.db"
    sqlite3.connect(path).close()
    executor = ThreadPoolExecutor(2)
    long_statements = LongStatements()
    long_statements.note(SERIES, True)  # to the worker at once
    reading = StoreReader(str(path), executor, long_statements)
    yield reading
    await reading.close()
    executor.shutdown()


def _rows(chunks: list[tuple[bytes, int]]) -> list:
    return [row for data, _ in chunks for row in eval(data)]


async def test_a_result_read_ahead_comes_whole_and_in_order(store: StoreReader, monkeypatch) -> None:
    monkeypatch.setattr(reader, "CHUNK_BYTES", 64)  # 16 rows a chunk: hundreds of them
    chunks = await _all(store, SERIES, {"n": 5000, "zero": -1})
    assert _rows(chunks) == [(x, 1 // (x + 1)) for x in range(1, 5001)]
    assert {rows for _, rows in chunks} == {16, 5000 % 16}
    assert len(chunks) > 100 * reader.AHEAD_CHUNKS  # so that the worker paused and went on


async def test_the_worker_reads_no_more_than_AHEAD_CHUNKS_ahead_of_the_caller(store: StoreReader) -> None:
    encoded = []

    def counting(rows: list) -> bytes:
        encoded.append(len(rows))
        return encode(rows)
    taken = 0
    async with contextlib.aclosing(store.chunks(SERIES, {"n": 100_000, "zero": -1}, counting, 16)) as chunks:
        async for _chunk in chunks:
            taken += 1
            if taken == 1:  # the caller is slow: the worker stops with AHEAD_CHUNKS chunks unwritten
                await asyncio.sleep(0.3)  # (the one in the caller's hands among them)
                assert len(encoded) == reader.AHEAD_CHUNKS
            if taken == 4:
                break
    assert len(encoded) <= 4 + reader.AHEAD_CHUNKS
    # Closed early: the worker stopped, its cursor closed, and the connection runs the next statement.
    assert await _all(store, SERIES, {"n": 3, "zero": -1}) == [(b"[(1, 0), (2, 0), (3, 0)]", 3)]


async def test_an_error_mid_result_comes_after_the_chunks_before_it(store: StoreReader) -> None:
    received = []
    failing = SERIES.replace("1 / (x - :zero)", "CASE WHEN x = :zero THEN tds_parse_datetime('not a date') END")
    store._long.note(failing, True)
    with pytest.raises(SqlError):
        async with contextlib.aclosing(store.chunks(failing, {"n": 5000, "zero": 3000}, encode, 16)) as chunks:
            async for chunk in chunks:
                received.append(chunk)
    assert 16 <= sum(rows for _, rows in received) < 3000
    assert await _all(store, SERIES, {"n": 2, "zero": -1}) == [(b"[(1, 0), (2, 0)]", 2)]


async def test_a_result_started_inline_and_given_up_after_its_first_chunk_has_its_cursor_closed(
        store: StoreReader, monkeypatch) -> None:
    closed = []
    close = store.close_cursor

    async def close_cursor(cursor: sqlite3.Cursor) -> None:
        closed.append(cursor)
        await close(cursor)
    monkeypatch.setattr(store, "close_cursor", close_cursor)
    fast = SERIES + " LIMIT 100"  # not noted long: its first chunk is read on the event loop
    async with contextlib.aclosing(store.chunks(fast, {"n": 1000, "zero": -1}, encode, 16)) as chunks:
        async for _chunk in chunks:
            break
    assert len(closed) == 1
    assert await _all(store, fast, {"n": 3, "zero": -1}) == [(b"[(1, 0), (2, 0), (3, 0)]", 3)]
