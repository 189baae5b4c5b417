"""The asynchronous service: claims Ready jobs, runs them, and moves them on.

Every step is a guarded write (`transitions.apply_many`) inside a BEGIN IMMEDIATE transaction that
first reads the jobs it moves, so any number of schedulers, in one process or several on one
store, can run side by side:

- claim: the queue (`_QUEUE`) read and locked in one transaction. Eligible: Ready 0/0,
  `postponeuntil` passed, and no earlier job with the same `dependencytoken` still unfinished.
  First in, first out by `createdon`.
- a claim takes a lease (`hostid`, `leaseexpires`), renewed while the job runs. A Locked job is
  finished only by the instance that holds it (the guard includes `hostid`).
- recovery: a job whose lease has expired (its instance died) goes back to Ready (2/20), or on to
  where it was headed (Pausing 2/21 -> Suspended 1/10, Canceling 2/22 -> Canceled 3/32). It was
  never finished, so it runs to completion exactly once.
- finish: a run that succeeds does its job type's real work, if it has any (`handlers.py`, e.g.
  bulk delete), in the same transaction as the guarded transition that records the success. The
  next occurrence of a recurring job is computed before that transaction, in a worker thread
  (`recurrence.next_occurrence_async`): a rule's arithmetic never runs on the event loop while the
  write lock is held. A rule that cannot be computed fails its job (3/31) with the reason, and a
  handler that breaks fails its job too: one bad job never stops the others.

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

from sqlalchemy import bindparam, func, literal_column, or_, select, union_all, update

from ..clock import Clock
from ..errors import DataverseError
from ..store import driver
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


@dataclass(frozen=True)
class Ending:
    """A run that has ended, ready to be recorded: its result and, for a recurring job that
    succeeded, its next occurrence (None: the rule has ended, or the job does not recur)."""

    claimed: Claimed
    result: simulation.Result
    following: dt.datetime | None = None


@dataclass
class Pending:
    """A run the virtual clock holds: when it ends (None: it hangs), how, and the next occurrence
    worked out for the instant `planned_at` (computed outside the write transaction)."""

    end: dt.datetime | None
    claimed: Claimed
    result: simulation.Result | None
    planned_at: dt.datetime | None = None
    following: dt.datetime | None = None

    def needs_plan(self, now: dt.datetime) -> bool:
        """Ends by `now` as a success of a recurring job whose next occurrence is not yet known."""
        return (self.end is not None and self.end <= now and self.planned_at != now and self.result is not None
                and self.result.kind == "succeeded" and bool(self.claimed.recurrence_pattern))


async def plan_ending(claimed: Claimed, result: simulation.Result, finished: dt.datetime) -> Ending:
    """The run as it will be recorded. Computes a recurring job's next occurrence in a worker
    thread; a rule that cannot be computed (a store written before rules were checked) turns the
    success into a failure that says why."""
    if result.kind != "succeeded" or not claimed.recurrence_pattern:
        return Ending(claimed, result)
    try:
        following = await recurrence.next_occurrence_async(claimed.recurrence_pattern, claimed.recurrence_start,
                                                           finished)
    except recurrence.RecurrenceError as exc:
        return Ending(claimed, simulation.Result("failed", error_number(exc.code), exc.message))
    return Ending(claimed, result, following)


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


SETTLE_SLICE = 0.05  # seconds the virtual clock's rounds hold the write lock before letting others in

def _queue_statement():
    """The jobs that may run now, first in first out: Ready, no longer postponed, and, for a job
    with a dependency token, the first unfinished job of its token (so a postponed or running one
    holds back those after it).

    Two ordered halves, merged: jobs without a token straight from their queue index, and the
    head of each token with unfinished jobs, the tokens found by skipping through an index (a
    recursive CTE) so that a long chain behind its head costs nothing. The literal conditions
    (`statecode < 3`, `dependencytoken IS NULL`) match the partial indexes of `store/schema.py`.
    """
    unfinished = literal_column("3")
    scan, step, first, queued = (JOBS.alias(name) for name in ("token_scan", "token_step", "first", "queued"))
    tokens = (
        select(func.min(scan.c.dependencytoken).label("token"))
        .where(scan.c.dependencytoken.is_not(None), scan.c.statecode < unfinished)
        .cte("tokens", recursive=True)
    )
    tokens = tokens.union_all(
        select(select(func.min(step.c.dependencytoken))
               .where(step.c.dependencytoken > tokens.c.token, step.c.statecode < unfinished)
               .scalar_subquery())
        .where(tokens.c.token.is_not(None))
    )
    heads = (
        select(select(first.c.asyncoperationid)
               .where(first.c.dependencytoken == tokens.c.token, first.c.statecode < unfinished)
               .order_by(first.c.createdon, first.c.sequence, first.c.asyncoperationid)
               .limit(1).scalar_subquery().label("asyncoperationid"))
        .where(tokens.c.token.is_not(None))
        .cte("heads")
    )

    def ready(source, *conditions):
        return (
            select(queued.c.asyncoperationid.label("job"), queued.c.operationtype, queued.c.retrycount,
                   queued.c.recurrencepattern, queued.c.recurrencestarttime, queued.c.createdon.label("created"),
                   queued.c.sequence.label("position"), SIMULATIONS.c.settings)
            .select_from(source.outerjoin(SIMULATIONS, SIMULATIONS.c.asyncoperationid == queued.c.asyncoperationid))
            .where(queued.c.statecode == 0, queued.c.statuscode == 0,
                   or_(queued.c.postponeuntil.is_(None), queued.c.postponeuntil <= bindparam("now")), *conditions)
        )

    both = union_all(
        ready(queued, queued.c.dependencytoken.is_(None)),
        ready(heads.join(queued, queued.c.asyncoperationid == heads.c.asyncoperationid)),
    )
    columns = both.selected_columns
    return both.order_by(columns.created, columns.position, columns.job).limit(bindparam("limit"))


_QUEUE = driver.compile_sql(_queue_statement())
_CLAIM = states.TRANSITIONS["claim"]
_DUE = driver.compile_sql(
    select(JOBS.c.asyncoperationid, JOBS.c.operationtype).where(
        JOBS.c.statecode == 1, JOBS.c.statuscode == 10, JOBS.c.postponeuntil.is_not(None),
        JOBS.c.postponeuntil <= bindparam("now"), func.coalesce(JOBS.c.iswaitingforevent, 0) == 0,
    ).order_by(JOBS.c.postponeuntil, JOBS.c.createdon)
)
_LOCKED = driver.compile_sql(
    select(JOBS.c.asyncoperationid, JOBS.c.statecode, JOBS.c.statuscode, JOBS.c.operationtype, JOBS.c.leaseexpires)
    .where(JOBS.c.statecode == 2)
)
# The ids arrive as one JSON array, so that one compiled statement serves any number of them.
_HOLDINGS = driver.compile_sql(
    select(JOBS.c.asyncoperationid, JOBS.c.statecode, JOBS.c.statuscode, JOBS.c.hostid, JOBS.c.operationtype)
    .where(JOBS.c.asyncoperationid.in_(select(literal_column("value")).select_from(func.json_each(bindparam("ids")))))
)


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
        self._virtual: dict[str, Pending] = {}
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------------------ steps

    async def wake_due(self, now: dt.datetime) -> int:
        """Suspended jobs whose postponement has passed become Ready (not those waiting for an event)."""
        # Look before taking the write lock: most passes find nothing to do.
        async with self.store.read() as conn:
            if not await driver.fetch_all(conn, _DUE, {"now": to_epoch(now)}):
                return 0
        async with self.store.write() as conn:
            return await self._wake(conn, now)

    async def _wake(self, conn, now: dt.datetime) -> int:
        due = await driver.fetch_all(conn, _DUE, {"now": to_epoch(now)})
        await transitions.apply_many(conn, [
            transitions.Move(job_id, states.TRANSITIONS["wake"], states.WAITING, {"hostid": None}, operation_type=kind)
            for job_id, kind in due
        ], now, host=self.host)
        return len(due)

    async def recover(self, now: dt.datetime, *, orphans_only_of: set[str] | None = None) -> int:
        """Locked jobs whose lease has expired (or, on the virtual clock, that no runner here holds)."""
        async with self.store.read() as conn:
            if not self._lost(await driver.fetch_all(conn, _LOCKED), now, orphans_only_of):
                return 0
        async with self.store.write() as conn:
            return await self._recover(conn, now, orphans_only_of=orphans_only_of)

    async def _recover(self, conn, now: dt.datetime, *, orphans_only_of: set[str] | None = None) -> int:
        moves = []
        for job_id, state, status, kind, _ in self._lost(await driver.fetch_all(conn, _LOCKED), now, orphans_only_of):
            pair = (state, status)
            name = {states.IN_PROGRESS: "recover", states.PAUSING: "paused", states.CANCELING: "canceled"}[pair]
            values = {"hostid": None, "leaseexpires": None}
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

    async def claim_many(self, now: dt.datetime, limit: int) -> list[Claimed]:
        """Lock up to `limit` eligible jobs, first in first out, in one transaction."""
        if limit <= 0:
            return []
        async with self.store.write() as conn:
            return await self._claim(conn, now, limit)

    async def _claim(self, conn, now: dt.datetime, limit: int, *, journal: list | None = None) -> list[Claimed]:
        # The write lock is held from BEGIN IMMEDIATE: the jobs read here are still Ready when locked.
        epoch = to_epoch(now)
        rows = await driver.fetch_all(conn, _QUEUE, {"now": epoch, "limit": limit})
        if not rows:
            return []
        values = {"startedon": epoch, "hostid": self.host, "leaseexpires": to_epoch(now + self.lease)}
        await transitions.apply_many(conn, [
            transitions.Move(row[0], _CLAIM, states.READY, values, operation_type=row[1]) for row in rows
        ], now, host=self.host, journal=journal)
        claimed = []
        for job_id, operation_type, retrycount, pattern, recurrence_start, created, _, settings in rows:
            sim = simulation.stored(settings, default_duration(operation_type))
            start = recurrence_start if recurrence_start is not None else created
            claimed.append(Claimed(job_id, operation_type, (retrycount or 0) + 1, now, pattern,
                                   from_epoch(start if start is not None else epoch), sim))
        return claimed

    async def finish(self, claimed: Claimed, result: simulation.Result, now: dt.datetime) -> None:
        """Record how a run ended (see `_finish_many`); a recurring job's next occurrence is worked
        out first, outside the write transaction."""
        ending = await plan_ending(claimed, result, now)
        async with self.store.write() as conn:
            await self._finish_many(conn, [ending], now)

    async def _finish_many(self, conn, runs: list[Ending], now: dt.datetime, *,
                           held: dict | None = None, journal: list | None = None) -> None:
        """Record how runs ended, in their order. A job a user asked to pause or cancel meanwhile
        goes where it was headed instead; one deleted or recovered by another instance is left alone.
        A success of a job type with a handler (`handlers.py`) does the job's work in the same
        transaction as the transition that records it, so both happen or neither. `held`: the jobs'
        pairs as read in this transaction, when the caller has them."""
        if held is None:
            held = await self._holdings(conn, [run.claimed.job_id for run in runs])
        moves: list[transitions.Move] = []
        for run in runs:
            claimed, result = run.claimed, run.result
            pair, holder, operation_type = held.get(claimed.job_id, (None, None, None))
            if holder != self.host:
                continue
            if pair in (states.PAUSING, states.CANCELING):
                moves.append(self._acknowledgement(claimed.job_id, pair, now, operation_type))
            elif pair == states.IN_PROGRESS:
                handler = handlers.handler_for(claimed.operation_type) if result.kind == "succeeded" else None
                if handler is None:
                    name, values = self._outcome(claimed, result, now, run.following)
                    moves.append(transitions.Move(claimed.job_id, states.TRANSITIONS[name], pair, values,
                                                  holder=self.host, operation_type=operation_type))
                else:
                    await transitions.apply_many(conn, moves, now, host=self.host, journal=journal)
                    moves = []
                    await self._run_handler(conn, run, handler, now)
        await transitions.apply_many(conn, moves, now, host=self.host, journal=journal)

    async def _run_handler(self, conn, run: Ending, handler: handlers.Handler, now: dt.datetime) -> None:
        claimed, following = run.claimed, run.following
        name, values = self._outcome(claimed, run.result, now, following)
        try:
            async with conn.begin_nested():
                note = await handler(conn, handlers.Run(claimed.job_id, claimed.started, now, following))
                await transitions.apply_many(conn, [transitions.Move(
                    claimed.job_id, states.TRANSITIONS[name], states.IN_PROGRESS, values,
                    reason=f"{name} ({note})" if note else None, holder=self.host,
                    operation_type=claimed.operation_type)], now, host=self.host)
        except Exception as exc:  # noqa: BLE001 - whatever the work raised fails this job, not the scheduler
            # The work itself failed (its stored query no longer binds, a date function is out of
            # range...): nothing of it is kept and the job fails with the error, as a query error fails
            # a job in Dataverse rather than being retried. An error that is not Dataverse's is a
            # bug in the handler: logged, and the job fails with a generic message.
            if isinstance(exc, DataverseError):
                failure = simulation.Result("failed", error_number(exc.code), exc.message)
            else:
                log.exception("the work of system job %s failed", claimed.job_id)
                failure = simulation.Result("failed", simulation.DEFAULT_FAILURE_CODE,
                                            f"The system job's work failed unexpectedly: {type(exc).__name__}.")
            name, values = self._outcome(claimed, failure, now, None)
            await transitions.apply_many(conn, [transitions.Move(
                claimed.job_id, states.TRANSITIONS[name], states.IN_PROGRESS, values, holder=self.host,
                operation_type=claimed.operation_type)], now, host=self.host)

    async def _holdings(self, conn, job_ids: list[str]) -> dict[str, tuple[tuple[int, int], str | None, int | None]]:
        """job id -> (its pair, the instance holding it, its operation type), for the jobs that exist."""
        if not job_ids:
            return {}
        rows = await driver.fetch_all(conn, _HOLDINGS, {"ids": json.dumps(job_ids)})
        return {job_id: ((state, status), holder, operation_type)
                for job_id, state, status, holder, operation_type in rows}

    @staticmethod
    def _acknowledgement(job_id: str, pair: tuple[int, int], now: dt.datetime,
                         operation_type: int | None) -> transitions.Move:
        """A running job's Pausing (2/21) or Canceling (2/22), carried through to where it was headed."""
        values = {"hostid": None, "leaseexpires": None}
        if pair == states.CANCELING:
            values["completedon"] = to_epoch(now)
        name = "paused" if pair == states.PAUSING else "canceled"
        return transitions.Move(job_id, states.TRANSITIONS[name], pair, values, operation_type=operation_type)

    @staticmethod
    def _outcome(claimed: Claimed, result: simulation.Result, now: dt.datetime,
                 following: dt.datetime | None) -> tuple[str, dict]:
        """The transition a run's result asks for and the columns it writes; `following` is the
        next occurrence of a recurring job that succeeded (worked out by `plan_ending`)."""
        took = round((now - claimed.started).total_seconds(), 2)
        values: dict = {"executiontimespan": took, "leaseexpires": None}
        epoch = to_epoch(now)
        if result.kind == "succeeded":
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
        return name, values

    async def acknowledge(self, job_id: str, now: dt.datetime) -> bool:
        """Carry a running job's Pausing (2/21) or Canceling (2/22) through to where it was headed."""
        async with self.store.write() as conn:
            pair, _, operation_type = (await self._holdings(conn, [job_id])).get(job_id, (None, None, None))
            if pair not in (states.PAUSING, states.CANCELING):
                return False
            await transitions.apply_many(conn, [self._acknowledgement(job_id, pair, now, operation_type)], now,
                                         host=self.host)
        return True

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
        """Rounds at one instant until nothing moves. A round ends the runs due (or carries through
        a pause or cancel asked meanwhile), recovers orphans, wakes due jobs, and gives free slots
        the next jobs in the queue; a zero-length run ends in the round after its claim, at the same
        instant. Rounds share a write transaction for up to SETTLE_SLICE seconds, then commit so that
        other writers (the Web API) get their turn."""
        loop = asyncio.get_running_loop()
        changed = True
        while changed:
            await self._plan(now)
            async with self.store.write() as conn:
                deadline = loop.time() + SETTLE_SLICE
                changed = await self._round(conn, now, first=True)
                # A run that ends now needing its next occurrence worked out ends the transaction:
                # that is computed outside it, then the rounds go on.
                while changed and loop.time() < deadline and not self._unplanned(now):
                    changed = await self._round(conn, now, first=False)

    def _unplanned(self, now: dt.datetime) -> bool:
        return any(pending.needs_plan(now) for pending in self._virtual.values())

    async def _plan(self, now: dt.datetime) -> None:
        """Work out, outside the write transaction, the next occurrence of each recurring run that
        ends by `now`."""
        for pending in list(self._virtual.values()):
            if pending.needs_plan(now):
                assert pending.result is not None  # needs_plan says so
                ending = await plan_ending(pending.claimed, pending.result, now)
                pending.result, pending.following, pending.planned_at = ending.result, ending.following, now

    async def _round(self, conn, now: dt.datetime, *, first: bool) -> bool:
        """One round. Only the first round of a transaction looks at what others did (the jobs' pairs,
        orphans, wake-ups): after it, the write lock keeps every other writer out."""
        if first:
            held = await self._holdings(conn, list(self._virtual))
        else:
            held = {job_id: (states.IN_PROGRESS, self.host, pending.claimed.operation_type)
                    for job_id, pending in self._virtual.items()}
        ending: list[Ending] = []
        acknowledged: list[transitions.Move] = []
        changed = False
        order = sorted(self._virtual.items(),
                       key=lambda i: (i[1].end is None, i[1].end or now, i[1].claimed.started))
        for job_id, pending in order:
            pair, holder, operation_type = held.get(job_id, (None, None, None))
            if pair in (states.PAUSING, states.CANCELING):
                acknowledged.append(self._acknowledgement(job_id, pair, now, operation_type))
            elif pair == states.IN_PROGRESS and holder == self.host:
                if pending.end is None or pending.end > now or pending.result is None:
                    continue
                ending.append(Ending(pending.claimed, pending.result,
                                     pending.following if pending.planned_at == now else None))
            del self._virtual[job_id]
            changed = True
        journal: list[dict] = []
        await transitions.apply_many(conn, acknowledged, now, host=self.host, journal=journal)
        await self._finish_many(conn, ending, now, held=held, journal=journal)
        if first:
            changed |= await self._recover(conn, now, orphans_only_of=set(self._virtual)) > 0
            changed |= await self._wake(conn, now) > 0
        for claimed in await self._claim(conn, now, self.concurrency - len(self._virtual), journal=journal):
            result = simulation.run_result(claimed.simulation, claimed.attempt)
            end = now + dt.timedelta(seconds=claimed.simulation.duration) if result is not None else None
            self._virtual[claimed.job_id] = Pending(end, claimed, result)
            changed = True
        await transitions.record_many(conn, journal)
        return changed

    async def _next_event(self, now: dt.datetime) -> dt.datetime | None:
        candidates = [p.end for p in self._virtual.values() if p.end is not None and p.end > now]
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
