"""Creating system jobs as the platform does (the Web API refuses it; the control API and the
fixtures use this). Missing columns get the platform's defaults.

Three steps, so that nothing slow happens under the store's write lock: `prepare_jobs` checks each
job and fills in the defaults, `check_schedules` makes sure every recurring job's rule advances
(bounded, in a worker thread), and `insert_jobs` writes them in the caller's write transaction.
`create_jobs` does the first and last for callers whose rules are already checked."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import bindparam, func, literal_column, select

from ..caller import Caller
from ..errors import BadRequest, Code
from ..model import MODEL
from ..model import AttributeType as T
from ..store import driver
from ..store.async_engine import AsyncConnection
from ..store.files import store_files
from ..store.schema import JOBS, SIMULATIONS
from ..store.values import from_epoch, to_epoch, to_storage
from . import recurrence, states, transitions
from .simulation import Simulation

ENTITY = MODEL.entity("asyncoperation")
_OPERATION_TYPE_LABELS: dict[int, str] = getattr(ENTITY.columns["operationtype"].option_set, "labels", {})
# The highest `sequence` a job may be given (Int64 leaves room for the numbers of every later job).
MAX_SEQUENCE = 2 ** 62
# Columns the platform keeps for itself.
_INTERNAL = {"versionnumber", "leaseexpires"}


def _convert(name: str, value, index: int):
    attribute = ENTITY.columns.get(name)
    where = f"job {index}: " if index is not None else ""
    if attribute is None or name in _INTERNAL:
        raise BadRequest(f"{where}'{name}' is not a column of asyncoperation.")
    try:
        stored = to_storage(attribute, value)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"{where}'{name}': {exc}.") from None
    if stored is not None:
        if attribute.max_length is not None and isinstance(stored, str) and len(stored) > attribute.max_length:
            raise BadRequest(f"{where}the length of '{name}' exceeds its maximum of {attribute.max_length} characters.",
                             code=Code.BULK_DELETE_INVALID)
        if attribute.type is T.PICKLIST and attribute.option_set and stored not in attribute.option_set.labels:
            raise BadRequest(f"{where}{stored} is not a valid value of '{name}'.")
        if attribute.type in (T.INTEGER, T.BIGINT) and attribute.min_value is not None and not (
                attribute.min_value <= stored <= attribute.max_value):
            raise BadRequest(f"{where}'{name}' must be between {attribute.min_value:g} and {attribute.max_value:g}.")
    return stored


def prepare(spec: dict, index: int, now: dt.datetime, caller: Caller) -> tuple[dict, dict | None]:
    if not isinstance(spec, dict):
        raise BadRequest(f"job {index}: a job is a JSON object of asyncoperation columns.")
    spec = dict(spec)
    simulation = None
    if "simulation" in spec:
        # Kept as given (checked now): a duration left out takes the operation type's default when it runs.
        simulation = spec.pop("simulation")
        Simulation.from_json(simulation)
    values = {name: _convert(name, value, index) for name, value in spec.items()}
    if values.get("sequence") is not None and values["sequence"] > MAX_SEQUENCE:
        # Jobs created later are numbered after the highest sequence: past Int64 they could not be.
        raise BadRequest(f"job {index}: 'sequence' must be at most {MAX_SEQUENCE:,}: the jobs created after it are "
                         f"numbered after it.")
    epoch = to_epoch(now)
    operation_type = values.get("operationtype") or 1
    owner_type = values.get("owneridtype") or ("systemuser" if values.get("ownerid") is None else None)
    if values.get("ownerid") is not None and owner_type is None:
        raise BadRequest(f"job {index}: give 'owneridtype' (systemuser or team) with 'ownerid'.")
    defaults = {
        "asyncoperationid": str(uuid.uuid4()),
        "name": _OPERATION_TYPE_LABELS.get(operation_type, "System Job"),
        "operationtype": operation_type,
        "createdon": epoch,
        "modifiedon": epoch,
        "createdby": caller.user_id,
        "modifiedby": caller.user_id,
        "ownerid": caller.user_id,
        "owneridtype": owner_type,
        "owningbusinessunit": caller.business_unit_id,
        "correlationid": str(uuid.uuid4()),
        "correlationupdatedtime": epoch,
        "depth": 1,
        "executiontimespan": 0.0,
        "retrycount": 0,
        "iswaitingforevent": 0,
        "retainjobhistory": 0,
        "subtype": 0,
        "timezoneruleversionnumber": 0,
    }
    row: dict[str, Any] = {name: None for name in ENTITY.columns}
    row.update(defaults)
    row.update({k: v for k, v in values.items()})
    if row["owninguser"] is None and row["owningteam"] is None:
        row["owninguser" if row["owneridtype"] == "systemuser" else "owningteam"] = row["ownerid"]
    try:
        recurrence.parse(row["recurrencepattern"])
    except recurrence.RecurrenceError as exc:
        raise recurrence.RecurrenceError(f"job {index}: {exc.message}") from None
    if row["statecode"] is None and row["statuscode"] is None:
        waiting = row["iswaitingforevent"] or (row["postponeuntil"] is not None and row["postponeuntil"] > epoch)
        row["statecode"], row["statuscode"] = states.WAITING if waiting else states.READY
        if row["recurrencepattern"] and row["recurrencestarttime"] is not None and row["recurrencestarttime"] > epoch \
                and row["postponeuntil"] is None:
            row["statecode"], row["statuscode"] = states.WAITING
            row["postponeuntil"] = row["recurrencestarttime"]
    else:
        if row["statuscode"] is None:
            row["statuscode"] = states.DEFAULT_STATUS.get(row["statecode"])
        if row["statecode"] is None:
            row["statecode"] = states.STATUS_STATE.get(row["statuscode"])
        if (row["statecode"], row["statuscode"]) not in states.ALL_PAIRS:
            raise BadRequest(f"job {index}: ({row['statecode']}, {row['statuscode']}) is not a valid state and status.")
    if row["statecode"] == states.COMPLETED_STATE and row["completedon"] is None:
        row["completedon"] = epoch
    return row, simulation


Prepared = tuple[dict, dict | None]  # a job's row, and its simulation settings (None: the defaults)


def prepare_jobs(specs: list, now: dt.datetime, caller: Caller) -> list[Prepared]:
    return [prepare(spec, i, now, caller) for i, spec in enumerate(specs)]


async def check_schedules(prepared: list[Prepared]) -> None:
    """Refuse a recurring job whose rule never advances (RecurrenceError); call it before taking
    the write lock: the check may take a fraction of a second."""
    await recurrence.check_async([
        (row["recurrencepattern"], from_epoch(row["recurrencestarttime"] if row["recurrencestarttime"] is not None
                                              else row["createdon"]))
        for row, _ in prepared
    ], where=[f"job {index}: " for index in range(len(prepared))])


async def create_jobs(conn: AsyncConnection, specs: list, now: dt.datetime, caller: Caller) -> list[str]:
    """Prepare and insert jobs whose recurrence rules the caller has already checked."""
    return await insert_jobs(conn, prepare_jobs(specs, now, caller))


def top_columns():
    """The highest `sequence` and row version of the system jobs, as two columns a caller can add
    to a statement of its own, in the write transaction, before `insert_fresh_jobs`."""
    return (select(func.max(JOBS.c.sequence)).scalar_subquery().label("top_sequence"),
            select(func.max(JOBS.c.versionnumber)).scalar_subquery().label("top_version"))


# Compiled once (`store/driver.py`): the taken-id check and the tops are one statement and the
# insert one more, each one hop to SQLite without SQLAlchemy (every create that fires a step goes
# through the insert).
_TAKEN_AND_TOPS = driver.compile_sql(select(
    select(JOBS.c.asyncoperationid).where(JOBS.c.asyncoperationid.in_(
        select(literal_column("value")).select_from(func.json_each(bindparam("ids"))))).limit(1).scalar_subquery(),
    *top_columns()))
_INSERT = driver.insert_sql(JOBS, tuple(JOBS.c.keys()))
_INSERT_SIMULATION = driver.insert_sql(SIMULATIONS, tuple(SIMULATIONS.c.keys()))


async def insert_jobs(conn: AsyncConnection, prepared: list[Prepared]) -> list[str]:
    ids = [row["asyncoperationid"] for row, _ in prepared]
    if len(set(ids)) != len(ids):
        raise BadRequest("Two jobs in the request have the same asyncoperationid.")
    [(clash, top, version)] = await driver.fetch_all(conn, _TAKEN_AND_TOPS, {"ids": json.dumps(ids)})
    if clash is not None:
        raise BadRequest(f"A system job with asyncoperationid {clash} already exists.", code=Code.DUPLICATE_RECORD)
    return await insert_fresh_jobs(conn, prepared, top, version)


async def insert_fresh_jobs(conn: AsyncConnection, prepared: list[Prepared], top_sequence: int | None,
                            top_version: int | None) -> list[str]:
    """`insert_jobs` for jobs whose ids the caller has just made (uuid4: none can be taken), given
    the `top_columns` it read in this transaction: one statement fewer on the way of an event."""
    top, version = top_sequence or 0, top_version or 0
    rows = []
    for offset, (row, _) in enumerate(prepared, start=1):
        if row["sequence"] is None:
            row["sequence"] = top + offset
        row["versionnumber"] = version + offset
        rows.append(row)
    await store_files(conn, "asyncoperation", rows)  # data over 4 MB goes to file storage
    if rows:
        # Every column is given (`prepare` makes each row whole), so no default is left for SQLAlchemy to fill.
        await driver.execute_many(conn, _INSERT, rows)
    simulations = [{"asyncoperationid": row["asyncoperationid"], "settings": json.dumps(sim)}
                   for row, sim in prepared if sim is not None]
    if simulations:
        await driver.execute_many(conn, _INSERT_SIMULATION, simulations)
    await transitions.record_many(conn, [
        {"job": row["asyncoperationid"], "moment": row["createdon"], "state": row["statecode"],
         "status": row["statuscode"], "why": "created", "by": None, "name": row["name"]}
        for row in rows
    ])
    return [row["asyncoperationid"] for row, _ in prepared]
