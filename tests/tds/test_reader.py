"""The store reader's choice between the event loop and a worker thread: a statement that once needed more
than the inline budget goes to a worker at once the next time (it is not run twice), and comes back inline
when a run in the worker shows it is fast again."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from odata_emulator.tds.reader import LongStatements, StoreReader

# The same text is slow or fast by its argument: counting to :n.
COUNT_TO = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < :n) "
            "SELECT count(*) FROM c")


def encode(rows: list) -> bytes:
    return repr(rows).encode()


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
            assert await store.start(COUNT_TO, {"n": 10}, encode, 16) == (None, b"[(10,)]", 1, True)
            if COUNT_TO not in long_statements:
                break
        assert COUNT_TO not in long_statements
        assert store.start_inline(COUNT_TO, {"n": 10}, encode, 16) == (None, b"[(10,)]", 1, True)

        # A run in the worker that takes longer than the budget is remembered too.
        assert await store.start(COUNT_TO, {"n": 300_000}, encode, 16) == (None, b"[(300000,)]", 1, True)
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
