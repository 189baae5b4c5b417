"""Who is calling: the bearer token and the impersonation headers, mapped to a `systemuser`.

Every client can be made to send `Authorization: Bearer <token>`; by default any token (or none)
is accepted and the caller is the data set's user. `--require-auth` answers 401 when the header is
missing, as Dataverse does. A token that names a user (a JWT whose `oid` claim is the user's
Entra ID object id, or the user's `systemuserid` itself) makes that user the caller, and so do the
impersonation headers Dataverse honours: `CallerObjectId` (Entra ID object id) and `MSCRMCallerID`
(systemuserid). No signature is checked: the emulator trusts its callers.

`--require-auth` guards the control API (`/_emulator/v1/`) with the same check (`check_token`).
"""

from __future__ import annotations

import base64
import json

from sqlalchemy import select
from starlette.requests import Request

from ..caller import Caller
from ..emulator import Emulator
from ..errors import RecordNotFound, Unauthorized
from ..store.schema import METADATA
from ..store.values import normalize_guid

USERS = METADATA.tables["systemuser"]


def _bearer_token(request: Request, required: bool) -> str | None:
    header = request.headers.get("authorization")
    if header is None or not header.strip():
        if required:
            raise Unauthorized("The request has no Authorization header: send 'Authorization: Bearer <token>'.")
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <token>'.")
    return token.strip()


def _object_id_claim(token: str) -> str | None:
    """The `oid` claim of a JWT, read without checking the signature; None for any other token."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 16_384:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, UnicodeDecodeError):
        return None
    oid = claims.get("oid") if isinstance(claims, dict) else None
    return _guid(oid) if isinstance(oid, str) else None


def _guid(text: str) -> str | None:
    try:
        return normalize_guid(text.strip())
    except ValueError:
        return None


async def _user(emulator: Emulator, column, value: str) -> Caller | None:
    async with emulator.store.read() as conn:
        row = (await conn.execute(select(USERS.c.systemuserid, USERS.c.businessunitid, USERS.c.isdisabled)
                                  .where(column == value))).first()
    if row is None:
        return None
    if row.isdisabled:
        raise Unauthorized(f"The user with SystemUserId = {row.systemuserid} is disabled.")
    return Caller(row.systemuserid, row.businessunitid or emulator.caller.business_unit_id,
                  emulator.caller.organization_id)


def check_token(request: Request, emulator: Emulator) -> None:
    """The Web API's 401 when `--require-auth` is on and the request carries no bearer token (the
    control API's routes, which have no caller to resolve)."""
    _bearer_token(request, emulator.settings.require_auth)


async def resolve_caller(request: Request, emulator: Emulator) -> Caller:
    token = _bearer_token(request, emulator.settings.require_auth)
    # Impersonation: MSCRMCallerID names a systemuserid, CallerObjectId an Entra ID object id.
    for header, column in (("MSCRMCallerID", USERS.c.systemuserid),
                           ("CallerObjectId", USERS.c.azureactivedirectoryobjectid)):
        written = request.headers.get(header)
        if written is None:
            continue
        value = _guid(written)
        if value is None:
            raise Unauthorized(f"The {header} header '{written}' is not a GUID.")
        found = await _user(emulator, column, value)
        if found is not None:
            return found
        if header == "MSCRMCallerID":
            raise RecordNotFound(f"systemuser With Id = {value} Does Not Exist")
        raise Unauthorized(f"No user has the Microsoft Entra ID object id {value} (CallerObjectId).")
    if token is not None:
        named = _guid(token)
        found = await _user(emulator, USERS.c.systemuserid, named) if named is not None else None
        if found is None:
            oid = _object_id_claim(token)
            found = await _user(emulator, USERS.c.azureactivedirectoryobjectid, oid) if oid is not None else None
        if found is not None:
            return found
    return emulator.caller
