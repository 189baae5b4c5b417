"""A webhook serviceendpoint and what its authentication adds to each request.

`authtype` (serviceendpoint_authtype): 4 Webhook Key sends `?code=<authvalue>`; 5 Http Header sends
one header per `<setting name="..." value="..."/>` of the `<settings>` XML in `authvalue`; 6 Http
Query String sends one query parameter per setting (the same XML: the docs do not show it, see
docs/deviations.md). Other types (0 Not Specified...) add nothing. An `authvalue` that does not read
raises `BadAuthValue` with the platform's code: the job fails with it, nothing is sent.
"""

from __future__ import annotations

import enum
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException


class AuthType(enum.IntEnum):
    NOT_SPECIFIED = 0
    WEBHOOK_KEY = 4
    HTTP_HEADER = 5
    HTTP_QUERY_STRING = 6


@dataclass(frozen=True)
class Endpoint:
    """Where a webhook goes: the serviceendpoint's `url`, `authtype` and `authvalue`."""

    url: str
    authtype: int | None = None
    authvalue: str | None = None
    name: str | None = None


class BadAuthValue(Exception):
    """The endpoint's `authvalue` does not read for its `authtype`; `query` tells which of the
    platform's two codes applies (invalid headers, or invalid query parameters)."""

    def __init__(self, detail: str, *, query: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.query = query


# RFC 9110 token characters: what a header name may hold.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def _settings(authvalue: str | None, *, query: bool) -> list[tuple[str, str]]:
    """The (name, value) pairs of `<settings><setting name="..." value="..."/></settings>`."""
    if not authvalue or not authvalue.strip():
        raise BadAuthValue("the authValue is empty", query=query)
    try:
        root = SafeET.fromstring(authvalue)
    except (ET.ParseError, DefusedXmlException) as exc:
        raise BadAuthValue(f"the authValue is not valid XML ({exc})", query=query) from None
    if root.tag != "settings":
        raise BadAuthValue(f"the authValue's root element is <{root.tag}>, not <settings>", query=query)
    pairs = []
    for setting in root:
        name, value = setting.get("name"), setting.get("value")
        if setting.tag != "setting" or not name or value is None:
            raise BadAuthValue('each element of <settings> must be <setting name="..." value="..."/>', query=query)
        pairs.append((name, value))
    if not pairs:
        raise BadAuthValue("the authValue holds no <setting>", query=query)
    return pairs


def request_auth(endpoint: Endpoint) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The headers and query parameters the endpoint's authentication adds. Raises BadAuthValue."""
    kind = endpoint.authtype
    if kind == AuthType.WEBHOOK_KEY:
        if not endpoint.authvalue:
            raise BadAuthValue("a Webhook Key endpoint needs its key as authValue", query=True)
        return {}, [("code", endpoint.authvalue)]
    if kind == AuthType.HTTP_HEADER:
        headers = {}
        for name, value in _settings(endpoint.authvalue, query=False):
            if not _TOKEN.match(name) or any(c in value for c in "\r\n\0"):
                raise BadAuthValue(f"'{name}' is not a valid header (name or value)", query=False)
            headers[name] = value
        return headers, []
    if kind == AuthType.HTTP_QUERY_STRING:
        return {}, _settings(endpoint.authvalue, query=True)
    return {}, []
