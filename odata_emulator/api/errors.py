"""Every error leaves the emulator here, as Dataverse writes it:
`{"error": {"code": "0x...", "message": "..."}}` with the error's HTTP status (the body and the
response are `api/responses.py`'s `error_body` and `error_response`).

`ErrorBoundary` wraps every route: it refuses a request target Dataverse would not take (too
long, not UTF-8) before any route runs, and answers an unexpected exception with the
Dataverse-shaped 500 instead of letting it reach the server, which would close the connection.
"""

from __future__ import annotations

import contextvars
import logging
import sqlite3
from urllib.parse import unquote, unquote_to_bytes

from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import (
    BadRequest,
    Code,
    DataverseError,
    MethodNotAllowed,
    QueryError,
    ResourceNotFound,
    UnsupportedQuery,
    UriTooLong,
)
from .prefer import parse_prefer
from .responses import JSON_TYPE, error_body, error_response, odata_headers

log = logging.getLogger("odata_emulator")
# One INFO line per refused request: what was asked, and Dataverse's status, code and message.
refusals = logging.getLogger("odata_emulator.requests")
# Said in the log (never in the body, which stays Dataverse's) when strict mode refused standard OData.
LOOSE_HINT = " [strict mode, as Dataverse: start with --loose to evaluate standard OData that Dataverse refuses]"


def log_refusal(request: Request, error: DataverseError) -> None:
    if refusals.isEnabledFor(logging.INFO):
        target = unquote(request.url.path) + (f"?{unquote(request.url.query)}" if request.url.query else "")
        hint = LOOSE_HINT if isinstance(error, UnsupportedQuery) else ""
        refusals.info("refused %s %s: %d %s %s%s", request.method, target, error.status, error.code or "-",
                      error.message, hint)


# The detail annotations of an error (compose-http-requests-handle-errors.md, "Include more details with
# errors"), in the docs' order. OperationStatus and SubErrorCode are set only by a plug-in's
# InvalidPluginExecutionException, and the emulator runs no synchronous plug-in: never sent.
HELP_LINK = "Microsoft.PowerApps.CDS.HelpLink"
TRACE_TEXT = "Microsoft.PowerApps.CDS.TraceText"
INNER_MESSAGE = "Microsoft.PowerApps.CDS.InnerError.Message"


def error_details(headers, code: str, message: str) -> dict[str, str]:
    """The detail annotations `Prefer: odata.include-annotations` (in `headers`) asks for: the HelpLink
    (for an error with a code), the trace (empty: no plug-in traced anything) and the inner error's message."""
    annotations = parse_prefer(headers.getlist("prefer")).annotations
    if not annotations.any:
        return {}
    details = {}
    if code and annotations.wants(HELP_LINK):
        number = code.lower().removeprefix("0x")
        details[f"@{HELP_LINK}"] = (f"http://go.microsoft.com/fwlink/?LinkID=398563&error=Microsoft.Crm.CrmException"
                                    f"%3a{number}&client=platform")
    if annotations.wants(TRACE_TEXT):
        details[f"@{TRACE_TEXT}"] = ""
    if annotations.wants(INNER_MESSAGE):
        details[f"@{INNER_MESSAGE}"] = message
    return details


def _answer(request: Request, error: DataverseError) -> Response:
    return error_response(error, error_details(request.headers, error.code, error.message))


# SQLite's own limits, reached only by an oversized query: the client's 400, not a 500.
_SQLITE_LIMITS = ("expression tree is too large", "too many sql variables", "parser stack overflow",
                  "like or glob pattern too complex", "string or blob too big", "too many terms")


async def dataverse_error_handler(request: Request, exc: Exception) -> Response:
    if isinstance(exc, DataverseError):
        log_refusal(request, exc)
        return _answer(request, exc)
    # From SQLAlchemy (wrapped) or from a compiled statement run on the driver (`store/driver.py`).
    cause = exc.orig if isinstance(exc, DBAPIError) else exc if isinstance(exc, sqlite3.Error) else None
    if cause is not None and any(limit in str(cause).lower() for limit in _SQLITE_LIMITS):
        return _answer(request, QueryError(f"The query is too large or too complex to run: {cause}."))
    log.exception("unexpected error serving %s %s", request.method, request.url.path)
    message = f"An unexpected error occurred: {type(exc).__name__}"
    return Response(
        error_body(Code.SQL_ERROR, message, error_details(request.headers, Code.SQL_ERROR, message)),
        status_code=500,
        media_type=JSON_TYPE,
        headers=odata_headers(),
    )


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """What Starlette's router answers by itself, in Dataverse's shape: no route for the path (a
    decoded path holding a line break matches none) or a method no route takes (OPTIONS, TRACE...)."""
    status = getattr(exc, "status_code", 500)
    if status == 404:
        # The URI as sent (percent-encoded), not as decoded: the decoded one holds the line break.
        raw_path = request.scope.get("raw_path") or request.url.path.encode("utf-8")
        query = request.scope.get("query_string", b"")
        sent = str(request.base_url).rstrip("/") + raw_path.decode("latin-1") + ("?" + query.decode("latin-1")
                                                                                  if query else "")
        error: DataverseError = ResourceNotFound(
            f"No HTTP resource was found that matches the request URI '{sent}'.", code="")
    elif status == 405:
        error = MethodNotAllowed(f"The requested resource does not support http method '{request.method}'.")
    else:
        error = DataverseError(str(getattr(exc, "detail", "")) or "The request was refused.", status=status)
    log_refusal(request, error)
    response = _answer(request, error)
    for name, value in (getattr(exc, "headers", None) or {}).items():
        response.headers[name] = value
    return response


# ODataLib's answer past its recursion limit (`UriQueryExpressionParser_TooDeep`).
TOO_DEEP = "Recursion depth exceeded allowed limit."


async def too_deep_handler(request: Request, exc: Exception) -> Response:
    """A query option nested or chained deeper than the parser, binder or SQL compiler can recurse
    (`not not ... x`, hundreds of `or`s) is the client's 400, not a 500. Lark wraps an error raised
    inside its transformer in a `VisitError` (`orig_exc`)."""
    if isinstance(getattr(exc, "orig_exc", exc), RecursionError):
        return _answer(request, QueryError(TOO_DEEP))
    return await dataverse_error_handler(request, exc)


# "The length of a URL in a GET request is limited to 32 KB (32,768 characters) ... Sending a GET
# request within a $batch allows for URLs up to 64 KB (65,536 characters)" (webapi/query/overview.md).
# The emulator counts the request target as sent: the path and the query string, percent-encoded.
MAX_URL_LENGTH = 32_768
MAX_BATCH_URL_LENGTH = 65_536
# How many ErrorBoundary calls the current request runs inside: a `$batch` part runs through the
# application again, from inside the `$batch` request.
_DEPTH: contextvars.ContextVar[int] = contextvars.ContextVar("odata_emulator_request_depth", default=0)


def _target_refusal(scope: Scope, depth: int) -> DataverseError | None:
    """Why the request target is refused before any route runs, or None."""
    raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
    query = scope.get("query_string", b"")
    length = len(raw_path) + (len(query) + 1 if query else 0)
    if depth == 0 and length > MAX_URL_LENGTH:
        return UriTooLong(f"HTTP Error 414. The request URL is too long: a URL is limited to {MAX_URL_LENGTH:,} "
                          f"characters. Send a longer query as a GET request inside a $batch request, where the "
                          f"limit is {MAX_BATCH_URL_LENGTH:,} characters.")
    if depth > 0 and length > MAX_BATCH_URL_LENGTH:
        return UriTooLong(f"HTTP Error 414. The request URL is too long: a URL inside a $batch request is limited "
                          f"to {MAX_BATCH_URL_LENGTH:,} characters.")
    try:
        unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        return BadRequest("The request path is not valid UTF-8 after URL decoding.", code=Code.QUERY_SYNTAX)
    try:
        query.decode("utf-8")
    except UnicodeDecodeError:
        return QueryError("The query string is not valid UTF-8.")
    return None


class ErrorBoundary:
    """ASGI middleware inside Starlette's `ServerErrorMiddleware` (which stays as the last resort).

    An exception no route handler answered becomes the Dataverse-shaped 500 of
    `dataverse_error_handler` (logged with its traceback) and is not raised further: the server
    keeps the connection open for the client's next request. Only when the response has already
    started does the exception go on, since then closing the connection is all that is left to do.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        depth = _DEPTH.get()
        refusal = _target_refusal(scope, depth)
        if refusal is not None:
            await _answer(Request(scope), refusal)(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        token = _DEPTH.set(depth + 1)
        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if started:
                raise
            response = await dataverse_error_handler(Request(scope), exc)
            await response(scope, receive, send)
        finally:
            _DEPTH.reset(token)
