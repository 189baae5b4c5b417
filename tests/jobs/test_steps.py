"""Finishing a run (`Steps.finish`, `jobs/steps.py`) on a small store: the outcome is recorded on
a job this instance still holds; a pause or cancel asked meanwhile is carried through instead; a
job another instance holds, or one deleted, is left alone."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, update

from odata_emulator.clock import VirtualClock
from odata_emulator.jobs import states
from odata_emulator.jobs.simulation import Result, ResultKind
from odata_emulator.jobs.steps import Steps
from odata_emulator.store.schema import JOBS
from odata_emulator.store.values import to_epoch

NOW = dt.datetime(2026, 1, 1, 1, tzinfo=dt.timezone.utc)
LATER = NOW + dt.timedelta(seconds=2)
CODE = -2147204784  # a SQL error: retried


async def claim_one(jobs, **columns):
    job = await jobs.add(**columns)
    steps = Steps(jobs.store, VirtualClock(NOW), host="me")
    [claimed] = await steps.claim_many(NOW, 1)
    assert claimed.job_id == job
    return steps, claimed


async def set_pair(jobs, job_id, pair, **values):
    async with jobs.store.write() as conn:
        await conn.execute(update(JOBS).where(JOBS.c.asyncoperationid == job_id)
                           .values(statecode=pair[0], statuscode=pair[1], **values))


async def test_a_success_completes_the_job(jobs):
    steps, claimed = await claim_one(jobs)
    await steps.finish(claimed, Result(ResultKind.SUCCEEDED), LATER)
    row = await jobs.row(claimed.job_id)
    assert ((row.statecode, row.statuscode), row.completedon, row.executiontimespan) == (
        states.SUCCEEDED, to_epoch(LATER), 2.0)
    assert [h[2] for h in await jobs.history(claimed.job_id)] == ["claim", "succeed"]


async def test_a_retry_waits_and_counts(jobs):
    steps, claimed = await claim_one(jobs)
    await steps.finish(claimed, Result(ResultKind.RETRY, CODE, "SQL"), LATER)
    row = await jobs.row(claimed.job_id)
    assert ((row.statecode, row.statuscode), row.retrycount, row.postponeuntil, row.hostid) == (
        states.WAITING, 1, to_epoch(LATER + dt.timedelta(minutes=1)), None)


async def test_a_recurring_job_waits_for_its_next_occurrence(jobs):
    steps, claimed = await claim_one(jobs, recurrencepattern="FREQ=DAILY;INTERVAL=1;", recurrencestarttime=NOW)
    await steps.finish(claimed, Result(ResultKind.SUCCEEDED), LATER)
    row = await jobs.row(claimed.job_id)
    assert ((row.statecode, row.statuscode), row.postponeuntil) == (
        states.WAITING, to_epoch(NOW + dt.timedelta(days=1)))


async def test_a_cancel_asked_meanwhile_is_carried_through(jobs):
    steps, claimed = await claim_one(jobs)
    await set_pair(jobs, claimed.job_id, states.CANCELING)
    await steps.finish(claimed, Result(ResultKind.SUCCEEDED), LATER)
    row = await jobs.row(claimed.job_id)
    assert ((row.statecode, row.statuscode), row.completedon, row.hostid) == (states.CANCELED, to_epoch(LATER), None)
    assert [h[2] for h in await jobs.history(claimed.job_id)] == ["claim", "canceled"]


async def test_acknowledge_carries_a_pause_through_and_nothing_else(jobs):
    steps, claimed = await claim_one(jobs)
    assert not await steps.acknowledge(claimed.job_id, LATER)
    await set_pair(jobs, claimed.job_id, states.PAUSING)
    assert await steps.acknowledge(claimed.job_id, LATER)
    assert await jobs.pair(claimed.job_id) == states.WAITING
    assert await steps.status(claimed.job_id) == (states.WAITING, None)


async def test_a_job_another_instance_took_over_or_deleted_is_left_alone(jobs):
    steps, taken = await claim_one(jobs)
    await set_pair(jobs, taken.job_id, states.IN_PROGRESS, hostid="them")
    await steps.finish(taken, Result(ResultKind.FAILED, CODE, "SQL"), LATER)
    assert await steps.status(taken.job_id) == (states.IN_PROGRESS, "them")

    _, gone = await claim_one(jobs)
    async with jobs.store.write() as conn:
        await conn.execute(delete(JOBS).where(JOBS.c.asyncoperationid == gone.job_id))
    await steps.finish(gone, Result(ResultKind.SUCCEEDED), LATER)
    assert await steps.status(gone.job_id) == (None, None)
