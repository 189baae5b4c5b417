"""Who is calling: the bearer token and the impersonation headers, mapped to a `systemuser`.

Every client can be made to send `Authorization: Bearer <token>`; by default any token (or none)
is accepted and the caller is the data set's user. `--require-auth` answers 401 when the header is
missing, as Dataverse does. A token that names a user (a JWT whose `oid` claim is the user's
Entra ID object id, or the user's `systemuserid` itself) makes that user the caller, and so do the
impersonation headers Dataverse honours: `CallerObjectId` (Entra ID object id) and `MSCRMCallerID`
(systemuserid). No signature is checked: the emulator trusts its callers.
"""

from __future__ import annotations

import base64
import json
import re

from sqlalchemy import select
from starlette.requests import Request

from ..emulator import Emulator
from ..errors import RecordNotFound, Unauthorized
from ..store.fixtures import Caller
from ..store.schema import METADATA

USERS = METADATA.tables["systemuser"]
_GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$")


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
    return oid if isinstance(oid, str) and _GUID.match(oid) else None


async def _user(emulator: Emulator, *, user_id: str | None = None, object_id: str | None = None) -> Caller | None:
    column = USERS.c.systemuserid if user_id is not None else USERS.c.azureactivedirectoryobjectid
    value = (user_id or object_id).strip("{}").lower()
    async with emulator.store.read() as conn:
        row = (await conn.execute(select(USERS.c.systemuserid, USERS.c.businessunitid, USERS.c.isdisabled)
                                  .where(column == value))).first()
    if row is None:
        return None
    if row.isdisabled:
        raise Unauthorized(f"The user with SystemUserId = {row.systemuserid} is disabled.")
    return Caller(row.systemuserid, row.businessunitid or emulator.caller.business_unit_id,
                  emulator.caller.organization_id)


async def resolve_caller(request: Request, emulator: Emulator) -> Caller:
    token = _bearer_token(request, emulator.settings.require_auth)
    caller_id = request.headers.get("mscrmcallerid")
    object_id = request.headers.get("callerobjectid")
    if caller_id is not None:
        if not _GUID.match(caller_id.strip()):
            raise Unauthorized(f"The MSCRMCallerID header '{caller_id}' is not a GUID.")
        found = await _user(emulator, user_id=caller_id.strip())
        if found is None:
            raise RecordNotFound(f"systemuser With Id = {caller_id.strip().strip('{}').lower()} Does Not Exist")
        return found
    if object_id is not None:
        if not _GUID.match(object_id.strip()):
            raise Unauthorized(f"The CallerObjectId header '{object_id}' is not a GUID.")
        found = await _user(emulator, object_id=object_id.strip())
        if found is None:
            raise Unauthorized(f"No user has the Microsoft Entra ID object id {object_id.strip()} (CallerObjectId).")
        return found
    if token is not None:
        if _GUID.match(token):
            found = await _user(emulator, user_id=token)
            if found is not None:
                return found
        oid = _object_id_claim(token)
        if oid is not None:
            found = await _user(emulator, object_id=oid)
            if found is not None:
                return found
    return emulator.caller
