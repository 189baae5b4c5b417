"""Rows of the writable tables (`Entity.writable`) created, updated and deleted as the platform's
core operation does it. `read_body` checks a JSON body against the model; `create`, `update` and
`delete` write in the caller's transaction and return the `Change`, which `events/` fires on."""

from .body import Body, Reference, read_body
from .write import Change, check_version, create, current, delete, update

__all__ = ["Body", "Change", "Reference", "check_version", "create", "current", "delete", "read_body", "update"]
