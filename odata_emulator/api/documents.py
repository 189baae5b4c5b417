"""The service's documents: the service document (`/`), `$metadata` (CSDL), and the `WhoAmI` and
`RetrieveVersion` functions."""

from __future__ import annotations

from starlette.responses import Response

from ..model.csdl import render_csdl
from .responses import json_response, xml_response
from .routing import Call

# What RetrieveVersion answers: Dataverse's 9.2 service, in the form it reports (major.minor.build.revision).
SERVICE_VERSION = "9.2.0.0"


async def service_document(call: Call) -> Response:
    value = [{"name": e.entity_set, "kind": "EntitySet", "url": e.entity_set} for e in call.model.entities]
    return json_response({"@odata.context": f"{call.root}$metadata", "value": value})


async def metadata(call: Call) -> Response:
    service = call.service
    if service.csdl is None:
        service.csdl = render_csdl(call.model)
    return xml_response(service.csdl)


async def who_am_i(call: Call) -> Response:
    caller = call.caller
    return json_response({
        "@odata.context": f"{call.root}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
        "BusinessUnitId": caller.business_unit_id,
        "UserId": caller.user_id,
        "OrganizationId": caller.organization_id,
    })


async def retrieve_version(call: Call) -> Response:
    """`RetrieveVersion()` (use-web-api-functions.md): the RetrieveVersionResponse."""
    return json_response({
        "@odata.context": f"{call.root}$metadata#Microsoft.Dynamics.CRM.RetrieveVersionResponse",
        "Version": SERVICE_VERSION,
    })
