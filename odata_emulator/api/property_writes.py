"""One property of a system job written or cleared on its own (update-delete-entities-using-web-api.md,
"Update a single property value" and "Delete a single property value"):

    PUT    asyncoperations(<id>)/<property>   {"value": ...}   204
    DELETE asyncoperations(<id>)/<property>                     204 (the property set to null)

Each is the PATCH of that one property, under the same rules (`jobs/manage.py`): only `statecode`,
`statuscode` and `postponeuntil` may change, and only by a move the state table allows.
"""

from __future__ import annotations

from starlette.responses import Response

from ..errors import InvalidPayload
from ..jobs import manage
from .responses import no_content
from .routing import Call
from .writes import read_json_object


async def put_property(call: Call) -> Response:
    body = await read_json_object(call.request)
    if set(body) != {"value"}:
        raise InvalidPayload("Error identified in Payload provided by the user: a single property is updated "
                             "with a body of one property, 'value'.")
    return await _update(call, body["value"])


async def delete_property(call: Call) -> Response:
    return await _update(call, None)


async def _update(call: Call, value) -> Response:
    job_id = call.key.primary
    attribute = call.bound.attribute
    assert job_id is not None and attribute is not None, "the route takes a GUID key and a property"
    change = manage.parse_update({attribute.property_name: value}, job_id)
    emulator = call.emulator
    async with emulator.store.write() as conn:
        await manage.update_job(conn, job_id, change, now=emulator.clock.now(), caller=call.caller.user_id,
                                if_match=call.request.headers.get("if-match"))
    emulator.jobs_changed()
    return no_content()
