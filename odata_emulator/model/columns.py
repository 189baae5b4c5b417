"""Column builders for the entity declarations (`entities.py`, `related.py`): one call per
column, with Dataverse's defaults for its type, and the columns every user table has."""

from __future__ import annotations

from typing import TypedDict

from . import optionsets as os_
from .types import Attribute
from .types import AttributeType as T

MAX_MEMO = 1_073_741_823


def guid(name: str, **kw) -> Attribute:
    return Attribute(name, T.UNIQUEIDENTIFIER, **kw)


def string(name: str, max_length: int, **kw) -> Attribute:
    return Attribute(name, T.STRING, max_length=max_length, **kw)


def memo(name: str, max_length: int = MAX_MEMO, **kw) -> Attribute:
    return Attribute(name, T.MEMO, max_length=max_length, **kw)


def integer(name: str, min_value: int = -2147483648, max_value: int = 2147483647, **kw) -> Attribute:
    return Attribute(name, T.INTEGER, min_value=min_value, max_value=max_value, **kw)


def datetime_(name: str, **kw) -> Attribute:
    return Attribute(name, T.DATETIME, **kw)


def boolean(name: str, **kw) -> Attribute:
    return Attribute(name, T.BOOLEAN, boolean_labels=os_.YES_NO, **kw)


def lookup(name: str, *targets: str, type_column: str | None = None, **kw) -> Attribute:
    return Attribute(name, T.LOOKUP, targets=targets, type_column=type_column, **kw)


def hidden(name: str, kind: T = T.ENTITYNAME, **kw) -> Attribute:
    return Attribute(name, kind, in_webapi=False, **kw)


def audit_columns(logical: str) -> tuple[Attribute, ...]:
    """createdon/createdby/modifiedon/modifiedby, which every user table has."""
    return (
        datetime_("createdon", description=f"Date and time when the {logical} was created."),
        lookup("createdby", "systemuser", description="Unique identifier of the user who created the record.", required=True),
        datetime_("modifiedon", description=f"Date and time when the {logical} was last modified."),
        lookup("modifiedby", "systemuser", description="Unique identifier of the user who last modified the record.", required=True),
    )


def owner_columns(logical: str) -> tuple[Attribute, ...]:
    """ownerid (a user or a team) and the owning user/team/business unit a user-owned table has."""
    return (
        Attribute("ownerid", T.OWNER, targets=("systemuser", "team"), type_column="owneridtype",
                  description=f"Owner Id: the user or team who owns the {logical}.", required=True,
                  valid_for_create=True, valid_for_update=True),
        hidden("owneridtype", valid_for_create=True, valid_for_update=True),
        lookup("owningbusinessunit", "businessunit", description="Unique identifier for the business unit that owns the record"),
        lookup("owningteam", "team", description="Unique identifier for the team that owns the record."),
        lookup("owninguser", "systemuser", description="Unique identifier for the user that owns the record."),
    )


class Access(TypedDict, total=False):
    """Which writes a column takes, spread into a builder's keywords (`string("name", 100, **CU)`)."""

    valid_for_create: bool
    valid_for_update: bool


CW: Access = {"valid_for_create": True}  # create-only
CU: Access = {"valid_for_create": True, "valid_for_update": True}
U: Access = {"valid_for_update": True}
