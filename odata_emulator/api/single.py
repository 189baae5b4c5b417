"""Single rows: `GET <set>(<key>)` (a GUID, or `LogicalName='...'` on EntityDefinitions), one
property of a row (`/name`, `/name/$value`), and a navigation from a row (`/owninguser`, a row or
nothing; `/AsyncOperation_BulkDeleteOperation`, a collection read as `api/collection.py` reads one).
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.responses import Response

from ..caller import Caller
from ..errors import BadRequest, QueryError, RecordNotFound, ResourceNotFound
from ..model import Attribute, Entity, ManyToOne, OneToMany
from ..query.compiled import CompiledQuery, CompiledRows
from ..query.execute import Restriction, fetch_page
from ..query.options import QueryOptions, parse_query_string
from ..store.schema import METADATA, readable_column
from . import collection
from . import serialize as s
from .prefer import DEFAULT_PAGE_SIZE, Preferences, parse_prefer
from .resource import EntityKey
from .responses import json_response, no_content, not_modified, text_response
from .routing import Call


async def read(call: Call) -> Response:
    """`GET <set>(<key>)`: the row, with `$select`/`$expand`; 304 for `If-None-Match` on its etag."""
    options = parse_query_string(call.request.url.query)
    prefs = parse_prefer(call.request.headers.getlist("prefer"))
    key_value = await resolve_key(call, call.entity, call.key)
    return await _row(call, call.entity, key_value, options, prefs)


async def property_value(call: Call) -> Response:
    """`GET <set>(<key>)/<property>`: `{"value": ...}`, or 204 for null."""
    key_value, attribute, value = await _property(call)
    if value is None:
        return no_content()
    context = f"{call.root}$metadata#{call.entity.entity_set}({key_value})/{attribute.property_name}"
    return json_response({"@odata.context": context, "value": value})


async def raw_value(call: Call) -> Response:
    """`GET <set>(<key>)/<property>/$value`: the value as text, or 204 for null."""
    _, _, value = await _property(call)
    if value is None:
        return no_content()
    return text_response(("true" if value else "false") if isinstance(value, bool) else str(value))


async def navigation(call: Call) -> Response:
    """`GET <set>(<key>)/<navigation>`: the related row (204 if none), or the related rows."""
    options = parse_query_string(call.request.url.query)
    prefs = parse_prefer(call.request.headers.getlist("prefer"))
    entity = call.entity
    key_value = await resolve_key(call, entity, call.key)
    navigation = call.bound.navigation
    assert navigation is not None
    target = call.model.entity(navigation.target)
    if isinstance(navigation, ManyToOne):
        found = await _column_of(call, entity, key_value, navigation.attribute)
        if found is None:
            raise RecordNotFound.for_id(entity.logical_name, key_value)
        if found[0] is None:
            return no_content()
        return await read(call.below(target, EntityKey(primary=found[0])))
    assert isinstance(navigation, OneToMany)
    if await _column_of(call, entity, key_value, entity.primary_id) is None:
        raise RecordNotFound.for_id(entity.logical_name, key_value)
    collection.refuse_other_languages(options)
    restrict = Restriction(METADATA.tables[target.logical_name].c[navigation.attribute], key_value)
    return await collection.query(call, target, options, prefs, restrict=restrict)


async def not_found_below(call: Call) -> Response:
    """`GET <set>(<key>)/...` that no route takes: 404, once the query options, `Prefer` and the
    key were read as for the row itself (an alternate key that names no row answers that first)."""
    parse_query_string(call.request.url.query)
    parse_prefer(call.request.headers.getlist("prefer"))
    await resolve_key(call, call.entity, call.key)
    head, *below = call.bound.rest
    if head.key is not None:
        written = f"{head.name}({head.key})"
    elif head.name in call.entity.properties:
        written = below[-1].name  # the end of a property path that goes on
    elif head.name in call.entity.navigations:
        written = below[0].name
    else:
        written = head.name
    raise ResourceNotFound(f"Resource not found for the segment '{written}'.")


async def entity_body(call: Call, entity: Entity, key_value: str, options: QueryOptions,
                      prefs: Preferences) -> tuple[CompiledQuery, dict]:
    """One row as Dataverse writes a single entity: context, etag, properties, expansions."""
    compiled = call.emulator.planner.plan(entity, options, annotations=prefs.annotations.lookup_names)
    row, children = await _fetch_one(call, compiled, entity, key_value, call.caller,
                                     prefs.max_page_size or DEFAULT_PAGE_SIZE)
    if row is None:
        raise RecordNotFound.for_id(entity.logical_name, key_value)
    root = call.root
    assert isinstance(compiled, CompiledRows) and compiled.query is not None, "a row's query selects rows"
    body = {"@odata.context": s.entity_context(root, entity, compiled.query.projection)}
    body.update(s.entity_json(compiled.shape, row, prefs.annotations, service_root=root, children=children,
                              set_names=call.service.set_names))
    return compiled, body


async def resolve_key(call: Call, entity: Entity, key: EntityKey) -> str:
    """The row's primary key: the GUID given, or the row an alternate key names."""
    if key.primary is not None:
        return key.primary
    table = METADATA.tables[entity.logical_name]
    names = dict(key.alternate)
    if not entity.is_metadata or set(names) != {"LogicalName"}:
        raise BadRequest(f"The alternate key '{','.join(names)}' is not defined for '{entity.logical_name}'.",
                         code="0x80060888")
    async with call.emulator.store.read() as conn:
        found = (await conn.execute(
            select(table.c[entity.primary_id]).where(table.c.LogicalName == names["LogicalName"])
        )).scalar_one_or_none()
    if found is None:
        raise RecordNotFound(f"Could not find an entity with the name '{names['LogicalName']}'.",
                             code="0x80040217")
    return found


async def _row(call: Call, entity: Entity, key_value: str, options: QueryOptions, prefs: Preferences) -> Response:
    for name in ("filter", "orderby", "top", "apply", "count", "skiptoken", "deltatoken"):
        if getattr(options, name) is not None:
            raise QueryError(f"The query option '${name}' is not allowed on a single entity.")
    compiled, body = await entity_body(call, entity, key_value, options, prefs)
    etag = body.get("@odata.etag")
    conditional = call.request.headers.get("if-none-match")
    assert isinstance(compiled, CompiledRows) and compiled.query is not None, "a row's query selects rows"
    if (etag and conditional and conditional == etag and not compiled.query.projection.expansions
            and not prefs.annotations.any):
        return not_modified(etag)
    return json_response(body, prefs=prefs.without_page_size(), extra={"ETag": etag} if etag else None)


async def _property(call: Call) -> tuple[str, Attribute, object]:
    """The row's key, the property the path names and its JSON value (None for null)."""
    # Read (and refused when malformed) as on any row, though a property takes no option.
    parse_query_string(call.request.url.query)
    parse_prefer(call.request.headers.getlist("prefer"))
    entity = call.entity
    key_value = await resolve_key(call, entity, call.key)
    attribute = call.bound.attribute
    assert attribute is not None
    result = await _column_of(call, entity, key_value, attribute.name)
    if result is None:
        raise RecordNotFound.for_id(entity.logical_name, key_value)
    return key_value, attribute, s.json_value(attribute, result[0])


async def _column_of(call: Call, entity: Entity, key_value: str, column: str):
    """(value,) of one column of one row, or None when the row does not exist."""
    table = METADATA.tables[entity.logical_name]
    async with call.emulator.store.read() as conn:
        return (await conn.execute(
            select(readable_column(table, column)).where(table.c[entity.primary_id] == key_value)
        )).first()


async def _fetch_one(call: Call, compiled: CompiledQuery, entity: Entity, key_value: str, caller: Caller,
                     child_size: int):
    table = METADATA.tables[entity.logical_name]
    restrict = Restriction(table.c[entity.primary_id], key_value)
    assert isinstance(compiled, CompiledRows), "a row's query selects rows"
    # One row by its key reads on the loop's thread; with collections, in one transaction on a reader.
    collections = bool(compiled.shape.collections)
    async with call.emulator.store.snapshot(consistent=collections, inline=not collections) as snap:
        page = await fetch_page(snap, compiled, call.emulator.context(caller), size=1, restrict=restrict,
                                child_size=child_size)
    return (page.rows[0] if page.rows else None), page.children
