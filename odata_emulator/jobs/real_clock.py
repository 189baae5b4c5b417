"""The scheduler on the real clock: a background task that polls the store and runs each claimed
job as its own asyncio task, over the shared steps of `steps.py`.

Each pass wakes the jobs that are due, now and then recovers jobs whose lease has expired (their
instance died), and fills free slots from the queue: in two lanes of `concurrency` slots each, one
for the jobs that were in the store when the loop started (the data set's demo jobs, or an earlier
run's) and one for the jobs created since, so that a store full of old work never keeps a new job
waiting (docs/deviations.md). A running job sleeps its simulated duration in
short checks: a pause or cancel asked meanwhile is carried through at once, a job deleted or taken
over by another instance is dropped, and the lease is renewed while the job runs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging

from . import simulation, states
from .steps import Claimed, Steps
from .system_event import EventWork

log = logging.getLogger("odata_emulator.scheduler")


class RealClockLoop:
    """Runs jobs as time passes (`start`/`stop`); `nudge` makes it look now rather than at the next poll.

    Parameters:
    - `steps`: the instance's steps (its store, clock, concurrency, lease and host);
    - `poll_seconds`: the longest wait between two looks at the queue, and between two checks of a
      running job.
    """

    def __init__(self, steps: Steps, *, poll_seconds: float = 0.2) -> None:
        self.steps = steps
        self.poll = poll_seconds
        self._task: asyncio.Task | None = None
        self._active: dict[str, asyncio.Task] = {}
        self._lanes: dict[str, str] = {}  # running job id -> its lane
        self._since: dt.datetime | None = None  # when the loop started: the lanes' dividing moment
        self._wakeup = asyncio.Event()
        self._stopping = False

    def start(self) -> None:
        self._stopping = False
        self._since = self.steps.clock.now()
        self._task = asyncio.create_task(self._loop(), name="odata-emulator-scheduler")

    def nudge(self) -> None:
        """Something changed (a job was created, resumed...): look again now rather than at the next poll."""
        self._wakeup.set()

    async def stop(self) -> None:
        """Stop polling and cancel the runs in progress (their jobs stay Locked until recovered)."""
        self._stopping = True
        self._wakeup.set()
        tasks = [t for t in (self._task, *self._active.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.steps.events.close()
        self._task = None
        self._active.clear()
        self._lanes.clear()

    async def _loop(self) -> None:
        steps, clock = self.steps, self.steps.clock
        loop = asyncio.get_running_loop()
        next_recovery = 0.0
        while not self._stopping:
            try:
                now = clock.now()
                await steps.wake_due(now)
                if loop.time() >= next_recovery:
                    await steps.recover(now)
                    next_recovery = loop.time() + max(steps.lease.total_seconds() / 4, self.poll)
                for lane in ("since", "earlier"):
                    free = steps.concurrency - sum(1 for held in self._lanes.values() if held == lane)
                    if free <= 0 or self._stopping:
                        continue
                    for claimed in await steps.claim_many(clock.now(), free, lane=lane, since=self._since):
                        task = asyncio.create_task(self._run(claimed))
                        self._active[claimed.job_id] = task
                        self._lanes[claimed.job_id] = lane
                        task.add_done_callback(functools.partial(self._done, claimed.job_id))
            except asyncio.CancelledError:
                raise
            except Exception:  # pragma: no cover - a failing step is logged and retried at the next poll
                log.exception("scheduler step failed")
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=self.poll)
            except TimeoutError:
                pass

    def _done(self, job_id: str, _task: asyncio.Task | None = None) -> None:
        self._active.pop(job_id, None)
        self._lanes.pop(job_id, None)
        self._wakeup.set()

    async def _run(self, claimed: Claimed) -> None:
        steps, clock = self.steps, self.steps.clock
        work = (await steps.event_work([claimed])).get(claimed.job_id)
        if work is not None:
            await self._run_event(claimed, work)
            return
        result = simulation.run_result(claimed.simulation, claimed.attempt)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + claimed.simulation.duration if result is not None else None
        if not await self._watch(claimed, deadline):
            return
        assert result is not None  # a run that hangs only leaves `_watch` by losing its job
        await steps.finish(claimed, result, clock.now())

    async def _run_event(self, claimed: Claimed, work: EventWork) -> None:
        """A System Event job's step work (a webhook delivery, a plug-in handler) runs as its own
        task, with no transaction open, while the job stays Locked: a pause or cancel asked
        meanwhile is carried through at once and the work abandoned (a request already sent may
        still reach the receiver); the result is then recorded by the guarded `finish`."""
        steps, clock = self.steps, self.steps.clock
        task = asyncio.create_task(steps.events.perform(work, claimed.attempt))
        try:
            if not await self._watch(claimed, None, task):
                return
        finally:
            if not task.done():
                task.cancel()
        result = task.result()
        if result is None:  # a plug-in type simulated to hang
            await self._watch(claimed, None)
            return
        await steps.finish(claimed, result, clock.now(), autodelete=work.autodelete)

    async def _watch(self, claimed: Claimed, deadline: float | None, task: asyncio.Task | None = None) -> bool:
        """Wait until `deadline` (loop time; None: for ever) or until `task` is done, checking the
        job every poll and renewing its lease. False: the job is no longer this run's (a pause or
        cancel was carried through, it was deleted, or another instance recovered it)."""
        steps, clock = self.steps, self.steps.clock
        loop = asyncio.get_running_loop()
        lease = steps.lease.total_seconds()
        check = min(self.poll, max(lease / 3, 0.05))
        renew_every = lease / 3
        renewed = loop.time()
        while True:
            if (task is not None and task.done()) or (deadline is not None and loop.time() >= deadline):
                return True
            wait = max(check if deadline is None else min(check, deadline - loop.time()), 0)
            if task is not None:
                await asyncio.wait({task}, timeout=wait)
                if task.done():
                    return True
            else:
                await asyncio.sleep(wait)
            pair, holder = await steps.status(claimed.job_id)
            if pair in (states.PAUSING, states.CANCELING) and holder == steps.host:
                await steps.acknowledge(claimed.job_id, clock.now())
                return False
            if pair != states.IN_PROGRESS or holder != steps.host:
                return False  # deleted, or recovered by another instance: not ours any more
            if loop.time() - renewed >= renew_every:
                await steps.renew(claimed.job_id, clock.now())
                renewed = loop.time()
