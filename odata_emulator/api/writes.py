"""PATCH and DELETE on `asyncoperations(<id>)`: reading the request, then `jobs/manage.py` decides."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..emulator import Emulator
from ..errors import InvalidPayload, NotSupported, PreconditionFailed
from ..jobs import manage

MAX_BODY = 1_048_576


async def read_json_object(request: Request) -> dict:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise InvalidPayload(f"The request body is larger than {MAX_BODY} bytes.", status=413, code="0x8004418a")
    if not body.strip():
        raise InvalidPayload("The request body is empty: send a JSON object.")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidPayload(f"Error identified in Payload provided by the user: the body is not valid JSON ({exc}).") from None
    if not isinstance(value, dict):
        raise InvalidPayload("Error identified in Payload provided by the user: the body must be a JSON object.")
    return value


async def patch_job(request: Request, emulator: Emulator, job_id: str) -> None:
    body = await read_json_object(request)
    change = manage.parse_update(body, job_id)
    if_match = request.headers.get("if-match")
    if_none_match = request.headers.get("if-none-match")
    async with emulator.store.write() as conn:
        exists = await manage.current_row(conn, job_id) is not None
        if if_none_match is not None and if_none_match.strip() == "*" and exists:
            raise PreconditionFailed("A record with matching key values already exists.", code="0x80040237")
        if not exists and if_match is None:
            # Without If-Match a PATCH is an upsert, and creating system jobs is not supported.
            raise NotSupported("Creating system jobs with code is not supported. System jobs are created by the platform.")
        await manage.update_job(conn, job_id, change, now=emulator.clock.now(), caller=(getattr(request.state, "caller", None) or emulator.caller).user_id,
                                if_match=if_match)
    emulator.jobs_changed()


async def delete_job(request: Request, emulator: Emulator, job_id: str) -> Response:
    async with emulator.store.write() as conn:
        await manage.delete_job(conn, job_id, if_match=request.headers.get("if-match"))
    return Response(status_code=204, headers={"OData-Version": "4.0"})

