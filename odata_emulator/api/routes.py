"""The Web API's routes, `/api/data/v9.2/...`: every path it answers, its methods and its endpoint,
in one table. How a path is matched (and refused) is `api/routing.py`; the endpoints live in a
module per kind of resource:

    documents.py     the service document, $metadata, WhoAmI
    collection.py    entity set reads: OData query options, FetchXML, $apply, /$count
    single.py        one row by key, one of its properties, a navigation from it
    related.py       a collection-valued navigation's /$ref and /$count
    metadata.py      the metadata API below EntityDefinitions(<key>), GlobalOptionSetDefinitions,
                     RelationshipDefinitions
    writes.py        PATCH/DELETE of system jobs (POST refused)
    rows.py          POST/PATCH/DELETE on the writable tables (accounts, contacts, registration)
    property_writes.py  PUT/DELETE of one property of a system job
    actions.py       BulkDelete
    operations.py    RetrieveTotalRecordCount, RetrievePrincipalAccess (bound to systemusers and teams)
    batch.py         $batch, whose parts run through this table again
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..emulator import Emulator
from . import (
    actions,
    batch,
    collection,
    documents,
    metadata,
    operations,
    property_writes,
    related,
    rows,
    single,
    writes,
)
from .auth import resolve_caller
from .resource import split_path
from .responses import api_prefix
from .routing import Call, Route, Service, resolve

# First match wins (see api/routing.py for the patterns and the refusals).
ROUTES: tuple[Route, ...] = (
    # path below the service root            methods   endpoint
    Route("",                                "GET",    documents.service_document),
    Route("$metadata",                       "GET",    documents.metadata),
    Route("$batch",                          "POST",   batch.endpoint),
    Route("WhoAmI()",                        "GET",    documents.who_am_i, operation=True),
    Route("RetrieveVersion()",               "GET",    documents.retrieve_version, operation=True),
    Route("BulkDelete",                      "POST",   actions.bulk_delete, operation=True),
    Route("workflows({id})/Microsoft.Dynamics.CRM.ExecuteWorkflow", "POST", actions.execute_workflow,
          operation=True),
    Route("RetrieveTotalRecordCount({text})", "GET",   operations.retrieve_total_record_count, operation=True),
    Route("systemusers({id})/Microsoft.Dynamics.CRM.RetrievePrincipalAccess({text})", "GET",
          operations.retrieve_principal_access, operation=True),
    Route("teams({id})/Microsoft.Dynamics.CRM.RetrievePrincipalAccess({text})", "GET",
          operations.retrieve_principal_access, operation=True),
    Route("{set}",                           "GET",    collection.read),
    Route("asyncoperations",                 "POST",   writes.refuse_job_create),
    Route("{set}",                           "POST",   rows.create),
    Route("{set}/$count",                    "GET",    collection.count),
    Route("{set}({key})",                    "GET",    single.read),
    Route("asyncoperations({id})",           "PATCH",  writes.update_job),
    Route("asyncoperations({id})",           "DELETE", writes.delete_job),
    Route("{set}({key})",                    "PATCH",  rows.update),
    Route("{set}({key})",                    "DELETE", rows.delete),
    Route("{set}({key})/{property}",         "GET",    single.property_value),
    Route("asyncoperations({id})/{property}", "PUT",   property_writes.put_property),
    Route("asyncoperations({id})/{property}", "DELETE", property_writes.delete_property),
    Route("{set}({key})/{property}/$value",  "GET",    single.raw_value),
    Route("{set}({key})/{navigation}",       "GET",    single.navigation),
    Route("{set}({key})/{navigation}/$ref",  "GET",    related.references),
    Route("{set}({key})/{navigation}/$count", "GET",   related.count),
    Route("EntityDefinitions({key})/{path}", "GET",    metadata.below_table),
    Route("GlobalOptionSetDefinitions",      "GET",    metadata.global_option_sets),
    Route("GlobalOptionSetDefinitions({text})", "GET", metadata.global_option_set),
    Route("RelationshipDefinitions",         "GET",    metadata.relationship_definitions),
    Route("RelationshipDefinitions({text})", "GET",    metadata.relationship_definition),
    Route("{set}({key})/{path}",             "GET",    single.not_found_below),
)


class WebApi:
    """The Web API endpoint of one application: who calls (`api/auth.py`), which route, its endpoint."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.service = Service(emulator, {e.logical_name: e.entity_set for e in emulator.model.entities})

    async def __call__(self, request: Request) -> Response:
        request.state.caller = await resolve_caller(request, self.emulator)
        prefix = api_prefix(request.url.path)
        path = request.url.path[len(prefix):] if request.url.path.startswith(prefix) else ""
        route, bound = resolve(ROUTES, split_path(path), request, self.emulator.model)
        return await route.endpoint(Call(request, self.service, bound))
