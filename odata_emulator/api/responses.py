"""The Web API's HTTP conventions, written once: the service root path, the JSON content type,
the OData headers, and the responses that carry them (JSON, text, XML, 204, 304, errors).

Everything else in `api/` (and the pytest plugin, the CLI and `$batch`) imports these.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import orjson
from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from ..errors import DataverseError
    from .prefer import Preferences

# The service root below the organization URL. `/api/data/v9.0/` and `/v9.1/` are the same service
# (Dataverse answers every 9.x version alike); each answer's URLs keep the version asked.
API_PREFIX = "/api/data/v9.2/"
API_PREFIXES = ("/api/data/v9.2/", "/api/data/v9.1/", "/api/data/v9.0/")
JSON_TYPE = "application/json; odata.metadata=minimal"
XML_TYPE = "application/xml"
ODATA_VERSION = "4.0"


def odata_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The headers every Web API answer carries (`OData-Version`), plus `extra`."""
    headers = {"OData-Version": ODATA_VERSION}
    if extra:
        headers.update(extra)
    return headers


def service_root(request: Request) -> str:
    """`http://host/api/data/v9.2/` (or the v9.x the request named): what `@odata.context` and
    `@odata.id` URLs start with."""
    return f"{str(request.base_url).rstrip('/')}{api_prefix(request.url.path)}"


def api_prefix(path: str) -> str:
    """The service root path `path` is below (`/api/data/v9.1/`), v9.2's when it is below none."""
    for prefix in API_PREFIXES:
        if path.startswith(prefix) or path == prefix.rstrip("/"):
            return prefix
    return API_PREFIX


def json_response(body, *, status: int = 200, prefs: Preferences | None = None,
                  extra: dict[str, str] | None = None) -> Response:
    """`body` as Dataverse JSON, with `Preference-Applied` for the preferences `prefs` honoured."""
    headers = odata_headers()
    if prefs is not None:
        applied = prefs.applied()
        if applied:
            headers["Preference-Applied"] = ",".join(applied)
    if extra:
        headers.update(extra)
    return Response(orjson.dumps(body), status_code=status, media_type=JSON_TYPE, headers=headers)


def text_response(text: str) -> Response:
    """A `/$count` or a `/$value`."""
    return Response(text, media_type="text/plain", headers=odata_headers())


def xml_response(content: bytes) -> Response:
    return Response(content, media_type=XML_TYPE, headers=odata_headers())


def no_content(extra: dict[str, str] | None = None) -> Response:
    """204: a null value, a null single-valued navigation, a write answered without its row."""
    return Response(status_code=204, headers=odata_headers(extra))


def not_modified(etag: str) -> Response:
    """304: `If-None-Match` named the row's current version."""
    return Response(status_code=304, headers=odata_headers({"ETag": etag}))


def error_body(code: str, message: str, details: dict[str, str] | None = None) -> bytes:
    """`{"error": {"code": "0x...", "message": "..."}}`, as Dataverse writes every error, followed by the
    detail annotations (`@Microsoft.PowerApps.CDS.*`) the client asked for, if any."""
    error = {"code": code, "message": message}
    if details:
        error.update(details)
    return orjson.dumps({"error": error})


def error_response(error: DataverseError, details: dict[str, str] | None = None) -> Response:
    return Response(error_body(error.code, error.message, details), status_code=error.status, media_type=JSON_TYPE,
                    headers=odata_headers({"REQ_ID": str(uuid.uuid4())}))
