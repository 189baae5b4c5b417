"""The scheduler on the virtual clock: nothing moves until `advance(to)`, which plays every event
due by `to` (wake-ups, claims, completions) in time order before it returns, over the shared steps
of `steps.py`.

The runner holds the runs in progress itself (`Pending`: when each ends, and how); the clock jumps
from one event to the next. At each instant it plays rounds until nothing moves, sharing one write
transaction among rounds for up to `SETTLE_SLICE` seconds. A recurring job's next occurrence is
worked out before that transaction, in a worker thread: a round that would end such a run ends the
transaction first. So does a round that claims a System Event job with step work to do (a webhook
to deliver, a plug-in handler to call): that work is done between transactions, all such jobs at
once (`_work`), and the runs end at the same instant, before `advance` returns.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from ..store.async_engine import AsyncConnection
from ..store.values import from_epoch, to_epoch
from . import queue, simulation, states, transitions
from .outcome import acknowledgement
from .simulation import ResultKind
from .steps import Claimed, Ending, Holding, Steps, plan_ending
from .system_event import SYSTEM_EVENT

SETTLE_SLICE = 0.05  # seconds the virtual clock's rounds hold the write lock before letting others in


@dataclass
class Pending:
    """A run the virtual clock holds: when it ends (None: it hangs), how, and the next occurrence
    worked out for the instant `planned_at` (computed outside the write transaction)."""

    end: dt.datetime | None
    claimed: Claimed
    result: simulation.Result | None
    planned_at: dt.datetime | None = None
    following: dt.datetime | None = None
    awaiting: bool = False  # a System Event job whose step work is still to be done (outside the transaction)
    autodelete: bool = False  # its success deletes it (the step's asyncautodelete)

    def needs_plan(self, now: dt.datetime) -> bool:
        """Ends by `now` as a success of a recurring job whose next occurrence is not yet known."""
        return (self.end is not None and self.end <= now and self.planned_at != now and self.result is not None
                and self.result.kind is ResultKind.SUCCEEDED and bool(self.claimed.recurrence_pattern))


class VirtualClockRunner:
    """Plays the jobs' events in time order when the virtual clock is moved (`advance`).

    Parameters:
    - `steps`: the instance's steps (its store, its virtual clock, concurrency and host).
    """

    def __init__(self, steps: Steps) -> None:
        self.steps = steps
        self._pending: dict[str, Pending] = {}
        self._lock = asyncio.Lock()

    def forget(self) -> None:
        """Drop the runs held (the store was reset under them)."""
        self._pending.clear()

    async def advance(self, target: dt.datetime) -> dt.datetime:
        """Play every event due by `target`, in time order; the clock ends at `target`."""
        clock = self.steps.clock
        async with self._lock:
            now = clock.now()
            if target < now:
                raise ValueError("the virtual clock only moves forward")
            await self._settle(now)
            while True:
                following = await self._next_event(clock.now())
                if following is None or following > target:
                    break
                clock.set(following)
                await self._settle(following)
            if target > clock.now():
                clock.set(target)
                await self._settle(target)
            return clock.now()

    async def _settle(self, now: dt.datetime) -> None:
        """Rounds at one instant until nothing moves. A round ends the runs due (or carries through
        a pause or cancel asked meanwhile), recovers orphans, wakes due jobs, and gives free slots
        the next jobs in the queue; a zero-length run ends in the round after its claim, at the same
        instant. Rounds share a write transaction for up to SETTLE_SLICE seconds, then commit so that
        other writers (the Web API) get their turn."""
        loop = asyncio.get_running_loop()
        changed = True
        while changed:
            await self._work(now)
            await self._plan(now)
            async with self.steps.store.write() as conn:
                deadline = loop.time() + SETTLE_SLICE
                changed = await self._round(conn, now, first=True)
                # A run that ends now needing its next occurrence worked out ends the transaction:
                # that is computed outside it, then the rounds go on.
                while changed and loop.time() < deadline and not self._unplanned(now):
                    changed = await self._round(conn, now, first=False)

    def _unplanned(self, now: dt.datetime) -> bool:
        return any(pending.awaiting or pending.needs_plan(now) for pending in self._pending.values())

    async def _work(self, now: dt.datetime) -> None:
        """Do, outside the write transaction and all at once, the step work of the System Event jobs
        claimed (webhook deliveries, plug-in handlers; `system_event.py`): each run ends at `now`.
        A claimed job without step work is simulated as any other."""
        awaiting = [pending for pending in self._pending.values() if pending.awaiting]
        if not awaiting:
            return
        works = await self.steps.event_work([pending.claimed for pending in awaiting])

        async def run(pending: Pending) -> None:
            claimed = pending.claimed
            work = works.get(claimed.job_id)
            if work is None:
                pending.result = simulation.run_result(claimed.simulation, claimed.attempt)
                duration = dt.timedelta(seconds=claimed.simulation.duration)
            else:
                pending.result = await self.steps.events.perform(work, claimed.attempt)
                pending.autodelete, duration = work.autodelete, dt.timedelta(0)
            pending.end = now + duration if pending.result is not None else None
            pending.awaiting = False

        await asyncio.gather(*(run(pending) for pending in awaiting))

    async def _plan(self, now: dt.datetime) -> None:
        """Work out, outside the write transaction, the next occurrence of each recurring run that
        ends by `now`."""
        for pending in list(self._pending.values()):
            if pending.needs_plan(now):
                assert pending.result is not None  # needs_plan says so
                ending = await plan_ending(pending.claimed, pending.result, now)
                pending.result, pending.following, pending.planned_at = ending.result, ending.following, now

    async def _round(self, conn: AsyncConnection, now: dt.datetime, *, first: bool) -> bool:
        """One round. Only the first round of a transaction looks at what others did (the jobs' pairs,
        orphans, wake-ups): after it, the write lock keeps every other writer out."""
        steps, host = self.steps, self.steps.host
        held: dict[str, Holding]
        if first:
            held = await steps.holdings(conn, list(self._pending))
        else:
            held = {job_id: (states.IN_PROGRESS, host, pending.claimed.operation_type)
                    for job_id, pending in self._pending.items()}
        ending: list[Ending] = []
        acknowledged: list[transitions.Move] = []
        changed = False
        order = sorted(self._pending.items(),
                       key=lambda i: (i[1].end is None, i[1].end or now, i[1].claimed.started))
        for job_id, pending in order:
            pair, holder, operation_type = held.get(job_id, (None, None, None))
            if pair in (states.PAUSING, states.CANCELING):
                acknowledged.append(acknowledgement(job_id, pair, now, operation_type))
            elif pair == states.IN_PROGRESS and holder == host:
                if pending.end is None or pending.end > now or pending.result is None:
                    continue
                ending.append(Ending(pending.claimed, pending.result,
                                     pending.following if pending.planned_at == now else None, pending.autodelete))
            del self._pending[job_id]
            changed = True
        journal: list[dict] = []
        await transitions.apply_many(conn, acknowledged, now, host=host, journal=journal)
        await steps.finish_in(conn, ending, now, held=held, journal=journal)
        if first:
            changed |= await steps.recover_in(conn, now, orphans_only_of=set(self._pending)) > 0
            changed |= await steps.wake_in(conn, now) > 0
        for claimed in await steps.claim_in(conn, now, steps.concurrency - len(self._pending), journal=journal):
            if claimed.operation_type == SYSTEM_EVENT and not claimed.simulated:
                self._pending[claimed.job_id] = Pending(now, claimed, None, awaiting=True)
                changed = True
                continue
            result = simulation.run_result(claimed.simulation, claimed.attempt)
            end = now + dt.timedelta(seconds=claimed.simulation.duration) if result is not None else None
            self._pending[claimed.job_id] = Pending(end, claimed, result)
            changed = True
        await transitions.record_many(conn, journal)
        return changed

    async def _next_event(self, now: dt.datetime) -> dt.datetime | None:
        """The first instant after `now` when something happens: a held run ends, or a job wakes."""
        candidates = [p.end for p in self._pending.values() if p.end is not None and p.end > now]
        async with self.steps.store.snapshot(inline=True) as snap:
            rows = await snap.rows(queue.NEXT_WAKE, {"now": to_epoch(now)})
        wake = rows[0][0] if rows else None
        if wake is not None:
            candidates.append(from_epoch(wake))
        return min(candidates) if candidates else None
