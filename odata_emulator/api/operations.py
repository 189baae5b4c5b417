"""Functions that read: `RetrieveTotalRecordCount(EntityNames=...)` and the bound
`systemusers(<id>)/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=...)` (also on `teams`).

Parameters are written inline (`EntityNames=['account']`) or as parameter aliases
(`EntityNames=@p1` with `?@p1=["account"]`), as use-web-api-functions.md shows; a record reference
is `{'@odata.id':'accounts(<id>)'}`, relative or absolute. Their declarations are
`model/operations.py`.
"""

from __future__ import annotations

import json
import re

from sqlalchemy import select
from starlette.responses import Response

from ..errors import BadRequest, RecordNotFound
from ..model.operations import ACCESS_RIGHTS
from ..query.execute import count_rows
from ..query.options import QueryOptions, parse_query_string
from ..store.schema import METADATA
from .resource import parse_key, split_path
from .responses import json_response
from .routing import Call

_PARAMETER = re.compile(r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>.*?)\s*$", re.S)
_NO_LIMIT = 2**62
# What a principal may do with a record. The emulator has no security model: every principal has every right.
ALL_RIGHTS = ", ".join(name for name, value in ACCESS_RIGHTS.members if value)


def _parameter(call: Call, name: str, text: str | None) -> str:
    """The value of the function's parameter `name` as written, an alias resolved."""
    match = _PARAMETER.match(text or "")
    if match is None or match.group("name") != name:
        raise BadRequest(f"The parameter '{name}' of the function is missing.", code="0x80060888")
    value = match.group("value")
    if value.startswith("@"):
        aliases = dict(parse_query_string(call.request.url.query).aliases)
        if value not in aliases:
            raise BadRequest(f"The parameter alias '{value}' is not given a value.", code="0x80060888")
        value = aliases[value]
    return value.strip()


def _json_ish(text: str, what: str) -> object:
    """JSON, or JSON written with single quotes as the docs' examples write it."""
    for candidate in (text, re.sub(r"'((?:[^'\\]|\\.)*)'", lambda m: json.dumps(m.group(1)), text)):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise BadRequest(f"The value {text} of the parameter '{what}' is not valid.", code="0x80060888")


async def retrieve_total_record_count(call: Call) -> Response:
    """RetrieveTotalRecordCount (query/count-rows.md): the number of rows of each table named, in
    the order named, as an EntityRecordCountCollection of parallel Keys and Values."""
    names = _json_ish(_parameter(call, "EntityNames", call.bound.text), "EntityNames")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise BadRequest("The parameter 'EntityNames' must be a collection of table logical names.",
                         code="0x80060888")
    emulator = call.emulator
    counts = []
    async with emulator.store.snapshot() as snap:
        for name in names:
            entity = emulator.model.by_logical_name.get(name)
            if entity is None or entity.is_metadata:
                raise RecordNotFound(f"Could not find an entity with the name '{name}'.", code="0x80040217")
            compiled = emulator.planner.plan(entity, QueryOptions(), annotations=False)
            total, _ = await count_rows(snap, compiled, emulator.context(call.caller), _NO_LIMIT)
            counts.append(total)
    return json_response({
        "@odata.context": f"{call.root}$metadata#Microsoft.Dynamics.CRM.RetrieveTotalRecordCountResponse",
        "EntityRecordCountCollection": {"Count": len(names), "IsReadOnly": False, "Keys": names, "Values": counts},
    })


async def _exists(call: Call, logical_name: str, key: str) -> bool:
    table = METADATA.tables[logical_name]
    primary = call.model.entity(logical_name).primary_id
    async with call.emulator.store.read() as conn:
        return (await conn.execute(select(table.c[primary]).where(table.c[primary] == key))).first() is not None


async def retrieve_principal_access(call: Call) -> Response:
    """RetrievePrincipalAccess (security-access-coding.md, "Test individual table records";
    use-web-api-functions.md, "Pass record reference to a function"): the access rights the user
    or team has to the record `Target` refers to."""
    principal = call.entity
    principal_id = call.key.primary
    assert principal_id is not None, "the route takes a GUID key"
    if not await _exists(call, principal.logical_name, principal_id):
        raise RecordNotFound.for_id(principal.logical_name, principal_id)
    reference = _json_ish(_parameter(call, "Target", call.bound.text), "Target")
    odata_id = reference.get("@odata.id") if isinstance(reference, dict) else None
    if not isinstance(odata_id, str):
        raise BadRequest("The parameter 'Target' must be a record reference: {'@odata.id':'<set>(<id>)'}.",
                         code="0x80060888")
    segments = split_path(odata_id.split("/api/data/", 1)[-1].split("/", 1)[-1]
                          if "/api/data/" in odata_id else odata_id)
    target = call.model.by_entity_set.get(segments[-1].name) if segments else None
    if target is None or segments[-1].key is None or target.is_metadata:
        raise BadRequest(f"The record reference '{odata_id}' does not name a record.", code="0x80060888")
    target_id = parse_key(target, segments[-1].key).primary
    if target_id is None or not await _exists(call, target.logical_name, target_id):
        raise RecordNotFound.for_id(target.logical_name, str(target_id))
    return json_response({
        "@odata.context": f"{call.root}$metadata#Microsoft.Dynamics.CRM.RetrievePrincipalAccessResponse",
        "AccessRights": ALL_RIGHTS,
    })
