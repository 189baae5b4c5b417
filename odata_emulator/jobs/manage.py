"""Managing system jobs as users do: cancel, resume, pause, postpone (PATCH) and delete.

Only `statecode`, `statuscode` and `postponeuntil` are updatable; a `statecode` alone takes its
state's default status. Every other transition, and cancel/pause/resume of platform maintenance
jobs, is refused and changes nothing.

Also what the control API asks of a job: release one waiting for an event (`release_event`) and
read the states it entered (`job_history`). Each function runs in the caller's transaction; HTTP
(`api/writes.py`, `control/routes.py`) only reads the request and shapes the response.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import bindparam, delete, select

from ..errors import BadRequest, Code, InvalidState, PreconditionFailed, RecordNotFound
from ..model import MODEL
from ..store import driver
from ..store.async_engine import AsyncConnection
from ..store.files import delete_files
from ..store.schema import BULK_DELETES, HISTORY, JOBS
from ..store.values import parse_datetime, to_epoch
from . import states, transitions

UPDATABLE = ("statecode", "statuscode", "postponeuntil")
_ENTITY = MODEL.entity("asyncoperation")


@dataclass(frozen=True)
class JobUpdate:
    asked: states.Pair | None
    postpone_until: int | None  # epoch seconds

    @property
    def empty(self) -> bool:
        return self.asked is None and self.postpone_until is None


def parse_update(body: dict, job_id: str) -> JobUpdate:
    """Validate a PATCH body for asyncoperations(<id>)."""
    _check_columns(body)
    return JobUpdate(_asked_pair(body, job_id), _postpone_until(body))


def _check_columns(body: dict) -> None:
    """Only `UPDATABLE` columns (and a matching @odata.type) may appear, each refused as Dataverse does."""
    for key in body:
        if key == "@odata.type":
            if body[key] not in ("Microsoft.Dynamics.CRM.asyncoperation", "#Microsoft.Dynamics.CRM.asyncoperation"):
                raise BadRequest(f"The @odata.type '{body[key]}' does not match the entity set 'asyncoperations'.",
                                 code=Code.INVALID_PAYLOAD)
            continue
        if key in UPDATABLE:
            continue
        if key.startswith("_") and key.endswith("_value") and key in _ENTITY.properties:
            raise BadRequest("CRM do not support direct update of Entity Reference properties, Use Navigation "
                             "properties instead.", code=Code.QUERY_SYNTAX)
        if key in _ENTITY.properties or key.endswith("@odata.bind"):
            raise BadRequest(
                f"The column '{key.split('@')[0]}' of a system job cannot be updated: only statecode, statuscode and "
                f"postponeuntil are supported for update.")
        raise BadRequest(
            f"An error occurred while validating input parameters: Microsoft.Crm.CrmException: Invalid property "
            f"'{key}' was found in entity 'Microsoft.Dynamics.CRM.asyncoperation'.", code=Code.CRM_EXCEPTION)


def _asked_pair(body: dict, job_id: str) -> states.Pair | None:
    """The (statecode, statuscode) the body asks for, completed from one of them; None: neither given."""
    state = _int_field(body, "statecode")
    status = _int_field(body, "statuscode")
    if status is not None and status not in states.STATUS_STATE:
        raise BadRequest(f"{status} is not a valid status code on asyncoperation with Id {job_id}.")
    if state is not None and state not in states.DEFAULT_STATUS:
        raise BadRequest(f"{state} is not a valid state code on asyncoperation with Id {job_id}.")
    if state is not None and status is None:
        status = states.DEFAULT_STATUS[state]
    if status is not None and state is None:
        state = states.STATUS_STATE[status]
    if status is not None and state is not None and states.STATUS_STATE[status] != state:
        raise BadRequest(
            f"{status} is not a valid status code for state code AsyncOperationState."
            f"{states.STATE_LABELS[state]} on asyncoperation with Id {job_id}.")
    return (state, status) if state is not None and status is not None else None


def _postpone_until(body: dict) -> int | None:
    """The `postponeuntil` asked for, in epoch seconds; None when the body does not set it."""
    if "postponeuntil" not in body:
        return None
    value = body["postponeuntil"]
    if not isinstance(value, str):
        raise BadRequest("postponeuntil must be a date and time, such as \"2026-01-01T00:00:00Z\".")
    try:
        return to_epoch(parse_datetime(value))
    except ValueError:
        raise BadRequest(f"Cannot convert the literal '{value}' to the expected type 'Edm.DateTimeOffset'.",
                         code=Code.INVALID_PAYLOAD) from None


def _int_field(body: dict, key: str) -> int | None:
    if key not in body:
        return None
    value = body[key]
    if isinstance(value, float) and "e" in repr(value):
        # A number written with an exponent (1e20): Python's spelling ('1e+20') is not the client's.
        raise BadRequest(f"Cannot convert the number given for '{key}' to the expected type 'Edm.Int32'.",
                         code=Code.INVALID_PAYLOAD)
    # Whole numbers arrive exact, however wide (api/writes.py): one past Int32 is echoed as written.
    if isinstance(value, bool) or not isinstance(value, int) or not -2 ** 31 <= value < 2 ** 31:
        raise BadRequest(f"Cannot convert the literal '{value}' to the expected type 'Edm.Int32'.", code=Code.INVALID_PAYLOAD)
    return value


def etag_version(if_match: str | None) -> int | None:
    """The row version an `If-Match: W/"<n>"` header names; None for `*` or no header."""
    if if_match is None or if_match.strip() == "*":
        return None
    text = if_match.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    try:
        return int(text)
    except ValueError:
        return -1  # an ETag this store never issued: it cannot match


class JobRow(NamedTuple):
    statecode: int
    statuscode: int
    operationtype: int | None
    versionnumber: int


_CURRENT = driver.compile_sql(select(JOBS.c.statecode, JOBS.c.statuscode, JOBS.c.operationtype,
                                     JOBS.c.versionnumber).where(JOBS.c.asyncoperationid == bindparam("job")))


async def current_row(conn: AsyncConnection, job_id: str) -> JobRow | None:
    rows = await driver.fetch_all(conn, _CURRENT, {"job": job_id})
    return JobRow(*rows[0]) if rows else None


async def update_job(conn: AsyncConnection, job_id: str, change: JobUpdate, *, now: dt.datetime, caller: str,
                     if_match: str | None) -> None:
    """Apply a user's PATCH. Raises RecordNotFound, PreconditionFailed or InvalidState."""
    expected_version = etag_version(if_match)
    for _attempt in range(5):
        row = await current_row(conn, job_id)
        if row is None:
            raise RecordNotFound.for_id("asyncoperation", job_id)
        if expected_version is not None and row.versionnumber != expected_version:
            raise PreconditionFailed("The version of the existing record doesn't match the RowVersion property provided.")
        current = (row.statecode, row.statuscode)
        if change.empty:
            return
        transition = states.user_transition(current, change.asked, change.postpone_until is not None)
        if transition is None:
            raise InvalidState(_refusal(current, change, job_id))
        if transition.refused_for_platform_jobs and states.is_platform_job(row.operationtype):
            raise InvalidState(
                f"The system job {job_id} is a platform maintenance job (operation type {row.operationtype}): it "
                f"cannot be cancelled, paused or resumed.")
        values: dict[str, object] = {"modifiedby": caller}
        if change.postpone_until is not None:
            values["postponeuntil"] = change.postpone_until
        if transition.target == states.CANCELED:
            values["completedon"] = to_epoch(now)
        if await transitions.apply(conn, job_id, transition, current, now, values=values, version=row.versionnumber):
            return
    raise InvalidState(f"The system job {job_id} kept changing state; try again.")  # pragma: no cover


def _refusal(current: states.Pair, change: JobUpdate, job_id: str) -> str:
    here = f"{states.STATE_LABELS[current[0]]} ({current[0]}/{current[1]})"
    if change.postpone_until is not None:
        return (f"The system job {job_id} is {here}: only a Ready or Locked job can be postponed"
                + (", and a postponed job is set to Suspended (1/10)." if change.asked not in (None, states.WAITING) else "."))
    asked = change.asked
    assert asked is not None  # an update asks for a pair, a postponement, or both
    return (f"The system job {job_id} cannot move from {here} to {states.STATE_LABELS[asked[0]]} "
            f"({asked[0]}/{asked[1]}): cancel from Ready, Suspended or Locked; resume from Suspended; pause from "
            f"Locked.")


async def delete_job(conn: AsyncConnection, job_id: str, *, if_match: str | None) -> None:
    expected_version = etag_version(if_match)
    row = await current_row(conn, job_id)
    if row is None:
        raise RecordNotFound.for_id("asyncoperation", job_id)
    if expected_version is not None and row.versionnumber != expected_version:
        raise PreconditionFailed("The version of the existing record doesn't match the RowVersion property provided.")
    condition = [JOBS.c.asyncoperationid == job_id]
    if expected_version is not None:
        condition.append(JOBS.c.versionnumber == expected_version)
    await delete_files(conn, JOBS, *condition)
    result = await conn.execute(delete(JOBS).where(*condition))
    if result.rowcount != 1:
        raise PreconditionFailed("The version of the existing record doesn't match the RowVersion property provided.")
    # AsyncOperation_BulkDeleteOperation cascades on delete.
    await conn.execute(delete(BULK_DELETES).where(BULK_DELETES.c.asyncoperationid == job_id))


async def release_event(conn: AsyncConnection, job_id: str, now: dt.datetime) -> states.Pair:
    """The event a job waits for (`iswaitingforevent`) has happened: it goes from Suspended to Ready
    and returns its new pair. Raises RecordNotFound, or BadRequest when it is not waiting for one."""
    row = (await conn.execute(select(JOBS.c.statecode, JOBS.c.statuscode, JOBS.c.iswaitingforevent)
                              .where(JOBS.c.asyncoperationid == job_id))).first()
    if row is None:
        raise RecordNotFound.for_id("asyncoperation", job_id)
    if (row.statecode, row.statuscode) != states.WAITING or not row.iswaitingforevent:
        raise BadRequest(f"The system job {job_id} is not waiting for an event.")
    wake = states.TRANSITIONS["wake"]
    await transitions.apply(conn, job_id, wake, states.WAITING, now, reason="event received",
                            values={"postponeuntil": None, "iswaitingforevent": 0})
    return wake.target


@dataclass(frozen=True)
class HistoryEntry:
    """One state a job entered: when (epoch seconds), the pair, and why (the transition, or "created")."""

    at: int
    statecode: int
    statuscode: int
    reason: str | None


async def job_history(conn: AsyncConnection, job_id: str) -> list[HistoryEntry]:
    """Every state the job entered, oldest first. Raises RecordNotFound when it has none (it never existed)."""
    rows = (await conn.execute(
        select(HISTORY.c.at, HISTORY.c.statecode, HISTORY.c.statuscode, HISTORY.c.reason)
        .where(HISTORY.c.asyncoperationid == job_id).order_by(HISTORY.c.id)
    )).all()
    if not rows:
        raise RecordNotFound.for_id("asyncoperation", job_id)
    return [HistoryEntry(*row) for row in rows]
