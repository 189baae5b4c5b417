"""Guarded writes (`jobs/transitions.py`) on a small store: a move from the pair the job is in
changes it, gives it a new version and records a history row; a move from any other pair changes
nothing (`apply` answers False, `apply_many` raises `Superseded` and its transaction rolls back)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, select

from odata_emulator.jobs import states, transitions
from odata_emulator.jobs.transitions import Move, Superseded
from odata_emulator.store.schema import BULK_DELETES
from odata_emulator.store.values import to_epoch

NOW = dt.datetime(2026, 1, 1, 0, 5, tzinfo=dt.timezone.utc)
CLAIM, WAKE, CANCEL = (states.TRANSITIONS[name] for name in ("claim", "wake", "cancel"))


async def apply(jobs, job_id, transition, current, **kw) -> bool:
    async with jobs.store.write() as conn:
        return await transitions.apply(conn, job_id, transition, current, NOW, **kw)


async def test_a_move_from_the_pair_the_job_is_in(jobs):
    job = await jobs.add(states.READY)
    other = await jobs.add(states.READY)
    assert await apply(jobs, job, CLAIM, states.READY, values={"hostid": "me"}, host="me", reason="claimed")
    row = await jobs.row(job)
    assert (row.statecode, row.statuscode, row.hostid, row.modifiedon) == (2, 20, "me", to_epoch(NOW))
    assert row.versionnumber == 3  # above both jobs' versions
    assert await jobs.history(job) == [(2, 20, "claimed", "me")]
    assert await jobs.pair(other) == states.READY and await jobs.history(other) == []


async def test_the_history_reason_defaults_to_the_transitions_name(jobs):
    job = await jobs.add(states.WAITING)
    assert await apply(jobs, job, WAKE, states.WAITING)
    assert await jobs.history(job) == [(0, 0, "wake", None)]


@pytest.mark.parametrize("seen", [states.WAITING, states.IN_PROGRESS, states.CANCELING])
async def test_a_move_from_a_pair_the_job_has_left_changes_nothing(jobs, seen):
    """The caller saw the job in `seen`, but it is Ready now: someone moved it first."""
    job = await jobs.add(states.READY)
    before = await jobs.row(job)
    transition = next(t for t in states.TRANSITIONS.values() if seen in t.sources)
    assert not await apply(jobs, job, transition, seen)
    assert await jobs.row(job) == before
    assert await jobs.history(job) == []


async def test_a_transition_never_starts_from_a_pair_it_does_not_leave(jobs):
    job = await jobs.add(states.WAITING)
    with pytest.raises(ValueError, match="claim does not start from"):
        await apply(jobs, job, CLAIM, states.WAITING)
    assert await jobs.pair(job) == states.WAITING and await jobs.history(job) == []


async def test_the_version_and_the_holder_guard_too(jobs):
    job = await jobs.add(states.IN_PROGRESS, hostid="them")
    version = (await jobs.row(job)).versionnumber
    succeed = states.TRANSITIONS["succeed"]
    assert not await apply(jobs, job, succeed, states.IN_PROGRESS, version=version + 1)
    assert not await apply(jobs, job, succeed, states.IN_PROGRESS, holder="me")
    assert await jobs.pair(job) == states.IN_PROGRESS
    assert await apply(jobs, job, succeed, states.IN_PROGRESS, version=version, holder="them")
    assert await jobs.pair(job) == states.SUCCEEDED


async def test_a_missing_job_is_not_moved(jobs):
    assert not await apply(jobs, "00000000-0000-0000-0000-000000000000", CLAIM, states.READY)


async def test_apply_many_moves_each_job_with_a_version_of_its_own(jobs):
    ready = [await jobs.add(states.READY) for _ in range(3)]
    waiting = await jobs.add(states.WAITING)
    async with jobs.store.write() as conn:
        await transitions.apply_many(conn, [
            *(Move(job, CLAIM, states.READY, {"hostid": "me"}) for job in ready),
            Move(waiting, WAKE, states.WAITING, {"hostid": None}),
        ], NOW, host="me")
    rows = [await jobs.row(job) for job in (*ready, waiting)]
    assert [(r.statecode, r.statuscode) for r in rows] == [states.IN_PROGRESS] * 3 + [states.READY]
    versions = [r.versionnumber for r in rows]
    assert len(set(versions)) == 4 and min(versions) > 4  # above every version the store had
    for job in ready:
        assert await jobs.history(job) == [(2, 20, "claim", "me")]
    assert await jobs.history(waiting) == [(0, 0, "wake", "me")]


async def test_apply_many_with_a_journal_leaves_the_history_to_the_caller(jobs):
    job = await jobs.add(states.READY)
    journal: list[dict] = []
    async with jobs.store.write() as conn:
        await transitions.apply_many(conn, [Move(job, CLAIM, states.READY)], NOW, host="me", journal=journal)
    assert await jobs.pair(job) == states.IN_PROGRESS and await jobs.history(job) == []
    assert journal == [{"job": job, "moment": to_epoch(NOW), "state": 2, "status": 20, "why": "claim", "by": "me",
                        "from": (0, 0), "name": None}]
    async with jobs.store.write() as conn:
        await transitions.record_many(conn, journal)
    assert await jobs.history(job) == [(2, 20, "claim", "me")]


async def test_apply_many_raises_superseded_and_its_transaction_changes_nothing(jobs):
    first = await jobs.add(states.READY)
    moved = await jobs.add(states.WAITING)  # the caller believes it Ready
    before = [await jobs.row(first), await jobs.row(moved)]
    with pytest.raises(Superseded):
        async with jobs.store.write() as conn:
            await transitions.apply_many(conn, [Move(first, CLAIM, states.READY), Move(moved, CLAIM, states.READY)],
                                         NOW, host="me")
    assert [await jobs.row(first), await jobs.row(moved)] == before
    assert await jobs.history(first) == [] and await jobs.history(moved) == []


async def test_apply_many_guards_the_holder(jobs):
    job = await jobs.add(states.IN_PROGRESS, hostid="them")
    with pytest.raises(Superseded):
        async with jobs.store.write() as conn:
            await transitions.apply_many(conn, [Move(job, states.TRANSITIONS["fail"], states.IN_PROGRESS, holder="me")],
                                         NOW)
    assert await jobs.pair(job) == states.IN_PROGRESS


async def test_apply_many_of_nothing_writes_nothing(jobs):
    async with jobs.store.write() as conn:
        await transitions.apply_many(conn, [], NOW)


async def test_a_bulk_delete_job_shows_its_state_on_its_bulkdeleteoperation(jobs):
    job = await jobs.add(states.READY, operationtype=states.BULK_DELETE)
    cancelled = await jobs.add(states.WAITING, operationtype=states.BULK_DELETE)
    async with jobs.store.write() as conn:
        for number, owner in enumerate((job, cancelled), start=1):
            await conn.execute(insert(BULK_DELETES).values(
                bulkdeleteoperationid=f"00000000-0000-0000-0000-00000000000{number}", asyncoperationid=owner,
                statecode=0, statuscode=0, versionnumber=number))
        await transitions.apply_many(conn, [Move(job, CLAIM, states.READY, operation_type=states.BULK_DELETE)], NOW)
    assert await apply(jobs, cancelled, CANCEL, states.WAITING)
    async with jobs.store.read() as conn:
        rows = (await conn.execute(select(BULK_DELETES.c.asyncoperationid, BULK_DELETES.c.statecode,
                                          BULK_DELETES.c.statuscode))).all()
    assert {owner: (state, status) for owner, state, status in rows} == {
        job: states.IN_PROGRESS, cancelled: states.CANCELED}
