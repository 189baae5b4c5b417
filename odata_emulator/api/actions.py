"""Actions: the unbound `POST /api/data/v9.2/BulkDelete`, and `ExecuteWorkflow` bound to a workflow.

Reading the request and shaping the response happen here; what the action means (checking the
parameters, creating the system job and its bulkdeleteoperation) is `jobs/bulkdelete.py`.
Another method than POST is refused by the route (`api/routes.py`), as Dataverse refuses an
unknown URL.
"""

from __future__ import annotations

from starlette.responses import Response

from ..errors import BadRequest
from ..jobs import bulkdelete, workflows
from .responses import json_response
from .routing import Call
from .writes import read_json_object


async def bulk_delete(call: Call) -> Response:
    """The BulkDeleteResponse: `JobId` is the new system job's asyncoperationid. The job and its
    bulkdeleteoperation are the caller's, and the job runs as them."""
    emulator, caller = call.emulator, call.caller
    body = await read_json_object(call.request)
    now = emulator.clock.now()
    parsed = bulkdelete.parse_request(body, now, caller)
    await bulkdelete.check_schedule(parsed)
    async with emulator.store.write() as conn:
        job_id = await bulkdelete.submit(conn, parsed, now, caller)
    emulator.jobs_changed()
    return json_response({
        "@odata.context": f"{call.root}$metadata#Microsoft.Dynamics.CRM.BulkDeleteResponse",
        "JobId": job_id,
    })


async def execute_workflow(call: Call) -> Response:
    """`POST workflows(<id>)/Microsoft.Dynamics.CRM.ExecuteWorkflow {"EntityId": "<guid>"}`: the new
    system job (the action returns an asyncoperation: its id)."""
    emulator, caller = call.emulator, call.caller
    body = await read_json_object(call.request)
    if "EntityId" not in body:
        raise BadRequest("The parameter 'EntityId' of ExecuteWorkflow is required.")
    now = emulator.clock.now()
    async with emulator.store.write() as conn:
        assert call.key.primary is not None, "the route names the workflow by its id"
        job_id = await workflows.execute_workflow(conn, call.key.primary, body["EntityId"], now, caller)
    emulator.jobs_changed()
    return json_response({
        "@odata.context": f"{call.root}$metadata#asyncoperations/$entity",
        "asyncoperationid": job_id,
    })
