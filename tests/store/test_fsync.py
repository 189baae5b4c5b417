"""`fsync`: a store waits for the disk at WAL checkpoints (SQLite's synchronous=NORMAL) unless told not
to (`--no-fsync`: OFF); a private `:memory:` store never does. The writers and the threaded readers
say the same, since whichever closes last checkpoints (the loop's own reader closes first)."""

from __future__ import annotations

import pytest

from odata_emulator.store.driver import Sql
from odata_emulator.store.engine import Store

NORMAL, OFF = 1, 0
PRAGMA = Sql("PRAGMA synchronous", (), (), ("synchronous",))


async def _synchronous(store: Store) -> set[int]:
    async with store.write() as conn:
        found = {(await conn.exec_driver_sql("PRAGMA synchronous")).scalar_one()}
    async with store.snapshot() as snap:  # a threaded reader
        found.add((await snap.rows(PRAGMA))[0][0])
    return found


@pytest.mark.parametrize(("fsync", "expected"), [(True, {NORMAL}), (False, {OFF})])
async def test_a_file_store_waits_for_the_disk_unless_told_not_to(tmp_path, fsync, expected):
    store = Store(str(tmp_path / "store.db"), fsync=fsync)
    try:
        assert await _synchronous(store) == expected
    finally:
        await store.close()


async def test_a_private_store_never_waits_for_the_disk():
    store = Store(":memory:", fsync=True)
    try:
        async with store.write() as conn:
            assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar_one() == OFF
    finally:
        await store.close()
