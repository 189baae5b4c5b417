"""Bulk delete (operation type 13): filing the job (the Web API's BulkDelete action) and doing its
work when the scheduler runs it.

Filing checks every parameter and every query before anything is written: each QueryExpression
is parsed, printed as FetchXML, parsed back, bound and compiled, so the text stored in
`bulkdeleteoperation.orderedquerysetxml` is exactly what the job will run. Then one write
transaction creates the system job (through `create.py`, like every job) and its
bulkdeleteoperation row.

Running happens inside the scheduler's finishing transaction (`handlers.py`): the matching rows
are selected and deleted, and the counts recorded, together with the job's state change, or not
at all. Only rows created at or before the run started are deleted (Dataverse: "a bulk delete
job only deletes records that are created before the job starts to run"); date functions such as
OlderThanXDays are evaluated at that moment too. A system job that is Locked (running, pausing,
cancelling), the bulk delete job itself included, is not deleted and counts as a failure.
"""

from __future__ import annotations

import datetime as dt
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace

import orjson
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring
from sqlalchemy import delete, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from ..caller import Caller
from ..errors import BadRequest, Code, FetchXmlError, InvalidPayload, NotSupported
from ..model import MODEL, Entity
from ..query import ast
from ..query.compiled import CompiledQuery, CompiledRows
from ..query.compiler import Compiler
from ..query.execute import Context, parameters
from ..query.fetchxml import FetchBinder, from_element, parse_fetchxml, parse_query_expression, to_fetchxml
from ..store.async_engine import AsyncConnection
from ..store.engine import read_meta
from ..store.files import delete_files
from ..store.schema import BULK_DELETES, JOBS, METADATA
from ..store.values import normalize_guid, parse_datetime, to_epoch
from . import recurrence
from .create import create_jobs
from .states import BULK_DELETE, LOCKED_STATE
from .transitions import next_version

# Tables whose rows the emulator can delete without leaving the store inconsistent. System jobs
# cascade to their bulkdeleteoperation; accounts and contacts are referenced only by the
# `regardingobjectid` of system jobs, which is left as it is (docs/deviations.md). Users, teams
# and business units own rows; processes and plug-in steps are solution components.
DELETABLE = ("asyncoperation", "account", "contact")
# Keys per DELETE statement: well under SQLite's bound-parameter limit.
CHUNK = 500

_NAME_LENGTH = MODEL.entity("bulkdeleteoperation").columns["name"].max_length or 0
_PATTERN_LENGTH = MODEL.entity("asyncoperation").columns["recurrencepattern"].max_length or 0
_PARAMETERS = ("QuerySet", "JobName", "SendEmailNotification", "ToRecipients", "CCRecipients", "RecurrencePattern",
               "StartDateTime", "RunNow", "SourceImportId", "Options")
# Required by BulkDeleteRequest (the SDK marks each "Required").
_REQUIRED = ("QuerySet", "JobName", "SendEmailNotification", "ToRecipients", "CCRecipients", "RecurrencePattern",
             "StartDateTime")
_OPTIONS = ("CanRecoverDeletedRecords", "RunJobForSandbox")
_EMPTY_GUID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class BulkDeleteRequest:
    queries: tuple[ast.Fetch, ...]
    job_name: str
    recurrence_pattern: str  # "" runs once
    start: dt.datetime
    run_now: bool


@dataclass(frozen=True)
class Counts:
    deleted: int
    failed: int


# ---------------------------------------------------------------------------------- filing


def _check_parameter_names(body: dict) -> None:
    """Every parameter is one BulkDelete takes, and every required one is there and not null."""
    for key in body:
        if "@" in key:  # instance annotations such as `QuerySet@odata.type`
            continue
        if key not in _PARAMETERS:
            raise InvalidPayload(f"The parameter '{key}' in the request payload is not a valid parameter for the "
                                 f"operation 'BulkDelete'.")
    for key in _REQUIRED:
        if key not in body:
            raise BadRequest(f"The parameter '{key}' of BulkDelete is required.")
        if body[key] is None:
            raise InvalidPayload(f"A null value was found for the parameter '{key}' of BulkDelete, which does not "
                                 f"allow null values.")


def parse_request(body: dict, now: dt.datetime, caller: Caller) -> BulkDeleteRequest:
    """Check the BulkDelete action's parameters. Raises InvalidPayload for a value of the wrong
    type, BadRequest for a missing or invalid one, FetchXmlError and its kin for a bad query."""
    _check_parameter_names(body)
    query_set = _typed(body, "QuerySet", list, "Collection(Microsoft.Dynamics.CRM.QueryExpression)")
    if not query_set:
        raise BadRequest("The QuerySet of BulkDelete must hold at least one query.")
    job_name = _typed(body, "JobName", str, "Edm.String").strip()
    if not job_name:
        raise BadRequest("The JobName of BulkDelete must not be empty.")
    if len(job_name) > _NAME_LENGTH:
        raise BadRequest(f"The length of 'JobName' exceeds its maximum of {_NAME_LENGTH} characters.",
                         code=Code.BULK_DELETE_INVALID)
    _typed(body, "SendEmailNotification", bool, "Edm.Boolean")
    for key in ("ToRecipients", "CCRecipients"):
        _recipients(body, key)
    pattern = _typed(body, "RecurrencePattern", str, "Edm.String").strip()
    if len(pattern) > _PATTERN_LENGTH:
        raise BadRequest(f"The length of 'RecurrencePattern' exceeds its maximum of {_PATTERN_LENGTH} "
                         f"characters.", code=Code.BULK_DELETE_INVALID)
    recurrence.parse(pattern)  # whether it advances: `check_schedule`, before the write lock
    text = _typed(body, "StartDateTime", str, "Edm.DateTimeOffset")
    try:
        start = parse_datetime(text)
    except ValueError:
        raise InvalidPayload(f"Cannot convert the literal '{text}' to the expected type 'Edm.DateTimeOffset'.") from None
    run_now = body.get("RunNow")
    if run_now is not None and not isinstance(run_now, bool):
        raise InvalidPayload(f"Cannot convert the literal '{run_now}' to the expected type 'Edm.Boolean'.")
    _source_import(body.get("SourceImportId"))
    _options(body.get("Options"))
    queries = tuple(prepare_query(query, now, caller) for query in query_set)
    return BulkDeleteRequest(queries, job_name, pattern, start, bool(run_now))


def _typed(body: dict, key: str, kind: type, edm: str):
    value = body[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise InvalidPayload(f"The value of the parameter '{key}' of BulkDelete must be of type '{edm}'.")
    return value


def _recipients(body: dict, key: str) -> None:
    recipients = _typed(body, key, list, "Collection(Microsoft.Dynamics.CRM.activityparty)")
    for item in recipients:
        if isinstance(item, dict):
            continue  # an activityparty: nobody is mailed, so what it names does not matter
        if not isinstance(item, str):
            raise InvalidPayload(f"The items of {key} must be activity parties or user ids, not {item!r}.")
        try:
            normalize_guid(item)
        except ValueError:
            raise InvalidPayload(f"Cannot convert the literal '{item}' in {key} to the expected type "
                                 f"'Edm.Guid'.") from None


def _source_import(value) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidPayload("The value of the parameter 'SourceImportId' of BulkDelete must be of type 'Edm.Guid'.")
    try:
        guid = normalize_guid(value)
    except ValueError:
        raise InvalidPayload(f"Cannot convert the literal '{value}' to the expected type 'Edm.Guid'.") from None
    if guid != _EMPTY_GUID:
        # Deleting "the records of a data import" would need imports, which the emulator has none of;
        # running the query without that restriction would delete more than was asked.
        raise NotSupported(f"The import {guid} does not exist: the emulator has no data imports (SourceImportId).")


def _options(value) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise InvalidPayload("The value of the parameter 'Options' of BulkDelete must be a BulkDeleteOptions object.")
    for key, option in value.items():
        if "@" in key:
            continue
        if key not in _OPTIONS:
            raise InvalidPayload(f"The property '{key}' does not exist on type "
                                 f"'Microsoft.Dynamics.CRM.BulkDeleteOptions'.")
        if option is not None and not isinstance(option, bool):
            raise InvalidPayload(f"The value of 'Options.{key}' must be of type 'Edm.Boolean'.")


def prepare_query(query, now: dt.datetime, caller: Caller) -> ast.Fetch:
    """One QueryExpression of the QuerySet, as the job will run it, checked end to end."""
    fetch = parse_query_expression(query)
    # "When you use the QuerySet property, the value in the QueryExpression.PageInfo property is
    # ignored": the job pages through every match itself.
    fetch = replace(fetch, count=None, page=None, paging_cookie=None, total_record_count=False)
    stored = parse_fetchxml(to_fetchxml(fetch))  # the job runs what is stored: check that, not `fetch`
    _, compiled = compile_for_delete(stored)
    # Clock functions are computed when the job runs; an out-of-range one (OlderThanXYears with
    # a huge X) is refused now rather than failing every run.
    parameters(compiled.params, Context(now, caller))
    return stored


def compile_for_delete(fetch: ast.Fetch) -> tuple[Entity, CompiledQuery]:
    entity = MODEL.by_logical_name.get(fetch.entity)
    if entity is None or entity.is_metadata:
        # EntityDefinitions are the model itself, not rows: as in Dataverse, not a table.
        raise FetchXmlError.no_entity(fetch.entity)
    if entity.logical_name not in DELETABLE:
        raise NotSupported(f"The emulator's bulk delete does not delete '{entity.logical_name}' records: it deletes "
                           f"{', '.join(DELETABLE)} records.")
    # Distinct changes no delete set, and a non-distinct query carries the row key.
    bound = FetchBinder(MODEL, entity).bind_fetch(replace(fetch, distinct=False))
    return entity, Compiler(MODEL, entity).compile_fetch(bound)


def query_set_xml(queries: tuple[ast.Fetch, ...]) -> str:
    """`orderedquerysetxml`: the queries, in order, as FetchXML documents under one `<fetches>`."""
    return "<fetches>" + "".join(to_fetchxml(q) for q in queries) + "</fetches>"


def read_query_set(text: str) -> tuple[ast.Fetch, ...]:
    try:
        root = safe_fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ET.ParseError) as exc:
        raise FetchXmlError(f"The query set of the bulk delete is not valid XML ({exc}).") from None
    if root.tag != "fetches" or not len(root) or any(child.tag != "fetch" for child in root):
        raise FetchXmlError("The query set of the bulk delete must be <fetches> holding <fetch> documents.")
    return tuple(from_element(child) for child in root)


async def check_schedule(request: BulkDeleteRequest) -> None:
    """Refuse a recurrence that never advances (RecurrenceError). Call it before taking the write
    lock: the check may take a fraction of a second, in a worker thread."""
    await recurrence.check_async([(request.recurrence_pattern, request.start)])


async def submit(conn: AsyncConnection, request: BulkDeleteRequest, now: dt.datetime, caller: Caller) -> str:
    """Create the system job and its bulkdeleteoperation; returns the job's id (BulkDelete's JobId)."""
    spec: dict = {"name": request.job_name, "operationtype": BULK_DELETE, "messagename": "BulkDelete"}
    if request.recurrence_pattern:
        spec.update(recurrencepattern=request.recurrence_pattern, recurrencestarttime=request.start)
    if request.start > now and not request.run_now:
        spec["postponeuntil"] = request.start  # Suspended / Waiting until then
    else:
        # Ready now, even when the recurrence counts from a later start.
        spec.update(statecode=0, statuscode=0)
    job_id, = await create_jobs(conn, [spec], now, caller)
    job = (await conn.execute(
        select(JOBS.c.statecode, JOBS.c.statuscode, JOBS.c.postponeuntil).where(JOBS.c.asyncoperationid == job_id)
    )).one()
    epoch = to_epoch(now)
    await conn.execute(insert(BULK_DELETES).values(
        bulkdeleteoperationid=str(uuid.uuid4()),
        name=request.job_name,
        asyncoperationid=job_id,
        successcount=0,
        failurecount=0,
        isrecurring=int(bool(request.recurrence_pattern)),
        nextrun=job.postponeuntil if job.postponeuntil is not None else epoch,
        orderedquerysetxml=query_set_xml(request.queries),
        processingqeindex=0,
        statecode=job.statecode,
        statuscode=job.statuscode,
        ownerid=caller.user_id,
        owneridtype="systemuser",
        owninguser=caller.user_id,
        owningbusinessunit=caller.business_unit_id,
        createdon=epoch,
        modifiedon=epoch,
        createdby=caller.user_id,
        modifiedby=caller.user_id,
        versionnumber=next_version(BULK_DELETES),
    ))
    return job_id


# ---------------------------------------------------------------------------------- running


async def execute(conn: AsyncConnection, job_id: str, *, started: dt.datetime, finished: dt.datetime,
                  next_run: dt.datetime | None) -> Counts | None:
    """Delete what the job's queries match, and record the counts of this run on its
    bulkdeleteoperation. None when the job has no bulkdeleteoperation (a type 13 job seeded
    through the control API): there is nothing to delete, the run is only simulated."""
    operation = (await conn.execute(
        select(BULK_DELETES.c.bulkdeleteoperationid, BULK_DELETES.c.orderedquerysetxml)
        .where(BULK_DELETES.c.asyncoperationid == job_id)
    )).first()
    if operation is None:
        return None
    context = Context(started, await _runs_as(conn, job_id))
    deleted = failed = 0
    for fetch in read_query_set(operation.orderedquerysetxml or ""):
        entity, compiled = compile_for_delete(fetch)
        counts = await _delete_matches(conn, entity, compiled, fetch.top, context, job_id)
        deleted += counts.deleted
        failed += counts.failed
    await conn.execute(update(BULK_DELETES).where(
        BULK_DELETES.c.bulkdeleteoperationid == operation.bulkdeleteoperationid
    ).values(successcount=deleted, failurecount=failed, nextrun=to_epoch(next_run) if next_run else None,
             modifiedon=to_epoch(finished), versionnumber=next_version(BULK_DELETES)))
    return Counts(deleted, failed)


async def _runs_as(conn: AsyncConnection, job_id: str) -> Caller:
    """The job runs as its owner: EqualUserId / EqualBusinessId mean the owner's."""
    owner = (await conn.execute(
        select(JOBS.c.owninguser, JOBS.c.createdby, JOBS.c.owningbusinessunit).where(JOBS.c.asyncoperationid == job_id)
    )).one()
    stored = await read_meta(conn, "caller")
    organization = orjson.loads(stored)["organizationid"] if stored else ""
    return Caller(owner.owninguser or owner.createdby, owner.owningbusinessunit, organization)


async def _delete_matches(conn: AsyncConnection, entity: Entity, compiled: CompiledQuery, top: int | None,
                          context: Context, job_id: str) -> Counts:
    assert isinstance(compiled, CompiledRows), "a bulk delete query selects rows, never aggregates"
    key_label = compiled.shape.key_label
    assert key_label is not None, "a bulk delete query is never distinct: its rows carry their key"
    table = METADATA.tables[entity.logical_name]
    key = table.c[entity.primary_id]
    statement = compiled.statement.where(table.c.createdon <= to_epoch(context.now))
    if top is not None:
        statement = statement.limit(top)
    rows = (await conn.execute(statement, parameters(compiled.params, context))).mappings().all()
    # A link to a one-to-many relationship repeats a row: each is deleted (and counted) once.
    matched = list(dict.fromkeys(row[key_label] for row in rows))
    deleted = 0
    for start in range(0, len(matched), CHUNK):
        chunk = matched[start:start + CHUNK]
        condition: list[ColumnElement[bool]] = [key.in_(chunk)]
        if entity.logical_name == "asyncoperation":
            # A Locked job is running somewhere (this one too): it is not deleted from under its runner.
            condition += [JOBS.c.statecode != LOCKED_STATE, key != job_id]
            deletable = select(key).where(*condition)
            # AsyncOperation_BulkDeleteOperation cascades on delete.
            await conn.execute(delete(BULK_DELETES).where(BULK_DELETES.c.asyncoperationid.in_(deletable)))
        await delete_files(conn, table, *condition)
        deleted += (await conn.execute(delete(table).where(*condition))).rowcount
    return Counts(deleted, len(matched) - deleted)
