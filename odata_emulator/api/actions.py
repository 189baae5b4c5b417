"""Unbound actions: `POST /api/data/v9.2/BulkDelete`.

Reading the request and shaping the response body happen here (`webapi.py` sends it with the
usual JSON headers); what the action means (checking the parameters, creating the system job and
its bulkdeleteoperation) is `jobs/bulkdelete.py`.
"""

from __future__ import annotations

from starlette.requests import Request

from ..emulator import Emulator
from ..errors import ResourceNotFound
from ..jobs import bulkdelete
from ..store.fixtures import Caller
from .writes import read_json_object


async def bulk_delete(request: Request, emulator: Emulator, service_root: str, caller: Caller) -> dict:
    """The BulkDeleteResponse: `JobId` is the new system job's asyncoperationid. The job and its
    bulkdeleteoperation are the caller's, and the job runs as them."""
    if request.method != "POST":
        # Actions answer POST only; Dataverse answers another method as it does for any unknown URL.
        raise ResourceNotFound(f"No HTTP resource was found that matches the request URI '{service_root}BulkDelete'.",
                               code="")
    body = await read_json_object(request)
    now = emulator.clock.now()
    parsed = bulkdelete.parse_request(body, now, caller)
    await bulkdelete.check_schedule(parsed)
    async with emulator.store.write() as conn:
        job_id = await bulkdelete.submit(conn, parsed, now, caller)
    emulator.jobs_changed()
    return {
        "@odata.context": f"{service_root}$metadata#Microsoft.Dynamics.CRM.BulkDeleteResponse",
        "JobId": job_id,
    }
