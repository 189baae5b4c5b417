"""Fixtures of the job engine's unit tests (`test_transitions.py`, `test_queue.py`): a small store
with the schema and nothing else, copied per test from one built per session, and the few reads and
writes those tests need."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, select

from odata_emulator.jobs import states
from odata_emulator.store.engine import Store
from odata_emulator.store.schema import HISTORY, JOBS, METADATA
from odata_emulator.store.values import to_epoch

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


class JobTable:
    """A store holding only the jobs a test adds (`add`), with reads of a job's row and history."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._added = 0

    async def add(self, pair: states.Pair = states.READY, *, created: dt.datetime = START, **columns) -> str:
        """A job in `pair`, created at `created`, each after the one added before it (`sequence`)."""
        self._added += 1
        job_id = columns.pop("asyncoperationid", None) or str(uuid.uuid4())
        for name, value in columns.items():
            if isinstance(value, dt.datetime):
                columns[name] = to_epoch(value)
        row = {"asyncoperationid": job_id, "name": "job", "operationtype": 1, "statecode": pair[0],
               "statuscode": pair[1], "createdon": to_epoch(created), "modifiedon": to_epoch(created),
               "sequence": self._added, "versionnumber": self._added, "retrycount": 0, "iswaitingforevent": 0}
        row.update(columns)
        async with self.store.write() as conn:
            await conn.execute(insert(JOBS).values(row))
        return job_id

    async def row(self, job_id: str):
        async with self.store.read() as conn:
            return (await conn.execute(select(JOBS).where(JOBS.c.asyncoperationid == job_id))).first()

    async def pair(self, job_id: str) -> states.Pair:
        row = await self.row(job_id)
        return row.statecode, row.statuscode

    async def history(self, job_id: str) -> list[tuple]:
        """(statecode, statuscode, reason, host) of each state the job entered, oldest first."""
        async with self.store.read() as conn:
            return [tuple(r) for r in (await conn.execute(
                select(HISTORY.c.statecode, HISTORY.c.statuscode, HISTORY.c.reason, HISTORY.c.host)
                .where(HISTORY.c.asyncoperationid == job_id).order_by(HISTORY.c.id)
            )).all()]


@pytest.fixture(scope="session")
def empty_schema(tmp_path_factory) -> Path:
    """A store file with every table and index and no rows: copy it, never open it for writing."""
    path = tmp_path_factory.mktemp("jobs-schema") / "store.db"
    engine = create_engine(f"sqlite:///{path}")
    METADATA.create_all(engine)
    engine.dispose()
    return path


@pytest.fixture
async def jobs(empty_schema, tmp_path):
    path = tmp_path / "store.db"
    shutil.copyfile(empty_schema, path)
    store = Store(str(path), fsync=False)  # scratch, removed after the test: no waiting for the disk
    try:
        yield JobTable(store)
    finally:
        await store.close()
