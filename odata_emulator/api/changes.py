"""Change tracking through the Web API (use-change-tracking-synchronize-data-external-systems.md):

- `GET <set>?$select=...` with `Prefer: odata.track-changes` answers the rows as usual, with
  `Preference-Applied: odata.track-changes` and, on the last page, an `@odata.deltaLink`;
- `GET` of that link (`$deltatoken=...`) answers what changed since: the new and updated rows, then one
  `$deletedEntity` entry per deleted row, with a new `@odata.deltaLink` (context `.../$delta`);
- `GET <set>/$count?$deltatoken=...` counts those changes.

`$filter`, `$orderby`, `$expand` and `$top` are refused with the docs' text. What changed, and the
token, are `store/changes.py`.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from ..errors import BadRequest
from ..model import Entity
from ..query.execute import Restriction, count_rows
from ..query.options import QueryOptions
from ..store import changes
from ..store.changes import Token
from ..store.schema import METADATA
from .prefer import Preferences
from .responses import json_response, text_response
from .routing import Call

_DELTATOKEN = re.compile(r"(^|&)(\$|%24)(deltatoken|skiptoken)=[^&]*", re.I)
_REFUSED = ("filter", "orderby", "expand", "top")


def wanted(options: QueryOptions, prefs: Preferences) -> bool:
    return prefs.track_changes or options.deltatoken is not None


def _check(entity: Entity, options: QueryOptions) -> Token | None:
    if entity.logical_name not in changes.TRACKED:
        raise BadRequest(f"Change tracking is not enabled for the table '{entity.logical_name}' "
                         f"(tracked here: {', '.join(changes.TRACKED)}).")
    for name in _REFUSED:
        if getattr(options, name) is not None:
            raise BadRequest(f'The "${name}" query parameter isn\'t supported when Change Tracking is enabled.')
    return Token.parse(options.deltatoken) if options.deltatoken is not None else None


def _restriction(entity: Entity, token: Token | None) -> Restriction | None:
    if token is None:
        return None
    return Restriction(METADATA.tables[entity.logical_name].c.versionnumber, token.version, after=True)


def _delta_link(request: Request, token: Token) -> str:
    query = _DELTATOKEN.sub("", request.url.query).lstrip("&")
    value = f"$deltatoken={token.text().replace('!', '%21')}"
    query = f"{query}&{value}" if query else value
    return f"{str(request.base_url).rstrip('/')}{request.url.path}?{query}"


async def read(call: Call, entity: Entity, options: QueryOptions, prefs: Preferences) -> Response:
    """The rows (all of them, or those changed since the delta token), with the delta link."""
    from .collection import query_body  # collection.py routes here: imported at call time

    token = _check(entity, options)
    async with call.emulator.store.snapshot(consistent=True) as snap:
        now = await changes.current(snap, entity.logical_name)  # before the rows: a change in between comes again
        deleted = await changes.deleted_since(snap, entity.logical_name, token) \
            if token is not None and options.skiptoken is None else []
    body, applied = await query_body(call, entity, options, prefs, restrict=_restriction(entity, token))
    if token is not None:
        body["@odata.context"] = body["@odata.context"] + "/$delta"
        root = call.root
        body["value"] += [{"@odata.context": f"{root}$metadata#{entity.entity_set}/$deletedEntity", "id": record,
                           "reason": "deleted"} for record in deleted]
    if "@odata.nextLink" not in body:
        body = {"@odata.context": body.pop("@odata.context"), "@odata.deltaLink": _delta_link(call.request, now),
                **body}
    return json_response(body, prefs=applied)


async def count(call: Call, entity: Entity, options: QueryOptions) -> Response:
    """`<set>/$count?$deltatoken=...`: how many rows changed (new, updated or deleted) since the token."""
    token = _check(entity, options)
    assert token is not None, "the caller routes here only a count with a delta token"
    emulator = call.emulator
    compiled = emulator.planner.plan(entity, options, annotations=False)
    async with emulator.store.snapshot(consistent=True) as snap:
        changed, _ = await count_rows(snap, compiled, emulator.context(call.caller),
                                      restrict=_restriction(entity, token))
        deleted = await changes.deleted_since(snap, entity.logical_name, token)
    return text_response(str(changed + len(deleted)))
