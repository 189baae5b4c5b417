"""Writes: PATCH and DELETE on `asyncoperations(<id>)` (reading the request, then `jobs/manage.py`
decides), POST on `asyncoperations` refused; and request bodies read as JSON (`read_json_object`)."""

from __future__ import annotations

import json
import math
import re

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..errors import InvalidPayload, NotSupported, PreconditionFailed
from ..jobs import manage
from ..query.options import QueryOptions, parse_query_string
from .prefer import parse_prefer
from .responses import json_response, no_content
from .routing import Call
from .single import entity_body

MAX_BODY = 1_048_576

# orjson reads a whole number past 64 bits as a float (99999999999999999999 -> 1e+20), which error
# messages would then echo as a number the client never wrote, and one past 1e308 not at all. A body
# holding one (twenty digits or more, outside strings) is read by the stdlib, which keeps whole
# numbers exact.
_TWENTY_DIGITS = re.compile(rb"[0-9]{20}")
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?')
_NOT_JSON = "Error identified in Payload provided by the user: the body is not valid JSON"


def _long_integer(body: bytes) -> bool:
    return _TWENTY_DIGITS.search(body) is not None and any(
        token[:1] != b'"' and len(token.lstrip(b"-")) >= 20 and token.lstrip(b"-").isdigit()
        for token in _TOKENS.findall(body))


def _exact_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # more digits than int() reads (4,300)
        raise InvalidPayload("Error identified in Payload provided by the user: a number in the body has more "
                             "digits than any type takes.") from None


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidPayload(f"{_NOT_JSON} (the number {text[:40]} is too large).")
    return value


def _constant(text: str):
    raise InvalidPayload(f"{_NOT_JSON} ({text} is not a JSON value).")


def loads_json(body: bytes):
    """The JSON value of a request body, whole numbers of any width read exactly. Raises
    json.JSONDecodeError (orjson's is one) for text that is not JSON, InvalidPayload for a number
    no type takes."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as refused:
        if not _long_integer(body):
            raise
        try:  # orjson refuses a whole number past 1e308 ("number is infinity")
            return json.loads(body, parse_int=_exact_int, parse_float=_finite_float, parse_constant=_constant)
        except (ValueError, RecursionError):  # not UTF-8, too deep... : not JSON, as orjson said
            raise refused from None
    if not _has_float_past_64_bits(value) or not _long_integer(body):
        return value
    return json.loads(body, parse_int=_exact_int, parse_float=_finite_float, parse_constant=_constant)


def _has_float_past_64_bits(value) -> bool:
    """Whether orjson's answer holds a float of 1e19 or more: only then can the body have held a whole
    number orjson could not read exactly (walking the answer is cheaper than scanning a large body)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if abs(item) >= 1e19:
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


async def read_json_object(request: Request) -> dict:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise InvalidPayload(f"The request body is larger than {MAX_BODY} bytes.", status=413, code="0x8004418a")
    if not body.strip():
        raise InvalidPayload("The request body is empty: send a JSON object.")
    try:
        value = loads_json(body)
    except json.JSONDecodeError as exc:
        raise InvalidPayload(f"Error identified in Payload provided by the user: the body is not valid JSON ({exc}).") from None
    if not isinstance(value, dict):
        raise InvalidPayload("Error identified in Payload provided by the user: the body must be a JSON object.")
    return value


_NO_CREATE = "Creating system jobs with code is not supported. System jobs are created by the platform."


async def refuse_job_create(call: Call) -> Response:
    """`POST asyncoperations`: system jobs are the platform's to create."""
    raise NotSupported(_NO_CREATE)


async def update_job(call: Call) -> Response:
    """`PATCH asyncoperations(<id>)`: 204, or the row with `Prefer: return=representation`."""
    job_id = call.key.primary
    assert job_id is not None, "the route takes a GUID key"
    await _patch_job(call, job_id)
    prefs = parse_prefer(call.request.headers.getlist("prefer"))
    entity_id = f"{call.root}{call.entity.entity_set}({job_id})"
    if not prefs.return_representation:
        return no_content({"OData-EntityId": entity_id})
    # $select is honoured in the representation, $expand is not (as Dataverse does).
    options = QueryOptions(select=parse_query_string(call.request.url.query).select)
    _, body = await entity_body(call, call.entity, job_id, options, prefs)
    return json_response(body, prefs=prefs.without_page_size(), extra={"OData-EntityId": entity_id})


async def delete_job(call: Call) -> Response:
    """`DELETE asyncoperations(<id>)`: 204."""
    job_id = call.key.primary
    assert job_id is not None, "the route takes a GUID key"
    async with call.emulator.store.write() as conn:
        await manage.delete_job(conn, job_id, if_match=call.request.headers.get("if-match"))
    return no_content()


async def _patch_job(call: Call, job_id: str) -> None:
    request, emulator = call.request, call.emulator
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
            raise NotSupported(_NO_CREATE)
        await manage.update_job(conn, job_id, change, now=emulator.clock.now(), caller=call.caller.user_id,
                                if_match=if_match)
    emulator.jobs_changed()
