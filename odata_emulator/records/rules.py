"""The platform's own rules for particular tables, applied to a row about to be written (`row`,
every column; `before`, the stored row of an Update): the registration tool's and the platform's
checks on steps, computed columns (a contact's full name, a service endpoint's `isauthvalueset`),
and the defaults a table's required columns take."""

from __future__ import annotations

from typing import Any

from ..errors import BadRequest, Code
from ..model import Entity
from ..store.async_engine import AsyncConnection
from .body import Body

# The Plug-in Registration Tool's words (StepRegistrationForm); Dataverse refuses the same.
ASYNC_NEEDS_POST_STAGE = "Asynchronous Execution Mode requires registration in one of the Post Stages."
POST_OPERATION = 40


def _required(entity: Entity, row: dict[str, Any], *names: str) -> None:
    for name in names:
        if row.get(name) is None:
            raise BadRequest(f"'{name}' is required to create or update a(n) {entity.logical_name}: give "
                             f"it a value.", code=Code.INVALID_ARGUMENT)


def _step(entity: Entity, row: dict[str, Any], before: dict[str, Any] | None, body: Body) -> None:
    # The legacy `plugintypeid` and the polymorphic `eventhandler` name the same plug-in type.
    if "plugintypeid" in body.values and "eventhandler" not in body.values:
        row["eventhandler"], row["eventhandlertypecode"] = row["plugintypeid"], "plugintype"
    if row.get("eventhandlertypecode") == "plugintype":
        row["plugintypeid"] = row["eventhandler"]
    elif "eventhandler" in body.values:
        row["plugintypeid"] = None
    defaults = {"mode": 0, "stage": POST_OPERATION, "rank": 1, "supporteddeployment": 0, "asyncautodelete": 0,
                "invocationsource": 0, "canusereadonlyconnection": 0, "canbebypassed": 0}
    if before is None:
        for name, value in defaults.items():
            if row.get(name) is None:
                row[name] = value
    _required(entity, row, "name", "sdkmessageid", "eventhandler")
    if row["mode"] == 1 and row["stage"] != POST_OPERATION:
        raise BadRequest(ASYNC_NEEDS_POST_STAGE, code=Code.INVALID_ARGUMENT)
    if row["mode"] != 1:
        row["asyncautodelete"] = 0  # "forced to false" unless asynchronous (the registration tool)


def _service_endpoint(entity: Entity, row: dict[str, Any], before: dict[str, Any] | None) -> None:
    _required(entity, row, "name")
    row["isauthvalueset"] = int(bool(row.get("authvalue")))
    if before is None:
        defaults = {"contract": 8, "messageformat": 2, "userclaim": 1, "connectionmode": 1, "authtype": 0}
        for name, value in defaults.items():
            if row.get(name) is None:
                row[name] = value


def _image(entity: Entity, row: dict[str, Any]) -> None:
    _required(entity, row, "sdkmessageprocessingstepid")
    if row.get("imagetype") is None:
        row["imagetype"] = 0


def _contact(row: dict[str, Any]) -> None:
    row["fullname"] = " ".join(part for part in (row.get("firstname"), row.get("lastname")) if part) or None


async def apply(conn: AsyncConnection, entity: Entity, row: dict[str, Any], before: dict[str, Any] | None,
                body: Body) -> None:
    """Refuse (BadRequest) or complete `row` as the platform would for `entity`."""
    name = entity.logical_name
    if name == "sdkmessageprocessingstep":
        _step(entity, row, before, body)
    elif name == "serviceendpoint":
        _service_endpoint(entity, row, before)
    elif name == "sdkmessageprocessingstepimage":
        _image(entity, row)
    elif name == "contact":
        _contact(row)
