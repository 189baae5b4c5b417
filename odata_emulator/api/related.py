"""A record's collection-valued navigation property as references or as a count:
`GET <set>(<key>)/<navigation>/$ref` and `GET <set>(<key>)/<navigation>/$count`
(retrieve-entity-using-web-api.md, "Retrieve navigation property values")."""

from __future__ import annotations

from sqlalchemy import select
from starlette.responses import Response

from ..errors import QueryError, RecordNotFound, ResourceNotFound
from ..model import Entity, OneToMany
from ..query.execute import Restriction, count_rows
from ..query.options import parse_query_string
from ..store.schema import METADATA
from .responses import json_response, odata_headers
from .routing import Call
from .single import resolve_key

# The count is written as a UTF-8 document with its byte order mark, as the docs show it.
_BOM = "\ufeff"


async def _navigation(call: Call) -> tuple[OneToMany, Entity, str]:
    """The collection-valued navigation the path names, its target table and the row's key."""
    navigation = call.bound.navigation
    if not isinstance(navigation, OneToMany):  # a single-valued navigation has no /$ref or /$count here
        raise ResourceNotFound(f"Resource not found for the segment '{call.request.url.path.rsplit('/', 1)[-1]}'.")
    entity = call.entity
    key_value = await resolve_key(call, entity, call.key)
    table = METADATA.tables[entity.logical_name]
    async with call.emulator.store.read() as conn:
        found = (await conn.execute(
            select(table.c[entity.primary_id]).where(table.c[entity.primary_id] == key_value))).first()
    if found is None:
        raise RecordNotFound.for_id(entity.logical_name, key_value)
    return navigation, call.model.entity(navigation.target), key_value


async def references(call: Call) -> Response:
    """`<navigation>/$ref`: an `@odata.id` for each related row, in primary key order."""
    options = parse_query_string(call.request.url.query)
    if any(v is not None for v in (options.select, options.expand, options.apply, options.filter,
                                    options.orderby, options.top, options.count)):
        raise QueryError("Query options cannot be combined with /$ref.")
    navigation, target, key_value = await _navigation(call)
    table = METADATA.tables[target.logical_name]
    async with call.emulator.store.read() as conn:
        ids = (await conn.execute(
            select(table.c[target.primary_id]).where(table.c[navigation.attribute] == key_value)
            .order_by(table.c[target.primary_id]))).scalars().all()
    entity_set = call.service.set_names.get(target.logical_name, target.entity_set)
    return json_response({
        "@odata.context": f"{call.root}$metadata#Collection($ref)",
        "value": [{"@odata.id": f"{call.root}{entity_set}({row_id})"} for row_id in ids],
    })


async def count(call: Call) -> Response:
    """`<navigation>/$count`: the number of related rows (`$filter` applies), as text."""
    options = parse_query_string(call.request.url.query)
    if any(v is not None for v in (options.select, options.expand, options.orderby, options.top,
                                    options.apply, options.skiptoken, options.count)):
        raise QueryError("Only $filter can be combined with /$count.")
    navigation, target, key_value = await _navigation(call)
    emulator = call.emulator
    compiled = emulator.planner.plan(target, options, annotations=False)
    restrict = Restriction(METADATA.tables[target.logical_name].c[navigation.attribute], key_value)
    async with emulator.store.snapshot() as snap:
        total, _ = await count_rows(snap, compiled, emulator.context(call.caller), restrict=restrict)
    return Response(f"{_BOM}{total}".encode(), media_type="text/plain", headers=odata_headers())
