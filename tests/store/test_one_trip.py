"""The store's engine runs each statement in one trip to its connection's thread (`store/one_trip.py`),
and answers what SQLAlchemy's own aiosqlite cursor answers: rows, row counts, the last row id, errors."""

from __future__ import annotations

import pytest
import sqlalchemy
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, update

from odata_emulator.store import one_trip
from odata_emulator.store.engine import Store

_TABLE = Table("thing", MetaData(), Column("id", Integer, primary_key=True), Column("name", String))


@pytest.fixture
async def store(tmp_path):
    store = Store(str(tmp_path / "store.db"), fsync=False)
    async with store.write() as conn:
        await conn.run_sync(_TABLE.metadata.create_all)
    yield store
    await store.close()


@pytest.fixture
def trips(monkeypatch) -> list:
    made: list = []
    real = one_trip.OneTripConnection._execute

    async def counted(self, function, *args, **kwargs):
        made.append(getattr(function, "__name__", function))
        return await real(self, function, *args, **kwargs)

    monkeypatch.setattr(one_trip.OneTripConnection, "_execute", counted)
    return made


async def test_each_statement_is_one_trip_and_answers_what_a_cursor_answers(store, trips):
    async with store.write() as conn:
        trips.clear()
        added = await conn.execute(insert(_TABLE).values(name="one"))
        assert added.rowcount == 1 and added.inserted_primary_key == (1,)
        assert trips == ["_run"]  # made, executed, fetched and closed in one trip
        many = await conn.execute(insert(_TABLE), [{"name": "two"}, {"name": "three"}, {"name": "four"}])
        assert many.rowcount == 3
        changed = await conn.execute(update(_TABLE).where(_TABLE.c.id > 2).values(name="late"))
        assert changed.rowcount == 2
        trips.clear()
        rows = (await conn.execute(select(_TABLE).order_by(_TABLE.c.id))).all()
        assert [tuple(r) for r in rows] == [(1, "one"), (2, "two"), (3, "late"), (4, "late")]
        assert trips == ["_run"]
        result = await conn.execute(select(_TABLE.c.name).order_by(_TABLE.c.id))
        assert result.fetchone() == ("one",) and result.fetchmany(2) == [("two",), ("late",)]
        assert result.fetchall() == [("late",)] and result.fetchone() is None
        assert (await conn.execute(select(_TABLE.c.id).where(_TABLE.c.id == 99))).all() == []


async def test_an_error_is_sqlalchemys_and_rolls_the_transaction_back(store):
    with pytest.raises(sqlalchemy.exc.IntegrityError, match="UNIQUE constraint failed"):
        async with store.write() as conn:
            await conn.execute(insert(_TABLE).values(id=1, name="kept?"))
            await conn.execute(insert(_TABLE).values(id=1, name="again"))
    with pytest.raises(sqlalchemy.exc.OperationalError, match="no such table"):
        async with store.write() as conn:
            await conn.exec_driver_sql("SELECT * FROM nowhere")
    async with store.read() as conn:
        assert (await conn.execute(select(_TABLE))).all() == []
    async with store.write() as conn:  # the connection goes on
        await conn.execute(insert(_TABLE).values(id=1, name="now"))
    async with store.read() as conn:
        assert [tuple(r) for r in (await conn.execute(select(_TABLE))).all()] == [(1, "now")]


async def test_a_compiled_statement_in_a_write_transaction_takes_no_trip_and_a_read_s_does(store, trips):
    """Inside a write transaction (it holds the write lock, so nothing it runs waits) a compiled
    statement runs on the loop's thread; in a read transaction, which a checkpoint can hold up, it
    goes to the connection's thread. Rows, row counts, errors and rollback are the same either way."""
    import sqlite3

    from odata_emulator.store import driver

    added = driver.compile_sql(insert(_TABLE).values(name=sqlalchemy.bindparam("name")))
    with_id = driver.compile_sql(insert(_TABLE).values(id=sqlalchemy.bindparam("id"), name=sqlalchemy.bindparam("name")))
    names = driver.compile_sql(select(_TABLE.c.name).order_by(_TABLE.c.id))
    async with store.write() as conn:
        trips.clear()
        assert await driver.execute_many(conn, added, [{"name": "one"}, {"name": "two"}]) == 2
        assert await driver.fetch_all(conn, names) == [("one",), ("two",)]
        assert trips == []
        many = [{"name": f"n{i}"} for i in range(driver.INLINE_ROWS + 1)]
        assert await driver.execute_many(conn, added, many) == len(many)  # a big batch: on the thread
        assert trips == ["executemany"]
        await conn.execute(sqlalchemy.delete(_TABLE).where(_TABLE.c.name.like("n%")))
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed"):
        async with store.write() as conn:
            await driver.execute_many(conn, added, [{"name": "three"}])
            await driver.execute_many(conn, with_id, [{"id": 1, "name": "again"}])
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        async with store.write() as conn:
            await driver.fetch_all(conn, driver.compile_sql(select(sqlalchemy.literal_column("x")).select_from(
                sqlalchemy.table("nowhere"))))
    async with store.read() as conn:
        trips.clear()
        assert await driver.fetch_all(conn, names) == [("one",), ("two",)]  # "three" was rolled back
        assert trips == ["_execute_fetchall"]
