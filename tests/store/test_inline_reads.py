"""A single row is read on the event loop's own thread (`Store.snapshot(inline=True)`): never for
long, even when the file is busy."""

from __future__ import annotations

import asyncio
import sqlite3
import time

from sqlalchemy import select

from odata_emulator.model import MODEL
from odata_emulator.store.driver import InlineSnapshot, compile_sql
from odata_emulator.store.engine import Store, create_schema
from odata_emulator.store.schema import JOBS


async def test_a_busy_file_sends_the_read_to_a_reader_thread_without_holding_the_loop(tmp_path):
    path = tmp_path / "store.db"
    store = Store(str(path))
    async with store.write() as conn:
        await create_schema(conn, MODEL)
    first = compile_sql(select(JOBS.c.asyncoperationid).limit(1))
    async with store.snapshot(inline=True) as snap:
        assert isinstance(snap, InlineSnapshot)
        assert await snap.rows(first) == []

    # Another connection takes the file for itself (exclusive locking mode, then a write, once the
    # store's connections are closed): a reader finds it busy until that connection closes, a quarter
    # of a second later. The store opens its connections again on the next read.
    await store.close()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("PRAGMA locking_mode=EXCLUSIVE")
    blocker.execute("BEGIN IMMEDIATE")
    blocker.execute("INSERT INTO emulator_meta (key, value) VALUES ('x', 'y')")
    blocker.execute("COMMIT")
    asyncio.get_running_loop().call_later(0.25, blocker.close)

    longest_pause = 0.0

    async def ticker():
        nonlocal longest_pause
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            longest_pause = max(longest_pause, now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    started = time.perf_counter()
    async with store.snapshot(inline=True) as snap:
        assert await snap.rows(first) == []
    waited = time.perf_counter() - started
    ticking.cancel()
    await store.close()
    assert waited >= 0.2, "the read waited for the file to be free"
    assert longest_pause < 0.15, f"the loop was held {longest_pause:.3f} s"
