"""The work behind a system job, per operation type.

Most job types are only simulated (`simulation.py`): a run takes its duration and ends as its
settings say. A type with a handler here also does real work when a run succeeds. The scheduler
calls the handler inside the same write transaction as the guarded transition that records the
success (`steps.Steps.finish`), so the work, what it records and the state change commit together;
if the job moved meanwhile (a user cancelled or paused it) the transaction is rolled back and the
work never happened.

A handler returns a note for the job's history (`"bulk delete: 12 deleted, 1 failed"`, shown as
`succeed (bulk delete: ...)`), or None. A DataverseError it raises fails the job with that error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..store.async_engine import AsyncConnection
from . import bulkdelete
from .states import BULK_DELETE


@dataclass(frozen=True)
class Run:
    """A run that has just succeeded, as its handler sees it."""

    job_id: str
    started: dt.datetime
    finished: dt.datetime
    next_run: dt.datetime | None  # the next occurrence of a recurring job; None when it ends here


Handler = Callable[[AsyncConnection, Run], Awaitable[str | None]]


async def bulk_delete(conn: AsyncConnection, run: Run) -> str | None:
    counts = await bulkdelete.execute(conn, run.job_id, started=run.started, finished=run.finished,
                                      next_run=run.next_run)
    if counts is None:
        return None
    return f"bulk delete: {counts.deleted} deleted, {counts.failed} failed"


HANDLERS: dict[int, Handler] = {BULK_DELETE: bulk_delete}


def handler_for(operation_type: int | None) -> Handler | None:
    return HANDLERS.get(operation_type) if operation_type is not None else None
