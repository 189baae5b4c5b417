"""Every error leaves the emulator here, as Dataverse writes it:
`{"error": {"code": "0x...", "message": "..."}}` with the error's HTTP status."""

from __future__ import annotations

import logging
import sqlite3
import uuid

import orjson
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import Response

from ..errors import DataverseError, QueryError

JSON_TYPE = "application/json; odata.metadata=minimal"
log = logging.getLogger("odata_emulator")


def error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message}})


def error_response(error: DataverseError) -> Response:
    return Response(
        error_body(error.code, error.message),
        status_code=error.status,
        media_type=JSON_TYPE,
        headers={"OData-Version": "4.0", "REQ_ID": str(uuid.uuid4())},
    )


# SQLite's own limits, reached only by an oversized query: the client's 400, not a 500.
_SQLITE_LIMITS = ("expression tree is too large", "too many sql variables", "parser stack overflow",
                  "like or glob pattern too complex", "string or blob too big", "too many terms")


async def dataverse_error_handler(request: Request, exc: Exception) -> Response:
    if isinstance(exc, DataverseError):
        return error_response(exc)
    # From SQLAlchemy (wrapped) or from a compiled statement run on the driver (`store/driver.py`).
    cause = exc.orig if isinstance(exc, DBAPIError) else exc if isinstance(exc, sqlite3.Error) else None
    if cause is not None and any(limit in str(cause).lower() for limit in _SQLITE_LIMITS):
        return error_response(QueryError(f"The query is too large or too complex to run: {cause}."))
    log.exception("unexpected error serving %s %s", request.method, request.url.path)
    return Response(
        error_body("0x80040216", f"An unexpected error occurred: {type(exc).__name__}"),
        status_code=500,
        media_type=JSON_TYPE,
        headers={"OData-Version": "4.0"},
    )


# ODataLib's answer past its recursion limit (`UriQueryExpressionParser_TooDeep`).
TOO_DEEP = "Recursion depth exceeded allowed limit."


async def too_deep_handler(request: Request, exc: Exception) -> Response:
    """A query option nested or chained deeper than the parser, binder or SQL compiler can recurse
    (`not not ... x`, hundreds of `or`s) is the client's 400, not a 500. Lark wraps an error raised
    inside its transformer in a `VisitError` (`orig_exc`)."""
    if isinstance(getattr(exc, "orig_exc", exc), RecursionError):
        return error_response(QueryError(TOO_DEEP))
    return await dataverse_error_handler(request, exc)
