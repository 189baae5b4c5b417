"""`POST /api/data/v9.2/$batch`: many requests in one `multipart/mixed` body, as Dataverse takes them.

Each part is an HTTP request (`application/http`), run through the same application as if it
had come on its own, so it gets exactly the answer it would get alone. A change set (a nested
`multipart/mixed`) runs in one store transaction (`Store.atomic`): all of it or none of it.
Later parts of a change set may name an earlier part's entity as `$<Content-ID>`.

Without `Prefer: odata.continue-on-error` the batch stops at the first failure and answers with
that failure's status and only the failing part; with it, every part runs and answers.

A part may only target the Web API (`/api/data/v9.x/`): a part for the control API or any other
path, and a `$batch` inside a `$batch`, answer 400 for that part without running.
"""

from __future__ import annotations

import email
import email.policy
import posixpath
import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from ..emulator import Emulator
from ..errors import BadRequest, Code, InvalidPayload
from .prefer import parse_prefer
from .responses import API_PREFIX, JSON_TYPE, error_body, odata_headers
from .routing import Call

MAX_BATCH_BYTES = 16 * 1024 * 1024
MAX_REQUESTS = 1000
# Headers a part inherits from the batch request unless it sets them: who is calling.
_INHERITED = ("authorization", "mscrmcallerid", "callerobjectid")
# Header names as Dataverse writes them (the application's own responses carry them lowercased).
_HEADER_NAMES = {name.lower(): name for name in (
    "Content-Type", "OData-Version", "OData-EntityId", "Location", "ETag", "Preference-Applied", "REQ_ID")}
# What a part may target: the Web API, under any v9.x service root.
_WEB_API_PATH = re.compile(r"/api/data/v9\.\d+(/|$)")


class _PlainHeaders(email.policy.Compat32):
    """The email package's plain policy (compat32), whose parts' headers are strings: HTTP's policy
    builds structured header objects, and parsed a batch ten times slower (1,000 parts: 0.47 -> 0.04
    s). A header value reads as HTTP's policy read it: unfolded, its bytes past ASCII as UTF-8."""

    def header_fetch_parse(self, name, value):
        # Parsed from bytes, a value is ASCII with each other byte kept as a surrogate escape.
        return _FOLD.sub("", value.encode("ascii", "surrogateescape").decode("utf-8", "replace"))


_FOLD = re.compile(r"\r?\n(?=[ \t])")
_POLICY = _PlainHeaders()
# Set while this task runs a `$batch`: a part that reaches `run_batch` again is a nested batch.
_IN_BATCH: ContextVar[bool] = ContextVar("odata_emulator_in_batch", default=False)


@dataclass
class PartRequest:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    content_id: str | None = None


@dataclass
class ChangeSet:
    parts: list[PartRequest] = field(default_factory=list)


@dataclass
class PartResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    content_id: str | None = None


# ---------------------------------------------------------------------------------- reading


def _boundary_message(content_type: str | None, body: bytes, what: str):
    if not content_type or not content_type.lower().startswith("multipart/mixed"):
        raise BadRequest(f"The {what} must be multipart/mixed with a boundary.", code=Code.INVALID_PAYLOAD, status=400)
    message = email.message_from_bytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body,
                                       policy=_POLICY)
    if message.get_boundary() is None:
        raise InvalidPayload(f"The {what} has no multipart boundary.")
    if not message.is_multipart() or message.defects:
        raise InvalidPayload(f"The {what} is not a readable multipart/mixed body.")
    return message


def read_batch(content_type: str | None, body: bytes) -> list[PartRequest | ChangeSet]:
    if len(body) > MAX_BATCH_BYTES:
        raise InvalidPayload(f"The $batch body is larger than {MAX_BATCH_BYTES} bytes.", status=413, code=Code.REQUEST_TOO_LARGE)
    if not body.strip():
        raise InvalidPayload("The $batch body is empty.")
    message = _boundary_message(content_type, body, "$batch request")
    items: list[PartRequest | ChangeSet] = []
    count = 0
    for part in _parts(message):
        part_type = part.get_content_type()
        if part_type == "multipart/mixed":
            change_set = ChangeSet()
            for inner in _parts(part):
                if inner.get_content_type() == "multipart/mixed":
                    raise BadRequest("Change sets cannot be nested.", code=Code.INVALID_PAYLOAD)
                request = _http_request(inner)
                if request.method == "GET":
                    raise BadRequest("GET requests are not allowed inside a change set.", code=Code.INVALID_PAYLOAD)
                change_set.parts.append(request)
            items.append(change_set)
            count += len(change_set.parts)
        else:
            items.append(_http_request(part))
            count += 1
        if count > MAX_REQUESTS:
            raise BadRequest(f"A $batch request holds at most {MAX_REQUESTS} requests.", code=Code.INVALID_PAYLOAD)
    if not items:
        raise InvalidPayload("The $batch body holds no requests.")
    return items


def _parts(message) -> list:
    """The parts of a multipart message (none for any other)."""
    return message.get_payload() if message.is_multipart() else []


def _http_request(part) -> PartRequest:
    if part.get_content_type() != "application/http":
        raise InvalidPayload(f"A $batch part must be application/http, not {part.get_content_type()}.")
    raw = part.get_payload(decode=True) or b""
    head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    lines = head.decode("utf-8", "replace").split("\n")
    words = lines[0].strip().split(" ")
    if len(words) > 2 and words[-1].startswith("HTTP/"):
        words = words[:-1]
    if len(words) < 2 or words[0] not in ("GET", "POST", "PATCH", "PUT", "DELETE"):
        raise InvalidPayload(f"A $batch part does not start with an HTTP request line: '{lines[0].strip()[:200]}'.")
    # Spaces in the URL, as people type them in documented queries, are taken as %20.
    request_line = [words[0], " ".join(words[1:]).strip().replace(" ", "%20")]
    headers = []
    for line in lines[1:]:
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise InvalidPayload(f"A $batch part has a malformed header line: '{line[:200]}'.")
        headers.append((name.strip().lower(), value.strip()))
    # The CRLF before the next boundary belongs to the boundary, not to the body.
    body = body.rstrip(b"\r\n") if body.strip() else b""
    return PartRequest(request_line[0], request_line[1], headers, body, part.get("Content-ID"))


# ---------------------------------------------------------------------------------- running


class _RollBack(Exception):
    def __init__(self, failure: PartResponse) -> None:
        self.failure = failure


def _web_api_target(request: Request, part: PartRequest, references: dict[str, str]) -> tuple[str, str] | PartResponse:
    """The part's (path, query) below this service, `$<Content-ID>` references resolved; or the 400
    part answering a target that is not a Web API request."""
    target = part.target
    for content_id, url in references.items():
        if target == f"${content_id}" or target.startswith(f"${content_id}/") or target.startswith(f"${content_id}?"):
            target = url + target[len(content_id) + 1:]
    base = str(request.base_url).rstrip("/")
    if target.startswith(("http://", "https://")):
        if not target.startswith(base):
            return _error_part(BadRequest(f"The request URL '{target}' is not on this service.",
                                          code=Code.QUERY_SYNTAX), part.content_id)
        target = target[len(base):]
    elif not target.startswith("/"):
        target = API_PREFIX + target
    path, _, query = target.partition("?")
    decoded = unquote(path)
    if not (_WEB_API_PATH.match(decoded) and _WEB_API_PATH.match(posixpath.normpath(decoded))):
        return _error_part(BadRequest(
            f"The request URL '{part.target}' is not a Web API request: a $batch part must target the service "
            f"root {API_PREFIX}.", code=Code.QUERY_SYNTAX), part.content_id)
    return path, query


async def _call(request: Request, part: PartRequest, references: dict[str, str]) -> PartResponse:
    resolved = _web_api_target(request, part, references)
    if isinstance(resolved, PartResponse):
        return resolved
    path, query = resolved
    headers = list(part.headers)
    names = {name for name, _ in headers}
    for name in _INHERITED:
        if name not in names and name in request.headers:
            headers.append((name, request.headers[name]))
    headers.append(("host", request.headers.get("host", "127.0.0.1")))
    headers.append(("content-length", str(len(part.body))))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": part.method,
        "scheme": request.url.scheme, "path": path, "raw_path": path.encode("utf-8"),
        "query_string": query.encode("utf-8"), "root_path": "", "server": request.scope.get("server"),
        "client": request.scope.get("client"),
        "headers": [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in headers],
        "app": request.scope.get("app"),
    }
    sent = {"body": False}

    async def receive():
        if sent["body"]:
            return {"type": "http.disconnect"}
        sent["body"] = True
        return {"type": "http.request", "body": part.body, "more_body": False}

    status, response_headers, chunks = 500, [], []

    async def send(message):
        nonlocal status, response_headers
        if message["type"] == "http.response.start":
            status = message["status"]
            response_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    try:
        await request.app(scope, receive, send)
    except Exception:
        # The app answered 500 already (its handler for unexpected errors re-raises): keep that answer.
        if status != 500 or not chunks:
            raise
    kept = [(_HEADER_NAMES.get(k.lower(), k), v) for k, v in response_headers
            if k.lower() not in ("content-length", "date", "server")]
    return PartResponse(status, kept, b"".join(chunks), part.content_id)


def _error_part(error, content_id: str | None = None) -> PartResponse:
    headers = [("Content-Type", JSON_TYPE), *odata_headers({"REQ_ID": str(uuid.uuid4())}).items()]
    return PartResponse(error.status, headers, error_body(error.code, error.message), content_id)


async def _run_change_set(request: Request, emulator: Emulator,
                          change_set: ChangeSet) -> tuple[bool, list[PartResponse]]:
    """(True, every part's response), or (False, [the failing part's response]) after rolling back."""
    references: dict[str, str] = {}
    responses: list[PartResponse] = []
    try:
        async with emulator.store.atomic():
            for part in change_set.parts:
                response = await _call(request, part, references)
                if response.status >= 400:
                    raise _RollBack(response)
                responses.append(response)
                entity = _header(response, "OData-EntityId") or _header(response, "Location")
                if part.content_id is not None and entity is not None:
                    references[part.content_id] = entity
    except _RollBack as rollback:
        return False, [rollback.failure]
    emulator.jobs_changed()
    return True, responses


def _header(response: PartResponse, name: str) -> str | None:
    for key, value in response.headers:
        if key.lower() == name.lower():
            return value
    return None


async def endpoint(call: Call) -> Response:
    """`POST $batch`: with `Prefer: odata.continue-on-error`, every part runs whatever fails."""
    prefs = parse_prefer(call.request.headers.getlist("prefer"))
    return await run_batch(call.request, call.emulator, prefs.continue_on_error)


async def run_batch(request: Request, emulator: Emulator, continue_on_error: bool) -> Response:
    if _IN_BATCH.get():
        # However the part spelled its URL: Dataverse does not nest batches.
        raise BadRequest("A $batch request cannot contain another $batch request.", code=Code.INVALID_PAYLOAD)
    token = _IN_BATCH.set(True)
    try:
        return await _run_batch(request, emulator, continue_on_error)
    finally:
        _IN_BATCH.reset(token)


async def _run_batch(request: Request, emulator: Emulator, continue_on_error: bool) -> Response:
    items = read_batch(request.headers.get("content-type"), await request.body())
    out: list[PartResponse | list[PartResponse]] = []
    failed: PartResponse | None = None
    for item in items:
        if isinstance(item, ChangeSet):
            ok, responses = await _run_change_set(request, emulator, item)
            if ok:
                out.append(responses)
            elif continue_on_error:
                out.append(responses[0])
            else:
                failed = responses[0]
                break
            continue
        response = await _call(request, item, {})
        if response.status >= 400 and not continue_on_error:
            failed = response
            break
        out.append(response)
    boundary = f"batchresponse_{uuid.uuid4()}"
    if failed is not None:
        # Dataverse stops at the first failure and answers with it alone, under its status.
        return _multipart_response(boundary, [failed], failed.status)
    return _multipart_response(boundary, out, 200)


# ---------------------------------------------------------------------------------- writing


def _http_part(response: PartResponse) -> bytes:
    lines = [b"Content-Type: application/http", b"Content-Transfer-Encoding: binary"]
    if response.content_id is not None:
        lines.append(f"Content-ID: {response.content_id}".encode())  # UTF-8: the bytes the part sent
    status_line = f"HTTP/1.1 {response.status} {_reason(response.status)}".rstrip()
    lines += [b"", status_line.encode("latin-1")]
    lines += [f"{k}: {v}".encode("latin-1") for k, v in response.headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + response.body + b"\r\n"


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _multipart_response(boundary: str, items: list, status: int) -> Response:
    chunks = []
    for item in items:
        chunks.append(f"--{boundary}\r\n".encode())
        if isinstance(item, list):
            inner = f"changesetresponse_{uuid.uuid4()}"
            chunks.append(f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n".encode())
            for response in item:
                chunks.append(f"--{inner}\r\n".encode())
                chunks.append(_http_part(response))
            chunks.append(f"--{inner}--\r\n".encode())
        else:
            chunks.append(_http_part(item))
    chunks.append(f"--{boundary}--\r\n".encode())
    return Response(b"".join(chunks), status_code=status,
                    headers=odata_headers({"Content-Type": f"multipart/mixed; boundary={boundary}"}))
