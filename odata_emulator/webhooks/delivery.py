"""One webhook delivery: the context POSTed to the endpoint as Dataverse's webhook service does
(reference §2.5 and §3).

- the body is the execution context's JSON, as stored in the job's `data`; over 256 KB,
  `ParentContext`, `InputParameters`, `PreEntityImages` and `PostEntityImages` are removed and
  `x-ms-dynamics-msg-size-exceeded` is sent (still over: fails with 0x80050207, nothing sent);
- headers: `x-request-id` (new for each attempt), `x-ms-dynamics-organization`,
  `x-ms-dynamics-entity-name`, `x-ms-dynamics-request-name`, `x-ms-correlation-request-id`, and
  the endpoint's authentication (`endpoint.request_auth`);
- any 2xx succeeds (the body is ignored); 502, 503 and 504 get one more attempt, at once; any other
  status, a timeout (60 s per attempt by default), a failure to connect or send, or an `authvalue`
  that does not read fails, with the platform's webhook error code (`WebhookError`) and its text
  followed by what happened in parentheses: `... (StatusCode: 500)`.

`deliver` never raises for what the receiver does: it returns a `Delivered`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from .endpoint import BadAuthValue, Endpoint, request_auth

if TYPE_CHECKING:
    import httpx

# httpx is imported where a delivery needs it: importing it takes about 70 ms of every start, and
# most runs deliver no webhook.

MAX_PAYLOAD = 256 * 1024  # bytes
RETRIED_STATUSES = frozenset({502, 503, 504})
DEFAULT_TIMEOUT = 60.0  # seconds, per attempt
# What the service removes from a context over MAX_PAYLOAD.
TRIMMED_KEYS = ("ParentContext", "InputParameters", "PreEntityImages", "PostEntityImages")


class WebhookError(Enum):
    """The platform's webhook error codes (the ErrorCodes list): (errorcode as stored, text)."""

    NON_SUCCESS_STATUS = (-2147155455, ("The webhook call failed because the http request received non-success "
                                       "httpStatus code. Please check your webhook request handler."))
    TIMEOUT = (-2147155454, ("The webhook call failed because the Http request timed out at client side. "
                            "Please check your webhook request handler."))
    INVALID_HEADERS = (-2147155453, ("The webhook call failed because of invalid http headers in authValue. Check "
                                    "if the authValue format, header names and values are valid for your Service "
                                    "Endpoint entity."))
    INVALID_QUERY = (-2147155452, ("The webhook call failed because of invalid http query params in authValue. Check "
                                  "if the authValue format, query param names and values are valid for your "
                                  "Service Endpoint entity."))
    POST_FAILED = (-2147155451, ("The webhook call failed during http post. Please check the exception for more "
                                "details."))
    DISABLED = (-2147155450, "The Webhook post is disabled for the organization.")
    PAYLOAD_TOO_LARGE = (-2147155449, ("The webhook call failed because the http request payload has exceeded "
                                      "maximum allowed size. Please reduce your request size and retry."))

    @property
    def code(self) -> int:
        return self.value[0]

    @property
    def text(self) -> str:
        return self.value[1]

    def message(self, detail: str | None) -> str:
        return f"{self.text} ({detail})" if detail else self.text


@dataclass(frozen=True)
class Delivered:
    """How a delivery ended: `ok`, the POSTs made, the last HTTP status (None: none answered), and
    for a failure the job's `errorcode` and `message`."""

    ok: bool
    attempts: int
    status: int | None = None
    errorcode: int | None = None
    message: str | None = None
    trimmed: bool = False

    @classmethod
    def failed(cls, error: WebhookError, detail: str | None, *, attempts: int, status: int | None = None,
               trimmed: bool = False) -> Delivered:
        return cls(False, attempts, status, error.code, error.message(detail), trimmed)


def prepare_body(context: str | bytes | dict) -> tuple[bytes, bool] | None:
    """The body to POST and whether it was trimmed; None when it is over MAX_PAYLOAD even trimmed."""
    if isinstance(context, dict):
        body = json.dumps(context, ensure_ascii=False, separators=(",", ":")).encode()
    else:
        body = context.encode() if isinstance(context, str) else context
    if len(body) <= MAX_PAYLOAD:
        return body, False
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    for key in TRIMMED_KEYS:
        parsed.pop(key, None)
    body = json.dumps(parsed, ensure_ascii=False, separators=(",", ":")).encode()
    return (body, True) if len(body) <= MAX_PAYLOAD else None


def new_client() -> httpx.AsyncClient:
    """A client for webhook deliveries. Every client of the process verifies servers with one TLS
    context: loading the CA bundle into a new one costs about 80 ms."""
    import httpx

    return httpx.AsyncClient(verify=_tls_context())


@functools.cache
def _tls_context() -> ssl.SSLContext:
    import httpx

    return httpx.create_ssl_context()


async def deliver(endpoint: Endpoint, context: str | bytes | dict, *, entity_name: str | None = None,
                  request_name: str | None = None, correlation_id: str | None = None,
                  organization: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                  client: httpx.AsyncClient | None = None) -> Delivered:
    """POST `context` to `endpoint`, at most twice (the second only after a 502, 503 or 504).
    `client`: a shared client (connection reuse); without one, a client is made for this call."""
    import httpx

    try:
        auth_headers, params = request_auth(endpoint)
    except BadAuthValue as exc:
        error = WebhookError.INVALID_QUERY if exc.query else WebhookError.INVALID_HEADERS
        return Delivered.failed(error, exc.detail, attempts=0)
    prepared = prepare_body(context)
    if prepared is None:
        return Delivered.failed(WebhookError.PAYLOAD_TOO_LARGE, f"over {MAX_PAYLOAD} bytes", attempts=0)
    body, trimmed = prepared
    headers = {"content-type": "application/json",
               "x-ms-dynamics-organization": organization or "",
               "x-ms-dynamics-entity-name": entity_name or "",
               "x-ms-dynamics-request-name": request_name or "",
               "x-ms-correlation-request-id": correlation_id or ""}
    if trimmed:
        headers["x-ms-dynamics-msg-size-exceeded"] = "true"
    headers.update(auth_headers)
    own = client is None
    if client is None:
        client = new_client()
    try:
        attempts, status = 0, None
        while True:
            attempts += 1
            try:
                status = await _post(client, endpoint.url, body, {**headers, "x-request-id": str(uuid.uuid4())},
                                     params, timeout)
            except TimeoutError:
                return Delivered.failed(WebhookError.TIMEOUT, f"Timeout: {timeout:g} seconds", attempts=attempts,
                                        trimmed=trimmed)
            except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
                detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                return Delivered.failed(WebhookError.POST_FAILED, detail, attempts=attempts, trimmed=trimmed)
            if 200 <= status < 300:
                return Delivered(True, attempts, status, trimmed=trimmed)
            if status not in RETRIED_STATUSES or attempts >= 2:
                return Delivered.failed(WebhookError.NON_SUCCESS_STATUS, f"StatusCode: {status}", attempts=attempts,
                                        status=status, trimmed=trimmed)
    finally:
        if own:
            await client.aclose()


async def _post(client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str],
                params: list[tuple[str, str]], timeout: float) -> int:
    """One POST; its status. The whole attempt (connect, send, answer) is bounded by `timeout`."""
    import httpx

    async with asyncio.timeout(timeout):
        try:
            # Merged, not replaced: the URL's own query string stays.
            target = httpx.URL(url).copy_merge_params(tuple(params)) if params else url
            response = await client.post(target, content=body, headers=headers, timeout=httpx.Timeout(timeout))
        except httpx.TimeoutException:
            raise TimeoutError() from None
        return response.status_code
