"""Writes on the writable tables (`Entity.writable`: accounts, contacts, the registration tables):
`POST <set>`, `PATCH <set>(<id>)` (an update, or an upsert when the row is missing) and
`DELETE <set>(<id>)`. The HTTP side only: the body, the conditional headers and the answer; the
write itself and the system jobs it fires are `events.pipeline` (over `records/`)."""

from __future__ import annotations

from starlette.responses import Response

from .. import records
from ..errors import MethodNotAllowed, PreconditionFailed, RecordNotFound
from ..events import pipeline
from ..model import Entity
from ..query.options import QueryOptions, parse_query_string
from .prefer import parse_prefer
from .responses import json_response, no_content
from .routing import Call
from .single import entity_body, resolve_key
from .writes import read_json_object

EXISTS = "A record with matching key values already exists."


def _writable(call: Call) -> Entity:
    entity = call.entity
    if not entity.writable:
        raise MethodNotAllowed(f"The requested resource does not support http method '{call.request.method}'.")
    return entity


def _canonical(response: Response) -> Response:
    """`OData-EntityId` spelled as Dataverse spells it: clients that copy the headers into a plain
    dict (Microsoft's Python SDK) look it up by that spelling. (Starlette lowercases header names.)"""
    response.raw_headers = [(b"OData-EntityId" if name == b"odata-entityid" else name, value)
                            for name, value in response.raw_headers]
    return response


async def _answer(call: Call, entity: Entity, record_id: str, *, created: bool) -> Response:
    """204 with `OData-EntityId`; with `Prefer: return=representation`, the row ($select honoured)."""
    prefs = parse_prefer(call.request.headers.getlist("prefer"))
    entity_id = f"{call.root}{entity.entity_set}({record_id})"
    if not prefs.return_representation:
        return _canonical(no_content({"OData-EntityId": entity_id}))
    options = QueryOptions(select=parse_query_string(call.request.url.query).select)
    _, body = await entity_body(call, entity, record_id, options, prefs)
    return _canonical(json_response(body, status=201 if created else 200, prefs=prefs.without_page_size(),
                                    extra={"OData-EntityId": entity_id}))


async def create(call: Call) -> Response:
    """`POST <set>`: 204 (or 201 with the row), the new row's URL in `OData-EntityId`."""
    entity = _writable(call)
    body = records.read_body(call.model, entity, await read_json_object(call.request), creating=True)
    emulator = call.emulator
    async with emulator.store.write() as conn:
        outcome = await pipeline.create(conn, entity, body, caller=call.caller, now=emulator.clock.now())
    if outcome.jobs:
        emulator.jobs_changed()
    return await _answer(call, entity, outcome.change.record_id, created=True)


async def update(call: Call) -> Response:
    """`PATCH <set>(<id>)`: update; upsert (create with that id) when missing, unless `If-Match`
    asks for an existing row (404); `If-None-Match: *` refuses an existing row (412)."""
    entity = _writable(call)
    record_id = await resolve_key(call, entity, call.key)
    headers = call.request.headers
    if_match, if_none_match = headers.get("if-match"), headers.get("if-none-match")
    raw = await read_json_object(call.request)
    emulator = call.emulator
    async with emulator.store.write() as conn:
        exists = await records.current(conn, entity, record_id) is not None
        if exists and if_none_match is not None and if_none_match.strip() == "*":
            raise PreconditionFailed(EXISTS, code="0x80040237")
        if not exists and if_match is not None:
            raise RecordNotFound.for_id(entity.logical_name, record_id)
        body = records.read_body(call.model, entity, raw, creating=not exists)
        now = emulator.clock.now()
        if exists:
            outcome = await pipeline.update(conn, entity, record_id, body, caller=call.caller, now=now,
                                            if_match=if_match)
        else:
            outcome = await pipeline.create(conn, entity, body, caller=call.caller, now=now, record_id=record_id)
    if outcome.jobs:
        emulator.jobs_changed()
    return await _answer(call, entity, record_id, created=not exists)


async def delete(call: Call) -> Response:
    """`DELETE <set>(<id>)`: 204; 404 for a missing row, 412 for a stale `If-Match`."""
    entity = _writable(call)
    record_id = await resolve_key(call, entity, call.key)
    emulator = call.emulator
    async with emulator.store.write() as conn:
        outcome = await pipeline.delete(conn, entity, record_id, caller=call.caller, now=emulator.clock.now(),
                                        if_match=call.request.headers.get("if-match"))
    if outcome.jobs:
        emulator.jobs_changed()
    return no_content()
