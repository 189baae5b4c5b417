"""Why a system job is where it is: what the control API's `GET /_emulator/v1/jobs/<id>` says in its
`why` section, so that a user whose job has not run yet can see what it waits for.

The answer reads the same columns the scheduler's queue reads (`queue.py`): the pair, the
postponement, the event flag, the dependency token (the first unfinished job of the token runs
first), the holder and its lease, and the simulation settings of the run.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select

from ..errors import RecordNotFound
from ..store.async_engine import AsyncConnection
from ..store.schema import JOBS, SIMULATIONS
from ..store.values import format_datetime, to_epoch
from . import states

# What the list and the details show of a job, in this order.
COLUMNS = ("asyncoperationid", "name", "operationtype", "statecode", "statuscode", "createdon", "startedon",
           "completedon", "postponeuntil", "dependencytoken", "recurrencepattern", "retrycount", "hostid",
           "leaseexpires", "iswaitingforevent", "errorcode", "message")
_DATES = {"createdon", "startedon", "completedon", "postponeuntil", "leaseexpires"}


@dataclass(frozen=True)
class Service:
    """What the answer depends on beside the job: the scheduler's settings and clock."""

    scheduler: bool
    virtual: bool
    concurrency: int


def job_json(row) -> dict:
    """A job's `COLUMNS` in JSON form (date-times ISO 8601 UTC, the flag as a boolean)."""
    values = dict(zip(COLUMNS, row))
    for name in _DATES:
        if values[name] is not None:
            values[name] = format_datetime(values[name])
    values["iswaitingforevent"] = bool(values["iswaitingforevent"])
    values["status"] = states.describe((values["statecode"], values["statuscode"]))
    return values


async def explain(conn: AsyncConnection, job_id: str, now: dt.datetime, service: Service) -> dict:
    """The job's columns and a `why`: `summary` (one sentence) and the facts behind it. Raises
    RecordNotFound when the job does not exist."""
    row = (await conn.execute(select(*(JOBS.c[c] for c in COLUMNS), JOBS.c.sequence)
                              .where(JOBS.c.asyncoperationid == job_id))).first()
    if row is None:
        raise RecordNotFound.for_id("asyncoperation", job_id)
    job = job_json(row[:-1])
    settings = (await conn.execute(select(SIMULATIONS.c.settings)
                                   .where(SIMULATIONS.c.asyncoperationid == job_id))).scalar()
    why: dict = {"simulation": json.loads(settings) if settings else None}
    pair, epoch = (row.statecode, row.statuscode), to_epoch(now)
    if row.statecode == states.COMPLETED_STATE:
        why["summary"] = f"It is finished: {job['status']} at {job['completedon']}."
    elif row.statecode == states.LOCKED_STATE:
        why.update(host=row.hostid, lease_until=job["leaseexpires"])
        heading = {states.PAUSING: " and will pause when this run ends",
                   states.CANCELING: " and will be canceled when this run ends"}.get(pair, "")
        lease = f"lease until {job['leaseexpires']}" if row.leaseexpires is not None else \
            "no lease: it is taken back (Ready) when the scheduler next looks"
        why["summary"] = f"It is running on {row.hostid} ({lease}){heading}."
    elif row.iswaitingforevent:
        why["summary"] = (f"It waits for an event: POST /_emulator/v1/jobs/{job_id}/event releases it "
                          f"(then it is Ready).")
    elif row.postponeuntil is not None and row.postponeuntil > epoch:
        why["postponed_until"] = job["postponeuntil"]
        retry = f" (retry {row.retrycount})" if row.retrycount else ""
        why["summary"] = f"It is postponed until {job['postponeuntil']}{retry}."
    elif row.statecode == states.SUSPENDED_STATE:
        why["summary"] = "It is paused (Suspended): resume it with PATCH {\"statecode\": 0, \"statuscode\": 0}."
    else:
        why.update(await _ready(conn, row, epoch, service))
    return {**job, "why": why}


async def _ready(conn: AsyncConnection, row, epoch: int, service: Service) -> dict:
    """A Ready job: held back by its dependency token, or queued behind others, or due now."""
    if row.dependencytoken is not None:
        head = (await conn.execute(
            select(JOBS.c.asyncoperationid, JOBS.c.name, JOBS.c.statecode, JOBS.c.statuscode)
            .where(JOBS.c.dependencytoken == row.dependencytoken, JOBS.c.statecode < states.COMPLETED_STATE)
            .order_by(JOBS.c.createdon, JOBS.c.sequence, JOBS.c.asyncoperationid).limit(1))).first()
        if head is not None and head.asyncoperationid != row.asyncoperationid:
            status = states.describe((head.statecode, head.statuscode))
            return {"blocked_by": {"asyncoperationid": head.asyncoperationid, "name": head.name, "status": status,
                                   "dependencytoken": row.dependencytoken},
                    "summary": f"It waits for job {head.asyncoperationid} ({head.name}, {status}), the first "
                               f"unfinished job of its dependency token {row.dependencytoken}: jobs sharing a "
                               f"token run one at a time, in creation order."}
    ahead = (await conn.execute(select(func.count()).select_from(JOBS).where(
        JOBS.c.statecode == states.READY_STATE,
        or_(JOBS.c.postponeuntil.is_(None), JOBS.c.postponeuntil <= epoch),
        or_(JOBS.c.createdon < row.createdon,
            and_(JOBS.c.createdon == row.createdon, JOBS.c.sequence < row.sequence))))).scalar() or 0
    running = (await conn.execute(select(func.count()).select_from(JOBS)
                                  .where(JOBS.c.statecode == states.LOCKED_STATE))).scalar() or 0
    facts: dict[str, object] = {"ready_ahead": ahead, "running": running}
    if not service.scheduler:
        facts["summary"] = "It is Ready, but the scheduler is off (--no-scheduler): nothing runs."
    elif service.virtual:
        facts["summary"] = (f"It is Ready, with {ahead} Ready job(s) ahead of it: on the virtual clock due jobs run "
                            f"when the clock moves (POST /_emulator/v1/clock {{\"advance\": \"PT1S\"}}).")
    else:
        facts["summary"] = (f"It is Ready, with {ahead} Ready job(s) ahead of it and {running} running "
                            f"({service.concurrency} at a time).")
    return facts
