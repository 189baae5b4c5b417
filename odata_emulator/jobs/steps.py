"""The scheduler's steps, shared by both clocks (`real_clock.py`, `virtual_clock.py`): claim,
finish, wake, recover, renew, acknowledge, and the read of what this instance holds.

Every step is a guarded write (`transitions.apply_many`) inside a BEGIN IMMEDIATE transaction that
first reads the jobs it moves (`queue.py`), so any number of schedulers, in one process or several
on one store, can run side by side. A step comes in two forms: one that opens its own write
transaction (`claim_many`, `finish`, `wake_due`, `recover`, `acknowledge`, `renew`), and one run
inside the caller's (`claim_in`, `finish_in`, `wake_in`, `recover_in`, `holdings`), with which the
virtual clock plays many rounds in one transaction. What a run's end does to its job is decided by
the pure functions of `outcome.py`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update

from ..clock import Clock
from ..errors import DataverseError
from ..store import driver
from ..store.async_engine import AsyncConnection
from ..store.engine import Store
from ..store.schema import JOBS
from ..store.values import from_epoch, to_epoch
from . import handlers, queue, recurrence, simulation, states, system_event, transitions
from .outcome import acknowledgement, default_duration, failure, outcome
from .simulation import ResultKind
from .system_event import EventWork, SystemEvents

log = logging.getLogger("odata_emulator.scheduler")

_CLAIM = states.TRANSITIONS["claim"]
# What `holdings` reads of a job: its pair, the instance holding it, its operation type.
Holding = tuple[states.Pair, str | None, int | None]


def new_host_id() -> str:
    return f"AsyncService_{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Claimed:
    """A job this instance has claimed (moved to Locked 2/20 under its lease), ready to run."""

    job_id: str
    operation_type: int | None
    attempt: int  # 1-based: retrycount + 1
    started: dt.datetime
    recurrence_pattern: str | None
    recurrence_start: dt.datetime
    simulation: simulation.Simulation
    simulated: bool = False  # the job has simulation settings of its own (a System Event job then stays simulated)


@dataclass(frozen=True)
class Ending:
    """A run that has ended, ready to be recorded: its result and, for a recurring job that
    succeeded, its next occurrence (None: the rule has ended, or the job does not recur)."""

    claimed: Claimed
    result: simulation.Result
    following: dt.datetime | None = None
    autodelete: bool = False  # a success deletes the job (its step's asyncautodelete)


async def plan_ending(claimed: Claimed, result: simulation.Result, finished: dt.datetime, *,
                      autodelete: bool = False) -> Ending:
    """The run as it will be recorded. Computes a recurring job's next occurrence in a worker
    thread; a rule that cannot be computed (a store written before rules were checked) turns the
    success into a failure that says why."""
    if result.kind is not ResultKind.SUCCEEDED or not claimed.recurrence_pattern:
        return Ending(claimed, result, autodelete=autodelete)
    try:
        following = await recurrence.next_occurrence_async(claimed.recurrence_pattern, claimed.recurrence_start,
                                                           finished)
    except recurrence.RecurrenceError as exc:
        return Ending(claimed, failure(exc))
    return Ending(claimed, result, following)


class Steps:
    """The steps one scheduler instance takes on a store, each a guarded write.

    Parameters:
    - `store`: the store whose system jobs are run;
    - `clock`: where "now" comes from (the steps themselves are given `now`);
    - `concurrency`: how many jobs this instance runs at once (at least 1);
    - `lease_seconds`: how long a claim holds a job without being renewed; a job whose lease has
      expired is recovered by any instance (its holder is taken to have died);
    - `host`: this instance's name, written to `hostid` of the jobs it holds (default: a new one);
    - `events`: how System Event jobs run their step's work (`system_event.SystemEvents`).
    """

    def __init__(self, store: Store, clock: Clock, *, concurrency: int = 4, lease_seconds: float = 30.0,
                 host: str | None = None, events: SystemEvents | None = None) -> None:
        self.events = events or SystemEvents()
        self.store = store
        self.clock = clock
        self.concurrency = max(1, concurrency)
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.host = host or new_host_id()

    # ------------------------------------------------------------------------------ wake

    async def wake_due(self, now: dt.datetime) -> int:
        """Suspended jobs whose postponement has passed become Ready (not those waiting for an event)."""
        # Look before taking the write lock (on the loop thread's reader): most passes find nothing to do.
        async with self.store.snapshot(inline=True) as snap:
            if not await snap.rows(queue.DUE, {"now": to_epoch(now)}):
                return 0
        async with self.store.write() as conn:
            return await self.wake_in(conn, now)

    async def wake_in(self, conn: AsyncConnection, now: dt.datetime) -> int:
        due = await driver.fetch_all(conn, queue.DUE, {"now": to_epoch(now)})
        await transitions.apply_many(conn, [
            transitions.Move(job_id, states.TRANSITIONS["wake"], states.WAITING, {"hostid": None}, operation_type=kind)
            for job_id, kind in due
        ], now, host=self.host)
        return len(due)

    # ------------------------------------------------------------------------------ recover

    async def recover(self, now: dt.datetime, *, orphans_only_of: set[str] | None = None) -> int:
        """Locked jobs whose lease has expired (or, on the virtual clock, that no runner here holds)
        go back to Ready, or on to where a pause or cancel was taking them."""
        async with self.store.snapshot(inline=True) as snap:
            if not self._lost(await snap.rows(queue.LOCKED), now, orphans_only_of):
                return 0
        async with self.store.write() as conn:
            return await self.recover_in(conn, now, orphans_only_of=orphans_only_of)

    async def recover_in(self, conn: AsyncConnection, now: dt.datetime, *,
                         orphans_only_of: set[str] | None = None) -> int:
        moves = []
        for job_id, state, status, kind, _ in self._lost(await driver.fetch_all(conn, queue.LOCKED), now,
                                                         orphans_only_of):
            pair = (state, status)
            name = {states.IN_PROGRESS: "recover", states.PAUSING: "paused", states.CANCELING: "canceled"}[pair]
            values: dict = {"hostid": None, "leaseexpires": None}
            if name == "canceled":
                values["completedon"] = to_epoch(now)
            moves.append(transitions.Move(job_id, states.TRANSITIONS[name], pair, values,
                                          reason=f"{name} (lease expired)", operation_type=kind))
        await transitions.apply_many(conn, moves, now, host=self.host)
        return len(moves)

    @staticmethod
    def _lost(locked: list[tuple], now: dt.datetime, orphans_only_of: set[str] | None) -> list[tuple]:
        if orphans_only_of is not None:
            return [row for row in locked if row[0] not in orphans_only_of]
        epoch = to_epoch(now)
        return [row for row in locked if row[4] is None or row[4] < epoch]  # row[4]: leaseexpires

    # ------------------------------------------------------------------------------ claim

    async def claim_many(self, now: dt.datetime, limit: int, *, lane: str | None = None,
                         since: dt.datetime | None = None) -> list[Claimed]:
        """Lock up to `limit` eligible jobs, first in first out, in one transaction. `lane`
        ("earlier" or "since"): only the jobs created before, or since, `since`."""
        if limit <= 0:
            return []
        async with self.store.write() as conn:
            return await self.claim_in(conn, now, limit, lane=lane, since=since)

    async def claim_in(self, conn: AsyncConnection, now: dt.datetime, limit: int, *,
                       journal: list | None = None, lane: str | None = None,
                       since: dt.datetime | None = None) -> list[Claimed]:
        # The write lock is held from BEGIN IMMEDIATE: the jobs read here are still Ready when locked.
        epoch = to_epoch(now)
        statement = {None: queue.QUEUE, "earlier": queue.QUEUE_EARLIER, "since": queue.QUEUE_SINCE}[lane]
        arguments = {"now": epoch, "limit": limit}
        if lane is not None:
            assert since is not None, "a lane needs its moment"
            arguments["since"] = to_epoch(since)
        rows = await driver.fetch_all(conn, statement, arguments)
        if not rows:
            return []
        log.debug("claimed %d job(s) for %s (lease until %s): %s", len(rows), self.host, now + self.lease,
                  ", ".join(row[0] for row in rows))
        values = {"startedon": epoch, "hostid": self.host, "leaseexpires": to_epoch(now + self.lease)}
        await transitions.apply_many(conn, [
            transitions.Move(row[0], _CLAIM, states.READY, values, operation_type=row[1]) for row in rows
        ], now, host=self.host, journal=journal)
        claimed = []
        for job_id, operation_type, retrycount, pattern, recurrence_start, created, _, settings in rows:
            sim = simulation.stored(settings, default_duration(operation_type))
            start = recurrence_start if recurrence_start is not None else created
            claimed.append(Claimed(job_id, operation_type, (retrycount or 0) + 1, now, pattern,
                                   from_epoch(start if start is not None else epoch), sim, settings is not None))
        return claimed

    # ------------------------------------------------------------------------------ finish

    async def finish(self, claimed: Claimed, result: simulation.Result, now: dt.datetime, *,
                     autodelete: bool = False) -> None:
        """Record how a run ended (see `finish_in`); a recurring job's next occurrence is worked
        out first, outside the write transaction."""
        ending = await plan_ending(claimed, result, now, autodelete=autodelete)
        async with self.store.write() as conn:
            await self.finish_in(conn, [ending], now)

    async def finish_in(self, conn: AsyncConnection, runs: list[Ending], now: dt.datetime, *,
                        held: dict[str, Holding] | None = None, journal: list | None = None) -> None:
        """Record how runs ended, in their order. A job a user asked to pause or cancel meanwhile
        goes where it was headed instead; one deleted or recovered by another instance is left alone.
        A success of a job type with a handler (`handlers.py`) does the job's work in the same
        transaction as the transition that records it, so both happen or neither. `held`: the jobs'
        pairs as read in this transaction, when the caller has them."""
        if held is None:
            held = await self.holdings(conn, [run.claimed.job_id for run in runs])
        moves: list[transitions.Move] = []
        deleting: list[str] = []  # successes of asyncautodelete steps
        for run in runs:
            claimed, result = run.claimed, run.result
            pair, holder, operation_type = held.get(claimed.job_id, (None, None, None))
            if holder != self.host:
                continue
            if pair in (states.PAUSING, states.CANCELING):
                moves.append(acknowledgement(claimed.job_id, pair, now, operation_type))
            elif pair == states.IN_PROGRESS:
                handler = handlers.handler_for(claimed.operation_type) if result.kind is ResultKind.SUCCEEDED else None
                if handler is None:
                    name, values = outcome(result, started=claimed.started, attempt=claimed.attempt, now=now,
                                           following=run.following)
                    reason = None
                    if run.autodelete and name == "succeed":
                        deleting.append(claimed.job_id)
                        reason = "succeed (asyncautodelete: the job is deleted)"
                    moves.append(transitions.Move(claimed.job_id, states.TRANSITIONS[name], pair, values, reason=reason,
                                                  holder=self.host, operation_type=operation_type))
                else:
                    await transitions.apply_many(conn, moves, now, host=self.host, journal=journal)
                    moves = []
                    await self._run_handler(conn, run, handler, now)
        await transitions.apply_many(conn, moves, now, host=self.host, journal=journal)
        await system_event.auto_delete(conn, deleting)

    async def _run_handler(self, conn: AsyncConnection, run: Ending, handler: handlers.Handler,
                           now: dt.datetime) -> None:
        claimed, following = run.claimed, run.following
        name, values = outcome(run.result, started=claimed.started, attempt=claimed.attempt, now=now,
                               following=following)
        try:
            async with conn.begin_nested():
                note = await handler(conn, handlers.Run(claimed.job_id, claimed.started, now, following))
                await transitions.apply_many(conn, [transitions.Move(
                    claimed.job_id, states.TRANSITIONS[name], states.IN_PROGRESS, values,
                    reason=f"{name} ({note})" if note else None, holder=self.host,
                    operation_type=claimed.operation_type)], now, host=self.host)
        except Exception as exc:  # noqa: BLE001 - whatever the work raised fails this job, not the scheduler
            # The work itself failed (its stored query no longer binds, a date function is out of
            # range...): nothing of it is kept and the job fails with the error. An error that is
            # not Dataverse's is a bug in the handler: logged too.
            if not isinstance(exc, DataverseError):
                log.exception("the work of system job %s failed", claimed.job_id)
            name, values = outcome(failure(exc), started=claimed.started, attempt=claimed.attempt, now=now,
                                   following=None)
            await transitions.apply_many(conn, [transitions.Move(
                claimed.job_id, states.TRANSITIONS[name], states.IN_PROGRESS, values, holder=self.host,
                operation_type=claimed.operation_type)], now, host=self.host)

    # ------------------------------------------------------------------------------ step work

    async def event_work(self, claimed: list[Claimed]) -> dict[str, EventWork]:
        """The step work (`system_event.py`) of the System Event jobs among `claimed` that have no
        simulation settings of their own, read in one short read (no write lock)."""
        ids = [c.job_id for c in claimed if c.operation_type == system_event.SYSTEM_EVENT and not c.simulated]
        if not ids:
            return {}
        async with self.store.read() as conn:
            return await system_event.read_work(conn, ids)

    # ------------------------------------------------------------------------------ what is held

    async def holdings(self, conn: AsyncConnection, job_ids: list[str]) -> dict[str, Holding]:
        """job id -> (its pair, the instance holding it, its operation type), for the jobs that exist."""
        if not job_ids:
            return {}
        rows = await driver.fetch_all(conn, queue.HOLDINGS, {"ids": json.dumps(job_ids)})
        return {job_id: ((state, status), holder, operation_type)
                for job_id, state, status, holder, operation_type in rows}

    async def acknowledge(self, job_id: str, now: dt.datetime) -> bool:
        """Carry a running job's Pausing (2/21) or Canceling (2/22) through to where it was headed."""
        async with self.store.write() as conn:
            pair, _, operation_type = (await self.holdings(conn, [job_id])).get(job_id, (None, None, None))
            if pair not in (states.PAUSING, states.CANCELING):
                return False
            await transitions.apply_many(conn, [acknowledgement(job_id, pair, now, operation_type)], now,
                                         host=self.host)
        return True

    async def status(self, job_id: str) -> tuple[states.Pair | None, str | None]:
        """The job's pair and the instance holding it ((None, None): it no longer exists)."""
        async with self.store.read() as conn:
            row = (await conn.execute(
                select(JOBS.c.statecode, JOBS.c.statuscode, JOBS.c.hostid).where(JOBS.c.asyncoperationid == job_id)
            )).first()
        return ((row.statecode, row.statuscode), row.hostid) if row is not None else (None, None)

    async def renew(self, job_id: str, now: dt.datetime) -> None:
        """Extend this instance's lease on a job it still holds."""
        log.debug("lease of job %s renewed by %s until %s", job_id, self.host, now + self.lease)
        async with self.store.write() as conn:
            await conn.execute(update(JOBS).where(JOBS.c.asyncoperationid == job_id, JOBS.c.hostid == self.host,
                                                  JOBS.c.statecode == states.LOCKED_STATE)
                               .values(leaseexpires=to_epoch(now + self.lease)))
