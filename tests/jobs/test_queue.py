"""The queue (`jobs/queue.py`) and the steps that read it (`jobs/steps.py`), on a small store:
first in first out, postponement, dependency tokens, wake-ups, leases and recovery."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from odata_emulator.clock import VirtualClock
from odata_emulator.jobs import queue, states
from odata_emulator.jobs.steps import Steps
from odata_emulator.store import driver
from odata_emulator.store.schema import JOBS
from odata_emulator.store.values import from_epoch, to_epoch

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
NOW = T0 + dt.timedelta(hours=1)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


async def eligible(jobs, now: dt.datetime = NOW, limit: int = 100) -> list[str]:
    async with jobs.store.read() as conn:
        return [row[0] for row in await driver.fetch_all(conn, queue.QUEUE, {"now": to_epoch(now), "limit": limit})]


async def move(jobs, job_id: str, pair: states.Pair) -> None:
    async with jobs.store.write() as conn:
        await conn.execute(update(JOBS).where(JOBS.c.asyncoperationid == job_id)
                           .values(statecode=pair[0], statuscode=pair[1]))


async def test_first_in_first_out_by_creation_then_sequence(jobs):
    late = await jobs.add(created=at(3))
    first = await jobs.add(created=at(1))
    second = await jobs.add(created=at(1))  # same moment, added after: a higher sequence
    assert await eligible(jobs) == [first, second, late]
    assert await eligible(jobs, limit=2) == [first, second]


@pytest.mark.parametrize("pair", [p for p in states.ALL_PAIRS if p != states.READY])
async def test_only_ready_jobs_are_eligible(jobs, pair):
    await jobs.add(pair)
    ready = await jobs.add()
    assert await eligible(jobs) == [ready]


async def test_a_postponed_job_waits_for_its_time(jobs):
    later = await jobs.add(postponeuntil=NOW + dt.timedelta(seconds=1))
    due = await jobs.add(postponeuntil=NOW)
    assert await eligible(jobs) == [due]
    assert await eligible(jobs, NOW + dt.timedelta(seconds=1)) == [later, due]


async def test_a_dependency_token_runs_its_jobs_one_at_a_time_in_order(jobs):
    a1 = await jobs.add(created=at(1), dependencytoken="a")
    free = await jobs.add(created=at(2))
    a2 = await jobs.add(created=at(3), dependencytoken="a")
    b1 = await jobs.add(created=at(4), dependencytoken="b")
    assert await eligible(jobs) == [a1, free, b1]
    await move(jobs, a1, states.IN_PROGRESS)  # running: still holds back the next of its token
    assert await eligible(jobs) == [free, b1]
    await move(jobs, a1, states.WAITING)  # suspended (a retry, a pause): still unfinished
    assert await eligible(jobs) == [free, b1]
    await move(jobs, a1, states.FAILED)  # finished, however it ended
    assert await eligible(jobs) == [free, a2, b1]


async def test_a_postponed_head_holds_back_its_token(jobs):
    head = await jobs.add(created=at(1), dependencytoken="a", postponeuntil=NOW + dt.timedelta(minutes=1))
    behind = await jobs.add(created=at(2), dependencytoken="a")
    assert await eligible(jobs) == []
    assert await eligible(jobs, NOW + dt.timedelta(minutes=1)) == [head]
    await move(jobs, head, states.SUCCEEDED)
    assert await eligible(jobs) == [behind]


async def test_due_wakes_suspended_jobs_whose_time_has_come_but_not_those_waiting_for_an_event(jobs):
    due = await jobs.add(states.WAITING, postponeuntil=NOW - dt.timedelta(minutes=1))
    await jobs.add(states.WAITING, postponeuntil=NOW + dt.timedelta(minutes=1))
    await jobs.add(states.WAITING, postponeuntil=NOW - dt.timedelta(minutes=2), iswaitingforevent=1)
    await jobs.add(states.WAITING)  # suspended until someone resumes it
    await jobs.add(states.READY, postponeuntil=NOW - dt.timedelta(minutes=1))
    async with jobs.store.read() as conn:
        assert await driver.fetch_all(conn, queue.DUE, {"now": to_epoch(NOW)}) == [(due, 1)]


async def test_next_wake_is_the_earliest_postponement_ahead(jobs):
    async def next_wake(now):
        async with jobs.store.read() as conn:
            [(value,)] = await driver.fetch_all(conn, queue.NEXT_WAKE, {"now": to_epoch(now)})
        return from_epoch(value) if value is not None else None

    assert await next_wake(NOW) is None
    await jobs.add(states.WAITING, postponeuntil=NOW + dt.timedelta(minutes=5))
    await jobs.add(states.READY, postponeuntil=NOW + dt.timedelta(minutes=3))
    await jobs.add(states.WAITING, postponeuntil=NOW + dt.timedelta(minutes=1), iswaitingforevent=1)
    await jobs.add(states.SUCCEEDED, postponeuntil=NOW + dt.timedelta(minutes=1))
    assert await next_wake(NOW) == NOW + dt.timedelta(minutes=3)
    assert await next_wake(NOW + dt.timedelta(minutes=3)) == NOW + dt.timedelta(minutes=5)


async def test_holdings_read_the_pair_holder_and_type_of_the_jobs_that_exist(jobs):
    mine = await jobs.add(states.IN_PROGRESS, hostid="me", operationtype=13)
    waiting = await jobs.add(states.WAITING)
    steps = Steps(jobs.store, VirtualClock(NOW), host="me")
    async with jobs.store.read() as conn:
        held = await steps.holdings(conn, [mine, waiting, "00000000-0000-0000-0000-000000000000"])
        assert await steps.holdings(conn, []) == {}
    assert held == {mine: (states.IN_PROGRESS, "me", 13), waiting: (states.WAITING, None, 1)}


async def test_a_claim_locks_jobs_under_a_lease(jobs):
    retried = await jobs.add(created=at(1), retrycount=2, operationtype=9)
    plain = await jobs.add(created=at(2))
    steps = Steps(jobs.store, VirtualClock(NOW), lease_seconds=30, host="me")
    claimed = await steps.claim_many(NOW, 5)
    assert [c.job_id for c in claimed] == [retried, plain]
    assert [c.attempt for c in claimed] == [3, 1]
    assert [c.simulation.duration for c in claimed] == [3.0, 1.0]  # platform maintenance takes longer
    assert all(c.started == NOW for c in claimed)
    row = await jobs.row(retried)
    assert ((row.statecode, row.statuscode), row.hostid) == (states.IN_PROGRESS, "me")
    assert (row.startedon, row.leaseexpires) == (to_epoch(NOW), to_epoch(NOW) + 30)
    assert await jobs.history(retried) == [(2, 20, "claim", "me")]
    assert await steps.claim_many(NOW, 5) == [] and await steps.claim_many(NOW, 0) == []


async def test_wake_due_makes_suspended_jobs_ready(jobs):
    due = await jobs.add(states.WAITING, postponeuntil=NOW, hostid="old")
    steps = Steps(jobs.store, VirtualClock(NOW), host="me")
    assert await steps.wake_due(NOW) == 1
    row = await jobs.row(due)
    assert ((row.statecode, row.statuscode), row.hostid) == (states.READY, None)
    assert await steps.wake_due(NOW) == 0


async def test_an_expired_lease_is_recovered_where_the_job_was_headed(jobs):
    expired = to_epoch(NOW) - 1
    running = await jobs.add(states.IN_PROGRESS, hostid="gone", leaseexpires=expired)
    pausing = await jobs.add(states.PAUSING, hostid="gone", leaseexpires=expired)
    canceling = await jobs.add(states.CANCELING, hostid="gone", leaseexpires=expired)
    held = await jobs.add(states.IN_PROGRESS, hostid="alive", leaseexpires=to_epoch(NOW) + 10)
    steps = Steps(jobs.store, VirtualClock(NOW), host="me")
    assert await steps.recover(NOW) == 3
    assert [await jobs.pair(job) for job in (running, pausing, canceling, held)] == [
        states.READY, states.WAITING, states.CANCELED, states.IN_PROGRESS]
    assert await jobs.history(running) == [(0, 0, "recover (lease expired)", "me")]
    assert (await jobs.row(canceling)).completedon == to_epoch(NOW)
    assert await steps.recover(NOW) == 0


async def test_renew_extends_only_a_lease_this_instance_holds(jobs):
    mine = await jobs.add(states.IN_PROGRESS, hostid="me", leaseexpires=to_epoch(NOW))
    theirs = await jobs.add(states.IN_PROGRESS, hostid="them", leaseexpires=to_epoch(NOW))
    steps = Steps(jobs.store, VirtualClock(NOW), lease_seconds=60, host="me")
    await steps.renew(mine, NOW)
    await steps.renew(theirs, NOW)
    assert (await jobs.row(mine)).leaseexpires == to_epoch(NOW) + 60
    assert (await jobs.row(theirs)).leaseexpires == to_epoch(NOW)


def test_a_statement_is_compiled_at_its_first_use_and_then_kept():
    first = queue.LOCKED
    assert queue.LOCKED is first and vars(queue)["LOCKED"] is first  # a plain module attribute from then on
    assert first.text.startswith("SELECT asyncoperation.asyncoperationid")
    with pytest.raises(AttributeError, match="no attribute 'NOT_A_STATEMENT'"):
        queue.NOT_A_STATEMENT  # noqa: B018
