"""The RemoteExecutionContext an asynchronous step's system job carries (`asyncoperation.data`) and
its webhook receives: DataContractJsonSerializer's conventions, as real captures show them
(`../shared/reference/async-steps-and-webhooks.md` §3): keys in alphabetical order, collections as
`[{"key": ..., "value": ...}]`, typed values with `__type`, date-times as `/Date(<ms>)/`.

`build` makes the whole context from a `records.Change` and the step it fires; `entity_json` and
`value_json` turn stored rows and values into the context's form for anyone else who needs them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ..model import Attribute, Entity
from ..model import AttributeType as T
from ..records import Change
from ..store.values import to_epoch

CONTRACTS = "http://schemas.microsoft.com/xrm/2011/Contracts"
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
# The core operation's own step, as captures name it in ParentContext.OwningExtension.
CORE_OPERATION = ("cdc7bf94-c0c4-4f00-a78e-c4f2e3d6b2a1", "ObjectModel Implementation")
ASYNC_PRIMARY_NAME_IMAGE = "AsynchronousStepPrimaryName"
POST_OPERATION, MAIN_OPERATION = 40, 30


@dataclass(frozen=True)
class Step:
    """What the context says about the step it is built for."""

    step_id: str
    name: str
    images: tuple[tuple[str, int, tuple[str, ...]], ...] = ()  # (entityalias, imagetype, attributes) per image


@dataclass(frozen=True)
class Origin:
    """Who and what started the operation: the caller, their business unit and organization, the
    request's correlation id and depth, and when the operation ran."""

    user_id: str
    business_unit_id: str
    organization_id: str
    organization_name: str
    correlation_id: str
    depth: int
    created_on: dt.datetime
    run_as: str | None = None  # the step's impersonating user, when set


def date_json(epoch_seconds: int) -> str:
    return f"/Date({epoch_seconds * 1000})/"


def reference_json(logical_name: str, record_id: str, name: str | None = None) -> dict[str, Any]:
    return {"__type": f"EntityReference:{CONTRACTS}", "Id": record_id, "KeyAttributes": [],
            "LogicalName": logical_name, "Name": name, "RowVersion": None}


def value_json(entity: Entity, attribute: Attribute, row: dict[str, Any]):
    """One stored column value of `row` as the context holds it."""
    value = row.get(attribute.name)
    if value is None:
        return None
    kind = attribute.type
    if kind is T.DATETIME:
        return date_json(value)
    if kind.is_lookup:
        target = row.get(attribute.type_column) if attribute.type_column else None
        return reference_json(target or attribute.targets[0], value)
    if kind.is_choice:
        return {"__type": f"OptionSetValue:{CONTRACTS}", "Value": value}
    if kind is T.BOOLEAN:
        return bool(value)
    return value


def _visible(attribute: Attribute) -> bool:
    return attribute.in_webapi and attribute.valid_for_read and attribute.name != "versionnumber"


def entity_json(entity: Entity, record_id: str, row: dict[str, Any], columns=None, *,
                typed: bool = True) -> dict[str, Any]:
    """An Entity: `columns` of `row` (every one it holds when None), with `__type` unless an image."""
    names = [name for name in (columns if columns is not None else row) if name in entity.columns]
    attributes = [{"key": name, "value": value_json(entity, entity.columns[name], row)}
                  for name in names if _visible(entity.columns[name])]
    body = {"Attributes": attributes, "EntityState": None, "FormattedValues": [], "Id": record_id,
            "KeyAttributes": [], "LogicalName": entity.logical_name, "RelatedEntities": [], "RowVersion": None}
    return {"__type": f"Entity:{CONTRACTS}", **body} if typed else body


def _image(entity: Entity, change: Change, row: dict[str, Any] | None, attributes: tuple[str, ...]):
    if row is None:
        return None
    columns = [a for a in attributes if a in entity.columns] if attributes else [
        a.name for a in entity.attributes if row.get(a.name) is not None]
    return entity_json(entity, change.record_id, row, columns, typed=False)


def images(change: Change, step: Step) -> tuple[list[dict], list[dict]]:
    """(PreEntityImages, PostEntityImages) as the step registered them, plus the post image an
    asynchronous step always gets: the primary name and the id."""
    entity, pre, post = change.entity, [], []
    for alias, image_type, attributes in step.images:
        if image_type in (0, 2) and change.pre is not None:
            pre.append({"key": alias, "value": _image(entity, change, change.pre, attributes)})
        if image_type in (1, 2) and change.post is not None:
            post.append({"key": alias, "value": _image(entity, change, change.post, attributes)})
    if change.post is not None and entity.primary_name:
        columns = (entity.primary_name, entity.primary_id)
        post.append({"key": ASYNC_PRIMARY_NAME_IMAGE, "value": _image(entity, change, change.post, columns)})
    return pre, post


def _target(change: Change):
    if change.message == "Delete":
        return reference_json(change.entity.logical_name, change.record_id)
    return entity_json(change.entity, change.record_id, change.target, list(change.target))


def _input_parameters(change: Change, *, core: bool) -> list[dict]:
    parameters = [{"key": "Target", "value": _target(change)}]
    if core and change.message in ("Create", "Update"):
        parameters.append({"key": "SuppressDuplicateDetection", "value": False})
    return parameters


def _output_parameters(change: Change) -> list[dict]:
    return [{"key": "id", "value": change.record_id}] if change.message == "Create" else []


def build(change: Change, step: Step, origin: Origin, *, operation_id: str) -> dict[str, Any]:
    """The context of `step`'s asynchronous run after `change`; `operation_id` = the system job's id."""
    pre, post = images(change, step)
    context = _context(change, origin, mode=1, stage=POST_OPERATION, operation_id=operation_id,
                       extension=(step.step_id, step.name), pre=pre, post=post, core=False,
                       user=origin.run_as or origin.user_id)
    context["ParentContext"] = _context(change, origin, mode=0, stage=MAIN_OPERATION, operation_id=EMPTY_GUID,
                                        extension=CORE_OPERATION, pre=[], post=[], core=True, user=origin.user_id)
    return context


def _context(change: Change, origin: Origin, *, mode: int, stage: int, operation_id: str, extension: tuple[str, str],
             pre: list, post: list, core: bool, user: str) -> dict[str, Any]:
    step_id, step_name = extension
    return {
        "BusinessUnitId": origin.business_unit_id,
        "CorrelationId": origin.correlation_id,
        "Depth": origin.depth,
        "InitiatingUserAgent": "",
        "InitiatingUserAzureActiveDirectoryObjectId": EMPTY_GUID,
        "InitiatingUserId": origin.user_id,
        "InputParameters": _input_parameters(change, core=core),
        "IsExecutingOffline": False,
        "IsInTransaction": core,
        "IsOfflinePlayback": False,
        "IsolationMode": 1,
        "MessageName": change.message,
        "Mode": mode,
        "OperationCreatedOn": date_json(to_epoch(origin.created_on)),
        "OperationId": operation_id,
        "OrganizationId": origin.organization_id,
        "OrganizationName": origin.organization_name,
        "OutputParameters": _output_parameters(change) if not core else [],
        "OwningExtension": {"Id": step_id, "KeyAttributes": [], "LogicalName": "sdkmessageprocessingstep",
                            "Name": step_name, "RowVersion": None},
        "ParentContext": None,
        "PostEntityImages": post,
        "PreEntityImages": pre,
        "PrimaryEntityId": change.record_id,
        "PrimaryEntityName": change.entity.logical_name,
        "RequestId": None,
        "SecondaryEntityName": "none",
        "SharedVariables": [],
        "Stage": stage,
        "UserAzureActiveDirectoryObjectId": EMPTY_GUID,
        "UserId": user,
    }
