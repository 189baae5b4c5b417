"""The asynchronous service: claims Ready jobs, runs them, and moves them on.

Every step is a guarded write (`transitions.apply_many`) inside a BEGIN IMMEDIATE transaction that
first reads the jobs it moves, so any number of schedulers, in one process or several on one
store, can run side by side:

- claim: the queue (`queue.QUEUE`) read and locked in one transaction. Eligible: Ready 0/0,
  `postponeuntil` passed, and no earlier job with the same `dependencytoken` still unfinished.
  First in, first out by `createdon`.
- a claim takes a lease (`hostid`, `leaseexpires`), renewed while the job runs. A Locked job is
  finished only by the instance that holds it (the guard includes `hostid`).
- recovery: a job whose lease has expired (its instance died) goes back to Ready (0/0), or on to
  where it was headed (Pausing 2/21 -> Suspended 1/10, Canceling 2/22 -> Canceled 3/32). It was
  never finished, so it runs to completion exactly once.
- finish: a run that succeeds does its job type's real work, if it has any (`handlers.py`, e.g.
  bulk delete), in the same transaction as the guarded transition that records the success. The
  next occurrence of a recurring job is computed before that transaction, in a worker thread
  (`recurrence.next_occurrence_async`): a rule's arithmetic never runs on the event loop while the
  write lock is held. A rule that cannot be computed fails its job (3/31) with the reason, and a
  handler that breaks fails its job too: one bad job never stops the others.

Where each part lives:
- `queue.py`: the queue's SQL (it must agree with the partial indexes of `store/schema.py`);
- `outcome.py`: what a run's result does to its job (pure functions);
- `steps.py`: the steps above, shared by both clocks;
- `system_event.py`: the step work of System Event jobs (webhook delivery, plug-in handlers),
  done with no transaction open and recorded by `finish`;
- `real_clock.py`: real clock, a background loop (`start`/`stop`) polls and runs jobs with asyncio;
- `virtual_clock.py`: virtual clock, nothing moves until `advance(to)`, which plays every event
  due by `to` (wake-ups, claims, completions) in time order before it returns.
"""

from __future__ import annotations

import datetime as dt

from ..clock import Clock
from ..store.engine import Store
from .real_clock import RealClockLoop
from .steps import Claimed, Ending, Steps, new_host_id, plan_ending
from .system_event import SystemEvents
from .virtual_clock import Pending, VirtualClockRunner

__all__ = ["Claimed", "Ending", "Pending", "Scheduler", "new_host_id", "plan_ending"]


class Scheduler(Steps):
    """One instance of the asynchronous service: the shared steps (`steps.Steps`: `claim_many`,
    `finish`, `wake_due`, `recover`, `acknowledge`, `status`, `renew`...) and a runner for each
    clock. The emulator starts the real-clock loop (`start`/`nudge`/`stop`) or moves the virtual
    clock through the runner (`advance`/`forget`).

    Parameters:
    - `store`: the store whose system jobs are run;
    - `clock`: the emulator's clock (`RealClock`, or a `VirtualClock` moved by `advance`);
    - `concurrency`: how many jobs run at once (at least 1);
    - `lease_seconds`: how long a claim holds a job without being renewed;
    - `poll_seconds`: on the real clock, the longest wait between two looks at the queue;
    - `host`: this instance's name in `hostid` (default: a new one);
    - `events`: how System Event jobs run their step's work (webhooks, plug-in handlers).
    """

    def __init__(self, store: Store, clock: Clock, *, concurrency: int = 4, lease_seconds: float = 30.0,
                 poll_seconds: float = 0.2, host: str | None = None, events: SystemEvents | None = None) -> None:
        super().__init__(store, clock, concurrency=concurrency, lease_seconds=lease_seconds, host=host,
                         events=events)
        self.real = RealClockLoop(self, poll_seconds=poll_seconds)
        self.virtual = VirtualClockRunner(self)

    # The real clock.

    def start(self) -> None:
        self.real.start()

    def nudge(self) -> None:
        """Something changed (a job was created, resumed...): look again now rather than at the next poll."""
        self.real.nudge()

    async def stop(self) -> None:
        await self.real.stop()

    # The virtual clock.

    def forget(self) -> None:
        """Drop what the virtual runner holds (the store was reset under it)."""
        self.virtual.forget()

    async def advance(self, target: dt.datetime) -> dt.datetime:
        """Play every event due by `target`, in time order; the clock ends at `target`."""
        return await self.virtual.advance(target)
