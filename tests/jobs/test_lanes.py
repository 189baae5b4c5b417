"""On the real clock the jobs that were in the store when the scheduler started (the data set's demo
jobs, an earlier run's) run on their own slots: a store full of old work never keeps a job created
since waiting."""

from __future__ import annotations

import asyncio
import time

from tests.helpers import make_settings, running, seed_jobs


async def _pair(em, job_id: str) -> tuple[int, int]:
    row = (await em.client.get(f"/api/data/v9.2/asyncoperations({job_id})?$select=statecode,statuscode")).json()
    return row["statecode"], row["statuscode"]


async def test_a_new_job_does_not_wait_behind_the_jobs_already_in_the_store(tmp_path):
    store = str(tmp_path / "store.db")
    async with running(make_settings(database=store, fixtures=None, scheduler=False)) as before:
        old = await seed_jobs(before, *({"name": f"old {i}", "simulation": {"outcome": "hang"}} for i in range(3)))
    async with running(make_settings(database=store, fixtures=None, clock="real", concurrency=1,
                                     poll_seconds=0.02)) as em:
        (new,) = await seed_jobs(em, {"name": "mine", "simulation": {"duration": 0}})
        started = time.monotonic()
        while await _pair(em, new) != (3, 30):
            assert time.monotonic() - started < 3, "the new job waited behind the old ones"
            await asyncio.sleep(0.02)
        # The old lane keeps its own single slot: one old job runs (it may claim it after the new job
        # is done, which is the point), the others wait their turn.
        while sorted(pairs := [await _pair(em, job) for job in old]) != [(0, 0), (0, 0), (2, 20)]:
            assert time.monotonic() - started < 5 and (2, 20) not in pairs, pairs
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        assert sorted([await _pair(em, job) for job in old]) == [(0, 0), (0, 0), (2, 20)]
