"""Workflows on demand: `POST workflows(<id>)/Microsoft.Dynamics.CRM.ExecuteWorkflow {"EntityId": ...}`
files a system job of type 10 (Workflow) for that process, regarding the record it runs on, as the
platform does, and answers with the job (webapi/reference/executeworkflow: the action returns an
asyncoperation). The emulator does not run a workflow's steps: the job is simulated like the
others (simulation.py), with the workflow type's default duration.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from ..caller import Caller
from ..errors import BadRequest, RecordNotFound
from ..model import MODEL
from ..store.async_engine import AsyncConnection
from ..store.schema import METADATA
from ..store.values import normalize_guid
from . import create

WORKFLOW = 10  # asyncoperation operationtype: Workflow
_WORKFLOWS = METADATA.tables["workflow"]
_ACTIVATED = 1  # workflow statecode: Activated


async def execute_workflow(conn: AsyncConnection, workflow_id: str, entity_id: object, now: dt.datetime,
                           caller: Caller) -> str:
    """File the job and return its id. Raises RecordNotFound for a workflow or record that does
    not exist, BadRequest for a draft workflow or an EntityId that is not a GUID."""
    workflow = (await conn.execute(
        select(_WORKFLOWS.c.name, _WORKFLOWS.c.primaryentity, _WORKFLOWS.c.statecode)
        .where(_WORKFLOWS.c.workflowid == workflow_id))).first()
    if workflow is None:
        raise RecordNotFound.for_id("workflow", workflow_id)
    try:
        record_id = normalize_guid(entity_id) if isinstance(entity_id, str) else None
    except ValueError:
        record_id = None
    if record_id is None:
        raise BadRequest(f"Cannot convert the literal '{entity_id}' to the expected type 'Edm.Guid'.")
    if workflow.statecode != _ACTIVATED:
        raise BadRequest(f"The process '{workflow.name}' is not activated: only an activated process can be run.")
    table = workflow.primaryentity
    entity = MODEL.by_logical_name.get(table or "")
    if entity is None:
        raise BadRequest(f"The process '{workflow.name}' runs on '{table}', which the emulator does not serve.")
    rows = METADATA.tables[entity.logical_name]
    found = (await conn.execute(select(rows.c[entity.primary_id]).where(rows.c[entity.primary_id] == record_id))).first()
    if found is None:
        raise RecordNotFound.for_id(entity.logical_name, record_id)
    (job_id,) = await create.create_jobs(conn, [{
        "name": workflow.name,
        "operationtype": WORKFLOW,
        "workflowactivationid": workflow_id,
        "regardingobjectid": record_id,
        "regardingobjecttypecode": entity.logical_name,
        "primaryentitytype": entity.logical_name,
    }], now, caller)
    return job_id
