"""The asynchronous service: claims Ready jobs, runs them, and moves them on.

Every step is a guarded write (`transitions.apply`), so any number of schedulers, in one process
or several on one store, can run side by side:

- claim: one UPDATE ... WHERE asyncoperationid = (the first eligible job) AND statecode = 0
  ... RETURNING. Eligible: Ready 0/0, `postponeuntil` passed, and no earlier job with the same
  `dependencytoken` still unfinished. First in, first out by `createdon`.
- a claim takes a lease (`hostid`, `leaseexpires`), renewed while the job runs. A Locked job is
  finished only by the instance that holds it (the guard includes `hostid`).
- recovery: a job whose lease has expired (its instance died) goes back to Ready (2/20), or on to
  where it was headed (Pausing 2/21 -> Suspended 1/10, Canceling 2/22 -> Canceled 3/32). It was
  never finished, so it runs to completion exactly once.
- finish: a run that succeeds does its job type's real work, if it has any (`handlers.py`, e.g.
  bulk delete), in the same transaction as the guarded transition that records the success.

Two ways to run it:
- real clock: a background loop (`start`/`stop`) polls and runs jobs with asyncio;
- virtual clock: nothing moves until `advance(to)`, which plays every event due by `to`
  (wake-ups, claims, completions) in time order before it returns.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, or_, select, update

from ..clock import Clock
from ..errors import DataverseError
from ..store.engine import Store
from ..store.schema import METADATA
from ..store.values import from_epoch, to_epoch
from . import handlers, recurrence, simulation, states, transitions
from .transitions import JOBS

log = logging.getLogger("odata_emulator.scheduler")
SIMULATIONS = METADATA.tables["emulator_job_simulation"]


def new_host_id() -> str:
    return f"AsyncService_{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Claimed:
    job_id: str
    operation_type: int | None
    attempt: int
    started: dt.datetime
    recurrence_pattern: str | None
    recurrence_start: dt.datetime
    simulation: simulation.Simulation


class _Superseded(Exception):
    """The job left In Progress while its run was finishing: roll the finishing transaction back."""


def error_number(code: str) -> int:
    """A Dataverse error code ("0x80041103") as the signed 32-bit `errorcode` of a system job."""
    try:
        value = int(code, 16)
    except ValueError:
        return simulation.DEFAULT_FAILURE_CODE
    if not 0 < value < 2 ** 32:
        return simulation.DEFAULT_FAILURE_CODE
    return value - 2 ** 32 if value >= 2 ** 31 else value


def default_duration(operation_type: int | None) -> float:
    """How long a job runs when nobody said: platform maintenance takes a little longer."""
    return 3.0 if states.is_platform_job(operation_type) else 1.0


class Scheduler:
    def __init__(self, store: Store, clock: Clock, *, concurrency: int = 4, lease_seconds: float = 30.0,
                 poll_seconds: float = 0.2, host: str | None = None) -> None:
        self.store = store
        self.clock = clock
        self.concurrency = max(1, concurrency)
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.poll = poll_seconds
        self.host = host or new_host_id()
        self._task: asyncio.Task | None = None
        self._active: dict[str, asyncio.Task] = {}
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._virtual: dict[str, tuple[dt.datetime | None, Claimed, simulation.Result | None]] = {}
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------------------ steps

    async def wake_due(self, now: dt.datetime) -> int:
        """Suspended jobs whose postponement has passed become Ready (not those waiting for an event)."""
        due_query = select(JOBS.c.asyncoperationid).where(
            JOBS.c.statecode == 1, JOBS.c.statuscode == 10, JOBS.c.postponeuntil.is_not(None),
            JOBS.c.postponeuntil <= to_epoch(now), func.coalesce(JOBS.c.iswaitingforevent, 0) == 0,
        ).order_by(JOBS.c.postponeuntil, JOBS.c.createdon)
        # Look before taking the write lock: most passes find nothing to do.
        async with self.store.read() as conn:
            if (await conn.execute(due_query.limit(1))).first() is None:
                return 0
        async with self.store.write() as conn:
            due = (await conn.execute(due_query)).scalars().all()
            woken = 0
            for job_id in due:
                woken += await transitions.apply(conn, job_id, states.TRANSITIONS["wake"], states.WAITING, now,
                                                 host=self.host, values={"hostid": None})
        return woken

    async def recover(self, now: dt.datetime, *, orphans_only_of: set[str] | None = None) -> int:
        """Locked jobs whose lease has expired (or, on the virtual clock, that no runner here holds)."""
        query = select(JOBS.c.asyncoperationid, JOBS.c.statecode, JOBS.c.statuscode).where(JOBS.c.statecode == 2)
        if orphans_only_of is None:
            query = query.where(or_(JOBS.c.leaseexpires.is_(None), JOBS.c.leaseexpires < to_epoch(now)))
        async with self.store.read() as conn:
            candidates = (await conn.execute(query)).all()
        if not [row for row in candidates if orphans_only_of is None or row[0] not in orphans_only_of]:
            return 0
        async with self.store.write() as conn:
            rows = (await conn.execute(query)).all()
            recovered = 0
            for job_id, state, status in rows:
                if orphans_only_of is not None and job_id in orphans_only_of:
                    continue
                pair = (state, status)
                name = {states.IN_PROGRESS: "recover", states.PAUSING: "paused", states.CANCELING: "canceled"}[pair]
                values = {"hostid": None, "leaseexpires": None}
                if name == "canceled":
                    values["completedon"] = to_epoch(now)
                recovered += await transitions.apply(conn, job_id, states.TRANSITIONS[name], pair, now,
                                                     reason=f"{name} (lease expired)", host=self.host, values=values)
        return recovered

    def _claim_statement(self, now: dt.datetime):
        a, b = JOBS.alias("a"), JOBS.alias("b")
        epoch = to_epoch(now)
        earlier_unfinished = exists().where(
            b.c.dependencytoken == a.c.dependencytoken,
            b.c.statecode != 3,
            or_(b.c.createdon < a.c.createdon,
                and_(b.c.createdon == a.c.createdon, b.c.sequence < a.c.sequence)),
        )
        candidate = (
            select(a.c.asyncoperationid)
            .where(a.c.statecode == 0, a.c.statuscode == 0,
                   or_(a.c.postponeuntil.is_(None), a.c.postponeuntil <= epoch),
                   or_(a.c.dependencytoken.is_(None), ~earlier_unfinished))
            .order_by(a.c.createdon, a.c.sequence, a.c.asyncoperationid)
            .limit(1)
            .scalar_subquery()
        )
        return (
            update(JOBS)
            .where(JOBS.c.asyncoperationid == candidate, JOBS.c.statecode == 0, JOBS.c.statuscode == 0)
            .values(statecode=2, statuscode=20, startedon=epoch, modifiedon=epoch, hostid=self.host,
                    leaseexpires=to_epoch(now + self.lease), versionnumber=transitions.next_version())
            .returning(JOBS.c.asyncoperationid, JOBS.c.operationtype, JOBS.c.retrycount, JOBS.c.recurrencepattern,
                       JOBS.c.recurrencestarttime, JOBS.c.createdon)
        )

    async def claim_many(self, now: dt.datetime, limit: int) -> list[Claimed]:
        """Lock up to `limit` eligible jobs, first in first out, in one transaction."""
        if limit <= 0:
            return []
        statement = self._claim_statement(now)
        rows = []
        async with self.store.write() as conn:
            for _ in range(limit):
                row = (await conn.execute(statement)).first()
                if row is None:
                    break
                rows.append(row)
                await transitions.record(conn, row.asyncoperationid, now, states.IN_PROGRESS, "claim", self.host)
                if row.operationtype == transitions.BULK_DELETE:
                    await transitions.mirror_bulk_delete(conn, row.asyncoperationid, states.IN_PROGRESS, now)
            settings = {}
            if rows:
                settings = dict((await conn.execute(
                    select(SIMULATIONS.c.asyncoperationid, SIMULATIONS.c.settings)
                    .where(SIMULATIONS.c.asyncoperationid.in_([r.asyncoperationid for r in rows]))
                )).all())
        result = []
        for row in rows:
            stored = settings.get(row.asyncoperationid)
            sim = simulation.Simulation.from_json(json.loads(stored) if stored else None,
                                                  default_duration(row.operationtype))
            start = row.recurrencestarttime if row.recurrencestarttime is not None else row.createdon
            result.append(Claimed(row.asyncoperationid, row.operationtype, (row.retrycount or 0) + 1, now,
                                  row.recurrencepattern, from_epoch(start if start is not None else to_epoch(now)), sim))
        return result

    async def finish(self, claimed: Claimed, result: simulation.Result, now: dt.datetime) -> None:
        """Record how a run ended. A success of a job type with a handler (`handlers.py`) does the
        job's work in the same transaction as the transition, so both happen or neither."""
        name, values, following = self._outcome(claimed, result, now)
        handler = handlers.handler_for(claimed.operation_type) if result.kind == "succeeded" else None
        try:
            moved = await self._move(claimed, name, values, now, handler, following)
        except DataverseError as exc:
            # The work itself failed (its stored query no longer binds, a date function is out of
            # range...): nothing of it is kept and the job fails with the error, as a query error fails
            # a job in Dataverse rather than being retried.
            failure = simulation.Result("failed", error_number(exc.code), exc.message)
            name, values, _ = self._outcome(claimed, failure, now)
            moved = await self._move(claimed, name, values, now, None, None)
        if not moved:
            # A user asked it to pause or cancel meanwhile (or deleted it): honour that instead.
            await self.acknowledge(claimed.job_id, now)

    def _outcome(self, claimed: Claimed, result: simulation.Result,
                 now: dt.datetime) -> tuple[str, dict, dt.datetime | None]:
        """The transition a run's result asks for, the columns it writes, and the next occurrence
        of a recurring job that succeeded."""
        took = round((now - claimed.started).total_seconds(), 2)
        values: dict = {"executiontimespan": took, "leaseexpires": None}
        epoch = to_epoch(now)
        following = None
        if result.kind == "succeeded":
            following = recurrence.next_occurrence(claimed.recurrence_pattern, claimed.recurrence_start, now)
            if following is not None:
                name = "reschedule"
                values.update(postponeuntil=to_epoch(following), completedon=epoch, retrycount=0, errorcode=None,
                              message=None, friendlymessage=None, hostid=None)
            else:
                name = "succeed"
                values.update(completedon=epoch, errorcode=None, message=None, friendlymessage=None)
        elif result.kind == "retry":
            name = "retry"
            retry = claimed.attempt  # retrycount after this failure
            values.update(retrycount=retry, postponeuntil=to_epoch(now + simulation.retry_delay(retry)),
                          errorcode=result.errorcode, message=result.message, friendlymessage=result.message, hostid=None)
        elif result.kind == "suspended":
            name = "suspend"
            values.update(errorcode=result.errorcode, message=result.message, friendlymessage=result.message,
                          postponeuntil=None, hostid=None)
        else:
            name = "fail"
            values.update(completedon=epoch, errorcode=result.errorcode, message=result.message,
                          friendlymessage=result.message)
        return name, values, following

    async def _move(self, claimed: Claimed, name: str, values: dict, now: dt.datetime,
                    handler: handlers.Handler | None, following: dt.datetime | None) -> bool:
        """One write transaction: the handler's work (if any), then the guarded transition. When
        the transition finds the job moved, everything is rolled back and this answers False."""
        try:
            async with self.store.write() as conn:
                reason = None
                if handler is not None:
                    note = await handler(conn, handlers.Run(claimed.job_id, claimed.started, now, following))
                    reason = f"{name} ({note})" if note else None
                moved = await transitions.apply(conn, claimed.job_id, states.TRANSITIONS[name], states.IN_PROGRESS,
                                                now, reason=reason, host=self.host, values=values, holder=self.host)
                if not moved:
                    raise _Superseded()
        except _Superseded:
            return False
        return True

    async def acknowledge(self, job_id: str, now: dt.datetime) -> bool:
        """Carry a running job's Pausing (2/21) or Canceling (2/22) through to where it was headed."""
        async with self.store.write() as conn:
            row = (await conn.execute(
                select(JOBS.c.statecode, JOBS.c.statuscode).where(JOBS.c.asyncoperationid == job_id)
            )).first()
            if row is None:
                return False
            pair = (row.statecode, row.statuscode)
            if pair == states.PAUSING:
                return await transitions.apply(conn, job_id, states.TRANSITIONS["paused"], pair, now, host=self.host,
                                               values={"hostid": None, "leaseexpires": None})
            if pair == states.CANCELING:
                return await transitions.apply(conn, job_id, states.TRANSITIONS["canceled"], pair, now, host=self.host,
                                               values={"hostid": None, "leaseexpires": None,
                                                       "completedon": to_epoch(now)})
        return False

    async def status(self, job_id: str) -> tuple[tuple[int, int] | None, str | None]:
        async with self.store.read() as conn:
            row = (await conn.execute(
                select(JOBS.c.statecode, JOBS.c.statuscode, JOBS.c.hostid).where(JOBS.c.asyncoperationid == job_id)
            )).first()
        return ((row.statecode, row.statuscode), row.hostid) if row is not None else (None, None)

    async def renew(self, job_id: str, now: dt.datetime) -> None:
        async with self.store.write() as conn:
            await conn.execute(update(JOBS).where(JOBS.c.asyncoperationid == job_id, JOBS.c.hostid == self.host,
                                                  JOBS.c.statecode == 2)
                               .values(leaseexpires=to_epoch(now + self.lease)))

    # ------------------------------------------------------------------------------ real clock

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="odata-emulator-scheduler")

    def nudge(self) -> None:
        """Something changed (a job was created, resumed...): look again now rather than at the next poll."""
        self._wakeup.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        tasks = [t for t in (self._task, *self._active.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        self._active.clear()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_recovery = 0.0
        while not self._stopping:
            try:
                now = self.clock.now()
                await self.wake_due(now)
                if loop.time() >= next_recovery:
                    await self.recover(now)
                    next_recovery = loop.time() + max(self.lease.total_seconds() / 4, self.poll)
                free = self.concurrency - len(self._active)
                if free > 0 and not self._stopping:
                    for claimed in await self.claim_many(self.clock.now(), free):
                        task = asyncio.create_task(self._run(claimed))
                        self._active[claimed.job_id] = task
                        task.add_done_callback(lambda _t, job_id=claimed.job_id: self._done(job_id))
            except asyncio.CancelledError:
                raise
            except Exception:  # pragma: no cover - a failing step is logged and retried at the next poll
                log.exception("scheduler step failed")
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=self.poll)
            except asyncio.TimeoutError:
                pass

    def _done(self, job_id: str) -> None:
        self._active.pop(job_id, None)
        self._wakeup.set()

    async def _run(self, claimed: Claimed) -> None:
        result = simulation.run_result(claimed.simulation, claimed.attempt)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + claimed.simulation.duration if result is not None else None
        check = min(self.poll, max(self.lease.total_seconds() / 3, 0.05))
        renew_every = self.lease.total_seconds() / 3
        renewed = loop.time()
        while deadline is None or loop.time() < deadline:
            wait = check if deadline is None else min(check, deadline - loop.time())
            await asyncio.sleep(max(wait, 0))
            pair, holder = await self.status(claimed.job_id)
            if pair in (states.PAUSING, states.CANCELING) and holder == self.host:
                await self.acknowledge(claimed.job_id, self.clock.now())
                return
            if pair != states.IN_PROGRESS or holder != self.host:
                return  # deleted, or recovered by another instance: not ours any more
            if loop.time() - renewed >= renew_every:
                await self.renew(claimed.job_id, self.clock.now())
                renewed = loop.time()
        await self.finish(claimed, result, self.clock.now())

    # ------------------------------------------------------------------------------ virtual clock

    def forget(self) -> None:
        """Drop what the virtual runner holds (the store was reset under it)."""
        self._virtual.clear()

    async def advance(self, target: dt.datetime) -> dt.datetime:
        """Play every event due by `target`, in time order; the clock ends at `target`."""
        async with self._lock:
            now = self.clock.now()
            if target < now:
                raise ValueError("the virtual clock only moves forward")
            await self._settle(now)
            while True:
                following = await self._next_event(self.clock.now())
                if following is None or following > target:
                    break
                self.clock.set(following)
                await self._settle(following)
            if target > self.clock.now():
                self.clock.set(target)
                await self._settle(target)
            return self.clock.now()

    async def _settle(self, now: dt.datetime) -> None:
        while True:
            changed = False
            for job_id, (end, claimed, result) in sorted(self._virtual.items(), key=lambda i: (i[1][0] is None, i[1][0] or now, i[1][1].started)):
                pair, holder = await self.status(job_id)
                if pair in (states.PAUSING, states.CANCELING):
                    await self.acknowledge(job_id, now)
                elif pair == states.IN_PROGRESS and holder == self.host:
                    if end is None or end > now:
                        continue
                    await self.finish(claimed, result, now)
                del self._virtual[job_id]
                changed = True
            changed |= await self.recover(now, orphans_only_of=set(self._virtual)) > 0
            changed |= await self.wake_due(now) > 0
            for claimed in await self.claim_many(now, self.concurrency - len(self._virtual)):
                result = simulation.run_result(claimed.simulation, claimed.attempt)
                end = now + dt.timedelta(seconds=claimed.simulation.duration) if result is not None else None
                self._virtual[claimed.job_id] = (end, claimed, result)
                changed = True
            if not changed:
                return

    async def _next_event(self, now: dt.datetime) -> dt.datetime | None:
        candidates = [end for end, _, _ in self._virtual.values() if end is not None and end > now]
        async with self.store.read() as conn:
            wake = (await conn.execute(
                select(func.min(JOBS.c.postponeuntil)).where(
                    JOBS.c.statecode.in_((0, 1)), JOBS.c.postponeuntil > to_epoch(now),
                    func.coalesce(JOBS.c.iswaitingforevent, 0) == 0,
                )
            )).scalar_one_or_none()
        if wake is not None:
            candidates.append(from_epoch(wake))
        return min(candidates) if candidates else None
